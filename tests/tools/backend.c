/*
 * tests/tools/backend.c — the HTTP/1.1 origin server that integration tests and
 * benchmarks put behind proxyd (and behind haproxy and nginx for comparison).
 *
 * It must never be the bottleneck and must tell tests what the proxy did: each worker
 * thread runs its own epoll loop over its own SO_REUSEPORT listener, the common
 * response is a prebuilt read-only blob queued by reference (one read(2) and one
 * writev(2) per request, pipelined requests answered in one writev), and special paths
 * echo the request head (/echo, as text/plain) or body (/echo-body), delay (/delay/<ms>, a timer heap,
 * never sleep), pick a status (/status/<code>), close (/close), speak WebSocket (/ws)
 * or report health (/health). Memory is bounded per connection: input buffers exist
 * only while a request is partial, output stops being produced above a high-water
 * mark (and reading stops with it), request bodies are streamed, never held whole.
 *
 * Self-contained on purpose (no lib/ dependency): it is the fixed point the proxy is
 * measured against, so it must not change when the proxy's own loop does.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <openssl/evp.h>

#define MAX_HEAD        (64u * 1024u)       /* request line + headers, else 431 */
#define MAX_LINE        4096u               /* chunk-size and trailer lines, else 400 */
#define WS_MAX_PAYLOAD  (1u << 20)          /* bigger frames: close 1009 (RFC 6455 7.4.1) */
#define SCRATCH_SIZE    (64u * 1024u)
#define OUTQ            64u                 /* queued output segments per connection */
#define OUT_HWM         (1u << 20)          /* owned output bytes before backpressure */
#define CHUNK_SIZE      (16u * 1024u)
#define SMALL_BODY      (16u * 1024u)       /* default body glued to its header blob */

#define TAG_LISTEN      0u
#define TAG_STOP        1u

/* --- configuration (read-only once the workers start) ------------------------ */

static struct {
	const char *listen;
	const char *name;
	const char *fail_health_file;
	long long body_size;        /* -1: "NAME\n" */
	uint64_t delay_ms;
	int status;
	int close;
	int threads;
	const char *header;         /* --header: one more line in the default response */
} opt = { NULL, "backend", NULL, -1, 0, 200, 0, 1, NULL };

static int g_stopfd = -1;           /* eventfd: readable = every worker stops */
static uint8_t *g_body;             /* default body */
static size_t g_body_len;
static char *g_resp[2];             /* default status: [0] keep-alive, [1] close; head (+ body if small) */
static size_t g_resp_len[2], g_resp_hlen[2];
static int g_body_glued;

/* --- connections ----------------------------------------------------------------------- */

/* ST_CLOSING: answer queued, close once written; ST_LINGER: half-closed, draining. */
enum cstate { ST_HEAD, ST_BODY, ST_DELAY, ST_WS, ST_CLOSING, ST_LINGER };
enum route { R_DEFAULT, R_ECHO, R_ECHO_BODY, R_DELAY, R_STATUS, R_CLOSE, R_WS, R_HEALTH };
enum body_mode { BODY_NONE, BODY_CL, BODY_CHUNKED };
enum chunk_state { CH_SIZE, CH_DATA, CH_DATA_CRLF, CH_TRAILER };

struct req {
	enum route route;
	int status;
	int head_only;          /* HEAD: headers without body (RFC 9110 9.3.2) */
	int close;              /* answer with Connection: close and close */
	int ka10;               /* HTTP/1.0 keep-alive: say so in the response */
	uint64_t delay_ms;
	enum body_mode body;
	uint64_t remaining;
	enum chunk_state cst;
	int echo;               /* stream the body back (/echo-body) */
	uint8_t *echo_head;     /* /echo: copy of the request head */
	size_t echo_head_len;
};

struct seg {
	const uint8_t *p;
	size_t len;
	uint8_t *mem;           /* owned storage (p points inside), NULL for static blobs */
	size_t cap;
};

struct worker;

struct conn {
	int fd;
	struct worker *w;
	struct conn *prev, *next;
	uint32_t events;        /* registered with epoll */
	enum cstate st;
	struct req rq;
	uint8_t *in;            /* leftover input, only while a request is partial */
	size_t in_len, in_cap;
	struct seg segs[OUTQ];
	size_t seg_first, seg_n;
	size_t out_owned;
	int wblocked;           /* last write hit EAGAIN: EPOLLOUT armed */
	int eof;
	uint64_t deadline;
	size_t heap_idx;        /* SIZE_MAX when no timer */
};

