/*
 * tests/tools/probe.c — the client that scripts/bench-ha measures failover with.
 *
 * A failover is only as good as what a client sees. probe sends one HTTP GET
 * every interval (default 10 ms) to a URL — in the lab, through the VIP — for
 * a bounded time, and reports how many requests were answered with a 2xx,
 * how many failed, and the longest gap between two consecutive successful
 * responses, which is the client-visible outage of a failover.
 *
 * The schedule is open-loop: a request starts every interval whether or not
 * the previous ones have finished (each on its own connection, or on an idle
 * keep-alive connection with -k), and each has a deadline (default 200 ms for
 * connect and response together). So an outage of T ms costs about
 * T / interval failed requests, whatever the failure looks like (silence,
 * refused, reset), and the gap is not hidden behind a client stuck in one
 * long connect. Keep-alive mode is strict: a request on a reused connection
 * that dies is a failure, never silently retried (curl and browsers would
 * retry it; a stricter client would not, and planned failover must not
 * depend on retries).
 *
 * Every timestamp is CLOCK_MONOTONIC in microseconds. The start and the end
 * of the run count as boundaries for the gap, so an outage at either edge
 * of the run is not hidden. One epoll loop, no threads; addresses are
 * numeric (lib/net), no DNS.
 *
 * Usage: probe [options] http://ADDR[:PORT][/path]; `probe -h` lists them.
 * Output: with -T a timeline of failures (runs of consecutive failed
 * requests), then one line
 *   total=N ok=N failed=N gap_ms=F gap_from_ms=F gap_to_ms=F first_fail_ms=F
 *   last_fail_ms=F refused=N conn_timeout=N timeout=N reset=N eof=N status=N
 *   busy=N error=N
 * (times in ms since the start of the run). Exit 0 when it ran, 2 on usage.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lib/conf.h"
#include "lib/net.h"

#define PROBE_HEAD_MAX  16384u  /* a response head larger than this is an error */
#define PROBE_REQ_MAX   1024u
#define PROBE_EVENTS    64

/* Why a request failed; indexes probe_fail_name. */
enum probe_fail {
	FAIL_REFUSED = 0,   /* connect answered with RST: VIP up, nothing listening */
	FAIL_CONN_TIMEOUT,  /* no connection before the deadline: nobody answered */
	FAIL_TIMEOUT,       /* connected, no complete response before the deadline */
	FAIL_RESET,         /* connection reset after it was established */
	FAIL_EOF,           /* closed before the response was complete */
	FAIL_STATUS,        /* a complete response, not 2xx (e.g. 502 from the proxy) */
	FAIL_BUSY,          /* no free connection slot (max in flight reached) */
	FAIL_ERROR,         /* anything else: malformed response, socket error */
	FAIL_MAX
};

static const char *const probe_fail_name[FAIL_MAX] = {
	"refused", "conn_timeout", "timeout", "reset", "eof", "status", "busy", "error",
};

enum conn_state { CONN_FREE = 0, CONN_CONNECTING, CONN_WRITING, CONN_READING, CONN_IDLE };

/* One connection slot; with -k an idle one is reused by the next request. */
struct conn {
	int fd;
	enum conn_state state;
	uint32_t gen;            /* bumped on every reuse of the slot: stale events are ignored */
	int reused;              /* this request runs on a kept-alive connection */
	uint64_t seq;            /* request number, from 0 */
	uint64_t sent_us;        /* when the request was scheduled */
	uint64_t deadline_us;
	size_t wrote;
	char head[PROBE_HEAD_MAX];
	size_t head_len;
	int head_done;
	int status;
	int keep;                /* the response lets us keep the connection */
	int64_t body_left;       /* Content-Length bytes still to read; -1 = until EOF */
	int chunked;
	char tail[8];            /* last bytes of a chunked body, to see its end */
	size_t tail_len;
	uint64_t body_seen;      /* chunked body bytes so far */
};

/* One failed request, for the timeline. */
struct fail_rec { uint64_t seq; uint64_t sent_us; uint64_t end_us; enum probe_fail why; };

