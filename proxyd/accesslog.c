/*
 * proxyd/accesslog.c — access log lines, batched per worker.
 *
 * At head time the fields that live in the client's buffer (method, target,
 * Referer, User-Agent) are copied into the request's logpre, since the buffer
 * moves on; when the exchange ends the line is completed into the worker's
 * log buffer. The buffer is written with one write(2) when it passes 32 KiB
 * or from the worker's 200 ms timer (worker.c), never once per request.
 * The JSON line's "coding" (and the combined line's trailing enc=, present
 * only then) names the content coding proxyd applied to the body.
 * Control characters and quotes from clients are escaped, so a client cannot
 * forge log lines. Lines are assembled with the small put_* appenders below,
 * not printf: formatting was a tenth of the instructions of a plain proxied
 * request.
 */
#include "proxyd/accesslog.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proxyd/cache.h"
#include "proxyd/compress_rule.h"
#include "proxyd/config.h"
#include "proxyd/conn.h"
#include "proxyd/exchange.h"
#include "proxyd/worker.h"

static int log_fd = -1;
static int log_format;

int
accesslog_open(const char *spec, int format)
{
	log_format = format;
	if (spec == NULL || strcmp(spec, "off") == 0) {
		log_fd = -1;
		return 0;
	}
	if (strcmp(spec, "stderr") == 0) {
		log_fd = 2;
		return 0;
	}
	log_fd = open(spec, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	return log_fd == -1 ? -1 : 0;
}

int
accesslog_enabled(void)
{
	return log_fd >= 0;
}

/* Appends s[0..n) at dst[at], as much as fits in cap; returns the new length. */
static size_t
put(char *dst, size_t at, size_t cap, const char *s, size_t n)
{
	if (at >= cap)
		return at;
	if (n > cap - at)
		n = cap - at;
	memcpy(dst + at, s, n);
	return at + n;
}

static size_t
put_s(char *dst, size_t at, size_t cap, const char *s)
{
	return put(dst, at, cap, s, strlen(s));
}

/* v in decimal, at least min_digits (zero-padded). */
static size_t
put_u(char *dst, size_t at, size_t cap, uint64_t v, int min_digits)
{
	char tmp[24];
	int n = 0;

	do {
		tmp[sizeof(tmp) - 1 - n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0 || n < min_digits);
	return put(dst, at, cap, tmp + sizeof(tmp) - n, (size_t)n);
}

/* Appends s[0..n) escaped for a quoted field; returns the new length. */
static size_t
esc(char *dst, size_t at, size_t cap, const uint8_t *s, size_t n, int json)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < n && at + 6 < cap; i++) {
		uint8_t ch = s[i];
		if (ch < 0x20 || ch >= 0x7f || ch == '"' || ch == '\\') {
			/* Bytes >= 0x80 too: a client's bytes need not be UTF-8,
			 * and a JSON line must be. */
			dst[at++] = '\\';
			if (json) {
				dst[at++] = 'u'; dst[at++] = '0'; dst[at++] = '0';
			} else {
				dst[at++] = 'x';
			}
			dst[at++] = hex[ch >> 4];
			dst[at++] = hex[ch & 15];
		} else {
			dst[at++] = (char)ch;
		}
	}
	return at;
}

static size_t
field(const struct http_msg *m, const uint8_t *d, const char *lname, char *dst, size_t at, size_t cap, int json)
{
	int i = http_find_header(m, d, lname);

	if (i < 0)
		return json ? at : put_s(dst, at, cap, "-");
	return esc(dst, at, cap, d + m->headers[i].value.off, m->headers[i].value.len > 256 ? 256 : m->headers[i].value.len, json);
}

static __thread time_t date_sec;
static __thread char date_buf[64];

