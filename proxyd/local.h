/*
 * proxyd/local.h — the local responder: answers proxyd makes itself, as
 * one end of an exchange in place of a backend. Errors (4xx/5xx with a
 * short text/plain body naming the cause), redirects (route redirects, the
 * listener's redirect to https) and a route's fixed response. The route's
 * response header edits (proxyd/filter.h) apply to them too.
 */
#ifndef PROXYD_LOCAL_H
#define PROXYD_LOCAL_H

#include <stddef.h>

struct conn;
struct req;

/* Answers r with status and a short body (text/plain), or an empty body with
 * a Location for redirects; extra (may be NULL) is more header lines, each
 * ending in CRLF. Closes the client afterwards unless keep is set and the
 * request was fully read. Drops the backend connection if there was one. */
void local_respond_x(struct req *r, int status, const char *body, const char *location, int keep, const char *extra);
/* local_respond_x() without extra header lines. */
void local_respond(struct req *r, int status, const char *body, const char *location, int keep);
/* A plain listener with redirect_https: a 301 to the same host and target
 * over https (RFC 9110 §15.4.2), before routing. */
void local_redirect_https(struct conn *c, struct req *r, const char *host, size_t host_len, const char *t, size_t tl);

#endif
