/*
 * tests/unit/test_health.c — proxyd/health.c on a fake clock: rise/fall,
 * passive ejection with its growing interval, slow start, the panic
 * threshold, admin state, peer views before the first local verdict, and the
 * weights handed to the balancer.  Each scenario is a table of (time, event)
 * -> (transition, state, weight).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "proxyd/health.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define T0 1000000ull                 /* monotonic ms; any value */

static struct health_conf base_conf(void)
{
	struct health_conf c;

	memset(&c, 0, sizeof(c));
	c.weight = 10;
	c.rise = 2;
	c.fall = 3;
	c.init_up = 1;
	return c;
}

/* Events a script can apply to one server of a group. */
enum ev { CHK_OK, CHK_FAIL, P_OK, P_5XX, P_CONN, ADM_READY, ADM_DRAIN, ADM_MAINT, PEER_UP, PEER_DOWN, NOTHING };

struct step {
	uint64_t at;                  /* ms after T0 */
	int srv;
	enum ev ev;
	uint64_t peer_stamp;          /* PEER_*: observed_unix_ms */
	enum health_transition want_t;
	int want_weight;              /* eff weight of srv after the event (-1: don't check) */
};

static void run(struct health_group *g, const struct step *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct health_server *sv = &g->srv[s[i].srv];
		uint64_t now = T0 + s[i].at;
		enum health_transition t = HEALTH_T_NONE;
		struct bal_server bs[8];

		switch (s[i].ev) {
		case CHK_OK: t = health_check_result(sv, 1, now); break;
		case CHK_FAIL: t = health_check_result(sv, 0, now); break;
		case P_OK: t = health_passive_result(g, (size_t)s[i].srv, HEALTH_P_OK, now); break;
		case P_5XX: t = health_passive_result(g, (size_t)s[i].srv, HEALTH_P_5XX, now); break;
		case P_CONN: t = health_passive_result(g, (size_t)s[i].srv, HEALTH_P_CONNECT_FAIL, now); break;
		case ADM_READY: health_set_admin(sv, HEALTH_ADMIN_READY, now); break;
		case ADM_DRAIN: health_set_admin(sv, HEALTH_ADMIN_DRAIN, now); break;
		case ADM_MAINT: health_set_admin(sv, HEALTH_ADMIN_MAINT, now); break;
		case PEER_UP: t = health_peer_view(sv, 1, s[i].peer_stamp, now); break;
		case PEER_DOWN: t = health_peer_view(sv, 0, s[i].peer_stamp, now); break;
		case NOTHING: break;
		}
		assert_true(g->n <= NELEM(bs));
		health_group_apply(g, now, bs);
		if (t != s[i].want_t ||
		    (s[i].want_weight >= 0 && bs[s[i].srv].eff_weight != (uint32_t)s[i].want_weight))
			fail_msg("step %zu (t=+%llu srv %d): transition %s weight %u, want %s weight %d",
				 i, (unsigned long long)s[i].at, s[i].srv, health_transition_str(t),
				 bs[s[i].srv].eff_weight, health_transition_str(s[i].want_t), s[i].want_weight);
	}
}

static void group_init(struct health_group *g, struct health_server *srv, size_t n,
		       const struct health_conf *c, uint32_t min_pct)
{
	for (size_t i = 0; i < n; i++)
		assert_int_equal(health_server_init(&srv[i], c, T0), 0);
	g->srv = srv;
	g->n = n;
	g->min_healthy_pct = min_pct;
}

/* --- names and configuration -------------------------------------------------------- */