struct worker {
	pthread_t tid;
	int id;
	int epfd;
	int lfd;
	int stopfd;
	int accept_warned;      /* accept errors are logged once per worker */
	struct conn *conns;
	struct conn **heap;
	size_t heap_n, heap_cap;
	uint8_t scratch[SCRATCH_SIZE];
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void print_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void print_warn(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	/* one write per line: threads' messages never interleave */
	if (write(STDERR_FILENO, line, (size_t)n) == -1)
		return;
}

/* --- timer heap (min-heap on deadline, per worker) ----------------------------------- */

static void heap_swap(struct worker *w, size_t a, size_t b)
{
	struct conn *t = w->heap[a];

	w->heap[a] = w->heap[b];
	w->heap[b] = t;
	w->heap[a]->heap_idx = a;
	w->heap[b]->heap_idx = b;
}

static void heap_up(struct worker *w, size_t i)
{
	while (i > 0 && w->heap[(i - 1) / 2]->deadline > w->heap[i]->deadline) {
		heap_swap(w, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void heap_down(struct worker *w, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < w->heap_n && w->heap[l]->deadline < w->heap[m]->deadline)
			m = l;
		if (r < w->heap_n && w->heap[r]->deadline < w->heap[m]->deadline)
			m = r;
		if (m == i)
			return;
		heap_swap(w, i, m);
		i = m;
	}
}

static int timer_start(struct conn *c, uint64_t after_ms)
{
	struct worker *w = c->w;

	if (w->heap_n == w->heap_cap) {
		size_t cap = w->heap_cap ? w->heap_cap * 2 : 64;
		struct conn **h = realloc(w->heap, cap * sizeof(*h));

		if (h == NULL)
			return -1;
		w->heap = h;
		w->heap_cap = cap;
	}
	c->deadline = now_ms() + after_ms;
	c->heap_idx = w->heap_n;
	w->heap[w->heap_n++] = c;
	heap_up(w, c->heap_idx);
	return 0;
}

static void timer_stop(struct conn *c)
{
	struct worker *w = c->w;
	size_t i = c->heap_idx;

	if (i == SIZE_MAX)
		return;
	c->heap_idx = SIZE_MAX;
	if (i != --w->heap_n) {
		w->heap[i] = w->heap[w->heap_n];
		w->heap[i]->heap_idx = i;
		heap_down(w, i);
		heap_up(w, i);
	}
}

/* --- output queue ------------------------------------------------------------------ */

static size_t out_pending(const struct conn *c)
{
	return c->seg_n;
}

/* Stop producing (and reading) while the peer is not keeping up. */
static int out_busy(const struct conn *c)
{
	return c->seg_n + 8 > OUTQ || c->out_owned >= OUT_HWM;
}

static struct seg *seg_push(struct conn *c)
{
	struct seg *s;

	if (c->seg_first + c->seg_n == OUTQ) {
		memmove(c->segs, c->segs + c->seg_first, c->seg_n * sizeof(c->segs[0]));
		c->seg_first = 0;
	}
	s = &c->segs[c->seg_first + c->seg_n++];
	memset(s, 0, sizeof(*s));
	return s;
}

static void out_static(struct conn *c, const void *p, size_t len)
{
	struct seg *s;

	if (len == 0)
		return;
	s = seg_push(c);
	s->p = p;
	s->len = len;
}

/* Room for n bytes at the end of the queue, committed by out_commit. NULL on ENOMEM. */
static uint8_t *out_reserve(struct conn *c, size_t n)
{
	struct seg *s = c->seg_n ? &c->segs[c->seg_first + c->seg_n - 1] : NULL;

	if (s != NULL && s->mem != NULL && (size_t)(s->p - s->mem) + s->len + n <= s->cap)
		return (uint8_t *)s->p + s->len;
	s = seg_push(c);
	s->cap = n > CHUNK_SIZE ? n : CHUNK_SIZE;
	s->mem = malloc(s->cap);
	if (s->mem == NULL) {
		c->seg_n--;
		return NULL;
	}
	s->p = s->mem;
	return s->mem;
}

static void out_commit(struct conn *c, size_t n)
{
	c->segs[c->seg_first + c->seg_n - 1].len += n;
	c->out_owned += n;
}

static int out_bytes(struct conn *c, const void *p, size_t n)
{
	uint8_t *d;

	if (n == 0)
		return 0;
	d = out_reserve(c, n);
	if (d == NULL)
		return -1;
	memcpy(d, p, n);
	out_commit(c, n);
	return 0;
}

static int out_printf(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int out_printf(struct conn *c, const char *fmt, ...)
{
	char tmp[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return -1;
	return out_bytes(c, tmp, (size_t)n);
}

/* One writev for everything queued (up to OUTQ segments). 0 when all written or
 * EAGAIN (wblocked set), -1 when the connection is dead. */
static int out_flush(struct conn *c)
{
	while (c->seg_n > 0) {
		struct iovec iov[OUTQ];
		size_t n = c->seg_n;
		ssize_t r;

		for (size_t i = 0; i < n; i++) {
			iov[i].iov_base = (void *)c->segs[c->seg_first + i].p;
			iov[i].iov_len = c->segs[c->seg_first + i].len;
		}
		r = writev(c->fd, iov, (int)n);
		if (r == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				c->wblocked = 1;
				return 0;
			}
			return -1;
		}
		while (r > 0) {
			struct seg *s = &c->segs[c->seg_first];
			size_t k = (size_t)r < s->len ? (size_t)r : s->len;

			s->p += k;
			s->len -= k;
			if (s->mem != NULL)
				c->out_owned -= k;
			r -= (ssize_t)k;
			if (s->len == 0) {
				free(s->mem);
				c->seg_first++;
				c->seg_n--;
			}
		}
		if (c->seg_n > 0) {
			/* partial write: the socket buffer is full */
			c->wblocked = 1;
			return 0;
		}
	}
	c->seg_first = 0;
	c->wblocked = 0;
	return 0;
}

/* --- responses ------------------------------------------------------------------------ */

static const char *reason(int status)
{
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
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 413: return "Content Too Large";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default:  return "Status";
	}
}

/* RFC 9110 8.6 and 15.3.5/15.4.5: 1xx, 204 and 304 carry no content; 204 and 1xx
 * must not carry Content-Length either. */
static int status_has_body(int status)
{
	return status >= 200 && status != 204 && status != 304;
}

/* Status line and headers; content_length < 0 sends none (for chunked, 204, 304,
 * and 101). `extra` holds complete header lines or is NULL. */
static int out_head(struct conn *c, int status, long long content_length, const char *extra)
{
	char cl[48] = "";

	if (content_length >= 0)
		snprintf(cl, sizeof(cl), "Content-Length: %lld\r\n", content_length);
	return out_printf(c, "HTTP/1.1 %d %s\r\n%sX-Backend: %s\r\n%s%s\r\n", status, reason(status), cl,
			  opt.name,
			  c->rq.close ? "Connection: close\r\n" : c->rq.ka10 ? "Connection: keep-alive\r\n" : "",
			  extra != NULL ? extra : "");
}

/* The default response, prebuilt at startup: queued by reference, never copied. */
static void out_default(struct conn *c, int head_only)
{
	int i = c->rq.close ? 1 : 0;

	if (head_only || !status_has_body(opt.status)) {
		out_static(c, g_resp[i], g_resp_hlen[i]);
	} else if (g_body_glued) {
		out_static(c, g_resp[i], g_resp_len[i]);
	} else {
		out_static(c, g_resp[i], g_resp_hlen[i]);
		out_static(c, g_body, g_body_len);
	}
}

static int emit_response(struct conn *c)
{
	struct req *rq = &c->rq;
	int rc = 0;

	switch (rq->route) {
	case R_ECHO:
		/* Typed, so a route that compresses text has something to code. */
		rc = out_head(c, rq->status, (long long)rq->echo_head_len, "Content-Type: text/plain\r\n");
		if (rc == 0 && !rq->head_only)
			rc = out_bytes(c, rq->echo_head, rq->echo_head_len);
		break;
	case R_HEALTH: {
		/* a stat per /health only: health checks are rare next to traffic */
		int ok = opt.fail_health_file == NULL || access(opt.fail_health_file, F_OK) == -1;
		const char *body = ok ? "ok" : "fail";

		rc = out_head(c, ok ? 200 : 503, (long long)strlen(body), NULL);
		if (rc == 0 && !rq->head_only)
			rc = out_bytes(c, body, strlen(body));
		break;
	}
	default:
		if (rq->status == opt.status && !rq->ka10) {
			out_default(c, rq->head_only);
		} else if (status_has_body(rq->status)) {
			rc = out_head(c, rq->status, (long long)g_body_len, NULL);
			if (rc == 0 && !rq->head_only)
				out_static(c, g_body, g_body_len);
		} else {
			rc = out_head(c, rq->status, -1, NULL);
		}
		break;
	}
	return rc;
}

static void req_reset(struct req *rq)
{
	free(rq->echo_head);
	memset(rq, 0, sizeof(*rq));
}

static void finish_exchange(struct conn *c)
{
	c->st = c->rq.close ? ST_CLOSING : ST_HEAD;
	req_reset(&c->rq);
}

/* A request we refuse: answer (unless a streamed response already began) and close. */
static void fail_request(struct conn *c, int status, int started)
{
	static const char body[] = "bad request\n";

	c->rq.close = 1;
	c->rq.ka10 = 0;
	if (!started && out_head(c, status, (long long)(sizeof(body) - 1), NULL) == 0)
		out_static(c, body, sizeof(body) - 1);
	c->st = ST_CLOSING;
	req_reset(&c->rq);
}

/* Body read, delay served: answer now (echo-body answered as it streamed). */
static void request_complete(struct conn *c)
{
	struct req *rq = &c->rq;

	if (rq->route == R_ECHO_BODY) {
		if (rq->echo && rq->body == BODY_CHUNKED && out_bytes(c, "0\r\n\r\n", 5) == -1) {
			fail_request(c, 500, 1);
			return;
		}
		finish_exchange(c);
		return;
	}
	if (rq->delay_ms > 0) {
		if (timer_start(c, rq->delay_ms) == 0) {
			c->st = ST_DELAY;
			return;
		}
	}
	if (emit_response(c) == -1) {
		fail_request(c, 500, 1);
		return;
	}
	finish_exchange(c);
}

/* --- request head ---------------------------------------------------------------------- */

static int token_eq(const uint8_t *p, size_t n, const char *tok)
{
	return strlen(tok) == n && strncasecmp((const char *)p, tok, n) == 0;
}

/* Is `tok` one of the comma-separated tokens of a header value? */
static int list_has(const uint8_t *v, size_t n, const char *tok)
{
	size_t i = 0;

	while (i < n) {
		size_t s, e;

		while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		s = i;
		while (i < n && v[i] != ',')
			i++;
		e = i;
		while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (e > s && token_eq(v + s, e - s, tok))
			return 1;
	}
	return 0;
}

/* The last transfer coding must be chunked (RFC 9112 6.3 item 4); 1 yes, 0 no. */
static int te_is_chunked(const uint8_t *v, size_t n)
{
	size_t e = n, s;

	while (e > 0 && (v[e - 1] == ' ' || v[e - 1] == '\t'))
		e--;
	s = e;
	while (s > 0 && v[s - 1] != ',')
		s--;
	while (s < e && (v[s] == ' ' || v[s] == '\t'))
		s++;
	return token_eq(v + s, e - s, "chunked");
}

static int parse_u64(const uint8_t *p, size_t n, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0 || n > 19)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(p[i] - '0');
	}
	if (v > max)
		return -1;
	*out = v;
	return 0;
}

