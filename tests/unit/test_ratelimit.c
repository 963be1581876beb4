/*
 * tests/unit/test_ratelimit.c — proxyd/ratelimit.c on a fake clock: the
 * window and G-counter arithmetic, burst, Retry-After, keys and prefix
 * aggregation, bans, the memory bound, and the replication merges (which
 * must be commutative, associative and idempotent, and tolerate loss,
 * duplication and reordering).  Time is a plain number; nothing sleeps.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <cmocka.h>

#include "proxyd/ratelimit.h"

#define T0 1794999960000ull          /* a multiple of every period used here (60 s included) */
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static struct rl_limit_conf conf(uint64_t period, uint64_t rate, uint64_t burst, uint32_t max_keys)
{
	struct rl_limit_conf c;

	memset(&c, 0, sizeof(c));
	snprintf(c.name, sizeof(c.name), "test");
	c.period_ms = period;
	c.rate = rate;
	c.burst = burst;
	c.max_keys = max_keys;
	return c;
}

static struct rl_table *table(const struct rl_limit_conf *c, const char *self)
{
	struct rl_table *t = rl_table_new(c, self);

	assert_non_null(t);
	return t;
}

/* A header-kind key from a string; returns its length, key in k. */
static size_t hkey(const char *s, uint8_t k[RL_KEY_MAX])
{
	int n = rl_key_bytes(RL_KEY_HEADER, s, strlen(s), k);

	assert_true(n > 0);
	return (size_t)n;
}

/* n requests for key at now; returns how many were admitted, the verdict and
 * Retry-After of the first refused one in *first_v / *first_retry. */
static uint32_t burst_of(struct rl_table *t, const uint8_t *k, size_t kl, uint64_t now, uint32_t n,
			 enum rl_verdict *first_v, uint32_t *first_retry)
{
	uint32_t ok = 0, ra;
	int seen = 0;

	for (uint32_t i = 0; i < n; i++) {
		enum rl_verdict v = rl_check(t, k, kl, now, &ra);

		if (v == RL_ALLOW) {
			ok++;
		} else if (!seen) {
			seen = 1;
			if (first_v != NULL)
				*first_v = v;
			if (first_retry != NULL)
				*first_retry = ra;
		}
	}
	return ok;
}

/* --- configuration and names -------------------------------------------------------- */

static void test_conf_check(void **state)
{
	static const struct { uint64_t period, rate, burst; uint32_t max_keys, ban_after; uint64_t ban_period, ban_ms; int rc; } t[] = {
		{ 1000, 10, 0, 100, 0, 0, 0, 0 },
		{ 0, 10, 0, 100, 0, 0, 0, -1 },                       /* no period */
		{ RL_MAX_PERIOD_MS + 1, 10, 0, 100, 0, 0, 0, -1 },    /* period too long */
		{ 1000, 0, 5, 100, 0, 0, 0, -1 },                     /* rate 0 */
		{ 1000, RL_MAX_RATE, 1, 100, 0, 0, 0, -1 },           /* rate + burst too large */
		{ 1000, 10, 0, 0, 0, 0, 0, -1 },                      /* no keys */
		{ 1000, 10, 0, 100, 3, 0, 1000, -1 },                 /* ban without a period */
		{ 1000, 10, 0, 100, 3, 1000, 0, -1 },                 /* ban without a time */
		{ 1000, 10, 0, 100, 3, 1000, 1000, 0 },
	};
	(void)state;
	for (size_t i = 0; i < NELEM(t); i++) {
		struct rl_limit_conf c = conf(t[i].period, t[i].rate, t[i].burst, t[i].max_keys);
		const char *why = NULL;
		struct rl_table *tb;

		c.ban_after = t[i].ban_after;
		c.ban_period_ms = t[i].ban_period;
		c.ban_ms = t[i].ban_ms;
		assert_int_equal(rl_conf_check(&c, &why), t[i].rc);
		assert_true(t[i].rc == 0 ? why == NULL : why != NULL);
		tb = rl_table_new(&c, "a");
		assert_true(t[i].rc == 0 ? tb != NULL : tb == NULL);
		rl_table_free(tb);
	}
	{
		struct rl_limit_conf c = conf(1000, 1, 0, 1);
		char longname[RL_NAME_MAX + 1];

		memset(longname, 'n', sizeof(longname) - 1);
		longname[RL_NAME_MAX] = '\0';
		assert_null(rl_table_new(&c, ""));
		assert_null(rl_table_new(&c, NULL));
		assert_null(rl_table_new(&c, longname));
		c.name[0] = '\0';
		assert_int_equal(rl_conf_check(&c, NULL), -1);
	}
	assert_string_equal(rl_verdict_str(RL_ALLOW), "allow");
	assert_string_equal(rl_verdict_str(RL_LIMITED), "limited");
	assert_string_equal(rl_verdict_str(RL_BANNED), "banned");
	assert_string_equal(rl_verdict_str(RL_VERDICT_MAX), "?");
	rl_table_free(NULL);
}

/* --- keys ---------------------------------------------------------------------------- */

static void sa_of(const char *addr, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (strchr(addr, ':') != NULL) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		s6->sin6_family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, addr, &s6->sin6_addr), 1);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		s4->sin_family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, addr, &s4->sin_addr), 1);
	}
}

