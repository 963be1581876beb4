/*
 * tests/fuzz/fuzz_http_fields.c — libFuzzer harness for the header-value
 * parsers in proxyd/http_parse.c that decide connection handling:
 * Connection (parse_connection, then build_hop_mask, which marks the fields
 * a Connection token names as hop-by-hop) and Upgrade (the lone
 * "websocket" that may become a tunnel). Accept-Encoding, and the
 * Cache-Control, Vary, ETag and Content-Type readers of the compression
 * filter, have their own harness (fuzz_accept_encoding.c).
 *
 * The input is split at NUL bytes: a Connection value, an Upgrade value,
 * and the names of further fields. From them the harness writes a request
 * and parses it; a reference model written here from RFC 9110 §7.6.1 and
 * §5.6.1 (a list of tokens, empty elements allowed, OWS around commas)
 * and RFC 6455 §4.1 predicts the verdict, which the parser must match:
 * accepted exactly when the list is valid; conn_close, conn_keep_alive and
 * conn_upgrade exactly when such a token is there (case-insensitively);
 * every field a token names marked hop-by-hop unless it is protected
 * (http_field_protected: framing, Host, what proxyd sets), the ignored
 * classes counted; upgrade_ws exactly for one Upgrade field whose value is
 * "websocket". Inputs whose values hold bytes no field value may hold
 * (CTLs other than HTAB) only have to be refused; CR and LF are left out, as
 * they would end the line and make a different request.
 *
 * Seeds: tests/fuzz/corpus/http_fields/, the Connection and Upgrade values
 * real clients send (tests/fuzz/corpus/README says how).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proxyd/http_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_EXTRA 32

struct seg { const uint8_t *p; size_t n; };

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_http_fields: invariant broken: %s\n", what);
		abort();
	}
}

static int is_tchar(uint8_t c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int is_ows(uint8_t c)
{
	return c == ' ' || c == '\t';
}

/* field-vchar, SP, HTAB, obs-text (RFC 9110 §5.5). */
static int value_ok(struct seg s)
{
	for (size_t i = 0; i < s.n; i++)
		if ((s.p[i] < 0x20 && s.p[i] != '\t') || s.p[i] == 0x7f)
			return 0;
	return 1;
}

static int ci_is(const uint8_t *p, size_t n, const char *lit)
{
	return n == strlen(lit) && strncasecmp((const char *)p, lit, n) == 0;
}

/* The Connection list: -1 invalid, else 0 with its tokens in cm. */
/* A token is at least one byte and a separator: at most 2048 in an input. */
#define MAX_TOKENS 2048

struct conn_model { int close, keep_alive, upgrade; struct seg tok[MAX_TOKENS]; size_t ntok; };

static int model_connection(struct seg v, struct conn_model *cm)
{
	size_t i = 0;

	memset(cm, 0, sizeof(*cm));
	while (i < v.n) {
		size_t t;

		while (i < v.n && (is_ows(v.p[i]) || v.p[i] == ','))
			i++;
		if (i == v.n)
			break;
		t = i;
		while (i < v.n && is_tchar(v.p[i]))
			i++;
		if (i == t)
			return -1;
		check(cm->ntok < MAX_TOKENS, "token count");
		cm->tok[cm->ntok++] = (struct seg){ v.p + t, i - t };
		cm->close |= ci_is(v.p + t, i - t, "close");
		cm->keep_alive |= ci_is(v.p + t, i - t, "keep-alive");
		cm->upgrade |= ci_is(v.p + t, i - t, "upgrade");
		while (i < v.n && is_ows(v.p[i]))
			i++;
		if (i < v.n && v.p[i] != ',')
			return -1;
	}
	return 0;
}

/* Names the parser treats specially: left out of the extra fields so the
 * model stays the two parsers under test. */
static int special(struct seg s)
{
	static const char *const names[] = { "host", "connection", "upgrade", "content-length",
					      "transfer-encoding", "expect", NULL };

	for (int i = 0; names[i] != NULL; i++)
		if (ci_is(s.p, s.n, names[i]))
			return 1;
	return 0;
}