static struct {
	struct sockaddr_storage addr;
	socklen_t addrlen;
	char host[NET_ADDRSTRLEN];
	char path[512];
	uint64_t interval_us, timeout_us, duration_us;
	int keepalive, timeline, max_conns;
} opt;

static struct {
	struct conn *conns;
	int epfd;
	uint64_t t0_us;
	uint64_t total, ok, failed, by_why[FAIL_MAX];
	uint64_t last_ok_us, gap_us, gap_from_us, gap_to_us;
	struct fail_rec *fails;
	size_t nfails, capfails;
	char req[PROBE_REQ_MAX];
	size_t req_len;
} st;

static volatile sig_atomic_t stop_requested;

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static double rel_ms(uint64_t us) { return us >= st.t0_us ? (double)(us - st.t0_us) / 1000.0 : 0.0; }

static void on_signal(int signo)
{
	(void)signo;
	stop_requested = 1;
}

static void usage(FILE *f)
{
	fprintf(f,
	    "usage: probe [options] http://ADDR[:PORT][/path]\n"
	    "  -i, --interval DUR     start one request every DUR (10ms)\n"
	    "  -d, --duration DUR     stop starting requests after DUR (10s; SIGTERM/SIGINT stop earlier)\n"
	    "  -t, --timeout DUR      per-request deadline, connect and response together (200ms)\n"
	    "  -k, --keepalive        reuse idle keep-alive connections (default: a fresh one each)\n"
	    "  -m, --max-inflight N   connection slots (256); a request finding none fails as busy\n"
	    "  -T, --timeline         print runs of consecutive failures before the totals\n"
	    "DUR takes units: 10ms, 2s, 1m (a bare number is ms). Addresses are numeric.\n");
}

/* Parse "http://ADDR[:PORT][/path]" into opt. 0/-1. */
static int parse_url(const char *url)
{
	const char *p, *slash;
	char hostport[NET_ADDRSTRLEN];
	size_t n;

	if (strncmp(url, "http://", 7) != 0)
		return -1;
	p = url + 7;
	slash = strchr(p, '/');
	n = slash ? (size_t)(slash - p) : strlen(p);
	if (n == 0 || n >= sizeof(hostport))
		return -1;
	memcpy(hostport, p, n);
	hostport[n] = '\0';
	if (net_parse_addr(hostport, 80, &opt.addr, &opt.addrlen) == -1)
		return -1;
	snprintf(opt.host, sizeof(opt.host), "%s", hostport);
	snprintf(opt.path, sizeof(opt.path), "%s", slash ? slash : "/");
	return 0;
}

static int parse_dur_us(const char *s, uint64_t *us)
{
	uint64_t ms;

	if (conf_parse_duration(s, &ms) == -1 || ms == 0 || ms > 3600u * 1000u)
		return -1;
	*us = ms * 1000u;
	return 0;
}

static void record_fail(struct conn *c, uint64_t end_us, enum probe_fail why)
{
	struct fail_rec *nf;

	st.failed++;
	st.by_why[why]++;
	if (st.nfails == st.capfails) {
		size_t cap = st.capfails ? st.capfails * 2 : 1024;

		nf = realloc(st.fails, cap * sizeof(*nf));
		if (nf == NULL)
			return;     /* the totals stay right; only the timeline is short */
		st.fails = nf;
		st.capfails = cap;
	}
	st.fails[st.nfails++] = (struct fail_rec){ c->seq, c->sent_us, end_us, why };
}

static void record_ok(uint64_t end_us)
{
	st.ok++;
	if (end_us > st.last_ok_us && end_us - st.last_ok_us > st.gap_us) {
		st.gap_us = end_us - st.last_ok_us;
		st.gap_from_us = st.last_ok_us;
		st.gap_to_us = end_us;
	}
	if (end_us > st.last_ok_us)
		st.last_ok_us = end_us;
}