static void test_key_ip(void **state)
{
	/* (a, b, v4 prefix, v6 prefix) -> same key? */
	static const struct { const char *a, *b; int v4, v6, same; } t[] = {
		{ "2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff", 24, 64, 1 },  /* same /64 */
		{ "2001:db8:1:2::1", "2001:db8:1:3::1", 24, 64, 0 },                   /* next /64 */
		{ "2001:db8:1:2::1", "2001:db8:1:3::1", 24, 48, 1 },                   /* same /48 */
		{ "2001:db8:1:2::1", "2001:db8:1:2::2", 24, 128, 0 },
		{ "2001:db8::1", "2001:db9::1", 24, 31, 1 },                           /* db8 and db9 share 31 bits */
		{ "2001:db8::1", "2001:db9::1", 24, 32, 0 },
		{ "192.0.2.1", "192.0.2.254", 24, 64, 1 },                             /* same /24 */
		{ "192.0.2.1", "192.0.3.1", 24, 64, 0 },
		{ "192.0.2.1", "192.0.2.2", 32, 64, 0 },
		{ "192.0.2.1", "192.0.2.1", 32, 64, 1 },
		{ "192.0.2.1", "::ffff:192.0.2.77", 24, 128, 1 },                      /* dual stack = IPv4 */
		{ "192.0.2.1", "::ffff:192.0.3.1", 24, 128, 0 },
		{ "10.1.2.3", "10.200.0.0", 8, 64, 1 },
		{ "10.1.2.3", "11.1.2.3", 0, 64, 1 },                                  /* /0: one key for all */
		{ "192.0.2.1", "2001:db8::1", 0, 0, 0 },                               /* families never share */
	};
	(void)state;
	for (size_t i = 0; i < NELEM(t); i++) {
		struct sockaddr_storage a, b;
		uint8_t ka[RL_KEY_IP_LEN], kb[RL_KEY_IP_LEN];

		sa_of(t[i].a, &a);
		sa_of(t[i].b, &b);
		assert_int_equal(rl_key_ip((struct sockaddr *)&a, t[i].v4, t[i].v6, ka), RL_KEY_IP_LEN);
		assert_int_equal(rl_key_ip((struct sockaddr *)&b, t[i].v4, t[i].v6, kb), RL_KEY_IP_LEN);
		assert_int_equal(ka[0], RL_KEY_IP);
		if (memcmp(ka, kb, RL_KEY_IP_LEN) != 0 ? t[i].same : !t[i].same)
			fail_msg("case %zu: %s vs %s /%d /%d", i, t[i].a, t[i].b, t[i].v4, t[i].v6);
	}
	{
		struct sockaddr_storage a;
		struct sockaddr un = { .sa_family = AF_UNIX };
		uint8_t k[RL_KEY_IP_LEN] = { 0 }, z[RL_KEY_IP_LEN] = { 0 };
		static const uint8_t want[RL_KEY_IP_LEN] = { RL_KEY_IP, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 0 };

		sa_of("192.0.2.77", &a);
		assert_int_equal(rl_key_ip((struct sockaddr *)&a, 33, 64, k), -1);
		assert_int_equal(rl_key_ip((struct sockaddr *)&a, 24, 129, k), -1);
		assert_int_equal(rl_key_ip((struct sockaddr *)&a, -1, 64, k), -1);
		assert_int_equal(rl_key_ip(&un, 24, 64, k), -1);
		assert_int_equal(rl_key_ip(NULL, 24, 64, k), -1);
		assert_memory_equal(k, z, sizeof(k));                  /* untouched on failure */
		assert_int_equal(rl_key_ip((struct sockaddr *)&a, 24, 64, k), RL_KEY_IP_LEN);
		assert_memory_equal(k, want, sizeof(want));           /* ::ffff:192.0.2.0 */
	}
}

static void test_key_bytes(void **state)
{
	uint8_t a[RL_KEY_MAX], b[RL_KEY_MAX];
	char big[300];
	int n;

	(void)state;
	assert_int_equal(rl_key_bytes(RL_KEY_HEADER, "abc", 3, a), 4);
	assert_int_equal(a[0], RL_KEY_HEADER);
	assert_memory_equal(a + 1, "abc", 3);
	assert_int_equal(rl_key_bytes(RL_KEY_ROUTE, "abc", 3, b), 4);
	assert_memory_not_equal(a, b, 4);                     /* kinds never collide */
	assert_int_equal(rl_key_bytes(RL_KEY_HEADER, "", 0, a), 1);
	assert_int_equal(rl_key_bytes(RL_KEY_IP, "abc", 3, a), -1);
	assert_int_equal(rl_key_bytes(RL_KEY_HEADER, NULL, 3, a), -1);
	memset(big, 'x', sizeof(big));
	assert_int_equal(rl_key_bytes(RL_KEY_HEADER, big, RL_KEY_MAX - 1, a), RL_KEY_MAX);
	n = rl_key_bytes(RL_KEY_HEADER, big, sizeof(big), a);
	assert_int_equal(n, 17);                              /* digest of a long value */
	assert_int_equal(rl_key_bytes(RL_KEY_HEADER, big, sizeof(big), b), 17);
	assert_memory_equal(a, b, 17);                        /* deterministic */
	big[299] = 'y';
	assert_int_equal(rl_key_bytes(RL_KEY_HEADER, big, sizeof(big), b), 17);
	assert_memory_not_equal(a, b, 17);
}

/* --- the window arithmetic ----------------------------------------------------------- */

struct step {
	uint64_t at;                  /* ms after T0 */
	uint32_t n;                   /* requests sent at once */
	uint32_t want_ok;             /* how many are admitted */
	uint32_t want_retry;          /* Retry-After of the first refused one (0: none refused) */
};

static void run_steps(const struct rl_limit_conf *c, const struct step *s, size_t n)
{
	struct rl_table *t = table(c, "a");
	uint8_t k[RL_KEY_MAX];
	size_t kl = hkey("client", k);

	for (size_t i = 0; i < n; i++) {
		enum rl_verdict v = RL_ALLOW;
		uint32_t ra = 0, ok = burst_of(t, k, kl, T0 + s[i].at, s[i].n, &v, &ra);

		if (ok != s[i].want_ok || ra != s[i].want_retry || (ra != 0 && v != RL_LIMITED))
			fail_msg("step %zu (t=%llu): %u admitted (want %u), retry %u (want %u), %s",
				 i, (unsigned long long)s[i].at, ok, s[i].want_ok, ra, s[i].want_retry,
				 rl_verdict_str(v));
	}
	rl_table_free(t);
}

/* R = 10 per second, no burst. */
static void test_window_limit(void **state)
{
	static const struct step s[] = {
		{ 0, 15, 10, 2 },      /* 10 admitted; est stays 10 until 1000ms + 1 -> 2s */
		{ 500, 5, 0, 1 },      /* still 10 in this window */
		{ 999, 1, 0, 1 },
		{ 1000, 1, 0, 1 },     /* est = 10 * (1 - 0) = 10: not below */
		{ 1500, 10, 5, 1 },    /* est = 10 * 0.5 + cur: cur 0..4 admitted */
		{ 1750, 5, 3, 1 },     /* est = 2.5 + 5..7 */
		{ 3500, 20, 10, 1 },   /* window 2 idle: previous total 0, a fresh R */
		{ 3600, 1, 0, 1 },
		{ 10000, 10, 10, 0 },
	};
	struct rl_limit_conf c = conf(1000, 10, 0, 100);

	(void)state;
	run_steps(&c, s, NELEM(s));
}

