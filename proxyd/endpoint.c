/*
 * proxyd/endpoint.c — reading, writing and event interest of one socket end,
 * plain or TLS, for both client and backend connections (endpoint.h).
 */
#include "proxyd/endpoint.h"

#include <errno.h>
#include <sys/uio.h>
#include <unistd.h>

#include "lib/log.h"
#include "proxyd/tls.h"

void
ep_init(struct endpoint *ep, struct ev_loop *loop, int fd, ev_io_cb io_cb, ev_defer_cb defer_cb, void *data)
{
	ep->loop = loop;
	buf_init(&ep->in);
	ev_io_init(&ep->io, fd, io_cb, data);
	ev_defer_init(&ep->defer, defer_cb, data);
}

int
ep_want(struct endpoint *ep, int rd, int wr)
{
	uint32_t ev = (rd ? EV_READ : 0) | (wr ? EV_WRITE : 0);

	ep->rd_off = !rd;
	ep->wr_on = (uint8_t)(wr != 0);
	if (ep->ssl != NULL) {
		/* OpenSSL may need the other direction to finish an operation
		 * (proxyd/tls.h): keep that event whatever the HTTP side wants. */
		if (ep->flags & EP_TLS_WR_WANTS_RD)
			ev |= EV_READ;
		if (ep->flags & EP_TLS_RD_WANTS_WR)
			ev |= EV_WRITE;
		/* Plaintext left inside OpenSSL raises no epoll event: read it
		 * from the deferred queue now that reading is wanted again. */
		if (rd && (ep->flags & EP_TLS_MORE))
			ev_defer(ep->loop, &ep->defer);
	}
	if (ev_io_start(ep->loop, &ep->io, ev) == -1) {
		log_warn("fd %d: epoll", ep->io.fd);
		return -1;
	}
	return 0;
}

int
ep_handshake(struct endpoint *ep)
{
	int rc = tls_handshake(ep->ssl);

	if (rc == TLS_OK)
		ep->flags |= EP_TLS_READY;
	else if (rc != TLS_AGAIN_READ && rc != TLS_AGAIN_WRITE)
		ep->flags |= EP_TLS_DEAD;
	return rc;
}

/*
 * Reads TLS records into the space reserved in `in`, until room bytes
 * came (ep_fill(): that space, or less) or OpenSSL stops. OpenSSL
 * decrypts whole records, so when we stop on a full room plaintext may
 * wait inside it with the socket empty, and level-triggered epoll would
 * never say so: EP_TLS_MORE makes the owner come back to it from the
 * deferred queue whenever it wants to read (ep_want(), ep_more()).
 */
ssize_t
ep_fill_tls(struct endpoint *ep, size_t room)
{
	struct buf *in = &ep->in;
	size_t got = 0;
	ssize_t n = 0;

	ep->flags &= (uint8_t)~(EP_TLS_RD_WANTS_WR | EP_TLS_MORE);
	while (got < room) {
		n = tls_read(ep->ssl, buf_wptr(in), room - got);
		if (n <= 0)
			break;
		buf_produce(in, (size_t)n);
		got += (size_t)n;
	}
	if (got == room) {
		if (tls_pending(ep->ssl))
			ep->flags |= EP_TLS_MORE;
		return (ssize_t)got;
	}
	if (n == TLS_AGAIN_WRITE) {
		/* A TLS 1.3 KeyUpdate to answer, say, with the socket full. */
		ep->flags |= EP_TLS_RD_WANTS_WR;
		ep_want(ep, !ep->rd_off, 1);
	}
	if (n == TLS_AGAIN_READ || n == TLS_AGAIN_WRITE)
		return got > 0 ? (ssize_t)got : EP_AGAIN;
	if (got > 0) {
		/* End or error after data: hand the data over first; the
		 * deferred read sees the end again (OpenSSL keeps it). */
		ep->flags |= EP_TLS_MORE;
		return (ssize_t)got;
	}
	if (n == 0)
		return EP_EOF;
	ep->flags |= EP_TLS_DEAD;
	return EP_ERROR;
}

/* Account n written bytes: the head first, then the body. */
static void
out_took(const struct ep_out *q, size_t n, size_t *hw, size_t *bw)
{
	size_t hl = buf_len(q->head) - *q->off;

	if (n <= hl) {
		*q->off += n;
		*hw += n;
		return;
	}
	*q->off += hl;
	*hw += hl;
	buf_consume(q->body, n - hl);
	*q->pass -= n - hl;
	*bw += n - hl;
}

static size_t
out_body_len(const struct ep_out *q)
{
	return q->body != NULL ? *q->pass : 0;
}

