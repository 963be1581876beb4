/*
 * proxyd/http_parse.c — the HTTP/1.1 message-head parser and chunked-body
 * validator that every byte from a client or an upstream passes through
 * before proxyd acts on it (RFC 9112 message syntax, RFC 9110 semantics).
 *
 * Its job in the architecture is to make request smuggling impossible: proxyd
 * forwards a message only after this file has decided, without ambiguity,
 * where the message ends. So every construct that two implementations could
 * read differently (Content-Length with Transfer-Encoding, duplicate lengths,
 * obs-fold, bare LF or CR, whitespace before the colon, odd transfer codings)
 * is an error and a closed connection, never a repair. The request path
 * (conn, client, exchange, backend) owns the buffers and the sockets; this
 * file is pure (no I/O, no allocation, no clock) so that it can be
 * unit-tested as a table and fuzzed.
 *
 * Shape, after nginx's ngx_http_parse.c but line-oriented: http_parse() finds
 * the next LF with memchr() (vectorised in libc), resuming where the last call
 * stopped, then validates the complete line in one pass: token bytes by table
 * lookup, with the CR that must precede every LF as the sentinel that stops
 * those loops without bounds checks; value and target bytes (the bulk of a
 * head) eight at a time up to the known line end. Completed lines are never
 * scanned again.
 */
#include "proxyd/http_parse.h"

#include <string.h>

/* Character classes (RFC 9110 §5.6.2 tchar, §5.5 field-vchar, RFC 3986 for
 * request-target and host). Generated once; one load per byte in hot loops. */
enum {
	C_TCHAR  = 0x01,  /* token character */
	C_FVAL   = 0x02,  /* field-vchar / obs-text / SP / HTAB: allowed in a field value */
	C_TARGET = 0x04,  /* VCHAR except '#': allowed in a request-target */
	C_HOST   = 0x08,  /* unreserved / sub-delims: reg-name without pct-encoding */
	C_HEX    = 0x10,
	C_DIGIT  = 0x20
};

static const uint8_t cls[256] = {
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* 0x00 */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* 0x10 */
	0x02, 0x0f, 0x06, 0x03, 0x0f, 0x07, 0x0f, 0x0f, 0x0e, 0x0e, 0x0f, 0x0f, 0x0e, 0x0f, 0x0f, 0x06, /* 0x20 */
	0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x06, 0x0e, 0x06, 0x0e, 0x06, 0x06, /* 0x30 */
	0x06, 0x1f, 0x1f, 0x1f, 0x1f, 0x1f, 0x1f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, /* 0x40 */
	0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x06, 0x06, 0x06, 0x07, 0x0f, /* 0x50 */
	0x07, 0x1f, 0x1f, 0x1f, 0x1f, 0x1f, 0x1f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, /* 0x60 */
	0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x06, 0x07, 0x06, 0x0f, 0x00, /* 0x70 */
	0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, /* 0x80 */
	0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, /* 0x90 */
	0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, /* 0xa0 */
	0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, /* 0xb0 */
	0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, /* 0xc0 */
	0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, /* 0xd0 */
	0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, /* 0xe0 */
	0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02  /* 0xf0 */
};

enum { ST_INIT = 0, ST_START, ST_HEADERS, ST_DONE, ST_ERROR };

/* At most this many bytes of empty lines (CRLF pairs) are skipped before a
 * request-line (RFC 9112 §2.2 asks servers to ignore at least one, which
 * covers clients that send an extra CRLF after a POST body). */
#define LEADING_CRLF_MAX 4u

#define IS_OWS(c) ((c) == ' ' || (c) == '\t')

static int fail(struct http_parser *p, int status, const char *reason)
{
	p->state = ST_ERROR;
	/* A malformed upstream response is the gateway's problem to report:
	 * RFC 9110 §15.6.3 502 Bad Gateway. */
	p->status = p->is_response ? 502 : status;
	p->reason = reason;
	return HTTP_ERROR;
}

/* Case-insensitive compare against a lowercase literal made of letters and
 * '-', without a table: (c | 0x20) equals a lowercase letter only if c is
 * that letter in either case, and equals '-' only if c is '-' or CR, which
 * no caller's input can contain (tokens, targets and values are validated,
 * and a value holds no CR). */
static inline int tok_eq(const uint8_t *s, const char *lc, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((uint8_t)(s[i] | 0x20) != (uint8_t)lc[i])
			return 0;
	return 1;
}

static inline uint8_t lower(uint8_t c)
{
	return (uint8_t)(c + (((unsigned)c - 'A' < 26u) << 5));
}

/* Case-insensitive compare of two arbitrary byte strings of length n. */
static inline int ci_eq(const uint8_t *a, const uint8_t *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (lower(a[i]) != lower(b[i]))
			return 0;
	return 1;
}

/*
 * Field values and request-targets are most of a head's bytes (cookies, long
 * URLs), so they are checked eight bytes at a time (SWAR, branch-free per
 * word): a word passes if no byte is a CTL, DEL (and for targets SP, '#' or
 * obs-text). The usual "has a byte less than n" and "has a zero byte" tricks
 * may flag a false positive after a true one, never miss one; a flagged
 * word is re-checked byte by byte with the class table, which alone decides.
 * Both return the first byte in [q, end) not in the class, or end.
 */
#define ONES  UINT64_C(0x0101010101010101)
#define HIGHS UINT64_C(0x8080808080808080)
#define HAS_LESS(x, n) (((x) - ONES * (n)) & ~(x))
#define HAS_ZERO(x)    (((x) - ONES) & ~(x))

static inline uint64_t load64(const uint8_t *q)
{
	uint64_t x;

	memcpy(&x, q, sizeof(x));
	return x;
}

static inline const uint8_t *skip_fval(const uint8_t *q, const uint8_t *end)
{
	const uint8_t *lim;
	uint64_t x;

	for (;;) {
		while (end - q >= 8) {
			x = load64(q);
			if ((HAS_LESS(x, 0x20) | HAS_ZERO(x ^ (ONES * 0x7f))) & HIGHS)
				break;
			q += 8;
		}
		lim = end - q >= 8 ? q + 8 : end;
		while (q < lim && (cls[*q] & C_FVAL))
			q++;
		if (q < lim || q == end)
			return q;
	}
}

