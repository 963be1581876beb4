/*
 * hacd/stream.h — one framed unix-socket connection driven by hacd's loop,
 * shared by the control socket (hacd/ctl.c) and the proxyd channel
 * (hacd/channel.c): lib/frame framing, speculative writes with EV_WRITE
 * armed only on EAGAIN, and a close that frees from the deferred queue so
 * no callback ever runs on freed memory.
 */
#ifndef TANDEM_HACD_STREAM_H
#define TANDEM_HACD_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "lib/ev.h"
#include "lib/frame.h"

struct stream;
/* A complete frame; msg is valid only during the call. */
typedef void (*stream_frame_cb)(struct stream *s, const uint8_t *msg, size_t len);
/* The stream is closing (EOF, error, oversize frame or stream_close); called
 * once. The memory stays valid until the deferred queue runs. */
typedef void (*stream_close_cb)(struct stream *s);

struct stream {
	struct ev_loop *loop;
	struct frame_conn fc;
	struct ev_io io;
	struct ev_defer reap;
	int closing;
	size_t max_out;           /* close instead of queueing beyond this (slow reader) */
	stream_frame_cb on_frame;
	stream_close_cb on_close;
	void *data;               /* the owner's */
	struct stream *next;      /* the owner's list */
};

/* Adopt fd (nonblocking; closed by the stream) and start reading. Returns
 * the stream, or NULL (fd closed) on allocation or epoll failure. */
struct stream *stream_new(struct ev_loop *loop, int fd, stream_frame_cb on_frame,
    stream_close_cb on_close, void *data);
/* Queue one frame and try to write it at once. 0, or -1 (closing, too much
 * queued, or a write error: the stream is then being closed). */
int stream_send(struct stream *s, const void *msg, size_t len);
/* Close: stop reading, call on_close once, free from the deferred queue.
 * Idempotent. */
void stream_close(struct stream *s);

#endif /* TANDEM_HACD_STREAM_H */
