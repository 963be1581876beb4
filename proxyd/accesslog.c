/*
 * proxyd/accesslog.c — access log lines, batched per worker.
 *
 * At head time the fields that live in the client's buffer (method, target,
 * Referer, User-Agent) are copied into the request's logpre, since the buffer
 * moves on; when the exchange ends the line is completed into the worker's
 * log buffer. The buffer is written with one write(2) when it passes 32 KiB
 * or from the worker's 200 ms timer (worker.c), never once per request.
 * Control characters and quotes from clients are escaped, so a client cannot
 * forge log lines.
 */
#include "proxyd/accesslog.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proxyd/config.h"
#include "proxyd/conn.h"
#include "proxyd/http_proxy.h"
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
		return at + (size_t)snprintf(dst + at, cap - at, "%s", json ? "" : "-");
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
	const struct http_msg *m = &r->qm;
	char ip[48];
	size_t at = 0, cap = sizeof(r->logpre);
	int json = log_format == PD_LOG_JSON;

	if (log_fd < 0)
		return;
	conn_peer_str(c, ip, sizeof(ip));
	if (json) {
		at += (size_t)snprintf(r->logpre, cap, "{\"time\":\"%s\",\"client\":\"%s\",\"method\":\"", log_date(1), ip);
		at = esc(r->logpre, at, cap, d + m->method_s.off, m->method_s.len, 1);
		at += (size_t)snprintf(r->logpre + at, cap - at, "\",\"uri\":\"");
		at = esc(r->logpre, at, cap, d + m->target.off, m->target.len > 300 ? 300 : m->target.len, 1);
		at += (size_t)snprintf(r->logpre + at, cap - at, "\",\"proto\":\"HTTP/1.%d\",\"host\":\"", m->version_minor);
		at = field(m, d, "host", r->logpre, at, cap, 1);
		r->logsplit = (uint16_t)at;
		at += (size_t)snprintf(r->logpre + at, cap - at, "\",\"referer\":\"");
		at = field(m, d, "referer", r->logpre, at, cap, 1);
		at += (size_t)snprintf(r->logpre + at, cap - at, "\",\"user_agent\":\"");
		at = field(m, d, "user-agent", r->logpre, at, cap, 1);
	} else {
		at += (size_t)snprintf(r->logpre, cap, "%s - - [%s] \"", ip, log_date(0));
		at = esc(r->logpre, at, cap, d + m->method_s.off, m->method_s.len, 0);
		r->logpre[at++] = ' ';
		at = esc(r->logpre, at, cap, d + m->target.off, m->target.len > 300 ? 300 : m->target.len, 0);
		at += (size_t)snprintf(r->logpre + at, cap - at, " HTTP/1.%d\"", m->version_minor);
		r->logsplit = (uint16_t)at;
		at += (size_t)snprintf(r->logpre + at, cap - at, " \"");
		at = field(m, d, "referer", r->logpre, at, cap, 0);
		at += (size_t)snprintf(r->logpre + at, cap - at, "\" \"");
		at = field(m, d, "user-agent", r->logpre, at, cap, 0);
		at += (size_t)snprintf(r->logpre + at, cap - at, "\"");
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
	uint64_t us = http_proxy_now_us() - r->t_start;

	if (log_fd < 0 || r->loglen == 0)
		return;
	if (r->gen != NULL && r->up_idx >= 0) {
		up = r->gen->upstreams[r->up_idx].name;
		if (r->srv_idx >= 0)
			srv = r->gen->upstreams[r->up_idx].servers[r->srv_idx].name;
	}
	if (log_format == PD_LOG_JSON) {
		buf_append(&wk->alog, r->logpre, r->loglen);
		buf_appendf(&wk->alog, "\",\"status\":%d,\"bytes\":%llu,\"duration_us\":%llu,\"route\":\"%s\","
		    "\"upstream\":\"%s\",\"server\":\"%s\",\"request_id\":\"%s\"}\n", r->status,
		    (unsigned long long)r->bytes_out, (unsigned long long)us, r->rt ? r->rt->name : "-", up, srv, r->reqid);
	} else {
		buf_append(&wk->alog, r->logpre, r->logsplit);
		buf_appendf(&wk->alog, " %d %llu", r->status, (unsigned long long)r->bytes_out);
		buf_append(&wk->alog, r->logpre + r->logsplit, (size_t)(r->loglen - r->logsplit));
		buf_appendf(&wk->alog, " rid=%s rt=%.3f up=%s/%s\n", r->reqid, (double)us / 1e6, up, srv);
	}
	if (buf_len(&wk->alog) > 32768)
		accesslog_flush(wk);
}