static inline const uint8_t *skip_target(const uint8_t *q, const uint8_t *end)
{
	const uint8_t *lim;
	uint64_t x;

	for (;;) {
		while (end - q >= 8) {
			x = load64(q);
			if ((HAS_LESS(x, 0x21) | x | HAS_ZERO(x ^ (ONES * 0x7f)) |
			     HAS_ZERO(x ^ (ONES * '#'))) & HIGHS)
				break;
			q += 8;
		}
		lim = end - q >= 8 ? q + 8 : end;
		while (q < lim && (cls[*q] & C_TARGET))
			q++;
		if (q < lim || q == end)
			return q;
	}
}

static enum http_method method_lookup(const uint8_t *s, size_t n)
{
	/* Methods are case-sensitive (RFC 9110 §9.1); fixed-size memcmp
	 * compiles to one or two integer compares. */
	switch (n) {
	case 3:
		if (memcmp(s, "GET", 3) == 0) return HTTP_M_GET;
		if (memcmp(s, "PUT", 3) == 0) return HTTP_M_PUT;
		break;
	case 4:
		if (memcmp(s, "HEAD", 4) == 0) return HTTP_M_HEAD;
		if (memcmp(s, "POST", 4) == 0) return HTTP_M_POST;
		break;
	case 5:
		if (memcmp(s, "PATCH", 5) == 0) return HTTP_M_PATCH;
		if (memcmp(s, "TRACE", 5) == 0) return HTTP_M_TRACE;
		break;
	case 6:
		if (memcmp(s, "DELETE", 6) == 0) return HTTP_M_DELETE;
		break;
	case 7:
		if (memcmp(s, "CONNECT", 7) == 0) return HTTP_M_CONNECT;
		if (memcmp(s, "OPTIONS", 7) == 0) return HTTP_M_OPTIONS;
		break;
	}
	return HTTP_M_OTHER;
}

/*
 * Host syntax (RFC 9110 §7.2, RFC 3986 §3.2.2-3.2.3): uri-host [ ":" port ].
 * IP-literal is checked loosely (hex digits, ':' and '.' inside brackets);
 * reg-name allows unreserved and sub-delims; the port is at most 5 digits
 * and <= 65535. userinfo ('@') is refused: it is not part of Host and is
 * deprecated in http URIs (RFC 9110 §4.2.4).
 * Host routes and their access rules match the name as sent (ignoring case
 * and one trailing dot, see route_host_key()), so forms that name the same
 * host in another spelling are refused rather than matched differently from
 * the backend: pct-encoding in a reg-name (RFC 3986 allows it, DNS names
 * never need it, nginx refuses it) and empty labels (a leading dot, "..").
 */
static int host_valid(const uint8_t *h, size_t n)
{
	size_t i = 0, nd;
	unsigned port;

	if (n == 0)
		return 0;
	if (h[0] == '[') {
		for (i = 1; i < n && h[i] != ']'; i++)
			if (!(cls[h[i]] & C_HEX) && h[i] != ':' && h[i] != '.')
				return 0;
		if (i == n || i < 3)
			return 0;
		i++;
	} else {
		while (i < n && (cls[h[i]] & C_HOST)) {
			if (h[i] == '.' && (i == 0 || h[i - 1] == '.'))
				return 0;
			i++;
		}
		if (i == 0)
			return 0;
	}
	if (i == n)
		return 1;
	if (h[i] != ':')
		return 0;
	/* port = *DIGIT: an empty port is legal syntax (RFC 3986 §3.2.3). */
	for (i++, nd = 0, port = 0; i < n; i++, nd++) {
		if (!(cls[h[i]] & C_DIGIT) || nd == 5)
			return 0;
		port = port * 10 + (unsigned)(h[i] - '0');
	}
	return port <= 65535;
}

static void msg_init(struct http_msg *m)
{
	m->method = HTTP_M_OTHER;
	m->method_s.off = m->method_s.len = 0;
	m->target.off = m->target.len = 0;
	m->authority.off = m->authority.len = 0;
	m->target_form = HTTP_TF_ORIGIN;
	m->reason.off = m->reason.len = 0;
	m->status = 0;
	m->version_minor = 1;
	m->nheaders = 0;
	m->header_bytes = 0;
	m->content_length = -1;
	m->chunked = m->conn_close = m->conn_keep_alive = m->conn_upgrade = 0;
	m->expect_continue = m->expect_other = m->has_upgrade_hdr = m->has_te = 0;
	m->upgrade_ws = 0;
	m->conn_ignored = 0;
	m->host_idx = m->upgrade_idx = -1;
	memset(m->conn_hop_mask, 0, sizeof(m->conn_hop_mask));
}

void http_parser_init(struct http_parser *p, int is_response, const struct http_limits *lim)
{
	memset(p, 0, sizeof(*p));
	p->state = ST_INIT;
	p->is_response = is_response ? 1 : 0;
	p->lim.max_request_line = HTTP_DEFAULT_MAX_REQUEST_LINE;
	p->lim.max_header_bytes = HTTP_DEFAULT_MAX_HEADER_BYTES;
	p->lim.max_headers = HTTP_DEFAULT_MAX_HEADERS;
	if (lim != NULL) {
		if (lim->max_request_line != 0)
			p->lim.max_request_line = lim->max_request_line;
		if (lim->max_header_bytes != 0)
			p->lim.max_header_bytes = lim->max_header_bytes;
		if (lim->max_headers != 0)
			p->lim.max_headers = lim->max_headers;
	}
	if (p->lim.max_headers > HTTP_MAX_HEADERS)
		p->lim.max_headers = HTTP_MAX_HEADERS;
	/* Offsets are 32-bit; keep every offset we store well inside them. */
	if (p->lim.max_header_bytes > (1u << 30))
		p->lim.max_header_bytes = 1u << 30;
	p->status = 0;
	p->reason = NULL;
}

/* "HTTP/" DIGIT "." DIGIT, exactly 8 bytes (RFC 9112 §2.3; HTTP-name is
 * case-sensitive). Returns the minor version (0 or 1), -1 for a syntax
 * error, -2 for a well-formed version we do not speak. */
static int parse_version(const uint8_t *v)
{
	if (memcmp(v, "HTTP/", 5) != 0 || !(cls[v[5]] & C_DIGIT) || v[6] != '.' ||
	    !(cls[v[7]] & C_DIGIT))
		return -1;
	if (v[5] != '1' || (v[7] != '0' && v[7] != '1'))
		return -2;
	return v[7] - '0';
}

