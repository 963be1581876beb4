/*
 * tests/unit/test_compress.c — proxyd/compress: every coder round-trips
 * byte-exact through the reference decoders (zlib inflate,
 * BrotliDecoderDecompressStream, ZSTD_decompressStream) across sizes
 * (0, 1, 16 KiB, 1 MiB), kinds of data (text, random bytes, zeros) and
 * chunkings (whole, 1-byte, 7-byte, 4093-byte, random cuts), and after each
 * flush the decoder has already produced every byte fed so far: that is
 * what lets a server-sent event through a compressing proxy.
 *
 * Then the pool: its limit (the caller gets NULL and pool_full counts), the
 * reuse of coder state (a reused coder at another level codes the same
 * bytes as a fresh one), no malloc at all for a response on a warm pool,
 * the memory bound, the counters, and the failure paths.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <brotli/decode.h>
#include <zlib.h>
#include <zstd.h>

#include "lib/buf.h"
#include "proxyd/compress.h"
#include "proxyd/compress_rule.h"

/* ---- data ---------------------------------------------------------------- */

static uint64_t rng_state;

static uint64_t
rng(void)
{
	/* xorshift64*: deterministic, so a failure reproduces. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ull;
}

enum kind { K_TEXT, K_RANDOM, K_ZEROS, K_MAX };
static const char *const kind_name[K_MAX] = { "text", "random", "zeros" };

static uint8_t *
make_data(enum kind k, size_t n, uint64_t seed)
{
	static const char *const words[] = { "the", "proxy", "<div class=\"item\">", "</div>\n", "\"id\": ", "request",
		"compression", "of", "and", "response", "{\"name\": \"", "\"},\n", "stream", "tandem", "value", "<p>",
		"</p>", "backend", "a", "to", "chunk", "event: update\ndata: ", "\n\n" };
	uint8_t *d = malloc(n ? n : 1);
	size_t i = 0;

	assert_non_null(d);
	rng_state = seed * 0x9e3779b97f4a7c15ull + 1;
	switch (k) {
	case K_TEXT:
		while (i < n) {
			const char *w = words[rng() % (sizeof(words) / sizeof(words[0]))];
			char num[24];
			size_t wl = strlen(w);
			if (rng() % 8 == 0) {
				wl = (size_t)snprintf(num, sizeof(num), "%u ", (unsigned)(rng() % 100000));
				w = num;
			}
			for (size_t j = 0; j < wl && i < n; j++)
				d[i++] = (uint8_t)w[j];
			if (i < n)
				d[i++] = ' ';
		}
		break;
	case K_RANDOM:
		for (; i < n; i++)
			d[i] = (uint8_t)(rng() >> 56);
		break;
	default:
		memset(d, 0, n);
		break;
	}
	return d;
}

/* ---- reference decoders, fed incrementally ------------------------------- */

struct dec {
	enum compress_alg alg;
	z_stream z;
	BrotliDecoderState *br;
	ZSTD_DStream *zd;
	uint8_t *out;        /* everything decoded so far */
	size_t len, cap;
	int ended;           /* the coded stream said it is complete */
};

static void
dec_init(struct dec *d, enum compress_alg alg, size_t cap)
{
	memset(d, 0, sizeof(*d));
	d->alg = alg;
	d->cap = cap + 1;
	d->out = malloc(d->cap);
	assert_non_null(d->out);
	switch (alg) {
	case COMPRESS_GZIP:
		/* 15 + 16: gzip wrapper only, so a zlib or raw stream fails. */
		assert_int_equal(inflateInit2(&d->z, 15 + 16), Z_OK);
		break;
	case COMPRESS_BR:
		assert_non_null(d->br = BrotliDecoderCreateInstance(NULL, NULL, NULL));
		break;
	default:
		assert_non_null(d->zd = ZSTD_createDStream());
		assert_false(ZSTD_isError(ZSTD_initDStream(d->zd)));
		break;
	}
}

static void
dec_fini(struct dec *d)
{
	if (d->alg == COMPRESS_GZIP)
		inflateEnd(&d->z);
	else if (d->alg == COMPRESS_BR)
		BrotliDecoderDestroyInstance(d->br);
	else
		ZSTD_freeDStream(d->zd);
	free(d->out);
}

/* Decode n coded bytes; fails the test on a decoder error, on output
 * beyond the expected size, or on bytes after the end of the stream. */
static void
dec_feed(struct dec *d, const uint8_t *in, size_t n)
{
	if (n == 0)
		return;
	assert_false(d->ended);
	switch (d->alg) {
	case COMPRESS_GZIP: {
		d->z.next_in = (Bytef *)(uintptr_t)in;
		d->z.avail_in = (uInt)n;
		while (d->z.avail_in > 0) {
			int rc;
			d->z.next_out = d->out + d->len;
			d->z.avail_out = (uInt)(d->cap - d->len);
			rc = inflate(&d->z, Z_SYNC_FLUSH);
			d->len = d->cap - d->z.avail_out;
			if (rc == Z_STREAM_END) {
				d->ended = 1;
				assert_int_equal(d->z.avail_in, 0);
				break;
			}
			if (rc != Z_OK && rc != Z_BUF_ERROR)
				fail_msg("inflate: %d", rc);
			assert_true(d->len < d->cap);
		}
		break;
	}
	case COMPRESS_BR: {
		size_t avail_in = n, avail_out;
		const uint8_t *next_in = in;
		for (;;) {
			uint8_t *next_out = d->out + d->len;
			BrotliDecoderResult r;
			avail_out = d->cap - d->len;
			r = BrotliDecoderDecompressStream(d->br, &avail_in, &next_in, &avail_out, &next_out, NULL);
			d->len = d->cap - avail_out;
			assert_true(d->len < d->cap);
			if (r == BROTLI_DECODER_RESULT_SUCCESS) {
				d->ended = 1;
				assert_int_equal(avail_in, 0);
				break;
			}
			if (r == BROTLI_DECODER_RESULT_ERROR)
				fail_msg("brotli: %s", BrotliDecoderErrorString(BrotliDecoderGetErrorCode(d->br)));
			if (r == BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT)
				break;
		}
		break;
	}
	default: {
		ZSTD_inBuffer ib = { in, n, 0 };
		while (ib.pos < ib.size) {
			ZSTD_outBuffer ob = { d->out + d->len, d->cap - d->len, 0 };
			size_t r = ZSTD_decompressStream(d->zd, &ob, &ib);
			d->len += ob.pos;
			if (ZSTD_isError(r))
				fail_msg("zstd: %s", ZSTD_getErrorName(r));
			assert_true(d->len < d->cap);
			if (r == 0) {
				d->ended = 1;
				assert_int_equal(ib.pos, ib.size);
				break;
			}
		}
		break;
	}
	}
}

/* Everything decodable is out, even if the stream has not ended: for
 * zstd, ask for output again with no input (it may hold a block's worth). */
static void
dec_drain(struct dec *d)
{
	if (d->alg == COMPRESS_ZSTD && !d->ended) {
		ZSTD_inBuffer ib = { NULL, 0, 0 };
		ZSTD_outBuffer ob = { d->out + d->len, d->cap - d->len, 0 };
		size_t r = ZSTD_decompressStream(d->zd, &ob, &ib);
		assert_false(ZSTD_isError(r));
		d->len += ob.pos;
	}
	if (d->alg == COMPRESS_BR && !d->ended) {
		size_t avail_in = 0, avail_out = d->cap - d->len;
		const uint8_t *next_in = NULL;
		uint8_t *next_out = d->out + d->len;
		BrotliDecoderResult r = BrotliDecoderDecompressStream(d->br, &avail_in, &next_in, &avail_out, &next_out, NULL);
		assert_int_not_equal(r, BROTLI_DECODER_RESULT_ERROR);
		d->len = d->cap - avail_out;
	}
}

/* ---- round trips ---------------------------------------------------------- */

enum cut { C_WHOLE, C_1, C_7, C_4093, C_RANDOM, C_MAX };
static const char *const cut_name[C_MAX] = { "whole", "1-byte", "7-byte", "4093-byte", "random" };

static size_t
next_cut(enum cut c, size_t left)
{
	size_t n = left;

	switch (c) {
	case C_WHOLE: break;
	case C_1: n = 1; break;
	case C_7: n = 7; break;
	case C_4093: n = 4093; break;
	default: n = 1 + (size_t)(rng() % 70000); break;
	}
	return n < left ? n : left;
}

/*
 * Code data[0..n) in pieces cut by c: each piece is a WRITE or, every
 * flush_every pieces, a FLUSH; after each flush the decoder must have
 * given back exactly the bytes fed so far. Then FINISH, and the whole must
 * match. Returns the coded size.
 */
static size_t
round_trip(struct compress_pool *p, enum compress_alg alg, int level, const uint8_t *data, size_t n, enum cut c,
    int flush_every, int64_t hint, const char *label)
{
	struct compress_stream *s = compress_acquire(p, alg, level, hint);
	struct buf out;
	struct dec d;
	size_t off = 0, coded = 0;
	int piece = 0;

	if (s == NULL)
		fail_msg("%s: acquire failed", label);
	assert_int_equal(compress_stream_alg(s), alg);
	buf_init(&out);
	dec_init(&d, alg, n);
	rng_state ^= n + (size_t)c;
	while (off < n) {
		size_t k = next_cut(c, n - off);
		int flush = (++piece % flush_every) == 0;
		if (compress_feed(s, data + off, k, flush ? COMPRESS_FLUSH : COMPRESS_WRITE, &out) != 0)
			fail_msg("%s: feed failed at %zu", label, off);
		off += k;
		coded += buf_len(&out);
		dec_feed(&d, buf_rptr(&out), buf_len(&out));
		buf_consume(&out, buf_len(&out));
		if (flush) {
			dec_drain(&d);
			if (d.len != off || memcmp(d.out, data, off) != 0)
				fail_msg("%s: after a flush at %zu the decoder has %zu bytes", label, off, d.len);
			assert_false(d.ended);
		}
	}
	if (compress_feed(s, NULL, 0, COMPRESS_FINISH, &out) != 0)
		fail_msg("%s: finish failed", label);
	coded += buf_len(&out);
	dec_feed(&d, buf_rptr(&out), buf_len(&out));
	if (!d.ended)
		fail_msg("%s: the coded stream does not end", label);
	if (d.len != n || (n > 0 && memcmp(d.out, data, n) != 0))
		fail_msg("%s: decoded %zu bytes, want %zu (or they differ)", label, d.len, n);
	/* Nothing after FINISH. */
	assert_int_equal(compress_feed(s, data, n ? 1 : 0, COMPRESS_WRITE, &out), -1);
	compress_release(s);
	dec_fini(&d);
	buf_fini(&out);
	return coded;
}

static const enum compress_alg algs[] = { COMPRESS_GZIP, COMPRESS_BR, COMPRESS_ZSTD };
static const int default_level[COMPRESS_NALG] = { 0, 6, 4, 3 };

static void
test_round_trips(void **state)
{
	static const size_t sizes[] = { 0, 1, 16384, 1 << 20 };
	struct compress_pool *p = compress_pool_new(4);

	(void)state;
	assert_non_null(p);
	for (size_t ai = 0; ai < 3; ai++)
		for (size_t si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++)
			for (int k = 0; k < K_MAX; k++) {
				uint8_t *data = make_data((enum kind)k, sizes[si], si * 7 + (size_t)k);
				for (int c = 0; c < C_MAX; c++) {
					char label[128];
					/* Small cuts of 1 MiB prove nothing the 16 KiB rows do
					 * not, at a hundred times the cost. */
					if (c != C_WHOLE && c != C_RANDOM && sizes[si] > 16384)
						continue;
					snprintf(label, sizeof(label), "%s %zu %s %s", compress_alg_str(algs[ai]), sizes[si],
					    kind_name[k], cut_name[c]);
					round_trip(p, algs[ai], default_level[algs[ai]], data, sizes[si], (enum cut)c, 1, -1, label);
					/* Writes without a flush, flushed every third piece,
					 * with the length known in advance. */
					if (c == C_RANDOM || c == C_7 || sizes[si] <= 1)
						round_trip(p, algs[ai], default_level[algs[ai]], data, sizes[si], (enum cut)c, 3,
						    (int64_t)sizes[si], label);
				}
				free(data);
			}
	compress_pool_free(p);
}

/* Every level of every coding, on 16 KiB of text, flushed every piece. */
static void
test_levels(void **state)
{
	static const int lo[COMPRESS_NALG] = { 0, 1, 0, 1 }, hi[COMPRESS_NALG] = { 0, 9, 11, 19 };
	struct compress_pool *p = compress_pool_new(2);
	uint8_t *data = make_data(K_TEXT, 16384, 99);

	(void)state;
	for (size_t ai = 0; ai < 3; ai++)
		for (int l = lo[algs[ai]]; l <= hi[algs[ai]]; l++) {
			char label[64];
			snprintf(label, sizeof(label), "%s level %d", compress_alg_str(algs[ai]), l);
			round_trip(p, algs[ai], l, data, 16384, C_RANDOM, 1, -1, label);
		}
	/* Out-of-range levels are clamped, not refused. */
	round_trip(p, COMPRESS_GZIP, 0, data, 16384, C_WHOLE, 1, -1, "gzip level 0");
	round_trip(p, COMPRESS_GZIP, 42, data, 16384, C_WHOLE, 1, -1, "gzip level 42");
	round_trip(p, COMPRESS_ZSTD, 22, data, 16384, C_WHOLE, 1, -1, "zstd level 22");
	round_trip(p, COMPRESS_BR, -3, data, 16384, C_WHOLE, 1, -1, "br level -3");
	free(data);
	compress_pool_free(p);
}

/* Text codes smaller than it came: the coders are really coding (a
 * stored-blocks bug would still round-trip). */
static void
test_ratio(void **state)
{
	struct compress_pool *p = compress_pool_new(1);
	uint8_t *data = make_data(K_TEXT, 1 << 20, 5);

	(void)state;
	for (size_t ai = 0; ai < 3; ai++) {
		size_t coded = round_trip(p, algs[ai], default_level[algs[ai]], data, 1 << 20, C_4093, 4, -1, "ratio");
		if (coded * 3 > (1 << 20))
			fail_msg("%s: 1 MiB of text coded to %zu bytes", compress_alg_str(algs[ai]), coded);
	}
	free(data);
	compress_pool_free(p);
}

/* Code data in 16 KiB flushed pieces into one buffer; the coded bytes. */
static size_t
code_all(struct compress_pool *p, enum compress_alg alg, int level, const uint8_t *data, size_t n, int64_t hint,
    uint8_t **coded)
{
	struct compress_stream *s = compress_acquire(p, alg, level, hint);
	struct buf out;
	size_t len;

	assert_non_null(s);
	buf_init(&out);
	for (size_t off = 0; off < n; off += 16384)
		assert_int_equal(compress_feed(s, data + off, n - off < 16384 ? n - off : 16384, COMPRESS_FLUSH, &out), 0);
	assert_int_equal(compress_feed(s, NULL, 0, COMPRESS_FINISH, &out), 0);
	compress_release(s);
	len = buf_len(&out);
	*coded = malloc(len ? len : 1);
	assert_non_null(*coded);
	memcpy(*coded, buf_rptr(&out), len);
	buf_fini(&out);
	return len;
}

/* A coder reused at another level (and after a response abandoned
 * halfway) codes exactly the bytes a fresh one codes: reset leaves
 * nothing of the previous response behind. */
static void
test_reuse_is_fresh(void **state)
{
	uint8_t *data = make_data(K_TEXT, 200000, 11);

	(void)state;
	for (size_t ai = 0; ai < 3; ai++) {
		enum compress_alg a = algs[ai];
		int levels[2] = { a == COMPRESS_GZIP ? 1 : 1, a == COMPRESS_GZIP ? 9 : a == COMPRESS_BR ? 7 : 12 };
		struct compress_pool *fresh = compress_pool_new(1), *used = compress_pool_new(1);
		struct compress_stream *s;
		struct buf junk;
		uint8_t *x, *y;
		size_t nx, ny;

		/* Leave the used pool's coder mid-response at the first level. */
		buf_init(&junk);
		assert_non_null(s = compress_acquire(used, a, levels[0], -1));
		assert_int_equal(compress_feed(s, data, 50000, COMPRESS_FLUSH, &junk), 0);
		assert_int_equal(compress_feed(s, data + 50000, 3000, COMPRESS_WRITE, &junk), 0);
		compress_release(s);
		buf_fini(&junk);
		for (int li = 0; li < 2; li++) {
			nx = code_all(fresh, a, levels[li], data, 200000, -1, &x);
			compress_pool_trim(fresh);
			ny = code_all(used, a, levels[li], data, 200000, -1, &y);
			if (nx != ny || memcmp(x, y, nx) != 0)
				fail_msg("%s level %d: reused coder gave %zu bytes, fresh %zu", compress_alg_str(a), levels[li],
				    ny, nx);
			free(x);
			free(y);
		}
		assert_int_equal(compress_pool_stats(used)->live, 1);
		compress_pool_free(fresh);
		compress_pool_free(used);
	}
	free(data);
}

/* A warm pool allocates nothing for a response: zlib and zstd reset,
 * brotli is rebuilt from the block cache (also at a quality whose encoder
 * outgrows the cache's initial size). */
static void
test_warm_pool_allocates_nothing(void **state)
{
	static const struct { enum compress_alg alg; int level; size_t n; } rows[] = {
		{ COMPRESS_GZIP, 6, 1 << 20 }, { COMPRESS_BR, 4, 1 << 20 }, { COMPRESS_ZSTD, 3, 1 << 20 },
		{ COMPRESS_BR, 7, 1 << 18 }, { COMPRESS_ZSTD, 12, 1 << 18 },
	};
	uint8_t *data = make_data(K_TEXT, 1 << 20, 12);

	(void)state;
	for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
		struct compress_pool *p = compress_pool_new(2);
		const struct compress_stats *st = compress_pool_stats(p);
		uint64_t before = 0;
		uint8_t *x;

		for (int i = 0; i < 5; i++) {
			if (i == 2)
				before = atomic_load(&st->sys_allocs);
			code_all(p, rows[r].alg, rows[r].level, data, rows[r].n, -1, &x);
			free(x);
			/* A shorter response too: smaller sizes are served from the
			 * same blocks. */
			code_all(p, rows[r].alg, rows[r].level, data, 20000, -1, &x);
			free(x);
		}
		assert_true(before > 0);
		if (atomic_load(&st->sys_allocs) != before)
			fail_msg("%s level %d: %llu mallocs on a warm pool", compress_alg_str(rows[r].alg), rows[r].level,
			    (unsigned long long)(atomic_load(&st->sys_allocs) - before));
		compress_pool_free(p);
	}
	free(data);
}

