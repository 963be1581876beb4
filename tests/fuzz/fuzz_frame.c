/*
 * tests/fuzz/fuzz_frame.c — libFuzzer harness for lib/frame's stream
 * decoder, the first code that touches every byte proxyd sends hacd on
 * hacd.chan, hacd sends proxyd, and hactl sends hacd's control socket.
 *
 * The input is the byte stream, written into a nonblocking pipe in pieces
 * whose sizes come from a generator seeded by the input (so the same bytes
 * arrive split at different points), read with frame_read() and cut with
 * frame_next() as proxyd/channel.c and hacd/stream.c do. A reference
 * decoder, written here from the format in lib/frame.h (4-byte big-endian
 * length, body at most FRAME_MAX), decides what the stream holds; the
 * harness checks the real decoder hands out exactly those frames, in order,
 * with exactly those bytes, however the stream was split, and refuses an
 * oversized length at the same frame. Every frame is then queued again
 * (frame_queue): the output buffer must equal the input it came from.
 *
 * Seeds: tests/fuzz/corpus/frame/ are channel streams captured from the real
 * daemons (tests/fuzz/corpus/README says how).
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_frame: invariant broken: %s\n", what);
		abort();
	}
}

/* xorshift, seeded from the input: piece sizes that vary with the data. */
static uint32_t next_rand(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct frame_conn fc;
	size_t ref_off = 0, sent = 0;
	uint32_t seed = 2166136261u;
	int pfd[2], oversized = 0, ref_oversized = 0;

	for (size_t i = 0; i < size; i++)
		seed = (seed ^ data[i]) * 16777619u;
	seed |= 1;
	check(pipe2(pfd, O_NONBLOCK | O_CLOEXEC) == 0, "pipe");
	frame_conn_init(&fc, pfd[0]);

	while (sent < size && !oversized) {
		size_t piece = 1 + next_rand(&seed) % 64;
		const uint8_t *msg;
		size_t len;
		int rc;

		if (piece > size - sent)
			piece = size - sent;
		check(write(pfd[1], data + sent, piece) == (ssize_t)piece, "pipe write");
		sent += piece;
		check(frame_read(&fc) == 1, "frame_read");
		while ((rc = frame_next(&fc, &msg, &len)) == 1) {
			/* The reference: the frame that starts at ref_off. */
			uint32_t n;

			check(size - ref_off >= FRAME_HDR_LEN, "frame without a whole header");
			n = get_u32be(data + ref_off);
			check(n <= FRAME_MAX, "oversized frame handed out");
			check(len == n && size - ref_off - FRAME_HDR_LEN >= n, "frame length");
			check(ref_off + FRAME_HDR_LEN + n <= sent, "frame handed out before its last byte came");
			check(len == 0 || memcmp(msg, data + ref_off + FRAME_HDR_LEN, len) == 0, "frame bytes");
			check(frame_queue(&fc, msg, len) == 0, "frame_queue");
			ref_off += FRAME_HDR_LEN + n;
		}
		check(rc == 0 || rc == -1, "frame_next result");
		if (rc == -1)
			oversized = 1;
	}
	/* What the reference says is left: no whole frame, or an oversized
	 * length at ref_off. */
	if (size - ref_off >= FRAME_HDR_LEN) {
		uint32_t n = get_u32be(data + ref_off);

		if (n > FRAME_MAX)
			ref_oversized = 1;
		else
			check(size - ref_off - FRAME_HDR_LEN < n, "a whole frame was not handed out");
	}
	check(oversized == ref_oversized, "oversize verdict differs from the reference");
	/* Queued frames reproduce the input they were cut from. */
	check(frame_pending(&fc) == ref_off, "queued bytes");
	check(ref_off == 0 || memcmp(buf_rptr(&fc.out), data, ref_off) == 0, "queued frames equal the input");
	frame_conn_fini(&fc);
	close(pfd[1]);
	return 0;
}