/*
 * Path normalisation (RFC 3986 §6.2.2), the one view of the path that routes,
 * access rules and the backend all share.
 *
 * Routing matches the path byte for byte, and a backend normalises before it
 * serves: if the two views differ, a request can match one route here and
 * be served as another path there. "/%69nternal/x" and "//internal/x" skip a
 * "/internal/" prefix with an allow list, go out through the default route,
 * and a backend that decodes or merges serves /internal/x. So the path is
 * brought to one form before anything matches it, and that form is what is
 * forwarded:
 *  - percent-encoded unreserved characters (ALPHA DIGIT - . _ ~) are decoded,
 *    since they are the same character (§2.3, §6.2.2.2); every other escape
 *    stays encoded with its hex in upper case (§6.2.2.1): decoding a reserved
 *    character would change the path's meaning (§2.2);
 *  - runs of '/' become one: RFC 3986 gives "//" an empty segment, but
 *    nginx (merge_slashes), most frameworks and file systems collapse them,
 *    and the backend must see what was matched;
 *  - a "." or ".." segment, also once decoded ("%2e%2E"), is refused, never
 *    removed: browsers and curl remove dot-segments before sending (§5.2.4),
 *    so a request that still has one is crafted, and which path it means
 *    depends on who resolves it.
 * Refused as ambiguous, because a backend that decodes them sees a path that
 * was never matched, and no form of them is safe to forward: an encoded '/'
 * (%2F) or '\' (%5C), a raw '\' (not a pchar, §3.3, and a separator on some
 * servers), an encoded control character (%00-%1F, %7F: C strings end at
 * %00, logs and headers break at CR LF), and malformed escapes ('%' not
 * followed by two hex digits), which one server passes and another decodes.
 * Encoded bytes >= 0x80 (UTF-8) stay encoded: they are not unreserved.
 * The query is not touched: routes do not match on it, and its encoding is
 * the application's (form encoding gives '+' and %2B different meanings).
 *
 * in: the path, from its first '/' up to the '?' or the end of the target.
 * out: NULL to check only, or where the normalised path goes; it may be in
 * itself, since output never runs ahead of input (decoding and merging only
 * shorten). Returns the normalised length, or -1 with *reason set.
 */
static int pct_hex(uint8_t c)
{
	if (!(cls[c] & C_HEX))
		return -1;
	return (cls[c] & C_DIGIT) ? c - '0' : (c | 0x20) - 'a' + 10;
}

static int unreserved(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	    c == '-' || c == '.' || c == '_' || c == '~';
}

static long path_norm(const uint8_t *in, size_t len, uint8_t *out, const char **reason)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i = 0, n = 0, seg = 0, dots = 0;
	int prev_slash = 0;

	while (i <= len) {
		uint8_t c = i < len ? in[i] : '/';
		int v;

		if (c == '/') {
			/* End of a segment: the previous one must not be "." or "..". */
			if (seg > 0 && seg <= 2 && dots == seg) {
				*reason = "dot-segment";
				return -1;
			}
			if (i == len)
				break;
			i++;
			if (prev_slash)
				continue;
			if (out != NULL)
				out[n] = '/';
			n++;
			prev_slash = 1;
			seg = dots = 0;
			continue;
		}
		prev_slash = 0;
		if (c == '\\') {
			*reason = "backslash";
			return -1;
		}
		if (c != '%') {
			if (out != NULL)
				out[n] = c;
			n++;
			seg++;
			dots += c == '.';
			i++;
			continue;
		}
		if (len - i < 3 || pct_hex(in[i + 1]) < 0 || pct_hex(in[i + 2]) < 0) {
			*reason = "bad-escape";
			return -1;
		}
		v = pct_hex(in[i + 1]) << 4 | pct_hex(in[i + 2]);
		i += 3;
		if (v == '/') {
			*reason = "encoded-slash";
			return -1;
		}
		if (v == '\\') {
			*reason = "encoded-backslash";
			return -1;
		}
		if (v < 0x20 || v == 0x7f) {
			*reason = "encoded-ctl";
			return -1;
		}
		if (unreserved((uint8_t)v)) {
			if (out != NULL)
				out[n] = (uint8_t)v;
			n++;
			seg++;
			dots += v == '.';
			continue;
		}
		if (out != NULL) {
			out[n] = '%';
			out[n + 1] = (uint8_t)hex[v >> 4];
			out[n + 2] = (uint8_t)hex[v & 15];
		}
		n += 3;
		seg += 3;
	}
	return (long)n;
}

/* [s, e): the path of a target (from its first '/' to the '?' or the end);
 * e == s when the target has no path (absolute-form "http://a?x"). */
static const uint8_t *path_end(const uint8_t *s, const uint8_t *e)
{
	const uint8_t *qm;

	if (s == e || *s != '/')
		return s;
	qm = memchr(s, '?', (size_t)(e - s));
	return qm != NULL ? qm : e;
}

int http_path_normalize(const char *in, size_t len, char *out, size_t cap, const char **reason)
{
	const char *why = NULL;
	long n;

	if (reason == NULL)
		reason = &why;
	if (len == 0 || in[0] != '/') {
		*reason = "not-a-path";
		return -1;
	}
	if (len > cap) {
		*reason = "too-long";
		return -1;
	}
	n = path_norm((const uint8_t *)in, len, (uint8_t *)out, reason);
	return n < 0 ? -1 : (int)n;
}

int http_target_normalize(struct http_msg *m, uint8_t *data)
{
	uint8_t *t = data + m->target.off, *e = t + m->target.len, *s = t, *pe;
	const char *why;
	long n;

	if (m->target_form == HTTP_TF_ABSOLUTE)
		s = data + m->authority.off + m->authority.len;
	else if (m->target_form != HTTP_TF_ORIGIN)
		return 0;
	pe = s + (path_end(s, e) - s);
	if (pe == s)
		return 0;
	n = path_norm(s, (size_t)(pe - s), s, &why);
	if (n < 0)
		return -1;
	if (s + n < pe) {
		/* The query follows the shortened path. */
		memmove(s + n, pe, (size_t)(e - pe));
		m->target.len -= (uint32_t)(pe - (s + n));
	}
	return 0;
}

/*
 * request-line = method SP request-target SP HTTP-version (RFC 9112 §3),
 * exactly: one SP each, no leading or trailing whitespace (§3 says a server
 * SHOULD reject whitespace-tolerant parsing rather than guess). [s, e) is the
 * line without its CRLF; data[e] is the CR, the sentinel of the token loops.
 */
