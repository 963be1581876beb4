/*
 * proxyd/h1_frame.c — HTTP/1 body framing (h1_frame.h).
 */
#include "proxyd/h1_frame.h"

#include <string.h>

void
h1_append_framing(struct buf *h, int chunked, int64_t cl)
{
	char num[24];
	int n = (int)sizeof(num);

	if (chunked) {
		buf_append(h, "Transfer-Encoding: chunked\r\n", 28);
		return;
	}
	if (cl < 0)
		return;
	/* Hot path: no printf. The parser caps Content-Length at 18 digits. */
	do {
		num[--n] = (char)('0' + cl % 10);
		cl /= 10;
	} while (cl > 0);
	buf_append(h, "Content-Length: ", 16);
	buf_append(h, num + n, sizeof(num) - (size_t)n);
	buf_append(h, "\r\n", 2);
}

enum { DC_SIZE = 0, DC_DATA, DC_DATA_CRLF, DC_TRAILER, DC_DONE };

/* The state machine walks framing http_chunked_feed() already validated, so
 * it only tells data from framing. Used for HTTP/1.0 clients, which must not
 * get a chunked body (RFC 9112 §6.1), and in front of body filters. */
size_t
h1_dechunk(struct h1_dechunk *d, uint8_t *p, size_t n)
{
	size_t i = 0, o = 0, k;

	while (i < n) {
		uint8_t ch = p[i];
		switch (d->state) {
		case DC_SIZE:
			i++;
			if (ch == '\n') {
				d->state = d->left > 0 ? DC_DATA : DC_TRAILER;
				d->ext = 0;
				d->empty = 1;
			} else if (!d->ext && ((ch >= '0' && ch <= '9') || ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'f'))) {
				d->left = d->left * 16 + (uint64_t)(ch <= '9' ? ch - '0' : (ch | 0x20) - 'a' + 10);
			} else {
				d->ext = 1;   /* chunk extension, BWS or CR: not size digits */
			}
			break;
		case DC_DATA:
			k = n - i < d->left ? n - i : (size_t)d->left;
			memmove(p + o, p + i, k);
			o += k;
			i += k;
			d->left -= k;
			if (d->left == 0)
				d->state = DC_DATA_CRLF;
			break;
		case DC_DATA_CRLF:
			i++;
			if (ch == '\n')
				d->state = DC_SIZE;
			break;
		case DC_TRAILER:
			i++;
			if (ch == '\n') {
				if (d->empty)
					d->state = DC_DONE;
				d->empty = 1;
			} else if (ch != '\r') {
				d->empty = 0;
			}
			break;
		default:
			i = n;
			break;
		}
	}
	return o;
}

int
h1_chunk_append(struct buf *out, const uint8_t *p, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	char sz[20];
	size_t v = n;
	int k = (int)sizeof(sz);

	if (n == 0)
		return 0;
	sz[--k] = '\n';
	sz[--k] = '\r';
	do {
		sz[--k] = hex[v & 15];
		v >>= 4;
	} while (v > 0);
	if (buf_reserve(out, sizeof(sz) - (size_t)k + n + 2) == -1)
		return -1;
	buf_append(out, sz + k, sizeof(sz) - (size_t)k);
	buf_append(out, p, n);
	buf_append(out, "\r\n", 2);
	return 0;
}

int
h1_chunk_last(struct buf *out)
{
	return buf_append(out, "0\r\n\r\n", 5);
}
