/*
 * tests/unit/test_worker_trim.c — proxyd/worker: the caches' trim follows
 * use, not the highest burst.
 *
 * A worker caches read buffers (worker_buf_get/put) and free-lists its
 * exchanges (exch_alloc/exch_free); every WK_TRIM_MS it calls
 * worker_trim_caches. These cases drive the real get/put functions and the
 * real trim on a worker of their own (no loop, no thread: the trim is the
 * timer's body) and measure what stays allocated with glibc's mallinfo2
 * (ASan's count on a sanitizer build), this single-threaded process's
 * bytes in use. The
 * promise: after a burst, two trims bring the memory in use back to what
 * the steady load before it held (a cache that kept a fixed number, as
 * before, keeps 13 more buffers here: 416 KiB); steady use between trims
 * keeps its entries; an idle worker ends with none; keep 0 empties all.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
/* sanitizer/allocator_interface.h, which Debian's gcc does not ship. */
size_t __sanitizer_get_current_allocated_bytes(void);
#endif

#include "proxyd/conn.h"
#include "proxyd/exchange.h"
#include "proxyd/worker.h"

#define STEADY 3        /* buffers and exchanges in use at once, steadily */
#define BURST  200      /* in use at once during the burst */
/* Freed blocks of up to 1 KiB stay in glibc's per-thread cache, which
 * mallinfo2 counts as in use: a few of them, far less than one buffer. */
#define SLACK  (16u * 1024u)

/* Under ASan or TSan, malloc is the sanitizer's own: ask it instead. */
static size_t
in_use(void)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
	return __sanitizer_get_current_allocated_bytes();
#else
	return mallinfo2().uordblks;
#endif
}

/* One stretch of steady load between two trims: STEADY exchanges, each
 * with a buffer holding some bytes, taken and given back. */
static void
steady(struct worker *wk)
{
	struct buf b[STEADY];
	struct req *r[STEADY];

	for (int i = 0; i < STEADY; i++) {
		buf_init(&b[i]);
		assert_int_equal(worker_buf_get(wk, &b[i]), 0);
		memset(b[i].data, 'x', 4096);
		assert_non_null(r[i] = exch_alloc(wk, NULL));
	}
	for (int i = 0; i < STEADY; i++) {
		worker_buf_put(wk, &b[i]);
		exch_free(wk, r[i]);
	}
}

/* A burst: BURST exchanges with a full buffer each at once, all ended. */
static void
burst(struct worker *wk)
{
	static struct buf b[BURST];
	static struct req *r[BURST];

	for (int i = 0; i < BURST; i++) {
		buf_init(&b[i]);
		assert_int_equal(worker_buf_get(wk, &b[i]), 0);
		memset(b[i].data, 'x', WK_BUF_SIZE);
		assert_non_null(r[i] = exch_alloc(wk, NULL));
		assert_int_equal(buf_append(&r[i]->qhead, "GET / HTTP/1.1\r\n\r\n", 18), 0);
	}
	for (int i = 0; i < BURST; i++) {
		worker_buf_put(wk, &b[i]);
		exch_free(wk, r[i]);
	}
}

static void
trim(struct worker *wk)
{
	worker_trim_caches(wk, WK_TRIM_KEEP_BUFS, WK_TRIM_KEEP);
}

static void
test_burst_then_steady_returns_to_steady(void **state)
{
	struct worker *wk = calloc(1, sizeof(*wk));
	(void)state;

	assert_non_null(wk);
	/* Steady load through a few trims: the caches hold what it uses. */
	for (int i = 0; i < 3; i++) {
		steady(wk);
		trim(wk);
	}
	assert_int_equal(wk->nbufs, STEADY);
	assert_int_equal(wk->nfree_reqs, STEADY);
	size_t before = in_use();

	burst(wk);
	assert_true(in_use() > before + (size_t)BURST * WK_BUF_SIZE);
	steady(wk);
	trim(wk);       /* the burst's interval: its entries were all used */
	assert_true(wk->nbufs <= WK_TRIM_KEEP_BUFS);
	assert_true(wk->nfree_reqs <= WK_TRIM_KEEP);
	steady(wk);
	trim(wk);       /* a steady interval: only what it used stays */
	assert_int_equal(wk->nbufs, STEADY);
	assert_int_equal(wk->nfree_reqs, STEADY);
	/* The same entries as before: nothing of the burst is left. */
	size_t after = in_use();
	if (after > before + SLACK)
		fail_msg("%zu bytes more in use after the burst and two trims", after - before);

	worker_trim_caches(wk, 0, 0);
	assert_int_equal(wk->nbufs, 0);
	assert_int_equal(wk->nfree_reqs, 0);
	assert_null(wk->free_reqs);
	free(wk);
}

static void
test_idle_worker_ends_empty(void **state)
{
	struct worker *wk = calloc(1, sizeof(*wk));
	(void)state;

	assert_non_null(wk);
	size_t before = in_use();
	burst(wk);
	trim(wk);       /* used in this interval: kept, up to the bounds */
	assert_int_equal(wk->nbufs, WK_TRIM_KEEP_BUFS);
	assert_int_equal(wk->nfree_reqs, WK_TRIM_KEEP);
	trim(wk);       /* unused since: all freed */
	assert_int_equal(wk->nbufs, 0);
	assert_int_equal(wk->nfree_reqs, 0);
	assert_null(wk->free_reqs);
	if (in_use() > before + SLACK)
		fail_msg("%zu bytes more in use after the burst and two trims", in_use() - before);
	free(wk);
}

/* Entries taken and given back within an interval count as used even when
 * the cache ends the interval as full as it began. */
static void
test_use_between_trims_is_kept(void **state)
{
	struct worker *wk = calloc(1, sizeof(*wk));
	(void)state;

	assert_non_null(wk);
	burst(wk);
	trim(wk);
	trim(wk);
	assert_int_equal(wk->nbufs, 0);
	for (int i = 0; i < 4; i++) {
		steady(wk);
		trim(wk);
		assert_int_equal(wk->nbufs, STEADY);
		assert_int_equal(wk->nfree_reqs, STEADY);
	}
	worker_trim_caches(wk, 0, 0);
	free(wk);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_burst_then_steady_returns_to_steady),
		cmocka_unit_test(test_idle_worker_ends_empty),
		cmocka_unit_test(test_use_between_trims_is_kept),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
