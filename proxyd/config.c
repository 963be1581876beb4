/*
 * proxyd/config.c — building one configuration generation of proxyd.
 *
 * The control thread (or main, at startup and for `proxyd -t`) turns
 * etc/proxyd.conf into a struct pd_config: every group is checked for unknown
 * keys, every value for type and range, every name reference resolved, and
 * every mistake reported as "file:line: message" through lib/conf. Nothing
 * here runs on a worker thread except config_unref(), whose last call frees a
 * generation. The result is immutable, so workers read it without locks.
 *
 * Quick mode (config_quick) writes the command line into the libconfig tree a
 * file would give and parses that, so the engine knows a single kind of
 * configuration and every check applies to both.
 */
#include "proxyd/config.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/ev.h"
#include "lib/log.h"
#include "lib/net.h"
#include "lib/secfile.h"
#include "proxyd/cache_conf.h"
#include "proxyd/compress_conf.h"
#include "proxyd/h2_conf.h"
#include "proxyd/http_parse.h"
#include "proxyd/ratelimit.h"
#include "proxyd/sticky.h"
#include "proxyd/tls.h"

static _Atomic uint64_t generation_seq;

/* ---- per-listener connection options ---------------------------------- */

struct pd_lopts *
config_lopts_ref(struct pd_lopts *o)
{
	if (o != NULL)
		atomic_fetch_add_explicit(&o->refs, 1, memory_order_relaxed);
	return o;
}

void
config_lopts_unref(struct pd_lopts *o)
{
	if (o != NULL && atomic_fetch_sub_explicit(&o->refs, 1, memory_order_acq_rel) == 1)
		free(o);
}

/* ---- small helpers ----------------------------------------------------- */

static int valid_token(const char *s);
static int valid_field_value(const char *s);

static char *
xstrdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

static int
oom(struct conf_err *err)
{
	snprintf(err->msg, sizeof(err->msg), "out of memory");
	return -1;
}

static void
defaults(struct pd_config *c)
{
	atomic_store(&c->refs, 1);
	c->generation = atomic_fetch_add(&generation_seq, 1) + 1;
	c->to.client_header = 10000;
	c->to.client_body = 60000;
	c->to.client_idle = 60000;
	c->to.tunnel_idle = 3600000;
	c->to.tcp_keepalive = 60000;
	c->to.shutdown = 15000;
	c->to.linger = 2000;
	c->to.connect = 3000;
	c->to.response = 30000;
	c->to.idle = 60000;
	c->to.pool_idle = 20000;
	c->max_header_bytes = 32768;
	c->max_request_line = 8192;
	c->max_headers = 100;
	c->per_ip_v4_prefix = 32;
	c->admin_max_conns = PD_ADMIN_MAX_CONNS;
	c->per_ip_v6_prefix = 64;
	c->min_body_window_ms = 5000;
	c->log_level = LOG_LVL_INFO;
	c->access_log = strdup("stderr");
	c->node = NULL;
	c->hdr_xff = c->hdr_xfp = c->hdr_real_ip = c->hdr_request_id = 1;
	c->server_hdr = PD_SERVER_HIDE;
	c->tls_rotate_ms = 3600000;
	c->tls_lifetime_ms = 3 * 3600000;
	compress_conf_global_defaults(&c->compress);
	h2_conf_defaults(&c->h2);
}

static void
free_upstream(struct pd_upstream *u)
{
	for (size_t i = 0; i < u->nservers; i++) {
		free(u->servers[i].name);
		free(u->servers[i].address);
	}
	free(u->servers);
	free(u->name);
	free(u->check.method);
	free(u->check.path);
	free(u->check.host);
	free(u->check.expect_body);
	tls_client_free(u->tls);
	sticky_conf_free(u->sticky);
}

static void
config_free(struct pd_config *c)
{
	if (c->wslots != NULL) {
		for (int i = 0; i < c->nworkers; i++)
			if (c->wslots[i] != NULL && c->wslot_free != NULL)
				c->wslot_free(c, c->wslots[i]);
		free(c->wslots);
	}
	for (size_t i = 0; i < c->nlisteners; i++) {
		free(c->listeners[i].name);
		free(c->listeners[i].address);
		free(c->listeners[i].allow);
		free(c->listeners[i].deny);
		if (c->lsock_release != NULL && c->listeners[i].ls != NULL)
			c->lsock_release(c->listeners[i].ls);
		tls_server_unref(c->listeners[i].tls);
		config_lopts_unref(c->listeners[i].opts);
	}
	free(c->listeners);
	for (size_t i = 0; i < c->nupstreams; i++)
		free_upstream(&c->upstreams[i]);
	free(c->upstreams);
	for (size_t i = 0; i < c->nroutes; i++) {
		compress_route_conf_fini(&c->routes[i].compress);
		route_fini(&c->routes[i]);
	}
	free(c->routes);
	compress_global_conf_fini(&c->compress);
	for (size_t i = 0; i < c->nrlimits; i++) {
		free(c->rlimits[i].name);
		free(c->rlimits[i].header);
		rl_table_release(c->rlimits[i].t);
	}
	free(c->rlimits);
	cache_conf_free(c->caches, c->ncaches);
	free(c->route_series);
	free(c->route_series_off);
	free(c->path);
	free(c->user);
	free(c->node);
	free(c->access_log);
	free(c->admin_listen);
	free(c->admin_socket);
	free(c->hacd_channel);
	free(c->server_value);
	free(c);
}

void
config_ref(struct pd_config *c)
{
	atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
}

void
config_unref(struct pd_config *c)
{
	if (c != NULL && atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1)
		config_free(c);
}

int
config_upstream_index(const struct pd_config *c, const char *name)
{
	for (size_t i = 0; i < c->nupstreams; i++)
		if (strcmp(c->upstreams[i].name, name) == 0)
			return (int)i;
	return -1;
}

/* ---- parsing ------------------------------------------------------------ */

static int
get_strdup(const config_setting_t *g, const char *name, char **out, struct conf_err *err)
{
	const char *s = NULL;

	if (conf_get_str(g, name, 0, &s, err) == -1)
		return -1;
	if (s != NULL) {
		free(*out);
		if ((*out = strdup(s)) == NULL)
			return oom(err);
	}
	return 0;
}

/* A string or an array/list of strings, as a NULL-free vector. */
static int
get_strv(const config_setting_t *g, const char *name, char ***out, size_t *n, struct conf_err *err)
{
	const config_setting_t *s = config_setting_get_member(g, name);
	int cnt;

	if (s == NULL)
		return 0;
	if (config_setting_type(s) == CONFIG_TYPE_STRING) {
		if ((*out = calloc(1, sizeof(char *))) == NULL || ((*out)[0] = strdup(config_setting_get_string(s))) == NULL)
			return oom(err);
		*n = 1;
		return 0;
	}
	if (!config_setting_is_aggregate(s) || config_setting_is_group(s))
		return conf_errorf(err, s, "%s: expected a string or a list of strings", name);
	cnt = config_setting_length(s);
	if (cnt == 0)
		return conf_errorf(err, s, "%s: empty list", name);
	if ((*out = calloc((size_t)cnt, sizeof(char *))) == NULL)
		return oom(err);
	for (int i = 0; i < cnt; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		if (config_setting_type(e) != CONFIG_TYPE_STRING)
			return conf_errorf(err, e, "%s: expected a string", name);
		if (((*out)[i] = strdup(config_setting_get_string(e))) == NULL)
			return oom(err);
		*n = (size_t)i + 1;
	}
	return 0;
}

static int
parse_timeouts(struct pd_config *c, const config_setting_t *root, struct conf_err *err)
{
	static const char *const keys[] = { "client_header", "client_body", "client_idle", "tunnel_idle",
		"shutdown", "linger", "connect", "response", "idle", "pool_idle", "tcp_keepalive", NULL };
	const config_setting_t *g = NULL;

	if (conf_get_group(root, "timeouts", 0, &g, err) == -1)
		return -1;
	if (g == NULL)
		return 0;
	if (conf_check_keys(g, keys, err) == -1 ||
	    conf_get_duration(g, "client_header", 0, &c->to.client_header, err) == -1 ||
	    conf_get_duration(g, "client_body", 0, &c->to.client_body, err) == -1 ||
	    conf_get_duration(g, "client_idle", 0, &c->to.client_idle, err) == -1 ||
	    conf_get_duration(g, "tunnel_idle", 0, &c->to.tunnel_idle, err) == -1 ||
	    conf_get_duration(g, "shutdown", 0, &c->to.shutdown, err) == -1 ||
	    conf_get_duration(g, "linger", 0, &c->to.linger, err) == -1 ||
	    conf_get_duration(g, "connect", 0, &c->to.connect, err) == -1 ||
	    conf_get_duration(g, "response", 0, &c->to.response, err) == -1 ||
	    conf_get_duration(g, "idle", 0, &c->to.idle, err) == -1 ||
	    conf_get_duration(g, "pool_idle", 0, &c->to.pool_idle, err) == -1 ||
	    conf_get_duration(g, "tcp_keepalive", 0, &c->to.tcp_keepalive, err) == -1)
		return -1;
	if (c->to.tcp_keepalive != 0 && (c->to.tcp_keepalive < 1000 || c->to.tcp_keepalive > 32767000))
		return conf_errorf(err, config_setting_get_member(g, "tcp_keepalive"),
		    "tcp_keepalive: 0 (off) or 1s..32767s");
	return 0;
}

/* A peer that vanished without a FIN or RST (a client whose VIP moved to
 * another node: its segments, its RST included, now reach that node) would
 * otherwise hold a connection, and a tunnel's backend connection, until an
 * idle timeout that for tunnels is an hour. */
void config_set_keepalive(const struct pd_timeouts *to, int fd)
{
	unsigned idle = (unsigned)(to->tcp_keepalive / 1000), intvl = idle / 6;

	(void)net_set_keepalive(fd, idle, intvl > 0 ? intvl : 1, 3);
}