/* What a coder holds at its largest stays within the documented bound. */
static void
test_memory_bound(void **state)
{
	uint8_t *data = make_data(K_TEXT, 3 << 19, 13);
	static const int levels[][5] = { { 6, -1, -1, -1, -1 }, { 0, 4, 6, 9, 11 }, { 1, 3, 9, 19, -1 } };

	(void)state;
	for (size_t ai = 0; ai < 3; ai++)
		for (int li = 0; li < 5 && levels[ai][li] >= 0; li++) {
			struct compress_pool *p = compress_pool_new(1);
			int l = levels[ai][li];
			size_t bound = compress_stream_mem_bound(algs[ai], l), held;
			uint8_t *x;

			/* 1.5 MiB fills the 1 MiB windows; brotli 11 takes seconds
			 * on that, and 64 KiB makes it allocate the same. */
			code_all(p, algs[ai], l, data, l >= 10 ? 64 << 10 : 3 << 19, -1, &x);
			free(x);
			held = (size_t)atomic_load(&compress_pool_stats(p)->mem_peak);
			print_message("# %s level %d: %zu KiB at most, bound %zu KiB\n", compress_alg_str(algs[ai]), l,
			    held >> 10, bound >> 10);
			if (held > bound + 4096)
				fail_msg("%s level %d: %zu bytes held, bound %zu", compress_alg_str(algs[ai]), l, held, bound);
			compress_pool_free(p);
		}
	free(data);
}

