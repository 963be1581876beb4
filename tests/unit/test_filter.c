/*
 * tests/unit/test_filter.c — proxyd/h1_frame and proxyd/filter: removing the
 * chunked framing from a body split at every possible point, writing chunks,
 * and the response filter chain (header stage of the route's edits; a body
 * stage's output framed as chunks for HTTP/1.1 and raw for HTTP/1.0, with
 * the last chunk at the end, and two stages in a row).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "proxyd/conn.h"
#include "proxyd/filter.h"
#include "proxyd/h1_frame.h"
#include "proxyd/route.h"

/* A chunked body with extensions, a chunk split over the size line and a
 * trailer: its data is "hello, world!!". */
static const char chunked[] = "5;ext=1\r\nhello\r\n"
                              "2\r\n, \r\n"
                              "7\r\nworld!!\r\n"
                              "0\r\nX-Trailer: t\r\n\r\n";

static void
test_dechunk_splits(void **state)
{
	size_t len = sizeof(chunked) - 1;

	(void)state;
	/* Every split into two calls must give the same data. */
	for (size_t cut = 0; cut <= len; cut++) {
		uint8_t buf[sizeof(chunked)];
		struct h1_dechunk d;
		char out[64];
		size_t k1, k2;

		memcpy(buf, chunked, len);
		h1_dechunk_init(&d);
		k1 = h1_dechunk(&d, buf, cut);
		memcpy(out, buf, k1);
		k2 = h1_dechunk(&d, buf + cut, len - cut);
		memcpy(out + k1, buf + cut, k2);
		out[k1 + k2] = '\0';
		if (strcmp(out, "hello, world!!") != 0)
			fail_msg("cut %zu: got \"%s\"", cut, out);
	}
}

static void
test_chunk_append(void **state)
{
	struct buf b;
	uint8_t big[300];

	(void)state;
	buf_init(&b);
	memset(big, 'a', sizeof(big));
	assert_int_equal(h1_chunk_append(&b, (const uint8_t *)"abc", 3), 0);
	assert_int_equal(h1_chunk_append(&b, (const uint8_t *)"x", 0), 0);   /* nothing: 0 would end the body */
	assert_int_equal(h1_chunk_append(&b, big, sizeof(big)), 0);
	assert_int_equal(h1_chunk_last(&b), 0);
	assert_int_equal(buf_len(&b), 8 + 5 + 300 + 2 + 5);
	assert_memory_equal(buf_rptr(&b), "3\r\nabc\r\n12c\r\n", 13);
	assert_memory_equal(buf_rptr(&b) + 13 + 300, "\r\n0\r\n\r\n", 7);
	buf_fini(&b);
}

static void
test_route_headers(void **state)
{
	struct route_hdr_op ops[2] = {
		{ "X-Drop", 6, NULL },
		{ "X-Set", 5, "v1" },
	};
	struct route rt;
	struct req r;
	struct buf h;

	(void)state;
	memset(&rt, 0, sizeof(rt));
	memset(&r, 0, sizeof(r));
	buf_init(&h);
	r.rt = &rt;
	filter_select(&r, 1);
	assert_int_equal(r.fc.n, 0);   /* no edits: no filter, nothing to pay */
	rt.resp_ops = ops;
	rt.nresp_ops = 2;
	filter_select(&r, 1);
	assert_int_equal(r.fc.n, 1);
	assert_int_equal(r.fc.nbody, 0);
	assert_true(filter_hdr_drop(&r, "x-drop", 6));
	assert_true(filter_hdr_drop(&r, "X-SET", 5));
	assert_false(filter_hdr_drop(&r, "x-dro", 5));
	assert_false(filter_hdr_drop(&r, "content-type", 12));
	filter_hdr_add(&r, &h);
	assert_int_equal(buf_len(&h), 11);
	assert_memory_equal(buf_rptr(&h), "X-Set: v1\r\n", 11);
	filter_end(&r);
	assert_int_equal(r.fc.n, 0);
	buf_fini(&h);
}

/* A body stage that upper-cases, and one that doubles every byte (the
 * length changes), with a count of the releases. */
static int ends;

static int
upper_body(struct req *r, void *st, const uint8_t *in, size_t n, struct buf *out, unsigned flags)
{
	(void)r;
	(void)st;
	(void)flags;
	for (size_t i = 0; i < n; i++) {
		uint8_t ch = in[i] >= 'a' && in[i] <= 'z' ? (uint8_t)(in[i] - 32) : in[i];
		if (buf_append(out, &ch, 1) == -1)
			return -1;
	}
	return 0;
}

static int
double_body(struct req *r, void *st, const uint8_t *in, size_t n, struct buf *out, unsigned flags)
{
	(void)r;
	(void)st;
	for (size_t i = 0; i < n; i++)
		if (buf_append(out, in + i, 1) == -1 || buf_append(out, in + i, 1) == -1)
			return -1;
	if (flags & FILTER_LAST)
		return buf_append(out, "!", 1);
	return 0;
}

static void
count_end(struct req *r, void *st)
{
	(void)r;
	(void)st;
	ends++;
}

static const struct filter upper = { .name = "upper", .body = upper_body, .end = count_end };
static const struct filter dbl = { .name = "double", .body = double_body, .end = count_end };

static void
run_body(struct req *r, struct buf *out)
{
	out->rpos = out->wpos = 0;
	assert_int_equal(filter_body(r, (const uint8_t *)"ab", 2, out, 0), 0);
	assert_int_equal(filter_body(r, (const uint8_t *)"", 0, out, 0), 0);
	assert_int_equal(filter_body(r, (const uint8_t *)"c", 1, out, FILTER_LAST), 0);
}

static void
test_body_stages(void **state)
{
	struct req r;
	struct buf out;

	(void)state;
	memset(&r, 0, sizeof(r));
	buf_init(&r.fmid);
	buf_init(&out);
	ends = 0;

	/* HTTP/1.1: one chunk per pass, the last chunk at the end. */
	r.qm.version_minor = 1;
	assert_int_equal(filter_add(&r, &upper, NULL), 0);
	assert_int_equal(r.fc.nbody, 1);
	run_body(&r, &out);
	assert_int_equal(buf_len(&out), 18);
	assert_memory_equal(buf_rptr(&out), "2\r\nAB\r\n1\r\nC\r\n0\r\n\r\n", 18);

	/* HTTP/1.0: the bytes as they are, the close ends the body. */
	r.qm.version_minor = 0;
	run_body(&r, &out);
	assert_int_equal(buf_len(&out), 3);
	assert_memory_equal(buf_rptr(&out), "ABC", 3);

	/* Two stages: the second reads the first's output. */
	r.qm.version_minor = 1;
	assert_int_equal(filter_add(&r, &dbl, NULL), 0);
	run_body(&r, &out);
	assert_int_equal(buf_len(&out), 22);
	assert_memory_equal(buf_rptr(&out), "4\r\nAABB\r\n3\r\nCC!\r\n0\r\n\r\n", 22);

	filter_end(&r);
	assert_int_equal(ends, 2);
	assert_int_equal(r.fc.n, 0);
	buf_fini(&r.fmid);
	buf_fini(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dechunk_splits),
		cmocka_unit_test(test_chunk_append),
		cmocka_unit_test(test_route_headers),
		cmocka_unit_test(test_body_stages),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