static void conn_close(struct conn *c)
{
	if (c->fd != -1) {
		epoll_ctl(st.epfd, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
	}
	c->fd = -1;
	c->state = CONN_FREE;
	c->gen++;
}

static int conn_watch(struct conn *c, uint32_t events, int op)
{
	struct epoll_event ev = { .events = events };

	/* slot index in the low half, generation in the high half */
	ev.data.u64 = ((uint64_t)c->gen << 32) | (uint64_t)(c - st.conns);
	return epoll_ctl(st.epfd, op, c->fd, &ev);
}

/* The request on c is over: count it, then close or park the connection. */
static void conn_finish(struct conn *c, uint64_t t, int failed, enum probe_fail why)
{
	if (failed) {
		record_fail(c, t, why);
		conn_close(c);
		return;
	}
	record_ok(t);
	if (opt.keepalive && c->keep) {
		c->state = CONN_IDLE;
		/* An idle connection is watched for the server closing it (a draining
		 * proxy closes idle keep-alive connections), so the next request does
		 * not pick a dead one when it could have known. */
		if (conn_watch(c, EPOLLIN | EPOLLRDHUP, EPOLL_CTL_MOD) == -1)
			conn_close(c);
		return;
	}
	conn_close(c);
}

static struct conn *slot_find(int want_idle)
{
	int i;

	for (i = 0; i < opt.max_conns; i++) {
		if (want_idle ? st.conns[i].state == CONN_IDLE : st.conns[i].state == CONN_FREE)
			return &st.conns[i];
	}
	return NULL;
}

static void conn_reset_request(struct conn *c, uint64_t seq, uint64_t t)
{
	c->seq = seq;
	c->sent_us = t;
	c->deadline_us = t + opt.timeout_us;
	c->wrote = 0;
	c->head_len = 0;
	c->head_done = 0;
	c->status = 0;
	c->keep = 0;
	c->body_left = -1;
	c->chunked = 0;
	c->tail_len = 0;
	c->body_seen = 0;
}

static void conn_write(struct conn *c, uint64_t t);

/* Start request number seq at time t. */
static void request_start(uint64_t seq, uint64_t t)
{
	struct conn *c = NULL;
	int fd;

	st.total++;
	if (opt.keepalive)
		c = slot_find(1);
	if (c != NULL) {
		conn_reset_request(c, seq, t);
		c->reused = 1;
		c->state = CONN_WRITING;
		conn_write(c, t);
		return;
	}
	c = slot_find(0);
	if (c == NULL) {
		struct conn tmp = { .fd = -1, .seq = seq, .sent_us = t };

		record_fail(&tmp, t, FAIL_BUSY);
		return;
	}
	conn_reset_request(c, seq, t);
	c->reused = 0;
	fd = net_connect_tcp((const struct sockaddr *)&opt.addr, opt.addrlen);
	if (fd == -1) {
		c->fd = -1;
		record_fail(c, t, errno == ECONNREFUSED ? FAIL_REFUSED : FAIL_ERROR);
		return;
	}
	c->fd = fd;
	c->state = CONN_CONNECTING;
	if (conn_watch(c, EPOLLOUT, EPOLL_CTL_ADD) == -1)
		conn_finish(c, t, 1, FAIL_ERROR);
}

static enum probe_fail errno_fail(int err, int connecting)
{
	switch (err) {
	case ECONNREFUSED: return FAIL_REFUSED;
	case ECONNRESET: case EPIPE: return connecting ? FAIL_REFUSED : FAIL_RESET;
	case ETIMEDOUT: case EHOSTUNREACH: case ENETUNREACH:
		return connecting ? FAIL_CONN_TIMEOUT : FAIL_TIMEOUT;
	default: return FAIL_ERROR;
	}
}

static void conn_write(struct conn *c, uint64_t t)
{
	ssize_t n;

	while (c->wrote < st.req_len) {
		n = send(c->fd, st.req + c->wrote, st.req_len - c->wrote, MSG_NOSIGNAL);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				if (conn_watch(c, EPOLLOUT, EPOLL_CTL_MOD) == -1)
					conn_finish(c, t, 1, FAIL_ERROR);
				return;
			}
			conn_finish(c, t, 1, errno_fail(errno, 0));
			return;
		}
		c->wrote += (size_t)n;
	}
	c->state = CONN_READING;
	if (conn_watch(c, EPOLLIN | EPOLLRDHUP, EPOLL_CTL_MOD) == -1)
		conn_finish(c, t, 1, FAIL_ERROR);
}

/* Parse the response head in c->head[0..end) (on a copy: body bytes may
 * follow it in c->head). 0 ok, -1 malformed. */