static void test_names(void **state)
{
	static const struct { enum health_admin a; const char *s; } adm[] = {
		{ HEALTH_ADMIN_READY, "ready" }, { HEALTH_ADMIN_DRAIN, "drain" }, { HEALTH_ADMIN_MAINT, "maint" },
	};
	enum health_admin a = HEALTH_ADMIN_MAINT;

	(void)state;
	for (size_t i = 0; i < NELEM(adm); i++) {
		assert_string_equal(health_admin_str(adm[i].a), adm[i].s);
		assert_int_equal(health_admin_parse(adm[i].s, &a), 0);
		assert_int_equal(a, adm[i].a);
	}
	assert_int_equal(health_admin_parse("Ready", &a), -1);
	assert_int_equal(health_admin_parse("", &a), -1);
	assert_int_equal(health_admin_parse(NULL, &a), -1);
	assert_int_equal(a, HEALTH_ADMIN_MAINT);
	assert_string_equal(health_admin_str(HEALTH_ADMIN_MAX), "?");
	assert_string_equal(health_state_str(HEALTH_UP), "up");
	assert_string_equal(health_state_str(HEALTH_DOWN), "down");
	assert_string_equal(health_state_str(HEALTH_STATE_MAX), "?");
	assert_string_equal(health_source_str(HEALTH_SRC_ASSUMED), "assumed");
	assert_string_equal(health_source_str(HEALTH_SRC_PEER), "peer");
	assert_string_equal(health_source_str(HEALTH_SRC_LOCAL), "local");
	assert_string_equal(health_source_str(HEALTH_SRC_MAX), "?");
	assert_string_equal(health_transition_str(HEALTH_T_NONE), "none");
	assert_string_equal(health_transition_str(HEALTH_T_UP), "up");
	assert_string_equal(health_transition_str(HEALTH_T_DOWN), "down");
	assert_string_equal(health_transition_str(HEALTH_T_EJECTED), "ejected");
	assert_string_equal(health_transition_str(HEALTH_T_EJECT_REFUSED), "eject-refused");
	assert_string_equal(health_transition_str(HEALTH_T_MAX), "?");
	assert_string_equal(health_passive_str(HEALTH_P_OK), "ok");
	assert_string_equal(health_passive_str(HEALTH_P_5XX), "5xx");
	assert_string_equal(health_passive_str(HEALTH_P_CONNECT_FAIL), "connect-fail");
	assert_string_equal(health_passive_str(HEALTH_P_MAX), "?");
}

static void test_conf_check(void **state)
{
	static const struct { uint32_t weight, rise, fall, eject_after; uint64_t base, max; int rc; } t[] = {
		{ 10, 2, 3, 0, 0, 0, 0 },
		{ 0, 1, 1, 0, 0, 0, 0 },              /* weight 0 is allowed: never picked */
		{ 256, 1, 1, 0, 0, 0, 0 },
		{ 257, 1, 1, 0, 0, 0, -1 },
		{ 10, 0, 3, 0, 0, 0, -1 },
		{ 10, 2, 0, 0, 0, 0, -1 },
		{ 10, 2, 3, 5, 0, 1000, -1 },         /* ejection without a base */
		{ 10, 2, 3, 5, 2000, 1000, -1 },      /* max below base */
		{ 10, 2, 3, 5, 1000, 1000, 0 },
	};
	struct health_server s;

	(void)state;
	for (size_t i = 0; i < NELEM(t); i++) {
		struct health_conf c = base_conf();
		const char *why = NULL;

		c.weight = t[i].weight;
		c.rise = t[i].rise;
		c.fall = t[i].fall;
		c.eject_after = t[i].eject_after;
		c.eject_base_ms = t[i].base;
		c.eject_max_ms = t[i].max;
		assert_int_equal(health_conf_check(&c, &why), t[i].rc);
		assert_true(t[i].rc == 0 ? why == NULL : why != NULL);
		assert_int_equal(health_server_init(&s, &c, T0), t[i].rc);
	}
	assert_int_equal(health_conf_check(NULL, NULL), -1);
}

/* --- active checks ------------------------------------------------------------------- */

