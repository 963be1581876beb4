/*
 * tests/unit/test_buf.c — lib/buf: byte buffers and bounds-checked readers.
 *
 * The buffer is checked for its memory promises (no storage until used,
 * none after release, compaction before growth) and the reader for its
 * safety promise: on short data every getter fails, consumes nothing and
 * leaves the error sticky. Reader cases are a table of (bytes, ops) ->
 * (results, values).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"

static void
test_buf_lazy_and_release(void **state)
{
	struct buf b;
	(void)state;

	buf_init(&b);
	assert_null(b.data);
	assert_int_equal(buf_len(&b), 0);
	assert_int_equal(buf_avail(&b), 0);
	assert_null(buf_rptr(&b));
	buf_release_if_empty(&b);   /* no-op on an empty buffer */
	assert_null(b.data);

	assert_int_equal(buf_append(&b, "hello", 5), 0);
	assert_non_null(b.data);
	assert_int_equal(buf_len(&b), 5);
	assert_memory_equal(buf_rptr(&b), "hello", 5);

	buf_release_if_empty(&b);   /* not empty: kept */
	assert_non_null(b.data);

	buf_consume(&b, 2);
	assert_int_equal(buf_len(&b), 3);
	assert_memory_equal(buf_rptr(&b), "llo", 3);
	buf_consume(&b, 3);
	/* Drained: positions reset so the whole capacity is writable again. */
	assert_int_equal(b.rpos, 0);
	assert_int_equal(b.wpos, 0);
	assert_int_equal(buf_avail(&b), b.cap);

	buf_release_if_empty(&b);
	assert_null(b.data);
	assert_int_equal(b.cap, 0);
	buf_fini(&b);
}

static void
test_buf_grow_keeps_bytes(void **state)
{
	struct buf b;
	uint8_t chunk[333];
	(void)state;

	buf_init(&b);
	for (size_t i = 0; i < 100; i++) {
		for (size_t j = 0; j < sizeof(chunk); j++)
			chunk[j] = (uint8_t)(i * 7 + j);
		assert_int_equal(buf_append(&b, chunk, sizeof(chunk)), 0);
		/* Consume a little each time so growth also has to move rpos. */
		if (i % 3 == 0)
			buf_consume(&b, 1);
	}
	size_t consumed = 34;
	assert_int_equal(buf_len(&b), 100 * sizeof(chunk) - consumed);
	assert_true(b.cap >= buf_len(&b));
	/* Recompute the expected stream and compare. */
	uint8_t *want = malloc(100 * sizeof(chunk));
	assert_non_null(want);
	for (size_t i = 0; i < 100; i++)
		for (size_t j = 0; j < sizeof(chunk); j++)
			want[i * sizeof(chunk) + j] = (uint8_t)(i * 7 + j);
	/* The consumed bytes were taken from the front, one at a time. */
	assert_memory_equal(buf_rptr(&b), want + consumed, buf_len(&b));
	free(want);
	buf_fini(&b);
	assert_null(b.data);
}

static void
test_buf_compacts_before_growing(void **state)
{
	struct buf b;
	uint8_t fill[400];
	(void)state;

	memset(fill, 'x', sizeof(fill));
	buf_init(&b);
	assert_int_equal(buf_append(&b, fill, sizeof(fill)), 0);
	size_t cap = b.cap;
	uint8_t *data = b.data;
	buf_consume(&b, 350);           /* 50 readable, at offset 350 */
	assert_true(buf_avail(&b) < 300);
	assert_int_equal(buf_reserve(&b, 300), 0);
	/* Room was made by moving the 50 bytes to the front, not by realloc. */
	assert_int_equal(b.cap, cap);
	assert_ptr_equal(b.data, data);
	assert_int_equal(b.rpos, 0);
	assert_int_equal(buf_len(&b), 50);
	assert_true(buf_avail(&b) >= 300);
	assert_int_equal(buf_rptr(&b)[0], 'x');

	/* Produce through wptr, as a read(2) would. */
	memcpy(buf_wptr(&b), "abc", 3);
	buf_produce(&b, 3);
	assert_int_equal(buf_len(&b), 53);
	assert_memory_equal(buf_rptr(&b) + 50, "abc", 3);
	buf_fini(&b);
}

