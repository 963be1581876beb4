/*
 * hacd/config.c — hacd.conf into struct hacd_config.
 *
 * hacd/main.c loads the file at start (and hacd -t only checks it); a
 * reload through the control socket (hacd/ctl.c) loads a new one and, if
 * hacd_config_reloadable() agrees, the node swaps it in whole; otherwise the
 * running configuration stays and the operator gets the file:line message.
 * Everything is validated here so the rest of hacd can trust the struct:
 * unknown keys, out-of-range numbers, unparsable addresses, duplicate names,
 * addresses and sender ids are all refused with the line they are on.
 */
#include "hacd/config.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <unistd.h>

#include "lib/net.h"
#include "lib/wire.h"

static const char *const root_keys[] = {
	"cluster", "key_file", "advert", "dead_intervals", "skew", "legacy_peers", "port", "garp",
	"notify", "nodes", "vips", "track", "proxyd_user", "channel", "multicast", "replication", "admin", "nft",
	"quorum", "bird", NULL,
};
static const char *const bird_keys[] = { "socket", NULL };
static const char *const channel_keys[] = { "takeover", "allow_root", NULL };
static const char *const admin_keys[] = { "listen", "max_connections", "allow_remote", NULL };
static const char *const repl_keys[] = {
	"sync_interval", "anti_entropy", "max_rate_keys", "max_bans", "max_health", "max_admin",
	"max_tickets", "rate_retention", "max_future", "max_ban", "relay", "ticket_rotate", NULL,
};
static const char *const mcast_keys[] = { "group", "interface", "ttl", "port", NULL };
static const char *const garp_keys[] = { "count", "spacing", NULL };
static const char *const node_keys[] = { "name", "address", "port", "witness", NULL };
static const char *const vip_keys[] = {
	"name", "address", "interface", "priority", "preempt", "preempt_delay",
	"mode", "bird_protocol", NULL,
};
static const char *const track_keys[] = { "proxyd", "interface", "scripts", NULL };
static const char *const script_keys[] = {
	"name", "command", "interval", "timeout", "weight", NULL,
};

/* Names become libconfig member names (priority = { n1 = 150; }) and log
 * words, so they follow libconfig's identifier rule. */
static int valid_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= HACD_NAME_MAX)
		return 0;
	if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
		return 0;
	for (size_t i = 1; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

static int get_name(const config_setting_t *grp, const char *key, char *out,
    struct conf_err *err)
{
	const char *s = NULL;

	if (conf_get_str(grp, key, 1, &s, err) == -1)
		return -1;
	if (!valid_name(s))
		return conf_errorf(err, config_setting_get_member(grp, key),
		    "%s \"%s\": a letter then letters, digits, '_' or '-', at most %d characters",
		    key, s, HACD_NAME_MAX - 1);
	snprintf(out, HACD_NAME_MAX, "%s", s);
	return 0;
}

/* A weight: "off", "fault" or an integer 1..255. */
static int get_weight(const config_setting_t *grp, const char *key, int *out,
    struct conf_err *err)
{
	const config_setting_t *s = config_setting_get_member(grp, key);
	const char *str;
	int64_t v;

	if (s == NULL)
		return 0;
	if (config_setting_type(s) == CONFIG_TYPE_STRING) {
		str = config_setting_get_string(s);
		if (strcmp(str, "fault") == 0) {
			*out = HACD_WEIGHT_FAULT;
			return 0;
		}
		if (strcmp(str, "off") == 0) {
			*out = HACD_WEIGHT_OFF;
			return 0;
		}
		return conf_errorf(err, s, "%s: \"fault\", \"off\" or a number 1..255", key);
	}
	if (conf_get_int(grp, key, 1, 1, HACD_PRIO_MAX, &v, err) == -1)
		return -1;
	*out = (int)v;
	return 0;
}

static int copy_str(const config_setting_t *grp, const char *key, int required,
    char *out, size_t outlen, struct conf_err *err)
{
	const char *s = NULL;

	if (conf_get_str(grp, key, required, &s, err) == -1)
		return -1;
	if (s == NULL)
		return 0;
	if (strlen(s) >= outlen)
		return conf_errorf(err, config_setting_get_member(grp, key), "%s: too long", key);
	snprintf(out, outlen, "%s", s);
	return 0;
}

static int parse_nodes(struct hacd_config *cfg, const config_setting_t *root,
    int64_t port, struct conf_err *err)
{
	const config_setting_t *list, *n;
	int count;

	if (conf_get_list(root, "nodes", 1, &list, err) == -1)
		return -1;
	count = config_setting_length(list);
	if (count < 1)
		return conf_errorf(err, list, "nodes: at least one node is needed");
	if (count > HACD_MAX_NODES)
		return conf_errorf(err, list, "nodes: at most %d", HACD_MAX_NODES);
	for (int i = 0; i < count; i++) {
		struct hacd_node_conf *nc = &cfg->nodes[i];
		const char *addr;
		int64_t p = port;

		n = config_setting_get_elem(list, (unsigned)i);
		if (!config_setting_is_group(n))
			return conf_errorf(err, n, "nodes: each entry is a group { name = ...; address = ...; }");
		if (conf_check_keys(n, node_keys, err) == -1 ||
		    get_name(n, "name", nc->name, err) == -1 ||
		    conf_get_str(n, "address", 1, &addr, err) == -1 ||
		    conf_get_int(n, "port", 0, 1, 65535, &p, err) == -1 ||
		    conf_get_bool(n, "witness", 0, &nc->witness, err) == -1)
			return -1;
		if (net_parse_addr(addr, (int)p, &nc->addr, &nc->addrlen) == -1 ||
		    (nc->addr.ss_family != AF_INET && nc->addr.ss_family != AF_INET6))
			return conf_errorf(err, config_setting_get_member(n, "address"),
			    "address \"%s\": a numeric IPv4 or IPv6 address", addr);
		nc->id = wire_cluster_id(nc->name);
		for (int j = 0; j < i; j++) {
			if (strcmp(cfg->nodes[j].name, nc->name) == 0)
				return conf_errorf(err, n, "node \"%s\" defined twice", nc->name);
			if (net_addr_equal((struct sockaddr *)&cfg->nodes[j].addr,
			    (struct sockaddr *)&nc->addr, 1))
				return conf_errorf(err, n, "nodes \"%s\" and \"%s\" have the same address and port",
				    cfg->nodes[j].name, nc->name);
			if (cfg->nodes[j].id == nc->id)
				return conf_errorf(err, n, "node names \"%s\" and \"%s\" hash to the same sender id; rename one",
				    cfg->nodes[j].name, nc->name);
		}
	}
	cfg->nnodes = (size_t)count;
	return 0;
}

/* A BIRD symbol ([A-Za-z_][A-Za-z0-9_]*): it goes into a command line on
 * BIRD's control socket, so nothing else (no space, no newline) may. */
static int bird_symbol(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= HACD_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		int alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';

		if (!alpha && (i == 0 || c < '0' || c > '9'))
			return 0;
	}
	return 1;
}

