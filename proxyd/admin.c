/*
 * proxyd/admin.c — operator interfaces on the control thread.
 *
 * The admin HTTP listener (admin.listen, e.g. 127.0.0.1:9901; lib/httpget, the
 * responder hacd's metrics listener uses too) answers
 * GET /status (the cluster status page) and /status.json (what it polls;
 * proxyd/status.c), /metrics (Prometheus text format, proxyd/metrics.c), /healthz (200 while
 * the process runs) and /readyz (200 while serving, 503 when draining,
 * stopping or waiting for the cluster's first TLS ticket key
 * (proxyd/cluster.c), for load balancers and hacd's tracking) — one request per
 * connection, then close. The admin unix socket (DIR/proxyd.sock, mode 0600)
 * takes line commands and answers each with text lines followed by an empty
 * line. Changes to servers go into struct pd_srv_shared (relaxed atomics) and
 * bump srvstate_version; workers fold them in on their next pick, so no lock
 * is taken on the request path.
 */
#include "proxyd/admin.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/httpget.h"
#include "lib/log.h"
#include "lib/net.h"
#include "lib/prom.h"
#include "proxyd/cache_rule.h"
#include "proxyd/cache_store.h"
#include "proxyd/cluster.h"
#include "proxyd/config.h"
#include "proxyd/hcheck.h"
#include "proxyd/metrics.h"
#include "proxyd/procstate.h"
#include "proxyd/status.h"

#define ADMIN_MAX_IN  8192
#define ADMIN_TIMEOUT 10000

/* A connection to the admin unix socket. */
struct aconn {
	struct ev_io io;
	struct ev_timer timer;
	struct buf in, out;
	int close_after;
	struct aconn *next;
};

static struct ev_loop *aloop;
static struct httpget *http;
static struct ev_io unix_io;
static char *unix_path;
static struct aconn *aconns;
static struct ev_defer reap_defer;
static struct aconn *reap_list;
/* Open connections on the unix socket, against admin.max_connections. */
static uint32_t nopen_unix;

int
admin_ready(void)
{
	return !atomic_load(&procstate_stopping) && !atomic_load(&procstate_draining) &&
	    !(aloop != NULL && cluster_tickets_awaited(ev_now(aloop)));
}

static void
aconn_close(struct aconn *a)
{
	struct aconn **pp;

	ev_io_stop(aloop, &a->io);
	ev_timer_stop(aloop, &a->timer);
	close(a->io.fd);
	nopen_unix--;
	for (pp = &aconns; *pp != NULL; pp = &(*pp)->next)
		if (*pp == a) {
			*pp = a->next;
			break;
		}
	a->next = reap_list;
	reap_list = a;
	ev_defer(aloop, &reap_defer);
}

static void
reap_cb(struct ev_loop *loop, struct ev_defer *d)
{
	(void)loop;
	(void)d;
	while (reap_list != NULL) {
		struct aconn *a = reap_list;
		reap_list = a->next;
		buf_fini(&a->in);
		buf_fini(&a->out);
		free(a);
	}
}

static void
aconn_flush(struct aconn *a)
{
	while (buf_len(&a->out) > 0) {
		ssize_t n = write(a->io.fd, buf_rptr(&a->out), buf_len(&a->out));
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				ev_io_start(aloop, &a->io, EV_READ | EV_WRITE);
				return;
			}
			aconn_close(a);
			return;
		}
		buf_consume(&a->out, (size_t)n);
	}
	if (a->close_after) {
		aconn_close(a);
		return;
	}
	ev_io_start(aloop, &a->io, EV_READ);
}

/* lib/httpget's handler: the admin listener's three paths. */
static int
http_handler(void *arg, const char *path, struct buf *body, const char **ctype)
{
	(void)arg;
	if (strcmp(path, "/healthz") == 0) {
		buf_appendf(body, "ok\n");
		return 200;
	}
	if (strcmp(path, "/readyz") == 0) {
		if (admin_ready()) {
			buf_appendf(body, "ready\n");
			return 200;
		}
		buf_appendf(body, "%s", atomic_load(&procstate_stopping) ? "stopping\n"
		    : atomic_load(&procstate_draining) ? "draining\n" : "waiting for the cluster's TLS ticket key\n");
		return 503;
	}
	if (strcmp(path, "/metrics") == 0) {
		metrics_render(body);
		*ctype = PROM_CONTENT_TYPE;
		return 200;
	}
	if (strcmp(path, "/status") == 0) {
		buf_appendf(body, "%s", status_page);
		*ctype = "text/html; charset=utf-8";
		return 200;
	}
	if (strcmp(path, "/status.json") == 0) {
		*ctype = "application/json";
		return status_render_json(body, ev_now(aloop)) == 0 ? 200 : 503;
	}
	buf_appendf(body, "not found: try /status, /status.json, /metrics, /healthz, /readyz\n");
	return 404;
}

