/*
 * proxyd/request.h — what happens to a request head once it is in the
 * client's buffer, in three stages: the route query (the head parsed and
 * normalised, the target reduced, the route matched on host, path, method
 * and headers), the guards (proxyd/guard.c: ACL, methods, body size, rate
 * limit, expectations) and the action (redirect, fixed response, or proxy:
 * split, head rewrite, backend connect).
 */
#ifndef PROXYD_REQUEST_H
#define PROXYD_REQUEST_H

#include <stdint.h>

struct conn;
struct req;

/* Parses what of a request head is in c's buffer and, once it is whole,
 * starts the exchange; malformed heads are answered here (400 and others). */
void request_head(struct conn *c);
/* The proxying part of a route's action, after the cache (if any) did
 * not answer: the head rewritten (d: the request head, still at the front
 * of the client's buffer), the body's framing started, the backend
 * connected. Also what a request that waited for another's response
 * (proxyd/cache.c) does when that did not give it an answer. */
void request_forward(struct req *r, const uint8_t *d);
/* The same for exchange r on c whose head is in r->rq.in (the HTTP/1
 * front's buffer, or the head the HTTP/2 front wrote for a stream). c NULL:
 * an internal exchange (proxyd/prefetch_front.c): no listener, so no
 * redirect to https, no guards, no access log line. */
struct req;
void request_parse(struct conn *c, struct req *r);

#endif