/* The limit counts coders busy and idle: past it the caller gets NULL and
 * pool_full counts; an idle coder of another coding makes room. */
static void
test_pool_limit(void **state)
{
	struct compress_pool *p = compress_pool_new(2);
	const struct compress_stats *st = compress_pool_stats(p);
	struct compress_stream *a, *b, *c;

	(void)state;
	assert_non_null(a = compress_acquire(p, COMPRESS_GZIP, 6, -1));
	assert_non_null(b = compress_acquire(p, COMPRESS_ZSTD, 3, -1));
	assert_null(compress_acquire(p, COMPRESS_GZIP, 6, -1));
	assert_null(compress_acquire(p, COMPRESS_BR, 4, -1));
	assert_int_equal(atomic_load(&st->skipped[COMPRESS_SKIP_POOL_FULL]), 2);
	assert_int_equal(atomic_load(&st->busy), 2);
	assert_int_equal(atomic_load(&st->live), 2);
	compress_release(a);
	assert_int_equal(atomic_load(&st->busy), 1);
	assert_int_equal(atomic_load(&st->live), 2);
	/* The idle gzip coder is reused... */
	assert_non_null(c = compress_acquire(p, COMPRESS_GZIP, 6, -1));
	assert_ptr_equal(c, a);
	compress_release(c);
	/* ... or dropped to make room for a brotli one. */
	assert_non_null(c = compress_acquire(p, COMPRESS_BR, 4, -1));
	assert_int_equal(compress_stream_alg(c), COMPRESS_BR);
	assert_int_equal(atomic_load(&st->live), 2);
	assert_null(compress_acquire(p, COMPRESS_GZIP, 6, -1));
	assert_int_equal(atomic_load(&st->skipped[COMPRESS_SKIP_POOL_FULL]), 3);
	/* A lower limit takes effect as coders come back. */
	compress_pool_set_limit(p, 1);
	compress_release(b);
	assert_int_equal(atomic_load(&st->live), 1);
	assert_null(compress_acquire(p, COMPRESS_ZSTD, 3, -1));
	compress_release(c);
	assert_int_equal(atomic_load(&st->live), 1);
	assert_non_null(c = compress_acquire(p, COMPRESS_ZSTD, 3, -1));
	compress_release(c);
	/* Limit 0: compression off. */
	compress_pool_set_limit(p, 0);
	assert_int_equal(atomic_load(&st->live), 0);
	assert_null(compress_acquire(p, COMPRESS_GZIP, 6, -1));
	/* Not a coding. */
	compress_pool_set_limit(p, 4);
	assert_null(compress_acquire(p, COMPRESS_IDENTITY, 0, -1));
	assert_null(compress_acquire(p, COMPRESS_NALG, 0, -1));
	compress_pool_count_skip(p, COMPRESS_SKIP_TYPE);
	compress_pool_count_skip(p, COMPRESS_SKIP_MAX);           /* ignored */
	assert_int_equal(atomic_load(&st->skipped[COMPRESS_SKIP_TYPE]), 1);
	compress_pool_trim(p);
	assert_int_equal(atomic_load(&st->live), 0);
	assert_int_equal(atomic_load(&st->mem_bytes), 0);
	compress_pool_free(p);
	compress_pool_free(NULL);
	compress_release(NULL);
}

