/*
 * lib/httpget.h — a small HTTP/1.x responder for an admin listener on a
 * lib/ev loop: GET only, one request per connection, the answer built whole
 * by the owner's handler, then close. proxyd's admin listener (/metrics,
 * /healthz, /readyz) and hacd's (/metrics) are one of these each.
 *
 * Not a web server: no keep-alive, no bodies in, no chunking out. Every
 * connection holds an fd and a buffer for at most HTTPGET_TIMEOUT_MS; past
 * the owner's cap a newcomer is closed at once and counted.
 */
#ifndef TANDEM_LIB_HTTPGET_H
#define TANDEM_LIB_HTTPGET_H

#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "lib/ev.h"

#define HTTPGET_MAX_IN     8192    /* request head bytes; more is a 400 */
#define HTTPGET_TIMEOUT_MS 10000   /* a connection's whole life */

struct httpget;

/*
 * Answers GET path (no query, NUL-terminated): appends the body to `body`,
 * sets *ctype (a static string; default "text/plain") and returns the
 * status (200, 404, 503; anything else is sent as 400).
 */
typedef int (*httpget_handler)(void *arg, const char *path, struct buf *body, const char **ctype);
/* Connections one listener may hold open now (read at each accept). */
typedef uint32_t (*httpget_cap_fn)(void *arg);

/*
 * Listen on addr (numeric HOST:PORT, lib/net syntax) and serve with h(arg).
 * cap(arg) bounds open connections (NULL: 16). `name` prefixes log lines
 * ("admin listener"). Returns NULL, logged, when the address is bad or
 * cannot be bound.
 */
struct httpget *httpget_new(struct ev_loop *loop, const char *addr, const char *name,
    httpget_handler h, httpget_cap_fn cap, void *arg);
/* Close the listener and every connection; frees hg (NULL: no-op). */
void httpget_free(struct httpget *hg);

/* Connections refused at the cap, and requests answered 400, since start.
 * Thread-safe (relaxed atomics). 0 for NULL. */
uint64_t httpget_refused(const struct httpget *hg);
uint64_t httpget_bad_requests(const struct httpget *hg);

/*
 * Parses the request line of one request, the len bytes at p (not
 * NUL-terminated; at least the first line ends in LF). Accepts only
 * "GET SP path SP HTTP/1.x" (RFC 9112 §3) with a path of 1..pathsz-1 bytes
 * starting with '/'; copies the path without its query into path
 * (NUL-terminated). 0, or -1 on anything else. Pure.
 */
int httpget_parse(const char *p, size_t len, char *path, size_t pathsz);

#endif /* TANDEM_LIB_HTTPGET_H */
