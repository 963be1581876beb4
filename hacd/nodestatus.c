/*
 * hacd/nodestatus.c — NodeStatus and VipStatus for hactl status and for
 * proxyd's status page (see nodestatus.h).
 */
#include "hacd/nodestatus.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hacd/channel.h"
#include "hacd/node.h"
#include "hacd/repl.h"
#include "hacd/replica.h"
#include "lib/log.h"

/* A BGP-mode group: no owner and no role; this node's route and who
 * announces it (this node as BIRD confirmed, peers as their heartbeats say). */
static void fill_bgp(struct nodestatus *st, struct node *n, size_t v, Tandem__VipStatus *vs)
{
	const struct hacd_config *cfg = n->cfg;
	const char *why = "";
	size_t k = 0;

	vs->has_bgp = 1;
	vs->bgp = 1;
	vs->owner = NULL;
	vs->has_role = 0;
	vs->has_priority = 0;
	vs->announce = (char *)bgp_state_str(&n->bgp, v, &why);
	snprintf(st->why[v], sizeof(st->why[v]), "%s%s%s", why,
	    n->bgp.vips[v].detail[0] ? " " : "", n->bgp.vips[v].detail);
	vs->announce_why = st->why[v];
	for (size_t i = 0; i < cfg->nnodes; i++) {
		int on = i == cfg->self ? bgp_announced(&n->bgp, v) :
		    n->peers.peers[i].alive && (n->peers.peers[i].bgp_announcing & (1u << v)) != 0;

		if (on)
			st->announced_by[v][k++] = (char *)cfg->nodes[i].name;
	}
	vs->n_announced_by = k;
	vs->announced_by = st->announced_by[v];
}

void nodestatus_fill(struct nodestatus *st, struct node *n, uint64_t now)
{
	const struct hacd_config *cfg = n->cfg;
	int fault;

	st->nnodes = cfg->nnodes;
	st->nvips = cfg->nvips;
	for (size_t i = 0; i < cfg->nnodes; i++) {
		const struct peer *p = &n->peers.peers[i];
		Tandem__NodeStatus *ns = &st->ns[i];
		int self = i == cfg->self;

		tandem__node_status__init(ns);
		ns->node = (char *)cfg->nodes[i].name;
		ns->address = (char *)net_addr_str((const struct sockaddr *)&cfg->nodes[i].addr,
		    st->addrs[i], sizeof(st->addrs[i]));
		ns->has_self = 1;
		ns->self = self;
		ns->has_alive = 1;
		ns->alive = self ? 1 : p->alive;
		ns->has_maintenance = 1;
		ns->maintenance = self ? n->maintenance : p->maintenance;
		ns->has_advert_ms = 1;
		ns->advert_ms = self ? (uint32_t)cfg->advert_ms : p->advert_ms;
		if (self) {
			uint32_t h = 0;
			int links = 1, scripts = 1;

			if (channel_ready(&n->chan))
				h |= TANDEM__HEALTH_BITS__HEALTH_PROXYD_READY;
			for (size_t v = 0; v < cfg->nvips; v++)
				links &= !n->vips[v].link_down;
			for (size_t k = 0; k < cfg->nchecks; k++)
				scripts &= n->checks[k].ok;
			h |= links ? TANDEM__HEALTH_BITS__HEALTH_LINK_UP : 0;
			h |= scripts ? TANDEM__HEALTH_BITS__HEALTH_SCRIPT_OK : 0;
			ns->has_health = 1;
			ns->health = h;
		} else {
			const struct repl_peer *rp = &n->repl.peer[i];

			ns->has_synced = 1;
			ns->synced = rp->synced;
			if (rp->last_rx_ms != 0) {
				ns->has_last_sync_ms = 1;
				ns->last_sync_ms = now - rp->last_rx_ms;
			}
		}
		ns->has_witness = 1;
		ns->witness = cfg->nodes[i].witness;
		if (!self && cfg->nodes[i].witness && p->vote_for >= 0)
			ns->vote_for = (char *)cfg->nodes[p->vote_for].name;
		else if (self && n->witness && n->vote_for >= 0)
			ns->vote_for = (char *)cfg->nodes[n->vote_for].name;
		ns->has_quorate = ns->has_votes = 1;
		ns->quorate = self ? node_quorate(n) : p->quorate;
		ns->votes = self ? n->quorum.seen : p->votes;
		if (!self && p->last_heard_ms != 0) {
			ns->has_last_heard_ms = 1;
			ns->last_heard_ms = now - p->last_heard_ms;
			ns->has_health = 1;
			ns->health = p->health;
			ns->has_config_drift = 1;
			ns->config_drift = p->have_digest &&
			    memcmp(p->digest, cfg->digest, sizeof(cfg->digest)) != 0;
		}
		st->nsp[i] = ns;
	}
	for (size_t v = 0; v < cfg->nvips; v++) {
		const struct node_vip *nv = &n->vips[v];
		Tandem__VipStatus *vs = &st->vs[v];

		tandem__vip_status__init(vs);
		vs->name = (char *)cfg->vips[v].name;
		vs->address = (char *)cfg->vips[v].addr.text;
		vs->interface = (char *)cfg->vips[v].addr.ifname;
		vs->owner = (char *)node_vip_owner(n, v);
		vs->has_role = 1;
		vs->role = (Tandem__VipRole)nv->st.role;
		vs->has_priority = 1;
		vs->priority = node_effective_prio(n, v, &fault);
		if (nv->yield_to >= 0)
			vs->yield_to = (char *)cfg->nodes[nv->yield_to].name;
		if (cfg->vips[v].bgp)
			fill_bgp(st, n, v, vs);
		st->vsp[v] = vs;
	}
}

