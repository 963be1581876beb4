/*
 * hacd/peer.c — heartbeats between hacd nodes: the UDP socket, sending, and
 * the receive ladder that decides whether a datagram may touch any state.
 *
 * hacd/node.c builds a Heartbeat every advert interval (and at once after a
 * transition) and hands it to peer_send_heartbeat(), which seals it once
 * with lib/wire and sends it by unicast to every configured peer. Incoming
 * datagrams go through peer_input(): a ladder of checks in which each rung
 * that fails bumps its own counter, logs at most once per second and drops
 * the datagram without touching a timer, a peer field or the replay window.
 * The last rung is freshness (hacd/fresh.c): after this node restarted, or
 * the peer did, the peer counts only once it echoed, sealed, a random
 * challenge from our heartbeats; until then its datagrams only spend their
 * sequence numbers, so a recording replayed into an empty window is inert.
 * Only a heartbeat that passes every rung refreshes the peer's dead timer
 * and may move the election (keepalived 2.2.7 let rejected packets postpone
 * its adverts; here a flood of junk, forged or replayed datagrams is inert).
 *
 * Multicast (hacd.conf "multicast", IPv4): a heartbeat is sent once, to the
 * group, from the shared socket (bound to this node's address and port, so
 * the source the receivers check is unchanged; IP_MULTICAST_IF names the
 * interface, TTL 1 by default keeps it on the link, IP_MULTICAST_LOOP off
 * so a node never reads its own). The receive side keeps unicast's
 * isolation: instead of one socket for the group, each peer gets a socket
 * bound to the group and port, joined on the interface, and connected to
 * that peer's address and port. The kernel delivers a group datagram only
 * to sockets whose connected address matches its source, so datagrams from
 * any other address reach no hacd socket at all, and a flood from one
 * address fills only the queue of the peer it claims to be. What multicast
 * does cost: every host on the link receives the (sealed) heartbeats, and
 * a group datagram with a forged source lands in that peer's queue exactly
 * as a forged unicast one does. The ladder is the same for both.
 *
 * State sync (hacd/repl.c) travels on the same sockets, sealed by the same
 * sender (one sequence space, so one replay window per peer covers both):
 * peer_send_payload() seals any PeerMessage once and sends it to one peer
 * or to all, and a StateSync or SyncRequest that passed the whole ladder is
 * handed to the sync callback. Nothing else about it is trusted here: a
 * sync never refreshes a peer's liveness, only heartbeats do.
 *
 * Sender identity: the wire header's sender_id is wire_cluster_id(node
 * name), unique per cluster (hacd/config.c refuses collisions), so a peer
 * is found by id before its payload is even decoded, and the decoded
 * heartbeat must then carry the same name.
 */
#include "hacd/peer.h"

#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "lib/net.h"

#define PEER_RX_BATCH 64   /* datagrams per read callback, so timers still run under a flood */
#define PEER_RCVBUF   (4 << 20)   /* bytes of receive buffer per socket */

static const char *const drop_names[PEER_DROP_MAX] = {
	"accepted", "wire", "unknown-sender", "wrong-source", "bad-protobuf",
	"name-mismatch", "ignored", "hb-unproven", "sync-unproven", "challenge-bad-echo",
};

const char *peer_drop_str(enum peer_drop d)
{
	if ((unsigned)d >= PEER_DROP_MAX)
		return "invalid";
	return drop_names[d];
}

static void dead_cb(struct ev_loop *loop, struct ev_timer *t)
{
	struct peer *p = t->data;
	struct peer_table *pt = p->table;
	size_t idx = (size_t)(p - pt->peers);

	char what[96];

	(void)loop;
	p->alive = 0;
	p->vote_for = -1;   /* whatever it voted since is unknown */
	snprintf(what, sizeof(what), "dead (no authenticated heartbeat for %llu ms)",
	    (unsigned long long)peer_dead_after_ms(pt, idx));
	if (pt->changed != NULL)
		pt->changed(pt->arg, idx, what);
	else
		log_info("peer %s: %s", pt->cfg->nodes[idx].name, what);
}

void peer_table_init(struct peer_table *pt, struct ev_loop *loop, const struct hacd_config *cfg,
    const struct wire_keyring *kr, uint64_t epoch, peer_changed_cb changed, void *arg)
{
	memset(pt, 0, sizeof(*pt));
	pt->loop = loop;
	pt->cfg = cfg;
	pt->kr = kr;
	pt->cluster_id = wire_cluster_id(cfg->cluster);
	pt->fd = -1;
	for (size_t i = 0; i < HACD_MAX_NODES; i++)
		pt->peer_fd[i] = -1;
	pt->changed = changed;
	pt->arg = arg;
	pt->rl = (struct log_ratelimit)LOG_RATELIMIT_INIT(1000);
	wire_sender_init(&pt->sender, pt->cluster_id, cfg->nodes[cfg->self].id, epoch);
	for (size_t i = 0; i < HACD_MAX_NODES; i++) {
		struct peer *p = &pt->peers[i];

		p->table = pt;
		wire_replay_init(&p->replay);
		fresh_init(&p->fresh);
		ev_timer_init(&p->dead_timer, dead_cb, p);
		p->vote_for = -1;
		for (size_t v = 0; v < HACD_MAX_VIPS; v++)
			p->vips[v].yield_to = -1;
	}
}