static void test_rise_fall(void **state)
{
	static const struct step s[] = {
		{ 0, 0, NOTHING, 0, HEALTH_T_NONE, 10 },       /* assumed up: full weight, no ramp */
		{ 1, 0, CHK_FAIL, 0, HEALTH_T_NONE, 10 },
		{ 2, 0, CHK_FAIL, 0, HEALTH_T_NONE, 10 },
		{ 3, 0, CHK_OK, 0, HEALTH_T_NONE, 10 },        /* a success breaks the run */
		{ 4, 0, CHK_FAIL, 0, HEALTH_T_NONE, 10 },
		{ 5, 0, CHK_FAIL, 0, HEALTH_T_NONE, 10 },
		{ 6, 0, CHK_FAIL, 0, HEALTH_T_DOWN, 0 },       /* fall = 3 */
		{ 7, 0, CHK_FAIL, 0, HEALTH_T_NONE, 0 },
		{ 8, 0, CHK_OK, 0, HEALTH_T_NONE, 0 },
		{ 9, 0, CHK_FAIL, 0, HEALTH_T_NONE, 0 },
		{ 10, 0, CHK_OK, 0, HEALTH_T_NONE, 0 },
		{ 11, 0, CHK_OK, 0, HEALTH_T_UP, 10 },         /* rise = 2; no slow start configured */
		{ 12, 0, CHK_OK, 0, HEALTH_T_NONE, 10 },
	};
	struct health_conf c = base_conf();
	struct health_server srv[1];
	struct health_group g;

	(void)state;
	group_init(&g, srv, 1, &c, 0);
	assert_int_equal(srv[0].source, HEALTH_SRC_ASSUMED);
	run(&g, s, NELEM(s));
	assert_int_equal(srv[0].source, HEALTH_SRC_LOCAL);
	assert_int_equal(srv[0].transitions, 2);
	assert_int_equal(srv[0].checks_ok, 5);
	assert_int_equal(srv[0].checks_failed, 7);
	assert_int_equal(srv[0].changed_ms, T0 + 11);
}

/* Assumed down at start: out until rise successes, then a slow start. */
static void test_init_down_slow_start(void **state)
{
	static const struct step s[] = {
		{ 0, 0, NOTHING, 0, HEALTH_T_NONE, 0 },
		{ 100, 0, CHK_OK, 0, HEALTH_T_NONE, 0 },
		{ 200, 0, CHK_OK, 0, HEALTH_T_UP, 1 },          /* ramp starts at 1 */
		{ 2700, 0, NOTHING, 0, HEALTH_T_NONE, 25 },     /* 1 + floor(99 * 0.25) */
		{ 5200, 0, NOTHING, 0, HEALTH_T_NONE, 50 },     /* 1 + floor(99 * 0.5) */
		{ 10199, 0, NOTHING, 0, HEALTH_T_NONE, 99 },
		{ 10200, 0, NOTHING, 0, HEALTH_T_NONE, 100 },   /* ramp over */
		{ 20000, 0, CHK_FAIL, 0, HEALTH_T_NONE, 100 },
	};
	struct health_conf c = base_conf();
	struct health_server srv[1];
	struct health_group g;

	(void)state;
	c.init_up = 0;
	c.weight = 100;
	c.slow_start_ms = 10000;
	group_init(&g, srv, 1, &c, 0);
	run(&g, s, NELEM(s));
}

/* --- passive ejection ---------------------------------------------------------------- */

