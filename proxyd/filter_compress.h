/*
 * proxyd/filter_compress.h — response compression as a filter of the
 * response filter chain (proxyd/filter.h): the first filter with a body
 * stage. docs/compression.md is the reference for what it does.
 *
 * Three moments of an exchange, each a call from proxyd/filter.c:
 *   - the request head (filter_compress_request): what the request says
 *     (Accept-Encoding chosen against the route's codings, HEAD, Range,
 *     Cache-Control: no-transform, an upgrade) is read while its bytes are
 *     still in the client's buffer, only when the route compresses;
 *   - the response head (filter_compress_select): compress_decide() on the
 *     request's and the response's facts; on "compress" a coder from the
 *     worker's pool and the filter with its body stage, else, when the
 *     response would have been compressed for another request, a header
 *     stage that only adds Vary: Accept-Encoding;
 *   - each backend read (the body stage): coded and flushed at once, so a
 *     server-sent event or a long poll is never held back; finished at the
 *     end of the body.
 * The header stage adds Content-Encoding, merges Vary, weakens a strong
 * ETag and drops Accept-Ranges; the chain rewrites the framing (chunked, or
 * close-delimited for HTTP/1.0), so Content-Length never goes out.
 */
#ifndef PROXYD_FILTER_COMPRESS_H
#define PROXYD_FILTER_COMPRESS_H

#include <stdint.h>

#include "proxyd/compress_rule.h"

struct req;

/* How "Vary: Accept-Encoding" goes into a response (struct
 * filter_compress_req.vary). */
enum filter_compress_vary {
	FILTER_COMPRESS_VARY_NONE = 0,  /* not needed, or already listed (or "*") */
	FILTER_COMPRESS_VARY_ADD,       /* a field line of its own (RFC 9110 §5.3: lines join into one list) */
	FILTER_COMPRESS_VARY_MERGE      /* the response's Vary lines dropped, one merged line added */
};

/* The longest Vary value (the response's lines joined) merged into one
 * line; a longer one keeps its lines and gets a line of its own. */
#define FILTER_COMPRESS_VARY_MAX 1024

/* What compression keeps per request, in struct req (reset with it). */
struct filter_compress_req {
	struct compress_req_facts q;    /* the request's facts (valid when on) */
	const uint8_t *rd;              /* the response head's bytes, from select until the head is written */
	uint8_t on;                     /* the route compresses and q was filled */
	uint8_t alg;                    /* enum compress_alg the body goes out in (IDENTITY: as sent) */
	uint8_t skip;                   /* enum compress_skip: why not, for a backend's response */
	uint8_t vary;                   /* enum filter_compress_vary */
	uint8_t etag;                   /* the ETag lines are rewritten (weakened; a malformed one dropped) */
};

/*
 * The request head of r is at d (the bytes its struct http_msg r->qm points
 * into) and r->rt is its route: when the route compresses, record what the
 * request says. Nothing happens (and nothing is spent) for other routes.
 */
void filter_compress_request(struct req *r, const uint8_t *d);

/*
 * The backend's response head of r was parsed (r->rm, its bytes at rd,
 * valid until the head for the client is written); body: it has a body the
 * chain may transform. Adds the compression filter (a coder taken from the
 * worker's pool) or its Vary-only header stage to r's chain when they
 * apply, and counts a skip by reason in the pool's statistics. Call after
 * the filters that come before compression were added: the header edits
 * of the route act on the response first.
 */
void filter_compress_select(struct req *r, int body, const uint8_t *rd);

#endif /* PROXYD_FILTER_COMPRESS_H */