void peer_table_fini(struct peer_table *pt)
{
	for (size_t i = 0; i < HACD_MAX_NODES; i++)
		ev_timer_stop(pt->loop, &pt->peers[i].dead_timer);
	if (pt->fd != -1) {
		ev_io_stop(pt->loop, &pt->io);
		close(pt->fd);
		pt->fd = -1;
	}
	for (size_t i = 0; i < HACD_MAX_NODES; i++) {
		if (pt->peer_fd[i] == -1)
			continue;
		ev_io_stop(pt->loop, &pt->peer_io[i]);
		close(pt->peer_fd[i]);
		pt->peer_fd[i] = -1;
	}
}

void peer_table_set_config(struct peer_table *pt, const struct hacd_config *cfg,
    const struct wire_keyring *kr)
{
	pt->cfg = cfg;
	pt->kr = kr;
}

static void read_cb(struct ev_loop *loop, struct ev_io *w, uint32_t revents)
{
	struct peer_table *pt = w->data;
	uint8_t buf[WIRE_MAX_DATAGRAM + 1];
	struct sockaddr_storage from;
	socklen_t fromlen;
	ssize_t n;

	(void)loop;
	(void)revents;
	for (int i = 0; i < PEER_RX_BATCH; i++) {
		fromlen = sizeof(from);
		n = recvfrom(w->fd, buf, sizeof(buf), MSG_TRUNC, (struct sockaddr *)&from, &fromlen);
		if (n == -1) {
			/* ECONNREFUSED: an ICMP error for an earlier send on a
			 * connected socket (the peer is down); nothing to read. */
			if (errno == EINTR || errno == ECONNREFUSED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				log_rl_warnx(&pt->rl, ev_now(pt->loop), "peers: recvfrom: %s", strerror(errno));
			return;
		}
		pt->stats.rx++;
		if (pt->cfg->mcast.enabled && w != &pt->io)
			pt->stats.rx_mcast++;
		/* MSG_TRUNC returns the real length: an oversized datagram is
		 * refused by wire_open on its length, never read truncated. */
		if ((size_t)n > sizeof(buf))
			n = (ssize_t)sizeof(buf);
		peer_input(pt, buf, (size_t)n, (struct sockaddr *)&from);
	}
}

/* Every receiving socket gets a large buffer: a burst of junk must not
 * crowd out heartbeats, and a tick of deltas or a bulk sync arrives as
 * hundreds of datagrams at once (drops there were measured by make
 * bench-repl). With CAP_NET_ADMIN past rmem_max. */
static void big_rcvbuf(int fd)
{
	int rcvbuf = PEER_RCVBUF;

	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) == -1)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
}

int peer_table_open(struct peer_table *pt)
{
	const struct hacd_node_conf *self = &pt->cfg->nodes[pt->cfg->self];

	pt->fd = net_bind_udp((const struct sockaddr *)&self->addr, self->addrlen);
	if (pt->fd == -1)
		return -1;
	big_rcvbuf(pt->fd);
	if (pt->cfg->mcast.enabled) {
		const struct hacd_mcast_conf *mc = &pt->cfg->mcast;
		int ttl = (int)mc->ttl, loop = 0;
		char a[NET_ADDRSTRLEN];

		/* RFC 1112 6.1: TTL 1 keeps the group on the link; no
		 * loopback: this node's own heartbeats are not for it. */
		if (setsockopt(pt->fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof(ttl)) == -1 ||
		    setsockopt(pt->fd, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof(loop)) == -1)
			goto fail;
		log_info("peers: heartbeats by multicast to %s on %s (ttl %u)",
		    net_addr_str((const struct sockaddr *)&mc->group, a, sizeof(a)), mc->ifname, mc->ttl);
	}
	ev_io_init(&pt->io, pt->fd, read_cb, pt);
	if (ev_io_start(pt->loop, &pt->io, EV_READ) == -1)
		goto fail;
	peer_table_connect(pt);
	return 0;
fail:
	peer_table_fini(pt);
	return -1;
}

static void close_peer_fd(struct peer_table *pt, size_t i)
{
	if (pt->peer_fd[i] == -1)
		return;
	ev_io_stop(pt->loop, &pt->peer_io[i]);
	close(pt->peer_fd[i]);
	pt->peer_fd[i] = -1;
}

/* A socket bound to the group, joined on ifindex, connected to peer nc.
 * -1 with errno set. */
static int open_group_socket(const struct peer_table *pt, const struct hacd_node_conf *nc,
    unsigned ifindex)
{
	const struct hacd_mcast_conf *mc = &pt->cfg->mcast;
	struct ip_mreqn mr;
	int fd, off = 0, saved;

	fd = net_bind_udp((const struct sockaddr *)&mc->group, mc->grouplen);
	if (fd == -1)
		return -1;
	memset(&mr, 0, sizeof(mr));
	mr.imr_multiaddr = ((const struct sockaddr_in *)&mc->group)->sin_addr;
	mr.imr_ifindex = (int)ifindex;
	/* IP_MULTICAST_ALL off: only groups this socket joined, never
	 * another program's group that happens to use the same port.
	 * Connected before it joins, so not one datagram from another
	 * source is ever queued on it. */
	if (setsockopt(fd, IPPROTO_IP, IP_MULTICAST_ALL, &off, sizeof(off)) == -1 ||
	    connect(fd, (const struct sockaddr *)&nc->addr, nc->addrlen) == -1 ||
	    setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mr, sizeof(mr)) == -1)
		goto fail;
	big_rcvbuf(fd);
	return fd;
