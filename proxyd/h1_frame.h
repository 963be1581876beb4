/*
 * proxyd/h1_frame.h — HTTP/1 message framing (RFC 9112 §6, §7.1), pure: no
 * I/O, no connection. How many bytes of a stream belong to a body
 * (Content-Length counted, chunked validated), removing the chunked framing
 * for a peer that must not get it, and the framing header proxyd writes in
 * front of every body it forwards. Span helpers for the head rewrites.
 */
#ifndef PROXYD_H1_FRAME_H
#define PROXYD_H1_FRAME_H

#include <stddef.h>
#include <stdint.h>
#include <strings.h>

#include "lib/buf.h"
#include "proxyd/http_parse.h"

/* Whether the span s of data is the lower-case name lname (any case). */
static inline int
h1_span_is(const uint8_t *data, struct http_span s, const char *lname, size_t llen)
{
	return s.len == llen && strncasecmp((const char *)data + s.off, lname, llen) == 0;
}
#define H1_SPAN_IS(d, s, lit) h1_span_is((d), (s), lit, sizeof(lit) - 1)

/* Whether header i of m is named by its Connection field (hop-by-hop). */
static inline int
h1_hop_masked(const struct http_msg *m, int i)
{
	return (m->conn_hop_mask[i / 32] >> (i % 32)) & 1u;
}

/*
 * The framing header of a forwarded message: the one proxyd framed it by
 * (RFC 9112 §6.3), never the peer's field passed through. The peer's
 * Content-Length and Transfer-Encoding lines are dropped from every forwarded
 * head and this line stands in for them, so whatever the peer did to its own
 * framing fields (a Connection token naming them, say) the next hop reads the
 * body proxyd counted or validated and nothing more. cl < 0: none.
 */
void h1_append_framing(struct buf *h, int chunked, int64_t cl);

/* The body framing both directions share (RFC 9112 §6.3): how many of the
 * avail bytes at p belong to a Content-Length (kind HTTP_BODY_LENGTH, *left
 * bytes to go) or chunked (validated by ch) body, in *used. 1 when the body
 * ends with them, 0 when more is to come, -1 for a malformed chunked body.
 * Inline: it runs on every read of a body. */
static inline int
h1_body_frame(enum http_body kind, uint64_t *left, struct http_chunked *ch, const uint8_t *p, size_t avail,
    size_t *used)
{
	*used = 0;
	if (kind == HTTP_BODY_LENGTH) {
		*used = avail < *left ? avail : (size_t)*left;
		*left -= *used;
		return *left == 0;
	}
	if (avail == 0)
		return 0;
	switch (http_chunked_feed(ch, p, avail, used)) {
	case HTTP_DONE:
		return 1;
	case HTTP_AGAIN:
		return 0;
	default:
		return -1;
	}
}

/* Removing the chunked framing from a body as it streams: the state kept
 * between calls, so chunks may be split anywhere. */
struct h1_dechunk {
	uint64_t left;                  /* data bytes left in the current chunk */
	uint8_t state, ext, empty;
};

static inline void
h1_dechunk_init(struct h1_dechunk *d)
{
	d->state = 0;
	d->left = 0;
	d->ext = 0;
	d->empty = 0;
}

/* Removes the chunked framing (RFC 9112 §7.1) from n bytes at p that
 * http_chunked_feed() has already validated, in place; returns how many data
 * bytes are left at p. */
size_t h1_dechunk(struct h1_dechunk *d, uint8_t *p, size_t n);

/* Frames n bytes at p as one chunk (RFC 9112 §7.1) at the end of out: size
 * line, data, CRLF. n == 0 writes nothing (a zero-size chunk would end the
 * body). 0, or -1 out of memory. */
int h1_chunk_append(struct buf *out, const uint8_t *p, size_t n);
/* The last chunk and the empty trailer section: "0\r\n\r\n". */
int h1_chunk_last(struct buf *out);

#endif
