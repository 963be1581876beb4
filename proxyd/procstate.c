/*
 * proxyd/procstate.c — the process-wide state of proxyd (procstate.h).
 *
 * The flags and counters are plain atomics. The current generation is a
 * pointer under a mutex because taking a reference on it must be atomic
 * with reading it: a generation swapped out and unreferenced between the
 * two would be freed under the reader.
 */
#include "proxyd/procstate.h"

#include <pthread.h>
#include <stddef.h>

#include "proxyd/config.h"

_Atomic int procstate_draining;
_Atomic int procstate_stopping;
_Atomic uint64_t procstate_active_conns;
_Atomic int procstate_running;

static pthread_mutex_t gen_mu = PTHREAD_MUTEX_INITIALIZER;
static struct pd_config *current_gen;
static _Atomic int nworkers;
static void (*_Atomic kick_fn)(void);

struct pd_config *
procstate_current(void)
{
	struct pd_config *g;

	pthread_mutex_lock(&gen_mu);
	g = current_gen;
	if (g != NULL)
		config_ref(g);
	pthread_mutex_unlock(&gen_mu);
	return g;
}

struct pd_config *
procstate_swap_current(struct pd_config *gen)
{
	struct pd_config *old;

	pthread_mutex_lock(&gen_mu);
	old = current_gen;
	current_gen = gen;
	pthread_mutex_unlock(&gen_mu);
	return old;
}

int
procstate_workers(void)
{
	return atomic_load(&nworkers);
}

void
procstate_set_workers(int n)
{
	atomic_store(&nworkers, n);
}

void
procstate_kick(void)
{
	void (*fn)(void) = atomic_load(&kick_fn);

	if (fn != NULL)
		fn();
}

void
procstate_set_kick(void (*kick)(void))
{
	atomic_store(&kick_fn, kick);
}