static void test_ejection(void **state)
{
	static const struct step s[] = {
		{ 0, 0, P_5XX, 0, HEALTH_T_NONE, 10 },
		{ 1, 0, P_CONN, 0, HEALTH_T_NONE, 10 },         /* both kinds count */
		{ 2, 0, P_OK, 0, HEALTH_T_NONE, 10 },           /* and a success resets */
		{ 3, 0, P_5XX, 0, HEALTH_T_NONE, 10 },
		{ 4, 0, P_5XX, 0, HEALTH_T_NONE, 10 },
		{ 5, 0, P_CONN, 0, HEALTH_T_EJECTED, 0 },       /* 1st: 1000 ms */
		{ 6, 0, P_5XX, 0, HEALTH_T_NONE, 0 },           /* late results while ejected: ignored */
		{ 1004, 0, NOTHING, 0, HEALTH_T_NONE, 0 },
		{ 1005, 0, NOTHING, 0, HEALTH_T_NONE, 10 },     /* back */
		{ 1100, 0, P_5XX, 0, HEALTH_T_NONE, 10 },
		{ 1101, 0, P_5XX, 0, HEALTH_T_NONE, 10 },
		{ 1102, 0, P_5XX, 0, HEALTH_T_EJECTED, 0 },     /* 2nd: 2000 ms */
		{ 3101, 0, NOTHING, 0, HEALTH_T_NONE, 0 },
		{ 3102, 0, P_5XX, 0, HEALTH_T_NONE, 10 },
		{ 3103, 0, P_5XX, 0, HEALTH_T_NONE, 10 },
		{ 3104, 0, P_5XX, 0, HEALTH_T_EJECTED, 0 },     /* 3rd: 4000 ms */
		{ 7104, 0, P_5XX, 0, HEALTH_T_NONE, 10 },
		{ 7105, 0, P_5XX, 0, HEALTH_T_NONE, 10 },
		{ 7106, 0, P_5XX, 0, HEALTH_T_EJECTED, 0 },     /* 4th: 8000 ms */
		{ 15106, 0, P_5XX, 0, HEALTH_T_NONE, 10 },
		{ 15107, 0, P_5XX, 0, HEALTH_T_NONE, 10 },
		{ 15108, 0, P_5XX, 0, HEALTH_T_EJECTED, 0 },    /* 5th: capped at max, 10000 ms */
		{ 25107, 0, NOTHING, 0, HEALTH_T_NONE, 0 },
		{ 25108, 0, NOTHING, 0, HEALTH_T_NONE, 10 },
		/* 30 s in service forgets the past ejections: back to 1000 ms. */
		{ 55108, 0, P_5XX, 0, HEALTH_T_NONE, 10 },
		{ 55109, 0, P_5XX, 0, HEALTH_T_NONE, 10 },
		{ 55110, 0, P_5XX, 0, HEALTH_T_EJECTED, 0 },
		{ 56109, 0, NOTHING, 0, HEALTH_T_NONE, 0 },
		{ 56110, 0, NOTHING, 0, HEALTH_T_NONE, 10 },
	};
	struct health_conf c = base_conf();
	struct health_server srv[1];
	struct health_group g;

	(void)state;
	c.eject_after = 3;
	c.eject_base_ms = 1000;
	c.eject_max_ms = 10000;
	c.eject_reset_ms = 30000;
	group_init(&g, srv, 1, &c, 0);
	run(&g, s, NELEM(s));
	assert_int_equal(srv[0].ejections, 6);
	assert_int_equal(srv[0].ejections_recent, 1);
	assert_int_equal(srv[0].state, HEALTH_UP);          /* ejection is not a state change */
	/* Out of range and nonsense: ignored. */
	assert_int_equal(health_passive_result(&g, 1, HEALTH_P_5XX, T0), HEALTH_T_NONE);
	assert_int_equal(health_passive_result(&g, 0, HEALTH_P_MAX, T0 + 60000), HEALTH_T_NONE);
	assert_int_equal(health_passive_result(NULL, 0, HEALTH_P_5XX, T0), HEALTH_T_NONE);
}

/* eject_after = 0: passive failures never eject. */
static void test_no_ejection(void **state)
{
	struct health_conf c = base_conf();
	struct health_server srv[1];
	struct health_group g;

	(void)state;
	group_init(&g, srv, 1, &c, 0);
	for (int i = 0; i < 100; i++)
		assert_int_equal(health_passive_result(&g, 0, HEALTH_P_5XX, T0 + (uint64_t)i), HEALTH_T_NONE);
	assert_int_equal(health_eff_weight(&srv[0], T0 + 100), 10);
}