static int parse_request_line(struct http_parser *p, struct http_msg *m, const uint8_t *data,
                              uint32_t s, uint32_t e)
{
	const uint8_t *b = data + s, *q = b, *end = data + e, *t, *a;
	int minor;

	while (cls[*q] & C_TCHAR)
		q++;
	if (q == b || *q != ' ')
		return fail(p, 400, "bad-method");
	m->method_s.off = s;
	m->method_s.len = (uint32_t)(q - b);
	m->method = method_lookup(b, (size_t)(q - b));

	t = ++q;
	q = skip_target(q, end);
	if (q == t || *q != ' ')
		return fail(p, 400, "bad-target");
	m->target.off = (uint32_t)(t - data);
	m->target.len = (uint32_t)(q - t);

	q++;
	if (end - q != 8)
		return fail(p, 400, "bad-version");
	minor = parse_version(q);
	if (minor == -1)
		return fail(p, 400, "bad-version");
	if (minor == -2)   /* RFC 9110 §15.6.6; also the HTTP/2 preface "PRI * HTTP/2.0" */
		return fail(p, 505, "version-not-supported");
	m->version_minor = minor;

	/* A reverse proxy has no tunnel to offer: CONNECT is not implemented
	 * (RFC 9110 §9.3.6, §15.6.2). Rejected here, before authority-form
	 * needs any more thought. */
	if (m->method == HTTP_M_CONNECT)
		return fail(p, 501, "connect");

	/* request-target forms, RFC 9112 §3.2. */
	if (*t == '/') {
		if (path_norm(t, (size_t)(path_end(t, q - 1) - t), NULL, &p->reason) < 0)
			return fail(p, 400, p->reason);
		m->target_form = HTTP_TF_ORIGIN;
		return HTTP_OK;
	}
	if (*t == '*' && q - t == 2) {   /* q is one past the SP */
		if (m->method != HTTP_M_OPTIONS)   /* §3.2.4 */
			return fail(p, 400, "asterisk-form");
		m->target_form = HTTP_TF_ASTERISK;
		return HTTP_OK;
	}
	/* absolute-form (§3.2.2): only the http and https schemes, with a
	 * non-empty authority; the authority then overrides Host. */
	if (q - t > 8 && tok_eq(t, "https", 5) && memcmp(t + 5, "://", 3) == 0)
		a = t + 8;
	else if (q - t > 7 && tok_eq(t, "http", 4) && memcmp(t + 4, "://", 3) == 0)
		a = t + 7;
	else
		return fail(p, 400, "bad-target-form");
	for (t = a; *t != ' ' && *t != '/' && *t != '?'; t++)
		;
	if (!host_valid(a, (size_t)(t - a)))
		return fail(p, 400, "bad-authority");
	if (path_norm(t, (size_t)(path_end(t, q - 1) - t), NULL, &p->reason) < 0)
		return fail(p, 400, p->reason);
	m->authority.off = (uint32_t)(a - data);
	m->authority.len = (uint32_t)(t - a);
	m->target_form = HTTP_TF_ABSOLUTE;
	return HTTP_OK;
}

/*
 * status-line = HTTP-version SP status-code SP [ reason-phrase ] (RFC 9112
 * §4). We also accept the line ending right after the status code: a missing
 * reason changes nothing about framing, and some servers omit the SP.
 * Every failure is a 502 (see fail()).
 */
static int parse_status_line(struct http_parser *p, struct http_msg *m, const uint8_t *data,
                             uint32_t s, uint32_t e)
{
	const uint8_t *b = data + s, *q, *end = data + e;
	int minor, st;

	if (e - s < 12)
		return fail(p, 502, "bad-status-line");
	minor = parse_version(b);
	if (minor < 0)
		return fail(p, 502, minor == -1 ? "bad-version" : "version-not-supported");
	m->version_minor = minor;
	if (b[8] != ' ' || !(cls[b[9]] & C_DIGIT) || !(cls[b[10]] & C_DIGIT) ||
	    !(cls[b[11]] & C_DIGIT))
		return fail(p, 502, "bad-status-line");
	st = (b[9] - '0') * 100 + (b[10] - '0') * 10 + (b[11] - '0');
	if (st < 100 || st > 599)   /* RFC 9110 §15 */
		return fail(p, 502, "bad-status-code");
	m->status = st;
	q = b + 12;
	if (q == end) {
		m->reason.off = e;
		m->reason.len = 0;
		return HTTP_OK;
	}
	if (*q != ' ')
		return fail(p, 502, "bad-status-line");
	q++;
	m->reason.off = (uint32_t)(q - data);
	q = skip_fval(q, end);   /* reason-phrase = *( HTAB / SP / VCHAR / obs-text ) */
	if (q != end)
		return fail(p, 502, "bad-reason");
	m->reason.len = (uint32_t)(q - data) - m->reason.off;
	return HTTP_OK;
}

/* Connection = #connection-option (RFC 9110 §7.6.1); empty list elements are
 * allowed (§5.6.1), anything but tokens, OWS and commas is not. */
static int parse_connection(struct http_parser *p, struct http_msg *m, const uint8_t *v, const uint8_t *end)
{
	const uint8_t *t;
	size_t n;

	while (v < end) {
		while (v < end && (IS_OWS(*v) || *v == ','))
			v++;
		if (v == end)
			break;
		t = v;
		while (v < end && (cls[*v] & C_TCHAR))
			v++;
		n = (size_t)(v - t);
		if (n == 0)
			return fail(p, 400, "bad-connection");
		if (n == 5 && tok_eq(t, "close", 5))
			m->conn_close = 1;
		else if (n == 10 && tok_eq(t, "keep-alive", 10))
			m->conn_keep_alive = 1;
		else if (n == 7 && tok_eq(t, "upgrade", 7))
			m->conn_upgrade = 1;
		while (v < end && IS_OWS(*v))
			v++;
		if (v < end && *v != ',')
			return fail(p, 400, "bad-connection");
	}
	p->conn_seen = 1;
	return HTTP_OK;
}

/* Content-Length = 1*DIGIT (RFC 9110 §8.6). At most 18 digits, so the value
 * fits int64_t without overflow checks; no sign, no list, no whitespace. */
