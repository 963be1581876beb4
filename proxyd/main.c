/*
 * proxyd/main.c — process setup and the control thread.
 *
 * Order matters: load and check the configuration, open every listening socket
 * (privileged ports) and the admin sockets, drop root, block the signals the
 * control loop handles through signalfd (before any thread exists, so workers
 * inherit the mask), start the workers, then run the control loop: SIGHUP
 * reloads by generation, SIGTERM/SIGINT stop gracefully, the admin listener
 * and the hacd channel live here, and sd_notify tells systemd where we are.
 */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "lib/ev.h"
#include "lib/log.h"
#include "proxyd/accesslog.h"
#include "proxyd/admin.h"
#include "proxyd/channel.h"
#include "proxyd/config.h"
#include "proxyd/hcheck.h"
#include "proxyd/listener.h"
#include "proxyd/procstate.h"
#include "proxyd/ratelimit.h"
#include "proxyd/tls.h"
#include "proxyd/worker.h"

#define DEFAULT_RUNDIR "/run/tandem"

static const char *config_path;
static int nthreads;
static struct ev_loop *ctl_loop;
static struct ev_timer watchdog_timer;
static struct ev_timer stop_timer;
static uint64_t watchdog_ms;
static struct ev_timer rl_sweep_timer;

#define RL_SWEEP_MS 10000

/* Standalone ticket-key rotation (no hacd to hand out cluster keys):
 * a fresh key every tls_tickets.rotate, each decrypting for
 * tls_tickets.lifetime; the tick drops expired keys. */
#define TLS_TICK_MS 1000
static struct ev_timer tls_tick_timer;
static uint64_t tls_last_rotate_ms;

static void
tls_rotate_now(const struct pd_config *g, uint64_t now)
{
	struct tls_ticket_keys *k = tls_tickets_shared();

	if (k == NULL)
		return;
	if (tls_tickets_rotate(k, now, g->tls_lifetime_ms) == -1) {
		log_warnx("TLS ticket keys: rotation failed, the current key stays in use");
		return;
	}
	tls_last_rotate_ms = now;
	log_debug("TLS ticket keys: next rotation in %llu s", (unsigned long long)(g->tls_rotate_ms / 1000));
}

static void
tls_tick_cb(struct ev_loop *loop, struct ev_timer *t)
{
	struct pd_config *g = procstate_current();
	uint64_t now = ev_wall_ms();

	if (g != NULL && g->has_tls && tls_tickets_shared() != NULL) {
		struct tls_ticket_keys *k = tls_tickets_shared();
		uint8_t name[TLS_TICKET_NAME_LEN];

		tls_tickets_tick(k, now);
		if (atomic_load(&tls_tickets_external)) {
			/* hacd hands out the keys; fill in only if none seals. */
			if (tls_tickets_current(k, name) == -1)
				tls_rotate_now(g, now);
		} else if (tls_last_rotate_ms == 0 || now < tls_last_rotate_ms || /* clock stepped back */
		    now - tls_last_rotate_ms >= g->tls_rotate_ms || tls_tickets_current(k, name) == -1) {
			tls_rotate_now(g, now);
		}
	}
	config_unref(g);
	ev_timer_start(loop, t, TLS_TICK_MS);
}

/* Frees rate-limit entries whose windows are over and bans that ended, so
 * memory follows traffic down (eviction alone keeps it bounded). */
static void
rl_sweep_cb(struct ev_loop *loop, struct ev_timer *t)
{
	struct pd_config *g = procstate_current();
	uint64_t now = ev_wall_ms();

	for (size_t i = 0; g != NULL && i < g->nrlimits; i++)
		rl_expire(g->rlimits[i].t, now);
	config_unref(g);
	ev_timer_start(loop, t, RL_SWEEP_MS);
}

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: proxyd [-d] [-R DIR] -c FILE          run with a configuration file\n"
	    "       proxyd -t -c FILE                     check a configuration file and exit\n"
	    "       proxyd [-d] --listen ADDR --to HOST:PORT[,HOST:PORT...] [--threads N] [--compress]\n"
	    "                [--cache SIZE]\n"
	    "       proxyd [-d] [--listen ADDR] --tls-listen ADDR --cert FILE --key FILE --to LIST [--compress]\n"
	    "options:\n"
	    "  -c, --config FILE   configuration file (etc/proxyd.conf format)\n"
	    "  -t, --test          check the configuration and exit 0 (ok) or 1 (error)\n"
	    "  -R, --rundir DIR    runtime directory for proxyd.sock and hacd.chan (default " DEFAULT_RUNDIR ")\n"
	    "  -l, --listen ADDR   quick mode: listen address, e.g. *:8080 or 127.0.0.1:80\n"
	    "  -T, --to LIST       quick mode: comma-separated backend HOST:PORT list\n"
	    "      --tls-listen ADDR  quick mode: HTTPS listen address (with --cert and --key)\n"
	    "      --cert FILE     quick mode: PEM certificate, leaf first, then its chain\n"
	    "      --key FILE      quick mode: PEM private key (mode 0600)\n"
	    "      --compress      quick mode: compress responses (zstd, br, gzip as the client accepts;\n"
	    "                      text, JSON, JavaScript, XML, SVG of 256 bytes or more)\n"
	    "      --cache SIZE    quick mode: cache responses in RAM up to SIZE (e.g. 256m), RFC 9111\n"
	    "  -n, --threads N     worker threads (default: config, else one per core)\n"
	    "  -d, --debug         debug logging\n"
	    "  -h, --help          this text\n");
}

