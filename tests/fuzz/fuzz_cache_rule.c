/*
 * tests/fuzz/fuzz_cache_rule.c — libFuzzer harness for the values the cache
 * reads from clients and origins (proxyd/cache_rule.c): Cache-Control,
 * HTTP-dates, Vary, the normalisation of Vary values, If-None-Match, and
 * an admin's purge URL turned into a key, and a stored head searched for a
 * purge tag.
 *
 * Input: the first byte picks the parser (mod 7), the rest is the value.
 * Invariants: delta-seconds stay within -1..2^31; a date that parses is
 * not negative and prints back (IMF-fixdate) to one that parses to the
 * same instant; Vary names are lowercase and at most 63 bytes; a
 * normalised value fits its buffer and has no leading, trailing or double
 * whitespace; "*" always matches; a URL key fits its buffer and keying it
 * again gives it back (the key is a fixed point); a head with a tag line
 * appended lists that tag.
 *
 * Seeds: tests/fuzz/corpus/cache_rule/, one per parser.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proxyd/cache_rule.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_cache_rule: invariant broken: %s\n", what);
		abort();
	}
}

static void
delta_ok(int64_t v)
{
	check(v >= -1 && v <= 2147483648LL, "delta-seconds out of range");
}

static void
name_ok(void *ctx, const char *name, size_t n)
{
	(void)ctx;
	check(n > 0 && n <= 63, "Vary name length");
	for (size_t i = 0; i < n; i++)
		check(!(name[i] >= 'A' && name[i] <= 'Z'), "Vary name not lowercase");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *v = (const char *)data + 1;
	size_t n;

	if (size == 0)
		return 0;
	n = size - 1;
	switch (data[0] % 7) {
	case 0: {
		struct cache_cc cc;
		cache_cc_init(&cc);
		cache_cc_parse(&cc, v, n);
		delta_ok(cc.max_age);
		delta_ok(cc.s_maxage);
		delta_ok(cc.min_fresh);
		delta_ok(cc.max_stale);
		delta_ok(cc.stale_while_revalidate);
		delta_ok(cc.stale_if_error);
		break;
	}
	case 1: {
		int64_t t = cache_http_date(v, n);
		check(t >= -1, "date below -1");
		if (t >= 0) {
			char b[64];
			struct tm tm;
			time_t tt = (time_t)t;
			gmtime_r(&tt, &tm);
			size_t l = strftime(b, sizeof(b), "%a, %d %b %Y %H:%M:%S GMT", &tm);
			check(l > 0 && cache_http_date(b, l) == t, "date does not print back");
		}
		break;
	}
	case 2:
		(void)cache_vary_names(v, n, name_ok, NULL);
		break;
	case 3: {
		char out[256];
		size_t ol = 0;
		if (cache_vary_norm_append(out, sizeof(out), &ol, v, n) == 0) {
			check(ol <= sizeof(out), "normalised value overflows");
			check(ol == 0 || (out[0] != ' ' && out[0] != '\t' && out[ol - 1] != ' '), "whitespace kept at an end");
			for (size_t i = 1; i < ol; i++)
				check(!(out[i] == ' ' && out[i - 1] == ' '), "double space kept");
		}
		break;
	}
	case 4: {
		/* "*" matches any stored tag that is not empty (W/ aside). */
		int tag = n > 0 && !(n == 2 && v[0] == 'W' && v[1] == '/');
		check(cache_inm_match("*", 1, v, n) == tag, "* did not match");
		(void)cache_inm_match(v, n, "\"a\"", 3);
		break;
	}
	case 5: {
		char k1[512], k2[512];
		int l1 = cache_url_key(v, n, k1, sizeof(k1));
		check(l1 >= -1 && l1 <= (int)sizeof(k1), "key length");
		if (l1 >= 0) {
			int l2 = cache_url_key(k1, (size_t)l1, k2, sizeof(k2));
			check(l2 == l1 && memcmp(k1, k2, (size_t)l1) == 0, "key is not a fixed point");
		}
		break;
	}
	case 6: {
		static const char line[] = "\nsurrogate-key: x,a\r\n";
		char h[1024];

		(void)cache_head_has_tag(v, n, "Surrogate-Key", "a");
		if (n + sizeof(line) <= sizeof(h)) {
			memcpy(h, v, n);
			memcpy(h + n, line, sizeof(line) - 1);
			check(cache_head_has_tag(h, n + sizeof(line) - 1, "Surrogate-Key", "a") == 1,
			    "a head with the tag's line appended does not list it");
		}
		break;
	}
	}
	return 0;
}