/* mode = "vrrp" (the default: one owner, elected) or "bgp" (every healthy
 * node announces the address through its BIRD; bird_protocol required). */
static int parse_vip_mode(struct hacd_vip_conf *vc, const config_setting_t *v, const char *mode,
    const char *bproto, struct conf_err *err)
{
	if (strcmp(mode, "vrrp") != 0 && strcmp(mode, "bgp") != 0)
		return conf_errorf(err, config_setting_get_member(v, "mode"),
		    "vip \"%s\": mode \"%s\": \"vrrp\" or \"bgp\"", vc->name, mode);
	vc->bgp = strcmp(mode, "bgp") == 0;
	if (!vc->bgp && bproto != NULL)
		return conf_errorf(err, config_setting_get_member(v, "bird_protocol"),
		    "vip \"%s\": bird_protocol is for mode = \"bgp\"", vc->name);
	if (!vc->bgp)
		return 0;
	if (bproto == NULL)
		return conf_errorf(err, v, "vip \"%s\": mode \"bgp\" needs bird_protocol (the static "
		    "protocol in bird.conf that holds its route)", vc->name);
	if (!bird_symbol(bproto))
		return conf_errorf(err, config_setting_get_member(v, "bird_protocol"),
		    "vip \"%s\": bird_protocol \"%s\" is not a BIRD symbol ([A-Za-z_][A-Za-z0-9_]*)",
		    vc->name, bproto);
	snprintf(vc->bird_protocol, sizeof(vc->bird_protocol), "%s", bproto);
	return 0;
}

/* bird = { socket = "/run/bird/bird.ctl"; } (optional). */
static int parse_bird(struct hacd_config *cfg, const config_setting_t *root, struct conf_err *err)
{
	const config_setting_t *g = NULL;
	const char *sock = NULL;

	snprintf(cfg->bird_socket, sizeof(cfg->bird_socket), "%s", HACD_BIRD_SOCKET);
	if (conf_get_group(root, "bird", 0, &g, err) == -1)
		return -1;
	if (g == NULL)
		return 0;
	if (conf_check_keys(g, bird_keys, err) == -1 || conf_get_str(g, "socket", 0, &sock, err) == -1)
		return -1;
	/* A relative path is relative to hacd's run directory (-R): one file
	 * for every node even where each node's BIRD has a socket of its own
	 * (the lab's namespaces share one file system). */
	if (sock != NULL && (sock[0] == '\0' || strlen(sock) >= sizeof(cfg->bird_socket)))
		return conf_errorf(err, config_setting_get_member(g, "socket"),
		    "bird.socket: a path shorter than %zu bytes", sizeof(cfg->bird_socket));
	if (sock != NULL)
		snprintf(cfg->bird_socket, sizeof(cfg->bird_socket), "%s", sock);
	return 0;
}

static int parse_vips(struct hacd_config *cfg, const config_setting_t *root,
    struct conf_err *err)
{
	const config_setting_t *list, *v, *prio;
	int count;