static void put(uint8_t *buf, size_t *off, const void *p, size_t n)
{
	memcpy(buf + *off, p, n);
	*off += n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct http_msg m;
	static struct conn_model cm;
	struct seg seg[2 + MAX_EXTRA];
	size_t nseg = 0, start = 0, off = 0;
	struct http_parser p;
	uint8_t *req;
	int rc, valid, has_upgrade;

	for (size_t i = 0; i <= size && nseg < 2 + MAX_EXTRA; i++)
		if (i == size || data[i] == 0) {
			seg[nseg++] = (struct seg){ data + start, i - start };
			start = i + 1;
		}
	if (nseg < 1)
		return 0;
	has_upgrade = nseg >= 2;
	/* CR and LF would end the field line here and start another: that is
	 * a different request, not a value (fuzz_http_parse covers it). */
	for (size_t i = 0; i < (has_upgrade ? 2u : 1u); i++)
		if (memchr(seg[i].p, '\r', seg[i].n) != NULL || memchr(seg[i].p, '\n', seg[i].n) != NULL)
			return 0;
	for (size_t i = 2; i < nseg; i++) {
		if (seg[i].n == 0 || special(seg[i]))
			return 0;
		for (size_t j = 0; j < seg[i].n; j++)
			if (!is_tchar(seg[i].p[j]))
				return 0;
	}

	req = malloc(size + 64 + 8 * nseg);
	check(req != NULL, "malloc");
	put(req, &off, "GET / HTTP/1.1\r\nHost: h\r\nConnection: ", 37);
	put(req, &off, seg[0].p, seg[0].n);
	put(req, &off, "\r\n", 2);
	if (has_upgrade) {
		put(req, &off, "Upgrade: ", 9);
		put(req, &off, seg[1].p, seg[1].n);
		put(req, &off, "\r\n", 2);
	}
	for (size_t i = 2; i < nseg; i++) {
		put(req, &off, seg[i].p, seg[i].n);
		put(req, &off, ": x\r\n", 5);
	}
	put(req, &off, "\r\n", 2);

	http_parser_init(&p, 0, NULL);
	rc = http_parse(&p, &m, req, off);
	free(req);

	if (!value_ok(seg[0]) || (has_upgrade && !value_ok(seg[1]))) {
		check(rc == HTTP_ERROR, "a value with a forbidden byte accepted");
		return 0;
	}
	valid = model_connection(seg[0], &cm) == 0;
	if (!valid) {
		check(rc == HTTP_ERROR && p.status == 400 && strcmp(p.reason, "bad-connection") == 0,
		    "an invalid Connection list not refused as bad-connection");
		return 0;
	}
	check(rc == HTTP_OK, "a valid request refused");
	check(m.conn_close == cm.close && m.conn_keep_alive == cm.keep_alive && m.conn_upgrade == cm.upgrade,
	    "Connection flags differ from the model");

	/* Hop-by-hop marks and ignored classes (RFC 9110 §7.6.1). The request
	 * bytes are gone: names are compared through the segments. */
	{
		uint8_t ign = 0;
		/* headers: 0 Host, 1 Connection, [2 Upgrade], then the extras */
		size_t first_extra = has_upgrade ? 3 : 2;

		check(m.nheaders == first_extra + (nseg > 2 ? nseg - 2 : 0), "header count");
		for (size_t t = 0; t < cm.ntok; t++)
			ign |= (uint8_t)http_field_protected(cm.tok[t].p, cm.tok[t].n);
		check(m.conn_ignored == ign, "ignored classes differ from the model");
		for (size_t j = 0; j < m.nheaders; j++) {
			struct seg name;
			int named = 0, marked = (m.conn_hop_mask[j / 32] >> (j % 32)) & 1u;

			if (j == 0)
				name = (struct seg){ (const uint8_t *)"Host", 4 };
			else if (j == 1)
				name = (struct seg){ (const uint8_t *)"Connection", 10 };
			else if (j == 2 && has_upgrade)
				name = (struct seg){ (const uint8_t *)"Upgrade", 7 };
			else
				name = seg[2 + (j - first_extra)];
			for (size_t t = 0; t < cm.ntok; t++)
				if (cm.tok[t].n == name.n && strncasecmp((const char *)cm.tok[t].p,
				    (const char *)name.p, name.n) == 0)
					named = 1;
			if (http_field_protected(name.p, name.n))
				named = 0;
			check(marked == named, "hop-by-hop mark differs from the model");
		}
	}

	/* Upgrade (RFC 6455 §4.1): one field, value "websocket" after OWS. */
	if (has_upgrade) {
		struct seg v = seg[1];

		while (v.n > 0 && is_ows(v.p[0])) {
			v.p++;
			v.n--;
		}
		while (v.n > 0 && is_ows(v.p[v.n - 1]))
			v.n--;
		check(m.has_upgrade_hdr && m.upgrade_idx == 2, "Upgrade field found");
		check(m.upgrade_ws == ci_is(v.p, v.n, "websocket"), "upgrade_ws differs from the model");
	} else {
		check(!m.has_upgrade_hdr && m.upgrade_idx == -1 && !m.upgrade_ws, "no Upgrade field");
	}
	return 0;
}
