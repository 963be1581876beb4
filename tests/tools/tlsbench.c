/*
 * tests/tools/tlsbench.c — the TLS client that scripts/bench-tls drives
 * proxyd, haproxy and nginx with.
 *
 * What a TLS proxy costs is mostly its handshakes, and which handshake it did
 * is decided by the client: h2load and most load generators resume a session
 * whenever they reconnect, so their "new connections" are a mix nobody
 * controls. tlsbench makes the kind of handshake a command-line choice:
 *
 *   --mode full       every connection is a full handshake (no session offered)
 *   --mode resume     one full handshake first to obtain a session (with its
 *                     request and response, so a TLS 1.3 NewSessionTicket has
 *                     arrived), then every connection offers that session
 *                     with SSL_set_session and checks SSL_session_reused()
 *   --mode keepalive  C persistent connections, requests back to back
 *
 * In full and resume mode each connection carries one HTTP/1.1 GET with
 * "Connection: close" and is read to the end (the server closes first, as a
 * server does after Connection: close, so the client is left with no
 * TIME_WAIT and no port shortage). The counts of resumed and full handshakes
 * are printed, because a resumption figure is only one when ~100% resumed.
 *
 * Fairness between servers is the client's job too: it offers one TLS 1.3
 * suite, one TLS 1.2 suite and one group (defaults below; --ciphersuites,
 * --cipher, --groups override), so every server negotiates the same ones. It
 * sends SNI (--sni) and does not verify the certificate (the signature over
 * the handshake is still checked by OpenSSL; a throwaway self-signed
 * certificate is what the benchmark serves).
 *
 * One epoll loop, no threads: the client runs beside the backend on the
 * other core and is measured against nothing; the figure that compares
 * servers is the server's CPU time, which the script reads from /proc.
 * Every run is bounded: new connections and requests start only before the
 * deadline (--duration) and within the counts (--conns, --requests); what is
 * in flight at the deadline may finish during a grace period (--grace), then
 * is counted as aborted.
 *
 * Output: one "info" line on the first completed handshake (protocol,
 * cipher, group), error samples on stderr, and a last line on stdout
 *   done conns=N reused=N full=N requests=N errors=N aborted=N secs=S
 * conns: connections that completed their handshake and at least one
 * response; reused/full split them; requests: responses with status < 400;
 * errors: connections or requests that failed; secs: from the first
 * connection of the measured run to the last completion. Exit 0 when it ran
 * (even with errors: the script shows them), 1 when it could not run (no
 * session to resume, bad setup), 2 on usage.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "lib/net.h"

#define MAX_CONC        4096u
#define HEAD_MAX        8192u           /* response head; longer is an error */
#define READ_CHUNK      16384u
#define MAX_EVENTS      256
#define ERR_SAMPLES     3               /* messages printed per error kind */
#define GIVE_UP         1000            /* failures in a row: the server is not there, stop */
#define DEF_SUITE13     "TLS_AES_256_GCM_SHA384"
#define DEF_CIPHER12    "ECDHE-ECDSA-AES256-GCM-SHA384"
#define DEF_GROUPS      "X25519:P-256"      /* P-256 too: TLS 1.2 servers choose an ECDSA P-256 certificate only for clients that list its curve (RFC 8422 section 5.1) */

enum mode { MODE_FULL, MODE_RESUME, MODE_KEEPALIVE };

/* Where a connection failed, for the error summary on stderr. */
enum err_kind { EK_CONNECT, EK_HANDSHAKE, EK_IO, EK_HTTP, EK_STATUS, EK_N };
static const char *const err_kind_name[EK_N] = { "connect", "handshake", "io", "http", "status" };

enum slot_state {
	ST_FREE,                /* no connection */
	ST_HANDSHAKE,           /* TCP connect and TLS handshake (SSL_connect) */
	ST_WRITE,               /* sending the request */
	ST_READ,                /* reading a response */
	ST_DRAIN,               /* response complete, waiting for the server's close */
};

struct slot {
	enum slot_state st;
	int fd;
	uint32_t gen;           /* in epoll data: an event for an older connection is dropped */
	uint32_t events;        /* current epoll interest */
	SSL *ssl;
	unsigned served;        /* responses on this connection */
	size_t sent;            /* request bytes written */
	size_t hlen;            /* response head bytes gathered */
	int head_done;
	int status;
	long long body_left;    /* -1: until EOF */
	char head[HEAD_MAX];
};