	if (conf_get_list(root, "vips", 1, &list, err) == -1)
		return -1;
	count = config_setting_length(list);
	if (count > HACD_MAX_VIPS)
		return conf_errorf(err, list, "vips: at most %d", HACD_MAX_VIPS);
	for (int i = 0; i < count; i++) {
		struct hacd_vip_conf *vc = &cfg->vips[i];
		const char *addr, *ifname;
		int preempt = 1;
		uint64_t delay = 0;
		int np;
		const char *mode = "vrrp", *bproto = NULL;

		prio = NULL;   /* optional in mode "bgp": left as it is when absent */

		v = config_setting_get_elem(list, (unsigned)i);
		if (!config_setting_is_group(v))
			return conf_errorf(err, v, "vips: each entry is a group { name = ...; address = ...; ... }");
		if (conf_check_keys(v, vip_keys, err) == -1 ||
		    get_name(v, "name", vc->name, err) == -1 ||
		    conf_get_str(v, "address", 1, &addr, err) == -1 ||
		    conf_get_str(v, "interface", 1, &ifname, err) == -1 ||
		    conf_get_bool(v, "preempt", 0, &preempt, err) == -1 ||
		    conf_get_duration(v, "preempt_delay", 0, &delay, err) == -1 ||
		    conf_get_str(v, "mode", 0, &mode, err) == -1 ||
		    conf_get_str(v, "bird_protocol", 0, &bproto, err) == -1)
			return -1;
		if (parse_vip_mode(vc, v, mode, bproto, err) == -1 ||
		    conf_get_group(v, "priority", !vc->bgp, &prio, err) == -1)
			return -1;
		if (vip_parse(addr, ifname, &vc->addr) == -1)
			return conf_errorf(err, config_setting_get_member(v, "address"),
			    "vip \"%s\": bad address \"%s\" or interface \"%s\"", vc->name, addr, ifname);
		vc->preempt = preempt;
		vc->preempt_delay_ms = delay;
		if (vc->bgp && vc->addr.prefix != (vc->addr.family == AF_INET ? 32 : 128))
			return conf_errorf(err, config_setting_get_member(v, "address"),
			    "vip \"%s\": mode \"bgp\" announces a host route: the address is a /32 or /128, not %s",
			    vc->name, vc->addr.text);
		np = prio != NULL ? config_setting_length(prio) : 0;
		for (int k = 0; k < np; k++) {
			const config_setting_t *e = config_setting_get_elem(prio, (unsigned)k);
			const char *nn = config_setting_name(e);
			int idx = hacd_config_node(cfg, nn ? nn : "");
			int64_t pv;

			if (idx < 0)
				return conf_errorf(err, e, "priority: \"%s\" is not a node", nn ? nn : "");
			if (conf_get_int(prio, nn, 1, 0, HACD_PRIO_MAX, &pv, err) == -1)
				return -1;
			if (pv != 0 && cfg->nodes[idx].witness)
				return conf_errorf(err, e, "priority: \"%s\" is a witness: it never holds a VIP (0 or leave it out)",
				    nn);
			vc->prio[idx] = (unsigned)pv;
		}
		for (size_t k = 0; k < cfg->nnodes; k++) {
			const struct sockaddr_storage *na = &cfg->nodes[k].addr;
			const void *raw = na->ss_family == AF_INET ?
			    (const void *)&((const struct sockaddr_in *)na)->sin_addr :
			    (const void *)&((const struct sockaddr_in6 *)na)->sin6_addr;

			/* hacd removes a VIP from every node that does not own
			 * it: a node's own address must never be one. */
			if (na->ss_family == vc->addr.family &&
			    memcmp(raw, vc->addr.addr, vc->addr.family == AF_INET ? 4 : 16) == 0)
				return conf_errorf(err, config_setting_get_member(v, "address"),
				    "vip \"%s\": %s is node %s's address", vc->name, addr, cfg->nodes[k].name);
		}
		for (int j = 0; j < i; j++) {
			if (strcmp(cfg->vips[j].name, vc->name) == 0)
				return conf_errorf(err, v, "vip \"%s\" defined twice", vc->name);
			if (cfg->vips[j].addr.family == vc->addr.family &&
			    memcmp(cfg->vips[j].addr.addr, vc->addr.addr, 16) == 0)
				return conf_errorf(err, v, "vips \"%s\" and \"%s\" have the same address",
				    cfg->vips[j].name, vc->name);
		}
	}
	cfg->nvips = (size_t)count;
	return 0;
}

static int parse_track(struct hacd_config *cfg, const config_setting_t *root,
    struct conf_err *err)
{
	const config_setting_t *track = NULL, *list = NULL;
	int count;

