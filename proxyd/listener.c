/*
 * proxyd/listener.c — opening the listening sockets of a generation
 * (listener.h).
 *
 * main.c calls listener_open_all at startup with no older generation, and
 * at every reload with the generation it replaces, before the new one is
 * published; the workers then switch their accept watchers by diff
 * (proxyd/worker.c listeners_sync). Sockets close when the last generation
 * sharing them is freed (config_unref calls lsock_release).
 */
#include "proxyd/listener.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/net.h"

static void
lsock_release(struct pd_lsock *ls)
{
	if (ls == NULL || atomic_fetch_sub(&ls->refs, 1) != 1)
		return;
	for (int i = 0; i < ls->nfds; i++) {
		int fd = atomic_exchange(&ls->fds[i], -1);
		if (fd >= 0)
			close(fd);
	}
	free(ls);
}

int
listener_open_all(struct pd_config *c, const struct pd_config *old, int nworkers, struct conf_err *err)
{
	char abuf[NET_ADDRSTRLEN];

	c->lsock_release = lsock_release;
	for (size_t i = 0; i < c->nlisteners; i++) {
		struct pd_listener *L = &c->listeners[i];
		struct pd_lsock *ls = NULL;

		for (size_t j = 0; old != NULL && j < old->nlisteners; j++) {
			struct pd_lsock *o = old->listeners[j].ls;
			if (o != NULL && o->nfds == nworkers &&
			    net_addr_equal((struct sockaddr *)&o->addr, (struct sockaddr *)&L->addr, 1) &&
			    atomic_load(&o->fds[0]) >= 0) {
				ls = o;
				atomic_fetch_add(&ls->refs, 1);
				break;
			}
		}
		if (ls == NULL) {
			if ((ls = calloc(1, sizeof(*ls))) == NULL) {
				snprintf(err->msg, sizeof(err->msg), "out of memory");
				return -1;
			}
			atomic_store(&ls->refs, 1);
			ls->addr = L->addr;
			ls->addrlen = L->addrlen;
			for (int w = 0; w < PD_MAX_WORKERS; w++)
				atomic_store(&ls->fds[w], -1);
			ls->nfds = nworkers;
			L->ls = ls;
			for (int w = 0; w < nworkers; w++) {
				int fd = net_listen_tcp((struct sockaddr *)&L->addr, L->addrlen, 1, 4096);
				if (fd == -1) {
					snprintf(err->msg, sizeof(err->msg), "%s%slistener \"%s\": cannot listen on %s: %s",
					    c->path ? c->path : "", c->path ? ": " : "", L->name,
					    net_addr_str((struct sockaddr *)&L->addr, abuf, sizeof(abuf)), strerror(errno));
					return -1;
				}
				atomic_store(&ls->fds[w], fd);
			}
		}
		L->ls = ls;
	}
	return 0;
}