fail:
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

/* Multicast mode: find the interface, point the sending socket at it, and
 * open the group socket of every peer that has none. */
static void connect_multicast(struct peer_table *pt)
{
	const struct hacd_mcast_conf *mc = &pt->cfg->mcast;
	unsigned ifindex = if_nametoindex(mc->ifname);
	struct ip_mreqn mr;

	if (ifindex == 0) {
		log_rl_warnx(&pt->rl, ev_now(pt->loop), "peers: multicast interface %s: %s",
		    mc->ifname, strerror(errno));
		return;
	}
	if (ifindex != pt->mcast_ifindex) {
		/* First time, or the interface was deleted and created again:
		 * memberships died with the old one. */
		if (pt->mcast_ifindex != 0)
			log_info("peers: multicast interface %s has a new index (%u -> %u): joining again",
			    mc->ifname, pt->mcast_ifindex, ifindex);
		for (size_t i = 0; i < HACD_MAX_NODES; i++)
			close_peer_fd(pt, i);
		memset(&mr, 0, sizeof(mr));
		mr.imr_ifindex = (int)ifindex;
		if (setsockopt(pt->fd, IPPROTO_IP, IP_MULTICAST_IF, &mr, sizeof(mr)) == -1) {
			log_rl_warnx(&pt->rl, ev_now(pt->loop), "peers: IP_MULTICAST_IF %s: %s",
			    mc->ifname, strerror(errno));
			return;
		}
		pt->mcast_ifindex = ifindex;
	}
	for (size_t i = 0; i < pt->cfg->nnodes; i++) {
		const struct hacd_node_conf *nc = &pt->cfg->nodes[i];
		int fd;

		if (i == pt->cfg->self || pt->peer_fd[i] != -1)
			continue;
		fd = open_group_socket(pt, nc, ifindex);
		if (fd == -1) {
			log_rl_warnx(&pt->rl, ev_now(pt->loop), "peers: no group socket for %s yet: %s",
			    nc->name, strerror(errno));
			continue;
		}
		ev_io_init(&pt->peer_io[i], fd, read_cb, pt);
		if (ev_io_start(pt->loop, &pt->peer_io[i], EV_READ) == -1) {
			close(fd);
			continue;
		}
		pt->peer_fd[i] = fd;
	}
}

void peer_table_connect(struct peer_table *pt)
{
	const struct hacd_node_conf *self = &pt->cfg->nodes[pt->cfg->self];

	if (pt->cfg->mcast.enabled) {
		if (pt->fd != -1)
			connect_multicast(pt);
		return;
	}
	for (size_t i = 0; i < pt->cfg->nnodes; i++) {
		const struct hacd_node_conf *nc = &pt->cfg->nodes[i];
		int fd;

		if (i == pt->cfg->self || pt->peer_fd[i] != -1)
			continue;
		fd = net_bind_udp((const struct sockaddr *)&self->addr, self->addrlen);
		if (fd == -1 || connect(fd, (const struct sockaddr *)&nc->addr, nc->addrlen) == -1) {
			/* No route yet (an interface still coming up): the
			 * shared socket carries this peer until a retry works. */
			log_rl_warnx(&pt->rl, ev_now(pt->loop), "peers: no socket of its own for %s yet: %s",
			    nc->name, strerror(errno));
			if (fd != -1)
				close(fd);
			continue;
		}
		big_rcvbuf(fd);
		ev_io_init(&pt->peer_io[i], fd, read_cb, pt);
		if (ev_io_start(pt->loop, &pt->peer_io[i], EV_READ) == -1) {
			close(fd);
			continue;
		}
		pt->peer_fd[i] = fd;
	}
}

uint64_t peer_dead_after_ms(const struct peer_table *pt, size_t node)
{
	const struct peer *p = &pt->peers[node];
	uint64_t adv = p->advert_ms ? p->advert_ms : pt->cfg->advert_ms;
	uint64_t after = pt->cfg->dead_intervals * adv;
	unsigned prio = 0;

	if (pt->cfg->skew) {
		/* RFC 5798 6.1: Skew_Time from the *local* priority, so the
		 * best backup notices first. */
		for (size_t v = 0; v < pt->cfg->nvips; v++)
			if (pt->cfg->vips[v].prio[pt->cfg->self] > prio)
				prio = pt->cfg->vips[v].prio[pt->cfg->self];
		after += (256 - (prio > 255 ? 255 : prio)) * adv / 256;
	}
	return after;
}

static int find_sender(const struct peer_table *pt, uint32_t id)
{
	for (size_t i = 0; i < pt->cfg->nnodes; i++)
		if (i != pt->cfg->self && pt->cfg->nodes[i].id == id)
			return (int)i;
	return -1;
}

static enum peer_drop drop(struct peer_table *pt, enum peer_drop why, const struct sockaddr *from,
    const char *detail)
{
	char a[NET_ADDRSTRLEN];

	pt->stats.drops[why]++;
	log_rl_warnx(&pt->rl, ev_now(pt->loop), "peers: datagram from %s dropped: %s",
	    net_addr_str(from, a, sizeof(a)), detail);
	return why;
}

static enum election_role role_from_wire(int has, Tandem__VipRole r)
{
	if (!has || (int)r < 0 || (int)r > (int)ELECTION_FAULT)
		return ELECTION_INIT;
	return (enum election_role)r;
}