static struct {
	struct sockaddr_storage addr;
	socklen_t addrlen;
	int tls;                /* TLS1_2_VERSION or TLS1_3_VERSION */
	enum mode mode;
	uint64_t conns;         /* bound on connections opened */
	uint64_t requests;      /* bound on requests sent */
	double duration;
	double grace;
	unsigned conc;
	const char *sni;
	const char *path;
	const char *suites13;
	const char *cipher12;
	const char *groups;
	int quiet;
} opt = {
	.tls = TLS1_3_VERSION, .mode = MODE_FULL, .conns = 1000000, .requests = 100000000,
	.duration = 5, .grace = 3, .conc = 16, .sni = "bench.test", .path = "/",
	.suites13 = DEF_SUITE13, .cipher12 = DEF_CIPHER12, .groups = DEF_GROUPS,
};

static struct {
	uint64_t opened, requests_sent;
	uint64_t conns, reused, requests, errors, aborted;
	uint64_t err[EK_N];
	uint64_t fails_in_row;  /* since the last response */
	double t_start, t_last;
	int stopping;           /* no new connection or request */
	int info_done;
} st;

static SSL_CTX *g_ctx;
static SSL_SESSION *g_session;  /* resume mode: the session every connection offers */
static int g_ep = -1;
static struct slot *g_slots;
static unsigned g_nslots;
static char g_req[512];
static size_t g_reqlen;
static volatile sig_atomic_t g_signalled;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_signal(int sig)
{
	(void)sig;
	g_signalled = 1;
}

static void usage(void)
{
	fprintf(stderr,
	    "usage: tlsbench --connect ADDR:PORT [options]\n"
	    "  --tls 1.2|1.3          protocol version, exactly (default 1.3)\n"
	    "  --mode full|resume|keepalive   (default full)\n"
	    "  --conns N              at most N connections opened (default 1000000)\n"
	    "  --requests N           at most N requests sent (default 100000000)\n"
	    "  --duration S           start nothing new after S seconds (default 5)\n"
	    "  --grace S              then wait at most S seconds for in-flight work (default 3)\n"
	    "  --concurrency C        connections in flight (default 16, at most %u)\n"
	    "  --sni NAME             server name sent (default bench.test)\n"
	    "  --path PATH            request path (default /)\n"
	    "  --ciphersuites LIST    TLS 1.3 suites offered (default " DEF_SUITE13 ")\n"
	    "  --cipher LIST          TLS 1.2 ciphers offered (default " DEF_CIPHER12 ")\n"
	    "  --groups LIST          key-exchange groups offered (default " DEF_GROUPS ")\n"
	    "  --quiet                no info line\n"
	    "last line: done conns=N reused=N full=N requests=N errors=N aborted=N secs=S\n",
	    MAX_CONC);
	exit(2);
}

static unsigned long long num_arg(const char *s, unsigned long long lo, unsigned long long hi, const char *what)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) {
		fprintf(stderr, "tlsbench: bad %s '%s'\n", what, s);
		exit(2);
	}
	return v;
}

static double secs_arg(const char *s, double lo, double hi, const char *what)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !(v >= lo && v <= hi)) {
		fprintf(stderr, "tlsbench: bad %s '%s'\n", what, s);
		exit(2);
	}
	return v;
}

/* --- errors ----------------------------------------------------------------------- */

/* Count a failure of kind k and print the first few of each kind with what
 * OpenSSL and errno said, so a misconfigured server shows why at once. */