/* Ejection followed by a slow start from the end of the ejection. */
static void test_ejection_slow_start(void **state)
{
	static const struct step s[] = {
		{ 0, 0, P_5XX, 0, HEALTH_T_EJECTED, 0 },
		{ 4999, 0, NOTHING, 0, HEALTH_T_NONE, 0 },
		{ 5000, 0, NOTHING, 0, HEALTH_T_NONE, 1 },
		{ 6000, 0, NOTHING, 0, HEALTH_T_NONE, 5 },       /* 1 + floor(9 * 1000 / 2000) */
		{ 7000, 0, NOTHING, 0, HEALTH_T_NONE, 10 },
	};
	struct health_conf c = base_conf();
	struct health_server srv[1];
	struct health_group g;

	(void)state;
	c.eject_after = 1;
	c.eject_base_ms = 5000;
	c.eject_max_ms = 5000;
	c.slow_start_ms = 2000;
	group_init(&g, srv, 1, &c, 0);
	run(&g, s, NELEM(s));
	/* The caller's timer: the ramp's steps, then nothing. */
	assert_int_equal(health_group_next_change(&g, T0 + 1), T0 + 5000);
	assert_int_equal(health_group_next_change(&g, T0 + 5000), T0 + 5000 + 223);   /* (w-1)*dt >= ss: 2000/9 */
	assert_int_equal(health_group_next_change(&g, T0 + 6999), T0 + 7000);
	assert_int_equal(health_group_next_change(&g, T0 + 7000), 0);
}

/* --- panic threshold ----------------------------------------------------------------- */

static void test_panic_ejection_guard(void **state)
{
	/* 4 servers, at least 50% must stay: two ejections are fine, a third
	 * (1 of 4 left) is refused. */
	static const struct step s[] = {
		{ 0, 0, P_5XX, 0, HEALTH_T_EJECTED, 0 },
		{ 1, 1, P_5XX, 0, HEALTH_T_EJECTED, 0 },
		{ 2, 2, P_5XX, 0, HEALTH_T_EJECT_REFUSED, 10 },
		{ 3, 2, P_5XX, 0, HEALTH_T_EJECT_REFUSED, 10 },  /* the run is kept: refused again */
		{ 4, 3, P_CONN, 0, HEALTH_T_EJECT_REFUSED, 10 },
		{ 1000, 0, NOTHING, 0, HEALTH_T_NONE, 10 },      /* server 0 back, 1 still out: 3 of 4 */
		{ 1000, 2, P_5XX, 0, HEALTH_T_EJECTED, 0 },      /* now allowed: 2 of 4 remain */
		{ 1000, 3, P_5XX, 0, HEALTH_T_EJECT_REFUSED, 10 },
	};
	struct health_conf c = base_conf();
	struct health_server srv[4];
	struct health_group g;

	(void)state;
	c.eject_after = 1;
	c.eject_base_ms = 1000;
	c.eject_max_ms = 1000;
	group_init(&g, srv, 4, &c, 50);
	run(&g, s, NELEM(s));
	assert_int_equal(srv[2].ejections_refused, 2);
	assert_int_equal(srv[3].ejections_refused, 2);
}

