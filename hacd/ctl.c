/*
 * hacd/ctl.c — the control socket hactl talks to.
 *
 * RUNDIR/hacd.ctl (mode 0600; a connecting process must run as root or as
 * hacd's user, checked with SO_PEERCRED) carries CtlRequest frames in and
 * CtlResponse frames out (lib/frame over hacd/stream.c). Each request gets
 * one response, except `events`, which keeps the connection as a
 * subscriber: hacd/node.c's transition lines are pushed to it as
 * CtlResponse.event frames until the client goes away. The commands
 * themselves live in hacd/node.c (VIPs) and hacd/repl.c (cluster-wide
 * server admin state: drain, enable, maint, weight, admin); this file
 * decodes, dispatches and builds the status tables.
 */
#include "hacd/ctl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hacd/adminarg.h"
#include "lib/net.h"
#include "proto/tandem.pb-c.h"

#define CTL_MAX_COUNTERS 160
#define CTL_SUBSCRIBER   ((void *)1)

static void respond(struct stream *s, const Tandem__CtlResponse *r)
{
	size_t n = tandem__ctl_response__get_packed_size(r);
	uint8_t *buf = malloc(n ? n : 1);

	if (buf == NULL) {
		stream_close(s);
		return;
	}
	tandem__ctl_response__pack(r, buf);
	stream_send(s, buf, n);
	free(buf);
}

static void respond_msg(struct stream *s, int status, const char *msg)
{
	Tandem__CtlResponse r = TANDEM__CTL_RESPONSE__INIT;

	r.has_status = 1;
	r.status = status;
	r.message = (char *)msg;
	respond(s, &r);
}

struct counter_acc {
	Tandem__Counter c[CTL_MAX_COUNTERS];
	Tandem__Counter *p[CTL_MAX_COUNTERS];
	char names[CTL_MAX_COUNTERS][48];
	size_t n;
};

static void add_counter(void *arg, const char *name, uint64_t value)
{
	struct counter_acc *a = arg;

	if (a->n >= CTL_MAX_COUNTERS)
		return;
	tandem__counter__init(&a->c[a->n]);
	snprintf(a->names[a->n], sizeof(a->names[a->n]), "%s", name);
	a->c[a->n].name = a->names[a->n];
	a->c[a->n].has_value = 1;
	a->c[a->n].value = value;
	a->p[a->n] = &a->c[a->n];
	a->n++;
}

/* The admin entries of a response: shallow copies (repl_admin_foreach's
 * messages live only during the callback; their strings point into the
 * store and stay valid until it changes), so fill, respond and free in one
 * go. */
struct admin_acc {
	Tandem__ServerAdmin *v;
	size_t n, cap;
	int nomem;
};

static void add_admin(void *arg, const Tandem__ServerAdmin *a)
{
	struct admin_acc *acc = arg;

	if (acc->n == acc->cap) {
		size_t cap = acc->cap ? acc->cap * 2 : 32;
		Tandem__ServerAdmin *v = realloc(acc->v, cap * sizeof(*v));

		if (v == NULL) {
			acc->nomem = 1;
			return;
		}
		acc->v = v;
		acc->cap = cap;
	}
	acc->v[acc->n++] = *a;
}

static void do_admin_list(struct ctl *c, struct stream *s)
{
	Tandem__CtlResponse r = TANDEM__CTL_RESPONSE__INIT;
	struct admin_acc acc = { NULL, 0, 0, 0 };
	Tandem__ServerAdmin **ptrs;

	repl_admin_foreach(&c->node->repl, add_admin, &acc);
	ptrs = calloc(acc.n ? acc.n : 1, sizeof(*ptrs));
	if (acc.nomem || ptrs == NULL) {
		free(acc.v);
		free(ptrs);
		respond_msg(s, CTL_ERR, "out of memory");
		return;
	}
	for (size_t i = 0; i < acc.n; i++)
		ptrs[i] = &acc.v[i];
	r.has_status = 1;
	r.status = CTL_OK;
	r.node = (char *)c->node->cfg->nodes[c->node->cfg->self].name;
	r.n_admin = acc.n;
	r.admin = ptrs;
	respond(s, &r);
	free(ptrs);
	free(acc.v);
}

static void do_admin_set(struct ctl *c, struct stream *s, const Tandem__CtlRequest *req)
{
	struct adminarg a;
	char msg[300];
	int rc;

	if (adminarg_parse(req->command, req->n_args, req->args, &a, msg, sizeof(msg)) == -1) {
		c->bad_request++;
		respond_msg(s, CTL_USAGE, msg);
		return;
	}
	rc = repl_admin_set(&c->node->repl, a.upstream, a.server, a.state, a.weight, msg, sizeof(msg));
	respond_msg(s, rc == 0 ? CTL_OK : CTL_ERR, msg);
}