static int parse_content_length(struct http_parser *p, struct http_msg *m, const uint8_t *v, size_t n)
{
	int64_t cl = 0;
	size_t i;

	/* RFC 9112 §6.3 (3): CL with TE is a smuggling attempt or a broken
	 * sender; either way the framing is ambiguous. */
	if (m->has_te)
		return fail(p, 400, "cl-and-te");
	/* RFC 9110 §8.6 lets a recipient collapse identical repeated values; we
	 * refuse even equal duplicates (RFC 9112 §6.3 (5) allows rejecting),
	 * because no correct sender repeats it and every hop behind us would
	 * have to agree on the collapsing rule for the framing to match. */
	if (m->content_length >= 0)
		return fail(p, 400, "dup-content-length");
	if (n == 0 || n > 18)
		return fail(p, 400, "bad-content-length");
	for (i = 0; i < n; i++) {
		if (!(cls[v[i]] & C_DIGIT))
			return fail(p, 400, "bad-content-length");
		cl = cl * 10 + (v[i] - '0');
	}
	m->content_length = cl;
	return HTTP_OK;
}

/* Transfer-Encoding (RFC 9112 §6.1): the only coding we accept is a single
 * "chunked" in a single field. Anything else ("gzip, chunked", "chunked,
 * chunked", a repeated field, "identity") would need us to trust that every
 * hop decodes the same list the same way; refuse instead. */
static int parse_transfer_encoding(struct http_parser *p, struct http_msg *m, const uint8_t *v, size_t n)
{
	if (m->content_length >= 0)   /* RFC 9112 §6.3 (3) */
		return fail(p, 400, "cl-and-te");
	if (m->has_te)
		return fail(p, 400, "dup-transfer-encoding");
	m->has_te = 1;
	/* RFC 9112 §6.1: a message from an HTTP/1.0 sender with
	 * Transfer-Encoding must be treated as having faulty framing. */
	if (m->version_minor == 0)
		return fail(p, 400, "te-in-http10");
	if (n != 7 || !tok_eq(v, "chunked", 7))
		return fail(p, 400, "bad-transfer-encoding");
	m->chunked = 1;
	return HTTP_OK;
}

/*
 * field-line = field-name ":" OWS field-value OWS (RFC 9112 §5). [s, e) is
 * the line without CRLF; data[e] is CR, which stops the token loops below.
 */
static int parse_field_line(struct http_parser *p, struct http_msg *m, const uint8_t *data,
                            uint32_t s, uint32_t e)
{
	const uint8_t *b = data + s, *q = b, *v, *end = data + e;
	struct http_header *h;
	uint32_t nlen, vlen;
	int idx, rc = HTTP_OK;

	/* RFC 9112 §5.2: obs-fold is rejected with 400 in requests; for a
	 * proxy in front of other parsers folding is pure ambiguity. Before the
	 * first field this is whitespace after the start line (§2.2). */
	if (IS_OWS(*b))
		return fail(p, 400, m->nheaders == 0 ? "ws-after-start-line" : "obs-fold");
	while (cls[*q] & C_TCHAR)
		q++;
	if (*q != ':') {
		/* RFC 9112 §5.1: no whitespace between name and colon, MUST 400. */
		if (IS_OWS(*q))
			return fail(p, 400, "ws-before-colon");
		return fail(p, 400, "bad-field-name");
	}
	if (q == b)
		return fail(p, 400, "empty-field-name");
	nlen = (uint32_t)(q - b);
	q++;
	while (IS_OWS(*q))
		q++;
	v = q;
	/* RFC 9110 §5.5: CR, LF and NUL are never allowed in a value; other
	 * CTLs (except HTAB) and DEL are not field-vchar either. */
	q = skip_fval(q, end);
	if (q != end)
		return fail(p, 400, *q == '\r' ? "bare-cr" : "bad-field-value");
	while (q > v && IS_OWS(q[-1]))
		q--;
	vlen = (uint32_t)(q - v);

	if (m->nheaders >= p->lim.max_headers)
		return fail(p, 431, "too-many-headers");
	idx = m->nheaders++;
	h = &m->headers[idx];
	h->name.off = s;
	h->name.len = nlen;
	h->value.off = (uint32_t)(v - data);
	h->value.len = vlen;

	/* Fields that change framing or connection handling. Dispatch on the
	 * length first so that most fields cost one switch. */
	switch (nlen) {
	case 4:
		if (!p->is_response && tok_eq(b, "host", 4)) {
			if (m->host_idx >= 0)   /* RFC 9112 §3.2 */
				return fail(p, 400, "dup-host");
			if (!host_valid(v, vlen)) {
				/* An empty Host is only for target URIs without
				 * an authority (RFC 9110 §7.2); http and https
				 * URIs always have one (§4.2.1), so it is refused. */
				return fail(p, 400, "bad-host");
			}
			m->host_idx = (int16_t)idx;
		}
		break;
	case 6:
		if (!p->is_response && m->version_minor == 1 && tok_eq(b, "expect", 6)) {
			/* RFC 9110 §10.1.1: 100-continue is the only expectation,
			 * and a server MUST ignore it in an HTTP/1.0 request. */
			if (vlen == 12 && ci_eq(v, (const uint8_t *)"100-continue", 12))
				m->expect_continue = 1;
			else
				m->expect_other = 1;
		}
		break;
	case 7:
		if (tok_eq(b, "upgrade", 7)) {
			/* Only a lone "Upgrade: websocket" may become a
			 * tunnel (RFC 6455 §4.1, §4.2.2); a list or a second
			 * field (h2c, anything) is stripped by the caller. */
			m->upgrade_ws = !m->has_upgrade_hdr && vlen == 9 &&
			    ci_eq(v, (const uint8_t *)"websocket", 9);
			if (!m->has_upgrade_hdr)
				m->upgrade_idx = (int16_t)idx;
			m->has_upgrade_hdr = 1;
		}
		break;
	case 10:
		if (tok_eq(b, "connection", 10))
			rc = parse_connection(p, m, v, v + vlen);
		break;
	case 14:
		if (tok_eq(b, "content-length", 14))
			rc = parse_content_length(p, m, v, vlen);
		break;
	case 17:
		if (tok_eq(b, "transfer-encoding", 17))
			rc = parse_transfer_encoding(p, m, v, vlen);
		break;
	}
	return rc;
}