static void test_panic_mode(void **state)
{
	/* 4 servers, 50%: with 3 down the group panics and every eligible
	 * server gets its weight; a server in maintenance stays out. */
	struct health_conf c = base_conf();
	struct health_server srv[4];
	struct health_group g;
	struct bal_server bs[4];
	static const struct { int srv; int ok; int panic; uint32_t w[4]; size_t usable; } t[] = {
		{ 0, 1, 0, { 10, 10, 10, 10 }, 4 },
		{ 0, 0, 0, { 0, 10, 10, 10 }, 3 },        /* 0 down (fall = 1) */
		{ 1, 0, 0, { 0, 0, 10, 10 }, 2 },         /* 2 of 4 = 50%: not below */
		{ 2, 0, 1, { 10, 10, 10, 10 }, 4 },       /* 1 of 4: panic, all in */
		{ 0, 1, 0, { 10, 0, 0, 10 }, 2 },         /* 0 up again (rise = 1): 2 of 4 */
	};

	(void)state;
	c.rise = 1;
	c.fall = 1;
	group_init(&g, srv, 4, &c, 50);
	for (size_t i = 0; i < NELEM(t); i++) {
		size_t usable;

		health_check_result(&srv[t[i].srv], t[i].ok, T0 + i);
		usable = health_group_apply(&g, T0 + i, bs);
		assert_int_equal(health_group_panic(&g, T0 + i), t[i].panic);
		assert_int_equal(usable, t[i].usable);
		for (int j = 0; j < 4; j++)
			if (bs[j].eff_weight != t[i].w[j])
				fail_msg("row %zu server %d: weight %u, want %u", i, j, bs[j].eff_weight, t[i].w[j]);
	}
	/* Maintenance leaves the eligible set: 1 healthy of 3 eligible is
	 * still a panic, and the maint server gets nothing in it. */
	health_check_result(&srv[3], 0, T0 + 10);                   /* 1 of 4 healthy: panic */
	assert_int_equal(health_set_admin(&srv[1], HEALTH_ADMIN_MAINT, T0 + 10), 1);
	health_group_apply(&g, T0 + 10, bs);
	assert_int_equal(health_group_panic(&g, T0 + 10), 1);
	assert_int_equal(bs[1].eff_weight, 0);
	assert_int_equal(bs[2].eff_weight, 10);
	/* min_healthy_pct = 0 never panics. */
	g.min_healthy_pct = 0;
	assert_int_equal(health_group_panic(&g, T0 + 10), 0);
	assert_int_equal(health_group_apply(&g, T0 + 10, bs), 1);
}

/* --- admin state --------------------------------------------------------------------- */

static void test_admin(void **state)
{
	static const struct step s[] = {
		{ 0, 0, ADM_DRAIN, 0, HEALTH_T_NONE, 0 },
		{ 100, 0, ADM_READY, 0, HEALTH_T_NONE, 100 },   /* out of drain: full weight at once */
		{ 200, 0, ADM_MAINT, 0, HEALTH_T_NONE, 0 },
		{ 300, 0, CHK_FAIL, 0, HEALTH_T_NONE, 0 },      /* checks still run in maintenance */
		{ 400, 0, CHK_OK, 0, HEALTH_T_NONE, 0 },
		{ 1000, 0, ADM_READY, 0, HEALTH_T_NONE, 1 },    /* out of maintenance: slow start */
		{ 1500, 0, NOTHING, 0, HEALTH_T_NONE, 50 },
		{ 2000, 0, NOTHING, 0, HEALTH_T_NONE, 100 },
	};
	struct health_conf c = base_conf();
	struct health_server srv[1];
	struct health_group g;

	(void)state;
	c.weight = 100;
	c.slow_start_ms = 1000;
	group_init(&g, srv, 1, &c, 0);
	run(&g, s, NELEM(s));
	assert_int_equal(health_set_admin(&srv[0], HEALTH_ADMIN_READY, T0), 0);
	assert_int_equal(health_set_admin(&srv[0], HEALTH_ADMIN_MAX, T0), -1);
	assert_int_equal(health_set_weight(&srv[0], 257), -1);
	assert_int_equal(health_set_weight(&srv[0], 0), 0);
	assert_int_equal(health_eff_weight(&srv[0], T0 + 5000), 0);  /* weight 0: never picked */
	assert_int_equal(health_set_weight(&srv[0], 7), 0);
	assert_int_equal(health_eff_weight(&srv[0], T0 + 5000), 7);
}

/* --- peer views ---------------------------------------------------------------------- */

