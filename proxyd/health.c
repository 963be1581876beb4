/*
 * proxyd/health.c — server health as a pure state machine.
 *
 * proxyd's control thread runs the active checks (HTTP or TCP connect) and
 * feeds each result here; workers' request outcomes arrive as passive
 * results; hacd relays peers' observations and operator admin state.  This
 * file turns all of that into up/down transitions for the log and metrics
 * and into the eff_weight of each struct bal_server (proxyd/balance.h), which
 * the caller publishes to the workers.  Keeping it free of I/O and clocks
 * lets tests/unit/test_health.c walk every rule on a fake clock.  The rules
 * and their order are listed at the top of health.h; the choices worth a
 * reason are explained where they are made.
 */
#include <string.h>

#include "proxyd/health.h"

const char *health_admin_str(enum health_admin a)
{
	switch (a) {
	case HEALTH_ADMIN_READY: return "ready";
	case HEALTH_ADMIN_DRAIN: return "drain";
	case HEALTH_ADMIN_MAINT: return "maint";
	default: return "?";
	}
}

const char *health_state_str(enum health_state s)
{
	switch (s) {
	case HEALTH_UP: return "up";
	case HEALTH_DOWN: return "down";
	default: return "?";
	}
}

const char *health_source_str(enum health_source s)
{
	switch (s) {
	case HEALTH_SRC_ASSUMED: return "assumed";
	case HEALTH_SRC_PEER: return "peer";
	case HEALTH_SRC_LOCAL: return "local";
	default: return "?";
	}
}

const char *health_transition_str(enum health_transition t)
{
	switch (t) {
	case HEALTH_T_NONE: return "none";
	case HEALTH_T_UP: return "up";
	case HEALTH_T_DOWN: return "down";
	case HEALTH_T_EJECTED: return "ejected";
	case HEALTH_T_EJECT_REFUSED: return "eject-refused";
	default: return "?";
	}
}

const char *health_passive_str(enum health_passive p)
{
	switch (p) {
	case HEALTH_P_OK: return "ok";
	case HEALTH_P_5XX: return "5xx";
	case HEALTH_P_CONNECT_FAIL: return "connect-fail";
	default: return "?";
	}
}

int health_admin_parse(const char *s, enum health_admin *out)
{
	for (int a = 0; s != NULL && a < HEALTH_ADMIN_MAX; a++) {
		if (strcmp(s, health_admin_str((enum health_admin)a)) == 0) {
			*out = (enum health_admin)a;
			return 0;
		}
	}
	return -1;
}

int health_conf_check(const struct health_conf *c, const char **why)
{
	const char *w = NULL;

	if (c == NULL)
		w = "no configuration";
	else if (c->weight > BAL_MAX_WEIGHT)
		w = "weight above 256";
	else if (c->rise == 0 || c->fall == 0)
		w = "rise and fall must be at least 1";
	else if (c->eject_after > 0 && c->eject_base_ms == 0)
		w = "ejection needs a base time";
	else if (c->eject_after > 0 && c->eject_max_ms < c->eject_base_ms)
		w = "ejection maximum below its base time";
	if (w != NULL) {
		if (why != NULL)
			*why = w;
		return -1;
	}
	return 0;
}

int health_server_init(struct health_server *s, const struct health_conf *c, uint64_t now_ms)
{
	if (s == NULL || health_conf_check(c, NULL) == -1)
		return -1;
	memset(s, 0, sizeof(*s));
	s->c = *c;
	s->admin = HEALTH_ADMIN_READY;
	s->state = c->init_up ? HEALTH_UP : HEALTH_DOWN;
	s->source = HEALTH_SRC_ASSUMED;
	s->changed_ms = now_ms;
	return 0;
}

int health_server_reconf(struct health_server *s, const struct health_conf *c)
{
	if (s == NULL || health_conf_check(c, NULL) == -1)
		return -1;
	s->c = *c;
	return 0;
}

static void set_back(struct health_server *s, uint64_t t)
{
	/* Two comebacks close together (an ejection ends just after an
	 * operator READY) ramp from the later one. */
	if (!s->back_valid || t > s->back_ms)
		s->back_ms = t;
	s->back_valid = 1;
}

static enum health_transition set_state(struct health_server *s, enum health_state st, uint64_t now_ms)
{
	if (s->state == st)
		return HEALTH_T_NONE;
	s->state = st;
	s->changed_ms = now_ms;
	s->transitions++;
	return st == HEALTH_UP ? HEALTH_T_UP : HEALTH_T_DOWN;
}