/* R = 10, B = 5: the burst after idling, not on top of a full previous window. */
static void test_burst(void **state)
{
	static const struct step s[] = {
		{ 0, 20, 15, 2 },      /* R + B; next window's limit is R with 15 decaying: 1333ms */
		{ 1400, 5, 1, 1 },     /* est = 15 * 0.6 = 9 */
	};
	struct rl_limit_conf c = conf(1000, 10, 5, 100);
	struct rl_table *t;
	uint8_t k[RL_KEY_MAX];
	size_t kl = hkey("client", k);
	uint32_t ok;

	(void)state;
	run_steps(&c, s, 2);
	/* Previous window held 1 request: limit 10 + 5 * (1 - 1/10) = 14.5,
	 * est = 1 * (1 - f) + cur. */
	t = table(&c, "a");
	assert_int_equal(burst_of(t, k, kl, T0 + 500, 1, NULL, NULL), 1);
	ok = burst_of(t, k, kl, T0 + 1000, 30, NULL, NULL);
	assert_int_equal(ok, 14);                          /* 1 + cur < 14.5: cur 0..13 */
	/* After a whole idle window the full burst is back. */
	assert_int_equal(burst_of(t, k, kl, T0 + 3000, 30, NULL, NULL), 15);
	rl_table_free(t);
}

/* Sustained overload: the long-run admitted rate is R, the burst is paid once. */
static void test_sustained_rate(void **state)
{
	static const struct { uint64_t rate, burst; } t[] = { { 10, 0 }, { 10, 5 }, { 100, 20 }, { 50, 50 } };
	(void)state;
	for (size_t i = 0; i < NELEM(t); i++) {
		struct rl_limit_conf c = conf(1000, t[i].rate, t[i].burst, 100);
		struct rl_table *tb = table(&c, "a");
		uint8_t k[RL_KEY_MAX];
		size_t kl = hkey("client", k);
		uint64_t ok = 0, want = t[i].rate * 20 + t[i].burst;

		/* 20 s at 4 x the rate, requests evenly spaced. */
		for (uint64_t ms = 0; ms < 20000; ms += 1000 / (4 * t[i].rate))
			ok += burst_of(tb, k, kl, T0 + ms, 1, NULL, NULL);
		if (ok > want || ok + t[i].rate / 10 + 2 < want)
			fail_msg("rate %llu burst %llu: %llu admitted in 20s, want about %llu",
				 (unsigned long long)t[i].rate, (unsigned long long)t[i].burst,
				 (unsigned long long)ok, (unsigned long long)want);
		rl_table_free(tb);
	}
}

/* The sliding estimate across a window boundary, as rl_estimate reports it. */
static void test_sliding_estimate(void **state)
{
	static const struct { uint64_t at; double est; } t[] = {
		{ 0, 8.0 }, { 999, 8.0 }, { 1000, 8.0 }, { 1250, 6.0 }, { 1500, 4.0 },
		{ 1999, 0.008 }, { 2000, 0.0 }, { 5000, 0.0 },
	};
	struct rl_limit_conf c = conf(1000, 10, 0, 100);
	struct rl_table *tb = table(&c, "a");
	uint8_t k[RL_KEY_MAX];
	size_t kl = hkey("client", k);

	(void)state;
	assert_int_equal(burst_of(tb, k, kl, T0, 8, NULL, NULL), 8);
	for (size_t i = 0; i < NELEM(t); i++) {
		double e = rl_estimate(tb, k, kl, T0 + t[i].at);

		if (e < t[i].est - 1e-6 || e > t[i].est + 1e-6)
			fail_msg("t=%llu: estimate %f, want %f", (unsigned long long)t[i].at, e, t[i].est);
	}
	rl_table_free(tb);
}

/* Client addresses through rl_check: one /64, one /24 share a budget. */
static void test_prefix_aggregation(void **state)
{
	static const struct { const char *addr; int want; } t[] = {
		{ "2001:db8:1:2::1", RL_ALLOW }, { "2001:db8:1:2::1", RL_ALLOW },
		{ "2001:db8:1:2:aaaa::9", RL_LIMITED },      /* same /64, budget spent */
		{ "2001:db8:1:3::1", RL_ALLOW },             /* another /64 */
		{ "198.51.100.1", RL_ALLOW }, { "198.51.100.200", RL_ALLOW },
		{ "::ffff:198.51.100.7", RL_LIMITED },       /* same /24 through a dual-stack socket */
		{ "198.51.101.1", RL_ALLOW },
	};
	struct rl_limit_conf c = conf(60000, 2, 0, 100);
	struct rl_table *tb = table(&c, "a");

	(void)state;
	for (size_t i = 0; i < NELEM(t); i++) {
		struct sockaddr_storage ss;
		uint8_t k[RL_KEY_IP_LEN];
		uint32_t ra = 0;
		enum rl_verdict v;

		sa_of(t[i].addr, &ss);
		assert_int_equal(rl_key_ip((struct sockaddr *)&ss, 24, 64, k), RL_KEY_IP_LEN);
		v = rl_check(tb, k, sizeof(k), T0 + 10, &ra);
		if ((int)v != t[i].want)
			fail_msg("case %zu %s: %s", i, t[i].addr, rl_verdict_str(v));
		if (v == RL_LIMITED)
			assert_int_equal(ra, 60);            /* (60000 - 10 + 1) ms */
	}
	rl_table_free(tb);
}

/* --- bans ---------------------------------------------------------------------------- */

static void test_ban(void **state)
{
	/* R = 1 per second; 3 rejections within 10 s ban for 60 s. */
	static const struct { uint64_t at; enum rl_verdict v; uint32_t retry; } t[] = {
		{ 0, RL_ALLOW, 0 },
		{ 100, RL_LIMITED, 1 },      /* (1000 - 100 + 1) ms */
		{ 200, RL_LIMITED, 1 },
		{ 300, RL_BANNED, 60 },      /* third rejection: banned from now */
		{ 400, RL_BANNED, 60 },      /* 59.9 s left */
		{ 5000, RL_BANNED, 56 },
		{ 60299, RL_BANNED, 1 },
		{ 60300, RL_ALLOW, 0 },      /* over; counting starts afresh */
		{ 60301, RL_LIMITED, 1 },
	};
	struct rl_limit_conf c = conf(1000, 1, 0, 100);
	struct rl_table *tb;
	uint8_t k[RL_KEY_MAX], other[RL_KEY_MAX];
	size_t kl = hkey("bad", k), ol = hkey("good", other);
	struct rl_stats st;

	(void)state;
	c.ban_after = 3;
	c.ban_period_ms = 10000;
	c.ban_ms = 60000;
	tb = table(&c, "a");
	for (size_t i = 0; i < NELEM(t); i++) {
		uint32_t ra = 0;
		enum rl_verdict v = rl_check(tb, k, kl, T0 + t[i].at, &ra);

		if (v != t[i].v || (v != RL_ALLOW && ra != t[i].retry))
			fail_msg("step %zu: %s retry %u, want %s retry %u", i, rl_verdict_str(v), ra,
				 rl_verdict_str(t[i].v), t[i].retry);
	}
	assert_int_equal(rl_ban_check(tb, k, kl, T0 + 1000, NULL), 1);
	assert_int_equal(rl_ban_check(tb, k, kl, T0 + 60300, NULL), 0);
	assert_int_equal(rl_ban_check(tb, other, ol, T0 + 1000, NULL), 0);
	assert_int_equal(rl_check(tb, other, ol, T0 + 1000, NULL), RL_ALLOW);
	rl_stats_get(tb, &st);
	assert_int_equal(st.bans_issued, 1);
	assert_int_equal(st.banned, 4);
	assert_int_equal(st.limited, 3);
	rl_table_free(tb);
}