static void ws_accept_key(const uint8_t *key, size_t klen, char out[32])
{
	static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";   /* RFC 6455 1.3 */
	uint8_t in[64 + sizeof(guid)], md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	memcpy(in, key, klen);
	memcpy(in + klen, guid, sizeof(guid) - 1);
	EVP_Digest(in, klen + sizeof(guid) - 1, md, &mdlen, EVP_sha1(), NULL);
	EVP_EncodeBlock((unsigned char *)out, md, (int)mdlen);
}

struct head_info {
	int http10, conn_close, conn_keepalive, conn_upgrade, upgrade_ws, expect_continue;
	int has_cl, has_te, te_chunked;
	uint64_t cl;
	const uint8_t *ws_key;
	size_t ws_key_len;
	int ws_version_13, has_ws_version;
};

/* One header line: name ":" OWS value OWS. -1 for what RFC 9112 5 rejects. */
static int parse_header(struct head_info *hi, const uint8_t *l, size_t n)
{
	const uint8_t *colon = memchr(l, ':', n);
	size_t nl, vs, ve;

	if (colon == NULL || colon == l)
		return -1;
	nl = (size_t)(colon - l);
	for (size_t i = 0; i < nl; i++)
		if (l[i] <= ' ' || l[i] >= 0x7f)
			return -1;      /* no whitespace before the colon (RFC 9112 5.1) */
	vs = nl + 1;
	while (vs < n && (l[vs] == ' ' || l[vs] == '\t'))
		vs++;
	ve = n;
	while (ve > vs && (l[ve - 1] == ' ' || l[ve - 1] == '\t'))
		ve--;
	const uint8_t *v = l + vs;
	size_t vn = ve - vs;

	if (token_eq(l, nl, "content-length")) {
		uint64_t cl;

		if (parse_u64(v, vn, (uint64_t)1 << 62, &cl) == -1)
			return -1;
		if (hi->has_cl && hi->cl != cl)
			return -1;      /* RFC 9112 6.3 item 5 */
		hi->has_cl = 1;
		hi->cl = cl;
	} else if (token_eq(l, nl, "transfer-encoding")) {
		hi->has_te = 1;
		hi->te_chunked = te_is_chunked(v, vn);
	} else if (token_eq(l, nl, "connection")) {
		hi->conn_close |= list_has(v, vn, "close");
		hi->conn_keepalive |= list_has(v, vn, "keep-alive");
		hi->conn_upgrade |= list_has(v, vn, "upgrade");
	} else if (token_eq(l, nl, "upgrade")) {
		hi->upgrade_ws |= list_has(v, vn, "websocket");
	} else if (token_eq(l, nl, "expect")) {
		hi->expect_continue = token_eq(v, vn, "100-continue");
	} else if (token_eq(l, nl, "sec-websocket-key")) {
		hi->ws_key = v;
		hi->ws_key_len = vn;
	} else if (token_eq(l, nl, "sec-websocket-version")) {
		hi->has_ws_version = 1;
		hi->ws_version_13 = token_eq(v, vn, "13");
	}
	return 0;
}

static enum route route_of(struct req *rq, const uint8_t *t, size_t n)
{
	const uint8_t *q;
	uint64_t v;

