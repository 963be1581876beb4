/*
 * tests/unit/test_frame.c — lib/frame: length-prefixed messages on streams.
 *
 * Real socketpairs and pipes. Frames are split across reads byte by byte,
 * batched several to a read, sent at exactly FRAME_MAX (so the output side
 * goes through EAGAIN and a partial flush), and refused at FRAME_MAX + 1
 * on both sides. The blocking pair used by hactl is checked for its
 * timeout, EOF and oversize errors without sleeping (timeouts are 0 ms).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/frame.h"

static int sv[2];

static int
setup(void **state)
{
	(void)state;
	return socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv);
}

static int
teardown(void **state)
{
	(void)state;
	if (sv[0] >= 0)
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	return 0;
}

static void
test_roundtrip_several_in_one_read(void **state)
{
	struct frame_conn a, b;
	const uint8_t *msg;
	size_t len;
	static const char *const msgs[] = { "hello", "", "a somewhat longer message", "x" };
	(void)state;

	frame_conn_init(&a, sv[0]);
	frame_conn_init(&b, sv[1]);
	sv[0] = sv[1] = -1;   /* owned by the conns now */
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(frame_queue(&a, msgs[i], strlen(msgs[i])), 0);
	assert_true(frame_pending(&a) > 0);
	assert_int_equal(frame_flush(&a), 1);
	assert_int_equal(frame_pending(&a), 0);
	assert_null(a.out.data);   /* released when drained */

	assert_int_equal(frame_next(&b, &msg, &len), 0);   /* nothing read yet */
	assert_int_equal(frame_read(&b), 1);
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(frame_next(&b, &msg, &len), 1);
		assert_int_equal(len, strlen(msgs[i]));
		assert_memory_equal(msg, msgs[i], len);
	}
	assert_int_equal(frame_next(&b, &msg, &len), 0);
	assert_null(b.in.data);   /* idle: no buffer memory */

	/* Nothing pending: EAGAIN is "ok, nothing new". */
	assert_int_equal(frame_read(&b), 1);
	assert_int_equal(frame_next(&b, &msg, &len), 0);

	frame_conn_fini(&a);
	/* Peer closed: EOF. */
	assert_int_equal(frame_read(&b), 0);
	int fd = b.fd;
	frame_conn_fini(&b);
	assert_int_equal(b.fd, -1);
	errno = 0;
	assert_int_equal(fcntl(fd, F_GETFD), -1);   /* fini closed it */
	assert_int_equal(errno, EBADF);
}

/* A frame that carried a ticket key is wiped in the input buffer as soon
 * as the next frame is asked for (its bytes are valid until then), even
 * though the buffer is still in use for the next frame. */
static void
test_frame_wiped_after_use(void **state)
{
	struct frame_conn a, b;
	const uint8_t *msg, *first;
	uint8_t secret[48];
	size_t len;
	(void)state;

	memset(secret, 0xa5, sizeof(secret));
	frame_conn_init(&a, sv[0]);
	frame_conn_init(&b, sv[1]);
	sv[0] = sv[1] = -1;
	assert_int_equal(frame_queue(&a, secret, sizeof(secret)), 0);
	assert_int_equal(frame_queue(&a, "next", 4), 0);
	assert_int_equal(frame_flush(&a), 1);
	assert_int_equal(frame_read(&b), 1);
	assert_int_equal(frame_next(&b, &first, &len), 1);
	assert_int_equal(len, sizeof(secret));
	assert_memory_equal(first, secret, sizeof(secret));      /* valid until the next call */
	assert_int_equal(frame_next(&b, &msg, &len), 1);
	assert_int_equal(len, 4);
	assert_memory_equal(msg, "next", 4);
	/* The first frame's bytes are still inside b.in's storage (the
	 * second frame holds the buffer): zero now, header and body. */
	assert_true(first >= b.in.data && first + sizeof(secret) <= b.in.data + b.in.cap);
	for (size_t i = 0; i < sizeof(secret); i++)
		assert_int_equal(first[i], 0);
	for (size_t i = 0; i < FRAME_HDR_LEN; i++)
		assert_int_equal(first[(ptrdiff_t)i - FRAME_HDR_LEN], 0);
	assert_int_equal(frame_next(&b, &msg, &len), 0);
	assert_null(b.in.data);
	frame_conn_fini(&a);
	frame_conn_fini(&b);
}

