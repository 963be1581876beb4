/*
 * proxyd/health.h — the health state of backend servers, folded into the one
 * number the balancer reads (struct bal_server.eff_weight).
 *
 * Pure: no I/O, no clock, no locks.  The caller runs the checks and reports
 * their results with the time (monotonic milliseconds; only peer
 * observations carry wall-clock stamps, used to order them and nothing else).
 * One owner calls into a struct health_group (the control thread, which runs
 * the active checks); workers report passive results to it (a queue, or the
 * caller's own lock) and read the weights it publishes.  Module prefix:
 * health_.
 *
 * What decides a server's weight, in order:
 *   1. admin state: MAINT and DRAIN give 0 (drain: no new requests; the
 *      caller lets the ones in flight finish);
 *   2. configured weight 0 gives 0;
 *   3. panic (group): when fewer than min_healthy_pct percent of the
 *      eligible servers (admin READY, weight > 0) are healthy, every eligible
 *      server gets its configured weight, healthy or not, as Envoy's panic
 *      mode does: spreading load over suspect servers beats concentrating
 *      all of it on the last few, or refusing it;
 *   4. active checks: DOWN gives 0.  A server goes DOWN after `fall`
 *      consecutive failed checks and UP after `rise` consecutive successes;
 *   5. passive outlier ejection: `eject_after` consecutive failures of real
 *      traffic (5xx responses or connect failures) eject the server for
 *      eject_base_ms * 2^(n-1), at most eject_max_ms, where n counts its
 *      ejections since it last stayed in for eject_reset_ms.  An ejection is
 *      refused when it would leave fewer than min_healthy_pct percent healthy;
 *   6. slow start: after coming back (DOWN -> UP, the end of an ejection,
 *      MAINT -> READY) the weight ramps linearly from 1 to the configured
 *      weight over slow_start_ms.
 *
 * Before the first local verdict (start, restart) a server is in the state
 * the configuration assumes (init_up), or in the state its peers last
 * observed if hacd relayed one (health_peer_view): a restarted node then
 * keeps a backend its peers see down out of rotation instead of assuming it
 * up.  The first `rise` successes or `fall` failures seen locally settle it
 * and peer views are ignored from then on.
 */
#ifndef PROXYD_HEALTH_H
#define PROXYD_HEALTH_H

#include <stddef.h>
#include <stdint.h>

#include "proxyd/balance.h"

/* Same numbering as enum pd_admin_state (proxyd/config.h) and the proto's
 * AdminState, so values convert by cast. */
enum health_admin { HEALTH_ADMIN_READY = 0, HEALTH_ADMIN_DRAIN, HEALTH_ADMIN_MAINT, HEALTH_ADMIN_MAX };

enum health_state { HEALTH_UP = 0, HEALTH_DOWN, HEALTH_STATE_MAX };

/* Where the current up/down state comes from. */
enum health_source { HEALTH_SRC_ASSUMED = 0, HEALTH_SRC_PEER, HEALTH_SRC_LOCAL, HEALTH_SRC_MAX };

/* What a call changed, for the caller's log line ("upstream u server s: down
 * after 3 failed checks") and metrics. */
enum health_transition {
	HEALTH_T_NONE = 0,
	HEALTH_T_UP,              /* DOWN -> UP */
	HEALTH_T_DOWN,            /* UP -> DOWN */
	HEALTH_T_EJECTED,         /* passive ejection started */
	HEALTH_T_EJECT_REFUSED,   /* would have been ejected, but the panic threshold forbids it */
	HEALTH_T_MAX
};

/* Outcome of one request to the server, as the proxy saw it. */
enum health_passive { HEALTH_P_OK = 0, HEALTH_P_5XX, HEALTH_P_CONNECT_FAIL, HEALTH_P_MAX };

struct health_conf {
	uint32_t weight;          /* configured, 0..BAL_MAX_WEIGHT */
	uint32_t rise;            /* consecutive successes to go UP, >= 1 */
	uint32_t fall;            /* consecutive failures to go DOWN, >= 1 */
	int init_up;              /* state assumed before any verdict or peer view */
	uint32_t eject_after;     /* consecutive passive failures that eject; 0 = no ejection */
	uint64_t eject_base_ms;   /* first ejection; doubles each time, >= 1 when eject_after > 0 */
	uint64_t eject_max_ms;    /* cap, >= eject_base_ms */
	uint64_t eject_reset_ms;  /* this long in service forgets past ejections; 0 = eject_max_ms */
	uint64_t slow_start_ms;   /* 0 = full weight at once */
};

/* One server.  Fields are public so that arrays can be embedded; only
 * health.c writes them.  Counters are for metrics. */