	/* absolute-form (RFC 9112 3.2.2): route on the path */
	if (n > 7 && (strncasecmp((const char *)t, "http://", 7) == 0 ||
		      strncasecmp((const char *)t, "https://", 8) == 0)) {
		const uint8_t *a = memchr(t, ':', n) + 3;
		const uint8_t *slash = memchr(a, '/', n - (size_t)(a - t));

		if (slash == NULL)
			return R_DEFAULT;
		n -= (size_t)(slash - t);
		t = slash;
	}
	q = memchr(t, '?', n);
	if (q != NULL)
		n = (size_t)(q - t);
	if (token_eq(t, n, "/echo"))
		return R_ECHO;
	if (token_eq(t, n, "/echo-body"))
		return R_ECHO_BODY;
	if (token_eq(t, n, "/close"))
		return R_CLOSE;
	if (token_eq(t, n, "/ws"))
		return R_WS;
	if (token_eq(t, n, "/health"))
		return R_HEALTH;
	if (n > 7 && memcmp(t, "/delay/", 7) == 0 && parse_u64(t + 7, n - 7, 3600000, &v) == 0) {
		rq->delay_ms = v;
		return R_DELAY;
	}
	if (n > 8 && memcmp(t, "/status/", 8) == 0 && parse_u64(t + 8, n - 8, 599, &v) == 0 && v >= 200) {
		rq->status = (int)v;
		return R_STATUS;
	}
	return R_DEFAULT;
}

static void ws_handshake(struct conn *c, const struct head_info *hi, int is_get)
{
	char accept[32];

	/* RFC 6455 4.2.1: GET, Upgrade: websocket, Connection: Upgrade, a 16-byte key */
	if (!is_get || !hi->upgrade_ws || !hi->conn_upgrade || hi->ws_key_len != 24 ||
	    (hi->has_cl && hi->cl > 0) || hi->has_te) {
		fail_request(c, 400, 0);
		return;
	}
	if (!hi->ws_version_13) {
		/* RFC 6455 4.4: tell the client which version we speak */
		c->rq.close = 1;
		(void)out_head(c, 426, 0, "Sec-WebSocket-Version: 13\r\n");
		c->st = ST_CLOSING;
		req_reset(&c->rq);
		return;
	}
	ws_accept_key(hi->ws_key, hi->ws_key_len, accept);
	if (out_printf(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
		       "Sec-WebSocket-Accept: %s\r\nX-Backend: %s\r\n\r\n", accept, opt.name) == -1) {
		fail_request(c, 500, 0);
		return;
	}
	req_reset(&c->rq);
	c->st = ST_WS;
}

/* Consumes one complete request head from p, sets up the request, answers it when it
 * has no body. Returns bytes consumed; 0 = need more input. */
static size_t parse_head(struct conn *c, const uint8_t *p, size_t len)
{
	struct req *rq = &c->rq;
	struct head_info hi;
	const uint8_t *h, *line, *sp1, *sp2, *nl;
	size_t skip = 0, hl, end = 0, pos = 0, ll;

	/* RFC 9112 2.2: ignore empty lines before the request-line */
	while (skip < len && (p[skip] == '\r' || p[skip] == '\n'))
		skip++;
	h = p + skip;
	hl = len - skip;
	while (pos < hl && (nl = memchr(h + pos, '\n', hl - pos)) != NULL) {
		ll = (size_t)(nl - (h + pos));
		if (pos > 0 && (ll == 0 || (ll == 1 && h[pos] == '\r'))) {
			end = (size_t)(nl - h) + 1;
			break;
		}
		pos = (size_t)(nl - h) + 1;
	}
	if (end == 0) {
		if (hl >= MAX_HEAD)
			fail_request(c, 431, 0);
		return c->st == ST_CLOSING ? len : skip;
	}
	if (end > MAX_HEAD) {
		fail_request(c, 431, 0);
		return len;
	}

	memset(&hi, 0, sizeof(hi));
	req_reset(rq);
	rq->status = opt.status;
	rq->delay_ms = opt.delay_ms;

	/* request-line = method SP request-target SP HTTP-version (RFC 9112 3) */
	nl = memchr(h, '\n', end);
	ll = (size_t)(nl - h);
	if (ll > 0 && h[ll - 1] == '\r')
		ll--;
	line = h;
	sp1 = memchr(line, ' ', ll);
	sp2 = sp1 ? memchr(sp1 + 1, ' ', ll - (size_t)(sp1 + 1 - line)) : NULL;
	if (sp1 == NULL || sp2 == NULL || sp1 == line || sp2 == sp1 + 1) {
		fail_request(c, 400, 0);
		return len;
	}
	if (token_eq(sp2 + 1, ll - (size_t)(sp2 + 1 - line), "HTTP/1.0"))
		hi.http10 = 1;
	else if (!token_eq(sp2 + 1, ll - (size_t)(sp2 + 1 - line), "HTTP/1.1")) {
		fail_request(c, 400, 0);
		return len;
	}
	rq->head_only = token_eq(line, (size_t)(sp1 - line), "HEAD");

	for (pos = (size_t)(nl - h) + 1; pos < end;) {
		const uint8_t *l = h + pos;

		nl = memchr(l, '\n', end - pos);
		ll = (size_t)(nl - l);
		pos += ll + 1;
		if (ll > 0 && l[ll - 1] == '\r')
			ll--;
		if (ll == 0)
			break;
		if (l[0] == ' ' || l[0] == '\t' || parse_header(&hi, l, ll) == -1) {
			fail_request(c, 400, 0);   /* obs-fold (RFC 9112 5.2) or a bad line */
			return len;
		}
	}
	if (hi.has_te && (hi.has_cl || !hi.te_chunked || hi.http10)) {
		fail_request(c, 400, 0);           /* RFC 9112 6.1, 6.3 item 3 and 4 */
		return len;
	}

	rq->route = route_of(rq, sp1 + 1, (size_t)(sp2 - sp1 - 1));
	/* --delay-ms stands for a slow application, not a slow health endpoint */
	if (rq->route == R_HEALTH || rq->route == R_ECHO_BODY || rq->route == R_WS)
		rq->delay_ms = 0;
	rq->close = opt.close || hi.conn_close || (hi.http10 && !hi.conn_keepalive) || rq->route == R_CLOSE;
	rq->ka10 = hi.http10 && !rq->close;

	if (rq->route == R_WS) {
		ws_handshake(c, &hi, token_eq(line, (size_t)(sp1 - line), "GET"));
		return skip + end;
	}
	if (rq->route == R_ECHO) {
		size_t n = pos;            /* request line and headers, without the empty line */

		while (n > 0 && (h[n - 1] == '\n' || h[n - 1] == '\r'))
			n--;
		rq->echo_head = malloc(n + 2);
		if (rq->echo_head == NULL) {
			fail_request(c, 500, 0);
			return len;
		}
		memcpy(rq->echo_head, h, n);
		memcpy(rq->echo_head + n, "\r\n", 2);
		rq->echo_head_len = n + 2;
	}

	if (hi.te_chunked) {
		rq->body = BODY_CHUNKED;
		rq->cst = CH_SIZE;
	} else if (hi.cl > 0) {
		rq->body = BODY_CL;
		rq->remaining = hi.cl;
	}
	/* RFC 9110 10.1.1: the client waits for 100 before sending a body */
	if (hi.expect_continue && !hi.http10 && rq->body != BODY_NONE &&
	    out_bytes(c, "HTTP/1.1 100 Continue\r\n\r\n", 25) == -1) {
		fail_request(c, 500, 0);
		return len;
	}
	if (rq->route == R_ECHO_BODY) {
		int rc;

		rq->echo = !rq->head_only;
		if (rq->body == BODY_CHUNKED)
			rc = out_head(c, 200, -1, rq->head_only ? NULL : "Transfer-Encoding: chunked\r\n");
		else
			rc = out_head(c, 200, (long long)hi.cl, NULL);
		if (rc == -1) {
			fail_request(c, 500, 0);
			return len;
		}
	}
	if (rq->body != BODY_NONE)
		c->st = ST_BODY;
	else
		request_complete(c);
	return skip + end;
}

