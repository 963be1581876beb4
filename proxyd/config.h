/*
 * proxyd/config.h — one immutable configuration generation of proxyd.
 *
 * A generation is built whole (from etc/proxyd.conf through lib/conf, or from
 * the quick-mode command line), validated, then published by an atomic pointer
 * swap (proxyd/worker.c). It never changes afterwards; workers and requests
 * hold references, and the last unref frees it. Runtime state that must
 * survive reloads lives outside the generation, in the module that owns it:
 * a server's admin state and weight in proxyd/srvstate.h (struct
 * pd_srv_shared, found by "upstream/server" name), rate-limit tables in
 * proxyd/ratelimit.h (rl_table_acquire), the TLS ticket keyring in
 * proxyd/tls_tickets.h (tls_tickets_shared), listening sockets in
 * proxyd/listener.h.
 */
#ifndef PROXYD_CONFIG_H
#define PROXYD_CONFIG_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "lib/conf.h"
#include "lib/net.h"
#include "proxyd/h2_conf.h"
#include "proxyd/balance.h"
#include "proxyd/cache_conf-t.h"
#include "proxyd/compress-t.h"
#include "proxyd/route.h"
#include "proxyd/srvstate.h"

#define PD_MAX_WORKERS   256
#define PD_MAX_LISTENERS 32
/* Servers per upstream at most, enforced by the parser for files and quick
 * mode alike: the balancer reads a request's exclude mask (one bit per
 * server, proxyd/conn.h struct req) for every server, so the mask must
 * cover them all. */
#define PD_MAX_SERVERS   512
/* Default cap of open connections on each admin listener (admin.max_connections):
 * enough for scrapers and operators, too few for a flood to exhaust fds. */
#define PD_ADMIN_MAX_CONNS 64
/* The account proxyd runs as when started as root and "user" is unset:
 * its own, never one other services share (hacd admits its uid). */
#define PD_DEFAULT_USER "tandem-proxyd"

/* What a connection needs of its listener after accept. A connection may
 * outlive the generation it was accepted under (an idle keep-alive client
 * across a reload), so it holds a reference on this small block rather than
 * a pointer into the generation. */
struct pd_lopts {
	_Atomic int refs;
	int redirect_https;                /* plain listener: every request -> 301 https:// */
	uint16_t redirect_port;            /* port in the https:// URL; 0 = default (443) */
	uint8_t h2c;                       /* plain listener: HTTP/2 with prior knowledge too (RFC 9113 §3.3) */
	uint16_t hsts_len;
	char hsts[];                       /* "Strict-Transport-Security: ...\r\n" or "" */
};
struct pd_lopts *config_lopts_ref(struct pd_lopts *o);
void config_lopts_unref(struct pd_lopts *o);   /* NULL accepted */

struct pd_lsock;
struct tls_server;
struct tls_client;
struct sticky_conf;
struct tls_ticket_keys;

struct pd_listener {
	char *name;
	char *address;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	struct net_cidr *allow; size_t nallow;
	struct net_cidr *deny;  size_t ndeny;
	struct pd_lsock *ls;               /* set by listener_open_all (proxyd/listener.h) */
	struct tls_server *tls;            /* NULL: plain HTTP (one reference) */
	struct pd_lopts *opts;             /* NULL: nothing per connection (one reference) */
};

struct pd_server {
	char *name;
	char *address;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	uint32_t weight;
	uint32_t max_conns;                /* 0 = unlimited */
	struct pd_srv_shared *shared;
};

enum pd_hash_key { PD_HASH_CLIENT_IP = 0, PD_HASH_HOST, PD_HASH_URI };

enum pd_check_type { PD_CHECK_NONE = 0, PD_CHECK_TCP, PD_CHECK_HTTP };

/* Active health check of every server of an upstream (proxyd/hcheck.c). */
struct pd_check {
	enum pd_check_type type;
	char *method, *path, *host;        /* http; host NULL = the server's address */
	char *expect_body;                 /* http; NULL = any body */
	uint16_t status_lo, status_hi;     /* http: expected status range */
	uint64_t interval_ms, timeout_ms;
	uint32_t rise, fall;
};

struct pd_upstream {
	char *name;
	enum balance_algo algo;
	enum pd_hash_key hash_key;
	struct pd_server *servers; size_t nservers;
	uint32_t retries;                  /* extra attempts on another server */
	uint32_t keepalive;                /* idle pooled connections per server per worker */
	uint64_t connect_ms, response_ms, idle_ms, pool_idle_ms;
	struct pd_check check;
	uint32_t eject_after;              /* consecutive passive failures that eject; 0 = off */
	uint64_t eject_base_ms, eject_max_ms;
	uint64_t slow_start_ms;            /* 0 = off */
	uint32_t panic_pct;                /* min healthy percent (Envoy's panic threshold); 0 = off */
	struct tls_client *tls;            /* TLS to the servers; NULL: plain HTTP */
	struct sticky_conf *sticky;        /* cookie stickiness (proxyd/sticky.h); NULL: off */
};

/* Rate limit key kinds (proxyd/ratelimit.h enum rl_key_kind values). */
struct rl_table;
struct pd_rlimit {
	char *name;
	int key;                           /* RL_KEY_IP, RL_KEY_HEADER or RL_KEY_ROUTE */
	char *header;                      /* lowercase, for RL_KEY_HEADER */
	size_t header_len;
	int v4_prefix, v6_prefix;
	int cluster;                       /* scope = "cluster" (replicated by hacd) */
	int partition_share;               /* partition = "share": enforce alive/nodes of the limit */
	struct rl_table *t;                /* shared by generations with the same limit */
};