static int
parse_limits(struct pd_config *c, const config_setting_t *root, struct conf_err *err)
{
	static const char *const keys[] = { "max_connections", "max_connections_total", "max_connections_per_ip",
		"per_ip_ipv4_prefix", "per_ip_ipv6_prefix", "header_size", "request_line", "max_headers", "max_body", "min_body_rate", "min_body_window", NULL };
	const config_setting_t *g = NULL;
	int64_t v;
	uint64_t sz;

	if (conf_get_group(root, "limits", 0, &g, err) == -1)
		return -1;
	if (g == NULL)
		return 0;
	if (conf_check_keys(g, keys, err) == -1)
		return -1;
	v = c->max_connections;
	if (conf_get_int(g, "max_connections", 0, 0, 10000000, &v, err) == -1)
		return -1;
	c->max_connections = (uint32_t)v;
	v = c->max_connections_total;
	if (conf_get_int(g, "max_connections_total", 0, 0, 100000000, &v, err) == -1)
		return -1;
	c->max_connections_total = (uint32_t)v;
	v = c->max_connections_per_ip;
	if (conf_get_int(g, "max_connections_per_ip", 0, 0, 10000000, &v, err) == -1)
		return -1;
	c->max_connections_per_ip = (uint32_t)v;
	/* An IPv6 host usually holds a whole /64 (RFC 4291 §2.5.1): counted
	 * per address, one host would have 2^64 allowances. */
	v = c->per_ip_v4_prefix;
	if (conf_get_int(g, "per_ip_ipv4_prefix", 0, 8, 32, &v, err) == -1)
		return -1;
	c->per_ip_v4_prefix = (int)v;
	v = c->per_ip_v6_prefix;
	if (conf_get_int(g, "per_ip_ipv6_prefix", 0, 16, 128, &v, err) == -1)
		return -1;
	c->per_ip_v6_prefix = (int)v;
	if (conf_get_size(g, "max_body", 0, &c->max_body, err) == -1 ||
	    conf_get_size(g, "min_body_rate", 0, &c->min_body_rate, err) == -1 ||
	    conf_get_duration(g, "min_body_window", 0, &c->min_body_window_ms, err) == -1)
		return -1;
	if (c->min_body_window_ms < 100)
		return conf_errorf(err, config_setting_get_member(g, "min_body_window"), "min_body_window: at least 100ms");
	v = c->max_headers;
	if (conf_get_int(g, "max_headers", 0, 1, 128, &v, err) == -1)
		return -1;
	c->max_headers = (uint32_t)v;
	sz = c->max_header_bytes;
	if (conf_get_size(g, "header_size", 0, &sz, err) == -1)
		return -1;
	if (sz < 1024 || sz > 1048576)
		return conf_errorf(err, config_setting_get_member(g, "header_size"), "header_size: must be within 1k..1m");
	c->max_header_bytes = (uint32_t)sz;
	sz = c->max_request_line;
	if (conf_get_size(g, "request_line", 0, &sz, err) == -1)
		return -1;
	if (sz < 256 || sz > 65536)
		return conf_errorf(err, config_setting_get_member(g, "request_line"), "request_line: must be within 256..64k");
	c->max_request_line = (uint32_t)sz;
	return 0;
}

static int
parse_log(struct pd_config *c, const config_setting_t *root, struct conf_err *err)
{
	static const char *const keys[] = { "level", "access", "format", NULL };
	const config_setting_t *g = NULL;
	const char *s = NULL;

	if (conf_get_group(root, "log", 0, &g, err) == -1)
		return -1;
	if (g == NULL)
		return 0;
	if (conf_check_keys(g, keys, err) == -1)
		return -1;
	if (conf_get_str(g, "level", 0, &s, err) == -1)
		return -1;
	if (s != NULL) {
		enum log_level lv;
		if (log_level_parse(s, &lv) == -1)
			return conf_errorf(err, config_setting_get_member(g, "level"),
			    "level: \"%s\" is not one of err, warn, info, debug", s);
		c->log_level = (int)lv;
	}
	if (get_strdup(g, "access", &c->access_log, err) == -1)
		return -1;
	s = NULL;
	if (conf_get_str(g, "format", 0, &s, err) == -1)
		return -1;
	if (s != NULL) {
		if (strcmp(s, "combined") == 0)
			c->log_format = PD_LOG_COMBINED;
		else if (strcmp(s, "json") == 0)
			c->log_format = PD_LOG_JSON;
		else
			return conf_errorf(err, config_setting_get_member(g, "format"),
			    "format: \"%s\" is not one of combined, json", s);
	}
	return 0;
}

static int
parse_admin_hacd(struct pd_config *c, const config_setting_t *root, struct conf_err *err)
{
	static const char *const akeys[] = { "listen", "socket", "max_connections", NULL };
	static const char *const hkeys[] = { "channel", NULL };
	const config_setting_t *g = NULL;
	int64_t v;

	if (conf_get_group(root, "admin", 0, &g, err) == -1)
		return -1;
	if (g != NULL) {
		struct sockaddr_storage ss;
		socklen_t len;
		if (conf_check_keys(g, akeys, err) == -1 ||
		    get_strdup(g, "listen", &c->admin_listen, err) == -1 ||
		    get_strdup(g, "socket", &c->admin_socket, err) == -1)
			return -1;
		if (c->admin_listen != NULL && net_parse_addr(c->admin_listen, -1, &ss, &len) == -1)
			return conf_errorf(err, config_setting_get_member(g, "listen"),
			    "listen: bad address \"%s\" (want HOST:PORT, numeric)", c->admin_listen);
		v = c->admin_max_conns;
		if (conf_get_int(g, "max_connections", 0, 1, 100000, &v, err) == -1)
			return -1;
		c->admin_max_conns = (uint32_t)v;
	}
	g = NULL;
	if (conf_get_group(root, "hacd", 0, &g, err) == -1)
		return -1;
	if (g != NULL && (conf_check_keys(g, hkeys, err) == -1 ||
	    get_strdup(g, "channel", &c->hacd_channel, err) == -1))
		return -1;
	return 0;
}

static int
parse_headers(struct pd_config *c, const config_setting_t *root, struct conf_err *err)
{
	static const char *const keys[] = { "x_forwarded_for", "x_forwarded_proto", "x_real_ip",
		"forwarded", "via", "request_id", "server", NULL };
	const config_setting_t *g = NULL;
	const char *s = NULL;

	if (conf_get_group(root, "headers", 0, &g, err) == -1)
		return -1;
	if (g == NULL)
		return 0;
	if (conf_check_keys(g, keys, err) == -1 ||
	    conf_get_bool(g, "x_forwarded_for", 0, &c->hdr_xff, err) == -1 ||
	    conf_get_bool(g, "x_forwarded_proto", 0, &c->hdr_xfp, err) == -1 ||
	    conf_get_bool(g, "x_real_ip", 0, &c->hdr_real_ip, err) == -1 ||
	    conf_get_bool(g, "forwarded", 0, &c->hdr_forwarded, err) == -1 ||
	    conf_get_bool(g, "via", 0, &c->hdr_via, err) == -1 ||
	    conf_get_bool(g, "request_id", 0, &c->hdr_request_id, err) == -1 ||
	    conf_get_str(g, "server", 0, &s, err) == -1)
		return -1;
	if (s != NULL) {
		if (strcmp(s, "hide") == 0 || *s == '\0') {
			c->server_hdr = PD_SERVER_HIDE;
		} else if (strcmp(s, "pass") == 0) {
			c->server_hdr = PD_SERVER_PASS;
		} else {
			for (const char *p = s; *p; p++)
				if ((unsigned char)*p < 0x20 || *p == 0x7f)
					return conf_errorf(err, config_setting_get_member(g, "server"),
					    "server: control character in value");
			c->server_hdr = PD_SERVER_REPLACE;
			if ((c->server_value = strdup(s)) == NULL)
				return oom(err);
		}
	}
	return 0;
}

static int
parse_cidrs(const config_setting_t *g, const char *name, struct net_cidr **out, size_t *n, struct conf_err *err)
{
	char **v = NULL;
	size_t cnt = 0;
	int rc = 0;

	if (get_strv(g, name, &v, &cnt, err) == -1)
		rc = -1;
	if (rc == 0 && cnt > 0 && (*out = calloc(cnt, sizeof(**out))) == NULL)
		rc = oom(err);
	for (size_t i = 0; rc == 0 && i < cnt; i++) {
		if (net_cidr_parse(v[i], &(*out)[i]) == -1)
			rc = conf_errorf(err, config_setting_get_member(g, name), "%s: bad address prefix \"%s\"", name, v[i]);
		*n = i + 1;
	}
	for (size_t i = 0; i < cnt; i++)
		free(v[i]);
	free(v);
	return rc;
}

static struct pd_lopts *
lopts_new(int redirect_https, uint16_t redirect_port, const char *hsts)
{
	char line[512];
	size_t n = 0;
	struct pd_lopts *o;

	line[0] = '\0';
	if (hsts != NULL)
		n = (size_t)snprintf(line, sizeof(line), "Strict-Transport-Security: %s\r\n", hsts);
	if (n >= sizeof(line) || (o = calloc(1, sizeof(*o) + n + 1)) == NULL)
		return NULL;
	atomic_store(&o->refs, 1);
	o->redirect_https = redirect_https;
	o->redirect_port = redirect_port;
	o->hsts_len = (uint16_t)n;
	memcpy(o->hsts, line, n + 1);
	return o;
}

/* A listener's `tls = { ... }` group, redirect_https and its port. The TLS
 * setup is built here (certificates read and checked), so a bad certificate
 * fails `proxyd -t` and a reload with file:line, and the generation owns
 * its own tls_server: a reload with new files builds a new one while
 * connections of the old one keep theirs. */
/* Whether the comma-separated ALPN list names h2. */
static int
alpn_names_h2(const char *list)
{
	for (const char *p = list; p != NULL; p = strchr(p, ',')) {
		if (*p == ',')
			p++;
		if (strncmp(p, "h2", 2) == 0 && (p[2] == ',' || p[2] == '\0'))
			return 1;
	}
	return 0;
}