/* --- request body --------------------------------------------------------------------- */

static int echo_piece(struct conn *c, const uint8_t *p, size_t n)
{
	if (!c->rq.echo)
		return 0;
	if (c->rq.body == BODY_CHUNKED && out_printf(c, "%zx\r\n", n) == -1)
		return -1;
	if (out_bytes(c, p, n) == -1)
		return -1;
	if (c->rq.body == BODY_CHUNKED && out_bytes(c, "\r\n", 2) == -1)
		return -1;
	return 0;
}

/* Consumes body bytes (RFC 9112 6.2 and 7.1); returns bytes consumed, 0 = need more. */
static size_t body_step(struct conn *c, const uint8_t *p, size_t len)
{
	struct req *rq = &c->rq;
	const uint8_t *nl;
	size_t n;
	int started = rq->route == R_ECHO_BODY;

	if (rq->body == BODY_CL || rq->cst == CH_DATA) {
		n = len < rq->remaining ? len : (size_t)rq->remaining;
		if (n == 0)
			return 0;
		if (echo_piece(c, p, n) == -1) {
			fail_request(c, 500, started);
			return len;
		}
		rq->remaining -= n;
		if (rq->remaining == 0) {
			if (rq->body == BODY_CL)
				request_complete(c);
			else
				rq->cst = CH_DATA_CRLF;
		}
		return n;
	}
	if (rq->cst == CH_DATA_CRLF) {
		if (len < 2)
			return 0;
		if (p[0] != '\r' || p[1] != '\n') {
			fail_request(c, 400, started);
			return len;
		}
		rq->cst = CH_SIZE;
		return 2;
	}
	/* CH_SIZE or CH_TRAILER: a whole line */
	nl = memchr(p, '\n', len < MAX_LINE ? len : MAX_LINE);
	if (nl == NULL) {
		if (len >= MAX_LINE)
			fail_request(c, 400, started);
		return c->st == ST_CLOSING ? len : 0;
	}
	n = (size_t)(nl - p) + 1;
	if (n < 2 || p[n - 2] != '\r') {
		fail_request(c, 400, started);     /* bare LF */
		return len;
	}
	if (rq->cst == CH_TRAILER) {
		if (n == 2)
			request_complete(c);
		return n;                          /* trailer fields are read and dropped */
	}
	uint64_t size = 0;
	size_t i = 0;

	for (; i < n - 2; i++) {
		int d;

		if (p[i] >= '0' && p[i] <= '9')
			d = p[i] - '0';
		else if ((p[i] | 0x20) >= 'a' && (p[i] | 0x20) <= 'f')
			d = (p[i] | 0x20) - 'a' + 10;
		else
			break;
		if (size >> 59)
			break;                     /* overflow: caught below */
		size = size * 16 + (uint64_t)d;
	}
	if (i == 0 || (i < n - 2 && p[i] != ';' && p[i] != ' ' && p[i] != '\t') || size >> 59) {
		fail_request(c, 400, started);
		return len;
	}
	if (size == 0) {
		rq->cst = CH_TRAILER;
	} else {
		rq->cst = CH_DATA;
		rq->remaining = size;
	}
	return n;
}

/* --- WebSocket (RFC 6455 5) ------------------------------------------------------------ */

static void ws_put_frame_head(uint8_t *d, size_t *hl, uint8_t b0, uint64_t plen)
{
	d[0] = b0;
	if (plen < 126) {
		d[1] = (uint8_t)plen;
		*hl = 2;
	} else if (plen <= 0xffff) {
		d[1] = 126;
		d[2] = (uint8_t)(plen >> 8);
		d[3] = (uint8_t)plen;
		*hl = 4;
	} else {
		d[1] = 127;
		for (int i = 0; i < 8; i++)
			d[2 + i] = (uint8_t)(plen >> (56 - 8 * i));
		*hl = 10;
	}
}

static void ws_close(struct conn *c, uint16_t code)
{
	uint8_t f[4] = { 0x88, 2, (uint8_t)(code >> 8), (uint8_t)code };

	(void)out_bytes(c, f, sizeof(f));
	c->st = ST_CLOSING;
}

/* One complete client frame: echoed (unmasked, RFC 6455 5.1), ping answered with pong,
 * close echoed then the connection closed. Returns bytes consumed; 0 = need more. */