/* Copy what the election needs out of an unpacked heartbeat into p.
 * Returns 1 if anything the election looks at changed. */
static int copy_heartbeat(struct peer_table *pt, struct peer *p, const Tandem__Heartbeat *hb)
{
	const struct hacd_config *cfg = pt->cfg;
	struct peer_vip nv[HACD_MAX_VIPS];
	int changed = 0;

	for (size_t v = 0; v < cfg->nvips; v++) {
		nv[v].prio = 0;
		nv[v].role = ELECTION_INIT;
		nv[v].yield_to = -1;
	}
	for (size_t i = 0; i < hb->n_vips; i++) {
		const Tandem__VipAdvert *va = hb->vips[i];
		int v;

		if (va == NULL || va->name == NULL)
			continue;
		v = hacd_config_vip(cfg, va->name);
		if (v < 0 || strcmp(cfg->vips[v].name, va->name) != 0)
			continue;
		nv[v].prio = va->has_priority ? (va->priority > HACD_PRIO_MAX ? HACD_PRIO_MAX : va->priority) : 0;
		nv[v].role = role_from_wire(va->has_role, va->role);
		nv[v].yield_to = va->yield_to != NULL ? hacd_config_node(cfg, va->yield_to) : -1;
	}
	for (size_t v = 0; v < cfg->nvips; v++) {
		if (memcmp(&p->vips[v], &nv[v], sizeof(nv[v])) != 0)
			changed = 1;
		p->vips[v] = nv[v];
	}
	if (hb->has_health && p->health != hb->health) {
		p->health = hb->health;
		changed = 1;
	}
	/* BGP-mode groups it announces: shown by hactl status, decided by
	 * nothing here (each node decides its own route, hacd/bgp.c). */
	{
		uint32_t ann = 0;

		for (size_t i = 0; i < hb->n_bgp_announcing; i++) {
			int v = hb->bgp_announcing[i] != NULL ? hacd_config_vip(cfg, hb->bgp_announcing[i]) : -1;

			if (v >= 0 && cfg->vips[v].bgp)
				ann |= 1u << v;
		}
		p->bgp_announcing = ann;
	}
	if ((hb->has_maintenance && hb->maintenance) != p->maintenance) {
		p->maintenance = hb->has_maintenance && hb->maintenance;
		changed = 1;
	}
	if (hb->has_config_digest && hb->config_digest.len == sizeof(p->digest)) {
		memcpy(p->digest, hb->config_digest.data, sizeof(p->digest));
		p->have_digest = 1;
	}
	/* An authenticated peer is trusted with its own interval, but keep it
	 * within what a configuration may say. */
	if (hb->has_advert_ms && hb->advert_ms >= 10 && hb->advert_ms <= 60000)
		p->advert_ms = hb->advert_ms;
	if (hb->has_uptime_ms)
		p->uptime_ms = hb->uptime_ms;
	/* A witness's vote moves quorum (hacd/quorum.c): only a configured
	 * witness's vote is taken, and only as the name of a configured node. */
	{
		int vf = -1;

		if (cfg->nodes[p - pt->peers].witness && hb->has_witness && hb->witness && hb->vote_for != NULL)
			vf = hacd_config_node(cfg, hb->vote_for);
		/* An undecided witness (restarted, still hearing the cluster)
		 * leaves the vote we last heard from it in place while it stays
		 * alive: it moves a vote only by naming another node, which we
		 * hear as we hear this, and a vote is forgotten when the witness
		 * is counted dead (dead_cb). So a witness restarted during a cut
		 * does not take the owner's majority away for a moment. */
		if (vf < 0 && cfg->nodes[p - pt->peers].witness)
			vf = p->vote_for;
		if (vf != p->vote_for) {
			p->vote_for = vf;
			changed = 1;
		}
		p->quorate = hb->has_quorate ? hb->quorate : 1;
		p->votes = hb->has_votes ? hb->votes : 0;
	}
	/* Whether our heartbeats reach it: the election preempts it only
	 * then. A sender that predates the list is taken to hear us, as
	 * hacd always assumed. */
	{
		int hears = !(hb->has_lists_heard && hb->lists_heard);

		for (size_t i = 0; !hears && i < hb->n_heard; i++)
			hears = hb->heard[i] != NULL &&
			    strcmp(hb->heard[i], cfg->nodes[cfg->self].name) == 0;
		if (hears != p->hears_self) {
			p->hears_self = hears;
			changed = 1;
		}
	}
	return changed;
}

/* Frees an unpacked PeerMessage after wiping the TLS ticket-key secrets
 * a sync may carry (protobuf-c copied them into the message's own memory,
 * which free would hand back as it is). */
static void free_msg(Tandem__PeerMessage *msg)
{
	if (msg->body_case == TANDEM__PEER_MESSAGE__BODY_SYNC && msg->sync != NULL)
		for (size_t i = 0; i < msg->sync->n_tickets; i++)
			if (msg->sync->tickets[i] != NULL && msg->sync->tickets[i]->secret.data != NULL)
				sodium_memzero(msg->sync->tickets[i]->secret.data, msg->sync->tickets[i]->secret.len);
	tandem__peer_message__free_unpacked(msg, NULL);
}

/* The nonce in hb's list `list` (challenges or echoes) addressed to node
 * id `self_id`, or NULL; *len its length. */
