/*
 * lib/frame.c — length-prefixed messages over stream sockets.
 *
 * The local channel between proxyd and hacd and the control socket between
 * hactl and hacd both carry protobuf messages (proto/tandem.proto), which do
 * not delimit themselves; each is sent as a 4-byte big-endian length and the
 * message bytes. The length is checked against FRAME_MAX before anything is
 * buffered for it, so a confused or hostile peer cannot make us allocate more
 * than a frame. The event-loop side (frame_read/next/queue/flush) never
 * blocks; hactl uses the *_blocking pair with a deadline.
 */
#include "lib/frame.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Bytes read per frame_read call at most: bounds one connection's share of
 * an iteration; a level-triggered loop calls again if more is waiting. */
#define FRAME_READ_BUDGET (64u * 1024u)
#define FRAME_READ_CHUNK  (16u * 1024u)

void
frame_conn_init(struct frame_conn *fc, int fd)
{
	fc->fd = fd;
	buf_init(&fc->in);
	buf_init(&fc->out);
	buf_set_wipe(&fc->in);
	buf_set_wipe(&fc->out);
	fc->held = 0;
}

/* The frame handed out last is done with: consume (and wipe) it. */
static void
drop_held(struct frame_conn *fc)
{
	if (fc->held > 0) {
		buf_consume(&fc->in, fc->held);
		fc->held = 0;
	}
}

void
frame_conn_fini(struct frame_conn *fc)
{
	fc->held = 0;
	buf_fini(&fc->in);
	buf_fini(&fc->out);
	if (fc->fd >= 0)
		close(fc->fd);
	fc->fd = -1;
}

int
frame_read(struct frame_conn *fc)
{
	size_t total = 0;

	drop_held(fc);
	while (total < FRAME_READ_BUDGET) {
		if (buf_reserve(&fc->in, FRAME_READ_CHUNK) == -1)
			return -1;
		ssize_t n = read(fc->fd, buf_wptr(&fc->in), buf_avail(&fc->in));
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			return -1;
		}
		if (n == 0)
			return 0;
		buf_produce(&fc->in, (size_t)n);
		total += (size_t)n;
		if ((size_t)n < FRAME_READ_CHUNK)
			break;   /* short read: the socket is drained */
	}
	return 1;
}

int
frame_next(struct frame_conn *fc, const uint8_t **msg, size_t *len)
{
	size_t have;
	const uint8_t *p;

	drop_held(fc);
	have = buf_len(&fc->in);
	p = buf_rptr(&fc->in);
	if (have < FRAME_HDR_LEN) {
		buf_release_if_empty(&fc->in);
		return 0;
	}
	uint32_t n = get_u32be(p);
	if (n > FRAME_MAX) {
		errno = EMSGSIZE;
		return -1;
	}
	if (have - FRAME_HDR_LEN < n)
		return 0;
	*msg = p + FRAME_HDR_LEN;
	*len = n;
	/* Consumed (and wiped) at the next frame_* call: the bytes stay where
	 * *msg points until then. */
	fc->held = FRAME_HDR_LEN + (size_t)n;
	return 1;
}

int
frame_queue(struct frame_conn *fc, const void *msg, size_t len)
{
	uint8_t hdr[FRAME_HDR_LEN];

	if (len > FRAME_MAX) {
		errno = EMSGSIZE;
		return -1;
	}
	if (buf_reserve(&fc->out, FRAME_HDR_LEN + len) == -1)
		return -1;
	put_u32be(hdr, (uint32_t)len);
	buf_append(&fc->out, hdr, sizeof(hdr));
	buf_append(&fc->out, msg, len);
	return 0;
}

/* send(MSG_NOSIGNAL) so a vanished peer is EPIPE, not SIGPIPE; write(2) for
 * fds that are not sockets (pipes in tests). */
static ssize_t
send_some(int fd, const void *p, size_t n)
{
	ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
	if (w == -1 && errno == ENOTSOCK)
		w = write(fd, p, n);
	return w;
}

int
frame_flush(struct frame_conn *fc)
{
	while (buf_len(&fc->out) > 0) {
		ssize_t w = send_some(fc->fd, buf_rptr(&fc->out), buf_len(&fc->out));
		if (w == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return -1;
		}
		buf_consume(&fc->out, (size_t)w);
	}
	buf_release_if_empty(&fc->out);
	return 1;
}

size_t
frame_pending(const struct frame_conn *fc)
{
	return buf_len(&fc->out);
}

/* ---- blocking pair (hactl) ----------------------------------------------------- */

static uint64_t
mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

#define NO_DEADLINE UINT64_MAX

/* Wait for `events` on fd until deadline (NO_DEADLINE: forever). 0 ready,
 * -1 error or ETIMEDOUT. A deadline already past still polls once. */
static int
wait_fd(int fd, short events, uint64_t deadline)
{
	for (;;) {
		int t = -1;
		if (deadline != NO_DEADLINE) {
			uint64_t now = mono_ms();
			uint64_t left = deadline > now ? deadline - now : 0;
			t = left > 1000000000u ? 1000000000 : (int)left;
		}
		struct pollfd pfd = { .fd = fd, .events = events, .revents = 0 };
		int r = poll(&pfd, 1, t);
		if (r == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 1)
			return 0;
		if (deadline != NO_DEADLINE && mono_ms() >= deadline) {
			errno = ETIMEDOUT;
			return -1;
		}
	}
}

static int
write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send_some(fd, p, n);
		if (w == -1) {
			if (errno == EINTR)
				continue;
			if ((errno == EAGAIN || errno == EWOULDBLOCK) && wait_fd(fd, POLLOUT, NO_DEADLINE) == 0)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int
frame_send_blocking(int fd, const void *msg, size_t len)
{
	uint8_t hdr[FRAME_HDR_LEN];

	if (len > FRAME_MAX) {
		errno = EMSGSIZE;
		return -1;
	}
	put_u32be(hdr, (uint32_t)len);
	if (write_all(fd, hdr, sizeof(hdr)) == -1)
		return -1;
	return write_all(fd, msg, len);
}

static int
read_all(int fd, uint8_t *p, size_t n, uint64_t deadline)
{
	while (n > 0) {
		/* Poll first so the deadline holds on a blocking fd too. */
		if (wait_fd(fd, POLLIN, deadline) == -1)
			return -1;
		ssize_t r = read(fd, p, n);
		if (r == -1) {
			if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
				continue;
			return -1;
		}
		if (r == 0) {
			errno = ECONNRESET;
			return -1;
		}
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

int
frame_recv_blocking(int fd, uint8_t **msg, size_t *len, int timeout_ms)
{
	uint8_t hdr[FRAME_HDR_LEN];
	uint64_t deadline = timeout_ms >= 0 ? mono_ms() + (uint64_t)timeout_ms : NO_DEADLINE;

	if (read_all(fd, hdr, sizeof(hdr), deadline) == -1)
		return -1;
	uint32_t n = get_u32be(hdr);
	if (n > FRAME_MAX) {
		errno = EMSGSIZE;
		return -1;
	}
	uint8_t *body = malloc(n > 0 ? n : 1);
	if (body == NULL)
		return -1;
	if (read_all(fd, body, n, deadline) == -1) {
		int e = errno;
		free(body);
		errno = e;
		return -1;
	}
	*msg = body;
	*len = n;
	return 0;
}