static size_t ws_step(struct conn *c, const uint8_t *p, size_t len)
{
	uint8_t fin, op, *d;
	uint64_t plen;
	size_t hl = 2, dh;

	if (len < 2)
		return 0;
	fin = p[0] & 0x80;
	op = p[0] & 0x0f;
	plen = p[1] & 0x7f;
	if (plen == 126) {
		if (len < 4)
			return 0;
		plen = (uint64_t)p[2] << 8 | p[3];
		hl = 4;
	} else if (plen == 127) {
		if (len < 10)
			return 0;
		plen = 0;
		for (int i = 0; i < 8; i++)
			plen = plen << 8 | p[2 + i];
		hl = 10;
	}
	if ((p[0] & 0x70) != 0 || !(p[1] & 0x80) ||            /* RSV without extension; unmasked (5.1, 5.2) */
	    (op > 2 && op < 8) || op > 10 ||                     /* reserved opcodes (5.2) */
	    (op >= 8 && (!fin || plen > 125)) ||                 /* control frames (5.5) */
	    (op == 8 && plen == 1)) {                            /* close body is code [+ reason] (5.5.1) */
		ws_close(c, 1002);
		return len;
	}
	if (plen > WS_MAX_PAYLOAD) {
		ws_close(c, 1009);
		return len;
	}
	if (len < hl + 4 + plen)
		return 0;
	const uint8_t *mask = p + hl, *pl = p + hl + 4;

	if (op == 0xA)
		return hl + 4 + (size_t)plen;                    /* unsolicited pong: ignored */
	d = out_reserve(c, 10 + (size_t)plen);
	if (d == NULL) {
		ws_close(c, 1011);
		return len;
	}
	ws_put_frame_head(d, &dh, (uint8_t)(fin | (op == 0x9 ? 0xA : op)), plen);
	for (size_t i = 0; i < plen; i++)
		d[dh + i] = pl[i] ^ mask[i & 3];
	out_commit(c, dh + (size_t)plen);
	if (op == 0x8)
		c->st = ST_CLOSING;
	return hl + 4 + (size_t)plen;
}

/* --- input driver ------------------------------------------------------------------------ */

/* Runs the protocol over buffered input until it needs more, is paused (delay,
 * backpressure) or the connection is closing. Returns bytes consumed. */
static size_t process(struct conn *c, const uint8_t *p, size_t len)
{
	size_t off = 0;

	while (off < len && !out_busy(c)) {
		enum cstate before = c->st;
		size_t r;

		if (c->st == ST_HEAD)
			r = parse_head(c, p + off, len - off);
		else if (c->st == ST_BODY)
			r = body_step(c, p + off, len - off);
		else if (c->st == ST_WS)
			r = ws_step(c, p + off, len - off);
		else
			break;
		off += r;
		if (off > len)
			off = len;
		if (r == 0 && c->st == before)
			break;
	}
	return off;
}

static size_t in_limit(const struct conn *c)
{
	return (c->st == ST_WS ? WS_MAX_PAYLOAD + 14u : MAX_HEAD) + SCRATCH_SIZE;
}

/* Keeps the unconsumed tail of the input; frees the buffer when nothing is left. */
static int keep_input(struct conn *c, const uint8_t *p, size_t len)
{
	if (len == 0) {
		free(c->in);
		c->in = NULL;
		c->in_len = c->in_cap = 0;
		return 0;
	}
	if (c->in != NULL && p >= c->in && p < c->in + c->in_cap) {
		memmove(c->in, p, len);
	} else {
		if (c->in_cap < len) {
			uint8_t *n = realloc(c->in, len > CHUNK_SIZE ? len : CHUNK_SIZE);

			if (n == NULL)
				return -1;
			c->in = n;
			c->in_cap = len > CHUNK_SIZE ? len : CHUNK_SIZE;
		}
		memcpy(c->in, p, len);
	}
	c->in_len = len;
	return 0;
}

/* --- connection lifecycle ---------------------------------------------------------------- */

static void conn_free(struct conn *c)
{
	struct worker *w = c->w;

	timer_stop(c);
	close(c->fd);
	for (size_t i = 0; i < c->seg_n; i++)
		free(c->segs[c->seg_first + i].mem);
	free(c->in);
	req_reset(&c->rq);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	free(c);
}

/*
 * After any event: write what is queued, resume buffered input once the peer caught
 * up, close when done, and register exactly the events still wanted (level-triggered,
 * so EPOLLIN is dropped while paused and EPOLLOUT is armed only after EAGAIN).
 * May free c.
 */
static void conn_update(struct conn *c)
{
	uint32_t want = 0;

	for (;;) {
		size_t n;

		if (out_flush(c) == -1) {
			conn_free(c);
			return;
		}
		if (out_busy(c) || c->in_len == 0 || (c->st != ST_HEAD && c->st != ST_BODY && c->st != ST_WS))
			break;
		n = process(c, c->in, c->in_len);
		if (n == 0)
			break;
		if (keep_input(c, c->in + n, c->in_len - n) == -1) {
			conn_free(c);
			return;
		}
	}
	if (c->st == ST_CLOSING && out_pending(c) == 0) {
		if (c->eof) {
			conn_free(c);
			return;
		}
		/* Lingering close: half-close, then drain what the client still sends, so
		 * unread input does not turn our close into a RST that destroys the answer. */
		shutdown(c->fd, SHUT_WR);
		c->st = ST_LINGER;
		keep_input(c, NULL, 0);
		timer_stop(c);
		if (timer_start(c, 2000) == -1) {
			conn_free(c);
			return;
		}
	}
	if (c->eof && out_pending(c) == 0 && c->st != ST_DELAY) {
		conn_free(c);
		return;
	}
	if (c->st == ST_LINGER)
		want = EPOLLIN;
	else if (!c->eof && c->st != ST_DELAY && c->st != ST_CLOSING && !out_busy(c) && c->in_len < in_limit(c))
		want = EPOLLIN;
	if (c->wblocked)
		want |= EPOLLOUT;
	if (want != c->events) {
		struct epoll_event ev = { .events = want, .data.ptr = c };

		if (epoll_ctl(c->w->epfd, EPOLL_CTL_MOD, c->fd, &ev) == -1) {
			conn_free(c);
			return;
		}
		c->events = want;
	}
}

/* One read per readiness: into the worker's scratch buffer when no partial request is
 * pending (the common case), else appended to the connection's own buffer. 0 or -1
 * (dead connection). */
