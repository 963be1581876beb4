/*
 * proxyd/backend.h — the backend end of an exchange: a server picked from
 * the route's upstream (sticky, hash or the balancer), a pooled or new
 * connection (proxyd/upstream.c), the request written with backpressure,
 * the response head parsed strictly (interim responses, 101 only for a
 * WebSocket the client asked for) and its body read. Failures before any
 * response byte are retried on another server when the method is
 * idempotent (RFC 9110 §9.2.2) and no body byte went out; otherwise the
 * client gets 502/503/504 naming the cause, or loses the connection once
 * the response began.
 */
#ifndef PROXYD_BACKEND_H
#define PROXYD_BACKEND_H

#include "lib/ev.h"
#include "proxyd/metrics.h"

struct req;

/* Picks a server and a connection for r, then sends (or waits for the
 * connect). Answers 503 itself when no server is available. */
void backend_connect(struct req *r);
/* Sends what can be sent of the request and arms the right timer. */
void backend_send(struct req *r);
/* Before any response byte: retry on another server when allowed, else
 * answer status with a body naming the cause. stale: a pooled connection
 * the server closed while idle (not the server's fault). */
void backend_fail(struct req *r, int status, enum met_uperr e, const char *why, int stale);
/* After the response began: count, log and close the client. */
void backend_abort(struct req *r, enum met_uperr e, const char *why);

/* io and deferred callbacks of backend sockets (proxyd/upstream.c sets them). */
void backend_io(struct ev_loop *loop, struct ev_io *w, uint32_t revents);
void backend_defer(struct ev_loop *loop, struct ev_defer *d);

#endif