static int parse_head(struct conn *c, size_t end)
{
	static char copy[PROBE_HEAD_MAX];
	char *line, *next, *colon, *v;
	int minor;

	memcpy(copy, c->head, end);
	copy[end] = '\0';
	if (sscanf(copy, "HTTP/1.%d %3d", &minor, &c->status) != 2)
		return -1;
	c->keep = minor >= 1;
	line = strstr(copy, "\r\n");
	while (line != NULL && line[2] != '\0') {
		line += 2;
		next = strstr(line, "\r\n");
		if (next == NULL)
			break;
		*next = '\0';
		colon = strchr(line, ':');
		if (colon != NULL) {
			*colon = '\0';
			for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
				;
			if (strcasecmp(line, "content-length") == 0)
				c->body_left = strtoll(v, NULL, 10);
			else if (strcasecmp(line, "transfer-encoding") == 0 && strcasestr(v, "chunked"))
				c->chunked = 1;
			else if (strcasecmp(line, "connection") == 0 && strcasestr(v, "close"))
				c->keep = 0;
			else if (strcasecmp(line, "connection") == 0 && strcasestr(v, "keep-alive"))
				c->keep = 1;
		}
		line = next;
	}
	if (c->chunked)
		c->body_left = -1;
	if (c->body_left == -1 && !c->chunked)
		c->keep = 0;     /* close-delimited body */
	if ((c->status >= 100 && c->status < 200) || c->status == 204 || c->status == 304)
		c->body_left = 0, c->chunked = 0;
	return 0;
}

/* Feed body bytes; returns 1 when the body is complete. */
static int body_feed(struct conn *c, const char *p, size_t n)
{
	static const char end[] = "\r\n0\r\n\r\n";
	size_t i;

	if (c->chunked) {
		/* Enough for a probe: the backend's bodies never contain the
		 * terminator, and a chunked body always ends with it (RFC 9112 7.1,
		 * no trailers from our backends). */
		for (i = 0; i < n; i++) {
			if (c->tail_len == sizeof(end) - 1) {
				memmove(c->tail, c->tail + 1, c->tail_len - 1);
				c->tail_len--;
			}
			c->tail[c->tail_len++] = p[i];
		}
		c->body_seen += n;
		if (c->body_seen == 5 && memcmp(c->tail + c->tail_len - 5, end + 2, 5) == 0)
			return 1;    /* an empty chunked body: just the last chunk */
		return c->tail_len == sizeof(end) - 1 && memcmp(c->tail, end, c->tail_len) == 0;
	}
	if (c->body_left < 0)
		return 0;
	c->body_left -= (int64_t)n;
	return c->body_left <= 0;
}

static void conn_read(struct conn *c, uint64_t t)
{
	char buf[16384];
	ssize_t n;
	char *e;
	size_t hl, extra;

	for (;;) {
		n = recv(c->fd, buf, sizeof(buf), 0);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return;
			conn_finish(c, t, 1, errno_fail(errno, 0));
			return;
		}
		if (n == 0) {
			if (c->head_done && c->body_left == -1 && !c->chunked) {
				conn_finish(c, t, c->status < 200 || c->status > 299, FAIL_STATUS);
				return;
			}
			conn_finish(c, t, 1, FAIL_EOF);
			return;
		}
		if (!c->head_done) {
			if (c->head_len + (size_t)n >= PROBE_HEAD_MAX) {
				conn_finish(c, t, 1, FAIL_ERROR);
				return;
			}
			memcpy(c->head + c->head_len, buf, (size_t)n);
			c->head_len += (size_t)n;
			c->head[c->head_len] = '\0';
			e = strstr(c->head, "\r\n\r\n");
			if (e == NULL)
				continue;
			hl = (size_t)(e - c->head) + 4;
			extra = c->head_len - hl;
			if (parse_head(c, hl) == -1) {
				conn_finish(c, t, 1, FAIL_ERROR);
				return;
			}
			c->head_done = 1;
			if (c->body_left == 0 || body_feed(c, c->head + hl, extra)) {
				conn_finish(c, t, c->status < 200 || c->status > 299, FAIL_STATUS);
				return;
			}
			continue;
		}
		if (body_feed(c, buf, (size_t)n)) {
			conn_finish(c, t, c->status < 200 || c->status > 299, FAIL_STATUS);
			return;
		}
	}
}