static int conn_read(struct conn *c)
{
	struct worker *w = c->w;
	uint8_t *dst = w->scratch;
	size_t room = SCRATCH_SIZE, n;
	ssize_t r;

	if (c->st == ST_LINGER) {
		r = read(c->fd, w->scratch, SCRATCH_SIZE);
		if (r == 0 || (r == -1 && errno != EAGAIN && errno != EINTR))
			return -1;
		return 0;
	}
	if (c->in_len > 0) {
		size_t limit = in_limit(c), want = c->in_len + SCRATCH_SIZE;

		if (want > limit)
			want = limit;
		if (c->in_cap < want) {
			uint8_t *nb = realloc(c->in, want);

			if (nb == NULL)
				return -1;
			c->in = nb;
			c->in_cap = want;
		}
		dst = c->in + c->in_len;
		room = c->in_cap - c->in_len;
		if (room == 0)
			return 0;
	}
	r = read(c->fd, dst, room);
	if (r == -1)
		return (errno == EAGAIN || errno == EINTR) ? 0 : -1;
	if (r == 0) {
		c->eof = 1;
		return 0;
	}
	if (c->in_len > 0) {
		c->in_len += (size_t)r;
		n = process(c, c->in, c->in_len);
		return keep_input(c, c->in + n, c->in_len - n);
	}
	n = process(c, dst, (size_t)r);
	return keep_input(c, dst + n, (size_t)r - n);
}

static void conn_event(struct conn *c, uint32_t ev)
{
	if (ev & EPOLLERR) {
		conn_free(c);
		return;
	}
	if ((ev & EPOLLHUP) && !(ev & EPOLLIN)) {
		conn_free(c);
		return;
	}
	if ((ev & EPOLLIN) && conn_read(c) == -1) {
		conn_free(c);
		return;
	}
	if (ev & EPOLLHUP)
		c->eof = 1;     /* both directions gone: nothing more to read or write */
	conn_update(c);
}

static void conn_accept(struct worker *w)
{
	for (int i = 0; i < 64; i++) {
		int fd = accept4(w->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC), one = 1;
		struct conn *c;
		struct epoll_event ev;

		if (fd == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK && !w->accept_warned) {
				w->accept_warned = 1;
				print_warn("backend %s: accept: %s", opt.name, strerror(errno));
			}
			return;
		}
		/* whole responses go out in one writev: Nagle would only add latency */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c = calloc(1, sizeof(*c));
		if (c == NULL) {
			close(fd);
			return;
		}
		c->fd = fd;
		c->w = w;
		c->heap_idx = SIZE_MAX;
		c->events = EPOLLIN;
		ev.events = EPOLLIN;
		ev.data.ptr = c;
		if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) == -1) {
			close(fd);
			free(c);
			return;
		}
		c->next = w->conns;
		if (w->conns != NULL)
			w->conns->prev = c;
		w->conns = c;
	}
}

static void run_timers(struct worker *w)
{
	uint64_t now = now_ms();

	while (w->heap_n > 0 && w->heap[0]->deadline <= now) {
		struct conn *c = w->heap[0];

		timer_stop(c);
		if (c->st == ST_LINGER) {
			conn_free(c);
			continue;
		}
		if (c->st == ST_DELAY) {
			if (emit_response(c) == -1)
				fail_request(c, 500, 1);
			else
				finish_exchange(c);
			conn_update(c);
		}
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct epoll_event evs[256];
	int stop = 0;

	while (!stop) {
		int timeout = -1, n;

		if (w->heap_n > 0) {
			uint64_t now = now_ms(), d = w->heap[0]->deadline;

			timeout = d <= now ? 0 : (int)(d - now);
		}
		n = epoll_wait(w->epfd, evs, 256, timeout);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			print_warn("backend %s: epoll_wait: %s", opt.name, strerror(errno));
			break;
		}
		for (int i = 0; i < n; i++) {
			if (evs[i].data.u64 == TAG_LISTEN)
				conn_accept(w);
			else if (evs[i].data.u64 == TAG_STOP)
				stop = 1;
			else
				conn_event(evs[i].data.ptr, evs[i].events);
		}
		run_timers(w);
	}
	while (w->conns != NULL)
		conn_free(w->conns);
	return NULL;
}

/* --- startup ------------------------------------------------------------------------------ */

static int build_prebuilt(void)
{
	size_t nl = strlen(opt.name);

	if (opt.body_size < 0) {
		g_body_len = nl + 1;
		g_body = malloc(g_body_len);
		if (g_body == NULL)
			return -1;
		memcpy(g_body, opt.name, nl);
		g_body[nl] = '\n';
	} else {
		g_body_len = (size_t)opt.body_size;
		g_body = malloc(g_body_len ? g_body_len : 1);
		if (g_body == NULL)
			return -1;
		for (size_t i = 0; i < g_body_len; i++)
			g_body[i] = (uint8_t)('a' + i % 26);
		if (g_body_len > 0)
			g_body[g_body_len - 1] = '\n';
	}
	g_body_glued = status_has_body(opt.status) && g_body_len <= SMALL_BODY;
	for (int i = 0; i < 2; i++) {
		char head[512], cl[48] = "";
		int hl;

		if (status_has_body(opt.status))
			snprintf(cl, sizeof(cl), "Content-Length: %zu\r\n", g_body_len);
		hl = snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\n%sX-Backend: %s\r\n%s%s%s\r\n", opt.status,
			      reason(opt.status), cl, opt.name, opt.header ? opt.header : "", opt.header ? "\r\n" : "",
			      i ? "Connection: close\r\n" : "");
		if (hl < 0 || (size_t)hl >= sizeof(head))
			return -1;
		g_resp_hlen[i] = (size_t)hl;
		g_resp_len[i] = (size_t)hl + (g_body_glued ? g_body_len : 0);
		g_resp[i] = malloc(g_resp_len[i]);
		if (g_resp[i] == NULL)
			return -1;
		memcpy(g_resp[i], head, (size_t)hl);
		if (g_body_glued)
			memcpy(g_resp[i] + hl, g_body, g_body_len);
	}
	return 0;
}

/* SIGTERM/SIGINT: the self-pipe trick on an eventfd. A handler rather than sigwait,
 * because a process-directed signal may land on a thread we did not create (the
 * sanitizer runtime's) whose mask we cannot block. The eventfd is level-triggered
 * and never read, so it wakes every worker's epoll_wait. */
static void on_stop_signal(int signo)
{
	uint64_t one = 1;
	int saved = errno;

	(void)signo;
	if (write(g_stopfd, &one, sizeof(one)) == -1)
		errno = saved;
	errno = saved;
}

