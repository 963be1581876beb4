/*
 * hacd/main.c — the heartbeat daemon's entry point.
 *
 * Parses the command line, loads hacd.conf (hacd/config.c) and the key file
 * (lib/wire), takes the next epoch from the state directory so the peers'
 * replay windows keep refusing this node's datagrams of an earlier run
 * (its own windows start empty: hacd/fresh.c covers that), builds the node (hacd/node.c) and its control
 * socket (hacd/ctl.c) and, when admin.listen says so, its metrics listener
 * (hacd/metrics.c) on one lib/ev loop, drops every capability but
 * CAP_NET_ADMIN and CAP_NET_RAW, tells systemd it is ready, and runs. It
 * never forks into the background: systemd (Type=notify) or the lab's
 * scripts supervise it. SIGTERM/SIGINT hand owned VIPs over before exiting;
 * SIGHUP reloads like `hactl reload`.
 */
#include <errno.h>
#include <getopt.h>
#include <linux/capability.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "hacd/config.h"
#include "hacd/ctl.h"
#include "hacd/metrics.h"
#include "hacd/node.h"
#include "lib/ev.h"
#include "lib/log.h"
#include "lib/secfile.h"
#include "lib/wire.h"

struct hacd_main {
	struct ev_loop *loop;
	struct node node;
	struct ctl ctl;
	struct httpget *metrics;        /* admin.listen: GET /metrics; NULL none */
	struct ev_signal sigterm, sigint, sighup;
	struct ev_timer watchdog;
	uint64_t watchdog_ms;
};

static void usage(void)
{
	fprintf(stderr,
	    "usage: hacd -c FILE -n NODE [-R RUNDIR] [-S STATEDIR] [-d] [-f] [-w]\n"
	    "       hacd -t -c FILE [-n NODE]\n"
	    "  -c FILE      configuration (hacd.conf(5))\n"
	    "  -n NODE      this node's name in the configuration\n"
	    "  -R RUNDIR    control and channel sockets (default /run/tandem)\n"
	    "  -S STATEDIR  epoch file (default /var/lib/tandem)\n"
	    "  -d           debug logging\n"
	    "  -f           foreground (always; accepted for compatibility)\n"
	    "  -t           check the configuration and key file, then exit\n"
	    "  -w, --witness  run NODE as a witness: a vote for quorum, never a VIP\n"
	    "               (NODE must say witness = true in the configuration)\n");
	exit(2);
}

static int mkdir_p(const char *path, mode_t mode)
{
	char tmp[HACD_PATH_MAX];

	if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (char *p = tmp + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0755) == -1 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(tmp, mode) == -1 && errno != EEXIST)
		return -1;
	return 0;
}

/*
 * Keep CAP_NET_ADMIN (netlink address changes) and CAP_NET_RAW (the packet
 * socket for announcements) and drop everything else, from the bounding
 * set too so notify scripts and checks cannot regain it. Plain syscalls, no
 * libcap. Not being root (a test run) is not an error: nothing to drop.
 * The two stay inheritable when they were (hacd.service gives them as
 * ambient capabilities to hacd, which runs as its own user): the ambient set
 * lives only while a capability is both permitted and inheritable, and it is
 * what hands the two to notify and track scripts, which run as that user.
 * Started with those two alone (hacd.service's CapabilityBoundingSet=),
 * there is nothing to drop and capset(2) is not called: the unit refuses
 * it (SystemCallFilter=~@privileged).
 */
