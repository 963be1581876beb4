/*
 * lib/buf.c — byte buffers and bounds-checked readers.
 *
 * Every connection in proxyd and every channel in hacd reads and writes
 * through a struct buf. Storage is allocated on first use and can be given
 * back when the buffer drains, so ten thousand idle keep-alive connections
 * hold no buffer memory. Parsers of untrusted bytes read through a
 * buf_reader, whose getters fail on short data instead of reading past it.
 */
#include "lib/buf.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define BUF_MIN_CAP 512

void
buf_init(struct buf *b)
{
	b->data = NULL;
	b->cap = b->rpos = b->wpos = 0;
	b->wipe = 0;
}

void
buf_set_wipe(struct buf *b)
{
	b->wipe = 1;
}

void
buf_fini(struct buf *b)
{
	int wipe = b->wipe;

	if (wipe && b->data != NULL)
		sodium_memzero(b->data, b->cap);
	free(b->data);
	buf_init(b);
	b->wipe = wipe;
}

size_t
buf_len(const struct buf *b)
{
	return b->wpos - b->rpos;
}

uint8_t *
buf_rptr(const struct buf *b)
{
	return b->data == NULL ? NULL : b->data + b->rpos;
}

uint8_t *
buf_wptr(const struct buf *b)
{
	return b->data == NULL ? NULL : b->data + b->wpos;
}

size_t
buf_avail(const struct buf *b)
{
	return b->cap - b->wpos;
}

int
buf_reserve(struct buf *b, size_t n)
{
	size_t len = buf_len(b);

	if (buf_avail(b) >= n)
		return 0;
	if (n > BUF_MAX_CAP - len) {
		errno = ENOMEM;
		return -1;
	}
	/* Compacting is cheaper than growing when the space is there. */
	if (b->rpos > 0) {
		size_t old_wpos = b->wpos;

		memmove(b->data, b->data + b->rpos, len);
		b->rpos = 0;
		b->wpos = len;
		if (b->wipe)            /* the moved bytes' old copies past the new end */
			sodium_memzero(b->data + len, old_wpos - len);
		if (buf_avail(b) >= n)
			return 0;
	}
	size_t cap = b->cap < BUF_MIN_CAP ? BUF_MIN_CAP : b->cap;
	while (cap < len + n)
		cap *= 2;
	uint8_t *p;
	if (b->wipe) {
		/* realloc would free the old block as it is. */
		if ((p = malloc(cap)) == NULL)
			return -1;
		if (b->data != NULL) {
			memcpy(p, b->data, b->wpos);
			sodium_memzero(b->data, b->cap);
			free(b->data);
		}
	} else if ((p = realloc(b->data, cap)) == NULL) {
		return -1;
	}
	b->data = p;
	b->cap = cap;
	return 0;
}

void
buf_produce(struct buf *b, size_t n)
{
	assert(n <= buf_avail(b));
	b->wpos += n;
}

void
buf_consume(struct buf *b, size_t n)
{
	assert(n <= buf_len(b));
	if (b->wipe && n > 0)
		sodium_memzero(b->data + b->rpos, n);
	b->rpos += n;
	if (b->rpos == b->wpos)
		b->rpos = b->wpos = 0;
}

int
buf_append(struct buf *b, const void *p, size_t n)
{
	if (n == 0)
		return 0;
	if (buf_reserve(b, n) == -1)
		return -1;
	memcpy(b->data + b->wpos, p, n);
	b->wpos += n;
	return 0;
}

int
buf_appendf(struct buf *b, const char *fmt, ...)
{
	va_list ap, ap2;
	int n;

	va_start(ap, fmt);
	va_copy(ap2, ap);
	/* vsnprintf always writes a NUL, so try in what is there (if any). */
	if (buf_avail(b) > 0)
		n = vsnprintf((char *)buf_wptr(b), buf_avail(b), fmt, ap);
	else
		n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		va_end(ap2);
		return -1;
	}
	if ((size_t)n < buf_avail(b)) {
		b->wpos += (size_t)n;
		va_end(ap2);
		return 0;
	}
	if (buf_reserve(b, (size_t)n + 1) == -1) {
		va_end(ap2);
		return -1;
	}
	n = vsnprintf((char *)buf_wptr(b), buf_avail(b), fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return -1;
	b->wpos += (size_t)n;
	return 0;
}