/* "ADDR:PORT" or "[V6]:PORT" -> sockaddr. 0 or -1. */
static int parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *sl)
{
	char host[256];
	const char *colon = strrchr(s, ':'), *h = s;
	size_t hlen;
	struct addrinfo hints, *res;

	if (colon == NULL || colon[1] == '\0')
		return -1;
	hlen = (size_t)(colon - s);
	if (hlen >= 2 && s[0] == '[' && s[hlen - 1] == ']') {
		h = s + 1;
		hlen -= 2;
	}
	if (hlen == 0 || hlen >= sizeof(host))
		return -1;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if (getaddrinfo(host, colon + 1, &hints, &res) != 0)
		return -1;
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*sl = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static int open_listener(struct sockaddr_storage *ss, socklen_t sl)
{
	int one = 1, fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd == -1)
		return -1;
	/* one listener per thread on the same port: the kernel spreads connections */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) == -1 ||
	    bind(fd, (struct sockaddr *)ss, sl) == -1 || listen(fd, 4096) == -1) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: backend --listen ADDR:PORT [--name NAME] [--body-size N] [--delay-ms N]\n"
		"               [--status N] [--close] [--threads N] [--fail-health-file PATH]\n"
		"               [--header 'NAME: VALUE' (default response only)]\n"
		"paths: /echo /echo-body /delay/<ms> /status/<code> /close /ws /health\n");
	exit(2);
}

static long long num_arg(const char *s, long long min, long long max, const char *what)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
		fprintf(stderr, "backend: bad %s '%s' (%lld..%lld)\n", what, s, min, max);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "name", required_argument, NULL, 'n' },
		{ "body-size", required_argument, NULL, 'b' },
		{ "delay-ms", required_argument, NULL, 'd' },
		{ "status", required_argument, NULL, 's' },
		{ "close", no_argument, NULL, 'c' },
		{ "threads", required_argument, NULL, 't' },
		{ "fail-health-file", required_argument, NULL, 'f' },
		{ "health-file", required_argument, NULL, 'f' },
		{ "header", required_argument, NULL, 'H' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct sockaddr_storage ss;
	socklen_t sl;
	struct worker *w;
	struct rlimit rl;
	sigset_t sigs, oldsigs;
	struct sigaction sa;
	char addr[INET6_ADDRSTRLEN + 8], host[INET6_ADDRSTRLEN];
	int ch, stopfd;

	while ((ch = getopt_long(argc, argv, "l:n:b:d:s:ct:f:H:h", lopts, NULL)) != -1) {
		switch (ch) {
		case 'l': opt.listen = optarg; break;
		case 'n': opt.name = optarg; break;
		case 'b': opt.body_size = num_arg(optarg, 0, 1LL << 30, "body size"); break;
		case 'd': opt.delay_ms = (uint64_t)num_arg(optarg, 0, 3600000, "delay"); break;
		case 's': opt.status = (int)num_arg(optarg, 200, 599, "status"); break;
		case 'c': opt.close = 1; break;
		case 't': opt.threads = (int)num_arg(optarg, 1, 256, "thread count"); break;
		case 'f': opt.fail_health_file = optarg; break;
		case 'H': opt.header = optarg; break;
		default: usage();
		}
	}
	if (opt.listen == NULL || optind != argc)
		usage();
	if (strlen(opt.name) == 0 || strlen(opt.name) > 128 || strpbrk(opt.name, "\r\n") != NULL) {
		fprintf(stderr, "backend: bad name\n");
		return 2;
	}
	if (opt.header != NULL && (strlen(opt.header) > 256 || strchr(opt.header, ':') == NULL ||
				   strpbrk(opt.header, "\r\n") != NULL)) {
		fprintf(stderr, "backend: bad header (one 'NAME: VALUE' line, at most 256 bytes)\n");
		return 2;
	}
	if (parse_listen(opt.listen, &ss, &sl) == -1) {
		fprintf(stderr, "backend: bad listen address '%s'\n", opt.listen);
		return 2;
	}
	if (build_prebuilt() == -1) {
		fprintf(stderr, "backend: out of memory\n");
		return 1;
	}
	/* benchmarks open many connections */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	/* workers inherit a blocked mask, so the handler runs in main (or a foreign thread) */
	pthread_sigmask(SIG_BLOCK, &sigs, &oldsigs);

	stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	g_stopfd = stopfd;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	if (stopfd != -1 && (sigaction(SIGTERM, &sa, NULL) == -1 || sigaction(SIGINT, &sa, NULL) == -1)) {
		fprintf(stderr, "backend: sigaction: %s\n", strerror(errno));
		return 1;
	}
	w = calloc((size_t)opt.threads, sizeof(*w));
	if (stopfd == -1 || w == NULL) {
		fprintf(stderr, "backend: %s\n", strerror(errno));
		return 1;
	}
	for (int i = 0; i < opt.threads; i++) {
		struct epoll_event ev;

		w[i].id = i;
		w[i].stopfd = stopfd;
		w[i].lfd = open_listener(&ss, sl);
		if (w[i].lfd == -1) {
			fprintf(stderr, "backend: listen %s: %s\n", opt.listen, strerror(errno));
			return 1;
		}
		if (i == 0) {
			/* port 0: the other threads join the port the kernel chose */
			sl = sizeof(ss);
			getsockname(w[0].lfd, (struct sockaddr *)&ss, &sl);
		}
		w[i].epfd = epoll_create1(EPOLL_CLOEXEC);
		if (w[i].epfd == -1)
			return 1;
		ev.events = EPOLLIN;
		ev.data.u64 = TAG_LISTEN;
		if (epoll_ctl(w[i].epfd, EPOLL_CTL_ADD, w[i].lfd, &ev) == -1)
			return 1;
		ev.data.u64 = TAG_STOP;
		if (epoll_ctl(w[i].epfd, EPOLL_CTL_ADD, stopfd, &ev) == -1)
			return 1;
	}
	for (int i = 0; i < opt.threads; i++) {
		if (pthread_create(&w[i].tid, NULL, worker_main, &w[i]) != 0) {
			fprintf(stderr, "backend: pthread_create failed\n");
			return 1;
		}
	}

	if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		snprintf(addr, sizeof(addr), "[%s]:%u", host, ntohs(s6->sin6_port));
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
		snprintf(addr, sizeof(addr), "%s:%u", host, ntohs(s4->sin_port));
	}
	printf("backend %s listening on %s\n", opt.name, addr);
	fflush(stdout);

	pthread_sigmask(SIG_SETMASK, &oldsigs, NULL);
	for (int i = 0; i < opt.threads; i++) {
		pthread_join(w[i].tid, NULL);
		close(w[i].lfd);
		close(w[i].epfd);
		free(w[i].heap);
	}
	close(stopfd);
	free(w);
	free(g_body);
	free(g_resp[0]);
	free(g_resp[1]);
	return 0;
}