static const char *
log_date(int json)
{
	time_t now = time(NULL);

	if (now != date_sec || date_buf[0] == '\0') {
		struct tm tm;
		date_sec = now;
		if (json) {
			gmtime_r(&now, &tm);
			strftime(date_buf, sizeof(date_buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
		} else {
			localtime_r(&now, &tm);
			strftime(date_buf, sizeof(date_buf), "%d/%b/%Y:%H:%M:%S %z", &tm);
		}
	}
	return date_buf;
}

void
accesslog_begin(struct req *r, const struct conn *c, const unsigned char *d)
{
	const struct http_msg *m = &r->rq.head;
	char ip[48];
	size_t at = 0, cap = sizeof(r->logpre);
	int json = log_format == PD_LOG_JSON;

	if (log_fd < 0)
		return;
	conn_peer_str(c, ip, sizeof(ip));
	if (json) {
		at = put_s(r->logpre, at, cap, "{\"time\":\"");
		at = put_s(r->logpre, at, cap, log_date(1));
		at = put_s(r->logpre, at, cap, "\",\"client\":\"");
		at = put_s(r->logpre, at, cap, ip);
		at = put_s(r->logpre, at, cap, "\",\"method\":\"");
		at = esc(r->logpre, at, cap, d + m->method_s.off, m->method_s.len, 1);
		at = put_s(r->logpre, at, cap, "\",\"uri\":\"");
		at = esc(r->logpre, at, cap, d + m->target.off, m->target.len > 300 ? 300 : m->target.len, 1);
		/* An HTTP/2 stream's head was written as HTTP/1.1 for the request path. */
		at = put_s(r->logpre, at, cap, r->h2 ? "\",\"proto\":\"HTTP/2.0" : "\",\"proto\":\"HTTP/1.");
		if (!r->h2)
			at = put_u(r->logpre, at, cap, (uint64_t)m->version_minor, 1);
		at = put_s(r->logpre, at, cap, "\",\"host\":\"");
		at = field(m, d, "host", r->logpre, at, cap, 1);
		r->logsplit = (uint16_t)at;
		at = put_s(r->logpre, at, cap, "\",\"referer\":\"");
		at = field(m, d, "referer", r->logpre, at, cap, 1);
		at = put_s(r->logpre, at, cap, "\",\"user_agent\":\"");
		at = field(m, d, "user-agent", r->logpre, at, cap, 1);
	} else {
		at = put_s(r->logpre, at, cap, ip);
		at = put_s(r->logpre, at, cap, " - - [");
		at = put_s(r->logpre, at, cap, log_date(0));
		at = put_s(r->logpre, at, cap, "] \"");
		at = esc(r->logpre, at, cap, d + m->method_s.off, m->method_s.len, 0);
		at = put_s(r->logpre, at, cap, " ");
		at = esc(r->logpre, at, cap, d + m->target.off, m->target.len > 300 ? 300 : m->target.len, 0);
		at = put_s(r->logpre, at, cap, r->h2 ? " HTTP/2.0" : " HTTP/1.");
		if (!r->h2)
			at = put_u(r->logpre, at, cap, (uint64_t)m->version_minor, 1);
		at = put_s(r->logpre, at, cap, "\"");
		r->logsplit = (uint16_t)at;
		at = put_s(r->logpre, at, cap, " \"");
		at = field(m, d, "referer", r->logpre, at, cap, 0);
		at = put_s(r->logpre, at, cap, "\" \"");
		at = field(m, d, "user-agent", r->logpre, at, cap, 0);
		at = put_s(r->logpre, at, cap, "\"");
	}
	if (at > cap - 1)
		at = cap - 1;
	r->loglen = (uint16_t)at;
}

void
accesslog_flush(struct worker *wk)
{
	size_t n = buf_len(&wk->alog);

	if (n == 0 || log_fd < 0)
		return;
	/* Best effort: a full disk must not stop the proxy. */
	while (write(log_fd, buf_rptr(&wk->alog), n) == -1 && errno == EINTR)
		;
	buf_consume(&wk->alog, n);
}

void
accesslog_end(struct worker *wk, struct req *r)
{
	const char *up = "-", *srv = "-";
	uint64_t us = exch_now_us() - r->t_start;
	char t[640];
	size_t at = 0, cap = sizeof(t);

	if (log_fd < 0 || r->loglen == 0)
		return;
	if (r->gen != NULL && r->up_idx >= 0) {
		up = r->gen->upstreams[r->up_idx].name;
		if (r->srv_idx >= 0)
			srv = r->gen->upstreams[r->up_idx].servers[r->srv_idx].name;
	}
	if (log_format == PD_LOG_JSON) {
		at = put_s(t, at, cap, "\",\"status\":");
		at = put_u(t, at, cap, (uint64_t)r->status, 1);
		at = put_s(t, at, cap, ",\"bytes\":");
		at = put_u(t, at, cap, r->bytes_out, 1);
		at = put_s(t, at, cap, ",\"duration_us\":");
		at = put_u(t, at, cap, us, 1);
		at = put_s(t, at, cap, ",\"route\":\"");
		at = put_s(t, at, cap, r->rt ? r->rt->name : "-");
		at = put_s(t, at, cap, "\",\"upstream\":\"");
		at = put_s(t, at, cap, up);
		at = put_s(t, at, cap, "\",\"server\":\"");
		at = put_s(t, at, cap, srv);
		at = put_s(t, at, cap, "\",\"request_id\":\"");
		at = put_s(t, at, cap, r->reqid);
		at = put_s(t, at, cap, "\",\"coding\":\"");
		at = put_s(t, at, cap, r->cz.alg != COMPRESS_IDENTITY ? compress_alg_str((enum compress_alg)r->cz.alg) : "-");
		if (r->cache != NULL || r->cache_pass) {
			at = put_s(t, at, cap, "\",\"cache\":\"");
			at = put_s(t, at, cap, cache_log_str(r));
		}
		at = put_s(t, at, cap, "\"}\n");
		buf_append(&wk->alog, r->logpre, r->loglen);
		buf_append(&wk->alog, t, at);
	} else {
		/* rt= in seconds with three decimals, rounded to the ms. */
		uint64_t ms = (us + 500) / 1000;

		at = put_s(t, at, cap, " ");
		at = put_u(t, at, cap, (uint64_t)r->status, 1);
		at = put_s(t, at, cap, " ");
		at = put_u(t, at, cap, r->bytes_out, 1);
		buf_append(&wk->alog, r->logpre, r->logsplit);
		buf_append(&wk->alog, t, at);
		buf_append(&wk->alog, r->logpre + r->logsplit, (size_t)(r->loglen - r->logsplit));
		at = put_s(t, 0, cap, " rid=");
		at = put_s(t, at, cap, r->reqid);
		at = put_s(t, at, cap, " rt=");
		at = put_u(t, at, cap, ms / 1000, 1);
		at = put_s(t, at, cap, ".");
		at = put_u(t, at, cap, ms % 1000, 3);
		at = put_s(t, at, cap, " up=");
		at = put_s(t, at, cap, up);
		at = put_s(t, at, cap, "/");
		at = put_s(t, at, cap, srv);
		/* Only on a coded body, so that every other line keeps the
		 * shape log readers parse (up= last). */
		if (r->cz.alg != COMPRESS_IDENTITY) {
			at = put_s(t, at, cap, " enc=");
			at = put_s(t, at, cap, compress_alg_str((enum compress_alg)r->cz.alg));
		}
		/* Likewise only on a route with a cache. */
		if (r->cache != NULL || r->cache_pass) {
			size_t fl;
			const char *f = cache_log_field(r, &fl);
			at = put(t, at, cap, f, fl);
		}
		at = put_s(t, at, cap, "\n");
		buf_append(&wk->alog, t, at);
	}
	if (buf_len(&wk->alog) > 32768)
		accesslog_flush(wk);
}