	cfg->proxyd_weight = HACD_WEIGHT_FAULT;
	cfg->track_interface = 1;
	if (conf_get_group(root, "track", 0, &track, err) == -1)
		return -1;
	if (track == NULL)
		return 0;
	if (conf_check_keys(track, track_keys, err) == -1 ||
	    get_weight(track, "proxyd", &cfg->proxyd_weight, err) == -1 ||
	    conf_get_bool(track, "interface", 0, &cfg->track_interface, err) == -1 ||
	    conf_get_list(track, "scripts", 0, &list, err) == -1)
		return -1;
	if (list == NULL)
		return 0;
	count = config_setting_length(list);
	if (count > HACD_MAX_CHECKS)
		return conf_errorf(err, list, "scripts: at most %d", HACD_MAX_CHECKS);
	for (int i = 0; i < count; i++) {
		const config_setting_t *s = config_setting_get_elem(list, (unsigned)i);
		struct hacd_check_conf *cc = &cfg->checks[i];

		cc->interval_ms = 2000;
		cc->timeout_ms = 0;
		cc->weight = HACD_WEIGHT_FAULT;
		if (!config_setting_is_group(s))
			return conf_errorf(err, s, "scripts: each entry is a group { name = ...; command = ...; }");
		if (conf_check_keys(s, script_keys, err) == -1 ||
		    get_name(s, "name", cc->name, err) == -1 ||
		    copy_str(s, "command", 1, cc->command, sizeof(cc->command), err) == -1 ||
		    conf_get_duration(s, "interval", 0, &cc->interval_ms, err) == -1 ||
		    conf_get_duration(s, "timeout", 0, &cc->timeout_ms, err) == -1 ||
		    get_weight(s, "weight", &cc->weight, err) == -1)
			return -1;
		if (cc->weight == HACD_WEIGHT_OFF)
			return conf_errorf(err, s, "script \"%s\": weight \"off\" makes the check useless; remove it",
			    cc->name);
		if (cc->interval_ms < 100 || cc->interval_ms > 3600000)
			return conf_errorf(err, s, "script \"%s\": interval must be 100ms..1h", cc->name);
		if (cc->timeout_ms == 0 || cc->timeout_ms > cc->interval_ms)
			cc->timeout_ms = cc->interval_ms;
		for (int j = 0; j < i; j++)
			if (strcmp(cfg->checks[j].name, cc->name) == 0)
				return conf_errorf(err, s, "script \"%s\" defined twice", cc->name);
	}
	cfg->nchecks = (size_t)count;
	return 0;
}

/*
 * multicast = { group = "239.255.77.7"; interface = "eth0"; ttl = 1; };
 * IPv4 only: an IPv6 group would need IPV6_JOIN_GROUP, a scoped bind and
 * IPv6 node addresses, none of which hacd does yet, so it is refused here
 * rather than half working.
 */
static int parse_multicast(struct hacd_config *cfg, const config_setting_t *root,
    int64_t port, struct conf_err *err)
{
	const config_setting_t *m = NULL;
	struct hacd_mcast_conf *mc = &cfg->mcast;
	const struct sockaddr_in *sin;
	const char *group, *ifname;
	int64_t ttl = 1, p = port;

	if (conf_get_group(root, "multicast", 0, &m, err) == -1)
		return -1;
	if (m == NULL)
		return 0;
	if (conf_check_keys(m, mcast_keys, err) == -1 ||
	    conf_get_str(m, "group", 1, &group, err) == -1 ||
	    conf_get_str(m, "interface", 1, &ifname, err) == -1 ||
	    conf_get_int(m, "ttl", 0, 1, 255, &ttl, err) == -1 ||
	    conf_get_int(m, "port", 0, 1, 65535, &p, err) == -1)
		return -1;
	if (net_parse_addr(group, (int)p, &mc->group, &mc->grouplen) == -1)
		return conf_errorf(err, config_setting_get_member(m, "group"),
		    "group \"%s\": a numeric IPv4 multicast address", group);
	if (mc->group.ss_family == AF_INET6)
		return conf_errorf(err, config_setting_get_member(m, "group"),
		    "group \"%s\": IPv6 multicast is not supported; use unicast heartbeats", group);
	sin = (const struct sockaddr_in *)&mc->group;
	if (mc->group.ss_family != AF_INET || !IN_MULTICAST(ntohl(sin->sin_addr.s_addr)))
		return conf_errorf(err, config_setting_get_member(m, "group"),
		    "group \"%s\": not an IPv4 multicast address (224.0.0.0/4)", group);
	if (ifname[0] == '\0' || strlen(ifname) >= sizeof(mc->ifname) || strchr(ifname, '/') != NULL ||
	    strcspn(ifname, " \t\n:") != strlen(ifname))
		return conf_errorf(err, config_setting_get_member(m, "interface"),
		    "interface \"%s\": not an interface name", ifname);
	for (size_t i = 0; i < cfg->nnodes; i++)
		if (cfg->nodes[i].addr.ss_family != AF_INET)
			return conf_errorf(err, m, "multicast: node \"%s\" has an IPv6 address; an IPv4 group cannot reach it",
			    cfg->nodes[i].name);
	snprintf(mc->ifname, sizeof(mc->ifname), "%s", ifname);
	mc->ttl = (unsigned)ttl;
	mc->enabled = 1;
	return 0;
}

/* A duration of grp's key within [min, max] ms (0 allowed when zero_ok). */
static int get_duration_in(const config_setting_t *grp, const char *key, uint64_t min, uint64_t max,
    int zero_ok, const char *range, uint64_t *out, struct conf_err *err)
{
	uint64_t v = *out;

	if (conf_get_duration(grp, key, 0, &v, err) == -1)
		return -1;
	if (!(zero_ok && v == 0) && (v < min || v > max))
		return conf_errorf(err, config_setting_get_member(grp, key), "%s: must be %s", key, range);
	*out = v;
	return 0;
}