static int
parse_listener_tls(struct pd_config *c, struct pd_listener *L, const config_setting_t *g, struct conf_err *err)
{
	static const char *const keys[] = { "certificates", "client_ca", "client_cert", "alpn",
		"session_timeout", "hsts", "http2", NULL };
	static const char *const ckeys[] = { "cert", "key", "ocsp", NULL };
	const config_setting_t *t = config_setting_get_member(g, "tls"), *cl = NULL;
	struct tls_cert_conf certs[16];
	struct tls_listener_conf lc;
	const char *client_ca = NULL, *client_cert = NULL, *alpn = NULL, *hsts = NULL;
	uint64_t sess_ms = 0;
	int64_t rport = 0;
	int redirect = 0, ncerts, http2 = 1;    /* HTTP/2 wherever TLS is, unless http2 = false */
	int h2c = 0;
	char msg[400];

	if (conf_get_bool(g, "redirect_https", 0, &redirect, err) == -1 ||
	    conf_get_int(g, "redirect_https_port", 0, 1, 65535, &rport, err) == -1 ||
	    conf_get_bool(g, "http2_prior_knowledge", 0, &h2c, err) == -1)
		return -1;
	if (h2c && (t != NULL || redirect))
		return conf_errorf(err, config_setting_get_member(g, "http2_prior_knowledge"),
		    "http2_prior_knowledge: only for a plain HTTP listener without redirect_https (TLS listeners use ALPN)");
	if (t == NULL) {
		if ((redirect || h2c) && (L->opts = lopts_new(redirect, (uint16_t)rport, NULL)) == NULL)
			return oom(err);
		if (h2c)
			L->opts->h2c = 1;
		return 0;
	}
	if (redirect)
		return conf_errorf(err, config_setting_get_member(g, "redirect_https"),
		    "redirect_https: only for a plain HTTP listener (this one has tls)");
	if (!config_setting_is_group(t))
		return conf_errorf(err, t, "tls: must be a group { certificates = ( ... ); ... }");
	if (conf_check_keys(t, keys, err) == -1 || conf_get_list(t, "certificates", 1, &cl, err) == -1 ||
	    conf_get_str(t, "client_ca", 0, &client_ca, err) == -1 ||
	    conf_get_str(t, "client_cert", 0, &client_cert, err) == -1 ||
	    conf_get_str(t, "alpn", 0, &alpn, err) == -1 ||
	    conf_get_duration(t, "session_timeout", 0, &sess_ms, err) == -1 ||
	    conf_get_str(t, "hsts", 0, &hsts, err) == -1 ||
	    conf_get_bool(t, "http2", 0, &http2, err) == -1)
		return -1;
	ncerts = config_setting_length(cl);
	if (ncerts < 1 || (size_t)ncerts > sizeof(certs) / sizeof(certs[0]))
		return conf_errorf(err, cl, "certificates: between 1 and %zu entries", sizeof(certs) / sizeof(certs[0]));
	for (int i = 0; i < ncerts; i++) {
		const config_setting_t *e = config_setting_get_elem(cl, (unsigned)i);
		if (!config_setting_is_group(e))
			return conf_errorf(err, e, "certificates: each element must be a group { cert; key; }");
		memset(&certs[i], 0, sizeof(certs[i]));
		if (conf_check_keys(e, ckeys, err) == -1 ||
		    conf_get_str(e, "cert", 1, &certs[i].cert_file, err) == -1 ||
		    conf_get_str(e, "key", 1, &certs[i].key_file, err) == -1 ||
		    conf_get_str(e, "ocsp", 0, &certs[i].ocsp_file, err) == -1)
			return -1;
	}
	memset(&lc, 0, sizeof(lc));
	lc.identity = L->name;
	lc.certs = certs;
	lc.ncerts = (size_t)ncerts;
	lc.alpn = alpn;
	lc.http2 = http2;
	if (sess_ms / 1000 > 7 * 86400u)
		return conf_errorf(err, config_setting_get_member(t, "session_timeout"),
		    "session_timeout: at most 7d (RFC 8446 §4.6.1)");
	lc.session_timeout_s = (unsigned)(sess_ms / 1000);
	/* client_cert: "none" (default without client_ca), "optional" or
	 * "required" (default with client_ca). */
	if (client_cert == NULL)
		client_cert = client_ca != NULL ? "required" : "none";
	if (strcmp(client_cert, "none") == 0) {
		client_ca = NULL;
	} else if (strcmp(client_cert, "optional") == 0 || strcmp(client_cert, "required") == 0) {
		if (client_ca == NULL)
			return conf_errorf(err, config_setting_get_member(t, "client_cert"),
			    "client_cert: \"%s\" needs client_ca", client_cert);
		lc.client_ca_file = client_ca;
		lc.require_client_cert = client_cert[0] == 'r';
	} else {
		return conf_errorf(err, config_setting_get_member(t, "client_cert"),
		    "client_cert: want \"none\", \"optional\" or \"required\"");
	}
	if (hsts != NULL && (!valid_field_value(hsts) || *hsts == '\0' || strlen(hsts) > 400))
		return conf_errorf(err, config_setting_get_member(t, "hsts"),
		    "hsts: want a Strict-Transport-Security value such as \"max-age=31536000\"");
	if (tls_tickets_shared() == NULL)
		return oom(err);
	msg[0] = '\0';
	if ((L->tls = tls_server_new(&lc, tls_tickets_shared(), msg, sizeof(msg))) == NULL)
		return conf_errorf(err, t, "listener \"%s\": tls: %s", L->name, msg[0] ? msg : "cannot build the TLS setup");
	/* h2 is offered only where the HTTP/2 front is on: a client that
	 * negotiated it must get HTTP/2 (RFC 7301 §3.2). */
	if (alpn != NULL && !http2 && alpn_names_h2(alpn))
		return conf_errorf(err, config_setting_get_member(t, "alpn"), "alpn: \"h2\" needs http2 = true");
	if (hsts != NULL && (L->opts = lopts_new(0, 0, hsts)) == NULL)
		return oom(err);
	c->has_tls = 1;
	return 0;
}

/* Top-level `tls_tickets = { rotate; lifetime; }`: a standalone proxyd
 * rotates its own ticket keys (proxyd/main.c); hacd-distributed keys
 * replace that in a cluster. */
static int
parse_tls_tickets(struct pd_config *c, const config_setting_t *root, struct conf_err *err)
{
	static const char *const keys[] = { "rotate", "lifetime", NULL };
	const config_setting_t *t = config_setting_get_member(root, "tls_tickets");

	if (t == NULL)
		return 0;
	if (!config_setting_is_group(t))
		return conf_errorf(err, t, "tls_tickets: must be a group { rotate = \"1h\"; lifetime = \"3h\"; }");
	if (conf_check_keys(t, keys, err) == -1 || conf_get_duration(t, "rotate", 0, &c->tls_rotate_ms, err) == -1 ||
	    conf_get_duration(t, "lifetime", 0, &c->tls_lifetime_ms, err) == -1)
		return -1;
	if (c->tls_rotate_ms < 1000)
		return conf_errorf(err, t, "tls_tickets: rotate must be at least 1s");
	/* The previous key must still decrypt after a rotation, or clients
	 * holding a ticket minted just before it lose resumption. */
	if (c->tls_lifetime_ms <= c->tls_rotate_ms)
		return conf_errorf(err, t, "tls_tickets: lifetime must be longer than rotate");
	return 0;
}

static int
parse_listeners(struct pd_config *c, const config_setting_t *root, struct conf_err *err)
{
	static const char *const keys[] = { "name", "listen", "allow", "deny", "tls", "redirect_https",
		"redirect_https_port", "http2_prior_knowledge", NULL };
	const config_setting_t *l = NULL;
	int n;

	if (conf_get_list(root, "listeners", 1, &l, err) == -1)
		return -1;
	n = config_setting_length(l);
	if (n == 0)
		return conf_errorf(err, l, "listeners: at least one listener is needed");
	if (n > PD_MAX_LISTENERS)
		return conf_errorf(err, l, "listeners: at most %d", PD_MAX_LISTENERS);
	if ((c->listeners = calloc((size_t)n, sizeof(*c->listeners))) == NULL)
		return oom(err);
	for (int i = 0; i < n; i++) {
		const config_setting_t *g = config_setting_get_elem(l, (unsigned)i);
		struct pd_listener *L = &c->listeners[i];
		const char *name = NULL, *addr = NULL;

		c->nlisteners = (size_t)i + 1;
		if (!config_setting_is_group(g))
			return conf_errorf(err, g, "listeners: each element must be a group { ... }");
		if (conf_check_keys(g, keys, err) == -1 ||
		    conf_get_str(g, "listen", 1, &addr, err) == -1 ||
		    conf_get_str(g, "name", 0, &name, err) == -1)
			return -1;
		if (net_parse_addr(addr, 80, &L->addr, &L->addrlen) == -1)
			return conf_errorf(err, config_setting_get_member(g, "listen"),
			    "listen: bad address \"%s\" (want HOST:PORT, numeric)", addr);
		for (int j = 0; j < i; j++) {
			if (name != NULL && strcmp(c->listeners[j].name, name) == 0)
				return conf_errorf(err, config_setting_get_member(g, "name"), "listener \"%s\" defined twice", name);
			if (net_addr_equal((struct sockaddr *)&c->listeners[j].addr, (struct sockaddr *)&L->addr, 1))
				return conf_errorf(err, config_setting_get_member(g, "listen"),
				    "listen: address \"%s\" used by listener \"%s\" too", addr, c->listeners[j].name);
		}
		L->name = name ? strdup(name) : strdup(addr);
		L->address = strdup(addr);
		if (L->name == NULL || L->address == NULL)
			return oom(err);
		if (parse_cidrs(g, "allow", &L->allow, &L->nallow, err) == -1 ||
		    parse_cidrs(g, "deny", &L->deny, &L->ndeny, err) == -1 ||
		    parse_listener_tls(c, L, g, err) == -1)
			return -1;
	}
	return 0;
}

/* An upstream's `tls = { ca; verify; sni; }`: TLS to every server of it.
 * verify (default true) checks the chain against ca (default: the system
 * store) and, when sni is set, the name (RFC 6125); verify = false is for
 * lab setups only and says so in the log. */
static int
parse_upstream_tls(struct pd_upstream *u, const config_setting_t *g, struct conf_err *err)
{
	static const char *const keys[] = { "ca", "verify", "sni", NULL };
	const config_setting_t *t = config_setting_get_member(g, "tls");
	const char *ca = NULL, *sni = NULL;
	int verify = 1;
	char msg[400];

	if (t == NULL)
		return 0;
	if (!config_setting_is_group(t))
		return conf_errorf(err, t, "tls: must be a group { ca = \"FILE\"; verify = true; sni = \"NAME\"; }");
	if (conf_check_keys(t, keys, err) == -1 || conf_get_str(t, "ca", 0, &ca, err) == -1 ||
	    conf_get_bool(t, "verify", 0, &verify, err) == -1 || conf_get_str(t, "sni", 0, &sni, err) == -1)
		return -1;
	if (sni != NULL && (*sni == '\0' || strlen(sni) > 253 || strpbrk(sni, " \t\r\n/") != NULL))
		return conf_errorf(err, config_setting_get_member(t, "sni"), "sni: want a host name");
	if (!verify && ca != NULL)
		return conf_errorf(err, config_setting_get_member(t, "ca"), "ca: pointless with verify = false");
	msg[0] = '\0';
	if ((u->tls = tls_client_new(ca, verify, sni, msg, sizeof(msg))) == NULL)
		return conf_errorf(err, t, "upstream \"%s\": tls: %s", u->name, msg[0] ? msg : "cannot build the TLS setup");
	if (!verify)
		log_warnx("upstream \"%s\": tls.verify = false: any certificate is accepted (lab use only)", u->name);
	return 0;
}