static void test_peer_view(void **state)
{
	static const struct step s[] = {
		{ 0, 0, NOTHING, 0, HEALTH_T_NONE, 10 },             /* assumed up */
		{ 1, 0, PEER_DOWN, 5000, HEALTH_T_DOWN, 0 },         /* a peer saw it down */
		{ 2, 0, PEER_UP, 4000, HEALTH_T_NONE, 0 },           /* older: ignored */
		{ 3, 0, PEER_UP, 5000, HEALTH_T_NONE, 0 },           /* same stamp: ignored */
		{ 4, 0, PEER_DOWN, 6000, HEALTH_T_NONE, 0 },         /* newer, same state */
		{ 10, 0, CHK_OK, 0, HEALTH_T_NONE, 0 },              /* down from a peer needs rise = 2 */
		{ 20, 0, CHK_OK, 0, HEALTH_T_UP, 10 },               /* local verdict */
		{ 30, 0, PEER_DOWN, 9000, HEALTH_T_NONE, 10 },       /* peers no longer override */
		{ 40, 1, PEER_UP, 7000, HEALTH_T_NONE, 10 },         /* server 1: peer agrees with the assumption */
		{ 50, 1, CHK_FAIL, 0, HEALTH_T_NONE, 10 },           /* up from a peer needs fall = 3 */
		{ 60, 1, CHK_FAIL, 0, HEALTH_T_NONE, 10 },
		{ 70, 1, CHK_FAIL, 0, HEALTH_T_DOWN, 0 },
	};
	struct health_conf c = base_conf();
	struct health_server srv[2];
	struct health_group g;

	(void)state;
	group_init(&g, srv, 2, &c, 0);
	run(&g, s, NELEM(s));
	assert_int_equal(srv[0].source, HEALTH_SRC_LOCAL);
	assert_int_equal(srv[1].source, HEALTH_SRC_LOCAL);
	/* A peer's UP does not start a slow start, a local one does. */
	{
		struct health_server x;

		c.slow_start_ms = 60000;
		assert_int_equal(health_server_init(&x, &c, T0), 0);
		assert_int_equal(health_peer_view(&x, 0, 1, T0), HEALTH_T_DOWN);
		assert_int_equal(health_peer_view(&x, 1, 2, T0 + 1), HEALTH_T_UP);
		assert_int_equal(health_eff_weight(&x, T0 + 2), 10);
		assert_int_equal(x.source, HEALTH_SRC_PEER);
		for (int i = 0; i < 3; i++)
			health_check_result(&x, 0, T0 + 3);
		assert_int_equal(health_check_result(&x, 1, T0 + 4), HEALTH_T_NONE);
		assert_int_equal(health_check_result(&x, 1, T0 + 5), HEALTH_T_UP);
		assert_int_equal(health_eff_weight(&x, T0 + 5), 1);
	}
}

/* Reload keeps the runtime state and takes the new thresholds. */
static void test_reconf(void **state)
{
	struct health_conf c = base_conf(), c2;
	struct health_server s;

	(void)state;
	assert_int_equal(health_server_init(&s, &c, T0), 0);
	for (int i = 0; i < 3; i++)
		health_check_result(&s, 0, T0 + (uint64_t)i);
	assert_int_equal(s.state, HEALTH_DOWN);
	c2 = c;
	c2.rise = 5;
	c2.weight = 20;
	assert_int_equal(health_server_reconf(&s, &c2), 0);
	c2.rise = 0;
	assert_int_equal(health_server_reconf(&s, &c2), -1);
	assert_int_equal(s.c.rise, 5);
	assert_int_equal(s.state, HEALTH_DOWN);
	for (int i = 0; i < 4; i++)
		assert_int_equal(health_check_result(&s, 1, T0 + 10 + (uint64_t)i), HEALTH_T_NONE);
	assert_int_equal(health_check_result(&s, 1, T0 + 20), HEALTH_T_UP);
	assert_int_equal(health_eff_weight(&s, T0 + 20), 20);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_conf_check),
		cmocka_unit_test(test_rise_fall),
		cmocka_unit_test(test_init_down_slow_start),
		cmocka_unit_test(test_ejection),
		cmocka_unit_test(test_no_ejection),
		cmocka_unit_test(test_ejection_slow_start),
		cmocka_unit_test(test_panic_ejection_guard),
		cmocka_unit_test(test_panic_mode),
		cmocka_unit_test(test_admin),
		cmocka_unit_test(test_peer_view),
		cmocka_unit_test(test_reconf),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