struct health_server {
	struct health_conf c;
	enum health_admin admin;
	enum health_state state;
	enum health_source source;
	uint32_t ok_run, fail_run;        /* consecutive active results */
	uint32_t passive_fail_run;        /* consecutive passive failures */
	uint32_t ejections_recent;        /* n in the ejection-time formula */
	uint64_t ejected_until;           /* 0 = never ejected; ejected while now < ejected_until */
	uint64_t back_ms;                 /* when it last came back (ramp start) */
	int back_valid;
	uint64_t changed_ms;              /* last up/down change (monotonic) */
	uint64_t peer_unix_ms;            /* stamp of the peer view in use (source PEER) */
	/* metrics */
	uint64_t checks_ok, checks_failed, transitions, ejections, ejections_refused;
};

struct health_group {
	struct health_server *srv;        /* borrowed array */
	size_t n;
	uint32_t min_healthy_pct;         /* 0..100; 0 = never panic, never refuse an ejection */
};

const char *health_admin_str(enum health_admin a);          /* "ready" "drain" "maint" */
const char *health_state_str(enum health_state s);          /* "up" "down" */
const char *health_source_str(enum health_source s);        /* "assumed" "peer" "local" */
const char *health_transition_str(enum health_transition t); /* "none" "up" "down" "ejected" "eject-refused" */
const char *health_passive_str(enum health_passive p);      /* "ok" "5xx" "connect-fail" */
/* Accepts "ready", "drain", "maint" (admin socket, hactl).  0/-1, *out untouched on -1. */
int health_admin_parse(const char *s, enum health_admin *out);

/* 0, or -1 with *why a static string naming the first bad field. */
int health_conf_check(const struct health_conf *c, const char **why);

/*
 * Start tracking a server with configuration c (copied; must pass
 * health_conf_check, else -1 and s untouched).  Admin READY, state init_up ?
 * UP : DOWN from source ASSUMED, never ejected, no ramp: a server that is up
 * at start takes its full weight.  0/-1.
 */
int health_server_init(struct health_server *s, const struct health_conf *c, uint64_t now_ms);

/*
 * Apply a new configuration on reload, keeping the runtime state (admin,
 * up/down, ejection).  Run lengths are clamped to the new rise/fall on the
 * next result.  0/-1 (bad c, s unchanged).
 */
int health_server_reconf(struct health_server *s, const struct health_conf *c);

/*
 * One active check result (ok != 0: passed).  Returns HEALTH_T_UP or
 * HEALTH_T_DOWN when the state changed, else HEALTH_T_NONE (also when a
 * verdict only confirmed an assumed or peer state, which still makes the
 * source LOCAL).
 */
enum health_transition health_check_result(struct health_server *s, int ok, uint64_t now_ms);

/*
 * One request outcome for server i of g.  On the eject_after-th consecutive
 * failure the server is ejected (HEALTH_T_EJECTED), unless that would leave
 * fewer than min_healthy_pct percent of the eligible servers healthy
 * (HEALTH_T_EJECT_REFUSED; the failure run is kept, so the next failure tries
 * again).  Results for a server already ejected, or i out of range, change
 * nothing.  HEALTH_P_OK resets the failure run.
 */
enum health_transition health_passive_result(struct health_group *g, size_t i,
					     enum health_passive r, uint64_t now_ms);

/*
 * A peer's observation of the server (hacd's HealthObs): up or down as seen
 * at observed_unix_ms.  Taken while the local checks have not reached a
 * verdict and the observation is newer than the one in use; returns
 * HEALTH_T_UP / HEALTH_T_DOWN when it changed the state, HEALTH_T_NONE
 * otherwise (ignored, or same state).
 */
enum health_transition health_peer_view(struct health_server *s, int up, uint64_t observed_unix_ms,
					 uint64_t now_ms);

/* Operator admin state.  MAINT -> READY starts a slow start, like a server
 * coming back up.  Returns 1 when it changed, 0 if the same, -1 if out of range. */
int health_set_admin(struct health_server *s, enum health_admin a, uint64_t now_ms);

/* Runtime weight (0..BAL_MAX_WEIGHT), e.g. `hactl weight`; -1 if out of range. */
int health_set_weight(struct health_server *s, uint32_t weight);

/* Healthy: UP and not ejected at now (admin state not considered). */
int health_is_healthy(const struct health_server *s, uint64_t now_ms);

/* The weight of s on its own (steps 1, 2, 4, 5, 6 above; no panic). */
uint32_t health_eff_weight(const struct health_server *s, uint64_t now_ms);

/* 1 when g is in panic at now (step 3). */
int health_group_panic(const struct health_group *g, uint64_t now_ms);

/*
 * The balancer's weights for the whole group at now, panic included: sets
 * bs[i].eff_weight for i < g->n (bs has g->n entries, in the same order;
 * nothing else in bs is touched).  Call balancer_update afterwards when a
 * value changed.  Returns the number of servers with a non-zero weight.
 */
size_t health_group_apply(const struct health_group *g, uint64_t now_ms, struct bal_server *bs);

/*
 * When the weights of g will next change on their own (an ejection ends, a
 * slow-start ramp takes its next step), so that the caller can arm one
 * timer and call health_group_apply then; 0 when nothing is pending.
 */
uint64_t health_group_next_change(const struct health_group *g, uint64_t now_ms);

#endif /* PROXYD_HEALTH_H */