static int
parse_server(struct pd_upstream *u, size_t idx, const config_setting_t *g, struct conf_err *err)
{
	static const char *const keys[] = { "name", "address", "weight", "max_conns", NULL };
	struct pd_server *s = &u->servers[idx];
	const char *name = NULL, *addr = NULL;
	int64_t w = 1, mc = 0;

	if (!config_setting_is_group(g))
		return conf_errorf(err, g, "servers: each element must be a group { ... }");
	if (conf_check_keys(g, keys, err) == -1 ||
	    conf_get_str(g, "address", 1, &addr, err) == -1 ||
	    conf_get_str(g, "name", 0, &name, err) == -1 ||
	    conf_get_int(g, "weight", 0, 0, BAL_MAX_WEIGHT, &w, err) == -1 ||
	    conf_get_int(g, "max_conns", 0, 0, 1000000, &mc, err) == -1)
		return -1;
	if (net_parse_addr(addr, -1, &s->addr, &s->addrlen) == -1)
		return conf_errorf(err, config_setting_get_member(g, "address"),
		    "address: bad address \"%s\" (want HOST:PORT, numeric)", addr);
	if (name == NULL)
		name = addr;
	for (size_t j = 0; j < idx; j++)
		if (strcmp(u->servers[j].name, name) == 0)
			return conf_errorf(err, g, "server \"%s\" defined twice in upstream \"%s\"", name, u->name);
	s->name = strdup(name);
	s->address = strdup(addr);
	if (s->name == NULL || s->address == NULL)
		return oom(err);
	s->weight = (uint32_t)w;
	s->max_conns = (uint32_t)mc;
	if ((s->shared = srvstate_get(u->name, s->name)) == NULL)
		return oom(err);
	return 0;
}

/* check = { type = "http"; method = "GET"; path = "/health"; host = "...";
 *           expect_status = "200-399"; expect_body = "ok"; interval = "2s";
 *           timeout = "1s"; rise = 2; fall = 3; } */
static int
parse_check(struct pd_upstream *u, const config_setting_t *ug, struct conf_err *err)
{
	static const char *const keys[] = { "type", "method", "path", "host", "expect_status", "expect_body",
		"interval", "timeout", "rise", "fall", NULL };
	const config_setting_t *g = NULL;
	struct pd_check *k = &u->check;
	const char *type = NULL, *st = NULL;
	int64_t v;

	if (conf_get_group(ug, "check", 0, &g, err) == -1)
		return -1;
	if (g == NULL)
		return 0;
	if (conf_check_keys(g, keys, err) == -1 || conf_get_str(g, "type", 0, &type, err) == -1)
		return -1;
	if (type == NULL || strcmp(type, "http") == 0)
		k->type = PD_CHECK_HTTP;
	else if (strcmp(type, "tcp") == 0)
		k->type = PD_CHECK_TCP;
	else
		return conf_errorf(err, config_setting_get_member(g, "type"), "type: \"%s\" is not one of http, tcp", type);
	/* The checker (proxyd/hcheck.c) speaks plain HTTP only: an HTTP check
	 * of a TLS server would always fail. */
	if (k->type == PD_CHECK_HTTP && u->tls != NULL)
		return conf_errorf(err, g, "check: type \"http\" is not supported with tls yet; use type = \"tcp\"");
	k->interval_ms = 2000;
	k->timeout_ms = 1000;
	k->status_lo = 200;
	k->status_hi = 399;
	if (get_strdup(g, "method", &k->method, err) == -1 || get_strdup(g, "path", &k->path, err) == -1 ||
	    get_strdup(g, "host", &k->host, err) == -1 || get_strdup(g, "expect_body", &k->expect_body, err) == -1 ||
	    conf_get_duration(g, "interval", 0, &k->interval_ms, err) == -1 ||
	    conf_get_duration(g, "timeout", 0, &k->timeout_ms, err) == -1 ||
	    conf_get_str(g, "expect_status", 0, &st, err) == -1)
		return -1;
	if (k->interval_ms < 100 || k->interval_ms > 3600000)
		return conf_errorf(err, config_setting_get_member(g, "interval"), "interval: must be within 100ms..1h");
	if (k->timeout_ms < 10 || k->timeout_ms > k->interval_ms)
		return conf_errorf(err, g, "timeout: must be at least 10ms and at most the interval");
	v = 2;
	if (conf_get_int(g, "rise", 0, 1, 100, &v, err) == -1)
		return -1;
	k->rise = (uint32_t)v;
	v = 3;
	if (conf_get_int(g, "fall", 0, 1, 100, &v, err) == -1)
		return -1;
	k->fall = (uint32_t)v;
	if (k->method == NULL && (k->method = strdup("GET")) == NULL)
		return oom(err);
	if (k->path == NULL && (k->path = strdup("/")) == NULL)
		return oom(err);
	if (!valid_token(k->method))
		return conf_errorf(err, config_setting_get_member(g, "method"), "method: bad method \"%s\"", k->method);
	if (k->path[0] != '/' || !valid_field_value(k->path) || strpbrk(k->path, " \t") != NULL)
		return conf_errorf(err, config_setting_get_member(g, "path"), "path: must start with '/', no spaces");
	if (k->host != NULL && (!valid_field_value(k->host) || *k->host == '\0'))
		return conf_errorf(err, config_setting_get_member(g, "host"), "host: invalid value");
	if (st != NULL) {
		/* Three digits, or two joined by '-': sscanf's %u took signs,
		 * blanks, trailing junk ("200x") and wrapped on overflow. */
		struct buf_reader r;
		uint32_t lo = 0, hi = 0;

		br_init(&r, st, strlen(st));
		br_dec(&r, 3, 3, &lo);
		hi = lo;
		if (br_left(&r) > 0) {
			br_lit(&r, "-");
			br_dec(&r, 3, 3, &hi);
		}
		if (r.err || br_left(&r) != 0 || lo < 100 || hi > 599 || lo > hi)
			return conf_errorf(err, config_setting_get_member(g, "expect_status"),
			    "expect_status: \"%s\" is not a status or a range like \"200-399\"", st);
		k->status_lo = (uint16_t)lo;
		k->status_hi = (uint16_t)hi;
	}
	return 0;
}

/* eject = { after = 5; base = "10s"; max = "5m"; }  slow_start = "30s";
 * panic_threshold = 50; */
static int
parse_eject(struct pd_upstream *u, const config_setting_t *ug, struct conf_err *err)
{
	static const char *const keys[] = { "after", "base", "max", NULL };
	const config_setting_t *g = NULL;
	int64_t v;

	if (conf_get_duration(ug, "slow_start", 0, &u->slow_start_ms, err) == -1)
		return -1;
	v = 0;
	if (conf_get_int(ug, "panic_threshold", 0, 0, 100, &v, err) == -1)
		return -1;
	u->panic_pct = (uint32_t)v;
	if (conf_get_group(ug, "eject", 0, &g, err) == -1)
		return -1;
	if (g == NULL)
		return 0;
	u->eject_after = 5;
	u->eject_base_ms = 10000;
	u->eject_max_ms = 300000;
	v = u->eject_after;
	if (conf_check_keys(g, keys, err) == -1 || conf_get_int(g, "after", 0, 0, 1000, &v, err) == -1 ||
	    conf_get_duration(g, "base", 0, &u->eject_base_ms, err) == -1 ||
	    conf_get_duration(g, "max", 0, &u->eject_max_ms, err) == -1)
		return -1;
	u->eject_after = (uint32_t)v;
	if (u->eject_base_ms == 0)
		return conf_errorf(err, g, "eject: base must be above 0");
	if (u->eject_max_ms < u->eject_base_ms)
		return conf_errorf(err, g, "eject: max must be at least base");
	return 0;
}

static int
parse_upstreams(struct pd_config *c, const config_setting_t *root, struct conf_err *err)
{
	static const char *const keys[] = { "name", "balance", "hash_key", "servers", "retries", "keepalive",
		"connect_timeout", "response_timeout", "idle_timeout", "pool_idle_timeout", "check", "eject",
		"slow_start", "panic_threshold", "tls", "sticky", NULL };
	const config_setting_t *l = NULL;
	int n;

	if (conf_get_list(root, "upstreams", 0, &l, err) == -1)
		return -1;
	if (l == NULL)
		return 0;
	n = config_setting_length(l);
	if (n > 0 && (c->upstreams = calloc((size_t)n, sizeof(*c->upstreams))) == NULL)
		return oom(err);
	for (int i = 0; i < n; i++) {
		const config_setting_t *g = config_setting_get_elem(l, (unsigned)i), *sl = NULL;
		struct pd_upstream *u = &c->upstreams[i];
		const char *name = NULL, *algo = NULL, *hk = NULL;
		int64_t v;
		int ns;

		c->nupstreams = (size_t)i + 1;
		if (!config_setting_is_group(g))
			return conf_errorf(err, g, "upstreams: each element must be a group { ... }");
		if (conf_check_keys(g, keys, err) == -1 || conf_get_str(g, "name", 1, &name, err) == -1)
			return -1;
		/* '@' starts the cluster's reserved admin names (@node/NODE:
		 * hactl drain NODE, replicated with the server admin state). */
		if (name[0] == '@')
			return conf_errorf(err, config_setting_get_member(g, "name"),
			    "upstream \"%s\": a name may not start with '@' (reserved)", name);
		for (int j = 0; j < i; j++)
			if (strcmp(c->upstreams[j].name, name) == 0)
				return conf_errorf(err, config_setting_get_member(g, "name"), "upstream \"%s\" defined twice", name);
		if ((u->name = strdup(name)) == NULL)
			return oom(err);
		if (parse_upstream_tls(u, g, err) == -1)
			return -1;
		u->algo = BAL_ROUNDROBIN;
		if (conf_get_str(g, "balance", 0, &algo, err) == -1)
			return -1;
		if (algo != NULL && balance_algo_parse(algo, &u->algo) == -1)
			return conf_errorf(err, config_setting_get_member(g, "balance"),
			    "balance: \"%s\" is not one of roundrobin, leastconn, hash, random", algo);
		if (conf_get_str(g, "hash_key", 0, &hk, err) == -1)
			return -1;
		if (hk != NULL) {
			if (strcmp(hk, "client_ip") == 0) u->hash_key = PD_HASH_CLIENT_IP;
			else if (strcmp(hk, "host") == 0) u->hash_key = PD_HASH_HOST;
			else if (strcmp(hk, "uri") == 0) u->hash_key = PD_HASH_URI;
			else
				return conf_errorf(err, config_setting_get_member(g, "hash_key"),
				    "hash_key: \"%s\" is not one of client_ip, host, uri", hk);
		}
		v = 1;
		if (conf_get_int(g, "retries", 0, 0, 10, &v, err) == -1)
			return -1;
		u->retries = (uint32_t)v;
		v = 32;
		if (conf_get_int(g, "keepalive", 0, 0, 100000, &v, err) == -1)
			return -1;
		u->keepalive = (uint32_t)v;
		u->connect_ms = c->to.connect;
		u->response_ms = c->to.response;
		u->idle_ms = c->to.idle;
		u->pool_idle_ms = c->to.pool_idle;
		if (conf_get_duration(g, "connect_timeout", 0, &u->connect_ms, err) == -1 ||
		    conf_get_duration(g, "response_timeout", 0, &u->response_ms, err) == -1 ||
		    conf_get_duration(g, "idle_timeout", 0, &u->idle_ms, err) == -1 ||
		    conf_get_duration(g, "pool_idle_timeout", 0, &u->pool_idle_ms, err) == -1)
			return -1;
		if (parse_check(u, g, err) == -1 || parse_eject(u, g, err) == -1)
			return -1;
		if (conf_get_list(g, "servers", 1, &sl, err) == -1)
			return -1;
		ns = config_setting_length(sl);
		if (ns == 0)
			return conf_errorf(err, sl, "servers: upstream \"%s\" needs at least one server", name);
		if ((size_t)ns > PD_MAX_SERVERS)
			return conf_errorf(err, sl, "servers: at most %u", PD_MAX_SERVERS);
		if ((u->servers = calloc((size_t)ns, sizeof(*u->servers))) == NULL)
			return oom(err);
		for (int j = 0; j < ns; j++) {
			u->nservers = (size_t)j + 1;
			if (parse_server(u, (size_t)j, config_setting_get_elem(sl, (unsigned)j), err) == -1)
				return -1;
		}
		if (config_setting_get_member(g, "sticky") != NULL) {
			const char **nm = calloc(u->nservers, sizeof(*nm));
			int rc;
			if (nm == NULL)
				return oom(err);
			for (size_t j = 0; j < u->nservers; j++)
				nm[j] = u->servers[j].name;
			rc = sticky_conf_parse(g, name, nm, u->nservers, &u->sticky, err);
			free(nm);
			if (rc == -1)
				return -1;
		}
	}
	return 0;
}