static void count_error(enum err_kind k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void count_error(enum err_kind k, const char *fmt, ...)
{
	char msg[256], ossl[256] = "";
	unsigned long e;
	va_list ap;

	st.errors++;
	if (++st.fails_in_row == GIVE_UP && !st.stopping) {
		fprintf(stderr, "tlsbench: %d failures in a row, no new connections\n", GIVE_UP);
		st.stopping = 1;
	}
	if (st.err[k]++ >= ERR_SAMPLES) {
		ERR_clear_error();
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if ((e = ERR_get_error()) != 0)
		ERR_error_string_n(e, ossl, sizeof(ossl));
	ERR_clear_error();
	fprintf(stderr, "tlsbench: %s error: %s%s%s\n", err_kind_name[k], msg, ossl[0] ? ": " : "", ossl);
}

/* --- sessions --------------------------------------------------------------------- */

/* Client session cache callback: keep the first session the server gives us
 * (TLS 1.2: at the end of the handshake; TLS 1.3: when a NewSessionTicket
 * arrives after it). Returning 1 keeps the reference OpenSSL handed over. */
static int new_session_cb(SSL *ssl, SSL_SESSION *sess)
{
	(void)ssl;
	if (g_session != NULL || !SSL_SESSION_is_resumable(sess))
		return 0;
	g_session = sess;
	return 1;
}

static SSL_CTX *ctx_new(void)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (ctx == NULL)
		return NULL;
	if (SSL_CTX_set_min_proto_version(ctx, opt.tls) != 1 ||
	    SSL_CTX_set_max_proto_version(ctx, opt.tls) != 1 ||
	    SSL_CTX_set_ciphersuites(ctx, opt.suites13) != 1 ||
	    SSL_CTX_set_cipher_list(ctx, opt.cipher12) != 1 ||
	    SSL_CTX_set1_groups_list(ctx, opt.groups) != 1) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	/* The server's certificate is a throwaway: no chain check. */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	/* A close without close_notify reads as an end of stream: with
	 * Connection: close the body is delimited by Content-Length anyway. */
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	if (opt.mode == MODE_RESUME) {
		/* Sessions reach us only through the callback; OpenSSL's own client
		 * cache is never consulted by SSL_connect anyway. */
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
		SSL_CTX_sess_set_new_cb(ctx, new_session_cb);
	} else {
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	}
	return ctx;
}

/* --- connections ------------------------------------------------------------------ */

static void slot_watch(struct slot *s, uint32_t events)
{
	struct epoll_event ev;

	if (s->events == events)
		return;
	ev.events = events;
	ev.data.u64 = ((uint64_t)s->gen << 32) | (uint64_t)(s - g_slots);
	if (epoll_ctl(g_ep, s->events == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, s->fd, &ev) == -1) {
		fprintf(stderr, "tlsbench: epoll_ctl: %s\n", strerror(errno));
		exit(1);
	}
	s->events = events;
}

static void slot_close(struct slot *s)
{
	if (s->ssl != NULL) {
		/* No close_notify goes out (the server has closed, or we give up),
		 * but a connection that served its requests ended well: without
		 * marking it so, SSL_free would take its session for a bad one
		 * and make the shared session unresumable. */
		if (s->served > 0)
			SSL_set_shutdown(s->ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
		SSL_free(s->ssl);
	}
	if (s->fd != -1)
		close(s->fd);           /* also leaves the epoll set */
	s->ssl = NULL;
	s->fd = -1;
	s->events = 0;
	s->st = ST_FREE;
}

static void response_reset(struct slot *s)
{
	s->sent = 0;
	s->hlen = 0;
	s->head_done = 0;
	s->status = 0;
	s->body_left = -1;
}

/* Open a connection in slot s and start its handshake; 0 ok, -1 failed (counted). */
static int slot_open(struct slot *s)
{
	int fd, one = 1;

	fd = socket(opt.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		count_error(EK_CONNECT, "socket: %s", strerror(errno));
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (const struct sockaddr *)&opt.addr, opt.addrlen) == -1 && errno != EINPROGRESS) {
		count_error(EK_CONNECT, "connect: %s", strerror(errno));
		close(fd);
		return -1;
	}
	st.opened++;
	s->gen++;
	s->fd = fd;
	s->events = 0;
	s->served = 0;
	s->ssl = SSL_new(g_ctx);
	if (s->ssl == NULL || SSL_set_fd(s->ssl, fd) != 1 || SSL_set_tlsext_host_name(s->ssl, opt.sni) != 1 ||
	    (g_session != NULL && opt.mode == MODE_RESUME && SSL_set_session(s->ssl, g_session) != 1)) {
		count_error(EK_CONNECT, "SSL_new");
		slot_close(s);
		return -1;
	}
	SSL_set_connect_state(s->ssl);
	response_reset(s);
	s->st = ST_HANDSHAKE;
	slot_watch(s, EPOLLOUT);
	return 0;
}

static int may_start_request(void)
{
	return !st.stopping && st.requests_sent < opt.requests;
}

static int may_open(void)
{
	return !st.stopping && st.opened < opt.conns && st.requests_sent < opt.requests;
}

/* Parse the response head in s->head[0..hlen) ending at "\r\n\r\n" (at
 * end - 4). Only what a benchmark needs: the status and Content-Length;
 * chunked responses are not expected from the backend and are errors. */
static int parse_head(struct slot *s, size_t end)
{
	char *p = s->head, *eol, *lim = s->head + end;
	int chunked = 0;

	if (end < 12 || strncmp(p, "HTTP/1.", 7) != 0 || p[8] != ' ')
		return -1;
	s->status = atoi(p + 9);
	if (s->status < 100 || s->status > 599)
		return -1;
	s->body_left = -1;
	while ((eol = memmem(p, (size_t)(lim - p), "\r\n", 2)) != NULL && eol < lim - 2) {
		p = eol + 2;
		if (strncasecmp(p, "content-length:", 15) == 0)
			s->body_left = strtoll(p + 15, NULL, 10);
		else if (strncasecmp(p, "transfer-encoding:", 18) == 0)
			chunked = 1;
	}
	if (chunked || s->body_left < -1)
		return -1;
	if (s->body_left == -1 && opt.mode == MODE_KEEPALIVE)
		return -1;      /* a body delimited by close cannot be followed by another request */
	s->head_done = 1;
	return 0;
}

static void note_info(struct slot *s)
{
	const char *group;
	int nid;

	if (st.info_done || opt.quiet)
		return;
	st.info_done = 1;
	nid = SSL_get_negotiated_group(s->ssl);
	group = nid == NID_undef ? "none" : (nid & TLSEXT_nid_unknown) ? "unknown" : OBJ_nid2sn(nid);
	printf("info proto=%s cipher=%s group=%s reused=%d\n", SSL_get_version(s->ssl),
	    SSL_get_cipher_name(s->ssl), group ? group : "?", SSL_session_reused(s->ssl));
	fflush(stdout);
}

/* A response has been read whole on s. */
static void response_done(struct slot *s)
{
	double t = now_s();

	if (s->served++ == 0) {
		st.conns++;
		if (SSL_session_reused(s->ssl))
			st.reused++;
	}
	st.fails_in_row = 0;
	if (s->status < 400)
		st.requests++;
	else
		count_error(EK_STATUS, "status %d", s->status);
	st.t_last = t;
	if (opt.mode != MODE_KEEPALIVE) {
		s->st = ST_DRAIN;
		return;
	}
	if (!may_start_request()) {
		slot_close(s);
		return;
	}
	response_reset(s);
	st.requests_sent++;
	s->st = ST_WRITE;
}

/* Feed n bytes of plaintext to the response reader; -1 on a protocol error. */
static int feed(struct slot *s, const char *p, size_t n)
{
	while (n > 0) {
		if (s->st == ST_DRAIN)
			return 0;       /* after Connection: close, nothing more matters */
		if (!s->head_done) {
			size_t take = n < HEAD_MAX - s->hlen ? n : HEAD_MAX - s->hlen;
			size_t from = s->hlen > 3 ? s->hlen - 3 : 0;
			char *e;

			memcpy(s->head + s->hlen, p, take);
			s->hlen += take;
			e = memmem(s->head + from, s->hlen - from, "\r\n\r\n", 4);
			if (e == NULL) {
				if (s->hlen == HEAD_MAX)
					return -1;
				return 0;
			}
			size_t end = (size_t)(e - s->head) + 4;
			if (parse_head(s, end) == -1)
				return -1;
			/* what followed the head in this read is body */
			size_t used = take - (s->hlen - end);
			p += used;
			n -= used;
		} else if (s->body_left == -1) {
			return 0;       /* until EOF */
		} else {
			size_t take = (unsigned long long)s->body_left < n ? (size_t)s->body_left : n;

			s->body_left -= (long long)take;
			p += take;
			n -= take;
		}
		if (s->body_left == 0) {
			response_done(s);
			/* Keep-alive: the next request is ours to send, so bytes
			 * beyond this response are bytes nobody asked for. */
			if (s->st != ST_DRAIN)
				return n == 0 ? 0 : -1;
		}
	}
	return 0;
}

/* The server closed (close_notify or plain EOF). */
static void on_eof(struct slot *s)
{
	if (s->st == ST_DRAIN) {
		slot_close(s);
		return;
	}
	if (s->st == ST_READ && s->head_done && s->body_left == -1) {
		response_done(s);       /* a body delimited by the close */
		slot_close(s);
		return;
	}
	if (opt.mode == MODE_KEEPALIVE && s->served > 0 && s->hlen == 0) {
		/* The server ended an idle keep-alive connection as our request
		 * crossed it: not a failure of the server, open another. */
		st.requests_sent--;
		slot_close(s);
		return;
	}
	count_error(EK_IO, "connection closed %s", s->st == ST_HANDSHAKE ? "during the handshake" : "before the response ended");
	slot_close(s);
}

/* Drive slot s as far as it goes without blocking. */
static void slot_run(struct slot *s)
{
	char buf[READ_CHUNK];
	int r, e;

	for (;;) {
		switch (s->st) {
		case ST_FREE:
			return;
		case ST_HANDSHAKE:
			ERR_clear_error();
			r = SSL_connect(s->ssl);
			if (r == 1) {
				note_info(s);
				st.requests_sent++;
				s->st = ST_WRITE;
				break;
			}
			e = SSL_get_error(s->ssl, r);
			if (e == SSL_ERROR_WANT_READ) {
				slot_watch(s, EPOLLIN);
				return;
			}
			if (e == SSL_ERROR_WANT_WRITE) {
				slot_watch(s, EPOLLOUT);
				return;
			}
			count_error(s->events == EPOLLOUT && errno == ECONNREFUSED ? EK_CONNECT : EK_HANDSHAKE,
			    "SSL_connect: ssl error %d, %s", e, errno ? strerror(errno) : "no errno");
			slot_close(s);
			return;
		case ST_WRITE:
			ERR_clear_error();
			r = SSL_write(s->ssl, g_req + s->sent, (int)(g_reqlen - s->sent));
			if (r > 0) {
				s->sent += (size_t)r;
				if (s->sent == g_reqlen)
					s->st = ST_READ;
				break;
			}
			e = SSL_get_error(s->ssl, r);
			if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
				slot_watch(s, e == SSL_ERROR_WANT_READ ? EPOLLIN : EPOLLOUT);
				return;
			}
			count_error(EK_IO, "SSL_write: ssl error %d, %s", e, strerror(errno));
			slot_close(s);
			return;
		case ST_READ:
		case ST_DRAIN:
			ERR_clear_error();
			errno = 0;
			r = SSL_read(s->ssl, buf, sizeof(buf));
			if (r > 0) {
				if (feed(s, buf, (size_t)r) == -1) {
					count_error(EK_HTTP, "bad response (status %d)", s->status);
					slot_close(s);
					return;
				}
				break;
			}
			e = SSL_get_error(s->ssl, r);
			if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
				slot_watch(s, e == SSL_ERROR_WANT_READ ? EPOLLIN : EPOLLOUT);
				return;
			}
			/* ZERO_RETURN is close_notify; SYSCALL with errno 0 or SSL
			 * "unexpected eof" is a close without it: both end the body. */
			if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && errno == 0) ||
			    (e == SSL_ERROR_SSL && ERR_GET_REASON(ERR_peek_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING)) {
				ERR_clear_error();
				on_eof(s);
				return;
			}
			if (s->st == ST_DRAIN) {
				slot_close(s);  /* the response was whole; a reset after it is no failure */
				return;
			}
			count_error(EK_IO, "SSL_read: ssl error %d, %s", e, errno ? strerror(errno) : "no errno");
			slot_close(s);
			return;
		}
	}
}