static void drop_capabilities(void)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2];
	uint32_t keep = (1u << CAP_NET_ADMIN) | (1u << CAP_NET_RAW);
	int dropped = 0;

	for (int cap = 0; cap <= 63; cap++) {
		if (cap == CAP_NET_ADMIN || cap == CAP_NET_RAW)
			continue;
		if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) != 1)
			continue;
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == 0)
			dropped++;
	}
	memset(data, 0, sizeof(data));
	if (syscall(SYS_capget, &hdr, data) == -1) {
		log_warn("capget");
		return;
	}
	if (((data[0].effective | data[0].permitted | data[0].inheritable) & ~keep) == 0 &&
	    (data[1].effective | data[1].permitted | data[1].inheritable) == 0) {
		log_debug("capabilities: CAP_NET_ADMIN and CAP_NET_RAW at most already, nothing to drop");
		return;
	}
	data[0].effective &= keep;
	data[0].permitted &= keep;
	data[0].inheritable &= keep;
	data[1].effective = data[1].permitted = data[1].inheritable = 0;
	if (syscall(SYS_capset, &hdr, data) == -1)
		log_warn("capset: keeping the capabilities hacd was started with");
	else
		log_debug("capabilities: kept CAP_NET_ADMIN and CAP_NET_RAW (%d dropped from the bounding set)",
		    dropped);
}

static void stop_done(void *arg)
{
	struct hacd_main *m = arg;

	ev_stop(m->loop);
}

static void sigterm_cb(struct ev_loop *loop, struct ev_signal *s, int signo)
{
	struct hacd_main *m = s->data;

	(void)loop;
	log_info("signal %d: stopping", signo);
	sd_notify(0, "STOPPING=1");
	node_stop(&m->node, stop_done, m);
}

static void reload_notify(void *arg, int ok)
{
	struct timespec mono;

	(void)arg;
	if (ok == -1) {
		/* systemd >= 253 matches RELOADING=1 to the reload it asked for
		 * by this stamp (sd_notify(3) MONOTONIC_USEC=); without it a
		 * Type=notify-reload unit's reload fails. */
		clock_gettime(CLOCK_MONOTONIC, &mono);
		sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
		    (unsigned long long)mono.tv_sec * 1000000ull + (unsigned long long)mono.tv_nsec / 1000u);
	} else {
		sd_notify(0, "READY=1");
	}
}

static void sighup_cb(struct ev_loop *loop, struct ev_signal *s, int signo)
{
	struct hacd_main *m = s->data;
	char msg[1024];

	(void)loop;
	(void)signo;
	reload_notify(m, -1);
	if (node_reload(&m->node, msg, sizeof(msg)) == -1)
		log_warnx("reload refused, running configuration kept: %s", msg);
	reload_notify(m, 1);
}

static void watchdog_cb(struct ev_loop *loop, struct ev_timer *t)
{
	struct hacd_main *m = t->data;

	sd_notify(0, "WATCHDOG=1");
	ev_timer_start(loop, t, m->watchdog_ms);
}