static void
test_frame_split_across_reads(void **state)
{
	struct frame_conn b;
	uint8_t wire[4 + 10];
	const uint8_t *msg;
	size_t len;
	(void)state;

	put_u32be(wire, 10);
	memcpy(wire + 4, "0123456789", 10);
	frame_conn_init(&b, sv[1]);
	sv[1] = -1;
	/* One byte at a time: no frame until the last byte arrives. */
	for (size_t i = 0; i < sizeof(wire); i++) {
		assert_int_equal(write(sv[0], wire + i, 1), 1);
		assert_int_equal(frame_read(&b), 1);
		int r = frame_next(&b, &msg, &len);
		if (i + 1 < sizeof(wire)) {
			assert_int_equal(r, 0);
		} else {
			assert_int_equal(r, 1);
			assert_int_equal(len, 10);
			assert_memory_equal(msg, "0123456789", 10);
		}
	}
	/* A frame and a half, then the rest. */
	uint8_t two[2 * sizeof(wire)];
	memcpy(two, wire, sizeof(wire));
	memcpy(two + sizeof(wire), wire, sizeof(wire));
	assert_int_equal(write(sv[0], two, sizeof(wire) + 6), (ssize_t)(sizeof(wire) + 6));
	assert_int_equal(frame_read(&b), 1);
	assert_int_equal(frame_next(&b, &msg, &len), 1);
	assert_int_equal(frame_next(&b, &msg, &len), 0);
	assert_int_equal(write(sv[0], two + sizeof(wire) + 6, sizeof(wire) - 6),
	    (ssize_t)(sizeof(wire) - 6));
	assert_int_equal(frame_read(&b), 1);
	assert_int_equal(frame_next(&b, &msg, &len), 1);
	assert_memory_equal(msg, "0123456789", 10);
	frame_conn_fini(&b);
}

static void
test_oversize_rejected(void **state)
{
	static const struct { uint32_t len; int verdict; } cases[] = {
		{ FRAME_MAX + 1, -1 },
		{ 0xffffffffu, -1 },
		{ 0x80000000u, -1 },
		{ FRAME_MAX, 0 },   /* acceptable: waits for the body */
	};
	const uint8_t *msg;
	size_t len;
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int p[2];
		struct frame_conn b;
		uint8_t hdr[4];
		assert_int_equal(pipe2(p, O_NONBLOCK), 0);
		frame_conn_init(&b, p[0]);
		put_u32be(hdr, cases[i].len);
		assert_int_equal(write(p[1], hdr, 4), 4);
		assert_int_equal(frame_read(&b), 1);
		errno = 0;
		assert_int_equal(frame_next(&b, &msg, &len), cases[i].verdict);
		if (cases[i].verdict == -1)
			assert_int_equal(errno, EMSGSIZE);
		/* Nothing was allocated for the announced body. */
		assert_true(b.in.cap < 65536);
		frame_conn_fini(&b);
		close(p[1]);
	}

	/* The sending side refuses too, and queues nothing. */
	struct frame_conn a;
	frame_conn_init(&a, -1);
	static uint8_t big[FRAME_MAX + 1];
	errno = 0;
	assert_int_equal(frame_queue(&a, big, sizeof(big)), -1);
	assert_int_equal(errno, EMSGSIZE);
	assert_int_equal(frame_pending(&a), 0);
	errno = 0;
	assert_int_equal(frame_send_blocking(sv[0], big, sizeof(big)), -1);
	assert_int_equal(errno, EMSGSIZE);
	frame_conn_fini(&a);
}

/* A FRAME_MAX message does not fit the socket buffer: flush reports
 * pending (the caller would arm EV_WRITE), the reader drains, flush
 * finishes. */