static int
valid_token(const char *s)
{
	static const char tchar[] = "!#$%&'*+-.^_`|~";

	if (*s == '\0')
		return 0;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    strchr(tchar, *s) != NULL))
			return 0;
	return 1;
}

static int
valid_field_value(const char *s)
{
	for (; *s; s++)
		if (((unsigned char)*s < 0x20 && *s != '\t') || *s == 0x7f)
			return 0;
	return 1;
}

/* headers group { set = [ "Name: value", ... ]; remove = [ "Name", ... ]; } */
/*
 * Fields a header edit may not set or remove: the framing (RFC 9112 §6.3)
 * and connection management (RFC 9110 §7.6.1, §7.8). proxyd writes these
 * itself from what it parsed; an edit that added a second Content-Length or
 * removed Transfer-Encoding would make the next hop frame the body otherwise
 * than proxyd forwards it, which is request (or response) smuggling by
 * configuration.
 */
static int
hdr_op_forbidden(const char *name)
{
	static const char *const names[] = { "content-length", "transfer-encoding", "connection", "keep-alive",
		"proxy-connection", "te", "trailer", "upgrade", "http2-settings", NULL };

	for (size_t i = 0; names[i] != NULL; i++)
		if (strcasecmp(name, names[i]) == 0)
			return 1;
	return 0;
}

static int
parse_hdr_ops(const config_setting_t *r, const char *gname, struct route_hdr_op **ops, size_t *n, struct conf_err *err)
{
	static const char *const keys[] = { "set", "remove", NULL };
	const config_setting_t *g = NULL;
	char **set = NULL, **rm = NULL;
	size_t nset = 0, nrm = 0;
	int rc = 0;

	if (conf_get_group(r, gname, 0, &g, err) == -1)
		return -1;
	if (g == NULL)
		return 0;
	if (conf_check_keys(g, keys, err) == -1 || get_strv(g, "set", &set, &nset, err) == -1 ||
	    get_strv(g, "remove", &rm, &nrm, err) == -1)
		rc = -1;
	if (rc == 0 && nset + nrm > 0 && (*ops = calloc(nset + nrm, sizeof(**ops))) == NULL)
		rc = oom(err);
	for (size_t i = 0; rc == 0 && i < nset; i++) {
		char *colon = strchr(set[i], ':');
		const char *v;
		if (colon == NULL)
			{ rc = conf_errorf(err, config_setting_get_member(g, "set"), "set: \"%s\" is not \"Name: value\"", set[i]); break; }
		*colon = '\0';
		for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
			;
		if (!valid_token(set[i]) || !valid_field_value(v))
			{ rc = conf_errorf(err, config_setting_get_member(g, "set"), "set: invalid header \"%s\"", set[i]); break; }
		if (hdr_op_forbidden(set[i]))
			{ rc = conf_errorf(err, config_setting_get_member(g, "set"), "set: \"%s\" is framing or connection management, which proxyd writes itself", set[i]); break; }
		(*ops)[*n].name = strdup(set[i]);
		(*ops)[*n].name_len = strlen(set[i]);
		(*ops)[*n].value = strdup(v);
		(*n)++;
		if ((*ops)[*n - 1].name == NULL || (*ops)[*n - 1].value == NULL)
			{ rc = oom(err); break; }
	}
	for (size_t i = 0; rc == 0 && i < nrm; i++) {
		if (!valid_token(rm[i]))
			{ rc = conf_errorf(err, config_setting_get_member(g, "remove"), "remove: invalid header name \"%s\"", rm[i]); break; }
		if (hdr_op_forbidden(rm[i]))
			{ rc = conf_errorf(err, config_setting_get_member(g, "remove"), "remove: \"%s\" is framing or connection management, which proxyd writes itself", rm[i]); break; }
		(*ops)[*n].name = strdup(rm[i]);
		(*ops)[*n].name_len = strlen(rm[i]);
		(*n)++;
		if ((*ops)[*n - 1].name == NULL)
			{ rc = oom(err); break; }
	}
	for (size_t i = 0; i < nset; i++)
		free(set[i]);
	for (size_t i = 0; i < nrm; i++)
		free(rm[i]);
	free(set);
	free(rm);
	return rc;
}

/* Requests are routed and rewritten on their normalised path
 * (http_target_normalize()), so a route path, path prefix, rewrite prefix or
 * replacement must be in that form too: another spelling ("/%69nternal/",
 * "/a//b", lower-case hex) would never match, or would write a path the
 * parser refuses from clients. A replacement that does not start with '/'
 * gets one from route_rewrite(), so it is checked with it. 0, or -1 with the
 * reason and the normal form in msg. */
static int
path_normal(const char *p, char *msg, size_t msglen)
{
	size_t len = strlen(p), off = p[0] == '/' ? 0 : 1;
	char *in = malloc(len + off + 1), *out = malloc(len + off + 1);
	const char *why = NULL;
	int n = -1, rc = -1;

	if (in == NULL || out == NULL) {
		snprintf(msg, msglen, "out of memory");
		goto done;
	}
	in[0] = '/';
	memcpy(in + off, p, len + 1);
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)p[i];
		if (ch <= 0x20 || ch >= 0x7f || ch == '#') {
			/* RFC 9112 §3.2: not a request-target byte. */
			snprintf(msg, msglen, "\"%s\": byte 0x%02x cannot be in a request-target", p, ch);
			goto done;
		}
	}
	n = http_path_normalize(in, len + off, out, len + off, &why);
	if (n < 0)
		snprintf(msg, msglen, "\"%s\" is refused in request paths (%s)", p, why);
	else if ((size_t)n != len + off || memcmp(in, out, len + off) != 0)
		snprintf(msg, msglen, "requests are matched normalised: write \"%.*s\" for \"%s\"", n, out, in);
	else
		rc = 0;
done:
	free(in);
	free(out);
	return rc;
}

static int
parse_match(struct route *rt, const config_setting_t *r, struct conf_err *err)
{
	static const char *const keys[] = { "host", "path", "path_prefix", "path_regex", "methods", "headers", NULL };
	const config_setting_t *g = NULL, *hl = NULL;
	const char *p = NULL;
	char emsg[256];
	int npaths = 0;

	if (conf_get_group(r, "match", 0, &g, err) == -1)
		return -1;
	if (g == NULL)
		return 0;
	if (conf_check_keys(g, keys, err) == -1 || get_strv(g, "host", &rt->hosts, &rt->nhosts, err) == -1 ||
	    get_strv(g, "methods", &rt->methods, &rt->nmethods, err) == -1)
		return -1;
	for (size_t i = 0; i < rt->nhosts; i++) {
		char *h = rt->hosts[i];
		for (char *q = h; *q; q++)
			if (*q >= 'A' && *q <= 'Z')
				*q = (char)(*q - 'A' + 'a');
		if (*h == '\0' || (strchr(h, '*') != NULL && (h[0] != '*' || h[1] != '.' || strchr(h + 1, '*') != NULL)))
			return conf_errorf(err, config_setting_get_member(g, "host"),
			    "host: \"%s\" is neither a name nor \"*.suffix\"", h);
	}
	for (size_t i = 0; i < rt->nmethods; i++)
		if (!valid_token(rt->methods[i]))
			return conf_errorf(err, config_setting_get_member(g, "methods"), "methods: bad method \"%s\"", rt->methods[i]);
	static const struct { const char *key; enum route_path_kind kind; } pk[] = {
		{ "path", ROUTE_PATH_EXACT }, { "path_prefix", ROUTE_PATH_PREFIX }, { "path_regex", ROUTE_PATH_REGEX } };
	for (size_t i = 0; i < 3; i++) {
		p = NULL;
		if (conf_get_str(g, pk[i].key, 0, &p, err) == -1)
			return -1;
		if (p == NULL)
			continue;
		if (++npaths > 1)
			return conf_errorf(err, config_setting_get_member(g, pk[i].key),
			    "%s: only one of path, path_prefix, path_regex per route", pk[i].key);
		if (pk[i].kind != ROUTE_PATH_REGEX && p[0] != '/')
			return conf_errorf(err, config_setting_get_member(g, pk[i].key), "%s: must start with '/'", pk[i].key);
		if (pk[i].kind != ROUTE_PATH_REGEX && path_normal(p, emsg, sizeof(emsg)) == -1)
			return conf_errorf(err, config_setting_get_member(g, pk[i].key), "%s: %s", pk[i].key, emsg);
		if (route_set_path(rt, pk[i].kind, p, emsg, sizeof(emsg)) == -1)
			return conf_errorf(err, config_setting_get_member(g, pk[i].key), "%s: %s", pk[i].key, emsg);
	}
	if (conf_get_list(g, "headers", 0, &hl, err) == -1)
		return -1;
	if (hl != NULL) {
		static const char *const hkeys[] = { "name", "value", NULL };
		int n = config_setting_length(hl);
		if (n > 0 && (rt->hdrs = calloc((size_t)n, sizeof(*rt->hdrs))) == NULL)
			return oom(err);
		for (int i = 0; i < n; i++) {
			const config_setting_t *h = config_setting_get_elem(hl, (unsigned)i);
			const char *name = NULL, *value = NULL;
			if (!config_setting_is_group(h))
				return conf_errorf(err, h, "headers: each element must be { name = ...; value = ...; }");
			if (conf_check_keys(h, hkeys, err) == -1 || conf_get_str(h, "name", 1, &name, err) == -1 ||
			    conf_get_str(h, "value", 0, &value, err) == -1)
				return -1;
			if (!valid_token(name))
				return conf_errorf(err, h, "headers: bad header name \"%s\"", name);
			rt->hdrs[i].name = strdup(name);
			for (char *q = rt->hdrs[i].name; q && *q; q++)
				if (*q >= 'A' && *q <= 'Z')
					*q = (char)(*q - 'A' + 'a');
			rt->hdrs[i].value = xstrdup(value);
			rt->nhdrs = (size_t)i + 1;
			if (rt->hdrs[i].name == NULL || (value != NULL && rt->hdrs[i].value == NULL))
				return oom(err);
		}
	}
	return 0;
}

