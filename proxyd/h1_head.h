/*
 * proxyd/h1_head.h — the HTTP/1 heads proxyd writes: the request head sent
 * to a backend (target reduced to origin form and rewritten by the route,
 * hop-by-hop fields removed, forwarding fields added, the route's request
 * header edits, the sticky cookie stripped) and the response head sent to
 * the client (hop-by-hop fields removed, Server and HSTS policy, the
 * response filters' header stage, the sticky cookie set). The framing line
 * is always proxyd's own (h1_append_framing()).
 */
#ifndef PROXYD_H1_HEAD_H
#define PROXYD_H1_HEAD_H

#include <stddef.h>
#include <stdint.h>

struct req;

/* Request target to forward: origin-form path (absolute-form reduced to it,
 * RFC 9112 §3.2.2), not yet rewritten. scratch holds the one case that needs
 * a copy. 0, or -1 when it does not fit. */
int h1_target_parts(const struct req *r, const uint8_t *d, const char **t, size_t *tl, char *scratch,
    size_t scratch_len);
/* The head to send to the backend, into r->qhead. 0, -1 when out of memory,
 * -2 when the route's rewrite of the target does not fit. */
int h1_request_head(struct req *r, const uint8_t *d);
/* The final response head for the client, appended to r->rhead (after any
 * interim response still waiting there). d: the backend's head bytes. */
void h1_response_head(struct req *r, const uint8_t *d);

#endif