/* admin.max_connections of the generation serving now, read at each accept. */
static uint32_t
admin_cap(void *arg)
{
	struct pd_config *g = procstate_current();
	uint32_t cap = g != NULL ? g->admin_max_conns : PD_ADMIN_MAX_CONNS;

	(void)arg;
	config_unref(g);
	return cap;
}

static void
cmd_show_servers(struct buf *o)
{
	struct pd_config *g = procstate_current();

	if (g == NULL)
		return;
	buf_appendf(o, "%-32s %-24s %6s %6s %6s %s\n", "upstream/server", "address", "weight", "conf", "eff", "state");
	for (size_t u = 0; u < g->nupstreams; u++)
		for (size_t s = 0; s < g->upstreams[u].nservers; s++) {
			const struct pd_server *sv = &g->upstreams[u].servers[s];
			char key[300];
			uint32_t w = atomic_load(&sv->shared->weight_override);
			uint32_t hw = atomic_load(&sv->shared->hweight), st = atomic_load(&sv->shared->state);
			uint32_t eff = st != PD_SRV_READY ? 0 : w == UINT32_MAX ? sv->weight : w;
			/* eff: what new requests see (health, ejection, slow start folded in). */
			if (hw != UINT32_MAX && hw < eff)
				eff = hw;
			snprintf(key, sizeof(key), "%s/%s", g->upstreams[u].name, sv->name);
			buf_appendf(o, "%-32s %-24s %6u %6u %6u %s\n", key, sv->address, w == UINT32_MAX ? sv->weight : w,
			    sv->weight, eff, srvstate_str((enum pd_admin_state)st));
		}
	config_unref(g);
}

static void
cmd_show_stats(struct buf *o)
{
	struct pd_config *g = procstate_current();
	uint64_t cls[5] = { 0 }, conns = 0;

	metrics_totals(cls, &conns);
	buf_appendf(o, "pid %d\ngeneration %llu\nconfig %s\nworkers %d\nready %d\ndraining %d\nstopping %d\n",
	    (int)getpid(), g ? (unsigned long long)g->generation : 0ull, g && g->path ? g->path : "(quick mode)",
	    procstate_workers(), admin_ready(), atomic_load(&procstate_draining), atomic_load(&procstate_stopping));
	buf_appendf(o, "connections_active %llu\nconnections_total %llu\n",
	    (unsigned long long)atomic_load(&procstate_active_conns), (unsigned long long)conns);
	buf_appendf(o, "requests_1xx %llu\nrequests_2xx %llu\nrequests_3xx %llu\nrequests_4xx %llu\nrequests_5xx %llu\n",
	    (unsigned long long)cls[0], (unsigned long long)cls[1], (unsigned long long)cls[2],
	    (unsigned long long)cls[3], (unsigned long long)cls[4]);
	config_unref(g);
}

static void
cmd_set_server(struct buf *o, char **av, int ac)
{
	char *slash;
	int state = -1;
	int64_t weight = -1;

	if (ac != 5 || (slash = strchr(av[2], '/')) == NULL) {
		buf_appendf(o, "error: usage: set server UPSTREAM/SERVER state ready|drain|maint | weight N\n");
		return;
	}
	*slash = '\0';
	if (strcmp(av[3], "state") == 0) {
		if (strcmp(av[4], "ready") == 0) state = PD_SRV_READY;
		else if (strcmp(av[4], "drain") == 0) state = PD_SRV_DRAIN;
		else if (strcmp(av[4], "maint") == 0) state = PD_SRV_MAINT;
		else {
			buf_appendf(o, "error: state must be ready, drain or maint\n");
			return;
		}
	} else if (strcmp(av[3], "weight") == 0) {
		char *end;
		long v = strtol(av[4], &end, 10);
		if (*av[4] == '\0' || *end != '\0' || v < 0 || v > (long)BAL_MAX_WEIGHT) {
			buf_appendf(o, "error: weight must be within 0..%u\n", BAL_MAX_WEIGHT);
			return;
		}
		weight = v;
	} else {
		buf_appendf(o, "error: set server: expected state or weight\n");
		return;
	}
	if (srvstate_set(av[2], slash + 1, state, weight) == -1) {
		buf_appendf(o, "error: no server %s/%s\n", av[2], slash + 1);
		return;
	}
	log_info("admin: server %s/%s %s %s", av[2], slash + 1, av[3], av[4]);
	hc_admin_changed();
	procstate_kick();
	buf_appendf(o, "ok\n");
}

