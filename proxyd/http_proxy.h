/*
 * proxyd/http_proxy.h — relaying one HTTP/1.1 exchange between a client
 * connection and a backend connection: request head rewriting, body
 * streaming with backpressure, strict response parsing, retries, locally
 * generated responses (errors, redirects, fixed responses) and the
 * WebSocket/Upgrade tunnel.
 */
#ifndef PROXYD_HTTP_PROXY_H
#define PROXYD_HTTP_PROXY_H

#include <stdint.h>

#include "lib/ev.h"

struct conn;
struct worker;

/* io callback of client sockets. */
void http_proxy_client_io(struct ev_loop *loop, struct ev_io *w, uint32_t revents);
/* timer callback of client connections (every phase's timeout). */
void http_proxy_client_timeout(struct ev_loop *loop, struct ev_timer *t);
/* deferred callback: parse a pipelined request already buffered. */
void http_proxy_client_defer(struct ev_loop *loop, struct ev_defer *d);
/* Releases c's request (and its backend connection, closed) when c closes. */
void http_proxy_conn_release(struct conn *c);
/* Monotonic microseconds (vDSO clock, not a syscall), for latency figures. */
uint64_t http_proxy_now_us(void);

#endif
