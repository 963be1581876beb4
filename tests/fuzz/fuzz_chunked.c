/*
 * tests/fuzz/fuzz_chunked.c — libFuzzer harness for the chunked body decoder
 * (proxyd/http_parse.c http_chunked_feed, RFC 9112 §7.1), which frames every
 * chunked request body a client sends and every chunked response body an
 * upstream sends; proxyd forwards exactly the bytes it says belong to the
 * body, so where it says the body ends is where the next message begins.
 *
 * The input is a body (and whatever follows it). It is fed whole, then in
 * two slices split at every point (at data-derived points past 512 bytes),
 * in three slices, and a byte at a time; every way must give the same
 * verdict: result, bytes consumed in total, body_bytes and error reason.
 * Each slice is an exact-size heap copy, so ASan catches any read past it.
 * Also checked: AGAIN consumes the whole slice, DONE and ERROR at most the
 * slice, body_bytes equals what was consumed, and a finished decoder stays
 * finished (ERROR is sticky).
 *
 * Seeds: tests/fuzz/corpus/chunked/, bodies recorded from tests/tools/backend
 * (tests/fuzz/corpus/README says how).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxyd/http_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct verdict {
	int rc;
	size_t used;
	uint64_t body_bytes;
	const char *reason;
};

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_chunked: invariant broken: %s\n", what);
		abort();
	}
}

/* Feed one slice (an exact copy); fold the result into *v. */
static void feed(struct http_chunked *c, struct verdict *v, const uint8_t *d, size_t n)
{
	uint8_t *buf;
	size_t used = 0;
	int rc;

	if (v->rc != HTTP_AGAIN)
		return;
	buf = malloc(n ? n : 1);
	check(buf != NULL, "malloc");
	memcpy(buf, d, n);
	rc = http_chunked_feed(c, buf, n, &used);
	free(buf);
	check(rc == HTTP_AGAIN || rc == HTTP_DONE || rc == HTTP_ERROR, "result");
	check(used <= n, "consumed at most the slice");
	if (rc == HTTP_AGAIN)
		check(used == n, "AGAIN consumes the whole slice");
	v->rc = rc;
	v->used += used;
	v->body_bytes = c->body_bytes;
	if (rc == HTTP_ERROR) {
		check(c->reason != NULL, "error has a reason");
		v->reason = c->reason;
	}
}

static struct verdict run(const uint8_t *d, size_t n, const size_t *cuts, size_t ncuts)
{
	struct http_chunked c;
	struct verdict v = { HTTP_AGAIN, 0, 0, NULL };
	size_t at = 0;

	http_chunked_init(&c);
	for (size_t i = 0; i <= ncuts; i++) {
		size_t to = i < ncuts ? cuts[i] : n;

		if (to < at)
			to = at;
		feed(&c, &v, d + at, to - at);
		at = to;
	}
	check(v.body_bytes == v.used, "body_bytes counts what was consumed");
	if (v.rc == HTTP_ERROR) {
		size_t used = 0;
		uint8_t b = 'x';

		check(http_chunked_feed(&c, &b, 1, &used) == HTTP_ERROR, "an error is sticky");
	}
	return v;
}

static void same(const struct verdict *a, const struct verdict *b, const char *how)
{
	if (a->rc != b->rc || a->used != b->used || a->body_bytes != b->body_bytes ||
	    (a->reason != b->reason && (a->reason == NULL || b->reason == NULL || strcmp(a->reason, b->reason) != 0))) {
		fprintf(stderr, "fuzz_chunked: %s: rc %d/%d used %zu/%zu reason %s/%s\n", how, a->rc, b->rc,
		    a->used, b->used, a->reason ? a->reason : "-", b->reason ? b->reason : "-");
		check(0, "verdict depends on how the body was split");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct verdict whole = run(data, size, NULL, 0), v;
	size_t cuts[2];

	for (size_t k = 0; k <= size; k += size <= 512 ? 1 : 1 + (data[k % size] * 13u + k) % 61) {
		cuts[0] = k;
		v = run(data, size, cuts, 1);
		same(&whole, &v, "two slices");
		cuts[1] = k + (size - k) / 2;
		v = run(data, size, cuts, 2);
		same(&whole, &v, "three slices");
	}
	{
		struct http_chunked c;
		struct verdict t = { HTTP_AGAIN, 0, 0, NULL };

		http_chunked_init(&c);
		for (size_t i = 0; i < size && t.rc == HTTP_AGAIN; i++)
			feed(&c, &t, data + i, 1);
		if (size == 0)
			feed(&c, &t, data, 0);
		same(&whole, &t, "a byte at a time");
	}
	return 0;
}