static void
test_max_frame_with_partial_flush(void **state)
{
	struct frame_conn a, b;
	const uint8_t *msg;
	size_t len;
	int got = 0, pendings = 0;
	(void)state;

	uint8_t *big = malloc(FRAME_MAX);
	assert_non_null(big);
	for (size_t i = 0; i < FRAME_MAX; i++)
		big[i] = (uint8_t)(i * 31 + 7);
	frame_conn_init(&a, sv[0]);
	frame_conn_init(&b, sv[1]);
	sv[0] = sv[1] = -1;
	assert_int_equal(frame_queue(&a, big, FRAME_MAX), 0);
	for (int round = 0; round < 10000 && !got; round++) {
		int f = frame_flush(&a);
		assert_true(f >= 0);
		if (f == 0)
			pendings++;
		assert_int_equal(frame_read(&b), 1);
		int r = frame_next(&b, &msg, &len);
		assert_true(r >= 0);
		if (r == 1) {
			assert_int_equal(len, FRAME_MAX);
			assert_memory_equal(msg, big, FRAME_MAX);
			got = 1;
		}
	}
	assert_true(got);
	assert_true(pendings > 0);
	assert_int_equal(frame_flush(&a), 1);
	free(big);
	frame_conn_fini(&a);
	frame_conn_fini(&b);
}

static void
test_flush_to_closed_peer_is_epipe(void **state)
{
	struct frame_conn a;
	(void)state;

	frame_conn_init(&a, sv[0]);
	sv[0] = -1;
	close(sv[1]);
	sv[1] = -1;
	assert_int_equal(frame_queue(&a, "x", 1), 0);
	errno = 0;
	/* MSG_NOSIGNAL: an error, not a SIGPIPE that would kill the test. */
	assert_int_equal(frame_flush(&a), -1);
	assert_int_equal(errno, EPIPE);
	frame_conn_fini(&a);
}

static void
test_pipe_not_socket(void **state)
{
	int p[2];
	struct frame_conn a, b;
	const uint8_t *msg;
	size_t len;
	(void)state;

	assert_int_equal(pipe2(p, O_NONBLOCK), 0);
	frame_conn_init(&a, p[1]);
	frame_conn_init(&b, p[0]);
	assert_int_equal(frame_queue(&a, "pipe", 4), 0);
	assert_int_equal(frame_flush(&a), 1);
	assert_int_equal(frame_read(&b), 1);
	assert_int_equal(frame_next(&b, &msg, &len), 1);
	assert_memory_equal(msg, "pipe", 4);
	frame_conn_fini(&a);
	frame_conn_fini(&b);
}

static void
test_blocking_pair(void **state)
{
	uint8_t *msg = NULL;
	size_t len = 0;
	uint8_t hdr[4];
	(void)state;

	/* Nothing there: a 0 ms timeout is an immediate ETIMEDOUT. */
	errno = 0;
	assert_int_equal(frame_recv_blocking(sv[1], &msg, &len, 0), -1);
	assert_int_equal(errno, ETIMEDOUT);

	assert_int_equal(frame_send_blocking(sv[0], "status", 6), 0);
	assert_int_equal(frame_send_blocking(sv[0], "", 0), 0);
	assert_int_equal(frame_recv_blocking(sv[1], &msg, &len, 0), 0);
	assert_int_equal(len, 6);
	assert_memory_equal(msg, "status", 6);
	free(msg);
	msg = NULL;
	assert_int_equal(frame_recv_blocking(sv[1], &msg, &len, -1), 0);
	assert_int_equal(len, 0);
	assert_non_null(msg);
	free(msg);
	msg = NULL;

	/* Header announcing too much. */
	put_u32be(hdr, FRAME_MAX + 1);
	assert_int_equal(write(sv[0], hdr, 4), 4);
	errno = 0;
	assert_int_equal(frame_recv_blocking(sv[1], &msg, &len, 0), -1);
	assert_int_equal(errno, EMSGSIZE);

	/* Half a frame then EOF. */
	put_u32be(hdr, 10);
	assert_int_equal(write(sv[0], hdr, 4), 4);
	assert_int_equal(write(sv[0], "abc", 3), 3);
	close(sv[0]);
	sv[0] = -1;
	errno = 0;
	assert_int_equal(frame_recv_blocking(sv[1], &msg, &len, -1), -1);
	assert_int_equal(errno, ECONNRESET);
	assert_null(msg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_roundtrip_several_in_one_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_frame_split_across_reads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_frame_wiped_after_use, setup, teardown),
		cmocka_unit_test_setup_teardown(test_oversize_rejected, setup, teardown),
		cmocka_unit_test_setup_teardown(test_max_frame_with_partial_flush, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flush_to_closed_peer_is_epipe, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pipe_not_socket, setup, teardown),
		cmocka_unit_test_setup_teardown(test_blocking_pair, setup, teardown),
	};
	return cmocka_run_group_tests_name("frame", tests, NULL, NULL);
}