/* hactl ratelimit reset: every node's counts in the windows begun by the
 * reset and the ban are forgotten, and stay forgotten when a peer that has
 * not heard of the reset sends them again; a later window is counted as
 * usual; an older reset changes nothing. */
static void test_reset(void **state)
{
	struct rl_limit_conf c = conf(1000, 4, 0, 100);
	struct rl_table *tb;
	uint8_t k[RL_KEY_MAX];
	size_t kl = hkey("tenant", k);

	(void)state;
	c.ban_after = 1;
	c.ban_period_ms = 10000;
	c.ban_ms = 60000;
	tb = table(&c, "a");
	assert_int_equal(rl_merge_remote(tb, "b", k, kl, T0, 3, T0 + 100), 1);
	assert_int_equal(burst_of(tb, k, kl, T0 + 200, 5, NULL, NULL), 1);   /* 3 + 1, then banned */
	assert_int_equal(rl_ban_check(tb, k, kl, T0 + 300, NULL), 1);
	assert_int_equal(rl_reset(tb, k, kl, T0 + 400, T0 + 400), 1);
	assert_int_equal(rl_reset(tb, k, kl, T0 + 400, T0 + 400), 0);     /* the same again: nothing */
	assert_int_equal(rl_reset(tb, k, kl, T0 + 300, T0 + 400), 0);     /* older: nothing */
	assert_int_equal(rl_ban_check(tb, k, kl, T0 + 400, NULL), 0);
	assert_true(rl_estimate(tb, k, kl, T0 + 400) < 0.5);
	/* Late copies of what was forgotten: b's count, the ban. */
	assert_int_equal(rl_merge_remote(tb, "b", k, kl, T0, 3, T0 + 450), 0);
	assert_int_equal(rl_ban_merge(tb, k, kl, T0 + 200 + 60000, T0 + 450), 0);
	assert_int_equal(rl_ban_check(tb, k, kl, T0 + 450, NULL), 0);
	/* This node counts afresh: 4 more in the rest of the window (and the
	 * rejection after them bans again: a new ban, after the reset). */
	assert_int_equal(burst_of(tb, k, kl, T0 + 500, 6, NULL, NULL), 4);
	assert_int_equal(rl_ban_check(tb, k, kl, T0 + 600, NULL), 1);
	/* The next window merges normally. */
	assert_int_equal(rl_merge_remote(tb, "b", k, kl, T0 + 1000, 2, T0 + 1100), 1);
	assert_int_equal(rl_reset(tb, k, kl, 0, T0 + 1100), -1);
	rl_table_free(tb);
}

/* Rejections spread wider than ban_period never add up to a ban. */
static void test_ban_period(void **state)
{
	struct rl_limit_conf c = conf(1000, 1, 0, 100);
	struct rl_table *tb;
	uint8_t k[RL_KEY_MAX];
	size_t kl = hkey("slow", k);

	(void)state;
	c.ban_after = 3;
	c.ban_period_ms = 1500;
	c.ban_ms = 60000;
	tb = table(&c, "a");
	for (uint64_t w = 0; w < 10; w++) {
		/* One admitted and one refused every 2 s: at most
		 * two rejections fall in any 1.5 s period. */
		enum rl_verdict v = RL_ALLOW;

		burst_of(tb, k, kl, T0 + w * 2000 + 1999, 2, &v, NULL);
		assert_int_equal(v, RL_LIMITED);
	}
	assert_int_equal(rl_ban_check(tb, k, kl, T0 + 20000, NULL), 0);
	rl_table_free(tb);
}

/* --- memory bound -------------------------------------------------------------------- */

static void test_lru_bound(void **state)
{
	static const uint32_t maxk[] = { 1, 7, 100, 256, 1000 };
	(void)state;
	for (size_t i = 0; i < NELEM(maxk); i++) {
		struct rl_limit_conf c = conf(1000, 5, 0, maxk[i]);
		struct rl_table *tb = table(&c, "a");
		struct rl_stats st;

		for (uint32_t j = 0; j < 10 * maxk[i]; j++) {
			uint8_t k[RL_KEY_MAX];
			char s[32];

			snprintf(s, sizeof(s), "k%u", j);
			assert_int_equal(rl_check(tb, k, hkey(s, k), T0 + j, NULL), RL_ALLOW);
			rl_stats_get(tb, &st);
			if (st.keys > maxk[i])
				fail_msg("max_keys %u: %llu keys", maxk[i], (unsigned long long)st.keys);
		}
		rl_stats_get(tb, &st);
		assert_int_equal(st.keys, maxk[i]);
		assert_int_equal(st.evict_lru + st.evict_expired, 9 * (uint64_t)maxk[i]);
		rl_table_free(tb);
	}
}

/* The least recently used key goes first: touching a key keeps it. */
static void test_lru_order(void **state)
{
	struct rl_limit_conf c = conf(60000, 5, 0, 4);
	struct rl_table *tb = table(&c, "a");
	uint8_t k[5][RL_KEY_MAX];
	size_t kl[5];
	const char *names[5] = { "A", "B", "C", "D", "E" };

	(void)state;
	for (int i = 0; i < 5; i++)
		kl[i] = hkey(names[i], k[i]);
	for (int i = 0; i < 4; i++)
		rl_check(tb, k[i], kl[i], T0 + (uint64_t)i, NULL);
	rl_check(tb, k[0], kl[0], T0 + 10, NULL);           /* A used again: B is now the LRU */
	rl_check(tb, k[4], kl[4], T0 + 11, NULL);
	assert_true(rl_estimate(tb, k[0], kl[0], T0 + 12) > 1.5);
	assert_true(rl_estimate(tb, k[1], kl[1], T0 + 12) == 0.0);
	for (int i = 2; i < 5; i++)
		assert_true(rl_estimate(tb, k[i], kl[i], T0 + 12) > 0.5);
	rl_table_free(tb);
}