static void
test_buf_reserve_refuses_overflow(void **state)
{
	struct buf b;
	(void)state;

	buf_init(&b);
	assert_int_equal(buf_append(&b, "ab", 2), 0);
	uint8_t *data = b.data;
	size_t cap = b.cap;
	assert_int_equal(buf_reserve(&b, SIZE_MAX), -1);
	assert_int_equal(buf_reserve(&b, BUF_MAX_CAP), -1);
	/* Unchanged on failure. */
	assert_ptr_equal(b.data, data);
	assert_int_equal(b.cap, cap);
	assert_int_equal(buf_len(&b), 2);
	buf_fini(&b);
}

static void
test_buf_appendf(void **state)
{
	struct buf b;
	char big[3000];
	(void)state;

	buf_init(&b);
	assert_int_equal(buf_appendf(&b, "%s=%d;", "a", 1), 0);   /* no storage yet */
	assert_int_equal(buf_appendf(&b, "%s=%d;", "bb", 22), 0); /* fits in place */
	assert_int_equal(buf_len(&b), 10);
	assert_memory_equal(buf_rptr(&b), "a=1;bb=22;", 10);
	memset(big, 'z', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(buf_appendf(&b, "[%s]", big), 0);        /* must grow */
	assert_int_equal(buf_len(&b), 10 + sizeof(big) - 1 + 2);
	assert_int_equal(buf_rptr(&b)[10], '[');
	assert_int_equal(buf_rptr(&b)[buf_len(&b) - 1], ']');
	assert_int_equal(buf_appendf(&b, "%s", ""), 0);
	assert_int_equal(buf_len(&b), 10 + sizeof(big) - 1 + 2);
	buf_fini(&b);
}

/* ---- reader table ------------------------------------------------------------ */

enum op { END = 0, U8, U16, U32, U64, BYTES, PTR };
struct step { enum op op; size_t n; int ret; uint64_t val; };
struct reader_case {
	const char *name;
	const uint8_t *in;
	size_t len;
	struct step steps[8];
	int err_after;
	size_t left_after;
};

static const uint8_t seq8[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 };

static const struct reader_case reader_cases[] = {
	{ "exact fit, all widths", seq8, 15,
	  { { U8, 0, 0, 0x01 }, { U16, 0, 0, 0x0203 }, { U32, 0, 0, 0x04050607 },
	    { U64, 0, 0, 0x08090a0b0c0d0e0full } }, 0, 0 },
	{ "empty input, u8 fails", seq8, 0, { { U8, 0, -1, 0 } }, 1, 0 },
	{ "u16 on one byte", seq8, 1, { { U16, 0, -1, 0 } }, 1, 1 },
	{ "u32 on three bytes", seq8, 3, { { U32, 0, -1, 0 } }, 1, 3 },
	{ "u64 on seven bytes", seq8, 7, { { U64, 0, -1, 0 } }, 1, 7 },
	{ "error is sticky: u8 after failed u32", seq8, 3,
	  { { U32, 0, -1, 0 }, { U8, 0, -1, 0 } }, 1, 3 },
	{ "bytes exact then u8 short", seq8, 4,
	  { { BYTES, 4, 0, 0x01020304 }, { U8, 0, -1, 0 } }, 1, 0 },
	{ "bytes longer than input", seq8, 4, { { BYTES, 5, -1, 0 } }, 1, 4 },
	{ "zero-length bytes at end", seq8, 2,
	  { { U16, 0, 0, 0x0102 }, { BYTES, 0, 0, 0 } }, 0, 0 },
	{ "ptr skips", seq8, 6, { { PTR, 5, 0, 1 }, { U8, 0, 0, 6 } }, 0, 0 },
	{ "ptr short", seq8, 6, { { U8, 0, 0, 1 }, { PTR, 6, -1, 0 } }, 1, 5 },
	{ "huge length does not wrap", seq8, 6, { { U8, 0, 0, 1 }, { PTR, SIZE_MAX, -1, 0 } }, 1, 5 },
};

static void
test_reader_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(reader_cases) / sizeof(reader_cases[0]); i++) {
		const struct reader_case *c = &reader_cases[i];
		struct buf_reader r;
		br_init(&r, c->in, c->len);
		for (const struct step *s = c->steps; s->op != END; s++) {
			uint8_t u8 = 0xee;
			uint16_t u16 = 0xeeee;
			uint32_t u32 = 0xeeeeeeee;
			uint64_t u64 = 0xeeeeeeeeeeeeeeeeull, got = 0;
			uint8_t tmp[16];
			const uint8_t *p;
			int ret = 0;
			size_t before = br_left(&r);
			switch (s->op) {
			case U8: ret = br_u8(&r, &u8); got = u8; break;
			case U16: ret = br_u16be(&r, &u16); got = u16; break;
			case U32: ret = br_u32be(&r, &u32); got = u32; break;
			case U64: ret = br_u64be(&r, &u64); got = u64; break;
			case BYTES:
				ret = br_bytes(&r, tmp, s->n);
				for (size_t k = 0; ret == 0 && k < s->n; k++)
					got = (got << 8) | tmp[k];
				break;
			case PTR:
				p = br_ptr(&r, s->n);
				ret = p == NULL ? -1 : 0;
				got = p == NULL ? 0 : p[0];
				break;
			case END: break;
			}
			if (ret != s->ret || (ret == 0 && got != s->val)) {
				print_error("case '%s' step %zu: ret %d val %#llx\n", c->name,
				    (size_t)(s - c->steps), ret, (unsigned long long)got);
				fail();
			}
			/* A failed getter consumes nothing and leaves outputs alone. */
			if (ret == -1) {
				assert_int_equal(br_left(&r), before);
				assert_int_equal(u8, 0xee);
				assert_int_equal(u16, 0xeeee);
				assert_int_equal(u32, 0xeeeeeeee);
			}
		}
		if (r.err != c->err_after || br_left(&r) != c->left_after) {
			print_error("case '%s': err %d left %zu\n", c->name, r.err, br_left(&r));
			fail();
		}
	}
}