/* The per-route guards: allow/deny prefixes (403), allow_methods (405),
 * max_body (413), ratelimit (429). */
static int
parse_route_guards(struct pd_config *c, struct route *rt, const config_setting_t *r, struct conf_err *err)
{
	const char *rl = NULL;
	uint64_t mb = 0;
	size_t len = 0;

	rt->max_body = -1;
	rt->rl_idx = -1;
	if (parse_cidrs(r, "allow", &rt->allow, &rt->nallow, err) == -1 ||
	    parse_cidrs(r, "deny", &rt->deny, &rt->ndeny, err) == -1 ||
	    get_strv(r, "allow_methods", &rt->allow_methods, &rt->nallow_methods, err) == -1)
		return -1;
	for (size_t i = 0; i < rt->nallow_methods; i++) {
		if (!valid_token(rt->allow_methods[i]))
			return conf_errorf(err, config_setting_get_member(r, "allow_methods"), "allow_methods: bad method \"%s\"",
			    rt->allow_methods[i]);
		len += strlen(rt->allow_methods[i]) + 2;
	}
	if (rt->nallow_methods > 0) {
		if ((rt->allow_hdr = calloc(1, len + 1)) == NULL)
			return oom(err);
		for (size_t i = 0; i < rt->nallow_methods; i++) {
			if (i > 0)
				strcat(rt->allow_hdr, ", ");
			strcat(rt->allow_hdr, rt->allow_methods[i]);
		}
	}
	if (config_setting_get_member(r, "max_body") != NULL) {
		if (conf_get_size(r, "max_body", 0, &mb, err) == -1)
			return -1;
		rt->max_body = (int64_t)mb;
	}
	if (conf_get_str(r, "ratelimit", 0, &rl, err) == -1)
		return -1;
	if (rl != NULL) {
		for (size_t i = 0; i < c->nrlimits; i++)
			if (strcmp(c->rlimits[i].name, rl) == 0)
				rt->rl_idx = (int)i;
		if (rt->rl_idx < 0)
			return conf_errorf(err, config_setting_get_member(r, "ratelimit"), "ratelimit: unknown limit \"%s\"", rl);
	}
	return 0;
}

static int
parse_route_action(struct pd_config *c, struct route *rt, const config_setting_t *r, struct conf_err *err)
{
	const config_setting_t *g = NULL, *sl = NULL;
	const char *up = NULL;
	int nactions = 0;
	int64_t v;

	if (conf_get_str(r, "upstream", 0, &up, err) == -1)
		return -1;
	if (up != NULL) {
		int idx = config_upstream_index(c, up);
		nactions++;
		if (idx < 0)
			return conf_errorf(err, config_setting_get_member(r, "upstream"), "upstream: unknown upstream \"%s\"", up);
		if ((rt->splits = calloc(1, sizeof(*rt->splits))) == NULL)
			return oom(err);
		rt->splits[0].upstream = idx;
		rt->splits[0].weight = 1;
		rt->nsplits = 1;
		rt->split_total = 1;
		rt->action = ROUTE_FORWARD;
	}
	if (conf_get_list(r, "split", 0, &sl, err) == -1)
		return -1;
	if (sl != NULL) {
		static const char *const skeys[] = { "upstream", "weight", NULL };
		int n = config_setting_length(sl);
		nactions++;
		if (n == 0)
			return conf_errorf(err, sl, "split: empty list");
		if ((rt->splits = calloc((size_t)n, sizeof(*rt->splits))) == NULL)
			return oom(err);
		for (int i = 0; i < n; i++) {
			const config_setting_t *e = config_setting_get_elem(sl, (unsigned)i);
			const char *name = NULL;
			int idx;
			if (!config_setting_is_group(e))
				return conf_errorf(err, e, "split: each element must be { upstream = ...; weight = ...; }");
			v = 1;
			if (conf_check_keys(e, skeys, err) == -1 || conf_get_str(e, "upstream", 1, &name, err) == -1 ||
			    conf_get_int(e, "weight", 0, 0, 1000000, &v, err) == -1)
				return -1;
			if ((idx = config_upstream_index(c, name)) < 0)
				return conf_errorf(err, config_setting_get_member(e, "upstream"), "upstream: unknown upstream \"%s\"", name);
			rt->splits[i].upstream = idx;
			rt->splits[i].weight = (uint32_t)v;
			rt->split_total += (uint32_t)v;
			rt->nsplits = (size_t)i + 1;
		}
		if (rt->split_total == 0)
			return conf_errorf(err, sl, "split: all weights are 0");
		rt->action = ROUTE_FORWARD;
	}
	if (conf_get_group(r, "redirect", 0, &g, err) == -1)
		return -1;
	if (g != NULL) {
		static const char *const rkeys[] = { "status", "location", NULL };
		const char *loc = NULL;
		nactions++;
		v = 302;
		if (conf_check_keys(g, rkeys, err) == -1 || conf_get_int(g, "status", 0, 300, 308, &v, err) == -1 ||
		    conf_get_str(g, "location", 1, &loc, err) == -1)
			return -1;
		if (!valid_field_value(loc) || *loc == '\0')
			return conf_errorf(err, config_setting_get_member(g, "location"), "location: invalid value");
		rt->action = ROUTE_REDIRECT;
		rt->status = (int)v;
		if ((rt->location = strdup(loc)) == NULL)
			return oom(err);
	}
	g = NULL;
	if (conf_get_group(r, "respond", 0, &g, err) == -1)
		return -1;
	if (g != NULL) {
		static const char *const rkeys[] = { "status", "body", NULL };
		const char *body = NULL;
		nactions++;
		v = 200;
		if (conf_check_keys(g, rkeys, err) == -1 || conf_get_int(g, "status", 0, 200, 599, &v, err) == -1 ||
		    conf_get_str(g, "body", 0, &body, err) == -1)
			return -1;
		rt->action = ROUTE_RESPOND;
		rt->status = (int)v;
		if ((rt->body = strdup(body ? body : "")) == NULL)
			return oom(err);
	}
	if (nactions == 0)
		return conf_errorf(err, r, "route \"%s\": needs one of upstream, split, redirect, respond", rt->name);
	if (nactions > 1)
		return conf_errorf(err, r, "route \"%s\": only one of upstream, split, redirect, respond", rt->name);
	return 0;
}

/* ratelimits = ( { name; key = "ip" | "header:NAME" | "route"; ipv4_prefix;
 * ipv6_prefix; rate; period; burst; max_keys; ban = { after; within;
 * duration; }; scope = "node" | "cluster"; partition = "full" | "share"; } ) */