static int get_count(const config_setting_t *grp, const char *key, int64_t max, uint64_t *out,
    struct conf_err *err)
{
	int64_t v = (int64_t)*out;

	if (conf_get_int(grp, key, 0, 1, max, &v, err) == -1)
		return -1;
	*out = (uint64_t)v;
	return 0;
}

/*
 * replication = { sync_interval = "20ms"; anti_entropy = "30s";
 *                 max_rate_keys = 100000; ... };
 * Optional, and so is every key: the defaults are hacd/replica.c's. The
 * bounds keep a typo from sizing the store past memory (10M rate keys is
 * about 2 GB) or from turning the sync into a busy loop; max_admin stays
 * small enough for `hactl admin` to list in one control-socket frame.
 */
/*
 * channel = { takeover = "refuse" | "replace"; allow_root = false; }: who
 * may be proxyd on hacd.chan. proxyd never runs as root after its start
 * (proxyd/main.c drops to its user before it connects), so root is let in
 * only when the operator says so (a test tool, a debugging session). One
 * proxyd at a time: "refuse" turns a second connection away while the first
 * is alive (a restarted proxyd's old connection is gone by then), so that a
 * process sharing proxyd's user cannot displace it; "replace" lets the
 * newest win, as before.
 */
static int parse_channel(struct hacd_config *cfg, const config_setting_t *root, struct conf_err *err)
{
	const config_setting_t *g = NULL;
	const char *takeover = NULL;
	int allow_root = 0;

	cfg->chan_replace = 0;
	cfg->chan_allow_root = 0;
	if (conf_get_group(root, "channel", 0, &g, err) == -1)
		return -1;
	if (g == NULL)
		return 0;
	if (conf_check_keys(g, channel_keys, err) == -1 ||
	    conf_get_str(g, "takeover", 0, &takeover, err) == -1 ||
	    conf_get_bool(g, "allow_root", 0, &allow_root, err) == -1)
		return -1;
	if (takeover != NULL) {
		if (strcmp(takeover, "replace") == 0)
			cfg->chan_replace = 1;
		else if (strcmp(takeover, "refuse") != 0)
			return conf_errorf(err, config_setting_get_member(g, "takeover"),
			    "takeover: \"refuse\" or \"replace\"");
	}
	cfg->chan_allow_root = allow_root;
	return 0;
}

/*
 * admin = { listen = "127.0.0.1:9911"; max_connections = 16; allow_remote = false; }
 * hacd's /metrics listener (lib/httpget). Absent: no listener. The answer
 * names every node, VIP and priority and has no authentication, so an
 * address other than loopback is refused unless allow_remote says the
 * operator meant it (a firewall or a scraper on the node is the usual way).
 */
static int parse_admin(struct hacd_config *cfg, const config_setting_t *root, struct conf_err *err)
{
	const config_setting_t *g = NULL;
	const char *listen = NULL;
	int64_t max = 16;
	struct sockaddr_storage ss;
	socklen_t len;

	cfg->admin_listen[0] = '\0';
	cfg->admin_max_conns = 16;
	cfg->admin_allow_remote = 0;
	if (conf_get_group(root, "admin", 0, &g, err) == -1)
		return -1;
	if (g == NULL)
		return 0;
	if (conf_check_keys(g, admin_keys, err) == -1 ||
	    conf_get_str(g, "listen", 0, &listen, err) == -1 ||
	    conf_get_int(g, "max_connections", 0, 1, 1024, &max, err) == -1 ||
	    conf_get_bool(g, "allow_remote", 0, &cfg->admin_allow_remote, err) == -1)
		return -1;
	cfg->admin_max_conns = (unsigned)max;
	if (listen == NULL)
		return 0;
	if (strlen(listen) >= sizeof(cfg->admin_listen) || net_parse_addr(listen, -1, &ss, &len) == -1)
		return conf_errorf(err, config_setting_get_member(g, "listen"),
		    "listen: bad address \"%s\" (want HOST:PORT, numeric)", listen);
	if (!net_is_loopback((const struct sockaddr *)&ss) && !cfg->admin_allow_remote)
		return conf_errorf(err, config_setting_get_member(g, "listen"),
		    "listen: %s is not a loopback address: the metrics name every node and VIP and have no "
		    "authentication; set allow_remote = true to serve them there anyway", listen);
	snprintf(cfg->admin_listen, sizeof(cfg->admin_listen), "%s", listen);
	return 0;
}

static int parse_replication(struct hacd_config *cfg, const config_setting_t *root,
    struct conf_err *err)
{
	struct hacd_repl_conf *rc = &cfg->repl;
	const config_setting_t *g = NULL;

