/*
 * hacd/config.h — hacd.conf, parsed and validated into plain data.
 *
 * The same file runs on every node (what differs per node is keyed by node
 * name); hacd -n NAME says which node this process is. A loaded
 * configuration is immutable: a reload parses a new one and swaps it whole.
 * Every error carries the file and line (lib/conf). The format is documented
 * in docs/man/hacd.conf.5 and etc/hacd.conf.
 */
#ifndef TANDEM_HACD_CONFIG_H
#define TANDEM_HACD_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "hacd/vip.h"
#include "lib/conf.h"

/* Bounds chosen so a heartbeat with every VIP fits one sealed datagram. */
#define HACD_MAX_NODES   16
#define HACD_MAX_VIPS    16
#define HACD_MAX_CHECKS  16
#define HACD_NAME_MAX    24          /* node, VIP and check names incl. NUL */
#define HACD_PATH_MAX    1024
#define HACD_DEFAULT_PORT 7007
#define HACD_PRIO_MAX    255

/* The system user hacd.service runs hacd as (sysusers.d, scripts/add-users):
 * it owns the key file. hacd started as root accepts a key file of this
 * user's too (lib/secfile's service uid), and `hactl keygen -o` run as root
 * gives it the file. */
#define HACD_USER "tandem-hacd"

/* A check weight: a number subtracted from the priority, or one of these. */
#define HACD_WEIGHT_OFF    0
#define HACD_WEIGHT_FAULT (-1)

struct hacd_node_conf {
	char name[HACD_NAME_MAX];
	struct sockaddr_storage addr;   /* address and UDP port heartbeats come from and go to */
	socklen_t addrlen;
	uint32_t id;                    /* wire sender_id: wire_cluster_id(name), unique (checked) */
	int witness;                    /* a vote only (hacd --witness): never a VIP candidate */
};

struct hacd_vip_conf {
	char name[HACD_NAME_MAX];
	struct vip_addr addr;           /* address/prefix on its interface */
	unsigned prio[HACD_MAX_NODES];  /* by node index; 0 = never owns it */
	int preempt;
	uint64_t preempt_delay_ms;
	int bgp;                        /* mode = "bgp": every healthy node holds it and announces it (hacd/bgp.c) */
	char bird_protocol[HACD_NAME_MAX]; /* bgp: the BIRD protocol hacd enables/disables */
};

/* Default path of BIRD's control socket (Debian's bird2). */
#define HACD_BIRD_SOCKET "/run/bird/bird.ctl"


/*
 * Heartbeats to a multicast group instead of to every peer (hacd.conf
 * "multicast"). IPv4 only: the group is 224.0.0.0/4 and every node has an
 * IPv4 address. Sent from this node's own address and port (so the
 * receivers' source check still holds), once per interval, out of ifname
 * with the given TTL; received on one socket per peer bound to the group
 * and connected to that peer (hacd/peer.c says why).
 */
struct hacd_mcast_conf {
	int enabled;
	struct sockaddr_storage group;  /* group address and UDP port */
	socklen_t grouplen;
	char ifname[16];                /* IFNAMSIZ */
	unsigned ttl;                   /* 1..255, default 1 (never leaves the link) */
};

/*
 * State replication between hacd nodes (hacd.conf "replication", optional;
 * every field has a default). The limits size hacd/replica.c's store and
 * are fixed for the life of the process; the intervals may be reloaded.
 */
struct hacd_repl_conf {
	uint64_t sync_interval_ms;      /* deltas to peers, 1ms..10s (default 20ms) */
	uint64_t anti_entropy_ms;       /* full resync to every live peer, 0 off (default 30s) */
	uint64_t max_rate_keys;         /* rate-count entries, all origins (default 200000) */
	uint64_t max_bans;              /* default 100000 */
	uint64_t max_health;            /* default 4096 */
	uint64_t max_admin;             /* default 1024 */
	uint64_t max_tickets;           /* default 3 */
	uint64_t rate_retention_ms;     /* default 120s */
	uint64_t max_future_ms;         /* default 1h */
	uint64_t max_ban_ms;            /* default 7d */
	int relay;                      /* re-export entries learnt from peers (default off) */
	uint64_t ticket_rotate_ms;      /* TLS ticket keys made and shared every this, 0 off (default 1h) */
};