static const uint8_t *find_nonce(Tandem__Challenge **list, size_t n, uint32_t self_id, size_t *len)
{
	for (size_t i = 0; i < n; i++) {
		if (list[i] == NULL || !list[i]->has_node_id || list[i]->node_id != self_id ||
		    !list[i]->has_nonce)
			continue;
		*len = list[i]->nonce.len;
		return list[i]->nonce.data;
	}
	*len = 0;
	return NULL;
}

/* Remember the challenge p's heartbeat carries for us, so our next
 * heartbeats echo it; a new one asks for a heartbeat now, so the peer's
 * wait for its proof is one round trip, not an advert interval. Taken from
 * any heartbeat that passed the window, proven or not: two nodes that
 * restart together must each answer the other before either is proven.
 * Echoing a nonce from a replayed recording proves nothing to anyone. */
static void note_challenge(struct peer_table *pt, struct peer *p, const Tandem__Heartbeat *hb)
{
	size_t len;
	const uint8_t *n = find_nonce(hb->challenges, hb->n_challenges, pt->cfg->nodes[pt->cfg->self].id,
	    &len);

	if (n == NULL || len != FRESH_NONCE_LEN) {
		p->have_echo = 0;
		return;
	}
	if (p->have_echo && memcmp(p->echo, n, FRESH_NONCE_LEN) == 0)
		return;
	memcpy(p->echo, n, FRESH_NONCE_LEN);
	p->have_echo = 1;
	pt->stats.challenged++;
	if (pt->kick != NULL)
		pt->kick(pt->kick_arg);
}

/*
 * Freshness of one datagram that passed every other rung (window already
 * advanced). echo/elen: the nonce it echoes to us (heartbeats only).
 * Returns the fresh_input verdict; logs a peer's new epoch, and asks for a
 * heartbeat at once when the peer now needs a challenge from us.
 */
static enum fresh_verdict check_fresh(struct peer_table *pt, size_t idx, const struct wire_hdr *hdr,
    const uint8_t *echo, size_t elen)
{
	struct peer *p = &pt->peers[idx];
	enum fresh_state before = p->fresh.state;
	enum fresh_verdict v = fresh_input(&p->fresh, hdr->epoch, echo, elen);

	if (before == FRESH_PROVEN && p->fresh.state != FRESH_PROVEN)
		log_info("peer %s: new epoch %llu (restarted?): it counts again once it echoes our challenge",
		    pt->cfg->nodes[idx].name, (unsigned long long)hdr->epoch);
	if (v == FRESH_V_PROVED) {
		/* Whatever it sent before the echo may be a recording made while
		 * we were not looking: from now on only what follows counts. */
		wire_replay_floor(&p->replay, hdr->epoch, hdr->seq);
		pt->stats.proved++;
		log_info("peer %s: proved its datagrams fresh (echoed our challenge, epoch %llu)",
		    pt->cfg->nodes[idx].name, (unsigned long long)hdr->epoch);
	}
	if (p->fresh.state == FRESH_UNPROVEN && pt->kick != NULL)
		pt->kick(pt->kick_arg);
	return v;
}

/* A SyncRequest the peer sent before its proof: answered now. Asking for
 * a bulk sync only makes us send our own state to the peer's configured
 * address, so honouring it late cannot be abused; dropping it would leave a
 * restarted peer without the cluster's state until anti-entropy. */
static void deliver_pending_sync_request(struct peer_table *pt, size_t idx)
{
	Tandem__PeerMessage m = TANDEM__PEER_MESSAGE__INIT;
	Tandem__SyncRequest q = TANDEM__SYNC_REQUEST__INIT;
	struct peer *p = &pt->peers[idx];

	if (!p->sync_req_pending || pt->sync == NULL)
		return;
	p->sync_req_pending = 0;
	q.node = (char *)pt->cfg->nodes[idx].name;
	m.body_case = TANDEM__PEER_MESSAGE__BODY_SYNC_REQUEST;
	m.sync_request = &q;
	pt->sync(pt->sync_arg, idx, &m, 0);
}