static void do_status(struct ctl *c, struct stream *s)
{
	struct node *n = c->node;
	const struct hacd_config *cfg = n->cfg;
	Tandem__CtlResponse r = TANDEM__CTL_RESPONSE__INIT;
	Tandem__NodeStatus ns[HACD_MAX_NODES], *nsp[HACD_MAX_NODES];
	Tandem__VipStatus vs[HACD_MAX_VIPS], *vsp[HACD_MAX_VIPS];
	char addrs[HACD_MAX_NODES][NET_ADDRSTRLEN];
	struct counter_acc *acc = calloc(1, sizeof(*acc));
	uint64_t now = ev_now(c->loop);
	int fault;

	if (acc == NULL) {
		respond_msg(s, CTL_ERR, "out of memory");
		return;
	}
	for (size_t i = 0; i < cfg->nnodes; i++) {
		const struct peer *p = &n->peers.peers[i];
		int self = i == cfg->self;

		tandem__node_status__init(&ns[i]);
		ns[i].node = (char *)cfg->nodes[i].name;
		ns[i].address = (char *)net_addr_str((const struct sockaddr *)&cfg->nodes[i].addr,
		    addrs[i], sizeof(addrs[i]));
		ns[i].has_self = 1;
		ns[i].self = self;
		ns[i].has_alive = 1;
		ns[i].alive = self ? 1 : p->alive;
		ns[i].has_maintenance = 1;
		ns[i].maintenance = self ? n->maintenance : p->maintenance;
		ns[i].has_advert_ms = 1;
		ns[i].advert_ms = self ? (uint32_t)cfg->advert_ms : p->advert_ms;
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
			ns[i].has_health = 1;
			ns[i].health = h;
		} else {
			const struct repl_peer *rp = &n->repl.peer[i];

			ns[i].has_synced = 1;
			ns[i].synced = rp->synced;
			if (rp->last_rx_ms != 0) {
				ns[i].has_last_sync_ms = 1;
				ns[i].last_sync_ms = now - rp->last_rx_ms;
			}
		}
		if (!self && p->last_heard_ms != 0) {
			ns[i].has_last_heard_ms = 1;
			ns[i].last_heard_ms = now - p->last_heard_ms;
			ns[i].has_health = 1;
			ns[i].health = p->health;
			ns[i].has_config_drift = 1;
			ns[i].config_drift = p->have_digest &&
			    memcmp(p->digest, cfg->digest, sizeof(cfg->digest)) != 0;
		}
		nsp[i] = &ns[i];
	}
	for (size_t v = 0; v < cfg->nvips; v++) {
		const struct node_vip *nv = &n->vips[v];

		tandem__vip_status__init(&vs[v]);
		vs[v].name = (char *)cfg->vips[v].name;
		vs[v].address = (char *)cfg->vips[v].addr.text;
		vs[v].interface = (char *)cfg->vips[v].addr.ifname;
		vs[v].owner = (char *)node_vip_owner(n, v);
		vs[v].has_role = 1;
		vs[v].role = (Tandem__VipRole)nv->st.role;
		vs[v].has_priority = 1;
		vs[v].priority = node_effective_prio(n, v, &fault);
		if (nv->yield_to >= 0)
			vs[v].yield_to = (char *)cfg->nodes[nv->yield_to].name;
		vsp[v] = &vs[v];
	}
	peer_counters(&n->peers, add_counter, acc);
	add_counter(acc, "channel-rejected-uid", n->chan.rejected_uid);
	add_counter(acc, "channel-bad-message", n->chan.bad_message);
	add_counter(acc, "ctl-rejected-uid", c->rejected_uid);
	add_counter(acc, "ctl-bad-request", c->bad_request);
	add_counter(acc, "notify-failed", n->notify_failed);
	repl_counters(&n->repl, add_counter, acc);
	r.has_status = 1;
	r.status = CTL_OK;
	r.node = (char *)cfg->nodes[cfg->self].name;
	r.has_maintenance = 1;
	r.maintenance = n->maintenance;
	r.has_proxyd_ready = 1;
	r.proxyd_ready = channel_ready(&n->chan);
	r.n_nodes = cfg->nnodes;
	r.nodes = nsp;
	r.n_vips = cfg->nvips;
	r.vips = vsp;
	r.n_counters = acc->n;
	r.counters = acc->p;
	respond(s, &r);
	free(acc);
}

static void broadcast_event(void *arg, const char *line)
{
	struct ctl *c = arg;
	Tandem__CtlResponse r = TANDEM__CTL_RESPONSE__INIT;

	r.event = (char *)line;
	for (struct stream *s = c->clients; s != NULL; s = s->next)
		if (s->data == CTL_SUBSCRIBER && !s->closing)
			respond(s, &r);
}