/* A full table reuses an entry whose windows are over before a live one,
 * even when the expired entry is not the least recently used. */
static void test_evict_expired_first(void **state)
{
	struct rl_limit_conf c = conf(1000, 5, 0, 2);
	struct rl_table *tb = table(&c, "a");
	uint8_t l[RL_KEY_MAX], x[RL_KEY_MAX], n[RL_KEY_MAX];
	size_t ll = hkey("live", l), xl = hkey("expiring", x), nl = hkey("new", n);
	struct rl_stats st;

	(void)state;
	/* At 1.5 s: "live" counted in window 1, then "expiring" in window 0
	 * (so "expiring" is the more recently used). */
	assert_int_equal(rl_merge_remote(tb, "b", l, ll, T0 + 1000, 1, T0 + 1500), 1);
	assert_int_equal(rl_merge_remote(tb, "b", x, xl, T0, 1, T0 + 1500), 1);
	/* At 2.001 s window 0 is out of the estimate, window 1 is not. */
	assert_int_equal(rl_check(tb, n, nl, T0 + 2001, NULL), RL_ALLOW);
	rl_stats_get(tb, &st);
	assert_int_equal(st.keys, 2);
	assert_int_equal(st.evict_expired, 1);
	assert_int_equal(st.evict_lru, 0);
	assert_true(rl_estimate(tb, l, ll, T0 + 2001) > 0.9);
	assert_true(rl_estimate(tb, x, xl, T0 + 2001) == 0.0);
	/* rl_expire sweeps what is over. */
	assert_int_equal(rl_expire(tb, T0 + 3000), 1);      /* "live" (window 1) is over at 3 s */
	assert_int_equal(rl_expire(tb, T0 + 4000), 1);      /* "new" (window 2) at 4 s */
	rl_stats_get(tb, &st);
	assert_int_equal(st.keys, 0);
	rl_table_free(tb);
}

/* --- replication --------------------------------------------------------------------- */

struct upd { char origin[8]; uint8_t key[RL_KEY_MAX]; size_t klen; uint64_t ws, count; };

struct collected { struct upd u[4096]; size_t n; size_t stop_at; };

static int collect_cb(void *arg, const char *origin, const uint8_t *key, size_t klen, uint64_t ws, uint64_t count)
{
	struct collected *c = arg;

	if (c->stop_at != 0 && c->n >= c->stop_at)
		return 1;
	assert_true(c->n < NELEM(c->u));
	snprintf(c->u[c->n].origin, sizeof(c->u[c->n].origin), "%s", origin);
	memcpy(c->u[c->n].key, key, klen);
	c->u[c->n].klen = klen;
	c->u[c->n].ws = ws;
	c->u[c->n].count = count;
	c->n++;
	return 0;
}

static int cmp_upd(const void *a, const void *b)
{
	const struct upd *x = a, *y = b;
	int r = strcmp(x->origin, y->origin);

	if (r == 0)
		r = x->klen != y->klen ? (x->klen < y->klen ? -1 : 1) : memcmp(x->key, y->key, x->klen);
	if (r == 0)
		r = x->ws != y->ws ? (x->ws < y->ws ? -1 : 1) : 0;
	if (r == 0)
		r = x->count != y->count ? (x->count < y->count ? -1 : 1) : 0;
	return r;
}

/* The whole replicated state of a table, sorted, as rl_dump exports it. */
static void dump_sorted(struct rl_table *t, uint64_t now, struct collected *out)
{
	memset(out, 0, sizeof(*out));
	rl_dump(t, now, collect_cb, NULL, out);
	qsort(out->u, out->n, sizeof(out->u[0]), cmp_upd);
}

static void assert_same_state(struct rl_table *a, struct rl_table *b, uint64_t now)
{
	static struct collected da, db;

	dump_sorted(a, now, &da);
	dump_sorted(b, now, &db);
	assert_int_equal(da.n, db.n);
	for (size_t i = 0; i < da.n; i++)
		assert_int_equal(cmp_upd(&da.u[i], &db.u[i]), 0);
}

static uint64_t rnd_state = 88172645463325252ull;
static uint64_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

static void apply(struct rl_table *t, const struct upd *u, size_t n, uint64_t now)
{
	for (size_t i = 0; i < n; i++)
		assert_int_not_equal(rl_merge_remote(t, u[i].origin, u[i].key, u[i].klen, u[i].ws, u[i].count, now), -1);
}

/* A history of G-counter exports: origins b, c, d counting up on 6 keys in
 * two windows, each export the absolute count at that moment. */
static size_t history(struct upd *u, size_t cap)
{
	static const char *origins[] = { "b", "c", "d" };
	uint64_t counts[3][6][2] = { { { 0 } } };
	size_t n = 0;

	while (n < cap) {
		int o = (int)(rnd() % 3), k = (int)(rnd() % 6), w = (int)(rnd() % 2);
		char ks[16];

		counts[o][k][w] += 1 + rnd() % 5;
		snprintf(u[n].origin, sizeof(u[n].origin), "%s", origins[o]);
		snprintf(ks, sizeof(ks), "key%d", k);
		u[n].klen = hkey(ks, u[n].key);
		u[n].ws = T0 + 1000 * (uint64_t)w;
		u[n].count = counts[o][k][w];
		n++;
	}
	return n;
}

static void shuffle(struct upd *u, size_t n)
{
	for (size_t i = n; i > 1; i--) {
		size_t j = rnd() % i;
		struct upd tmp = u[i - 1];

		u[i - 1] = u[j];
		u[j] = tmp;
	}
}

/* Merges commute, are idempotent, and shrug off loss (of all but the newest
 * export per entry), duplication and reordering. */
