/*
 * proxyd/srvstate.h — runtime state of each configured server that outlives
 * configuration generations: the operator's admin state and weight, health
 * weight, passive failures and connections in use.
 *
 * A generation's struct pd_server points at its entry, found by
 * "upstream/server" name, so a reload that keeps a server keeps its state.
 * The control thread (admin socket, hacd channel, health checker) writes;
 * workers read with relaxed loads and refold their balancers when
 * srvstate_version moves.
 */
#ifndef PROXYD_SRVSTATE_H
#define PROXYD_SRVSTATE_H

#include <stdatomic.h>
#include <stdint.h>

enum pd_admin_state { PD_SRV_READY = 0, PD_SRV_DRAIN, PD_SRV_MAINT };
const char *srvstate_str(enum pd_admin_state s);

/* Runtime state of one server shared by all workers and all generations:
 * written by the control thread (admin socket, hacd), read by workers with
 * relaxed loads. weight_override == UINT32_MAX means "use the configured weight". */
struct pd_srv_shared {
	_Atomic uint32_t state;
	_Atomic uint32_t weight_override;
	_Atomic uint32_t inuse;            /* connections in use (not idle) across workers */
	/* Health (proxyd/hcheck.c, control thread): the weight the balancer
	 * uses while state is READY, health, panic and slow start folded in;
	 * UINT32_MAX when the upstream has no health management. */
	_Atomic uint32_t hweight;
	/* Consecutive passive failures (5xx, connect failures) workers saw;
	 * reset by a success. The control thread turns a run into an ejection. */
	_Atomic uint32_t pfail;
	/* Wall-clock ms of the last admin change (state or weight): hacd's
	 * replication orders operator changes by it (last writer wins). */
	_Atomic uint64_t admin_unix_ms;
	struct pd_srv_shared *next;
	char key[];                        /* "upstream/server" */
};
/* Bumped whenever any pd_srv_shared changes; workers compare it to their copy. */
extern _Atomic uint32_t srvstate_version;
/* The shared state for key, created on first use (control thread or startup
 * only: the parser calls it for every server). NULL when memory ran out. */
struct pd_srv_shared *srvstate_get(const char *upstream, const char *server);
/* Apply a state/weight change by key (state or weight < 0: unchanged).
 * 0, or -1 if no such server was ever configured. */
int srvstate_set(const char *upstream, const char *server, int state, int64_t weight);

#endif