int http_field_protected(const uint8_t *t, size_t n)
{
	/* Names are tokens: tok_eq() is exact on them (see its comment). */
	switch (n) {
	case 3:
		return tok_eq(t, "via", 3) ? HTTP_CONN_IGN_PROXY : 0;
	case 4:
		return tok_eq(t, "host", 4) ? HTTP_CONN_IGN_HOST : 0;
	case 6:
		return tok_eq(t, "expect", 6) ? HTTP_CONN_IGN_PROXY : 0;
	case 9:
		return tok_eq(t, "forwarded", 9) || tok_eq(t, "x-real-ip", 9) ? HTTP_CONN_IGN_PROXY : 0;
	case 12:
		return tok_eq(t, "x-request-id", 12) ? HTTP_CONN_IGN_PROXY : 0;
	case 14:
		return tok_eq(t, "content-length", 14) ? HTTP_CONN_IGN_FRAMING : 0;
	case 15:
		return tok_eq(t, "x-forwarded-for", 15) ? HTTP_CONN_IGN_PROXY : 0;
	case 17:
		if (tok_eq(t, "transfer-encoding", 17))
			return HTTP_CONN_IGN_FRAMING;
		return tok_eq(t, "x-forwarded-proto", 17) ? HTTP_CONN_IGN_PROXY : 0;
	}
	return 0;
}

/* Mark every field named by a Connection token (RFC 9110 §7.6.1). Runs once
 * per message that has a Connection field; bounded by max_headers^2 length
 * compares, which only happen between names of equal length. A token naming
 * a protected field is ignored, not obeyed (see http_field_protected()):
 * RFC 9110 §7.6.1 says a proxy MUST NOT forward nominated fields, but the
 * framing is not the sender's to make hop-by-hop — proxyd re-emits the
 * framing it parsed by in any case — and refusing the message would only
 * punish a confused sender. The caller counts the ignored tokens. */
static void build_hop_mask(struct http_msg *m, const uint8_t *data)
{
	const uint8_t *v, *end, *t;
	size_t n;
	int i, j, k;

	for (i = 0; i < m->nheaders; i++) {
		if (m->headers[i].name.len != 10 ||
		    !tok_eq(data + m->headers[i].name.off, "connection", 10))
			continue;
		v = data + m->headers[i].value.off;
		end = v + m->headers[i].value.len;
		while (v < end) {
			while (v < end && (IS_OWS(*v) || *v == ','))
				v++;
			t = v;
			while (v < end && (cls[*v] & C_TCHAR))
				v++;
			n = (size_t)(v - t);
			if (n == 0)
				break;   /* already validated: only trailing separators */
			if ((k = http_field_protected(t, n)) != 0) {
				m->conn_ignored |= (uint8_t)k;
				continue;
			}
			for (j = 0; j < m->nheaders; j++)
				if (m->headers[j].name.len == n &&
				    ci_eq(data + m->headers[j].name.off, t, n))
					m->conn_hop_mask[j >> 5] |= 1u << (j & 31);
		}
	}
}

static int finish_head(struct http_parser *p, struct http_msg *m, const uint8_t *data)
{
	/* RFC 9112 §3.2: an HTTP/1.1 request without Host is a 400. */
	if (!p->is_response && m->version_minor == 1 && m->host_idx < 0)
		return fail(p, 400, "missing-host");
	if (p->conn_seen)
		build_hop_mask(m, data);
	m->header_bytes = p->pos;
	p->state = ST_DONE;
	return HTTP_OK;
}

/* No LF in [scan, len): the current line is incomplete. Enforce the limits
 * now so that a peer cannot make us buffer more than them while we wait. */
static int need_more(struct http_parser *p, const uint8_t *data, size_t len)
{
	size_t have = len - p->pos;

	if (p->state == ST_START) {
		if (have > 0 && data[len - 1] == '\r')
			have--;   /* the CR may belong to the coming CRLF */
		if (have > p->lim.max_request_line)
			return fail(p, 414, "request-line-too-long");
	}
	if (len > p->lim.max_header_bytes)
		return fail(p, 431, "header-too-large");
	p->scan = (uint32_t)len;
	return HTTP_AGAIN;
}

int http_parse(struct http_parser *p, struct http_msg *m, const uint8_t *data, size_t len)
{
	const uint8_t *lf;
	uint32_t end, cr;
	int rc;

	if (p->state == ST_DONE)
		return HTTP_OK;
	if (p->state == ST_ERROR)
		return HTTP_ERROR;
	if (p->state == ST_INIT) {
		msg_init(m);
		p->state = ST_START;
	}
	for (;;) {
		if (p->scan >= len)
			return p->scan == len ? need_more(p, data, len) : HTTP_AGAIN;
		lf = memchr(data + p->scan, '\n', len - p->scan);
		if (lf == NULL)
			return need_more(p, data, len);
		if ((size_t)(lf - data) >= p->lim.max_header_bytes) {
			/* The head would exceed the limit; but a start line
			 * over its own limit is reported as such first, as
			 * need_more() would have on a shorter read. */
			if (p->state == ST_START &&
			    (size_t)(lf - data) - p->pos - (lf[-1] == '\r') > p->lim.max_request_line)
				return fail(p, 414, "request-line-too-long");
			return fail(p, 431, "header-too-large");
		}
		end = (uint32_t)(lf - data);
		cr = end - 1;
		if (p->state == ST_START && end > p->pos &&
		    end - p->pos - (data[cr] == '\r') > p->lim.max_request_line)
			return fail(p, 414, "request-line-too-long");
		/* RFC 9112 §2.2: a bare LF may be accepted as a line end by
		 * some and not others; that is exactly a smuggling vector. */
		if (end == p->pos || data[cr] != '\r')
			return fail(p, 400, "bare-lf");
		if (p->state == ST_START) {
			if (cr == p->pos) {
				if (p->is_response || end + 1 > LEADING_CRLF_MAX)
					return fail(p, 400, "leading-empty-line");
				p->pos = p->scan = end + 1;
				continue;
			}
			rc = p->is_response ? parse_status_line(p, m, data, p->pos, cr)
			                    : parse_request_line(p, m, data, p->pos, cr);
			p->state = ST_HEADERS;
		} else if (cr == p->pos) {
			p->pos = p->scan = end + 1;
			return finish_head(p, m, data);
		} else {
			rc = parse_field_line(p, m, data, p->pos, cr);
		}
		if (rc != HTTP_OK)
			return rc;
		p->pos = p->scan = end + 1;
	}
}

int http_find_header(const struct http_msg *m, const uint8_t *data, const char *lname)
{
	size_t n = strlen(lname);
	int i;

	for (i = 0; i < m->nheaders; i++)
		if (m->headers[i].name.len == n &&
		    ci_eq(data + m->headers[i].name.off, (const uint8_t *)lname, n))
			return i;
	return -1;
}

int http_keep_alive(const struct http_msg *m)
{
	if (m->conn_close)
		return 0;
	if (m->version_minor == 1)
		return 1;
	return m->conn_keep_alive;
}