static void conn_event(struct conn *c, uint32_t events, uint64_t t)
{
	switch (c->state) {
	case CONN_CONNECTING:
		if (net_connect_result(c->fd) == -1) {
			conn_finish(c, t, 1, errno_fail(errno, 1));
			return;
		}
		c->state = CONN_WRITING;
		conn_write(c, t);
		return;
	case CONN_WRITING:
		conn_write(c, t);
		return;
	case CONN_READING:
		conn_read(c, t);
		return;
	case CONN_IDLE:
		/* The server closed (or reset) an idle connection: forget it. */
		(void)events;
		conn_close(c);
		return;
	case CONN_FREE:
		return;
	}
}

/* Requests past their deadline fail now. */
static void expire(uint64_t t)
{
	int i;
	struct conn *c;

	for (i = 0; i < opt.max_conns; i++) {
		c = &st.conns[i];
		if (c->state == CONN_FREE || c->state == CONN_IDLE || t < c->deadline_us)
			continue;
		conn_finish(c, t, 1, c->state == CONN_CONNECTING ? FAIL_CONN_TIMEOUT : FAIL_TIMEOUT);
	}
}

static int busy_count(void)
{
	int i, n = 0;

	for (i = 0; i < opt.max_conns; i++)
		n += st.conns[i].state != CONN_FREE && st.conns[i].state != CONN_IDLE;
	return n;
}

static void print_timeline(void)
{
	size_t i = 0, j;
	uint64_t by[FAIL_MAX];
	int k, first;

	while (i < st.nfails) {
		memset(by, 0, sizeof(by));
		for (j = i; j < st.nfails && st.fails[j].seq == st.fails[i].seq + (j - i); j++)
			by[st.fails[j].why]++;
		printf("fail %9.1f..%9.1f ms  %4zu requests (", rel_ms(st.fails[i].sent_us),
		    rel_ms(st.fails[j - 1].end_us), j - i);
		first = 1;
		for (k = 0; k < FAIL_MAX; k++) {
			if (by[k] == 0)
				continue;
			printf("%s%s %" PRIu64, first ? "" : ", ", probe_fail_name[k], by[k]);
			first = 0;
		}
		printf(")\n");
		i = j;
	}
}

