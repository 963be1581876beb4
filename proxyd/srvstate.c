/*
 * proxyd/srvstate.c — runtime state of configured servers (srvstate.h).
 *
 * A list under a mutex, searched by "upstream/server" key: it is touched
 * when a generation is parsed and when an operator or hacd changes a
 * server, never on the request path (workers hold direct pointers). Entries
 * are never freed: a server dropped by one reload and restored by the next
 * finds its admin state again, and the list is bounded by the names ever
 * configured.
 */
#include "proxyd/srvstate.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/ev.h"

_Atomic uint32_t srvstate_version;

static pthread_mutex_t shared_mu = PTHREAD_MUTEX_INITIALIZER;
static struct pd_srv_shared *shared_head;

const char *
srvstate_str(enum pd_admin_state s)
{
	switch (s) {
	case PD_SRV_READY: return "ready";
	case PD_SRV_DRAIN: return "drain";
	case PD_SRV_MAINT: return "maint";
	}
	return "?";
}

/* The entry for "upstream/server"; shared_mu held. */
static struct pd_srv_shared *
find_locked(const char *key)
{
	struct pd_srv_shared *s;

	for (s = shared_head; s != NULL; s = s->next)
		if (strcmp(s->key, key) == 0)
			break;
	return s;
}

struct pd_srv_shared *
srvstate_get(const char *upstream, const char *server)
{
	char key[512];
	struct pd_srv_shared *s;

	snprintf(key, sizeof(key), "%s/%s", upstream, server);
	pthread_mutex_lock(&shared_mu);
	s = find_locked(key);
	if (s == NULL && (s = calloc(1, sizeof(*s) + strlen(key) + 1)) != NULL) {
		strcpy(s->key, key);
		atomic_store(&s->weight_override, UINT32_MAX);
		atomic_store(&s->hweight, UINT32_MAX);
		s->next = shared_head;
		shared_head = s;
	}
	pthread_mutex_unlock(&shared_mu);
	return s;
}

int
srvstate_set(const char *upstream, const char *server, int state, int64_t weight)
{
	char key[512];
	struct pd_srv_shared *s;

	snprintf(key, sizeof(key), "%s/%s", upstream, server);
	pthread_mutex_lock(&shared_mu);
	s = find_locked(key);
	pthread_mutex_unlock(&shared_mu);
	if (s == NULL)
		return -1;
	if (state >= 0)
		atomic_store_explicit(&s->state, (uint32_t)state, memory_order_relaxed);
	if (weight >= 0)
		atomic_store_explicit(&s->weight_override, (uint32_t)weight, memory_order_relaxed);
	atomic_store(&s->admin_unix_ms, ev_wall_ms());
	atomic_fetch_add(&srvstate_version, 1);
	return 0;
}