int main(int argc, char **argv)
{
	static struct hacd_main m;
	const char *conf_path = NULL, *name = NULL;
	const char *rundir = "/run/tandem", *statedir = "/var/lib/tandem";
	int check = 0, debug = 0, witness = 0, failed, opt;
	static const struct option longopts[] = {
		{ "witness", no_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 },
	};
	struct hacd_config *cfg;
	struct wire_keyring *kr;
	struct conf_err cerr;
	char err[512], path[HACD_PATH_MAX];
	uint64_t epoch, usec = 0;

	while ((opt = getopt_long(argc, argv, "c:n:R:S:dfthw", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c': conf_path = optarg; break;
		case 'n': name = optarg; break;
		case 'R': rundir = optarg; break;
		case 'S': statedir = optarg; break;
		case 'd': debug = 1; break;
		case 'f': break;
		case 't': check = 1; break;
		case 'w': witness = 1; break;
		default: usage();
		}
	}
	if (optind != argc || conf_path == NULL || (!check && name == NULL))
		usage();
	log_init("hacd", 0, debug ? LOG_LVL_DEBUG : LOG_LVL_INFO);

	cfg = hacd_config_load(conf_path, name, &cerr);
	if (cfg == NULL) {
		fprintf(stderr, "hacd: %s\n", cerr.msg);
		return 1;
	}
	/* The role is said twice, in the file and on the command line, so a
	 * witness's unit cannot start a VIP holder by a typo in -n, nor a
	 * node's unit a witness. */
	if (name != NULL && witness != cfg->nodes[cfg->self].witness) {
		fprintf(stderr, "hacd: %s: node %s %s\n", conf_path, name, witness ?
		    "is not a witness (witness = true in its nodes entry) but --witness was given" :
		    "is a witness: start it with hacd --witness");
		hacd_config_free(cfg);
		return 1;
	}
	/* As root (by hand, the lab, `hacd -t` from a root shell) a key file
	 * owned by hacd.service's user is trusted too: that account is hacd's
	 * own, and the package gives it the key (a root-owned one stays
	 * accepted); the epoch file likewise. Run as that user, only its own
	 * key will do: it cannot open root's 0600 file (lib/wire says so). */
	if (geteuid() == 0) {
		const struct passwd *pw = getpwnam(HACD_USER);

		if (pw != NULL && pw->pw_uid != 0)
			secfile_set_service_uid(pw->pw_uid);
	}
	kr = wire_keyring_new();
	if (kr == NULL)
		fatalx("cannot allocate the keyring");
	if (wire_keyring_load(kr, cfg->key_file, err, sizeof(err)) == -1) {
		fprintf(stderr, "hacd: %s\n", err);
		return 1;
	}
	if (check) {
		printf("%s: ok (cluster %s, %zu nodes, %zu VIPs)\n", conf_path, cfg->cluster,
		    cfg->nnodes, cfg->nvips);
		wire_keyring_free(kr);
		hacd_config_free(cfg);
		return 0;
	}
	if (mkdir_p(rundir, 0755) == -1)
		fatal("%s", rundir);
	if (mkdir_p(statedir, 0700) == -1)
		fatal("%s", statedir);
	snprintf(path, sizeof(path), "%s/hacd.epoch", statedir);
	if (wire_epoch_next(path, &epoch, err, sizeof(err)) == -1)
		fatalx("%s", err);

	signal(SIGPIPE, SIG_IGN);
	m.loop = ev_loop_new();
	if (m.loop == NULL)
		fatal("ev_loop_new");
	if (node_init(&m.node, m.loop, cfg, kr, epoch, rundir) == -1)
		fatalx("node %s: cannot start", name);
	snprintf(path, sizeof(path), "%s/hacd.ctl", rundir);
	if (ctl_open(&m.ctl, m.loop, path, &m.node) == -1)
		fatal("cannot listen on %s", path);
	m.ctl.on_reload = reload_notify;
	m.ctl.reload_arg = &m;
	m.metrics = hacd_metrics_listen(&m.node, &m.ctl, &failed);
	if (failed)
		fatalx("cannot open the metrics listener on %s", m.node.cfg->admin_listen);
	if (ev_signal_start(m.loop, &m.sigterm, SIGTERM, sigterm_cb, &m) == -1 ||
	    ev_signal_start(m.loop, &m.sigint, SIGINT, sigterm_cb, &m) == -1 ||
	    ev_signal_start(m.loop, &m.sighup, SIGHUP, sighup_cb, &m) == -1)
		fatal("signalfd");
	drop_capabilities();
	if (sd_watchdog_enabled(0, &usec) > 0 && usec >= 2000) {
		m.watchdog_ms = usec / 2000;   /* twice per watchdog period */
		ev_timer_init(&m.watchdog, watchdog_cb, &m);
		ev_timer_start(m.loop, &m.watchdog, m.watchdog_ms);
	}
	sd_notifyf(0, "READY=1\nSTATUS=node %s of cluster %s", name, cfg->cluster);

	if (ev_run(m.loop) == -1)
		log_warn("event loop failed");
	sd_notify(0, "STOPPING=1");
	httpget_free(m.metrics);
	ctl_close(&m.ctl);
	node_fini(&m.node);
	ev_loop_free(m.loop);
	log_info("stopped");
	return 0;
}