struct hacd_check_conf {
	char name[HACD_NAME_MAX];
	char command[HACD_PATH_MAX];    /* run with /bin/sh -c; exit 0 = healthy */
	uint64_t interval_ms;
	uint64_t timeout_ms;
	int weight;                     /* > 0, or HACD_WEIGHT_FAULT */
};

struct hacd_config {
	char path[HACD_PATH_MAX];
	char cluster[64];
	char key_file[HACD_PATH_MAX];
	uint64_t advert_ms;             /* heartbeat interval, 10ms..60s */
	unsigned dead_intervals;        /* a peer is dead after this many intervals unheard */
	int skew;                       /* add the VRRP skew (256-prio)/256 x interval */
	int legacy_peers;               /* rolling upgrade: peers that never prove freshness count unproven */
	int quorum;                     /* quorum = "majority": hold VIPs only while a majority is heard (hacd/quorum.c) */
	unsigned garp_count;            /* announcements after taking a VIP */
	uint64_t garp_spacing_ms;
	char notify[HACD_PATH_MAX];     /* "" = none */
	char nft[HACD_PATH_MAX];        /* nft(8), run to hold new connections off a VIP being handed over; "" = never */
	int proxyd_weight;              /* HACD_WEIGHT_OFF, HACD_WEIGHT_FAULT or > 0 */
	int has_proxyd_uid;             /* proxyd_user given: its uid may use the channel */
	uid_t proxyd_uid;
	int chan_replace;               /* channel.takeover = "replace": a new proxyd displaces the old */
	int chan_allow_root;            /* channel.allow_root: root may connect as proxyd */
	int track_interface;            /* link down on a VIP's interface = fault for that VIP */
	struct hacd_mcast_conf mcast;   /* enabled == 0: unicast to every peer (the default) */
	struct hacd_repl_conf repl;     /* replication settings (defaults when absent) */
	char admin_listen[64];          /* metrics listener HOST:PORT; "" = none (the default) */
	unsigned admin_max_conns;       /* open at once on it (default 16) */
	int admin_allow_remote;         /* admin.allow_remote: a non-loopback listen address is allowed */
	struct hacd_node_conf nodes[HACD_MAX_NODES];
	size_t nnodes;
	size_t self;                    /* index of this node */
	struct hacd_vip_conf vips[HACD_MAX_VIPS];
	size_t nvips;
	struct hacd_check_conf checks[HACD_MAX_CHECKS];
	size_t nchecks;
	char bird_socket[108];          /* bird.socket: BIRD's control socket, for mode "bgp" groups (relative: to the run directory) */
	uint8_t digest[16];             /* BLAKE2b of the file's bytes, for drift reports */
};

/*
 * Parse and validate the file at path for node self_name (which must be one
 * of its nodes; NULL skips that check and sets self to 0, for hacd -t
 * without -n). Rejects unknown keys, bad types and values, duplicate names
 * or addresses, sender-id collisions. Returns a new configuration owned by
 * the caller (hacd_config_free), or NULL with err set to "FILE:LINE: ...".
 */
struct hacd_config *hacd_config_load(const char *path, const char *self_name, struct conf_err *err);

/* Same, from text in memory (tests); name stands in for the file name. */
struct hacd_config *hacd_config_load_string(const char *name, const char *text,
    const char *self_name, struct conf_err *err);

void hacd_config_free(struct hacd_config *cfg);

/* Index of the node called name, -1 if none. */
int hacd_config_node(const struct hacd_config *cfg, const char *name);
/* Index of the VIP group called name, or whose address text ("10.99.0.100/24"
 * or the bare address) is name; -1 if none. */
int hacd_config_vip(const struct hacd_config *cfg, const char *name);

/*
 * Can a running daemon switch from old to new without a restart? The node
 * set (names, addresses), this node, the cluster name, the VIP groups'
 * names, addresses and interfaces, and the multicast settings must be
 * equal, and so must the replication limits (they size the store);
 * priorities, timing, checks, notify, the key file and the replication
 * intervals may change.
 * Returns 0, or -1 with a message in err.
 */
int hacd_config_reloadable(const struct hacd_config *old, const struct hacd_config *new_cfg,
    struct conf_err *err);

#endif /* TANDEM_HACD_CONFIG_H */
