/*
 * lib/httpget.c — the admin listeners' HTTP/1.x GET responder (lib/httpget.h).
 *
 * One request per connection: read until the head ends (CRLF CRLF, or bare
 * LF LF from hand-typed clients), parse the request line strictly, let the
 * owner build the whole answer, write it with Connection: close, close.
 * Connections are freed from a deferred callback, never inside their own
 * I/O callback (lib/ev's rule). Everything runs on the owner's loop.
 */
#include "lib/httpget.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/net.h"

#define HTTPGET_DEFAULT_CAP 16

struct hconn {
	struct ev_io io;
	struct ev_timer timer;
	struct buf in, out;
	int replied;                /* the answer is queued: read no more, close once written */
	struct httpget *hg;
	struct hconn *next;
};

struct httpget {
	struct ev_loop *loop;
	struct ev_io lio;
	char *name;
	httpget_handler handler;
	httpget_cap_fn cap;
	void *arg;
	struct hconn *conns;
	struct hconn *reap;
	struct ev_defer reap_defer;
	uint32_t nopen;
	_Atomic uint64_t refused, bad;
	struct log_ratelimit rl;
};

uint64_t httpget_refused(const struct httpget *hg)
{
	return hg != NULL ? atomic_load_explicit(&hg->refused, memory_order_relaxed) : 0;
}

uint64_t httpget_bad_requests(const struct httpget *hg)
{
	return hg != NULL ? atomic_load_explicit(&hg->bad, memory_order_relaxed) : 0;
}

int httpget_parse(const char *p, size_t len, char *path, size_t pathsz)
{
	struct buf_reader r;
	const uint8_t *t, *eol;
	size_t tl, ll;
	uint32_t minor;
	const char *qm;

	/* The input buffer holds bytes as read, with no NUL after them:
	 * everything below stays within len. */
	if (len == 0 || (eol = memchr(p, '\n', len)) == NULL)
		return -1;
	ll = (size_t)(eol - (const uint8_t *)p);
	if (ll > 0 && p[ll - 1] == '\r')
		ll--;
	br_init(&r, p, ll);
	br_lit(&r, "GET ");
	t = br_until(&r, ' ', &tl);
	br_lit(&r, " HTTP/1.");
	br_dec(&r, 1, 1, &minor);
	if (r.err || br_left(&r) != 0 || tl == 0 || t[0] != '/' || memchr(t, '\0', tl) != NULL)
		return -1;
	if ((qm = memchr(t, '?', tl)) != NULL)
		tl = (size_t)(qm - (const char *)t);
	if (tl >= pathsz)
		return -1;
	memcpy(path, t, tl);
	path[tl] = '\0';
	return 0;
}

static void hconn_close(struct hconn *c)
{
	struct httpget *hg = c->hg;
	struct hconn **pp;

	ev_io_stop(hg->loop, &c->io);
	ev_timer_stop(hg->loop, &c->timer);
	close(c->io.fd);
	hg->nopen--;
	for (pp = &hg->conns; *pp != NULL; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	c->next = hg->reap;
	hg->reap = c;
	ev_defer(hg->loop, &hg->reap_defer);
}

static void reap_cb(struct ev_loop *loop, struct ev_defer *d)
{
	struct httpget *hg = d->data;

	(void)loop;
	while (hg->reap != NULL) {
		struct hconn *c = hg->reap;

		hg->reap = c->next;
		buf_fini(&c->in);
		buf_fini(&c->out);
		free(c);
	}
}

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 404: return "Not Found";
	case 503: return "Service Unavailable";
	}
	return "Bad Request";
}

static void reply(struct hconn *c, int status, const char *ctype, const struct buf *body, const char *text)
{
	size_t blen = body != NULL ? buf_len(body) : strlen(text);

	if (status != 200 && status != 404 && status != 503)
		status = 400;
	buf_appendf(&c->out, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
	    status, reason(status), ctype, blen);
	buf_append(&c->out, body != NULL ? (const void *)buf_rptr(body) : (const void *)text, blen);
	c->replied = 1;
}

/* Write what is queued; close once all of it is out. */
static void flush(struct hconn *c)
{
	while (buf_len(&c->out) > 0) {
		ssize_t n = write(c->io.fd, buf_rptr(&c->out), buf_len(&c->out));

		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				ev_io_start(c->hg->loop, &c->io, EV_WRITE);
				return;
			}
			hconn_close(c);
			return;
		}
		buf_consume(&c->out, (size_t)n);
	}
	hconn_close(c);
}