static int
parse_ratelimits(struct pd_config *c, const config_setting_t *root, struct conf_err *err)
{
	static const char *const keys[] = { "name", "key", "ipv4_prefix", "ipv6_prefix", "rate", "period", "burst",
		"max_keys", "ban", "scope", "partition", NULL };
	static const char *const bkeys[] = { "after", "within", "duration", NULL };
	const config_setting_t *l = NULL;
	int n;

	if (conf_get_list(root, "ratelimits", 0, &l, err) == -1)
		return -1;
	n = l ? config_setting_length(l) : 0;
	if (n == 0)
		return 0;
	if ((c->rlimits = calloc((size_t)n, sizeof(*c->rlimits))) == NULL)
		return oom(err);
	for (int i = 0; i < n; i++) {
		const config_setting_t *g = config_setting_get_elem(l, (unsigned)i), *bg = NULL;
		struct pd_rlimit *L = &c->rlimits[i];
		struct rl_limit_conf rc;
		const char *name = NULL, *key = NULL, *scope = NULL, *part = NULL, *why = NULL;
		int64_t v;

		c->nrlimits = (size_t)i + 1;
		memset(&rc, 0, sizeof(rc));
		if (!config_setting_is_group(g))
			return conf_errorf(err, g, "ratelimits: each element must be a group { ... }");
		if (conf_check_keys(g, keys, err) == -1 || conf_get_str(g, "name", 1, &name, err) == -1 ||
		    conf_get_str(g, "key", 0, &key, err) == -1 || conf_get_str(g, "scope", 0, &scope, err) == -1 ||
		    conf_get_str(g, "partition", 0, &part, err) == -1)
			return -1;
		if (strlen(name) == 0 || strlen(name) >= RL_NAME_MAX)
			return conf_errorf(err, config_setting_get_member(g, "name"), "name: 1..%d characters", RL_NAME_MAX - 1);
		for (int j = 0; j < i; j++)
			if (strcmp(c->rlimits[j].name, name) == 0)
				return conf_errorf(err, config_setting_get_member(g, "name"), "ratelimit \"%s\" defined twice", name);
		if ((L->name = strdup(name)) == NULL)
			return oom(err);
		memcpy(rc.name, name, strlen(name) + 1);
		if (key == NULL || strcmp(key, "ip") == 0) {
			L->key = RL_KEY_IP;
		} else if (strcmp(key, "route") == 0) {
			L->key = RL_KEY_ROUTE;
		} else if (strncmp(key, "header:", 7) == 0 && valid_token(key + 7)) {
			L->key = RL_KEY_HEADER;
			if ((L->header = strdup(key + 7)) == NULL)
				return oom(err);
			for (char *q = L->header; *q; q++)
				if (*q >= 'A' && *q <= 'Z')
					*q = (char)(*q - 'A' + 'a');
			L->header_len = strlen(L->header);
		} else {
			return conf_errorf(err, config_setting_get_member(g, "key"),
			    "key: \"%s\" is not one of ip, header:NAME, route", key);
		}
		if (scope == NULL || strcmp(scope, "node") == 0)
			L->cluster = 0;
		else if (strcmp(scope, "cluster") == 0)
			L->cluster = 1;
		else
			return conf_errorf(err, config_setting_get_member(g, "scope"), "scope: \"%s\" is not one of node, cluster", scope);
		if (part == NULL || strcmp(part, "full") == 0)
			L->partition_share = 0;
		else if (strcmp(part, "share") == 0)
			L->partition_share = 1;
		else
			return conf_errorf(err, config_setting_get_member(g, "partition"), "partition: \"%s\" is not one of full, share", part);
		if (part != NULL && !L->cluster)
			return conf_errorf(err, config_setting_get_member(g, "partition"), "partition: only for scope = \"cluster\"");
		v = 32;
		if (conf_get_int(g, "ipv4_prefix", 0, 0, 32, &v, err) == -1)
			return -1;
		L->v4_prefix = (int)v;
		v = 64;
		if (conf_get_int(g, "ipv6_prefix", 0, 0, 128, &v, err) == -1)
			return -1;
		L->v6_prefix = (int)v;
		v = 0;
		if (conf_get_int(g, "rate", 1, 1, 1000000000, &v, err) == -1)
			return -1;
		rc.rate = (uint64_t)v;
		v = 0;
		if (conf_get_int(g, "burst", 0, 0, 1000000000, &v, err) == -1)
			return -1;
		rc.burst = (uint64_t)v;
		v = 100000;
		if (conf_get_int(g, "max_keys", 0, 1, 100000000, &v, err) == -1)
			return -1;
		rc.max_keys = (uint32_t)v;
		rc.period_ms = 1000;
		if (conf_get_duration(g, "period", 0, &rc.period_ms, err) == -1)
			return -1;
		if (conf_get_group(g, "ban", 0, &bg, err) == -1)
			return -1;
		if (bg != NULL) {
			v = 5;
			rc.ban_period_ms = 60000;
			rc.ban_ms = 600000;
			if (conf_check_keys(bg, bkeys, err) == -1 || conf_get_int(bg, "after", 0, 1, 1000000, &v, err) == -1 ||
			    conf_get_duration(bg, "within", 0, &rc.ban_period_ms, err) == -1 ||
			    conf_get_duration(bg, "duration", 0, &rc.ban_ms, err) == -1)
				return -1;
			rc.ban_after = (uint32_t)v;
			if (rc.ban_period_ms == 0 || rc.ban_ms == 0)
				return conf_errorf(err, bg, "ban: within and duration must be above 0");
		}
		if (rl_conf_check(&rc, &why) == -1)
			return conf_errorf(err, g, "ratelimit \"%s\": %s", name, why);
		if ((L->t = rl_table_acquire(&rc, c->node)) == NULL)
			return oom(err);
	}
	return 0;
}

static int
parse_routes(struct pd_config *c, const config_setting_t *root, struct conf_err *err)
{
	static const char *const keys[] = { "name", "match", "upstream", "split", "redirect", "respond",
		"rewrite", "request_headers", "response_headers", "allow", "deny", "allow_methods", "max_body",
		"ratelimit", "compress", "cache", NULL };
	const config_setting_t *l = NULL;
	int n;

	if (conf_get_list(root, "routes", 0, &l, err) == -1)
		return -1;
	n = l ? config_setting_length(l) : 0;
	if (n == 0) {
		/* No routes: everything goes to the only upstream, if there is exactly one. */
		if (c->nupstreams != 1)
			return conf_errorf(err, l ? l : root, "routes: needed unless exactly one upstream is defined");
		if ((c->routes = calloc(1, sizeof(*c->routes))) == NULL ||
		    (c->routes[0].splits = calloc(1, sizeof(struct route_split))) == NULL ||
		    (c->routes[0].name = strdup("default")) == NULL)
			return oom(err);
		c->routes[0].nsplits = 1;
		c->routes[0].splits[0].weight = 1;
		c->routes[0].split_total = 1;
		c->routes[0].max_body = -1;
		c->routes[0].rl_idx = -1;
		/* Off, with the defaults a route's compress setting starts from
		 * (borrowed: the generation owns them). */
		c->routes[0].compress = c->compress.defaults;
		c->routes[0].compress.types_owned = NULL;
		c->routes[0].compress.enabled = c->compress.defaults.enabled;
		c->nroutes = 1;
		return 0;
	}
	if ((c->routes = calloc((size_t)n, sizeof(*c->routes))) == NULL)
		return oom(err);
	for (int i = 0; i < n; i++) {
		const config_setting_t *r = config_setting_get_elem(l, (unsigned)i), *rw = NULL;
		struct route *rt = &c->routes[i];
		const char *name = NULL;
		char emsg[256];

		c->nroutes = (size_t)i + 1;
		if (!config_setting_is_group(r))
			return conf_errorf(err, r, "routes: each element must be a group { ... }");
		if (conf_check_keys(r, keys, err) == -1 || conf_get_str(r, "name", 0, &name, err) == -1)
			return -1;
		if (name != NULL)
			for (int j = 0; j < i; j++)
				if (strcmp(c->routes[j].name, name) == 0)
					return conf_errorf(err, config_setting_get_member(r, "name"), "route \"%s\" defined twice", name);
		if (name == NULL) {
			char buf[32];
			snprintf(buf, sizeof(buf), "route%d", i + 1);
			rt->name = strdup(buf);
		} else {
			rt->name = strdup(name);
		}
		if (rt->name == NULL)
			return oom(err);
		if (parse_match(rt, r, err) == -1 || parse_route_action(c, rt, r, err) == -1 ||
		    parse_route_guards(c, rt, r, err) == -1 ||
		    parse_hdr_ops(r, "request_headers", &rt->req_ops, &rt->nreq_ops, err) == -1 ||
		    parse_hdr_ops(r, "response_headers", &rt->resp_ops, &rt->nresp_ops, err) == -1 ||
		    compress_conf_parse_route(&rt->compress, &c->compress, r, rt->name, err) == -1 ||
		    cache_conf_route(c->caches, c->ncaches, r, rt->name, &rt->cache, err) == -1)
			return -1;
		/* compression.enabled reaches forwarding routes only; a route that
		 * asks for it itself must be one. */
		if (rt->compress.enabled && rt->action != ROUTE_FORWARD && !rt->compress.explicit)
			rt->compress.enabled = 0;
		if (rt->cache != NULL && rt->action != ROUTE_FORWARD)
			return conf_errorf(err, config_setting_get_member(r, "cache"),
			    "route \"%s\": cache: only forwarding routes cache", rt->name);
		if (rt->compress.enabled && rt->action != ROUTE_FORWARD)
			return conf_errorf(err, config_setting_get_member(r, "compress"),
			    "route \"%s\": compress: only forwarding routes compress (a redirect or a fixed response has nothing to code)",
			    rt->name);
		if (conf_get_group(r, "rewrite", 0, &rw, err) == -1)
			return -1;
		if (rw != NULL) {
			static const char *const wkeys[] = { "strip_prefix", "prefix", "replace", NULL };
			const char *sp = NULL, *pf = NULL, *rp = NULL;
			if (conf_check_keys(rw, wkeys, err) == -1 || conf_get_str(rw, "strip_prefix", 0, &sp, err) == -1 ||
			    conf_get_str(rw, "prefix", 0, &pf, err) == -1 || conf_get_str(rw, "replace", 0, &rp, err) == -1)
				return -1;
			if ((sp == NULL) == (pf == NULL))
				return conf_errorf(err, rw, "rewrite: needs exactly one of strip_prefix, prefix");
			if (sp != NULL && rp != NULL)
				return conf_errorf(err, rw, "rewrite: replace goes with prefix, not strip_prefix");
			pf = pf ? pf : sp;
			if (pf[0] != '/' || (rp != NULL && !valid_field_value(rp)))
				return conf_errorf(err, rw, "rewrite: prefix must start with '/'");
			if (path_normal(pf, emsg, sizeof(emsg)) == -1 ||
			    (rp != NULL && rp[0] != '\0' && path_normal(rp, emsg, sizeof(emsg)) == -1))
				return conf_errorf(err, rw, "rewrite: %s", emsg);
			rt->rw_prefix = strdup(pf);
			rt->rw_replace = xstrdup(rp);
			if (rt->rw_prefix == NULL || (rp != NULL && rt->rw_replace == NULL))
				return oom(err);
			if (rt->action != ROUTE_FORWARD)
				return conf_errorf(err, rw, "rewrite: only forwarding routes rewrite paths");
		}
	}
	return 0;
}