	rc->sync_interval_ms = 20;
	rc->anti_entropy_ms = 30000;
	rc->max_rate_keys = 200000;
	rc->max_bans = 100000;
	rc->max_health = 4096;
	rc->max_admin = 1024;
	rc->max_tickets = 3;
	rc->rate_retention_ms = 120000;
	rc->max_future_ms = 3600000;
	rc->max_ban_ms = 7ull * 86400000;
	rc->relay = 0;
	rc->ticket_rotate_ms = 3600000;
	if (conf_get_group(root, "replication", 0, &g, err) == -1)
		return -1;
	if (g == NULL)
		return 0;
	if (conf_check_keys(g, repl_keys, err) == -1 ||
	    get_duration_in(g, "sync_interval", 1, 10000, 0, "1ms..10s", &rc->sync_interval_ms, err) == -1 ||
	    get_duration_in(g, "anti_entropy", 1000, 86400000, 1, "0 (off) or 1s..1d",
	    &rc->anti_entropy_ms, err) == -1 ||
	    get_count(g, "max_rate_keys", 10000000, &rc->max_rate_keys, err) == -1 ||
	    get_count(g, "max_bans", 10000000, &rc->max_bans, err) == -1 ||
	    get_count(g, "max_health", 1000000, &rc->max_health, err) == -1 ||
	    get_count(g, "max_admin", 10000, &rc->max_admin, err) == -1 ||
	    get_count(g, "max_tickets", 64, &rc->max_tickets, err) == -1 ||
	    get_duration_in(g, "rate_retention", 1000, 86400000, 0, "1s..1d", &rc->rate_retention_ms, err) == -1 ||
	    get_duration_in(g, "max_future", 1000, 86400000, 0, "1s..1d", &rc->max_future_ms, err) == -1 ||
	    get_duration_in(g, "max_ban", 1000, 365ull * 86400000, 0, "1s..365d", &rc->max_ban_ms, err) == -1 ||
	    conf_get_bool(g, "relay", 0, &rc->relay, err) == -1 ||
	    get_duration_in(g, "ticket_rotate", 2000, 7 * 86400000ull, 1, "0 (off) or 2s..7d",
	    &rc->ticket_rotate_ms, err) == -1)
		return -1;
	return 0;
}

/*
 * quorum = "majority" | "off" (or true | false): with it, a node holds VIPs
 * only while it counts a strict majority of the configured nodes' votes
 * (hacd/quorum.c). A witness node (nodes: witness = true) makes sense only
 * with quorum on: it is nothing but a vote.
 */
static int parse_quorum(struct hacd_config *cfg, const config_setting_t *root, struct conf_err *err)
{
	const config_setting_t *q = config_setting_get_member(root, "quorum");
	size_t witnesses = 0;

	cfg->quorum = 0;
	if (q != NULL && config_setting_type(q) == CONFIG_TYPE_BOOL) {
		cfg->quorum = config_setting_get_bool(q);
	} else if (q != NULL && config_setting_type(q) == CONFIG_TYPE_STRING &&
	    strcmp(config_setting_get_string(q), "majority") == 0) {
		cfg->quorum = 1;
	} else if (q != NULL && !(config_setting_type(q) == CONFIG_TYPE_STRING &&
	    strcmp(config_setting_get_string(q), "off") == 0)) {
		return conf_errorf(err, q, "quorum: \"majority\", \"off\", true or false");
	}
	for (size_t i = 0; i < cfg->nnodes; i++)
		witnesses += cfg->nodes[i].witness != 0;
	if (witnesses > 0 && !cfg->quorum)
		return conf_errorf(err, config_setting_get_member(root, "nodes"),
		    "a witness node is only a vote: it needs quorum = \"majority\"");
	if (witnesses >= cfg->nnodes)
		return conf_errorf(err, config_setting_get_member(root, "nodes"),
		    "nodes: every node is a witness; at least one must be able to hold the VIPs");
	return 0;
}

static int parse(struct hacd_config *cfg, const struct conf *c, const char *self_name,
    struct conf_err *err)
{
	const config_setting_t *root = conf_root(c), *garp = NULL;
	int64_t port = HACD_DEFAULT_PORT, dead = 3, count = 5;
	const char *puser = NULL;
	int skew = 0, legacy = 0;