/* One writev(2) of head and body. 1 everything is out, 0 some is left,
 * -1 error (errno). */
static int
out_writev(int fd, const struct ep_out *q, size_t *hw, size_t *bw)
{
	struct iovec iov[2];
	size_t hl = buf_len(q->head) - *q->off, pl = out_body_len(q);
	ssize_t w;
	int n = 0;

	if (hl > 0) {
		iov[n].iov_base = buf_rptr(q->head) + *q->off;
		iov[n++].iov_len = hl;
	}
	if (pl > 0) {
		iov[n].iov_base = buf_rptr(q->body);
		iov[n++].iov_len = pl;
	}
	if (n == 0)
		return 1;
	do
		w = writev(fd, iov, n);
	while (w == -1 && errno == EINTR);
	if (w == -1)
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
	out_took(q, (size_t)w, hw, bw);
	return (size_t)w == hl + pl ? 1 : 0;
}

/* The same over TLS: OpenSSL takes one buffer per call, so head then body,
 * one tls_write each, until all is out (TLS_OK) or tls_write says
 * TLS_AGAIN_READ, TLS_AGAIN_WRITE or TLS_ERROR, which is returned. After
 * TLS_AGAIN_* the same bytes are at the front next time (proxyd/tls.h):
 * the offsets move only by what OpenSSL took, and a head only grows while
 * it waits. */
static int
out_tls_write(SSL *ssl, const struct ep_out *q, size_t *hw, size_t *bw)
{
	for (;;) {
		size_t hl = buf_len(q->head) - *q->off;
		const uint8_t *p;
		size_t len;
		ssize_t w;

		if (hl > 0) {
			p = buf_rptr(q->head) + *q->off;
			len = hl;
		} else if (out_body_len(q) > 0) {
			p = buf_rptr(q->body);
			len = *q->pass;
		} else {
			return TLS_OK;
		}
		w = tls_write(ssl, p, len);
		if (w <= 0)
			return w == 0 ? TLS_ERROR : (int)w;
		out_took(q, (size_t)w, hw, bw);
	}
}

static int
flush_tls(struct endpoint *ep, const struct ep_out *q, unsigned opts, size_t *hw, size_t *bw)
{
	size_t hl = buf_len(q->head) - *q->off;
	int rc;

	if ((opts & EP_COALESCE) && hl > 0 && out_body_len(q) > 0 && hl + *q->pass <= 16384 &&
	    buf_append(q->head, buf_rptr(q->body), *q->pass) == 0) {
		buf_consume(q->body, *q->pass);
		*q->pass = 0;
	}
	rc = out_tls_write(ep->ssl, q, hw, bw);
	/* Only a write that stopped on TLS_AGAIN_READ waits for readability. */
	if (rc == TLS_AGAIN_READ)
		ep->flags |= EP_TLS_WR_WANTS_RD;
	else if (*hw + *bw > 0 || rc == TLS_AGAIN_WRITE)
		ep->flags &= (uint8_t)~EP_TLS_WR_WANTS_RD;
	if (rc == TLS_AGAIN_WRITE || rc == TLS_AGAIN_READ) {
		ep_want(ep, !ep->rd_off, rc == TLS_AGAIN_WRITE ? 1 : ep->wr_on);
		return 0;
	}
	if (rc != TLS_OK) {
		ep->flags |= EP_TLS_DEAD;   /* no close_notify after a fatal error */
		return -1;
	}
	if (ep->wr_on)
		ep_want(ep, !ep->rd_off, 0);
	return 1;
}

int
ep_flush(struct endpoint *ep, const struct ep_out *q, unsigned opts, size_t *hw, size_t *bw)
{
	int rc;

	*hw = *bw = 0;
	if (ep->ssl != NULL)
		return flush_tls(ep, q, opts, hw, bw);
	rc = out_writev(ep->io.fd, q, hw, bw);
	if (rc == -1)
		return -1;
	if (rc == 0) {
		ep_want(ep, !ep->rd_off, 1);
		return 0;
	}
	if (ep->wr_on)
		ep_want(ep, !ep->rd_off, 0);
	return 1;
}

const char *
ep_tls_error(const struct endpoint *ep, char *buf, size_t len)
{
	return tls_conn_error(ep->ssl, buf, len);
}

void
ep_tls_end(struct endpoint *ep)
{
	if (ep->ssl == NULL)
		return;
	ev_defer_cancel(ep->loop, &ep->defer);
	if ((ep->flags & (EP_TLS_READY | EP_TLS_DEAD)) == EP_TLS_READY)
		(void)tls_shutdown(ep->ssl);
	tls_conn_free(ep->ssl);
	ep->ssl = NULL;
	ep->flags = 0;
}