enum http_body http_request_body(const struct http_msg *req)
{
	/* RFC 9112 §6.3 (4)-(6): chunked, else Content-Length, else none. */
	if (req->chunked)
		return HTTP_BODY_CHUNKED;
	if (req->content_length > 0)
		return HTTP_BODY_LENGTH;
	return HTTP_BODY_NONE;
}

enum http_body http_response_body(const struct http_msg *resp, enum http_method req_method)
{
	int st = resp->status;

	/* RFC 9112 §6.3 (1)-(2), RFC 9110 §15.2.2. */
	if (st == 101)
		return HTTP_BODY_TUNNEL;
	if (req_method == HTTP_M_CONNECT && st >= 200 && st < 300)
		return HTTP_BODY_TUNNEL;
	if (req_method == HTTP_M_HEAD || st < 200 || st == 204 || st == 304)
		return HTTP_BODY_NONE;
	if (resp->chunked)
		return HTTP_BODY_CHUNKED;
	if (resp->content_length >= 0)
		return resp->content_length > 0 ? HTTP_BODY_LENGTH : HTTP_BODY_NONE;
	return HTTP_BODY_UNTIL_CLOSE;   /* RFC 9112 §6.3 (8) */
}

/*
 * Chunked transfer coding (RFC 9112 §7.1):
 *   chunked-body = *chunk last-chunk trailer-section CRLF
 *   chunk        = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
 * A byte-at-a-time state machine for the framing, with chunk-data skipped in
 * one step, so the cost is per chunk, not per body byte.
 */
enum {
	CH_SIZE = 0,   /* first hex digit of chunk-size */
	CH_SIZE_MORE,  /* more hex digits, or the end of chunk-size */
	CH_BWS,        /* BWS after chunk-size or an extension: only ';' may follow */
	CH_EXT,        /* after ';': BWS, then chunk-ext-name */
	CH_EXT_NAME,   /* in chunk-ext-name */
	CH_EXT_NBWS,   /* BWS after chunk-ext-name: '=' or ';' follows */
	CH_EXT_VBWS,   /* after '=': BWS, then chunk-ext-val */
	CH_EXT_TOKEN,  /* in a token chunk-ext-val */
	CH_EXT_QSTR,   /* in a quoted-string chunk-ext-val */
	CH_EXT_QPAIR,  /* after '\\' in the quoted-string */
	CH_EXT_QEND,   /* after the closing DQUOTE */
	CH_SIZE_LF,    /* LF after the chunk-size line's CR */
	CH_DATA,
	CH_DATA_CR,    /* CR after chunk-data */
	CH_DATA_LF,
	CH_TR_LINE,    /* start of a trailer field line, or the final CRLF */
	CH_TR_NAME,
	CH_TR_VALUE,
	CH_TR_LF,      /* LF ending a trailer field line */
	CH_TR_END_LF,  /* LF ending the chunked body */
	CH_DONE,
	CH_ERROR
};

/* chunk-size bound: 16 hex digits (leading zeros included) and at most
 * 2^62, so size arithmetic in callers can never overflow. */
#define CHUNK_SIZE_MAX (UINT64_C(1) << 62)

void http_chunked_init(struct http_chunked *c)
{
	memset(c, 0, sizeof(*c));
	c->state = CH_SIZE;
}

/*
 * One byte of a chunk-ext (RFC 9112 §7.1.1, RFC 9110 §5.6.4 quoted-string):
 *   chunk-ext      = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
 *   chunk-ext-name = token
 *   chunk-ext-val  = token / quoted-string
 * Returns the next state: CH_SIZE_LF on the CR ending the line, CH_ERROR on
 * a byte the grammar does not allow there. proxyd ignores extensions but
 * forwards them verbatim, so they are held to the grammar all the same: a
 * line that only matches "no control bytes" ("5;", "5;=x", "5;a=b c") is
 * one that a strict next hop refuses and a lenient one may read its own way
 * (where the size ends, what a quote opens), and framing that two hops read
 * differently is what request smuggling is made of.
 */
static uint8_t chunk_ext_next(uint8_t state, uint8_t ch)
{
	int tchar = (cls[ch] & C_TCHAR) != 0, ows = IS_OWS(ch);

	switch (state) {
	case CH_EXT:
		return ows ? CH_EXT : tchar ? CH_EXT_NAME : CH_ERROR;
	case CH_EXT_NAME:
		if (tchar)
			return CH_EXT_NAME;
		/* The name ended. */
		/* fall through */
	case CH_EXT_NBWS:
		return ows ? CH_EXT_NBWS : ch == '=' ? CH_EXT_VBWS : ch == ';' ? CH_EXT :
		    ch == '\r' && state == CH_EXT_NAME ? CH_SIZE_LF : CH_ERROR;
	case CH_EXT_VBWS:
		return ows ? CH_EXT_VBWS : ch == '"' ? CH_EXT_QSTR : tchar ? CH_EXT_TOKEN : CH_ERROR;
	case CH_EXT_TOKEN:
		if (tchar)
			return CH_EXT_TOKEN;
		/* The value ended. */
		/* fall through */
	case CH_EXT_QEND:
		return ows ? CH_BWS : ch == ';' ? CH_EXT : ch == '\r' ? CH_SIZE_LF : CH_ERROR;
	case CH_EXT_QSTR:
		/* qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text */
		if (ch == '"')
			return CH_EXT_QEND;
		if (ch == '\\')
			return CH_EXT_QPAIR;
		return (cls[ch] & C_FVAL) ? CH_EXT_QSTR : CH_ERROR;
	default: /* CH_EXT_QPAIR: "\\" ( HTAB / SP / VCHAR / obs-text ) */
		return (cls[ch] & C_FVAL) ? CH_EXT_QSTR : CH_ERROR;
	}
}

static inline unsigned hexval(uint8_t ch)
{
	return (cls[ch] & C_DIGIT) ? (unsigned)(ch - '0') : (unsigned)((ch | 0x20) - 'a' + 10);
}