/* cache purge NAME URL | cache purge NAME --prefix URL: the objects of
 * one key (every Vary variant) or of every key starting with the prefix,
 * in this node's cache NAME (docs/cache.md). */
static void
cmd_cache_purge(struct buf *o, char **av, int ac)
{
	int prefix = ac == 5 && strcmp(av[3], "--prefix") == 0;
	const char *url = prefix ? av[4] : av[3];
	struct cache_store *s;
	char key[8448];
	int kl;
	size_t n;

	if (!(ac == 4 || prefix)) {
		buf_appendf(o, "error: usage: cache purge CACHE URL | cache purge CACHE --prefix URL\n");
		return;
	}
	if ((kl = cache_url_key(url, strlen(url), key, sizeof(key))) < 0) {
		buf_appendf(o, "error: cache purge: not an http:// or https:// URL with a path: %s\n", url);
		return;
	}
	if ((s = cache_store_find(av[2])) == NULL) {
		buf_appendf(o, "error: cache purge: no cache named %s\n", av[2]);
		return;
	}
	n = prefix ? cache_store_purge_prefix(s, key, (size_t)kl) :
	    cache_store_remove(s, cache_key_hash(key, (size_t)kl), key, (size_t)kl);
	cache_store_release(s);
	log_info("admin: cache %s: purged %zu object%s for %s%s", av[2], n, n == 1 ? "" : "s", prefix ? "prefix " : "", url);
	buf_appendf(o, "ok: %zu purged\n", n);
}

static void
show_one_cache(void *ctx, struct cache_store *s)
{
	struct cache_stats *st = cache_store_stats(s);

	buf_appendf(ctx, "%s objects=%llu bytes=%llu hits=%llu misses=%llu passes=%llu evicted=%llu\n", cache_store_name(s),
	    (unsigned long long)atomic_load(&st->objects), (unsigned long long)atomic_load(&st->bytes),
	    (unsigned long long)atomic_load(&st->hits), (unsigned long long)atomic_load(&st->misses),
	    (unsigned long long)atomic_load(&st->passes), (unsigned long long)atomic_load(&st->evicted));
}

static void
unix_command(struct aconn *a, char *line)
{
	char *av[8], *save = NULL, *tok;
	int ac = 0;
	struct buf *o = &a->out;

	for (tok = strtok_r(line, " \t\r", &save); tok != NULL && ac < 8; tok = strtok_r(NULL, " \t\r", &save))
		av[ac++] = tok;
	if (ac == 0)
		return;
	if (ac == 2 && strcmp(av[0], "show") == 0 && strcmp(av[1], "stats") == 0)
		cmd_show_stats(o);
	else if (ac == 2 && strcmp(av[0], "show") == 0 && strcmp(av[1], "servers") == 0)
		cmd_show_servers(o);
	else if (ac >= 2 && strcmp(av[0], "set") == 0 && strcmp(av[1], "server") == 0)
		cmd_set_server(o, av, ac);
	else if (ac == 2 && strcmp(av[0], "show") == 0 && strcmp(av[1], "cache") == 0)
		cache_store_foreach(show_one_cache, o);
	else if (ac >= 3 && strcmp(av[0], "cache") == 0 && strcmp(av[1], "purge") == 0)
		cmd_cache_purge(o, av, ac);
	else if (ac == 2 && strcmp(av[0], "drain") == 0 && (strcmp(av[1], "on") == 0 || strcmp(av[1], "off") == 0)) {
		atomic_store(&procstate_draining, strcmp(av[1], "on") == 0);
		log_info("admin: drain %s", av[1]);
		procstate_kick();
		buf_appendf(o, "ok\n");
	} else if (ac == 1 && strcmp(av[0], "reload") == 0) {
		kill(getpid(), SIGHUP);
		buf_appendf(o, "ok: reload requested (result in the log)\n");
	} else if (ac == 1 && strcmp(av[0], "help") == 0) {
		buf_appendf(o, "show stats\nshow servers\nset server UPSTREAM/SERVER state ready|drain|maint\n"
		    "set server UPSTREAM/SERVER weight N\ndrain on|off\nshow cache\n"
		    "cache purge CACHE URL | cache purge CACHE --prefix URL\nreload\nquit\n");
	} else if (ac == 1 && strcmp(av[0], "quit") == 0) {
		a->close_after = 1;
		return;
	} else {
		buf_appendf(o, "error: unknown command (try help)\n");
	}
	buf_append(o, "\n", 1);
}