enum pd_log_format { PD_LOG_COMBINED = 0, PD_LOG_JSON };
enum pd_server_hdr { PD_SERVER_HIDE = 0, PD_SERVER_PASS, PD_SERVER_REPLACE };

struct pd_timeouts {
	uint64_t client_header, client_body, client_idle, tunnel_idle, shutdown;
	uint64_t linger;        /* lingering close after the last response; 0: close at once */
	uint64_t connect, response, idle, pool_idle;   /* upstream defaults */
	uint64_t tcp_keepalive; /* first TCP keepalive probe after this long idle; 0: none */
};

/* The TCP keepalive proxyd sets on a client or backend socket from
 * to.tcp_keepalive: probes idle/6 apart (at least 1 s), dropped after 3 unanswered. */
void config_set_keepalive(const struct pd_timeouts *to, int fd);

struct pd_config {
	_Atomic long refs;
	uint64_t generation;
	char *path;                        /* NULL in quick mode */
	int threads;                       /* 0 = one per core */
	char *user;                        /* NULL = default */
	char *node;
	struct pd_timeouts to;
	uint32_t max_connections;          /* per worker; 0 = unlimited */
	uint32_t max_connections_total;    /* whole process; 0 = unlimited */
	uint32_t max_connections_per_ip;   /* whole process, per client address; 0 = unlimited */
	int per_ip_v4_prefix;              /* max_connections_per_ip counts IPv4 clients per this prefix (32) */
	int per_ip_v6_prefix;              /* ... and IPv6 clients per this prefix (64: one host's subnet) */
	uint64_t max_body;                 /* request body bytes; 0 = unlimited (routes may override) */
	uint64_t min_body_rate;            /* request body bytes/s over min_body_window; 0 = off */
	uint64_t min_body_window_ms;
	uint32_t max_header_bytes, max_request_line, max_headers;
	int log_level;                     /* enum log_level */
	char *access_log;                  /* path, "stderr" or "off" */
	enum pd_log_format log_format;
	char *admin_listen;                /* NULL = none */
	char *admin_socket;                /* NULL = <rundir>/proxyd.sock */
	uint32_t admin_max_conns;          /* open admin connections per admin listener (PD_ADMIN_MAX_CONNS) */
	char *hacd_channel;                /* NULL = <rundir>/hacd.chan */
	int hdr_xff, hdr_xfp, hdr_real_ip, hdr_forwarded, hdr_via, hdr_request_id;
	enum pd_server_hdr server_hdr;
	char *server_value;
	uint64_t tls_rotate_ms;            /* standalone ticket key rotation period */
	uint64_t tls_lifetime_ms;          /* how long a key keeps decrypting tickets */
	int has_tls;                       /* some listener terminates TLS */
	struct pd_h2 h2;                   /* the HTTP/2 front's limits (proxyd/h2_conf.h) */
	struct pd_listener *listeners; size_t nlisteners;
	struct pd_upstream *upstreams; size_t nupstreams;
	struct route *routes; size_t nroutes;
	struct pd_rlimit *rlimits; size_t nrlimits;
	struct pd_cache *caches; size_t ncaches;   /* "caches" (proxyd/cache_conf.h) */
	struct compress_global_conf compress;   /* the "compression" block: pool bound, route defaults */
	uint16_t *route_series;            /* metrics series per route x split: see metrics.c */
	size_t *route_series_off;
	void **wslots;                     /* per-worker runtime (worker.c), nworkers entries */
	int nworkers;
	void (*wslot_free)(struct pd_config *, void *);
	/* Drops a listener's reference on its sockets: set by whoever opened
	 * them (listener_open_all), called when the generation is freed. */
	void (*lsock_release)(struct pd_lsock *);
};

/* Load and validate FILE into a new generation (refcount 1). Returns it, or NULL
 * with "file:line: message" in err. Does not open sockets (proxyd/listener.h). */
struct pd_config *config_load(const char *path, struct conf_err *err);
/* Same from text (name is used in messages); for tests. */
struct pd_config *config_load_string(const char *name, const char *text, struct conf_err *err);
/* Quick mode: listen on `listen`, round robin over the comma-separated
 * HOST:PORT list `to`. NULL with a message in err on a bad address. */
struct pd_config *config_quick(const char *listen, const char *to, int threads, struct conf_err *err);
/* Quick mode with TLS: `listen` (may be NULL) stays plain HTTP, `tls_listen`
 * (may be NULL, not both) terminates TLS with the PEM certificate chain
 * cert_file and its key key_file (checked as for a configuration file).
 * compress: response compression on the default route with the defaults
 * of docs/compression.md (--compress). NULL with a message in err. */
struct pd_config *config_quick_tls(const char *listen, const char *tls_listen, const char *cert_file,
    const char *key_file, const char *to, int threads, int compress, struct conf_err *err);
/* config_quick_tls() with --cache SIZE (cache_size NULL: none): a cache
 * named "quick" of that size on the default route (docs/cache.md). */
struct pd_config *config_quick_cache(const char *listen, const char *tls_listen, const char *cert_file,
    const char *key_file, const char *to, int threads, int compress, const char *cache_size, struct conf_err *err);

void config_ref(struct pd_config *c);
/* Drops a reference; the last one frees the generation and closes the sockets
 * of listeners no other generation shares. NULL is a no-op. */
void config_unref(struct pd_config *c);

/* Index of the upstream named name, or -1. */
int config_upstream_index(const struct pd_config *c, const char *name);

#endif