static void
drop_privileges(const char *user)
{
	struct passwd *pw;

	if (geteuid() != 0) {
		if (user != NULL)
			log_info("not started as root: running as uid %d, \"user\" ignored", (int)getuid());
		return;
	}
	/* proxyd's own account by default, never a shared one such as
	 * "nobody": hacd admits proxyd's uid to its channel, so every process
	 * of that uid could speak for proxyd there (and read the cluster's
	 * TLS ticket keys). */
	if (user == NULL)
		user = PD_DEFAULT_USER;
	if (strcmp(user, "root") == 0)
		fatalx("refusing to run as root after start: set \"user\" to an unprivileged account");
	if ((pw = getpwnam(user)) == NULL) {
		if (strcmp(user, PD_DEFAULT_USER) == 0)
			fatalx("user \"%s\" (proxyd's default \"user\") does not exist: create it "
			    "(scripts/add-users) or set \"user\" to proxyd's own account", user);
		fatalx("user \"%s\": no such user", user);
	}
	if (strcmp(user, "nobody") == 0)
		log_warnx("running as \"nobody\", an account other services share: any of them could "
		    "connect to hacd's channel as proxyd; use a dedicated user (tandem-proxyd)");
	if (pw->pw_uid == 0)
		fatalx("user \"%s\" has uid 0: refusing to run as root", user);
	if (setgroups(1, &pw->pw_gid) == -1 || setgid(pw->pw_gid) == -1 || setuid(pw->pw_uid) == -1)
		fatal("cannot drop privileges to %s", user);
	if (setuid(0) != -1)
		fatalx("privileges could be regained after dropping them");
	log_info("running as %s (uid %d)", user, (int)pw->pw_uid);
}

static void
reload(void)
{
	struct conf_err err;
	struct pd_config *nc, *old;

	if (config_path == NULL) {
		log_info("SIGHUP: quick mode has no configuration file to reload");
		return;
	}
	{
		/* systemd >= 253 matches RELOADING=1 to the reload it asked for
		 * by this stamp (sd_notify(3) MONOTONIC_USEC=); without it a
		 * Type=notify-reload unit's reload fails. */
		struct timespec mono;

		clock_gettime(CLOCK_MONOTONIC, &mono);
		sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
		    (unsigned long long)mono.tv_sec * 1000000ull + (unsigned long long)mono.tv_nsec / 1000u);
	}
	log_info("reloading %s", config_path);
	nc = config_load(config_path, &err);
	if (nc == NULL) {
		log_warnx("reload rejected, still serving the previous configuration: %s", err.msg);
		sd_notify(0, "READY=1");
		return;
	}
	old = procstate_current();
	if (nc->threads != 0 && nc->threads != worker_count())
		log_warnx("reload: \"threads\" changes take effect at the next restart");
	if (listener_open_all(nc, old, worker_count(), &err) == -1 ||
	    worker_prepare_gen(nc, worker_count()) == -1) {
		log_warnx("reload rejected, still serving the previous configuration: %s",
		    err.msg[0] ? err.msg : "out of memory");
		config_unref(nc);
		config_unref(old);
		sd_notify(0, "READY=1");
		return;
	}
	log_set_level((enum log_level)nc->log_level);
	log_info("reloaded %s: generation %llu (was %llu)", config_path, (unsigned long long)nc->generation,
	    old ? (unsigned long long)old->generation : 0ull);
	channel_set_generation(nc->generation);
	config_unref(old);
	hc_sync(nc);
	/* The first TLS listener of this process: a sealing key before its
	 * first client, not at the next tick. */
	if (nc->has_tls && tls_tickets_shared() != NULL && tls_tickets_count(tls_tickets_shared()) == 0)
		tls_rotate_now(nc, ev_wall_ms());
	worker_publish(nc);
	channel_status_changed();
	sd_notify(0, "READY=1");
}