	cfg->advert_ms = 1000;
	cfg->garp_spacing_ms = 200;
	snprintf(cfg->nft, sizeof(cfg->nft), "%s", "/usr/sbin/nft");
	if (conf_check_keys(root, root_keys, err) == -1 ||
	    copy_str(root, "cluster", 1, cfg->cluster, sizeof(cfg->cluster), err) == -1 ||
	    copy_str(root, "key_file", 1, cfg->key_file, sizeof(cfg->key_file), err) == -1 ||
	    conf_get_duration(root, "advert", 0, &cfg->advert_ms, err) == -1 ||
	    conf_get_int(root, "dead_intervals", 0, 2, 100, &dead, err) == -1 ||
	    conf_get_bool(root, "skew", 0, &skew, err) == -1 ||
	    conf_get_bool(root, "legacy_peers", 0, &legacy, err) == -1 ||
	    conf_get_int(root, "port", 0, 1, 65535, &port, err) == -1 ||
	    copy_str(root, "notify", 0, cfg->notify, sizeof(cfg->notify), err) == -1 ||
	    copy_str(root, "nft", 0, cfg->nft, sizeof(cfg->nft), err) == -1 ||
	    conf_get_group(root, "garp", 0, &garp, err) == -1)
		return -1;
	if (cfg->advert_ms < 10 || cfg->advert_ms > 60000)
		return conf_errorf(err, config_setting_get_member(root, "advert"),
		    "advert: must be 10ms..60s");
	if (garp != NULL) {
		if (conf_check_keys(garp, garp_keys, err) == -1 ||
		    conf_get_int(garp, "count", 0, 1, 100, &count, err) == -1 ||
		    conf_get_duration(garp, "spacing", 0, &cfg->garp_spacing_ms, err) == -1)
			return -1;
		if (cfg->garp_spacing_ms < 1 || cfg->garp_spacing_ms > 60000)
			return conf_errorf(err, config_setting_get_member(garp, "spacing"),
			    "spacing: must be 1ms..60s");
	}
	if (conf_get_str(root, "proxyd_user", 0, &puser, err) == -1)
		return -1;
	if (puser != NULL) {
		/* proxyd drops root before it connects: its user must be let
		 * onto the channel (hacd chowns the socket to it). */
		struct passwd *pw = getpwnam(puser);

		if (pw == NULL)
			return conf_errorf(err, config_setting_get_member(root, "proxyd_user"),
			    "proxyd_user: no user \"%s\"", puser);
		cfg->has_proxyd_uid = 1;
		cfg->proxyd_uid = pw->pw_uid;
	}
	if (parse_channel(cfg, root, err) == -1)
		return -1;
	if (cfg->notify[0] != '\0' && cfg->notify[0] != '/')
		return conf_errorf(err, config_setting_get_member(root, "notify"),
		    "notify: an absolute path");
	if (cfg->nft[0] != '\0' && cfg->nft[0] != '/')
		return conf_errorf(err, config_setting_get_member(root, "nft"),
		    "nft: an absolute path, or \"\" for none");
	if (cfg->key_file[0] != '/') {
		/* Relative to the configuration file, so a lab or a test can
		 * carry its key beside its hacd.conf. */
		char rel[HACD_PATH_MAX];
		const char *slash = strrchr(c->path, '/');
		int dirlen = slash ? (int)(slash - c->path) : 1;

		snprintf(rel, sizeof(rel), "%s", cfg->key_file);
		if (snprintf(cfg->key_file, sizeof(cfg->key_file), "%.*s/%s", dirlen,
		    slash ? c->path : ".", rel) >= (int)sizeof(cfg->key_file))
			return conf_errorf(err, config_setting_get_member(root, "key_file"),
			    "key_file: path too long");
	}
	cfg->dead_intervals = (unsigned)dead;
	cfg->skew = skew;
	cfg->legacy_peers = legacy;
	cfg->garp_count = (unsigned)count;
	if (parse_nodes(cfg, root, port, err) == -1 || parse_vips(cfg, root, err) == -1 ||
	    parse_track(cfg, root, err) == -1 || parse_multicast(cfg, root, port, err) == -1 ||
	    parse_replication(cfg, root, err) == -1 || parse_admin(cfg, root, err) == -1 ||
	    parse_quorum(cfg, root, err) == -1 ||
	    parse_bird(cfg, root, err) == -1)
		return -1;
	if (self_name != NULL) {
		int idx = hacd_config_node(cfg, self_name);

		if (idx < 0)
			return conf_errorf(err, config_setting_get_member(root, "nodes"),
			    "this node \"%s\" is not in nodes", self_name);
		cfg->self = (size_t)idx;
	}
	return 0;
}

/* Digest of the file as written: nodes compare them to report drift. */
static void digest_file(struct hacd_config *cfg, const char *path)
{
	crypto_generichash_state st;
	uint8_t chunk[4096];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd == -1)
		return;
	crypto_generichash_init(&st, NULL, 0, sizeof(cfg->digest));
	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		crypto_generichash_update(&st, chunk, (size_t)n);
	}
	close(fd);
	crypto_generichash_final(&st, cfg->digest, sizeof(cfg->digest));
}

static struct hacd_config *finish(struct conf *c, const char *path, const char *text,
    const char *self_name, struct conf_err *err)
{
	struct hacd_config *cfg = calloc(1, sizeof(*cfg));

	if (cfg == NULL) {
		snprintf(err->msg, sizeof(err->msg), "%.400s: out of memory", path);
		conf_free(c);
		return NULL;
	}
	snprintf(cfg->path, sizeof(cfg->path), "%s", path);
	if (parse(cfg, c, self_name, err) == -1) {
		conf_free(c);
		free(cfg);
		return NULL;
	}
	conf_free(c);
	if (sodium_init() == -1) {
		snprintf(err->msg, sizeof(err->msg), "%.400s: libsodium failed to initialise", path);
		free(cfg);
		return NULL;
	}
	if (text != NULL)
		crypto_generichash(cfg->digest, sizeof(cfg->digest), (const uint8_t *)text,
		    strlen(text), NULL, 0);
	else
		digest_file(cfg, path);
	return cfg;
}

struct hacd_config *hacd_config_load(const char *path, const char *self_name, struct conf_err *err)
{
	struct conf c;

	if (conf_load(&c, path, err) == -1)
		return NULL;
	return finish(&c, path, NULL, self_name, err);
}

