/*
 * hacd/purgelog.c — see purgelog.h. The ring keeps arrival order, and an
 * origin's purges are only accepted in ascending (epoch, seq), so a log
 * resent to a rejoining node lists each origin's purges in order: the
 * receiver catches up one seq at a time and sees a gap only when the
 * oldest it needed has left every log.
 */
#include "hacd/purgelog.h"

#include <stdio.h>
#include <string.h>

void purgelog_init(struct purgelog *l, uint64_t epoch)
{
	memset(l, 0, sizeof(*l));
	l->my_epoch = epoch != 0 ? epoch : 1;
}

int purgelog_node(const struct hacd_config *cfg, const char *origin)
{
	if (origin == NULL)
		return -1;
	for (size_t i = 0; i < cfg->nnodes; i++)
		if (strcmp(cfg->nodes[i].name, origin) == 0)
			return (int)i;
	return -1;
}

static void append(struct purgelog *l, const char *origin, uint64_t epoch, uint64_t seq, const char *url,
    int kind, uint64_t at)
{
	struct purge_entry *e = &l->e[l->next];

	snprintf(e->origin, sizeof(e->origin), "%s", origin);
	snprintf(e->url, sizeof(e->url), "%s", url);
	e->epoch = epoch;
	e->seq = seq;
	e->kind = kind;
	e->unsent = 0;
	e->at = at;
	l->next = (l->next + 1) % PURGELOG_MAX;
	if (l->n < PURGELOG_MAX)
		l->n++;
}

enum purge_verdict purgelog_take(struct purgelog *l, size_t node, const char *origin, uint64_t epoch,
    uint64_t seq, const char *url, int kind, uint64_t at)
{
	enum purge_verdict v;
	size_t ol = origin != NULL ? strlen(origin) : 0, ul = url != NULL ? strlen(url) : 0;

	if (node >= HACD_MAX_NODES || kind < PURGE_KIND_URL || kind > PURGE_KIND_TAG || ol == 0 || ol > REPLICA_NAME_MAX || ul == 0 || ul > PURGE_URL_MAX ||
	    epoch == 0 || seq == 0)
		return PURGE_BAD;
	if (epoch < l->epoch[node] || (epoch == l->epoch[node] && seq <= l->hi[node]))
		return PURGE_DUP;
	/* Within the epoch it follows on, or it skips some; a newer epoch
	 * (the origin restarted, or this node never heard from it) must
	 * begin at 1, or the purges before it are lost to this node. */
	if (epoch == l->epoch[node])
		v = seq == l->hi[node] + 1 ? PURGE_NEW : PURGE_NEW_GAP;
	else
		v = seq == 1 ? PURGE_NEW : PURGE_NEW_GAP;
	l->epoch[node] = epoch;
	l->hi[node] = seq;
	append(l, origin, epoch, seq, url, kind, at);
	return v;
}

const struct purge_entry *purgelog_add_own(struct purgelog *l, size_t self, const char *origin,
    const char *url, int kind, uint64_t at)
{
	size_t ul = url != NULL ? strlen(url) : 0;

	if (ul == 0 || ul > PURGE_URL_MAX || self >= HACD_MAX_NODES || kind < PURGE_KIND_URL || kind > PURGE_KIND_TAG)
		return NULL;
	l->my_seq++;
	l->epoch[self] = l->my_epoch;
	l->hi[self] = l->my_seq;
	append(l, origin, l->my_epoch, l->my_seq, url, kind, at);
	return purgelog_at(l, l->n - 1);
}

const struct purge_entry *purgelog_at(const struct purgelog *l, size_t i)
{
	size_t first = l->n < PURGELOG_MAX ? 0 : l->next;

	return &l->e[(first + i) % PURGELOG_MAX];
}

struct purge_entry *purgelog_at_mut(struct purgelog *l, size_t i)
{
	return (struct purge_entry *)purgelog_at(l, i);
}