static void test_merge_order_independent(void **state)
{
	enum { N = 400 };
	static struct upd hist[N], mixed[3 * N];
	struct rl_limit_conf c = conf(1000, 1000, 0, 1000);
	uint64_t now = T0 + 1500;
	struct rl_table *inorder = table(&c, "a"), *rev = table(&c, "a"), *mix = table(&c, "a"), *lossy = table(&c, "a");
	size_t nm = 0;

	(void)state;
	history(hist, N);
	apply(inorder, hist, N, now);
	for (size_t i = N; i > 0; i--)
		apply(rev, &hist[i - 1], 1, now);
	/* Every update once or more, shuffled. */
	for (size_t i = 0; i < N; i++) {
		int copies = 1 + (int)(rnd() % 3);

		for (int j = 0; j < copies; j++)
			mixed[nm++] = hist[i];
	}
	shuffle(mixed, nm);
	apply(mix, mixed, nm, now);
	apply(mix, mixed, nm, now);                  /* everything again: idempotent */
	/* Loss: drop a random half of the exports, but never the newest of an
	 * (origin, key, window), which carries the final count. */
	for (size_t i = 0; i < N; i++) {
		int newest = 1;

		for (size_t j = i + 1; j < N && newest; j++)
			if (strcmp(hist[j].origin, hist[i].origin) == 0 && hist[j].ws == hist[i].ws &&
			    hist[j].klen == hist[i].klen && memcmp(hist[j].key, hist[i].key, hist[i].klen) == 0)
				newest = 0;
		if (newest || rnd() % 2)
			apply(lossy, &hist[i], 1, now);
	}
	assert_same_state(inorder, rev, now);
	assert_same_state(inorder, mix, now);
	assert_same_state(inorder, lossy, now);
	for (int k = 0; k < 6; k++) {
		uint8_t key[RL_KEY_MAX];
		char ks[16];
		size_t kl;

		snprintf(ks, sizeof(ks), "key%d", k);
		kl = hkey(ks, key);
		assert_true(rl_estimate(inorder, key, kl, now) == rl_estimate(mix, key, kl, now));
		assert_true(rl_estimate(inorder, key, kl, now) > 0.0);
	}
	rl_table_free(inorder);
	rl_table_free(rev);
	rl_table_free(mix);
	rl_table_free(lossy);
}

/* Associative: (S1 + S2) + S3 equals S1 + (S2 + S3), where a "+" on the
 * right is a whole table handed over by rl_dump (a bulk sync). */
static void test_merge_associative(void **state)
{
	enum { N = 300 };
	static struct upd hist[N];
	static struct collected d;
	struct rl_limit_conf c = conf(1000, 1000, 0, 1000);
	uint64_t now = T0 + 1500;
	struct rl_table *left = table(&c, "a"), *right = table(&c, "a"), *mid = table(&c, "m");

	(void)state;
	history(hist, N);
	apply(left, hist, N / 3, now);
	apply(left, hist + N / 3, N / 3, now);
	apply(left, hist + 2 * N / 3, N - 2 * N / 3, now);
	apply(mid, hist + N / 3, N / 3, now);
	apply(mid, hist + 2 * N / 3, N - 2 * N / 3, now);
	apply(right, hist, N / 3, now);
	dump_sorted(mid, now, &d);
	apply(right, d.u, d.n, now);
	assert_same_state(left, right, now);
	rl_table_free(left);
	rl_table_free(right);
	rl_table_free(mid);
}

/* Deltas: absolute counts of what changed since the last export. */
static void test_collect_deltas(void **state)
{
	static struct collected got;
	struct rl_limit_conf c = conf(1000, 100, 0, 100);
	struct rl_table *t = table(&c, "a");
	uint8_t k1[RL_KEY_MAX], k2[RL_KEY_MAX];
	size_t l1 = hkey("one", k1), l2 = hkey("two", k2);

	(void)state;
	burst_of(t, k1, l1, T0 + 10, 3, NULL, NULL);
	burst_of(t, k2, l2, T0 + 10, 2, NULL, NULL);
	memset(&got, 0, sizeof(got));
	assert_int_equal(rl_collect_deltas(t, 0, collect_cb, &got), 2);
	qsort(got.u, got.n, sizeof(got.u[0]), cmp_upd);
	assert_string_equal(got.u[0].origin, "a");
	assert_int_equal(got.u[0].count, 3);
	assert_int_equal(got.u[1].count, 2);
	assert_int_equal(got.u[0].ws, T0);
	assert_int_equal(rl_collect_deltas(t, 0, collect_cb, &got), 0);     /* nothing new */
	burst_of(t, k1, l1, T0 + 20, 1, NULL, NULL);
	burst_of(t, k1, l1, T0 + 1020, 1, NULL, NULL);                      /* next window */
	memset(&got, 0, sizeof(got));
	got.stop_at = 1;                                                    /* room for one */
	assert_int_equal(rl_collect_deltas(t, 0, collect_cb, &got), 1);
	got.stop_at = 0;
	assert_int_equal(rl_collect_deltas(t, 0, collect_cb, &got), 1);     /* the other stayed pending */
	qsort(got.u, got.n, sizeof(got.u[0]), cmp_upd);
	assert_int_equal(got.u[0].ws, T0);
	assert_int_equal(got.u[0].count, 4);
	assert_int_equal(got.u[1].ws, T0 + 1000);
	assert_int_equal(got.u[1].count, 1);
	burst_of(t, k2, l2, T0 + 1030, 1, NULL, NULL);
	burst_of(t, k1, l1, T0 + 1030, 1, NULL, NULL);
	memset(&got, 0, sizeof(got));
	assert_int_equal(rl_collect_deltas(t, 1, collect_cb, &got), 1);     /* max */
	assert_int_equal(rl_collect_deltas(t, 0, collect_cb, &got), 1);
	rl_table_free(t);
}

/* Refused and stale merges; our own counts echoed back. */
static void test_merge_edges(void **state)
{
	static struct collected got;
	struct rl_limit_conf c = conf(1000, 10, 0, 100);
	struct rl_table *t = table(&c, "a");
	uint8_t k[RL_KEY_MAX];
	size_t kl = hkey("k", k);
	uint64_t now = T0 + 5500;
	struct rl_stats st;

	(void)state;
	assert_int_equal(rl_merge_remote(t, "b", k, kl, T0 + 5001, 1, now), -1);   /* unaligned */
	assert_int_equal(rl_merge_remote(t, "b", k, kl, T0 + 6000, 1, now), -1);   /* future */
	assert_int_equal(rl_merge_remote(t, "", k, kl, T0 + 5000, 1, now), -1);
	assert_int_equal(rl_merge_remote(t, NULL, k, kl, T0 + 5000, 1, now), -1);
	assert_int_equal(rl_merge_remote(t, "b", k, 0, T0 + 5000, 1, now), -1);
	assert_int_equal(rl_merge_remote(t, "b", k, RL_KEY_MAX + 1, T0 + 5000, 1, now), -1);
	assert_int_equal(rl_merge_remote(t, "b", k, kl, T0 + 3000, 9, now), 0);    /* too old to matter */
	assert_int_equal(rl_merge_remote(t, "b", k, kl, T0 + 5000, 0, now), 0);
	assert_int_equal(rl_merge_remote(t, "b", k, kl, T0 + 5000, 4, now), 1);
	assert_int_equal(rl_merge_remote(t, "b", k, kl, T0 + 5000, 3, now), 0);    /* not above */
	assert_int_equal(rl_merge_remote(t, "b", k, kl, T0 + 5000, 4, now), 0);    /* duplicate */
	assert_int_equal(rl_merge_remote(t, "b", k, kl, T0 + 4000, 2, now), 1);    /* previous window */
	assert_true(rl_estimate(t, k, kl, now) == 2 * 0.5 + 4);
	/* Our own origin: raises the local count, is not re-exported. */
	assert_int_equal(rl_merge_remote(t, "a", k, kl, T0 + 5000, 5, now), 1);
	assert_true(rl_estimate(t, k, kl, now) == 1 + 4 + 5);
	memset(&got, 0, sizeof(got));
	assert_int_equal(rl_collect_deltas(t, 0, collect_cb, &got), 0);
	/* 16 remote origins at most. */
	for (int i = 0; i < RL_MAX_NODES - 1; i++) {
		char o[16];

		snprintf(o, sizeof(o), "n%d", i);
		assert_int_equal(rl_merge_remote(t, o, k, kl, T0 + 5000, 1, now), 1);
	}
	assert_int_equal(rl_merge_remote(t, "one-too-many", k, kl, T0 + 5000, 1, now), -1);
	assert_true(rl_estimate(t, k, kl, now) == 1 + 4 + 5 + RL_MAX_NODES - 1);
	/* The next window comes round in the slot of window 4: it starts empty. */
	assert_int_equal(rl_merge_remote(t, "b", k, kl, T0 + 6000, 7, T0 + 6000), 1);
	assert_true(rl_estimate(t, k, kl, T0 + 6000) == (5 + 4 + RL_MAX_NODES - 1) + 7);
	rl_stats_get(t, &st);
	assert_int_equal(st.merge_bad, 7);
	rl_table_free(t);
}

