/*
 * lib/frame.h — length-prefixed messages over stream sockets.
 *
 * The local channel (proxyd <-> hacd) and the control socket (hactl <-> hacd)
 * carry protobuf messages, each preceded by its length as a 4-byte big-endian
 * integer; a frame body is at most FRAME_MAX bytes. A frame_conn is driven by
 * an event loop (nonblocking fd); the *_blocking pair is for hactl.
 */
#ifndef TANDEM_LIB_FRAME_H
#define TANDEM_LIB_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

#define FRAME_HDR_LEN 4
#define FRAME_MAX     (1u << 20)   /* 1 MiB body */

/* held: the bytes of the frame frame_next handed out last, consumed (and
 * so wiped) at the next frame_* call. */
struct frame_conn { int fd; struct buf in; struct buf out; size_t held; };

/* Takes ownership of fd (may be -1). Both buffers are in wipe mode
 * (buf_set_wipe): the local channel carries TLS ticket keys, and no frame's
 * bytes may stay behind in memory that is reused or freed. */
void frame_conn_init(struct frame_conn *fc, int fd);
void frame_conn_fini(struct frame_conn *fc);          /* fini frees buffers, closes fd if >= 0 */
/* Read what's available (bounded per call; level-triggered loops call again).
 * 1 read something or nothing pending (EAGAIN), 0 EOF, -1 error (errno set). */
int frame_read(struct frame_conn *fc);
/* Next complete frame from the input buffer: 1 got a frame (*msg, *len valid
 * until the next frame_* call; len may be 0), 0 need more bytes, -1 oversized
 * length (> FRAME_MAX): the stream is unusable, close it. */
int frame_next(struct frame_conn *fc, const uint8_t **msg, size_t *len);
/* Append header + copy of msg to the output buffer. 0 ok, -1 len > FRAME_MAX
 * (EMSGSIZE) or ENOMEM. Nothing is written until frame_flush. */
int frame_queue(struct frame_conn *fc, const void *msg, size_t len);
/* Write queued bytes (MSG_NOSIGNAL: a closed peer is -1/EPIPE, never SIGPIPE).
 * 1 all flushed (buffer released), 0 pending (caller arms EV_WRITE), -1 error. */
int frame_flush(struct frame_conn *fc);
/* Bytes queued and not yet written. */
size_t frame_pending(const struct frame_conn *fc);

/* Send one frame, waiting (poll) as needed; works on blocking and nonblocking
 * fds. 0 ok, -1 error (EMSGSIZE if len > FRAME_MAX). */
int frame_send_blocking(int fd, const void *msg, size_t len);
/* Receive one frame within timeout_ms for the whole frame (-1: no limit).
 * 0 ok: *msg is malloc'd (caller frees; non-NULL even when *len == 0).
 * -1 error: ETIMEDOUT, EMSGSIZE (oversize length), ECONNRESET (EOF, also
 * mid-frame), or the read error. */
int frame_recv_blocking(int fd, uint8_t **msg, size_t *len, int timeout_ms);

#endif