static int fail_cmp(const void *a, const void *b)
{
	const struct fail_rec *x = a, *y = b;

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "interval", required_argument, NULL, 'i' },
		{ "duration", required_argument, NULL, 'd' },
		{ "timeout", required_argument, NULL, 't' },
		{ "keepalive", no_argument, NULL, 'k' },
		{ "max-inflight", required_argument, NULL, 'm' },
		{ "timeline", no_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct epoll_event evs[PROBE_EVENTS];
	struct sigaction sa;
	uint64_t t, next_send, seq = 0, end_us, stop_at, drain_end;
	int ch, n, i, wait_ms, stopping = 0;
	double first_fail = -1, last_fail = -1;
	size_t k;

	opt.interval_us = 10000;
	opt.timeout_us = 200000;
	opt.duration_us = 10000000;
	opt.max_conns = 256;
	while ((ch = getopt_long(argc, argv, "i:d:t:km:Th", lopts, NULL)) != -1) {
		switch (ch) {
		case 'i':
			if (parse_dur_us(optarg, &opt.interval_us) == -1) goto bad;
			break;
		case 'd':
			if (parse_dur_us(optarg, &opt.duration_us) == -1) goto bad;
			break;
		case 't':
			if (parse_dur_us(optarg, &opt.timeout_us) == -1) goto bad;
			break;
		case 'k':
			opt.keepalive = 1;
			break;
		case 'm':
			opt.max_conns = atoi(optarg);
			if (opt.max_conns < 1 || opt.max_conns > 4096) goto bad;
			break;
		case 'T':
			opt.timeline = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			goto bad;
		}
	}
	if (optind != argc - 1 || parse_url(argv[optind]) == -1)
		goto bad;

	st.req_len = (size_t)snprintf(st.req, sizeof(st.req),
	    "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: tandem-probe\r\n%s\r\n",
	    opt.path, opt.host, opt.keepalive ? "" : "Connection: close\r\n");
	if (st.req_len >= sizeof(st.req))
		goto bad;
	st.conns = calloc((size_t)opt.max_conns, sizeof(*st.conns));
	if (st.conns == NULL) {
		perror("probe: calloc");
		return 1;
	}
	for (i = 0; i < opt.max_conns; i++)
		st.conns[i].fd = -1;
	st.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (st.epfd == -1) {
		perror("probe: epoll_create1");
		return 1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	st.t0_us = now_us();
	st.last_ok_us = st.t0_us;
	next_send = st.t0_us;
	stop_at = st.t0_us + opt.duration_us;
	end_us = stop_at;
	drain_end = 0;
	for (;;) {
		t = now_us();
		if (!stopping && (stop_requested || t >= stop_at)) {
			/* Stop starting requests; the ones in flight get their deadline. */
			stopping = 1;
			end_us = t < stop_at ? t : stop_at;
			drain_end = t + opt.timeout_us;
		}
		while (!stopping && t >= next_send) {
			request_start(seq++, next_send);
			next_send += opt.interval_us;
		}
		expire(t);
		if (stopping && (busy_count() == 0 || t >= drain_end))
			break;
		wait_ms = 1;
		if (!stopping && next_send > t)
			wait_ms = (int)((next_send - t + 999) / 1000);
		if (wait_ms > 5)
			wait_ms = 5;     /* deadlines are checked at least every 5 ms */
		n = epoll_wait(st.epfd, evs, PROBE_EVENTS, wait_ms);
		if (n == -1 && errno != EINTR) {
			perror("probe: epoll_wait");
			break;
		}
		t = now_us();
		for (i = 0; i < n; i++) {
			uint32_t idx = (uint32_t)evs[i].data.u64;
			uint32_t gen = (uint32_t)(evs[i].data.u64 >> 32);

			if (idx >= (uint32_t)opt.max_conns || st.conns[idx].gen != gen)
				continue;
			conn_event(&st.conns[idx], evs[i].events, t);
		}
	}
	/* Whatever is still in flight after the drain failed. */
	t = now_us();
	for (i = 0; i < opt.max_conns; i++) {
		struct conn *c = &st.conns[i];

		if (c->state != CONN_FREE && c->state != CONN_IDLE)
			conn_finish(c, t, 1, c->state == CONN_CONNECTING ? FAIL_CONN_TIMEOUT : FAIL_TIMEOUT);
		if (c->state == CONN_IDLE)
			conn_close(c);
	}
	/* The end of the run bounds the last gap, like its start bounds the first. */
	if (end_us > st.last_ok_us && end_us - st.last_ok_us > st.gap_us) {
		st.gap_us = end_us - st.last_ok_us;
		st.gap_from_us = st.last_ok_us;
		st.gap_to_us = end_us;
	}
	if (opt.timeline && st.nfails > 0) {
		qsort(st.fails, st.nfails, sizeof(*st.fails), fail_cmp);
		print_timeline();
	}
	for (k = 0; k < st.nfails; k++) {
		double ms = rel_ms(st.fails[k].sent_us);

		if (first_fail < 0 || ms < first_fail) first_fail = ms;
		if (ms > last_fail) last_fail = ms;
	}
	printf("total=%" PRIu64 " ok=%" PRIu64 " failed=%" PRIu64 " gap_ms=%.1f gap_from_ms=%.1f gap_to_ms=%.1f"
	    " first_fail_ms=%.1f last_fail_ms=%.1f",
	    st.total, st.ok, st.failed, (double)st.gap_us / 1000.0, rel_ms(st.gap_from_us),
	    rel_ms(st.gap_to_us), first_fail, last_fail);
	for (i = 0; i < FAIL_MAX; i++)
		printf(" %s=%" PRIu64, probe_fail_name[i], st.by_why[i]);
	printf("\n");
	fflush(stdout);
	free(st.fails);
	free(st.conns);
	close(st.epfd);
	return 0;
bad:
	usage(stderr);
	return 2;
}