static void stop_timer_cb(struct ev_loop *loop, struct ev_timer *t);

static void
signal_cb(struct ev_loop *loop, struct ev_signal *s, int signo)
{
	(void)s;
	if (atomic_load(&procstate_stopping))
		return;     /* already stopping: a second signal changes nothing */
	if (signo == SIGHUP) {
		reload();
		return;
	}
	log_info("signal %d: stopping (finishing in-flight requests)", signo);
	sd_notify(0, "STOPPING=1");
	atomic_store(&procstate_stopping, 1);
	channel_status_changed();
	worker_kick_all();
	/* Keep the control loop (admin /readyz saying 503, the channel) up
	 * until the workers are done; they enforce timeouts.shutdown. */
	ev_timer_start(loop, &stop_timer, 20);
}

static void
stop_timer_cb(struct ev_loop *loop, struct ev_timer *t)
{
	if (atomic_load(&procstate_running) == 0) {
		ev_stop(loop);
		return;
	}
	ev_timer_start(loop, t, 20);
}

static void
watchdog_cb(struct ev_loop *loop, struct ev_timer *t)
{
	sd_notify(0, "WATCHDOG=1");
	ev_timer_start(loop, t, watchdog_ms);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' }, { "test", no_argument, NULL, 't' },
		{ "rundir", required_argument, NULL, 'R' }, { "listen", required_argument, NULL, 'l' },
		{ "to", required_argument, NULL, 'T' }, { "threads", required_argument, NULL, 'n' },
		{ "debug", no_argument, NULL, 'd' }, { "help", no_argument, NULL, 'h' },
		{ "tls-listen", required_argument, NULL, 'S' }, { "cert", required_argument, NULL, 'C' },
		{ "key", required_argument, NULL, 'K' }, { "compress", no_argument, NULL, 'Z' },
		{ "cache", required_argument, NULL, 'M' },
		{ NULL, 0, NULL, 0 }
	};
	const char *rundir = DEFAULT_RUNDIR, *listen_addr = NULL, *to = NULL;
	const char *tls_listen = NULL, *cert = NULL, *key = NULL, *cache_size = NULL;
	int test = 0, debug = 0, compress = 0, ch, n;
	struct conf_err err;
	struct pd_config *gen;
	struct ev_signal sig_hup, sig_term, sig_int;
	char sock_path[4096], chan_path[4096];
	uint64_t wd_usec = 0;

	while ((ch = getopt_long(argc, argv, "c:tR:l:T:n:dh", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': config_path = optarg; break;
		case 't': test = 1; break;
		case 'R': rundir = optarg; break;
		case 'l': listen_addr = optarg; break;
		case 'T': to = optarg; break;
		case 'n': {
			/* Digits only: atoi took "2x" as 2 and a sign or blanks too. */
			char *end;
			long v = strtol(optarg, &end, 10);
			nthreads = optarg[0] >= '0' && optarg[0] <= '9' && *end == '\0' && v <= PD_MAX_WORKERS ? (int)v : -1;
			if (nthreads < 1 || nthreads > PD_MAX_WORKERS) {
				fprintf(stderr, "proxyd: --threads must be within 1..%d\n", PD_MAX_WORKERS);
				return 1;
			}
			break;
		}
		case 'S': tls_listen = optarg; break;
		case 'C': cert = optarg; break;
		case 'K': key = optarg; break;
		case 'Z': compress = 1; break;
		case 'M': cache_size = optarg; break;
		case 'd': debug = 1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 1;
		}
	}
	if (optind != argc || (config_path == NULL && ((listen_addr == NULL && tls_listen == NULL) || to == NULL)) ||
	    (config_path != NULL && (listen_addr != NULL || to != NULL || tls_listen != NULL)) ||
	    ((cert != NULL || key != NULL) && tls_listen == NULL) || ((compress || cache_size != NULL) && config_path != NULL)) {
		usage(stderr);
		return 1;
	}
	log_init("proxyd", 0, debug ? LOG_LVL_DEBUG : LOG_LVL_INFO);
	err.msg[0] = '\0';
	gen = config_path ? config_load(config_path, &err) :
	    config_quick_cache(listen_addr, tls_listen, cert, key, to, nthreads, compress, cache_size, &err);
	if (gen == NULL) {
		fprintf(stderr, "proxyd: %s\n", err.msg);
		return 1;
	}
	if (test) {
		/* Which names each TLS listener answers for, in SNI order. */
		for (size_t i = 0; i < gen->nlisteners; i++) {
			const char *names[64];
			size_t nn;

			if (gen->listeners[i].tls == NULL)
				continue;
			nn = tls_server_names(gen->listeners[i].tls, names, 64);
			printf("listener \"%s\" (%s): tls:", gen->listeners[i].name, gen->listeners[i].address);
			for (size_t k = 0; k < nn && k < 64; k++)
				printf(" %s", names[k]);
			printf("\n");
		}
		printf("%s: configuration ok\n", config_path ? config_path : "command line");
		config_unref(gen);
		return 0;
	}
	if (!debug)
		log_set_level((enum log_level)gen->log_level);
	n = nthreads ? nthreads : gen->threads ? gen->threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		n = 1;
	if (n > PD_MAX_WORKERS)
		n = PD_MAX_WORKERS;
	{
		/* One fd per client and per backend connection: take all we may. */
		struct rlimit rl;
		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
	}
	if (mkdir(rundir, 0755) == -1 && errno != EEXIST)
		log_warn("cannot create runtime directory %s", rundir);
	snprintf(sock_path, sizeof(sock_path), "%s/proxyd.sock", rundir);
	snprintf(chan_path, sizeof(chan_path), "%s/hacd.chan", rundir);
	if (accesslog_open(gen->access_log, gen->log_format) == -1)
		fatal("access log %s", gen->access_log);
	if (listener_open_all(gen, NULL, n, &err) == -1)
		fatalx("%s", err.msg);
	if (worker_prepare_gen(gen, n) == -1)
		fatalx("out of memory");
	signal(SIGPIPE, SIG_IGN);
	if ((ctl_loop = ev_loop_new()) == NULL)
		fatal("event loop");
	if (ev_signal_start(ctl_loop, &sig_hup, SIGHUP, signal_cb, NULL) == -1 ||
	    ev_signal_start(ctl_loop, &sig_term, SIGTERM, signal_cb, NULL) == -1 ||
	    ev_signal_start(ctl_loop, &sig_int, SIGINT, signal_cb, NULL) == -1)
		fatal("signals");
	if (admin_start(ctl_loop, gen->admin_listen, gen->admin_socket ? gen->admin_socket : sock_path) == -1)
		fatalx("cannot start the admin listeners");
	drop_privileges(gen->user);
	if (hc_start(ctl_loop) == -1)
		fatal("health checks");
	if (worker_start_all(n, gen) == -1)
		fatal("cannot start workers");
	hc_sync(gen);
	ev_timer_init(&rl_sweep_timer, rl_sweep_cb, NULL);
	ev_timer_start(ctl_loop, &rl_sweep_timer, RL_SWEEP_MS);
	/* The first ticket key before the first client; then the tick keeps
	 * rotating (also once a reload adds the first TLS listener). */
	if (gen->has_tls)
		tls_rotate_now(gen, ev_wall_ms());
	ev_timer_init(&tls_tick_timer, tls_tick_cb, NULL);
	ev_timer_start(ctl_loop, &tls_tick_timer, TLS_TICK_MS);
	channel_set_generation(gen->generation);
	if (channel_start(ctl_loop, gen->hacd_channel ? gen->hacd_channel : chan_path, gen->node) == -1)
		log_warnx("hacd channel disabled");
	log_info("proxyd ready: %d worker%s, %zu listener%s, generation %llu%s", n, n == 1 ? "" : "s",
	    gen->nlisteners, gen->nlisteners == 1 ? "" : "s", (unsigned long long)gen->generation,
	    config_path ? "" : " (quick mode)");
	sd_notify(0, "READY=1");
	ev_timer_init(&watchdog_timer, watchdog_cb, NULL);
	ev_timer_init(&stop_timer, stop_timer_cb, NULL);
	if (sd_watchdog_enabled(0, &wd_usec) > 0 && wd_usec > 0) {
		watchdog_ms = wd_usec / 2000;
		ev_timer_start(ctl_loop, &watchdog_timer, watchdog_ms);
	}
	channel_status_changed();
	if (ev_run(ctl_loop) == -1)
		log_warn("control loop failed");
	worker_join_all();
	hc_stop();
	ev_timer_stop(ctl_loop, &rl_sweep_timer);
	ev_timer_stop(ctl_loop, &tls_tick_timer);
	channel_stop();
	admin_stop(ctl_loop);
	log_info("proxyd stopped");
	return 0;
}