enum peer_drop peer_input(struct peer_table *pt, const uint8_t *dgram, size_t len,
    const struct sockaddr *from)
{
	const struct hacd_config *cfg = pt->cfg;
	uint8_t payload[WIRE_MAX_DATAGRAM];
	size_t plen = 0, elen = 0;
	struct wire_hdr hdr;
	enum wire_verdict verdict;
	enum fresh_verdict fv;
	Tandem__PeerMessage *msg;
	const uint8_t *echo;
	struct peer *p;
	int idx, changed, was_alive;
	char what[96];

	/* 1. length, header, cluster, key id, AEAD: lib/wire, stateless. */
	verdict = wire_open(pt->kr, pt->cluster_id, cfg->nodes[cfg->self].id, dgram, len, &hdr,
	    payload, &plen);
	if (verdict != WIRE_OK) {
		pt->stats.wire[verdict < WIRE_VERDICT_MAX ? verdict : WIRE_ERR_AUTH]++;
		return drop(pt, PEER_DROP_WIRE, from, wire_verdict_str(verdict));
	}
	/* 2. a configured peer. */
	idx = find_sender(pt, hdr.sender_id);
	if (idx < 0)
		return drop(pt, PEER_DROP_UNKNOWN_SENDER, from, "unknown sender id");
	/* 3. from where that peer lives: a stolen key alone does not let a
	 * third host speak for it (RFC 5798 5.1.1.3 checks TTL for the same
	 * reason: the packet must come from the peer, not just look like it). */
	if (!net_addr_equal(from, (const struct sockaddr *)&cfg->nodes[idx].addr, 1)) {
		snprintf(what, sizeof(what), "source is not %s's address", cfg->nodes[idx].name);
		return drop(pt, PEER_DROP_WRONG_SOURCE, from, what);
	}
	p = &pt->peers[idx];
	/* 4. replay window (RFC 4303 3.4.3), checked but not yet updated. */
	verdict = wire_replay_check(&p->replay, hdr.epoch, hdr.seq);
	if (verdict != WIRE_OK) {
		pt->stats.wire[verdict < WIRE_VERDICT_MAX ? verdict : WIRE_ERR_REPLAY]++;
		return drop(pt, PEER_DROP_WIRE, from, wire_verdict_str(verdict));
	}
	/* 5. a PeerMessage carrying this sender's heartbeat. */
	msg = tandem__peer_message__unpack(NULL, plen, payload);
	sodium_memzero(payload, plen);      /* the plaintext; msg holds its own copy */
	if (msg == NULL)
		return drop(pt, PEER_DROP_BAD_PROTOBUF, from, "payload is not a PeerMessage");
	if ((msg->body_case == TANDEM__PEER_MESSAGE__BODY_SYNC && msg->sync != NULL) ||
	    (msg->body_case == TANDEM__PEER_MESSAGE__BODY_RESET && msg->reset != NULL) ||
	    (msg->body_case == TANDEM__PEER_MESSAGE__BODY_PURGE && msg->purge != NULL) ||
	    (msg->body_case == TANDEM__PEER_MESSAGE__BODY_CACHE_SUMMARY && msg->cache_summary != NULL) ||
	    (msg->body_case == TANDEM__PEER_MESSAGE__BODY_CACHE_DIGEST && msg->cache_digest != NULL) ||
	    (msg->body_case == TANDEM__PEER_MESSAGE__BODY_SYNC_REQUEST && msg->sync_request != NULL)) {
		int is_request = msg->body_case == TANDEM__PEER_MESSAGE__BODY_SYNC_REQUEST;

		/* A sync request that names a node must name its sender. */
		if (is_request && msg->sync_request->node != NULL &&
		    strcmp(msg->sync_request->node, cfg->nodes[idx].name) != 0) {
			free_msg(msg);
			return drop(pt, PEER_DROP_NAME_MISMATCH, from, "sync request names another node");
		}
		/* Authentic and fresh by the window: it advances. */
		wire_replay_update(&p->replay, hdr.epoch, hdr.seq);
		/* 6. freshness proven: a replayed StateSync after a restart
		 * would otherwise merge old state (and a replayed RateReset
		 * forget new counts) as if it had just been sent. */
		if (check_fresh(pt, (size_t)idx, &hdr, NULL, 0) != FRESH_V_ACCEPT &&
		    !(cfg->legacy_peers && p->legacy)) {
			if (is_request)
				p->sync_req_pending = 1;
			free_msg(msg);
			return drop(pt, PEER_DROP_SYNC_UNPROVEN, from, "state sync from a peer not yet proven fresh");
		}
		if (pt->sync == NULL) {
			free_msg(msg);
			pt->stats.drops[PEER_DROP_IGNORED]++;
			return PEER_DROP_IGNORED;
		}
		if (is_request)
			p->sync_req_pending = 0;
		pt->stats.drops[PEER_ACCEPTED]++;
		pt->sync(pt->sync_arg, (size_t)idx, msg, plen);
		free_msg(msg);
		return PEER_ACCEPTED;
	}
	if (msg->body_case != TANDEM__PEER_MESSAGE__BODY_HEARTBEAT || msg->heartbeat == NULL) {
		/* Authentic and fresh, so the window may advance, but a body
		 * this version does not know: nothing else happens. */
		free_msg(msg);
		wire_replay_update(&p->replay, hdr.epoch, hdr.seq);
		pt->stats.drops[PEER_DROP_IGNORED]++;
		return PEER_DROP_IGNORED;
	}
	if (msg->heartbeat->node == NULL || strcmp(msg->heartbeat->node, cfg->nodes[idx].name) != 0) {
		free_msg(msg);
		return drop(pt, PEER_DROP_NAME_MISMATCH, from, "heartbeat names another node");
	}

	/* Authentic and inside the window: it advances, and the peer's
	 * challenge to us is answered whatever we think of the peer. */
	wire_replay_update(&p->replay, hdr.epoch, hdr.seq);
	note_challenge(pt, p, msg->heartbeat);
	/* 6. freshness proven (or proven by this very heartbeat's echo). */
	echo = find_nonce(msg->heartbeat->echoes, msg->heartbeat->n_echoes, cfg->nodes[cfg->self].id, &elen);
	fv = check_fresh(pt, (size_t)idx, &hdr, echo, elen);
	/* An hacd from before the proof never echoes: during a rolling
	 * upgrade, and only if the operator says so, it counts unproven
	 * (what a replay after a restart could then fake again). A heartbeat
	 * that says it proves freshness never takes this door. */
	p->legacy = !(msg->heartbeat->has_proves_freshness && msg->heartbeat->proves_freshness);
	if ((fv == FRESH_V_BAD_ECHO || fv == FRESH_V_UNPROVEN) && cfg->legacy_peers && p->legacy) {
		pt->stats.legacy++;
		fv = FRESH_V_ACCEPT;
	}
	if (fv == FRESH_V_BAD_ECHO || fv == FRESH_V_UNPROVEN) {
		free_msg(msg);
		if (fv == FRESH_V_BAD_ECHO)
			return drop(pt, PEER_DROP_BAD_ECHO, from, "heartbeat echoes a nonce we did not send it");
		return drop(pt, PEER_DROP_HB_UNPROVEN, from, "heartbeat from a peer not yet proven fresh");
	}

	/* Accepted: only now may state move. */
	pt->stats.drops[PEER_ACCEPTED]++;
	p->epoch = hdr.epoch;
	changed = copy_heartbeat(pt, p, msg->heartbeat);
	free_msg(msg);
	was_alive = p->alive;
	p->alive = 1;
	p->last_heard_ms = ev_now(pt->loop);
	ev_timer_start(pt->loop, &p->dead_timer, peer_dead_after_ms(pt, (size_t)idx));
	/* A proof is a return as well, even when the peer never looked dead
	 * (it restarted within the dead interval): what it sent before the
	 * proof was dropped, so it must be asked for a bulk sync again. */
	if ((changed || !was_alive || fv == FRESH_V_PROVED) && pt->changed != NULL)
		pt->changed(pt->arg, (size_t)idx, was_alive && fv != FRESH_V_PROVED ? NULL : "alive");
	if (fv == FRESH_V_PROVED)
		deliver_pending_sync_request(pt, (size_t)idx);
	return PEER_ACCEPTED;
}