/* At most this many health observations per ClusterStatus (servers x
 * nodes): the page is for people, and the frame stays small. */
#define NODESTATUS_MAX_HEALTH 1024

struct health_acc {
	Tandem__HealthObs *obs;     /* copies: replica_foreach's message lives for one call */
	Tandem__HealthObs **v;
	size_t n;
};

/* The copy's strings point into the store's entry, which stays put until
 * the store changes (not before nodestatus_send returns). */
static void add_health(void *arg, const struct replica_item *it)
{
	struct health_acc *a = arg;

	if (it->kind != REPLICA_HEALTH || a->n >= NODESTATUS_MAX_HEALTH)
		return;
	a->obs[a->n] = *it->u.health;
	a->v[a->n] = &a->obs[a->n];
	a->n++;
}

void nodestatus_send(struct node *n)
{
	Tandem__ChannelMessage m = TANDEM__CHANNEL_MESSAGE__INIT;
	Tandem__ClusterStatus cs = TANDEM__CLUSTER_STATUS__INIT;
	struct nodestatus *st;
	struct health_acc ha = { NULL, NULL, 0 };
	uint8_t *buf;
	size_t len;

	if (n->chan.conn == NULL)
		return;
	/* About 4 KiB: the heap, not the loop's stack. */
	if ((st = malloc(sizeof(*st))) == NULL)
		return;
	nodestatus_fill(st, n, ev_now(n->loop));
	cs.node = (char *)n->cfg->nodes[n->cfg->self].name;
	cs.n_nodes = st->nnodes;
	cs.nodes = st->nsp;
	cs.n_vips = st->nvips;
	cs.vips = st->vsp;
	/* Every node's own verdicts on its servers, as replicated: the page
	 * shows a server as each node sees it. Store entries, unchanged until
	 * this function returns (the loop runs nothing else meanwhile). */
	ha.obs = calloc(NODESTATUS_MAX_HEALTH, sizeof(*ha.obs));
	ha.v = calloc(NODESTATUS_MAX_HEALTH, sizeof(*ha.v));
	if (repl_store(&n->repl) != NULL && ha.obs != NULL && ha.v != NULL) {
		replica_foreach(repl_store(&n->repl), REPLICA_HEALTH, add_health, &ha);
		cs.n_health = ha.n;
		cs.health = ha.v;
	}
	m.body_case = TANDEM__CHANNEL_MESSAGE__BODY_CLUSTER;
	m.cluster = &cs;
	len = tandem__channel_message__get_packed_size(&m);
	if ((buf = malloc(len)) != NULL) {
		tandem__channel_message__pack(&m, buf);
		(void)channel_send(&n->chan, buf, len);
		free(buf);
	}
	free(ha.v);
	free(ha.obs);
	free(st);
}