static void
aconn_io(struct ev_loop *loop, struct ev_io *w, uint32_t revents)
{
	struct aconn *a = w->data;
	ssize_t n;

	(void)loop;
	if (revents & EV_WRITE) {
		aconn_flush(a);
		return;
	}
	if (buf_reserve(&a->in, 1024) == -1) {
		aconn_close(a);
		return;
	}
	n = read(a->io.fd, buf_wptr(&a->in), buf_avail(&a->in));
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		aconn_close(a);
		return;
	}
	buf_produce(&a->in, (size_t)n);
	ev_timer_start(aloop, &a->timer, ADMIN_TIMEOUT);
	{
		char *nl;
		while ((nl = memchr(buf_rptr(&a->in), '\n', buf_len(&a->in))) != NULL) {
			size_t l = (size_t)(nl - (char *)buf_rptr(&a->in));
			char line[1024];
			if (l >= sizeof(line))
				l = sizeof(line) - 1;
			memcpy(line, buf_rptr(&a->in), l);
			line[l] = '\0';
			buf_consume(&a->in, (size_t)(nl - (char *)buf_rptr(&a->in)) + 1);
			unix_command(a, line);
			if (a->close_after)
				break;
		}
		if (buf_len(&a->in) >= ADMIN_MAX_IN) {
			buf_appendf(&a->out, "error: line too long\n\n");
			a->close_after = 1;
		}
	}
	if (buf_len(&a->out) > 0 || a->close_after)
		aconn_flush(a);
}

static void
aconn_timeout(struct ev_loop *loop, struct ev_timer *t)
{
	(void)loop;
	aconn_close(t->data);
}

static struct log_ratelimit rl_cap = LOG_RATELIMIT_INIT(5000);

static void
admin_accept(struct ev_loop *loop, struct ev_io *w, uint32_t revents)
{
	uint32_t cap = admin_cap(NULL);

	(void)revents;
	for (int i = 0; i < 16; i++) {
		int fd = net_accept(w->fd, NULL, NULL);
		struct aconn *a;
		if (fd == -1)
			return;
		/* Every admin connection holds an fd and a buffer for up to
		 * ADMIN_TIMEOUT: past the cap the newcomer is closed at once
		 * (so the backlog drains) and counted, and those open finish. */
		if (nopen_unix >= cap) {
			atomic_fetch_add_explicit(&metrics_admin_refused, 1, memory_order_relaxed);
			log_rl_warnx(&rl_cap, ev_now(loop), "admin socket: %u connections open (admin.max_connections): "
			    "refusing more", cap);
			close(fd);
			continue;
		}
		if ((a = calloc(1, sizeof(*a))) == NULL) {
			close(fd);
			return;
		}
		nopen_unix++;
		buf_init(&a->in);
		buf_init(&a->out);
		ev_io_init(&a->io, fd, aconn_io, a);
		ev_timer_init(&a->timer, aconn_timeout, a);
		a->next = aconns;
		aconns = a;
		ev_io_start(loop, &a->io, EV_READ);
		ev_timer_start(loop, &a->timer, 300000);
	}
}

int
admin_start(struct ev_loop *loop, const char *listen_addr, const char *sock_path)
{
	aloop = loop;
	ev_defer_init(&reap_defer, reap_cb, NULL);
	unix_io.fd = -1;
	if (listen_addr != NULL) {
		http = httpget_new(loop, listen_addr, "admin HTTP listener", http_handler, admin_cap, NULL);
		if (http == NULL)
			return -1;
		metrics_admin_listener(http);
	}
	if (sock_path != NULL) {
		int fd = net_listen_unix(sock_path, 0600);
		if (fd == -1) {
			/* Not fatal: quick mode run by a user without /run/tandem
			 * still proxies; only the runtime commands are missing. */
			log_warn("admin socket %s disabled", sock_path);
			return 0;
		}
		/* Without the path the socket could not be unlinked at stop. */
		if ((unix_path = strdup(sock_path)) == NULL) {
			log_warnx("admin socket %s: out of memory", sock_path);
			close(fd);
			unlink(sock_path);
			return 0;
		}
		ev_io_init(&unix_io, fd, admin_accept, NULL);
		ev_io_start(loop, &unix_io, EV_READ);
	}
	return 0;
}

void
admin_stop(struct ev_loop *loop)
{
	metrics_admin_listener(NULL);
	httpget_free(http);
	http = NULL;
	if (unix_io.fd >= 0) {
		ev_io_stop(loop, &unix_io);
		close(unix_io.fd);
		unix_io.fd = -1;
		if (unix_path != NULL)
			unlink(unix_path);
	}
	while (aconns != NULL)
		aconn_close(aconns);
	reap_cb(loop, NULL);
	status_free();
}