void peer_table_set_sync(struct peer_table *pt, peer_sync_cb cb, void *arg)
{
	pt->sync = cb;
	pt->sync_arg = arg;
}

void peer_table_set_kick(struct peer_table *pt, peer_kick_cb cb, void *arg)
{
	pt->kick = cb;
	pt->kick_arg = arg;
}

/* Send one sealed datagram to peer i (its connected socket, or the shared
 * one while it has none). 0/-1, counted. */
static int send_to(struct peer_table *pt, size_t i, const uint8_t *out, size_t n)
{
	const struct hacd_node_conf *nc = &pt->cfg->nodes[i];

	/* In multicast mode peer_fd[i] is bound to the group, not to this
	 * node's address: unicast goes out of the shared socket. */
	if ((pt->peer_fd[i] == -1 || pt->cfg->mcast.enabled) ? sendto(pt->fd, out, n, 0,
	    (const struct sockaddr *)&nc->addr, nc->addrlen) == -1 :
	    send(pt->peer_fd[i], out, n, 0) == -1) {
		/* EAGAIN, ENETUNREACH, EPERM (a firewall), ECONNREFUSED
		 * (the peer's port is closed: it is down) are all "this
		 * one got lost": the next interval tries again. */
		pt->stats.tx_err++;
		if (errno != ECONNREFUSED)
			log_rl_warnx(&pt->rl, ev_now(pt->loop), "peers: send to %s: %s", nc->name,
			    strerror(errno));
		return -1;
	}
	pt->stats.tx++;
	return 0;
}

int peer_send_payload(struct peer_table *pt, const uint8_t *payload, size_t len, int node)
{
	uint8_t out[WIRE_MAX_DATAGRAM];
	ssize_t n;
	int rc = 0;

	if (pt->fd == -1)
		return -1;
	n = wire_seal(pt->kr, &pt->sender, payload, len, out, sizeof(out));
	if (n == -1) {
		pt->stats.tx_err++;
		log_rl_warnx(&pt->rl, ev_now(pt->loop), "peers: cannot seal %zu bytes (no key, or too large)",
		    len);
		return -1;
	}
	if (node >= 0) {
		if ((size_t)node >= pt->cfg->nnodes || (size_t)node == pt->cfg->self)
			return -1;
		return send_to(pt, (size_t)node, out, (size_t)n);
	}
	if (pt->cfg->mcast.enabled) {
		const struct hacd_mcast_conf *mc = &pt->cfg->mcast;

		if (sendto(pt->fd, out, (size_t)n, 0, (const struct sockaddr *)&mc->group,
		    mc->grouplen) == -1) {
			pt->stats.tx_err++;
			log_rl_warnx(&pt->rl, ev_now(pt->loop), "peers: send to the multicast group: %s",
			    strerror(errno));
			return -1;
		}
		pt->stats.tx++;
		pt->stats.tx_mcast++;
		return 0;
	}
	for (size_t i = 0; i < pt->cfg->nnodes; i++) {
		if (i == pt->cfg->self)
			continue;
		if (send_to(pt, i, out, (size_t)n) == -1)
			rc = -1;
	}
	return rc;
}

/*
 * Put our challenges (peers not yet proven) and echoes (peers challenging
 * us) into hb, as many as fit one datagram next to what hb already
 * carries; when they do not all fit (many peers restarting at once, many
 * VIPs), the first peer taken rotates, so each gets its turn. ch/ec and the
 * pointer arrays hold HACD_MAX_NODES entries each.
 */