/*
 * The rule is the same from every state: rise successes in a row mean UP,
 * fall failures in a row mean DOWN.  From an assumed or peer state this
 * means a node that assumed UP needs fall failures to take a server out (as
 * HAProxy does at start), and one that learned DOWN from a peer needs rise
 * successes to put it back (as if it had seen it fail itself).
 */
enum health_transition health_check_result(struct health_server *s, int ok, uint64_t now_ms)
{
	if (ok) {
		s->checks_ok++;
		s->fail_run = 0;
		if (s->ok_run < UINT32_MAX)
			s->ok_run++;
		if (s->ok_run < s->c.rise)
			return HEALTH_T_NONE;
		s->source = HEALTH_SRC_LOCAL;
		if (s->state == HEALTH_DOWN)
			set_back(s, now_ms);
		return set_state(s, HEALTH_UP, now_ms);
	}
	s->checks_failed++;
	s->ok_run = 0;
	if (s->fail_run < UINT32_MAX)
		s->fail_run++;
	if (s->fail_run < s->c.fall)
		return HEALTH_T_NONE;
	s->source = HEALTH_SRC_LOCAL;
	return set_state(s, HEALTH_DOWN, now_ms);
}

int health_is_healthy(const struct health_server *s, uint64_t now_ms)
{
	return s->state == HEALTH_UP && now_ms >= s->ejected_until;
}

static int eligible(const struct health_server *s)
{
	return s->admin == HEALTH_ADMIN_READY && s->c.weight > 0;
}

/* Eligible servers and, of those, the healthy ones at now. */
static void group_count(const struct health_group *g, uint64_t now_ms, size_t *elig, size_t *healthy)
{
	*elig = *healthy = 0;
	for (size_t i = 0; i < g->n; i++) {
		if (!eligible(&g->srv[i]))
			continue;
		(*elig)++;
		if (health_is_healthy(&g->srv[i], now_ms))
			(*healthy)++;
	}
}

static int below_threshold(const struct health_group *g, size_t elig, size_t healthy)
{
	return g->min_healthy_pct > 0 && elig > 0 &&
	       (uint64_t)healthy * 100 < (uint64_t)g->min_healthy_pct * elig;
}

int health_group_panic(const struct health_group *g, uint64_t now_ms)
{
	size_t elig, healthy;

	group_count(g, now_ms, &elig, &healthy);
	return below_threshold(g, elig, healthy);
}

static uint64_t eject_time(const struct health_conf *c, uint32_t n)
{
	uint64_t t = c->eject_base_ms;

	for (uint32_t i = 1; i < n && t < c->eject_max_ms; i++)
		t = t > UINT64_MAX / 2 ? UINT64_MAX : t * 2;
	return t < c->eject_max_ms ? t : c->eject_max_ms;
}

enum health_transition health_passive_result(struct health_group *g, size_t i,
					     enum health_passive r, uint64_t now_ms)
{
	struct health_server *s;
	size_t elig, healthy;
	uint64_t reset;

	if (g == NULL || i >= g->n || (unsigned)r >= HEALTH_P_MAX)
		return HEALTH_T_NONE;
	s = &g->srv[i];
	if (now_ms < s->ejected_until)
		return HEALTH_T_NONE;        /* late results of requests sent before the ejection */
	if (r == HEALTH_P_OK) {
		s->passive_fail_run = 0;
		return HEALTH_T_NONE;
	}
	if (s->passive_fail_run < UINT32_MAX)
		s->passive_fail_run++;
	if (s->c.eject_after == 0 || s->passive_fail_run < s->c.eject_after)
		return HEALTH_T_NONE;
	group_count(g, now_ms, &elig, &healthy);
	if (eligible(s) && health_is_healthy(s, now_ms) &&
	    below_threshold(g, elig, healthy - 1)) {
		s->ejections_refused++;
		return HEALTH_T_EJECT_REFUSED;
	}
	reset = s->c.eject_reset_ms != 0 ? s->c.eject_reset_ms : s->c.eject_max_ms;
	if (s->ejected_until != 0 && now_ms - s->ejected_until >= reset)
		s->ejections_recent = 0;
	if (s->ejections_recent < UINT32_MAX)
		s->ejections_recent++;
	s->ejected_until = now_ms + eject_time(&s->c, s->ejections_recent);
	set_back(s, s->ejected_until);
	s->passive_fail_run = 0;
	s->ejections++;
	return HEALTH_T_EJECTED;
}