static void
test_put_get_be(void **state)
{
	static const struct { uint64_t v; uint8_t be[8]; } cases[] = {
		{ 0, { 0, 0, 0, 0, 0, 0, 0, 0 } },
		{ 0x0102030405060708ull, { 1, 2, 3, 4, 5, 6, 7, 8 } },
		{ UINT64_MAX, { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff } },
		{ 0x8000000000000001ull, { 0x80, 0, 0, 0, 0, 0, 0, 1 } },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t out[9];
		memset(out, 0xaa, sizeof(out));
		put_u64be(out, cases[i].v);
		assert_memory_equal(out, cases[i].be, 8);
		assert_int_equal(out[8], 0xaa);   /* nothing written past the end */
		assert_true(get_u64be(out) == cases[i].v);

		memset(out, 0xaa, sizeof(out));
		put_u32be(out, (uint32_t)cases[i].v);
		assert_memory_equal(out, cases[i].be + 4, 4);
		assert_int_equal(out[4], 0xaa);
		assert_int_equal(get_u32be(out), (uint32_t)cases[i].v);

		memset(out, 0xaa, sizeof(out));
		put_u16be(out, (uint16_t)cases[i].v);
		assert_memory_equal(out, cases[i].be + 6, 2);
		assert_int_equal(out[2], 0xaa);
		assert_int_equal(get_u16be(out), (uint16_t)cases[i].v);
	}
}

static int
all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != 0)
			return 0;
	return 1;
}

/* Wipe mode (buffers that carry ticket keys): consumed bytes are zero at
 * once, and compaction leaves no second copy of the moved bytes behind
 * the new end. Without it both would still hold the secret. (Growth and
 * release wipe the old block before free(), which no test can read back
 * without reading freed memory.) */
