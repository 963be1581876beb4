/*
 * proxyd/guard.h — a route's guards on a request, in order: access control
 * (403), allowed methods (405), body size announced by Content-Length
 * (413), rate limit (429), then an expectation proxyd cannot meet (417).
 * Routes without guards cost a few compares: no lock, no syscall, no
 * allocation. (Connection limits are guarded at accept, proxyd/connlimit.c.)
 */
#ifndef PROXYD_GUARD_H
#define PROXYD_GUARD_H

#include <stdint.h>

struct conn;
struct req;

/* 0 to go on, -1 when the request was answered here. d: the head's bytes. */
int guard_check(struct conn *c, struct req *r, const uint8_t *d);

#endif