struct bans_got { uint8_t key[RL_KEY_MAX]; size_t klen; uint64_t until; size_t n; };

static int ban_cb(void *arg, const uint8_t *key, size_t klen, uint64_t until)
{
	struct bans_got *g = arg;

	memcpy(g->key, key, klen);
	g->klen = klen;
	g->until = until;
	g->n++;
	return 0;
}

static void test_ban_merge(void **state)
{
	struct rl_limit_conf c = conf(1000, 1, 0, 100);
	struct rl_table *a, *b;
	uint8_t k[RL_KEY_MAX];
	size_t kl = hkey("abuser", k);
	struct bans_got g;
	uint32_t ra = 0;

	(void)state;
	c.ban_after = 1;
	c.ban_period_ms = 1000;
	c.ban_ms = 30000;
	a = table(&c, "a");
	b = table(&c, "b");
	assert_int_equal(rl_check(a, k, kl, T0, NULL), RL_ALLOW);
	assert_int_equal(rl_check(a, k, kl, T0 + 1, &ra), RL_BANNED);
	assert_int_equal(ra, 30);
	memset(&g, 0, sizeof(g));
	assert_int_equal(rl_collect_bans(a, 0, ban_cb, &g), 1);
	assert_int_equal(g.until, T0 + 30001);
	assert_int_equal(rl_collect_bans(a, 0, ban_cb, &g), 0);      /* exported once */
	/* B learns the ban: refused there too, though B never saw the key. */
	assert_int_equal(rl_ban_merge(b, g.key, g.klen, g.until, T0 + 5), 1);
	assert_int_equal(rl_ban_merge(b, g.key, g.klen, g.until, T0 + 5), 0);          /* idempotent */
	assert_int_equal(rl_ban_merge(b, g.key, g.klen, g.until - 100, T0 + 5), 0);    /* max wins */
	assert_int_equal(rl_check(b, k, kl, T0 + 1001, &ra), RL_BANNED);
	assert_int_equal(ra, 29);
	assert_int_equal(rl_ban_merge(b, k, kl, T0 + 40000, T0 + 5), 1);               /* extended */
	assert_int_equal(rl_ban_check(b, k, kl, T0 + 35000, &ra), 1);
	assert_int_equal(ra, 5);
	assert_int_equal(rl_ban_merge(b, k, kl, T0 + 10, T0 + 20), 0);                 /* already over */
	assert_int_equal(rl_ban_merge(b, k, 0, T0 + 10, T0), -1);
	memset(&g, 0, sizeof(g));
	assert_int_equal(rl_collect_bans(b, 0, ban_cb, &g), 0);      /* merged bans are not re-exported */
	assert_int_equal(rl_dump(b, T0 + 35000, NULL, ban_cb, &g), 1); /* but a bulk sync carries them */
	assert_int_equal(rl_dump(b, T0 + 40000, NULL, ban_cb, &g), 0);
	assert_int_equal(rl_check(b, k, kl, T0 + 40000, NULL), RL_ALLOW);
	rl_table_free(a);
	rl_table_free(b);
}

/* The ban table is bounded too: the oldest ban makes room. */
static void test_ban_bound(void **state)
{
	struct rl_limit_conf c = conf(1000, 1, 0, 100);
	struct rl_table *t;
	struct rl_stats st;
	uint8_t k[RL_KEY_MAX];

	(void)state;
	c.max_bans = 4;
	t = table(&c, "a");
	for (int i = 0; i < 10; i++) {
		char s[16];

		snprintf(s, sizeof(s), "b%d", i);
		assert_int_equal(rl_ban_merge(t, k, hkey(s, k), T0 + 60000, T0), 1);
	}
	rl_stats_get(t, &st);
	assert_int_equal(st.bans, 4);
	assert_int_equal(st.ban_evictions, 6);
	assert_int_equal(rl_ban_check(t, k, hkey("b9", k), T0, NULL), 1);
	assert_int_equal(rl_ban_check(t, k, hkey("b0", k), T0, NULL), 0);
	assert_int_equal(rl_expire(t, T0 + 60000), 4);
	rl_table_free(t);
}

/* Two nodes at twice the limit, exchanging deltas every 50 ms: together
 * they admit about the limit, each about half.  Without the exchange
 * (scope node) they admit about twice the limit. */
/* The callback runs under a shard lock of the table being collected: it
 * only records, and the merge into the other table happens after, as
 * proxyd does (batch, then send). Merging from inside the callback held
 * a's lock while taking b's and the other way round in the next call, a
 * lock-order inversion ThreadSanitizer reports (make SAN=thread). */
#define RELAY_MAX 64
struct relay {
	struct rl_table *to;
	uint64_t now;
	size_t n;
	struct { char origin[16]; uint8_t key[RL_KEY_MAX]; size_t klen; uint64_t ws, count; } d[RELAY_MAX];
};