static void
test_buf_wipe(void **state)
{
	struct buf b;
	uint8_t secret[300], live[100];
	(void)state;

	memset(secret, 0xa5, sizeof(secret));
	memset(live, 0x5a, sizeof(live));
	buf_init(&b);
	buf_set_wipe(&b);
	assert_int_equal(buf_append(&b, secret, sizeof(secret)), 0);
	assert_int_equal(buf_append(&b, live, sizeof(live)), 0);
	assert_int_equal(b.cap, 512);
	buf_consume(&b, sizeof(secret));
	assert_true(all_zero(b.data, sizeof(secret)));
	assert_memory_equal(buf_rptr(&b), live, sizeof(live));
	/* 112 bytes free at the end, 200 wanted: compaction moves the live
	 * 100 bytes to the front; their old place must not keep a copy. */
	assert_int_equal(buf_reserve(&b, 200), 0);
	assert_int_equal(b.cap, 512);
	assert_memory_equal(b.data, live, sizeof(live));
	assert_true(all_zero(b.data + sizeof(live), sizeof(secret)));
	/* Consuming to empty resets the positions: still nothing left. */
	buf_consume(&b, sizeof(live));
	assert_true(all_zero(b.data, sizeof(secret) + sizeof(live)));
	buf_fini(&b);
	assert_int_equal(b.wipe, 1);           /* the mode outlives the storage */
	buf_init(&b);
	assert_int_equal(b.wipe, 0);
}

/* The text readers stop at the length they were given: each input lives in
 * a heap buffer of exactly its size (no NUL after it). */
static void
test_reader_text(void **state)
{
	static const struct { const char *in; unsigned min, max; int rc; uint32_t v; size_t off; } dec[] = {
		{ "200 OK", 3, 3, 0, 200, 3 },
		{ "200", 3, 3, 0, 200, 3 },          /* digits up to the edge */
		{ "20", 3, 3, -1, 0, 0 },            /* too few, at the edge */
		{ "2000", 3, 3, -1, 0, 0 },          /* a fourth digit */
		{ "+20", 1, 3, -1, 0, 0 },           /* no sign */
		{ " 20", 1, 3, -1, 0, 0 },           /* no blank */
		{ "999999999", 1, 9, 0, 999999999, 9 },
		{ "7x", 1, 9, 0, 7, 1 },
	};
	struct buf_reader r;
	uint32_t v;
	size_t n;

	(void)state;
	for (size_t i = 0; i < sizeof(dec) / sizeof(dec[0]); i++) {
		size_t len = strlen(dec[i].in);
		char *edge = malloc(len);
		assert_non_null(edge);
		memcpy(edge, dec[i].in, len);
		br_init(&r, edge, len);
		v = 0;
		if (br_dec(&r, dec[i].min, dec[i].max, &v) != dec[i].rc || (dec[i].rc == 0 && v != dec[i].v) ||
		    r.off != dec[i].off)
			fail_msg("dec case %zu: v %u off %zu", i, v, r.off);
		free(edge);
	}
	char *edge = malloc(8);
	assert_non_null(edge);
	memcpy(edge, "GET /abc", 8);
	br_init(&r, edge, 8);
	assert_int_equal(br_lit(&r, "GET "), 0);
	assert_int_equal(br_until(&r, ' ', &n) == NULL, 1);   /* no blank before the edge */
	assert_int_equal(r.err, 1);
	br_init(&r, edge, 8);
	assert_int_equal(br_lit(&r, "GET /abcd"), -1);        /* longer than what is left */
	assert_int_equal(r.off, 0);
	br_init(&r, edge, 8);
	assert_non_null(br_until(&r, ' ', &n));
	assert_int_equal(n, 3);
	assert_int_equal(br_lit(&r, " /abc"), 0);
	assert_int_equal(br_left(&r), 0);
	assert_int_equal(br_until(&r, ' ', &n) == NULL, 1);   /* nothing left */
	free(edge);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buf_lazy_and_release),
		cmocka_unit_test(test_buf_grow_keeps_bytes),
		cmocka_unit_test(test_buf_compacts_before_growing),
		cmocka_unit_test(test_buf_reserve_refuses_overflow),
		cmocka_unit_test(test_buf_appendf),
		cmocka_unit_test(test_reader_table),
		cmocka_unit_test(test_reader_text),
		cmocka_unit_test(test_put_get_be),
		cmocka_unit_test(test_buf_wipe),
	};
	return cmocka_run_group_tests_name("buf", tests, NULL, NULL);
}