static void handle(struct hconn *c)
{
	struct httpget *hg = c->hg;
	const char *p = (const char *)buf_rptr(&c->in), *ctype = "text/plain";
	size_t len = buf_len(&c->in);
	char path[256];
	struct buf body;
	int status;

	if (memmem(p, len, "\r\n\r\n", 4) == NULL && memmem(p, len, "\n\n", 2) == NULL) {
		if (len >= HTTPGET_MAX_IN) {
			atomic_fetch_add_explicit(&hg->bad, 1, memory_order_relaxed);
			reply(c, 400, "text/plain", NULL, "request too large\n");
		}
		return;
	}
	if (httpget_parse(p, len, path, sizeof(path)) == -1) {
		atomic_fetch_add_explicit(&hg->bad, 1, memory_order_relaxed);
		reply(c, 400, "text/plain", NULL, "only GET is supported\n");
		return;
	}
	buf_init(&body);
	status = hg->handler(hg->arg, path, &body, &ctype);
	reply(c, status, ctype != NULL ? ctype : "text/plain", &body, NULL);
	buf_fini(&body);
}

static void conn_io(struct ev_loop *loop, struct ev_io *w, uint32_t revents)
{
	struct hconn *c = w->data;
	ssize_t n;

	(void)loop;
	if (c->replied) {
		if (revents & EV_WRITE)
			flush(c);
		return;
	}
	if (buf_reserve(&c->in, 1024) == -1) {
		hconn_close(c);
		return;
	}
	n = read(c->io.fd, buf_wptr(&c->in), buf_avail(&c->in));
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		hconn_close(c);
		return;
	}
	buf_produce(&c->in, (size_t)n);
	handle(c);
	if (c->replied)
		flush(c);
}

static void conn_timeout(struct ev_loop *loop, struct ev_timer *t)
{
	(void)loop;
	hconn_close(t->data);
}

static void accept_cb(struct ev_loop *loop, struct ev_io *w, uint32_t revents)
{
	struct httpget *hg = w->data;
	uint32_t cap = hg->cap != NULL ? hg->cap(hg->arg) : HTTPGET_DEFAULT_CAP;

	(void)revents;
	for (int i = 0; i < 16; i++) {
		int fd = net_accept(w->fd, NULL, NULL);
		struct hconn *c;

		if (fd == -1)
			return;
		/* Past the cap the newcomer is closed at once (so the backlog
		 * drains) and counted; those open finish within their timeout. */
		if (hg->nopen >= cap) {
			atomic_fetch_add_explicit(&hg->refused, 1, memory_order_relaxed);
			log_rl_warnx(&hg->rl, ev_now(loop), "%s: %u connections open (max_connections): refusing more",
			    hg->name, cap);
			close(fd);
			continue;
		}
		if ((c = calloc(1, sizeof(*c))) == NULL) {
			close(fd);
			return;
		}
		hg->nopen++;
		c->hg = hg;
		buf_init(&c->in);
		buf_init(&c->out);
		ev_io_init(&c->io, fd, conn_io, c);
		ev_timer_init(&c->timer, conn_timeout, c);
		c->next = hg->conns;
		hg->conns = c;
		ev_io_start(loop, &c->io, EV_READ);
		ev_timer_start(loop, &c->timer, HTTPGET_TIMEOUT_MS);
	}
}

struct httpget *httpget_new(struct ev_loop *loop, const char *addr, const char *name,
    httpget_handler h, httpget_cap_fn cap, void *arg)
{
	struct sockaddr_storage ss;
	struct httpget *hg;
	socklen_t len;
	int fd;

	if (net_parse_addr(addr, -1, &ss, &len) == -1) {
		log_warnx("%s: bad address %s", name, addr);
		return NULL;
	}
	if ((hg = calloc(1, sizeof(*hg))) == NULL || (hg->name = strdup(name)) == NULL) {
		log_warnx("%s: out of memory", name);
		free(hg);
		return NULL;
	}
	if ((fd = net_listen_tcp((struct sockaddr *)&ss, len, 0, 64)) == -1) {
		log_warn("%s %s", name, addr);
		free(hg->name);
		free(hg);
		return NULL;
	}
	hg->loop = loop;
	hg->handler = h;
	hg->cap = cap;
	hg->arg = arg;
	hg->rl.interval_ms = 5000;
	ev_defer_init(&hg->reap_defer, reap_cb, hg);
	ev_io_init(&hg->lio, fd, accept_cb, hg);
	if (ev_io_start(loop, &hg->lio, EV_READ) == -1) {
		log_warn("%s %s: epoll", name, addr);
		close(fd);
		free(hg->name);
		free(hg);
		return NULL;
	}
	log_info("%s on %s", name, addr);
	return hg;
}

void httpget_free(struct httpget *hg)
{
	if (hg == NULL)
		return;
	ev_io_stop(hg->loop, &hg->lio);
	close(hg->lio.fd);
	while (hg->conns != NULL)
		hconn_close(hg->conns);
	ev_defer_cancel(hg->loop, &hg->reap_defer);
	reap_cb(hg->loop, &hg->reap_defer);
	free(hg->name);
	free(hg);
}
