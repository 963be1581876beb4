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

struct conn;

/* Parses what of a request head is in c's buffer and, once it is whole,
 * starts the exchange; malformed heads are answered here (400 and others). */
void request_head(struct conn *c);
/* The same for exchange r on c whose head is in r->rq.in (the HTTP/1
 * front's buffer, or the head the HTTP/2 front wrote for a stream). */
struct req;
void request_parse(struct conn *c, struct req *r);

#endif