void
buf_release_if_empty(struct buf *b)
{
	if (buf_len(b) == 0)
		buf_fini(b);
}

void
br_init(struct buf_reader *r, const void *p, size_t len)
{
	r->p = p;
	r->len = len;
	r->off = 0;
	r->err = 0;
}

size_t
br_left(const struct buf_reader *r)
{
	return r->len - r->off;
}

const uint8_t *
br_ptr(struct buf_reader *r, size_t n)
{
	if (r->err || br_left(r) < n) {
		r->err = 1;
		return NULL;
	}
	const uint8_t *p = r->p + r->off;
	r->off += n;
	return p;
}

int
br_bytes(struct buf_reader *r, void *dst, size_t n)
{
	const uint8_t *p = br_ptr(r, n);
	if (p == NULL)
		return -1;
	if (n > 0)
		memcpy(dst, p, n);
	return 0;
}

int
br_lit(struct buf_reader *r, const char *lit)
{
	size_t n = strlen(lit);

	if (r->err || br_left(r) < n || memcmp(r->p + r->off, lit, n) != 0) {
		r->err = 1;
		return -1;
	}
	r->off += n;
	return 0;
}

int
br_dec(struct buf_reader *r, unsigned min, unsigned max, uint32_t *v)
{
	size_t left = br_left(r), i;
	uint32_t acc = 0;

	if (r->err || min < 1 || max < min || max > 9) {
		r->err = 1;
		return -1;
	}
	for (i = 0; i < left && r->p[r->off + i] >= '0' && r->p[r->off + i] <= '9'; i++) {
		if (i == max) {
			r->err = 1;
			return -1;
		}
		acc = acc * 10 + (uint32_t)(r->p[r->off + i] - '0');
	}
	if (i < min) {
		r->err = 1;
		return -1;
	}
	r->off += i;
	*v = acc;
	return 0;
}

const uint8_t *
br_until(struct buf_reader *r, uint8_t stop, size_t *n)
{
	const uint8_t *p, *e;

	if (r->err || br_left(r) == 0 || (e = memchr(r->p + r->off, stop, br_left(r))) == NULL) {
		r->err = 1;
		return NULL;
	}
	p = r->p + r->off;
	*n = (size_t)(e - p);
	r->off += *n;
	return p;
}

int
br_u8(struct buf_reader *r, uint8_t *v)
{
	const uint8_t *p = br_ptr(r, 1);
	if (p == NULL)
		return -1;
	*v = p[0];
	return 0;
}

int
br_u16be(struct buf_reader *r, uint16_t *v)
{
	const uint8_t *p = br_ptr(r, 2);
	if (p == NULL)
		return -1;
	*v = get_u16be(p);
	return 0;
}

int
br_u32be(struct buf_reader *r, uint32_t *v)
{
	const uint8_t *p = br_ptr(r, 4);
	if (p == NULL)
		return -1;
	*v = get_u32be(p);
	return 0;
}

int
br_u64be(struct buf_reader *r, uint64_t *v)
{
	const uint8_t *p = br_ptr(r, 8);
	if (p == NULL)
		return -1;
	*v = get_u64be(p);
	return 0;
}

void
put_u16be(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

void
put_u32be(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

void
put_u64be(uint8_t *p, uint64_t v)
{
	put_u32be(p, (uint32_t)(v >> 32));
	put_u32be(p + 4, (uint32_t)v);
}

uint16_t
get_u16be(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

uint32_t
get_u32be(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

uint64_t
get_u64be(const uint8_t *p)
{
	return ((uint64_t)get_u32be(p) << 32) | get_u32be(p + 4);
}