/* Keep C connections in flight while the run may start new ones. */
static void refill(void)
{
	for (unsigned i = 0; i < g_nslots; i++) {
		struct slot *s = &g_slots[i];

		/* One attempt per slot and turn: a failure that is immediate
		 * (refused) is retried after the next poll, not in a spin. */
		if (s->st == ST_FREE && may_open() && slot_open(s) == 0)
			slot_run(s);
	}
}

static unsigned busy_slots(void)
{
	unsigned n = 0;

	for (unsigned i = 0; i < g_nslots; i++)
		n += g_slots[i].st != ST_FREE;
	return n;
}

/* Run the loop until deadline (no new work after it) and then until every
 * slot is free or hard_deadline passes. */
static void run_loop(double deadline, double hard_deadline)
{
	struct epoll_event evs[MAX_EVENTS];

	refill();
	for (;;) {
		double t = now_s();
		int n, timeout_ms;

		if (g_signalled || t >= deadline || st.opened >= opt.conns || st.requests_sent >= opt.requests)
			st.stopping = 1;
		if (st.stopping && busy_slots() == 0)
			return;
		if (t >= hard_deadline)
			return;
		timeout_ms = (int)(((st.stopping ? hard_deadline : deadline) - t) * 1000) + 1;
		if (timeout_ms > 100)
			timeout_ms = 100;
		n = epoll_wait(g_ep, evs, MAX_EVENTS, timeout_ms);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "tlsbench: epoll_wait: %s\n", strerror(errno));
			exit(1);
		}
		for (int i = 0; i < n; i++) {
			struct slot *s = &g_slots[(uint32_t)evs[i].data.u64];

			if ((uint32_t)(evs[i].data.u64 >> 32) != s->gen || s->st == ST_FREE)
				continue;       /* an event for a connection this slot has closed */
			slot_run(s);
		}
		refill();
	}
}