/* Counters: bytes in and out per coding, streams started. */
static void
test_counters(void **state)
{
	struct compress_pool *p = compress_pool_new(3);
	const struct compress_stats *st = compress_pool_stats(p);
	uint8_t *data = make_data(K_TEXT, 100000, 3), *x;
	size_t n;

	(void)state;
	for (size_t ai = 0; ai < 3; ai++) {
		n = code_all(p, algs[ai], default_level[algs[ai]], data, 100000, -1, &x);
		free(x);
		assert_int_equal(atomic_load(&st->bytes_in[algs[ai]]), 100000);
		assert_int_equal(atomic_load(&st->bytes_out[algs[ai]]), n);
		assert_int_equal(atomic_load(&st->streams[algs[ai]]), 1);
	}
	assert_int_equal(atomic_load(&st->bytes_in[COMPRESS_IDENTITY]), 0);
	assert_int_equal(atomic_load(&st->errors), 0);
	assert_int_equal(atomic_load(&st->busy), 0);
	free(data);
	compress_pool_free(p);
}

/* A flush with nothing new adds nothing; a WRITE of nothing neither. */
static void
test_empty_flush(void **state)
{
	struct compress_pool *p = compress_pool_new(3);
	uint8_t *data = make_data(K_TEXT, 1000, 4);

	(void)state;
	for (size_t ai = 0; ai < 3; ai++) {
		struct compress_stream *s = compress_acquire(p, algs[ai], default_level[algs[ai]], -1);
		struct buf out;
		size_t n;

		buf_init(&out);
		assert_int_equal(compress_feed(s, data, 1000, COMPRESS_FLUSH, &out), 0);
		n = buf_len(&out);
		assert_true(n > 0);
		assert_int_equal(compress_feed(s, NULL, 0, COMPRESS_FLUSH, &out), 0);
		assert_int_equal(compress_feed(s, NULL, 0, COMPRESS_WRITE, &out), 0);
		assert_int_equal(buf_len(&out), n);
		/* A write then an empty flush does emit. */
		assert_int_equal(compress_feed(s, data, 10, COMPRESS_WRITE, &out), 0);
		assert_int_equal(compress_feed(s, NULL, 0, COMPRESS_FLUSH, &out), 0);
		assert_true(buf_len(&out) > n);
		compress_release(s);
		buf_fini(&out);
	}
	free(data);
	compress_pool_free(p);
}