struct hacd_config *hacd_config_load_string(const char *name, const char *text,
    const char *self_name, struct conf_err *err)
{
	struct conf c;

	if (conf_load_string(&c, name, text, err) == -1)
		return NULL;
	return finish(&c, name, text, self_name, err);
}

void hacd_config_free(struct hacd_config *cfg)
{
	free(cfg);
}

int hacd_config_node(const struct hacd_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->nnodes; i++)
		if (strcmp(cfg->nodes[i].name, name) == 0)
			return (int)i;
	return -1;
}

int hacd_config_vip(const struct hacd_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->nvips; i++) {
		const char *t = cfg->vips[i].addr.text;
		size_t n = strlen(name);

		if (strcmp(cfg->vips[i].name, name) == 0 || strcmp(t, name) == 0)
			return (int)i;
		if (strncmp(t, name, n) == 0 && t[n] == '/')
			return (int)i;
	}
	return -1;
}

int hacd_config_reloadable(const struct hacd_config *old, const struct hacd_config *new_cfg,
    struct conf_err *err)
{
	if (strcmp(old->cluster, new_cfg->cluster) != 0) {
		snprintf(err->msg, sizeof(err->msg), "%.400s: cluster name changed: restart hacd to apply",
		    new_cfg->path);
		return -1;
	}
	if (old->nnodes != new_cfg->nnodes || old->self != new_cfg->self)
		goto nodes;
	for (size_t i = 0; i < old->nnodes; i++)
		if (strcmp(old->nodes[i].name, new_cfg->nodes[i].name) != 0 ||
		    old->nodes[i].witness != new_cfg->nodes[i].witness ||
		    !net_addr_equal((const struct sockaddr *)&old->nodes[i].addr,
		    (const struct sockaddr *)&new_cfg->nodes[i].addr, 1))
			goto nodes;
	if (old->nvips != new_cfg->nvips)
		goto vips;
	for (size_t i = 0; i < old->nvips; i++)
		if (strcmp(old->vips[i].name, new_cfg->vips[i].name) != 0 ||
		    strcmp(old->vips[i].addr.text, new_cfg->vips[i].addr.text) != 0 ||
		    strcmp(old->vips[i].addr.ifname, new_cfg->vips[i].addr.ifname) != 0 ||
		    old->vips[i].bgp != new_cfg->vips[i].bgp ||
		    strcmp(old->vips[i].bird_protocol, new_cfg->vips[i].bird_protocol) != 0)
			goto vips;
	if (old->mcast.enabled != new_cfg->mcast.enabled || old->mcast.ttl != new_cfg->mcast.ttl ||
	    strcmp(old->mcast.ifname, new_cfg->mcast.ifname) != 0 ||
	    (old->mcast.enabled && !net_addr_equal((const struct sockaddr *)&old->mcast.group,
	    (const struct sockaddr *)&new_cfg->mcast.group, 1))) {
		snprintf(err->msg, sizeof(err->msg), "%.400s: multicast settings changed: restart hacd to apply",
		    new_cfg->path);
		return -1;
	}
	if (old->has_proxyd_uid != new_cfg->has_proxyd_uid || old->proxyd_uid != new_cfg->proxyd_uid ||
	    old->chan_replace != new_cfg->chan_replace || old->chan_allow_root != new_cfg->chan_allow_root) {
		snprintf(err->msg, sizeof(err->msg),
		    "%.400s: proxyd_user or channel settings changed: restart hacd to apply", new_cfg->path);
		return -1;
	}
	if (old->repl.max_rate_keys != new_cfg->repl.max_rate_keys || old->repl.max_bans != new_cfg->repl.max_bans ||
	    old->repl.max_health != new_cfg->repl.max_health || old->repl.max_admin != new_cfg->repl.max_admin ||
	    old->repl.max_tickets != new_cfg->repl.max_tickets ||
	    old->repl.rate_retention_ms != new_cfg->repl.rate_retention_ms ||
	    old->repl.max_future_ms != new_cfg->repl.max_future_ms ||
	    old->repl.max_ban_ms != new_cfg->repl.max_ban_ms || old->repl.relay != new_cfg->repl.relay) {
		snprintf(err->msg, sizeof(err->msg),
		    "%.400s: replication limits changed: restart hacd to apply", new_cfg->path);
		return -1;
	}
	if (strcmp(old->admin_listen, new_cfg->admin_listen) != 0) {
		snprintf(err->msg, sizeof(err->msg),
		    "%.400s: admin.listen changed: restart hacd to apply", new_cfg->path);
		return -1;
	}
	if (strcmp(old->bird_socket, new_cfg->bird_socket) != 0) {
		snprintf(err->msg, sizeof(err->msg),
		    "%.400s: bird.socket changed: restart hacd to apply", new_cfg->path);
		return -1;
	}
	return 0;
nodes:
	snprintf(err->msg, sizeof(err->msg), "%.400s: the node list changed: restart hacd to apply",
	    new_cfg->path);
	return -1;
vips:
	snprintf(err->msg, sizeof(err->msg),
	    "%.400s: VIP groups added, removed or readdressed: restart hacd to apply", new_cfg->path);
	return -1;
}