/* Resume mode: one full handshake, request and response on a single slot,
 * so that the server's ticket is in g_session. */
static int prime_session(void)
{
	uint64_t conns = opt.conns, requests = opt.requests;
	unsigned nslots = g_nslots;
	double t = now_s();
	int info_done;

	opt.conns = 1;
	opt.requests = 1;
	g_nslots = 1;
	run_loop(t + 5, t + 5);
	for (unsigned i = 0; i < g_nslots; i++)
		slot_close(&g_slots[i]);
	g_nslots = nslots;
	opt.conns = conns;
	opt.requests = requests;
	if (g_session == NULL || st.conns != 1) {
		fprintf(stderr, "tlsbench: no session to resume: the first connection %s\n",
		    st.conns != 1 ? "failed" : "brought no session ticket");
		return -1;
	}
	/* From now on no session cache: OpenSSL's client cache takes a TLS 1.3
	 * session out of service after one resumption (tickets are meant for
	 * one use), and the benchmark offers this one on every connection. The
	 * servers measured accept a ticket more than once (they keep no
	 * anti-replay state outside 0-RTT), so their work is what a fresh
	 * ticket per connection would cost them. */
	SSL_CTX_set_session_cache_mode(g_ctx, SSL_SESS_CACHE_OFF);
	info_done = st.info_done;
	memset(&st, 0, sizeof(st));
	st.info_done = info_done;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "connect", required_argument, NULL, 'c' },
		{ "tls", required_argument, NULL, 't' },
		{ "mode", required_argument, NULL, 'm' },
		{ "conns", required_argument, NULL, 'n' },
		{ "requests", required_argument, NULL, 'r' },
		{ "duration", required_argument, NULL, 'd' },
		{ "grace", required_argument, NULL, 'g' },
		{ "concurrency", required_argument, NULL, 'C' },
		{ "sni", required_argument, NULL, 's' },
		{ "path", required_argument, NULL, 'p' },
		{ "ciphersuites", required_argument, NULL, 'S' },
		{ "cipher", required_argument, NULL, 'P' },
		{ "groups", required_argument, NULL, 'G' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *connect_to = NULL;
	struct rlimit rl;
	struct sigaction sa;
	double t0, secs;
	int ch, n;

	while ((ch = getopt_long(argc, argv, "c:t:m:n:r:d:g:C:s:p:S:P:G:qh", lopts, NULL)) != -1) {
		switch (ch) {
		case 'c': connect_to = optarg; break;
		case 't':
			if (strcmp(optarg, "1.2") == 0)
				opt.tls = TLS1_2_VERSION;
			else if (strcmp(optarg, "1.3") == 0)
				opt.tls = TLS1_3_VERSION;
			else
				usage();
			break;
		case 'm':
			if (strcmp(optarg, "full") == 0)
				opt.mode = MODE_FULL;
			else if (strcmp(optarg, "resume") == 0)
				opt.mode = MODE_RESUME;
			else if (strcmp(optarg, "keepalive") == 0)
				opt.mode = MODE_KEEPALIVE;
			else
				usage();
			break;
		case 'n': opt.conns = num_arg(optarg, 1, UINT64_MAX >> 1, "connection count"); break;
		case 'r': opt.requests = num_arg(optarg, 1, UINT64_MAX >> 1, "request count"); break;
		case 'd': opt.duration = secs_arg(optarg, 0.01, 3600, "duration"); break;
		case 'g': opt.grace = secs_arg(optarg, 0, 600, "grace"); break;
		case 'C': opt.conc = (unsigned)num_arg(optarg, 1, MAX_CONC, "concurrency"); break;
		case 's': opt.sni = optarg; break;
		case 'p': opt.path = optarg; break;
		case 'S': opt.suites13 = optarg; break;
		case 'P': opt.cipher12 = optarg; break;
		case 'G': opt.groups = optarg; break;
		case 'q': opt.quiet = 1; break;
		default: usage();
		}
	}
	if (connect_to == NULL || optind != argc)
		usage();
	if (net_parse_addr(connect_to, -1, &opt.addr, &opt.addrlen) == -1 ||
	    (opt.addr.ss_family != AF_INET && opt.addr.ss_family != AF_INET6)) {
		fprintf(stderr, "tlsbench: bad address '%s' (want numeric HOST:PORT)\n", connect_to);
		return 2;
	}
	if (opt.path[0] != '/' || strpbrk(opt.path, " \r\n") != NULL || strlen(opt.path) > 256 ||
	    strlen(opt.sni) > 253 || strpbrk(opt.sni, " \r\n") != NULL) {
		fprintf(stderr, "tlsbench: bad path or server name\n");
		return 2;
	}
	n = snprintf(g_req, sizeof(g_req), "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: tlsbench\r\n%s\r\n",
	    opt.path, opt.sni, opt.mode == MODE_KEEPALIVE ? "" : "Connection: close\r\n");
	if (n < 0 || (size_t)n >= sizeof(g_req))
		return 2;
	g_reqlen = (size_t)n;

	/* one descriptor per connection in flight, plus a few */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	signal(SIGPIPE, SIG_IGN);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	if ((g_ctx = ctx_new()) == NULL) {
		fprintf(stderr, "tlsbench: TLS setup failed (ciphers or groups unknown?)\n");
		ERR_print_errors_fp(stderr);
		return 1;
	}
	g_ep = epoll_create1(EPOLL_CLOEXEC);
	g_nslots = opt.conc;
	g_slots = calloc(g_nslots, sizeof(*g_slots));
	if (g_ep == -1 || g_slots == NULL) {
		fprintf(stderr, "tlsbench: %s\n", strerror(errno));
		return 1;
	}
	for (unsigned i = 0; i < g_nslots; i++)
		g_slots[i].fd = -1;

	if (opt.mode == MODE_RESUME && prime_session() == -1)
		return 1;

	t0 = now_s();
	st.t_start = t0;
	st.t_last = t0;
	run_loop(t0 + opt.duration, t0 + opt.duration + opt.grace);
	for (unsigned i = 0; i < g_nslots; i++) {
		if (g_slots[i].st != ST_FREE) {
			st.aborted++;
			slot_close(&g_slots[i]);
		}
	}
	secs = st.t_last - st.t_start;
	if (st.err[EK_CONNECT] + st.err[EK_HANDSHAKE] + st.err[EK_IO] + st.err[EK_HTTP] + st.err[EK_STATUS] > 0) {
		fprintf(stderr, "tlsbench: errors:");
		for (int k = 0; k < EK_N; k++)
			fprintf(stderr, " %s=%" PRIu64, err_kind_name[k], st.err[k]);
		fprintf(stderr, "\n");
	}
	printf("done conns=%" PRIu64 " reused=%" PRIu64 " full=%" PRIu64 " requests=%" PRIu64
	    " errors=%" PRIu64 " aborted=%" PRIu64 " secs=%.3f\n",
	    st.conns, st.reused, st.conns - st.reused, st.requests, st.errors, st.aborted, secs);
	if (g_session != NULL)
		SSL_SESSION_free(g_session);
	SSL_CTX_free(g_ctx);
	free(g_slots);
	close(g_ep);
	return 0;
}