enum health_transition health_peer_view(struct health_server *s, int up, uint64_t observed_unix_ms,
					uint64_t now_ms)
{
	if (s->source == HEALTH_SRC_LOCAL)
		return HEALTH_T_NONE;
	if (s->source == HEALTH_SRC_PEER && observed_unix_ms <= s->peer_unix_ms)
		return HEALTH_T_NONE;
	s->source = HEALTH_SRC_PEER;
	s->peer_unix_ms = observed_unix_ms;
	/* No slow start on a peer's UP: the server has been taking the
	 * peers' traffic, only this node's belief changed. */
	return set_state(s, up ? HEALTH_UP : HEALTH_DOWN, now_ms);
}

int health_set_admin(struct health_server *s, enum health_admin a, uint64_t now_ms)
{
	if ((unsigned)a >= HEALTH_ADMIN_MAX)
		return -1;
	if (s->admin == a)
		return 0;
	/* Out of maintenance the server's caches and pools are cold, as after
	 * a restart; a drained server was serving until just now. */
	if (s->admin == HEALTH_ADMIN_MAINT && a == HEALTH_ADMIN_READY)
		set_back(s, now_ms);
	s->admin = a;
	return 1;
}

int health_set_weight(struct health_server *s, uint32_t weight)
{
	if (weight > BAL_MAX_WEIGHT)
		return -1;
	s->c.weight = weight;
	return 0;
}

/* The slow-start ramp: 1 at back_ms, the full weight slow_start_ms later. */
static uint32_t ramp(const struct health_server *s, uint64_t now_ms)
{
	uint64_t w = s->c.weight, ss = s->c.slow_start_ms;

	if (ss == 0 || !s->back_valid || now_ms >= s->back_ms + ss || w <= 1)
		return (uint32_t)w;
	if (now_ms < s->back_ms)
		return 1;
	return (uint32_t)(1 + (w - 1) * (now_ms - s->back_ms) / ss);
}

uint32_t health_eff_weight(const struct health_server *s, uint64_t now_ms)
{
	if (!eligible(s) || !health_is_healthy(s, now_ms))
		return 0;
	return ramp(s, now_ms);
}

size_t health_group_apply(const struct health_group *g, uint64_t now_ms, struct bal_server *bs)
{
	size_t elig, healthy, usable = 0;
	int panic;

	group_count(g, now_ms, &elig, &healthy);
	panic = below_threshold(g, elig, healthy);
	for (size_t i = 0; i < g->n; i++) {
		const struct health_server *s = &g->srv[i];

		if (panic)
			bs[i].eff_weight = eligible(s) ? s->c.weight : 0;
		else
			bs[i].eff_weight = health_eff_weight(s, now_ms);
		usable += bs[i].eff_weight > 0;
	}
	return usable;
}

/* The next time after now at which ramp() returns a different value, or 0. */
static uint64_t ramp_next(const struct health_server *s, uint64_t now_ms)
{
	uint64_t w = s->c.weight, ss = s->c.slow_start_ms, k, t;

	if (ss == 0 || !s->back_valid || w <= 1 || now_ms >= s->back_ms + ss)
		return 0;
	if (now_ms < s->back_ms)
		return s->back_ms;
	/* ramp = 1 + floor((w-1) * dt / ss); the next step is at the
	 * smallest dt with (w-1) * dt >= (k+1) * ss. */
	k = (w - 1) * (now_ms - s->back_ms) / ss;
	t = s->back_ms + ((k + 1) * ss + (w - 1) - 1) / (w - 1);
	return t < s->back_ms + ss ? t : s->back_ms + ss;
}

uint64_t health_group_next_change(const struct health_group *g, uint64_t now_ms)
{
	uint64_t next = 0;

	for (size_t i = 0; i < g->n; i++) {
		const struct health_server *s = &g->srv[i];
		uint64_t t = 0;

		if (now_ms < s->ejected_until)
			t = s->ejected_until;
		else if (eligible(s) && s->state == HEALTH_UP)
			t = ramp_next(s, now_ms);
		if (t != 0 && (next == 0 || t < next))
			next = t;
	}
	return next;
}