static int
parse_global(struct pd_config *c, const config_setting_t *root, struct conf_err *err)
{
	static const char *const keys[] = { "threads", "user", "node", "timeouts", "limits", "log", "admin",
		"hacd", "headers", "listeners", "upstreams", "ratelimits", "routes", "tls_tickets", "compression", "caches", "http2", NULL };
	int64_t v = 0;

	if (conf_check_keys(root, keys, err) == -1)
		return -1;
	if (conf_get_int(root, "threads", 0, 0, PD_MAX_WORKERS, &v, err) == -1)
		return -1;
	c->threads = (int)v;
	if (get_strdup(root, "user", &c->user, err) == -1 || get_strdup(root, "node", &c->node, err) == -1)
		return -1;
	/* Started as root, proxyd reads the key files again at reload as
	 * "user" (proxyd/main.c drop_privileges): that account may own them. */
	if (geteuid() == 0) {
		const struct passwd *pw = getpwnam(c->user != NULL ? c->user : PD_DEFAULT_USER);
		secfile_set_service_uid(pw != NULL && pw->pw_uid != 0 ? pw->pw_uid : (uid_t)-1);
	}
	if (c->node == NULL) {
		char host[256] = "localhost";
		gethostname(host, sizeof(host) - 1);
		if ((c->node = strdup(host)) == NULL)
			return oom(err);
	}
	/* Timeouts first: upstreams take their defaults from them. */
	if (parse_timeouts(c, root, err) == -1 || parse_limits(c, root, err) == -1 || parse_log(c, root, err) == -1 ||
	    parse_admin_hacd(c, root, err) == -1 || parse_headers(c, root, err) == -1 ||
	    parse_tls_tickets(c, root, err) == -1 || compress_conf_parse_global(&c->compress, root, err) == -1 ||
	    h2_conf_parse(&c->h2, root, err) == -1 ||
	    parse_listeners(c, root, err) == -1 || parse_upstreams(c, root, err) == -1 ||
	    parse_ratelimits(c, root, err) == -1 || cache_conf_parse(&c->caches, &c->ncaches, root, err) == -1 ||
	    parse_routes(c, root, err) == -1)
		return -1;
	return 0;
}

static struct pd_config *
config_from_conf(struct conf *cf, const char *path, struct conf_err *err)
{
	struct pd_config *c = calloc(1, sizeof(*c));

	if (c == NULL) {
		oom(err);
		return NULL;
	}
	defaults(c);
	if (c->access_log == NULL) {
		oom(err);
		config_free(c);
		return NULL;
	}
	if (parse_global(c, conf_root(cf), err) == -1) {
		config_free(c);
		return NULL;
	}
	if (path != NULL && (c->path = strdup(path)) == NULL) {
		oom(err);
		config_free(c);
		return NULL;
	}
	return c;
}

struct pd_config *
config_load(const char *path, struct conf_err *err)
{
	struct conf cf;
	struct pd_config *c;

	if (conf_load(&cf, path, err) == -1)
		return NULL;
	c = config_from_conf(&cf, path, err);
	conf_free(&cf);
	return c;
}

struct pd_config *
config_load_string(const char *name, const char *text, struct conf_err *err)
{
	struct conf cf;
	struct pd_config *c;

	if (conf_load_string(&cf, name, text, err) == -1)
		return NULL;
	c = config_from_conf(&cf, NULL, err);
	conf_free(&cf);
	return c;
}

struct pd_config *
config_quick(const char *listen, const char *to, int threads, struct conf_err *err)
{
	return config_quick_tls(listen, NULL, NULL, NULL, to, threads, 0, err);
}

/* Quick mode's tree: helpers that add one setting and fail on ENOMEM. */
static config_setting_t *
qs_add(config_setting_t *parent, const char *name, int type)
{
	return parent != NULL ? config_setting_add(parent, name, type) : NULL;
}

static int
qs_str(config_setting_t *parent, const char *name, const char *v)
{
	config_setting_t *s = qs_add(parent, name, CONFIG_TYPE_STRING);

	return s != NULL && config_setting_set_string(s, v) == CONFIG_TRUE ? 0 : -1;
}

static int
qs_int(config_setting_t *parent, const char *name, int v)
{
	config_setting_t *s = qs_add(parent, name, CONFIG_TYPE_INT);

	return s != NULL && config_setting_set_int(s, v) == CONFIG_TRUE ? 0 : -1;
}

static int
qs_bool(config_setting_t *parent, const char *name, int v)
{
	config_setting_t *s = qs_add(parent, name, CONFIG_TYPE_BOOL);

	return s != NULL && config_setting_set_bool(s, v) == CONFIG_TRUE ? 0 : -1;
}

/* An address with the default port made explicit, for the parser (whose
 * listeners default to 80) to read as quick mode means it. -1: not one. */
static int
qs_addr(const char *in, int defport, char *out, size_t outlen)
{
	struct sockaddr_storage ss;
	socklen_t len;

	if (net_parse_addr(in, defport, &ss, &len) == -1)
		return -1;
	if (net_addr_str((struct sockaddr *)&ss, out, outlen) == NULL)
		return -1;
	return 0;
}

/*
 * Quick mode writes the command line into the same libconfig tree a file
 * would hold and hands it to the same parser (config_from_conf), so every
 * check a file gets applies here too: at most PD_MAX_SERVERS servers (the
 * bound of a request's exclude mask), no server twice, address syntax, TLS
 * key checks, and every allocation checked. Only what names a flag is
 * checked before, so that the message can name it.
 */
struct pd_config *
config_quick_tls(const char *listen, const char *tls_listen, const char *cert_file, const char *key_file,
    const char *to, int threads, int compress, struct conf_err *err)
{
	return config_quick_cache(listen, tls_listen, cert_file, key_file, to, threads, compress, NULL, err);
}

struct pd_config *
config_quick_cache(const char *listen, const char *tls_listen, const char *cert_file, const char *key_file,
    const char *to, int threads, int compress, const char *cache_size, struct conf_err *err)
{
	struct conf cf;
	struct pd_config *c = NULL;
	config_setting_t *root, *ls, *l, *t, *cl, *ul, *u, *sl, *sv, *rl, *rt, *cg;
	char *list = NULL, *save = NULL, *tok;
	char a_plain[NET_ADDRSTRLEN], a_tls[NET_ADDRSTRLEN];
	size_t n = 0;

	conf_init_built(&cf, "command line");
	if (listen == NULL && tls_listen == NULL) {
		snprintf(err->msg, sizeof(err->msg), "--listen or --tls-listen is needed");
		goto out;
	}
	if (listen != NULL && qs_addr(listen, 80, a_plain, sizeof(a_plain)) == -1) {
		snprintf(err->msg, sizeof(err->msg), "--listen: bad address \"%s\" (want HOST:PORT, numeric)", listen);
		goto out;
	}
	if (tls_listen != NULL) {
		if (qs_addr(tls_listen, 443, a_tls, sizeof(a_tls)) == -1) {
			snprintf(err->msg, sizeof(err->msg), "--tls-listen: bad address \"%s\" (want HOST:PORT, numeric)",
			    tls_listen);
			goto out;
		}
		if (listen != NULL && strcmp(a_plain, a_tls) == 0) {
			snprintf(err->msg, sizeof(err->msg), "--tls-listen: same address as --listen");
			goto out;
		}
		if (cert_file == NULL || key_file == NULL) {
			snprintf(err->msg, sizeof(err->msg), "--tls-listen needs --cert FILE and --key FILE");
			goto out;
		}
	}
	if (to == NULL) {
		snprintf(err->msg, sizeof(err->msg), "--to: no server given");
		goto out;
	}
	if ((list = strdup(to)) == NULL)
		goto nomem;
	root = (config_setting_t *)conf_root(&cf);
	if (qs_str(root, "node", "quick") == -1 || (threads > 0 && qs_int(root, "threads", threads) == -1) ||
	    (ls = qs_add(root, "listeners", CONFIG_TYPE_LIST)) == NULL)
		goto nomem;
	if (listen != NULL && ((l = qs_add(ls, NULL, CONFIG_TYPE_GROUP)) == NULL ||
	    qs_str(l, "name", "quick") == -1 || qs_str(l, "listen", a_plain) == -1))
		goto nomem;
	if (tls_listen != NULL) {
		if ((l = qs_add(ls, NULL, CONFIG_TYPE_GROUP)) == NULL || qs_str(l, "name", "quick-tls") == -1 ||
		    qs_str(l, "listen", a_tls) == -1 || (t = qs_add(l, "tls", CONFIG_TYPE_GROUP)) == NULL ||
		    (cl = qs_add(t, "certificates", CONFIG_TYPE_LIST)) == NULL ||
		    (sv = qs_add(cl, NULL, CONFIG_TYPE_GROUP)) == NULL || qs_str(sv, "cert", cert_file) == -1 ||
		    qs_str(sv, "key", key_file) == -1)
			goto nomem;
	}
	/* Enough idle connections per server per worker for a few hundred
	 * concurrent clients: a pool smaller than the concurrency closes and
	 * reopens backend connections on every request beyond it (a connect
	 * and a close each), which is what a keep-alive pool is there to avoid. */
	if ((ul = qs_add(root, "upstreams", CONFIG_TYPE_LIST)) == NULL || (u = qs_add(ul, NULL, CONFIG_TYPE_GROUP)) == NULL ||
	    qs_str(u, "name", "default") == -1 || qs_int(u, "retries", 1) == -1 || qs_int(u, "keepalive", 512) == -1 ||
	    (sl = qs_add(u, "servers", CONFIG_TYPE_LIST)) == NULL)
		goto nomem;
	for (tok = strtok_r(list, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		struct sockaddr_storage ss;
		socklen_t len;

		if (net_parse_addr(tok, -1, &ss, &len) == -1) {
			snprintf(err->msg, sizeof(err->msg), "--to: bad address \"%s\" (want HOST:PORT, numeric)", tok);
			goto out;
		}
		if ((sv = qs_add(sl, NULL, CONFIG_TYPE_GROUP)) == NULL || qs_str(sv, "address", tok) == -1)
			goto nomem;
		n++;
	}
	if (n == 0) {
		snprintf(err->msg, sizeof(err->msg), "--to: no server given");
		goto out;
	}
	/* --compress: the one route a file without routes would get, written
	 * out so that it can say compress = true (the defaults). */
	if ((compress || cache_size != NULL) && ((rl = qs_add(root, "routes", CONFIG_TYPE_LIST)) == NULL ||
	    (rt = qs_add(rl, NULL, CONFIG_TYPE_GROUP)) == NULL || qs_str(rt, "name", "default") == -1 ||
	    qs_str(rt, "upstream", "default") == -1 || (compress && qs_bool(rt, "compress", 1) == -1)))
		goto nomem;
	/* --cache SIZE: one cache, "quick", on that route, serving stale
	 * objects for up to an hour while the origin fails; the defaults
	 * otherwise (max_object at most half of the size). */
	if (cache_size != NULL && ((cl = qs_add(root, "caches", CONFIG_TYPE_LIST)) == NULL ||
	    (cg = qs_add(cl, NULL, CONFIG_TYPE_GROUP)) == NULL || qs_str(cg, "name", "quick") == -1 ||
	    qs_str(cg, "size", cache_size) == -1 || qs_str(cg, "stale_if_error", "1h") == -1 ||
	    qs_str(rt, "cache", "quick") == -1))
		goto nomem;
	c = config_from_conf(&cf, NULL, err);
	goto out;
nomem:
	oom(err);
out:
	free(list);
	conf_free(&cf);
	return c;
}