/* zstd records the size hint in its frame: a body that ends at another
 * length fails at FINISH, counts an error, and the coder is dropped. */
static void
test_size_hint_mismatch(void **state)
{
	struct compress_pool *p = compress_pool_new(1);
	const struct compress_stats *st = compress_pool_stats(p);
	uint8_t *data = make_data(K_TEXT, 1000, 8);
	struct compress_stream *s;
	struct buf out;

	(void)state;
	buf_init(&out);
	assert_non_null(s = compress_acquire(p, COMPRESS_ZSTD, 3, 1000));
	assert_int_equal(compress_feed(s, data, 500, COMPRESS_FLUSH, &out), 0);
	assert_int_equal(compress_feed(s, NULL, 0, COMPRESS_FINISH, &out), -1);
	assert_int_equal(atomic_load(&st->errors), 1);
	assert_int_equal(compress_feed(s, data, 1, COMPRESS_WRITE, &out), -1);   /* unusable now */
	compress_release(s);
	assert_int_equal(atomic_load(&st->live), 0);
	/* The pool goes on: the right length works. */
	buf_fini(&out);
	{
		uint8_t *x;
		size_t n = code_all(p, COMPRESS_ZSTD, 3, data, 1000, 1000, &x);
		assert_int_equal(ZSTD_getFrameContentSize(x, n), 1000);
		free(x);
	}
	free(data);
	compress_pool_free(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trips),
		cmocka_unit_test(test_levels),
		cmocka_unit_test(test_ratio),
		cmocka_unit_test(test_reuse_is_fresh),
		cmocka_unit_test(test_warm_pool_allocates_nothing),
		cmocka_unit_test(test_memory_bound),
		cmocka_unit_test(test_pool_limit),
		cmocka_unit_test(test_counters),
		cmocka_unit_test(test_empty_flush),
		cmocka_unit_test(test_size_hint_mismatch),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