static int relay_cb(void *arg, const char *origin, const uint8_t *key, size_t klen, uint64_t ws, uint64_t count)
{
	struct relay *r = arg;

	assert_true(r->n < RELAY_MAX && klen <= RL_KEY_MAX && strlen(origin) < sizeof(r->d[0].origin));
	snprintf(r->d[r->n].origin, sizeof(r->d[0].origin), "%s", origin);
	memcpy(r->d[r->n].key, key, klen);
	r->d[r->n].klen = klen;
	r->d[r->n].ws = ws;
	r->d[r->n].count = count;
	r->n++;
	return 0;
}

static void relay(struct rl_table *from, struct relay *r)
{
	r->n = 0;
	rl_collect_deltas(from, 0, relay_cb, r);
	for (size_t i = 0; i < r->n; i++)
		assert_int_not_equal(rl_merge_remote(r->to, r->d[i].origin, r->d[i].key, r->d[i].klen,
		    r->d[i].ws, r->d[i].count, r->now), -1);
}

static void cluster_run(int exchange, uint64_t *ok_a, uint64_t *ok_b)
{
	struct rl_limit_conf c = conf(1000, 100, 10, 1000);
	struct rl_table *a = table(&c, "a"), *b = table(&c, "b");
	uint8_t k[RL_KEY_MAX];
	size_t kl = hkey("client", k);

	*ok_a = *ok_b = 0;
	/* 10 s; each node receives 200 requests/s, one every 5 ms, so the
	 * cluster gets twice the rate R on each node, four times R in all. */
	for (uint64_t ms = 0; ms < 10000; ms += 5) {
		*ok_a += rl_check(a, k, kl, T0 + ms, NULL) == RL_ALLOW;
		*ok_b += rl_check(b, k, kl, T0 + ms + 2, NULL) == RL_ALLOW;
		if (exchange && ms % 50 == 45) {
			static struct relay ra, rb;

			ra.to = b;
			rb.to = a;
			ra.now = rb.now = T0 + ms + 3;
			relay(a, &ra);
			relay(b, &rb);
		}
	}
	rl_table_free(a);
	rl_table_free(b);
}

static void test_cluster_sum(void **state)
{
	uint64_t a, b, limit = 100 * 10 + 10;

	(void)state;
	cluster_run(1, &a, &b);
	print_message("scope cluster: node a %llu, node b %llu, total %llu (limit+burst %llu)\n",
		      (unsigned long long)a, (unsigned long long)b, (unsigned long long)(a + b),
		      (unsigned long long)limit);
	assert_true(a + b <= limit * 105 / 100);
	assert_true(a + b >= limit * 95 / 100);
	assert_true(a * 10 >= (a + b) * 4 && b * 10 >= (a + b) * 4);
	cluster_run(0, &a, &b);
	print_message("scope node:    node a %llu, node b %llu, total %llu\n",
		      (unsigned long long)a, (unsigned long long)b, (unsigned long long)(a + b));
	assert_true(a + b >= 2 * limit * 95 / 100);
}

/* A share of the limit (a partition policy): rate and burst both scale. */
static void test_share(void **state)
{
	static const struct { uint32_t num, den; int rc; uint32_t want; } t[] = {
		{ 1, 1, 0, 14 },        /* R + B */
		{ 1, 2, 0, 7 },         /* (10 + 4) / 2 */
		{ 1, 3, 0, 5 },         /* 4.67: est 0..4 admitted */
		{ 0, 2, -1, 5 },        /* refused: the previous share stays */
		{ 3, 2, -1, 5 },
		{ 1, 0, -1, 5 },
		{ 2, 2, 0, 14 },
	};
	struct rl_limit_conf c = conf(1000, 10, 4, 100);
	struct rl_table *tb = table(&c, "a");

	(void)state;
	for (size_t i = 0; i < NELEM(t); i++) {
		uint8_t k[RL_KEY_MAX];
		char s[16];
		uint32_t ok;

		snprintf(s, sizeof(s), "k%zu", i);
		assert_int_equal(rl_table_set_share(tb, t[i].num, t[i].den), t[i].rc);
		ok = burst_of(tb, k, hkey(s, k), T0, 30, NULL, NULL);
		if (ok != t[i].want)
			fail_msg("share %u/%u: %u admitted, want %u", t[i].num, t[i].den, ok, t[i].want);
	}
	rl_table_free(tb);
}

/* Workers share one table: the count is exact under concurrency. */
struct worker_arg { struct rl_table *t; uint64_t ok; };

static void *worker(void *p)
{
	struct worker_arg *w = p;
	uint8_t k[RL_KEY_MAX];
	size_t kl = hkey("shared", k);

	for (int i = 0; i < 20000; i++) {
		char s[16];
		uint8_t k2[RL_KEY_MAX];

		w->ok += rl_check(w->t, k, kl, T0 + 100, NULL) == RL_ALLOW;
		snprintf(s, sizeof(s), "x%d", i);
		rl_check(w->t, k2, hkey(s, k2), T0 + 100, NULL);      /* churn other shards */
	}
	return NULL;
}

static void test_threads(void **state)
{
	struct rl_limit_conf c = conf(1000, 5000, 0, 4096);
	struct worker_arg w[4];
	pthread_t th[4];
	uint64_t total = 0;
	struct rl_stats st;

	(void)state;
	memset(w, 0, sizeof(w));
	w[0].t = table(&c, "a");
	for (int i = 0; i < 4; i++) {
		w[i].t = w[0].t;
		assert_int_equal(pthread_create(&th[i], NULL, worker, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		total += w[i].ok;
	}
	assert_int_equal(total, 5000);
	rl_stats_get(w[0].t, &st);
	assert_true(st.keys <= 4096);
	rl_table_free(w[0].t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_conf_check),
		cmocka_unit_test(test_key_ip),
		cmocka_unit_test(test_key_bytes),
		cmocka_unit_test(test_window_limit),
		cmocka_unit_test(test_burst),
		cmocka_unit_test(test_sustained_rate),
		cmocka_unit_test(test_sliding_estimate),
		cmocka_unit_test(test_prefix_aggregation),
		cmocka_unit_test(test_ban),
		cmocka_unit_test(test_reset),
		cmocka_unit_test(test_ban_period),
		cmocka_unit_test(test_lru_bound),
		cmocka_unit_test(test_lru_order),
		cmocka_unit_test(test_evict_expired_first),
		cmocka_unit_test(test_merge_order_independent),
		cmocka_unit_test(test_merge_associative),
		cmocka_unit_test(test_collect_deltas),
		cmocka_unit_test(test_merge_edges),
		cmocka_unit_test(test_ban_merge),
		cmocka_unit_test(test_ban_bound),
		cmocka_unit_test(test_cluster_sum),
		cmocka_unit_test(test_share),
		cmocka_unit_test(test_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
