/*
 * hacd/stream.c — framed unix-socket connections for hacd's two local
 * servers (hacd/ctl.c for hactl, hacd/channel.c for proxyd). Both speak
 * length-prefixed protobuf (lib/frame); this file owns the socket plumbing
 * so the servers only see whole frames and one close notification.
 */
#include "hacd/stream.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#define STREAM_MAX_OUT (4u << 20)

static void reap_cb(struct ev_loop *loop, struct ev_defer *d)
{
	struct stream *s = d->data;

	(void)loop;
	frame_conn_fini(&s->fc);
	free(s);
}

void stream_close(struct stream *s)
{
	if (s->closing)
		return;
	s->closing = 1;
	ev_io_stop(s->loop, &s->io);
	if (s->on_close != NULL)
		s->on_close(s);
	ev_defer(s->loop, &s->reap);
}

static void flush(struct stream *s)
{
	int rc = frame_flush(&s->fc);

	if (rc == -1) {
		stream_close(s);
		return;
	}
	ev_io_start(s->loop, &s->io, rc == 0 ? EV_READ | EV_WRITE : EV_READ);
}

static void io_cb(struct ev_loop *loop, struct ev_io *w, uint32_t revents)
{
	struct stream *s = w->data;
	const uint8_t *msg;
	size_t len;
	int rc;

	(void)loop;
	if (revents & EV_WRITE) {
		flush(s);
		if (s->closing)
			return;
	}
	if (!(revents & EV_READ))
		return;
	rc = frame_read(&s->fc);
	for (;;) {
		int got = frame_next(&s->fc, &msg, &len);

		if (got == -1) {
			stream_close(s);
			return;
		}
		if (got == 0)
			break;
		s->on_frame(s, msg, len);
		if (s->closing)
			return;
	}
	if (rc <= 0)
		stream_close(s);
}

struct stream *stream_new(struct ev_loop *loop, int fd, stream_frame_cb on_frame,
    stream_close_cb on_close, void *data)
{
	struct stream *s = calloc(1, sizeof(*s));

	if (s == NULL) {
		close(fd);
		return NULL;
	}
	s->loop = loop;
	s->on_frame = on_frame;
	s->on_close = on_close;
	s->data = data;
	s->max_out = STREAM_MAX_OUT;
	frame_conn_init(&s->fc, fd);
	ev_io_init(&s->io, fd, io_cb, s);
	ev_defer_init(&s->reap, reap_cb, s);
	if (ev_io_start(loop, &s->io, EV_READ) == -1) {
		frame_conn_fini(&s->fc);
		free(s);
		return NULL;
	}
	return s;
}

int stream_send(struct stream *s, const void *msg, size_t len)
{
	if (s->closing)
		return -1;
	if (frame_pending(&s->fc) + len > s->max_out || frame_queue(&s->fc, msg, len) == -1) {
		stream_close(s);
		return -1;
	}
	flush(s);
	return s->closing ? -1 : 0;
}
