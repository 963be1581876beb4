/*
 * proxyd/filter.h — the response filter chain, between a response and the
 * client (nginx's header and body filters): each filter has a header stage
 * (fields it removes from the response head and fields it adds) and may
 * have a body stage (it transforms body bytes).
 *
 * The filters that apply to a response are chosen once, when its head is
 * built (filter_select()), into the request's struct filter_chain. The
 * route's response header edits are the first filter; compression and a
 * cache store plug in the same way. Zero cost when nothing is active: the
 * head writer tests fc.ndrop once per field (a chain whose filters only
 * add fields is not asked about each one), and body bytes go from the
 * backend's buffer to the client untouched unless a body stage is active
 * (fc.nbody > 0).
 *
 * Body stages run after the response's own framing was removed: a chunked
 * body is de-chunked first, so a stage sees the body's data only. Their
 * output changes the length, so the framing towards the client is
 * rewritten: chunked for an HTTP/1.1 client (at most one chunk per backend
 * read), close-delimited for HTTP/1.0 (RFC 9112 §6.3). Content-Length is
 * never forwarded then. The stages are flushed whenever the backend has
 * nothing more to read for now (a read that would block; for stages that
 * hold no output, also a short read) and at the end of the body, so
 * server-sent events and long polls are not held back, while a bulk body
 * is not cut into a flushed block per read.
 */
#ifndef PROXYD_FILTER_H
#define PROXYD_FILTER_H

#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

struct req;

#define FILTER_MAX 4

/* body stage flags */
#define FILTER_LAST  0x1u           /* the body ends with these bytes: emit everything */
#define FILTER_FLUSH 0x2u           /* the source has nothing more for now: emit all held output */

struct filter {
	const char *name;
	/* Header stage: 1 when the response's field `name` (len bytes, any
	 * case) is to be left out of the head sent on. NULL: none. */
	int (*hdr_drop)(const struct req *r, const char *name, size_t len);
	/* Header stage: the filter's own field lines (each ending in CRLF),
	 * appended to the head h. NULL: none. */
	void (*hdr_add)(const struct req *r, struct buf *h);
	/* Body stage, NULL when the filter leaves body bytes alone: transforms
	 * n bytes at in, appending what it can emit for them to out. Called
	 * once per backend read. Without FILTER_FLUSH or FILTER_LAST a stage
	 * may keep output back (a compressor fills its blocks: more input is
	 * already waiting); with FILTER_FLUSH it must emit everything it holds
	 * (a compressor syncs its stream), n may then be 0. 0, or -1 to abort
	 * the response (the client connection closes). */
	int (*body)(struct req *r, void *st, const uint8_t *in, size_t n, struct buf *out, unsigned flags);
	/* 1: the body stage does keep output back (a compressor): its source
	 * then reads in small pieces and runs of them, and flushes only when
	 * a read finds nothing more (proxyd/backend.c, backend_read()). */
	unsigned holds:1;
	/* Releases the stage's per-response state (st), at the end of the
	 * exchange whatever happened. NULL: none. */
	void (*end)(struct req *r, void *st);
};

struct filter_chain {
	uint8_t n;                      /* filters active on this response */
	uint8_t nbody;                  /* of them, with a body stage */
	uint8_t nhold;                  /* of those, stages that hold output back (struct filter's holds) */
	uint8_t ndrop;                  /* of them, with a hdr_drop: the head writer asks per field only then */
	const struct filter *f[FILTER_MAX];
	void *st[FILTER_MAX];           /* per-response state of each */
};

/* The route's response header edits (route response_headers): fields the
 * route names are removed, those with a value set. */
extern const struct filter filter_route_headers;

/* What filter_select() is choosing for. */
#define FILTER_SEL_BODY    0x1u     /* the response has a body to transform: body stages allowed */
#define FILTER_SEL_BACKEND 0x2u     /* a backend's response (r->rm, its head's bytes at rd), not a local answer */

/* The request head of r (its bytes at d, r->rt its route) is complete and
 * will be forwarded: filters that need to know something of the request
 * when its response comes (compression: Accept-Encoding) read it now,
 * while its bytes are still in the client's buffer. */
void filter_request(struct req *r, const uint8_t *d);
/* Chooses the filters that apply to r's response, before its head is
 * written. how: FILTER_SEL_* bits; body stages only with FILTER_SEL_BODY.
 * rd: the backend's response head bytes (FILTER_SEL_BACKEND), which stay
 * in place until the head for the client is written; NULL for a local
 * answer, which only the route's header edits apply to. */
void filter_select(struct req *r, unsigned how, const uint8_t *rd);
/* Adds filter f (per-response state st) to r's chain: -1 when full. For a
 * filter's own selection function, called from filter_select(). */
int filter_add(struct req *r, const struct filter *f, void *st);

/* Header stage over the chain: whether to drop a field, the fields to add. */
int filter_hdr_drop(const struct req *r, const char *name, size_t len);
void filter_hdr_add(const struct req *r, struct buf *h);

/* Body stage over the chain: n data bytes at in through every body stage;
 * the last stage's output is framed for the client (a chunk, or raw bytes
 * for HTTP/1.0) onto out. FILTER_LAST ends the body (and, chunked, writes
 * the last chunk). 0, or -1 (out of memory or a stage failed). */
int filter_body(struct req *r, const uint8_t *in, size_t n, struct buf *out, unsigned flags);
/* Releases every stage's state; the chain is empty afterwards. */
void filter_end(struct req *r);

#endif