static void dispatch(struct ctl *c, struct stream *s, const Tandem__CtlRequest *req)
{
	char msg[1024];
	const char *cmd = req->command ? req->command : "";
	int rc;

	if (strcmp(cmd, "status") == 0) {
		do_status(c, s);
	} else if (strcmp(cmd, "failover") == 0) {
		const char *vip = NULL, *to = NULL;

		for (size_t i = 0; i < req->n_args; i++) {
			if (strcmp(req->args[i], "--to") == 0 && i + 1 < req->n_args)
				to = req->args[++i];
			else if (vip == NULL && req->args[i][0] != '-')
				vip = req->args[i];
			else {
				respond_msg(s, CTL_USAGE, "usage: failover [VIP] [--to NODE]");
				return;
			}
		}
		rc = node_failover(c->node, vip, to, msg, sizeof(msg));
		respond_msg(s, rc == 0 ? CTL_OK : CTL_ERR, msg);
	} else if (strcmp(cmd, "maintenance") == 0) {
		if (req->n_args != 1 || (strcmp(req->args[0], "on") != 0 && strcmp(req->args[0], "off") != 0)) {
			respond_msg(s, CTL_USAGE, "usage: maintenance on|off");
			return;
		}
		rc = node_maintenance(c->node, strcmp(req->args[0], "on") == 0, msg, sizeof(msg));
		respond_msg(s, rc == 0 ? CTL_OK : CTL_ERR, msg);
	} else if (strcmp(cmd, "reload") == 0) {
		if (c->on_reload != NULL)
			c->on_reload(c->reload_arg, -1);
		rc = node_reload(c->node, msg, sizeof(msg));
		if (c->on_reload != NULL)
			c->on_reload(c->reload_arg, rc == 0);
		respond_msg(s, rc == 0 ? CTL_OK : CTL_ERR, msg);
	} else if (adminarg_is_verb(cmd)) {
		do_admin_set(c, s, req);
	} else if (strcmp(cmd, "admin") == 0) {
		if (req->n_args != 0) {
			respond_msg(s, CTL_USAGE, "usage: admin");
			return;
		}
		do_admin_list(c, s);
	} else if (strcmp(cmd, "events") == 0) {
		s->data = CTL_SUBSCRIBER;
		respond_msg(s, CTL_OK, "following events; interrupt to stop");
	} else {
		c->bad_request++;
		snprintf(msg, sizeof(msg), "unknown command \"%.64s\"", cmd);
		respond_msg(s, CTL_USAGE, msg);
	}
}

static struct ctl *ctl_of(struct stream *s);

static void client_frame_cb(struct stream *s, const uint8_t *msg, size_t len)
{
	struct ctl *c = ctl_of(s);
	Tandem__CtlRequest *req = tandem__ctl_request__unpack(NULL, len, msg);

	if (req == NULL) {
		c->bad_request++;
		log_rl_warnx(&c->rl, ev_now(c->loop), "ctl: undecodable request: closing");
		stream_close(s);
		return;
	}
	dispatch(c, s, req);
	tandem__ctl_request__free_unpacked(req, NULL);
}

/* Streams carry the subscriber mark in data, so the ctl is found through a
 * single-instance pointer: hacd has one control socket. */
static struct ctl *the_ctl;

static struct ctl *ctl_of(struct stream *s)
{
	(void)s;
	return the_ctl;
}

static void client_close_cb(struct stream *s)
{
	struct ctl *c = ctl_of(s);

	for (struct stream **pp = &c->clients; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	}
}

static void accept_cb(struct ev_loop *loop, struct ev_io *w, uint32_t revents)
{
	struct ctl *c = w->data;
	struct stream *s;
	uid_t uid = (uid_t)-1;
	int fd;

	(void)revents;
	for (int i = 0; i < 16; i++) {
		fd = net_accept(c->lfd, NULL, NULL);
		if (fd == -1)
			return;
		if (net_peer_uid(fd, &uid) == -1 || (uid != 0 && uid != getuid())) {
			c->rejected_uid++;
			log_rl_warnx(&c->rl, ev_now(loop), "ctl: connection from uid %d refused", (int)uid);
			close(fd);
			continue;
		}
		s = stream_new(loop, fd, client_frame_cb, client_close_cb, NULL);
		if (s == NULL)
			continue;
		s->next = c->clients;
		c->clients = s;
	}
}

int ctl_open(struct ctl *c, struct ev_loop *loop, const char *path, struct node *node)
{
	memset(c, 0, sizeof(*c));
	c->loop = loop;
	c->node = node;
	c->lfd = -1;
	c->rl = (struct log_ratelimit)LOG_RATELIMIT_INIT(1000);
	if (strlen(path) >= sizeof(c->path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	snprintf(c->path, sizeof(c->path), "%s", path);
	c->lfd = net_listen_unix(path, 0600);
	if (c->lfd == -1)
		return -1;
	ev_io_init(&c->lio, c->lfd, accept_cb, c);
	if (ev_io_start(loop, &c->lio, EV_READ) == -1) {
		close(c->lfd);
		c->lfd = -1;
		return -1;
	}
	the_ctl = c;
	node->event_cb = broadcast_event;
	node->event_arg = c;
	return 0;
}

void ctl_close(struct ctl *c)
{
	if (c->node != NULL && c->node->event_arg == c) {
		c->node->event_cb = NULL;
		c->node->event_arg = NULL;
	}
	while (c->clients != NULL)
		stream_close(c->clients);   /* the close callback unlinks it */
	if (c->lfd != -1) {
		ev_io_stop(c->loop, &c->lio);
		close(c->lfd);
		c->lfd = -1;
		unlink(c->path);
	}
}
