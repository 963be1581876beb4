/*
 * proxyd/procstate.h — the process-wide state of proxyd: the generation
 * serving new requests, the drain and stop flags, the count of open client
 * connections and of workers.
 *
 * The control-thread modules (admin, channel, cluster, metrics, main) read
 * and set this state; the workers act on it. Keeping it here rather than in
 * worker.h lets those modules stay off the request path's headers, so they
 * never join its include circle (tests/tools/includegraph).
 */
#ifndef PROXYD_PROCSTATE_H
#define PROXYD_PROCSTATE_H

#include <stdatomic.h>
#include <stdint.h>

struct pd_config;

/* Set by the control thread (operator, hacd, signals), read by every thread. */
extern _Atomic int procstate_draining;        /* finish requests, close idle keep-alive connections */
extern _Atomic int procstate_stopping;        /* stop accepting, then exit */
extern _Atomic uint64_t procstate_active_conns; /* open client connections, all workers */
extern _Atomic int procstate_running;         /* worker threads not yet finished */

/* The current generation with a reference the caller must drop; NULL
 * before the first one is published. Any thread. */
struct pd_config *procstate_current(void);
/* Makes gen (the caller's reference passes to here) the current generation
 * and returns the previous one with its reference, for the caller to drop. */
struct pd_config *procstate_swap_current(struct pd_config *gen);

/* Number of worker threads started (0 before they are). */
int procstate_workers(void);
void procstate_set_workers(int n);

/* Wakes every worker so it looks at the flags and the current generation
 * again. The worker module installs how (procstate_set_kick); before it
 * does, there is nobody to wake and this does nothing. */
void procstate_kick(void);
void procstate_set_kick(void (*kick)(void));

#endif