int http_chunked_feed(struct http_chunked *c, const uint8_t *data, size_t len, size_t *consumed)
{
	size_t i = 0, n;
	uint8_t ch;
	unsigned d;
	const char *why = NULL;

	if (c->state == CH_DONE) {
		*consumed = 0;
		return HTTP_DONE;
	}
	if (c->state == CH_ERROR) {
		*consumed = 0;
		return HTTP_ERROR;
	}
	while (i < len) {
		ch = data[i];
		switch (c->state) {
		case CH_DATA:
			n = len - i;
			if (n > c->size)
				n = (size_t)c->size;
			i += n;
			c->size -= n;
			if (c->size == 0)
				c->state = CH_DATA_CR;
			continue;
		case CH_SIZE:
			if (!(cls[ch] & C_HEX)) {
				why = "bad-chunk-size";
				goto err;
			}
			c->size = hexval(ch);
			c->ndigits = 1;
			c->line_len = 1;
			c->state = CH_SIZE_MORE;
			break;
		case CH_SIZE_MORE:
			if (++c->line_len > HTTP_CHUNK_MAX_LINE) {
				why = "chunk-line-too-long";
				goto err;
			}
			if (cls[ch] & C_HEX) {
				d = hexval(ch);
				if (++c->ndigits > 16 || c->size > (CHUNK_SIZE_MAX - d) >> 4) {
					why = "chunk-size-overflow";
					goto err;
				}
				c->size = (c->size << 4) | d;
			} else if (ch == '\r') {
				c->state = CH_SIZE_LF;
			} else if (ch == ';') {
				c->state = CH_EXT;
			} else if (IS_OWS(ch)) {
				c->state = CH_BWS;
			} else {
				why = "bad-chunk-size";
				goto err;
			}
			break;
		case CH_BWS:
			/* RFC 9112 §7.1.1: BWS is only allowed before ';'. */
			if (++c->line_len > HTTP_CHUNK_MAX_LINE) {
				why = "chunk-line-too-long";
				goto err;
			}
			if (ch == ';') {
				c->state = CH_EXT;
			} else if (!IS_OWS(ch)) {
				why = "bad-chunk-ext";
				goto err;
			}
			break;
		case CH_EXT:
		case CH_EXT_NAME:
		case CH_EXT_NBWS:
		case CH_EXT_VBWS:
		case CH_EXT_TOKEN:
		case CH_EXT_QSTR:
		case CH_EXT_QPAIR:
		case CH_EXT_QEND:
			if (++c->line_len > HTTP_CHUNK_MAX_LINE) {
				why = "chunk-line-too-long";
				goto err;
			}
			c->state = chunk_ext_next(c->state, ch);
			if (c->state == CH_ERROR) {
				why = "bad-chunk-ext";
				goto err;
			}
			break;
		case CH_SIZE_LF:
			if (ch != '\n') {
				why = "bare-cr";
				goto err;
			}
			c->state = c->size == 0 ? CH_TR_LINE : CH_DATA;
			break;
		case CH_DATA_CR:
			/* RFC 9112 §7.1: chunk-data is followed by CRLF; a
			 * length that does not land on it is a framing lie. */
			if (ch != '\r') {
				why = ch == '\n' ? "bare-lf" : "chunk-data-overrun";
				goto err;
			}
			c->state = CH_DATA_LF;
			break;
		case CH_DATA_LF:
			if (ch != '\n') {
				why = "bare-cr";
				goto err;
			}
			c->state = CH_SIZE;
			break;
		case CH_TR_LINE:
		case CH_TR_NAME:
		case CH_TR_VALUE:
		case CH_TR_LF:
		case CH_TR_END_LF:
			/* trailer-section = *( field-line CRLF ) (RFC 9112
			 * §7.1.2), bounded; checked like header fields. */
			if (++c->trailer_len > HTTP_CHUNK_MAX_TRAILER) {
				why = "trailer-too-large";
				goto err;
			}
			switch (c->state) {
			case CH_TR_LINE:
				if (ch == '\r')
					c->state = CH_TR_END_LF;
				else if (cls[ch] & C_TCHAR) {
					c->state = CH_TR_NAME;
					c->tname[0] = ch;
					c->tname_len = 1;
				} else {
					why = IS_OWS(ch) ? "obs-fold" : ch == '\n' ? "bare-lf" : "bad-trailer";
					goto err;
				}
				break;
			case CH_TR_NAME:
				if (ch == ':') {
					if (c->tname_len <= sizeof(c->tname) &&
					    http_field_protected(c->tname, c->tname_len)) {
						why = "forbidden-trailer";
						goto err;
					}
					c->state = CH_TR_VALUE;
				} else if (cls[ch] & C_TCHAR) {
					if (c->tname_len < sizeof(c->tname))
						c->tname[c->tname_len] = ch;
					if (c->tname_len <= sizeof(c->tname))
						c->tname_len++;
				} else {
					why = IS_OWS(ch) ? "ws-before-colon" : "bad-trailer";
					goto err;
				}
				break;
			case CH_TR_VALUE:
				if (ch == '\r')
					c->state = CH_TR_LF;
				else if (!(cls[ch] & C_FVAL)) {
					why = ch == '\n' ? "bare-lf" : "bad-trailer";
					goto err;
				}
				break;
			case CH_TR_LF:
				if (ch != '\n') {
					why = "bare-cr";
					goto err;
				}
				c->state = CH_TR_LINE;
				break;
			default: /* CH_TR_END_LF */
				if (ch != '\n') {
					why = "bare-cr";
					goto err;
				}
				c->state = CH_DONE;
				i++;
				c->body_bytes += i;
				*consumed = i;
				return HTTP_DONE;
			}
			break;
		}
		i++;
	}
	c->body_bytes += i;
	*consumed = i;
	return HTTP_AGAIN;
err:
	c->state = CH_ERROR;
	c->reason = why;
	c->body_bytes += i;
	*consumed = i;
	return HTTP_ERROR;
}

const char *http_method_str(enum http_method m)
{
	switch (m) {
	case HTTP_M_GET:     return "GET";
	case HTTP_M_HEAD:    return "HEAD";
	case HTTP_M_POST:    return "POST";
	case HTTP_M_PUT:     return "PUT";
	case HTTP_M_DELETE:  return "DELETE";
	case HTTP_M_CONNECT: return "CONNECT";
	case HTTP_M_OPTIONS: return "OPTIONS";
	case HTTP_M_TRACE:   return "TRACE";
	case HTTP_M_PATCH:   return "PATCH";
	case HTTP_M_OTHER:   break;
	}
	return "OTHER";
}

const char *http_status_text(int status)
{
	/* RFC 9110 §15 reason phrases for the codes proxyd sends or sees most. */
	switch (status) {
	case 100: return "Continue";
	case 101: return "Switching Protocols";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 206: return "Partial Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 303: return "See Other";
	case 304: return "Not Modified";
	case 307: return "Temporary Redirect";
	case 308: return "Permanent Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 417: return "Expectation Failed";
	case 421: return "Misdirected Request";
	case 426: return "Upgrade Required";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	}
	return "Unknown";
}
