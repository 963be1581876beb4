/*
 * proxyd/endpoint.h — one socket end of the request path, the same type on
 * both sides: embedded in a client connection (struct conn) and in a
 * backend connection (struct bconn), the way nginx's ngx_connection_t sits
 * under both a request and an upstream.
 *
 * An endpoint holds what moving bytes through a socket needs and nothing
 * about HTTP: the fd watcher, the input buffer, the TLS state (one flag
 * set, whichever side it is), which events are wanted, and the deferred
 * entry that reads plaintext left inside OpenSSL. Reading (ep_fill),
 * writing a head and a body (ep_flush), arming events (ep_want), the
 * handshake and the TLS close live here once; what differs between the
 * sides (timers, counters, what an error means) stays with the caller.
 *
 * The plain path costs what it did before the split: the flag set is 0 on
 * plain sockets, so the TLS tests below are one predictable branch each.
 */
#ifndef PROXYD_ENDPOINT_H
#define PROXYD_ENDPOINT_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/ev.h"

struct ssl_st;

struct endpoint {
	struct ev_io io;
	/* TLS only (NULL otherwise): the OpenSSL connection on io.fd. The plain
	 * path tests it once per read and per write; it sits beside io.fd, in
	 * the cache line every event touches anyway. */
	struct ssl_st *ssl;
	struct ev_loop *loop;
	struct buf in;
	struct ev_defer defer;          /* plaintext left inside OpenSSL (EP_TLS_MORE) */
	uint8_t rd_off;                 /* EV_READ lazily removed (level-triggered backpressure) */
	uint8_t wr_on;                  /* EV_WRITE armed */
	uint8_t flags;                  /* EP_* below; 0 on plain sockets */
};

/* ep->flags: where a TLS endpoint stands (proxyd/tls.h's event-loop contract). */
#define EP_TLS_READY       0x01u    /* handshake complete: close_notify is owed at the end */
#define EP_TLS_RD_WANTS_WR 0x02u    /* the last tls_read needs writability */
#define EP_TLS_WR_WANTS_RD 0x04u    /* the last tls_write needs readability */
#define EP_TLS_MORE        0x08u    /* stopped reading with data maybe left inside OpenSSL */
#define EP_TLS_DEAD        0x10u    /* a fatal TLS error: no close_notify */
#define EP_TCP_UP          0x20u    /* outgoing TLS: TCP connected, handshake running */

/* ep_fill() results besides a byte count (> 0). */
#define EP_EOF    0                 /* end of stream */
#define EP_ERROR  (-1)              /* read error (TLS: the session is dead, ep_tls_error() says why) */
#define EP_AGAIN  (-2)              /* nothing to read for now */

/*
 * What one direction of an exchange has to write: a head (a response head
 * proxyd made, or a rewritten request head) from *off, then *pass bytes
 * from the front of body, passed through as they arrived (body may be NULL
 * when *pass is 0).
 */
struct ep_out {
	struct buf *head;
	size_t *off;
	struct buf *body;
	size_t *pass;
};

/* Prepares ep on fd (not yet watched): io and deferred callbacks get data. */
void ep_init(struct endpoint *ep, struct ev_loop *loop, int fd, ev_io_cb io_cb, ev_defer_cb defer_cb, void *data);

/* Sets which events ep waits for (EV_READ, EV_WRITE). Over TLS the event an
 * unfinished OpenSSL operation waits for is kept whatever is asked, and
 * asking to read again with plaintext inside OpenSSL queues the deferred
 * read. 0, or -1 when epoll refused (logged here). */
int ep_want(struct endpoint *ep, int rd, int wr);

/* One step of the TLS handshake: TLS_OK (EP_TLS_READY set), TLS_AGAIN_READ,
 * TLS_AGAIN_WRITE, or TLS_ERROR (EP_TLS_DEAD set). */
int ep_handshake(struct endpoint *ep);

/* ep_fill() over TLS, at most room bytes (no more than the reserved
 * space; out of line: the plain path stays inline). */
ssize_t ep_fill_tls(struct endpoint *ep, size_t room);

/* Reads into the space already reserved in ep->in, at most max bytes
 * (SIZE_MAX: all of it; buf_produce done here): a byte count, EP_EOF,
 * EP_ERROR or EP_AGAIN. Over TLS, stopping on a full buffer (or max) with
 * plaintext left inside OpenSSL sets EP_TLS_MORE (see ep_more()), and an
 * end or an error after data is handed over next time. */
static inline ssize_t
ep_fill(struct endpoint *ep, size_t max)
{
	size_t want = buf_avail(&ep->in) < max ? buf_avail(&ep->in) : max;
	ssize_t n;

	if (ep->ssl != NULL)
		return ep_fill_tls(ep, want);
	do
		n = read(ep->io.fd, buf_wptr(&ep->in), want);
	while (n == -1 && errno == EINTR);
	if (n > 0) {
		buf_produce(&ep->in, (size_t)n);
		return n;
	}
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return EP_AGAIN;
	return n == 0 ? EP_EOF : EP_ERROR;
}

/* ep_flush() options. */
#define EP_COALESCE 0x1u            /* TLS: a head and a small body go out as one record */

/*
 * Writes q (head, then body) to ep: one writev(2) on a plain socket, one
 * tls_write per buffer over TLS (the same bytes in front again after
 * TLS_AGAIN_*, proxyd/tls.h). 1 everything is out (EV_WRITE disarmed if it
 * was armed), 0 some is left (the event it waits for armed), -1 error (TLS:
 * EP_TLS_DEAD set). *hw, *bw: head and body bytes written. EP_COALESCE
 * copies a small body behind the head first: the copy costs less than a
 * second record and a second write(2).
 */
int ep_flush(struct endpoint *ep, const struct ep_out *q, unsigned opts, size_t *hw, size_t *bw);

/* On an io event: whether the write side (a pending write, or a TLS read
 * that waits for writability's opposite) should be retried now, and the
 * read side likewise. On plain sockets these are revents & EV_WRITE and
 * revents & EV_READ. */
static inline int
ep_write_ready(const struct endpoint *ep, uint32_t revents)
{
	return (revents & EV_WRITE) || ((revents & EV_READ) && (ep->flags & EP_TLS_WR_WANTS_RD));
}

static inline int
ep_read_ready(const struct endpoint *ep, uint32_t revents)
{
	return (revents & EV_READ) || ((revents & EV_WRITE) && (ep->flags & EP_TLS_RD_WANTS_WR));
}

/* Plaintext may wait inside OpenSSL while reading is wanted: the owner
 * must read from the deferred queue, since epoll cannot see it. */
static inline int
ep_more(const struct endpoint *ep)
{
	return (ep->flags & EP_TLS_MORE) && !ep->rd_off;
}

/* Why the last TLS operation on ep failed (right after it, same thread). */
const char *ep_tls_error(const struct endpoint *ep, char *buf, size_t len);

/* Ends TLS on ep: one attempt at close_notify (RFC 8446 §6.1) when the
 * session is in good standing (nobody waits for the peer's), then the
 * OpenSSL object is freed. The socket stays open. */
void ep_tls_end(struct endpoint *ep);

#endif
