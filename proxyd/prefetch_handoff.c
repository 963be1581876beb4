/*
 * proxyd/prefetch_handoff.c — the prefetch's two tables between threads
 * (prefetch_handoff.h). Small and under one mutex: the control thread
 * hands off at most PREFETCH_PARALLEL requests at a time, and takes the
 * results on its 50 ms tick, so the lock is taken a few times a second.
 * Waking a worker goes through its event loop's ev_async (the kick
 * proxyd/worker.c gives), the way every cross-thread event reaches one.
 */
#include "proxyd/prefetch_handoff.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#define PFX_JOBS    (PREFETCH_PARALLEL * 2)
#define PFX_RESULTS 64

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
	int used;
	int wk;                       /* the worker it was handed to */
	struct pfx_job job;
} jobs[PFX_JOBS];
static struct pfx_result results[PFX_RESULTS];
static size_t nresults;
static unsigned next_wk;
static _Atomic int nworkers;
static void (*kick_fn)(int idx);

void
pfx_set_workers(int n, void (*kick)(int idx))
{
	pthread_mutex_lock(&mu);
	kick_fn = kick;
	pthread_mutex_unlock(&mu);
	atomic_store(&nworkers, n);
}

int
pfx_submit(uint32_t id, int https, const char *host, const char *target)
{
	int n = atomic_load(&nworkers), w = -1;
	void (*kick)(int) = NULL;

	if (n <= 0 || strlen(host) >= sizeof(jobs[0].job.host) || strlen(target) >= sizeof(jobs[0].job.target))
		return -1;
	pthread_mutex_lock(&mu);
	for (size_t i = 0; i < PFX_JOBS; i++) {
		if (jobs[i].used)
			continue;
		w = (int)(next_wk++ % (unsigned)n);
		jobs[i].used = 1;
		jobs[i].wk = w;
		jobs[i].job.id = id;
		jobs[i].job.https = https;
		snprintf(jobs[i].job.host, sizeof(jobs[i].job.host), "%s", host);
		snprintf(jobs[i].job.target, sizeof(jobs[i].job.target), "%s", target);
		break;
	}
	kick = kick_fn;
	pthread_mutex_unlock(&mu);
	if (w < 0 || kick == NULL)
		return -1;
	kick(w);
	return 0;
}

size_t
pfx_collect(struct pfx_result *out, size_t max)
{
	size_t n;

	pthread_mutex_lock(&mu);
	n = nresults < max ? nresults : max;
	memcpy(out, results, n * sizeof(*out));
	memmove(results, results + n, (nresults - n) * sizeof(*out));
	nresults -= n;
	pthread_mutex_unlock(&mu);
	return n;
}

size_t
pfx_take(int idx, struct pfx_job *out, size_t max)
{
	size_t n = 0;

	pthread_mutex_lock(&mu);
	for (size_t i = 0; i < PFX_JOBS && n < max; i++) {
		if (jobs[i].used && jobs[i].wk == idx) {
			out[n++] = jobs[i].job;
			jobs[i].used = 0;
		}
	}
	pthread_mutex_unlock(&mu);
	return n;
}

void
pfx_report(uint32_t id, int status, int stale, int failed)
{
	pthread_mutex_lock(&mu);
	/* Full only if the control thread stopped collecting: it then frees
	 * the request's slot on its own backstop timeout. */
	if (nresults < PFX_RESULTS)
		results[nresults++] = (struct pfx_result){ id, status, stale, failed };
	pthread_mutex_unlock(&mu);
}