static void add_freshness(struct peer_table *pt, Tandem__Heartbeat *hb, Tandem__Challenge *ch,
    Tandem__Challenge **chp, Tandem__Challenge *ec, Tandem__Challenge **ecp)
{
	const struct hacd_config *cfg = pt->cfg;
	Tandem__PeerMessage msg = TANDEM__PEER_MESSAGE__INIT;
	size_t start = cfg->nnodes ? pt->fresh_rr++ % cfg->nnodes : 0;

	hb->has_proves_freshness = 1;
	hb->proves_freshness = 1;
	hb->challenges = chp;
	hb->echoes = ecp;
	hb->n_challenges = hb->n_echoes = 0;
	for (size_t k = 0; k < cfg->nnodes; k++) {
		size_t i = (start + k) % cfg->nnodes;
		struct peer *p = &pt->peers[i];
		uint8_t rnd[FRESH_NONCE_LEN] = { 0 };   /* used only by an UNPROVEN peer */
		const uint8_t *nonce;

		if (i == cfg->self)
			continue;
		if (p->fresh.state == FRESH_UNPROVEN)
			randombytes_buf(rnd, sizeof(rnd));
		nonce = fresh_challenge(&p->fresh, rnd);
		if (nonce != NULL) {
			Tandem__Challenge *c = &ch[hb->n_challenges];

			tandem__challenge__init(c);
			c->has_node_id = 1;
			c->node_id = cfg->nodes[i].id;
			c->has_nonce = 1;
			c->nonce.data = (uint8_t *)nonce;
			c->nonce.len = FRESH_NONCE_LEN;
			chp[hb->n_challenges++] = c;
		}
		if (p->have_echo) {
			Tandem__Challenge *c = &ec[hb->n_echoes];

			tandem__challenge__init(c);
			c->has_node_id = 1;
			c->node_id = cfg->nodes[i].id;
			c->has_nonce = 1;
			c->nonce.data = p->echo;
			c->nonce.len = FRESH_NONCE_LEN;
			ecp[hb->n_echoes++] = c;
		}
	}
	msg.body_case = TANDEM__PEER_MESSAGE__BODY_HEARTBEAT;
	msg.heartbeat = hb;
	/* Echoes go last: a peer proven a moment later costs less than a
	 * peer we cannot start to prove. */
	while (tandem__peer_message__get_packed_size(&msg) > WIRE_MAX_PAYLOAD &&
	    (hb->n_echoes > 0 || hb->n_challenges > 0)) {
		if (hb->n_echoes >= hb->n_challenges && hb->n_echoes > 0)
			hb->n_echoes--;
		else
			hb->n_challenges--;
	}
}

ssize_t peer_build_heartbeat(struct peer_table *pt, const Tandem__Heartbeat *hb, uint8_t *payload,
    size_t cap)
{
	Tandem__PeerMessage msg = TANDEM__PEER_MESSAGE__INIT;
	Tandem__Heartbeat h = *hb;
	Tandem__Challenge ch[HACD_MAX_NODES], ec[HACD_MAX_NODES];
	Tandem__Challenge *chp[HACD_MAX_NODES], *ecp[HACD_MAX_NODES];
	size_t plen;

	add_freshness(pt, &h, ch, chp, ec, ecp);
	msg.body_case = TANDEM__PEER_MESSAGE__BODY_HEARTBEAT;
	msg.heartbeat = &h;
	plen = tandem__peer_message__get_packed_size(&msg);
	if (plen > cap || plen > WIRE_MAX_PAYLOAD)
		return -1;
	tandem__peer_message__pack(&msg, payload);
	return (ssize_t)plen;
}

int peer_send_heartbeat(struct peer_table *pt, const Tandem__Heartbeat *hb)
{
	uint8_t payload[WIRE_MAX_PAYLOAD];
	ssize_t plen;

	if (pt->fd == -1)
		return -1;
	plen = peer_build_heartbeat(pt, hb, payload, sizeof(payload));
	if (plen == -1) {
		pt->stats.tx_err++;
		log_rl_warnx(&pt->rl, ev_now(pt->loop), "peers: heartbeat does not fit a datagram");
		return -1;
	}
	return peer_send_payload(pt, payload, (size_t)plen, -1);
}

void peer_counters(const struct peer_table *pt,
    void (*cb)(void *arg, const char *name, uint64_t value), void *arg)
{
	char name[64];

	cb(arg, "rx", pt->stats.rx);
	cb(arg, "tx", pt->stats.tx);
	cb(arg, "tx-error", pt->stats.tx_err);
	if (pt->cfg->mcast.enabled) {
		cb(arg, "rx-multicast", pt->stats.rx_mcast);
		cb(arg, "tx-multicast", pt->stats.tx_mcast);
	}
	cb(arg, "accepted", pt->stats.drops[PEER_ACCEPTED]);
	cb(arg, "fresh-proved", pt->stats.proved);
	cb(arg, "fresh-echoed", pt->stats.challenged);
	if (pt->cfg->legacy_peers)
		cb(arg, "accepted-legacy", pt->stats.legacy);
	for (int v = 1; v < WIRE_VERDICT_MAX; v++) {
		snprintf(name, sizeof(name), "drop-%s", wire_verdict_str((enum wire_verdict)v));
		cb(arg, name, pt->stats.wire[v]);
	}
	for (int d = PEER_DROP_UNKNOWN_SENDER; d < PEER_DROP_MAX; d++) {
		snprintf(name, sizeof(name), "drop-%s", peer_drop_str((enum peer_drop)d));
		cb(arg, name, pt->stats.drops[d]);
	}
}
