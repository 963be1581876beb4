/*
 * hacd/hactl.c — the operator's CLI for hacd.
 *
 * Each command is one CtlRequest to hacd's control socket (hacd/ctl.c) and
 * one CtlResponse back, printed as a table or, with --json, as JSON for
 * scripts (drain, enable, maint and weight set server admin state that
 * hacd replicates to every node, hacd/repl.c; ratelimit and bans list the
 * cluster's rate-limit counts and bans, summed by hacd, with keys as text
 * by hacd/ratekey.c); `events` keeps reading until interrupted; `keygen`
 * needs no daemon. Commands are dispatched from a table of name, function and
 * one-line help, as in wireguard-tools' wg. Exit codes (hactl(8)):
 * 0 ok, 1 hacd refused or failed the command, 2 usage, 3 hacd unreachable.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "hacd/adminarg.h"
#include "hacd/config.h"
#include "hacd/ratekey.h"
#include "lib/ev.h"
#include "lib/frame.h"
#include "lib/net.h"
#include "lib/wire.h"
#include "proto/tandem.pb-c.h"

#define EXIT_HACD_ERR   1
#define EXIT_USAGE      2
#define EXIT_UNREACHABLE 3
#define HACTL_TIMEOUT_MS 5000

static const char *sock_path = "/run/tandem/hacd.ctl";
static char sock_buf[4096];

struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
};

static int cmd_help(int argc, char **argv);

static int connect_hacd(void)
{
	int fd = net_connect_unix(sock_path);

	if (fd == -1) {
		fprintf(stderr, "hactl: cannot reach hacd at %s: %s\n", sock_path, strerror(errno));
		exit(EXIT_UNREACHABLE);
	}
	return fd;
}

static void send_request(int fd, const char *command, int argc, char **argv)
{
	Tandem__CtlRequest req = TANDEM__CTL_REQUEST__INIT;
	uint8_t *buf;
	size_t n;

	req.command = (char *)command;
	req.n_args = (size_t)argc;
	req.args = argv;
	n = tandem__ctl_request__get_packed_size(&req);
	buf = malloc(n ? n : 1);
	if (buf == NULL) {
		fprintf(stderr, "hactl: out of memory\n");
		exit(EXIT_HACD_ERR);
	}
	tandem__ctl_request__pack(&req, buf);
	if (frame_send_blocking(fd, buf, n) == -1) {
		fprintf(stderr, "hactl: cannot send to hacd: %s\n", strerror(errno));
		exit(EXIT_UNREACHABLE);
	}
	free(buf);
}

/* One response; NULL only for a clean end of an events stream. */
static Tandem__CtlResponse *recv_response(int fd, int timeout_ms, int eof_ok)
{
	Tandem__CtlResponse *r;
	uint8_t *msg;
	size_t len;

	if (frame_recv_blocking(fd, &msg, &len, timeout_ms) == -1) {
		if (eof_ok && errno == ECONNRESET)
			return NULL;
		fprintf(stderr, "hactl: no answer from hacd: %s\n", strerror(errno));
		exit(EXIT_UNREACHABLE);
	}
	r = tandem__ctl_response__unpack(NULL, len, msg);
	free(msg);
	if (r == NULL) {
		fprintf(stderr, "hactl: undecodable answer from hacd\n");
		exit(EXIT_UNREACHABLE);
	}
	return r;
}

static Tandem__CtlResponse *call(const char *command, int argc, char **argv)
{
	int fd = connect_hacd();
	Tandem__CtlResponse *r;

	send_request(fd, command, argc, argv);
	r = recv_response(fd, HACTL_TIMEOUT_MS, 0);
	close(fd);
	return r;
}

/* Print the message and turn the status into an exit code. */
static int finish(Tandem__CtlResponse *r)
{
	int status = r->has_status ? r->status : 0;

	if (r->message != NULL && r->message[0] != '\0')
		fprintf(status == 0 ? stdout : stderr, "%s%s\n", status == 0 ? "" : "hactl: ", r->message);
	tandem__ctl_response__free_unpacked(r, NULL);
	if (status < 0 || status > EXIT_UNREACHABLE)
		status = EXIT_HACD_ERR;
	return status;
}

static const char *role_str(Tandem__VipRole r)
{
	switch (r) {
	case TANDEM__VIP_ROLE__VIP_INIT:   return "init";
	case TANDEM__VIP_ROLE__VIP_BACKUP: return "backup";
	case TANDEM__VIP_ROLE__VIP_MASTER: return "master";
	case TANDEM__VIP_ROLE__VIP_FAULT:  return "fault";
	default:                           return "?";
	}
}

static void health_str(const Tandem__NodeStatus *n, char *buf, size_t len)
{
	if (!n->alive || !n->has_health) {
		snprintf(buf, len, "-");
		return;
	}
	if (n->witness) {
		/* A witness runs no proxyd and holds no VIP: only its vote matters. */
		snprintf(buf, len, "witness");
		return;
	}
	snprintf(buf, len, "%s%s%s",
	    n->health & TANDEM__HEALTH_BITS__HEALTH_PROXYD_READY ? "proxyd" : "PROXYD-DOWN",
	    n->health & TANDEM__HEALTH_BITS__HEALTH_LINK_UP ? ",link" : ",LINK-DOWN",
	    n->health & TANDEM__HEALTH_BITS__HEALTH_SCRIPT_OK ? "" : ",SCRIPT-FAIL");
}

static void json_str(const char *s)
{
	putchar('"');
	for (; s != NULL && *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static void print_json(const Tandem__CtlResponse *r)
{
	printf("{\"node\":");
	json_str(r->node);
	printf(",\"maintenance\":%s,\"proxyd_ready\":%s",
	    r->maintenance ? "true" : "false", r->proxyd_ready ? "true" : "false");
	printf(",\"quorum\":{\"enabled\":%s,\"quorate\":%s,\"votes_seen\":%u,\"votes_needed\":%u}",
	    r->quorum ? "true" : "false", !r->has_quorate || r->quorate ? "true" : "false", r->votes_seen,
	    r->votes_needed);
	printf(",\"witness\":%s,\"vote_for\":", r->witness ? "true" : "false");
	if (r->vote_for != NULL)
		json_str(r->vote_for);
	else
		printf("null");
	printf(",\"nodes\":[");
	for (size_t i = 0; i < r->n_nodes; i++) {
		const Tandem__NodeStatus *n = r->nodes[i];

		printf("%s{\"name\":", i ? "," : "");
		json_str(n->node);
		printf(",\"address\":");
		json_str(n->address);
		printf(",\"self\":%s,\"alive\":%s", n->self ? "true" : "false", n->alive ? "true" : "false");
		if (n->has_last_heard_ms)
			printf(",\"last_heard_ms\":%llu", (unsigned long long)n->last_heard_ms);
		else
			printf(",\"last_heard_ms\":null");
		printf(",\"health\":%u,\"maintenance\":%s,\"config_drift\":%s,\"advert_ms\":%u",
		    n->health, n->maintenance ? "true" : "false", n->config_drift ? "true" : "false",
		    n->advert_ms);
		if (n->has_last_sync_ms)
			printf(",\"last_sync_ms\":%llu", (unsigned long long)n->last_sync_ms);
		else
			printf(",\"last_sync_ms\":null");
		printf(",\"synced\":%s,\"witness\":%s,\"quorate\":%s,\"votes\":%u", n->synced ? "true" : "false",
		    n->witness ? "true" : "false", !n->has_quorate || n->quorate ? "true" : "false", n->votes);
		if (n->vote_for != NULL) {
			printf(",\"vote_for\":");
			json_str(n->vote_for);
		}
		printf("}");
	}
	printf("],\"vips\":[");
	for (size_t i = 0; i < r->n_vips; i++) {
		const Tandem__VipStatus *v = r->vips[i];

		printf("%s{\"name\":", i ? "," : "");
		json_str(v->name);
		printf(",\"address\":");
		json_str(v->address);
		printf(",\"interface\":");
		json_str(v->interface);
		printf(",\"owner\":");
		if (v->owner != NULL)
			json_str(v->owner);
		else
			printf("null");
		printf(",\"role\":\"%s\",\"priority\":%u", role_str(v->role), v->priority);
		if (v->yield_to != NULL) {
			printf(",\"yield_to\":");
			json_str(v->yield_to);
		}
		if (v->bgp) {
			printf(",\"mode\":\"bgp\",\"announce\":");
			json_str(v->announce);
			printf(",\"announce_why\":");
			json_str(v->announce_why);
			printf(",\"announced_by\":[");
			for (size_t k = 0; k < v->n_announced_by; k++) {
				printf("%s", k ? "," : "");
				json_str(v->announced_by[k]);
			}
			printf("]");
		}
		printf("}");
	}
	printf("],\"counters\":{");
	for (size_t i = 0; i < r->n_counters; i++) {
		printf("%s", i ? "," : "");
		json_str(r->counters[i]->name);
		printf(":%llu", (unsigned long long)r->counters[i]->value);
	}
	printf("}}\n");
}

/* A BGP-mode group has no owner: every node announcing it carries it.
 * OWNER reads "(bgp)", ROLE this node's route, then who announces it. */
static void print_bgp_row(const Tandem__VipStatus *v)
{
	printf("%-12s %-22s %-10s %-12s %-8s by:", v->name ? v->name : "?", v->address ? v->address : "",
	    v->interface ? v->interface : "", "(bgp)", v->announce ? v->announce : "?");
	for (size_t k = 0; k < v->n_announced_by; k++)
		printf(" %s", v->announced_by[k]);
	if (v->n_announced_by == 0)
		printf(" none");
	if (v->announce_why != NULL && v->announce_why[0] != '\0')
		printf("  (%s)", v->announce_why);
	printf("\n");
}

static void print_table(const Tandem__CtlResponse *r, int verbose)
{
	char health[64], age[32], sync[48];

	printf("node %s%s, proxyd %s\n\n", r->node ? r->node : "?",
	    r->maintenance ? " (MAINTENANCE)" : "", r->proxyd_ready ? "ready" : "NOT READY");
	if (r->quorum)
		printf("quorum %s: %u of %zu votes, %u needed%s\n", r->quorate ? "yes" : "NO", r->votes_seen,
		    r->n_nodes, r->votes_needed, r->quorate ? "" : " (holding no VIP, claiming none)");
	if (r->witness)
		printf("witness: a vote only, votes for %s\n", r->vote_for ? r->vote_for : "nobody yet");
	if (r->quorum || r->witness)
		printf("\n");
	printf("%-12s %-22s %-6s %10s  %-24s %-6s %-5s %s\n", "NODE", "ADDRESS", "ALIVE", "LAST(ms)",
	    "HEALTH", "MAINT", "DRIFT", "SYNC(ms)");
	for (size_t i = 0; i < r->n_nodes; i++) {
		const Tandem__NodeStatus *n = r->nodes[i];

		health_str(n, health, sizeof(health));
		if (n->self)
			snprintf(age, sizeof(age), "self");
		else if (n->has_last_heard_ms)
			snprintf(age, sizeof(age), "%llu", (unsigned long long)n->last_heard_ms);
		else
			snprintf(age, sizeof(age), "never");
		if (n->self)
			snprintf(sync, sizeof(sync), "-");
		else if (n->has_last_sync_ms)
			snprintf(sync, sizeof(sync), "%llu%s", (unsigned long long)n->last_sync_ms,
			    n->synced ? "" : " (no bulk yet)");
		else
			snprintf(sync, sizeof(sync), "never");
		printf("%-12s %-22s %-6s %10s  %-24s %-6s %-5s %s\n", n->node ? n->node : "?",
		    n->address ? n->address : "", n->alive ? "yes" : "NO", age, health,
		    n->maintenance ? "yes" : "no", n->config_drift ? "YES" : "no", sync);
	}
	for (size_t i = 0; i < r->n_nodes; i++)
		if (r->nodes[i]->witness && !r->nodes[i]->self)
			printf("witness %s votes for %s\n", r->nodes[i]->node ? r->nodes[i]->node : "?",
			    r->nodes[i]->vote_for ? r->nodes[i]->vote_for : "nobody (or unheard)");
	printf("\n%-12s %-22s %-10s %-12s %-8s %s\n", "VIP", "ADDRESS", "INTERFACE", "OWNER", "ROLE",
	    "PRIORITY");
	for (size_t i = 0; i < r->n_vips; i++) {
		const Tandem__VipStatus *v = r->vips[i];

		if (v->bgp) {
			print_bgp_row(v);
			continue;
		}
		printf("%-12s %-22s %-10s %-12s %-8s %u%s%s\n", v->name ? v->name : "?",
		    v->address ? v->address : "", v->interface ? v->interface : "",
		    v->owner ? v->owner : "-", role_str(v->role), v->priority,
		    v->yield_to ? "  handing over to " : "", v->yield_to ? v->yield_to : "");
	}
	if (verbose) {
		printf("\n%-28s %s\n", "COUNTER", "VALUE");
		for (size_t i = 0; i < r->n_counters; i++)
			printf("%-28s %llu\n", r->counters[i]->name,
			    (unsigned long long)r->counters[i]->value);
	}
}

/* hactl status --watch: SIGINT/SIGTERM only set this flag, so the loop
 * ends between two frames and puts the terminal back the way it was. */
static volatile sig_atomic_t watch_stop;

static void watch_signal(int signo)
{
	(void)signo;
	watch_stop = 1;
}

/* Wait up to ms for the next frame; 1 when the operator asked to stop (a
 * signal, or q / Q typed on an interactive stdin). */
static int watch_wait(int ms, int keys)
{
	struct timespec end, now;

	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += ms / 1000;
	end.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (end.tv_nsec >= 1000000000L) {
		end.tv_sec++;
		end.tv_nsec -= 1000000000L;
	}
	while (!watch_stop) {
		struct pollfd pfd = { .fd = STDIN_FILENO, .events = POLLIN };
		long left;
		int n;

		clock_gettime(CLOCK_MONOTONIC, &now);
		left = (long)(end.tv_sec - now.tv_sec) * 1000L + (end.tv_nsec - now.tv_nsec) / 1000000L;
		if (left <= 0)
			return 0;
		n = poll(&pfd, keys ? 1 : 0, (int)left);
		if (n > 0) {
			char c;

			if (read(STDIN_FILENO, &c, 1) != 1)
				keys = 0;       /* stdin closed: watch the clock only */
			else if (c == 'q' || c == 'Q')
				return 1;
		}
	}
	return 1;
}

/* Redraw the status every interval until interrupted, q, or count frames
 * (0: no limit). Each frame is a fresh connection to hacd, as a plain
 * `hactl status`, so a watch holds nothing open in hacd between frames. */
static int status_watch(int json, int verbose, int interval_ms, long count)
{
	struct sigaction sa;
	struct termios saved, raw;
	int tty_out = isatty(STDOUT_FILENO), keys = isatty(STDIN_FILENO), raw_set = 0, rc = 0;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = watch_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	/* Keys without Enter and without echo; restored before returning. */
	if (keys && tcgetattr(STDIN_FILENO, &saved) == 0) {
		raw = saved;
		raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
		raw.c_cc[VMIN] = 1;
		raw.c_cc[VTIME] = 0;
		raw_set = tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
	}
	for (long frame = 0; !watch_stop && (count == 0 || frame < count); frame++) {
		Tandem__CtlResponse *r = call("status", 0, NULL);
		char stamp[32];
		time_t t = time(NULL);

		if (r->has_status && r->status != 0) {
			rc = finish(r);
			break;
		}
		strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", localtime(&t));
		if (json) {
			print_json(r);          /* one object per line, per frame */
		} else {
			if (tty_out)
				fputs("\033[H\033[2J", stdout);   /* home, clear screen */
			else if (frame > 0)
				putchar('\n');
			printf("hactl status --watch: every %d.%03d s, %s (q or Ctrl-C to stop)\n",
			    interval_ms / 1000, interval_ms % 1000, stamp);
			print_table(r, verbose);
		}
		tandem__ctl_response__free_unpacked(r, NULL);
		fflush(stdout);
		if ((count != 0 && frame + 1 >= count) || watch_wait(interval_ms, keys))
			break;
	}
	if (raw_set)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved);
	return rc;
}

#define USAGE_STATUS "usage: hactl status [--json] [--counters] " \
	"[--watch [--interval SECONDS] [--count N]]\n"

static int cmd_status(int argc, char **argv)
{
	Tandem__CtlResponse *r;
	int json = 0, verbose = 0, watch = 0, interval_ms = 2000;
	long count = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else if (strcmp(argv[i], "-v") == 0 || strcmp(argv[i], "--counters") == 0)
			verbose = 1;
		else if (strcmp(argv[i], "-w") == 0 || strcmp(argv[i], "--watch") == 0)
			watch = 1;
		else if ((strcmp(argv[i], "--interval") == 0 || strcmp(argv[i], "-i") == 0) && i + 1 < argc) {
			/* Bounded both ways: faster than 0.1 s would only load hacd's
			 * control socket, slower than an hour is not watching. */
			char *end;
			double s = strtod(argv[++i], &end);

			if (end == argv[i] || *end != '\0' || !(s >= 0.1 && s <= 3600)) {
				fprintf(stderr, "hactl: --interval must be 0.1..3600 seconds\n");
				return EXIT_USAGE;
			}
			interval_ms = (int)(s * 1000 + 0.5);
			watch = 1;
		} else if ((strcmp(argv[i], "--count") == 0 || strcmp(argv[i], "-n") == 0) && i + 1 < argc) {
			char *end;

			errno = 0;
			count = strtol(argv[++i], &end, 10);
			if (errno != 0 || end == argv[i] || *end != '\0' || count < 1 || count > 1000000) {
				fprintf(stderr, "hactl: --count must be 1..1000000\n");
				return EXIT_USAGE;
			}
			watch = 1;
		} else {
			fputs(USAGE_STATUS, stderr);
			return EXIT_USAGE;
		}
	}
	if (watch)
		return status_watch(json, verbose, interval_ms, count);
	r = call("status", 0, NULL);
	if (r->has_status && r->status != 0)
		return finish(r);
	if (json)
		print_json(r);
	else
		print_table(r, verbose);
	tandem__ctl_response__free_unpacked(r, NULL);
	return 0;
}

/* After a failover or maintenance request: poll until no handover is in
 * progress on this node (done or abandoned), at most 10 s. */
static int wait_handover(void)
{
	for (int i = 0; i < 200; i++) {
		Tandem__CtlResponse *r = call("status", 0, NULL);
		int busy = 0;

		for (size_t v = 0; v < r->n_vips; v++)
			busy |= r->vips[v]->yield_to != NULL;
		if (!busy) {
			for (size_t v = 0; v < r->n_vips; v++)
				printf("%s: owner %s\n", r->vips[v]->name,
				    r->vips[v]->owner ? r->vips[v]->owner : "none");
			tandem__ctl_response__free_unpacked(r, NULL);
			return 0;
		}
		tandem__ctl_response__free_unpacked(r, NULL);
		usleep(50000);
	}
	fprintf(stderr, "hactl: handover still in progress after 10 s\n");
	return EXIT_HACD_ERR;
}

static int cmd_failover(int argc, char **argv)
{
	char *args[4];
	int n = 0, have_vip = 0, wait = 0, rc;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--wait") == 0) {
			wait = 1;
		} else if (strcmp(argv[i], "--to") == 0) {
			if (++i >= argc)
				goto usage;
			args[n++] = argv[i - 1];
			args[n++] = argv[i];
		} else if (argv[i][0] == '-' || have_vip++) {
			goto usage;
		} else {
			args[n++] = argv[i];
		}
		if (n > 3)
			goto usage;
	}
	rc = finish(call("failover", n, args));
	if (rc == 0 && wait)
		rc = wait_handover();
	return rc;
usage:
	fprintf(stderr, "usage: hactl failover [VIP] [--to NODE] [--wait]\n");
	return EXIT_USAGE;
}

static int cmd_maintenance(int argc, char **argv)
{
	int wait = argc == 3 && strcmp(argv[2], "--wait") == 0, rc;

	if ((argc != 2 && !wait) || (strcmp(argv[1], "on") != 0 && strcmp(argv[1], "off") != 0)) {
		fprintf(stderr, "usage: hactl maintenance on|off [--wait]\n");
		return EXIT_USAGE;
	}
	rc = finish(call("maintenance", 1, argv + 1));
	if (rc == 0 && wait)
		rc = wait_handover();
	return rc;
}

static int cmd_reload(int argc, char **argv)
{
	(void)argv;
	if (argc != 1) {
		fprintf(stderr, "usage: hactl reload\n");
		return EXIT_USAGE;
	}
	return finish(call("reload", 0, NULL));
}

/* hactl cache stats [--json]: one row per cache per node that reported,
 * and the cluster's total per cache name (docs/cache.md). */
static int cache_stats(int json)
{
	char *arg = "stats";
	Tandem__CtlResponse *r = call("cache", 1, &arg);
	int status = r->has_status ? r->status : 0;
	uint64_t tot[8] = { 0 };

	if (status != 0)
		return finish(r);
	if (r->message != NULL && r->message[0] != '\0')
		fprintf(stderr, "%s\n", r->message);
	if (json) {
		printf("{\"node\":");
		json_str(r->node);
		printf(",\"nodes\":[");
	} else {
		printf("%-12s %-12s %8s %10s %12s %10s %10s %8s %12s %12s %12s %10s\n", "NODE", "CACHE", "AGE_MS", "OBJECTS",
		    "BYTES", "HITS", "MISSES", "HIT%", "STALE", "STORED_B", "EVICTED_B", "PREFETCHED");
	}
	for (size_t i = 0; i < r->n_cache_nodes; i++) {
		const Tandem__CacheSummary *n = r->cache_nodes[i];

		if (json) {
			printf("%s{\"node\":", i ? "," : "");
			json_str(n->node);
			printf(",\"age_ms\":%llu,\"caches\":[", (unsigned long long)n->age_ms);
		}
		for (size_t j = 0; j < n->n_caches; j++) {
			const Tandem__CacheStats *c = n->caches[j];
			uint64_t lk = c->hits + c->misses;

			tot[0] += c->objects; tot[1] += c->bytes; tot[2] += c->hits; tot[3] += c->misses;
			tot[4] += c->stale_served; tot[5] += c->stored_bytes; tot[6] += c->evicted_bytes; tot[7] += c->prefetched;
			if (json) {
				printf("%s{\"name\":", j ? "," : "");
				json_str(c->name);
				printf(",\"objects\":%llu,\"bytes\":%llu,\"hits\":%llu,\"misses\":%llu,\"stale_served\":%llu,"
				    "\"stored_bytes\":%llu,\"evicted_bytes\":%llu,\"prefetched\":%llu}",
				    (unsigned long long)c->objects, (unsigned long long)c->bytes, (unsigned long long)c->hits,
				    (unsigned long long)c->misses, (unsigned long long)c->stale_served,
				    (unsigned long long)c->stored_bytes, (unsigned long long)c->evicted_bytes,
				    (unsigned long long)c->prefetched);
				continue;
			}
			printf("%-12.12s %-12.12s %8llu %10llu %12llu %10llu %10llu %7.1f%% %12llu %12llu %12llu %10llu\n", n->node ? n->node : "?",
			    c->name ? c->name : "?", (unsigned long long)n->age_ms, (unsigned long long)c->objects,
			    (unsigned long long)c->bytes, (unsigned long long)c->hits, (unsigned long long)c->misses,
			    lk ? 100.0 * (double)c->hits / (double)lk : 0.0, (unsigned long long)c->stale_served,
			    (unsigned long long)c->stored_bytes, (unsigned long long)c->evicted_bytes,
			    (unsigned long long)c->prefetched);
		}
		if (json)
			printf("]}");
	}
	if (json) {
		printf("],\"total\":{\"objects\":%llu,\"bytes\":%llu,\"hits\":%llu,\"misses\":%llu,\"stale_served\":%llu,"
		    "\"stored_bytes\":%llu,\"evicted_bytes\":%llu,\"prefetched\":%llu}}\n",
		    (unsigned long long)tot[0], (unsigned long long)tot[1], (unsigned long long)tot[2],
		    (unsigned long long)tot[3], (unsigned long long)tot[4], (unsigned long long)tot[5],
		    (unsigned long long)tot[6], (unsigned long long)tot[7]);
	} else {
		printf("%-12s %-12s %8s %10llu %12llu %10llu %10llu %7.1f%% %12llu %12llu %12llu %10llu\n", "cluster", "*", "-",
		    (unsigned long long)tot[0], (unsigned long long)tot[1], (unsigned long long)tot[2],
		    (unsigned long long)tot[3], tot[2] + tot[3] ? 100.0 * (double)tot[2] / (double)(tot[2] + tot[3]) : 0.0,
		    (unsigned long long)tot[4], (unsigned long long)tot[5], (unsigned long long)tot[6],
		    (unsigned long long)tot[7]);
	}
	tandem__ctl_response__free_unpacked(r, NULL);
	return 0;
}

static int cmd_cache(int argc, char **argv)
{
	int opt = argc == 4 && (strcmp(argv[2], "--prefix") == 0 || strcmp(argv[2], "--tag") == 0);

	if (argc >= 2 && strcmp(argv[1], "stats") == 0) {
		if (argc > 3 || (argc == 3 && strcmp(argv[2], "--json") != 0)) {
			fprintf(stderr, "usage: hactl cache stats [--json]\n");
			return EXIT_USAGE;
		}
		return cache_stats(argc == 3);
	}
	if (argc < 3 || strcmp(argv[1], "purge") != 0 || !(argc == 3 || opt)) {
		fprintf(stderr, "usage: hactl cache purge URL | hactl cache purge --prefix URL | hactl cache purge --tag TAG | hactl cache stats [--json]\n");
		return EXIT_USAGE;
	}
	return finish(call("cache", argc - 1, argv + 1));
}

static int cmd_events(int argc, char **argv)
{
	Tandem__CtlResponse *r;
	int fd;

	(void)argv;
	if (argc != 1) {
		fprintf(stderr, "usage: hactl events\n");
		return EXIT_USAGE;
	}
	fd = connect_hacd();
	send_request(fd, "events", 0, NULL);
	r = recv_response(fd, HACTL_TIMEOUT_MS, 0);
	if (r->has_status && r->status != 0)
		return finish(r);
	tandem__ctl_response__free_unpacked(r, NULL);
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (;;) {
		r = recv_response(fd, -1, 1);
		if (r == NULL) {
			fprintf(stderr, "hactl: hacd closed the connection\n");
			return EXIT_UNREACHABLE;
		}
		if (r->event != NULL)
			printf("%s\n", r->event);
		tandem__ctl_response__free_unpacked(r, NULL);
	}
}

/*
 * keygen -o FILE: a new key file. Never over an existing file (O_EXCL): that
 * is the cluster's key, and replacing it on one node cuts the node off.
 * Mode 0600 and, run as root, owned by hacd's system user (HACD_USER) when
 * it exists: hacd.service runs hacd as that user, which can read no other
 * account's 0600 file (the key's owner rule: lib/secfile). Otherwise it is
 * the caller's. A half-written file is removed.
 */
static int write_key_file(const char *path, const char *line)
{
	const struct passwd *pw = NULL;
	size_t len = strlen(line), off = 0;
	ssize_t n;
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
	if (fd == -1) {
		fprintf(stderr, "hactl: %s: %s%s\n", path, strerror(errno),
		    errno == EEXIST ? " (a key file is never overwritten: add a key with "
		    "`hactl keygen ID >> FILE`, or remove the file first)" : "");
		return -1;
	}
	if (geteuid() == 0)
		pw = getpwnam(HACD_USER);
	if (fchmod(fd, 0600) == -1 || (pw != NULL && fchown(fd, pw->pw_uid, pw->pw_gid) == -1))
		goto fail;
	while (off < len) {
		n = write(fd, line + off, len - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			goto fail;
		off += (size_t)n;
	}
	if (fsync(fd) == -1)
		goto fail;
	if (close(fd) == -1) {
		fd = -1;
		goto fail;
	}
	fprintf(stderr, "hactl: wrote %s (mode 0600, owner %s)\n", path,
	    pw != NULL ? HACD_USER : geteuid() == 0 ? "root: no user " HACD_USER : "the caller");
	return 0;
fail:
	fprintf(stderr, "hactl: %s: %s\n", path, strerror(errno));
	if (fd != -1)
		close(fd);
	unlink(path);
	return -1;
}

static int cmd_keygen(int argc, char **argv)
{
	char line[WIRE_KEYGEN_LINE + 1], *end;
	const char *out = NULL;
	unsigned long id = 1;
	int rc = 0;

	argc--;
	argv++;
	if (argc >= 2 && strcmp(argv[0], "-o") == 0) {
		out = argv[1];
		argc -= 2;
		argv += 2;
		if (out[0] == '\0')
			goto usage;
	}
	if (argc > 1)
		goto usage;
	if (argc == 1) {
		errno = 0;
		id = strtoul(argv[0], &end, 10);
		if (errno != 0 || *end != '\0' || argv[0][0] == '\0' || argv[0][0] == '-' ||
		    id > 0xffffffffUL)
			goto usage;
	}
	if (wire_keygen((uint32_t)id, line, WIRE_KEYGEN_LINE) == -1) {
		fprintf(stderr, "hactl: key generation failed\n");
		return EXIT_HACD_ERR;
	}
	if (out == NULL) {
		printf("%s\n", line);
	} else {
		strcat(line, "\n");
		rc = write_key_file(out, line) == 0 ? 0 : EXIT_HACD_ERR;
	}
	explicit_bzero(line, sizeof(line));
	return rc;
usage:
	fprintf(stderr, "usage: hactl keygen [-o FILE] [ID]   (ID: 0..4294967295, default 1)\n");
	return EXIT_USAGE;
}

/* drain|enable|maint UPSTREAM/SERVER, weight UPSTREAM/SERVER N: checked
 * here first (exit 2 without asking hacd), then hacd checks again. */
static int cmd_admin_set(int argc, char **argv)
{
	struct adminarg a;
	char msg[300];

	/* drain NODE / enable NODE: a node name has no '/'; hacd/bgp.c. */
	if (argc == 2 && (strcmp(argv[0], "drain") == 0 || strcmp(argv[0], "enable") == 0) &&
	    strchr(argv[1], '/') == NULL)
		return finish(call(strcmp(argv[0], "drain") == 0 ? "node-drain" : "node-enable", 1, argv + 1));
	if (adminarg_parse(argv[0], (size_t)(argc - 1), argv + 1, &a, msg, sizeof(msg)) == -1) {
		fprintf(stderr, "hactl: %s\n", msg);
		if (strncmp(msg, "usage: ", 7) != 0)
			fprintf(stderr, "usage: hactl %s UPSTREAM/SERVER%s\n", argv[0],
			    strcmp(argv[0], "weight") == 0 ? " N" : "");
		return EXIT_USAGE;
	}
	return finish(call(argv[0], argc - 1, argv + 1));
}

static int cmd_admin(int argc, char **argv)
{
	Tandem__CtlResponse *r;
	int json = argc == 2 && strcmp(argv[1], "--json") == 0;

	if (argc > 2 || (argc == 2 && !json)) {
		fprintf(stderr, "usage: hactl admin [--json]\n");
		return EXIT_USAGE;
	}
	r = call("admin", 0, NULL);
	if (r->has_status && r->status != 0)
		return finish(r);
	if (json) {
		printf("{\"node\":");
		json_str(r->node);
		printf(",\"admin\":[");
	} else {
		printf("%-32s %-6s %6s %-12s %s\n", "UPSTREAM/SERVER", "STATE", "WEIGHT", "SET-BY", "SET (unix ms)");
	}
	for (size_t i = 0; i < r->n_admin; i++) {
		const Tandem__ServerAdmin *a = r->admin[i];
		const char *state = adminarg_state_str(a->has_state ? (int)a->state : 0);
		char key[140], w[16];

		snprintf(key, sizeof(key), "%s/%s", a->upstream ? a->upstream : "?", a->server ? a->server : "?");
		if (json) {
			printf("%s{\"upstream\":", i ? "," : "");
			json_str(a->upstream);
			printf(",\"server\":");
			json_str(a->server);
			printf(",\"state\":\"%s\",\"weight\":", state);
			if (a->has_weight)
				printf("%u", (unsigned)a->weight);
			else
				printf("null");
			printf(",\"origin\":");
			json_str(a->origin);
			printf(",\"set_unix_ms\":%llu}", (unsigned long long)a->set_unix_ms);
			continue;
		}
		if (a->has_weight)
			snprintf(w, sizeof(w), "%u", (unsigned)a->weight);
		else
			snprintf(w, sizeof(w), "-");
		printf("%-32s %-6s %6s %-12s %llu\n", key, state, w,
		    a->origin && a->origin[0] ? a->origin : "-", (unsigned long long)a->set_unix_ms);
	}
	if (json)
		printf("]}\n");
	tandem__ctl_response__free_unpacked(r, NULL);
	return 0;
}

/* ---- ratelimit top|show, bans ------------------------------------------- */

#define USAGE_RATELIMIT "usage: hactl ratelimit top [N] [--limit NAME] [--json]\n" \
                        "       hactl ratelimit show LIMIT KEY [--json]\n" \
                        "       hactl ratelimit reset LIMIT KEY\n"
#define USAGE_BANS      "usage: hactl bans [--limit NAME] [--json]\n"

static const char *key_text(const ProtobufCBinaryData *k, char buf[RATEKEY_TEXT_MAX])
{
	ratekey_format(k->data, k->len, buf, RATEKEY_TEXT_MAX);
	return buf;
}

static int summed(const Tandem__RateCount *m)
{
	return m->origin == NULL || m->origin[0] == '\0';
}

static int same_key(const Tandem__RateCount *a, const Tandem__RateCount *b)
{
	return strcmp(a->limit ? a->limit : "", b->limit ? b->limit : "") == 0 && a->key.len == b->key.len &&
	    (a->key.len == 0 || memcmp(a->key.data, b->key.data, a->key.len) == 0);
}

/* Split --json from the arguments hacd gets; 1 if it was there. */
static int take_json(int argc, char **argv, char **rest, int *nrest)
{
	int json = 0;

	*nrest = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else
			rest[(*nrest)++] = argv[i];
	}
	return json;
}

/* ratekey_args_parse's reason, then hactl's usage (with --json) in place
 * of the one in the reason (hacd's, without it). */
static int ratekey_usage(const char *msg, const char *usage)
{
	const char *cut = strstr(msg, "usage: ");

	if (cut == NULL)
		fprintf(stderr, "hactl: %s\n", msg);
	else if (cut - msg > 2)
		fprintf(stderr, "hactl: %.*s\n", (int)(cut - msg - 2), msg);   /* without "; " */
	fputs(usage, stderr);
	return EXIT_USAGE;
}

/* A listing's note (hacd cut it short): on stderr, so --json stays clean. */
static void print_note(const Tandem__CtlResponse *r)
{
	if (r->message != NULL && r->message[0] != '\0')
		fprintf(stderr, "hactl: %s\n", r->message);
}

static void print_origins_json(Tandem__RateCount **v, size_t n)
{
	printf("{");
	for (size_t i = 0; i < n; i++) {
		printf("%s", i ? "," : "");
		json_str(v[i]->origin);
		printf(":%llu", (unsigned long long)v[i]->count);
	}
	printf("}");
}

/* hacd sends, per key: the current window's sum, the previous window's sum
 * (if any; an older window_start), then one row per node in the current
 * window (hacd/ctl.c do_rate_top). hacd runs on this host, so its wall
 * clock is ours: ages here and remaining times in `bans` are computed from
 * the absolute stamps it sends. */
static void print_top(const Tandem__CtlResponse *r, int json)
{
	int64_t now = (int64_t)ev_wall_ms();
	char kb[RATEKEY_TEXT_MAX];
	int first = 1;

	if (json) {
		printf("{\"node\":");
		json_str(r->node);
		printf(",\"top\":[");
	} else {
		printf("%-16s %-30s %10s %10s %7s %5s\n", "LIMIT", "KEY", "CURRENT", "PREVIOUS", "AGE(s)", "NODES");
	}
	for (size_t i = 0, j; i < r->n_rates; i = j) {
		const Tandem__RateCount *cur = r->rates[i], *prev = NULL;
		size_t o = i + 1;
		int64_t age = now - (int64_t)cur->window_start_unix_ms;

		for (j = i + 1; j < r->n_rates && same_key(cur, r->rates[j]); j++)
			;
		if (o < j && summed(r->rates[o]))
			prev = r->rates[o++];
		if (json) {
			printf("%s{\"limit\":", first ? "" : ",");
			json_str(cur->limit);
			printf(",\"key\":");
			json_str(key_text(&cur->key, kb));
			printf(",\"current\":%llu,\"previous\":%llu,\"window_start_unix_ms\":%llu",
			    (unsigned long long)cur->count, (unsigned long long)(prev ? prev->count : 0),
			    (unsigned long long)cur->window_start_unix_ms);
			if (prev != NULL)
				printf(",\"previous_window_start_unix_ms\":%llu",
				    (unsigned long long)prev->window_start_unix_ms);
			else
				printf(",\"previous_window_start_unix_ms\":null");
			printf(",\"age_ms\":%lld,\"nodes\":%zu,\"origins\":", (long long)age, j - o);
			print_origins_json(r->rates + o, j - o);
			printf("}");
		} else {
			char pv[24];

			if (prev != NULL)
				snprintf(pv, sizeof(pv), "%llu", (unsigned long long)prev->count);
			else
				snprintf(pv, sizeof(pv), "-");
			printf("%-16s %-30s %10llu %10s %7.1f %5zu\n", cur->limit ? cur->limit : "?",
			    key_text(&cur->key, kb), (unsigned long long)cur->count, pv, (double)age / 1000, j - o);
		}
		first = 0;
	}
	if (json)
		printf("]}\n");
}

/* Per window, newest first: the sum, then each node's row. */
static void print_show(const Tandem__CtlResponse *r, int json)
{
	int64_t now = (int64_t)ev_wall_ms();
	char kb[RATEKEY_TEXT_MAX];
	const Tandem__RateCount *r0 = r->n_rates ? r->rates[0] : NULL;

	if (json) {
		printf("{\"node\":");
		json_str(r->node);
		printf(",\"limit\":");
		json_str(r0 ? r0->limit : NULL);
		printf(",\"key\":");
		json_str(r0 ? key_text(&r0->key, kb) : NULL);
		printf(",\"windows\":[");
	} else {
		printf("limit %s, key %s (as node %s holds them)\n\n", r0 && r0->limit ? r0->limit : "?",
		    r0 ? key_text(&r0->key, kb) : "?", r->node ? r->node : "?");
		printf("%-22s %7s  %-16s %10s\n", "WINDOW (unix ms)", "AGE(s)", "ORIGIN", "COUNT");
	}
	for (size_t i = 0, j; i < r->n_rates; i = j) {
		const Tandem__RateCount *sum = r->rates[i];
		int64_t age = now - (int64_t)sum->window_start_unix_ms;

		for (j = i + 1; j < r->n_rates && !summed(r->rates[j]); j++)
			;
		if (json) {
			printf("%s{\"window_start_unix_ms\":%llu,\"age_ms\":%lld,\"sum\":%llu,\"origins\":",
			    i ? "," : "", (unsigned long long)sum->window_start_unix_ms, (long long)age,
			    (unsigned long long)sum->count);
			print_origins_json(r->rates + i + 1, j - i - 1);
			printf("}");
			continue;
		}
		printf("%-22llu %7.1f  %-16s %10llu\n", (unsigned long long)sum->window_start_unix_ms,
		    (double)age / 1000, "(all nodes)", (unsigned long long)sum->count);
		for (size_t k = i + 1; k < j; k++)
			printf("%-22s %7s  %-16s %10llu\n", "", "", r->rates[k]->origin,
			    (unsigned long long)r->rates[k]->count);
	}
	if (json)
		printf("]}\n");
}

static int cmd_ratelimit(int argc, char **argv)
{
	struct ratekey_args a;
	Tandem__CtlResponse *r;
	char *rest[16], msg[400];
	int n, json;

	if (argc > 1 + (int)(sizeof(rest) / sizeof(rest[0])))
		return ratekey_usage("usage: ", USAGE_RATELIMIT);
	json = take_json(argc, argv, rest, &n);
	if (ratekey_args_parse("ratelimit", (size_t)n, rest, &a, msg, sizeof(msg)) == -1)
		return ratekey_usage(msg, USAGE_RATELIMIT);
	r = call("ratelimit", n, rest);
	if ((r->has_status && r->status != 0) || a.cmd == RATEKEY_CMD_RESET)
		return finish(r);
	if (a.cmd == RATEKEY_CMD_TOP)
		print_top(r, json);
	else
		print_show(r, json);
	print_note(r);
	tandem__ctl_response__free_unpacked(r, NULL);
	return 0;
}

static int cmd_bans(int argc, char **argv)
{
	struct ratekey_args a;
	Tandem__CtlResponse *r;
	char *rest[16], msg[400], kb[RATEKEY_TEXT_MAX];
	int n, json;
	int64_t now;

	if (argc > 1 + (int)(sizeof(rest) / sizeof(rest[0])))
		return ratekey_usage("usage: ", USAGE_BANS);
	json = take_json(argc, argv, rest, &n);
	if (ratekey_args_parse("bans", (size_t)n, rest, &a, msg, sizeof(msg)) == -1)
		return ratekey_usage(msg, USAGE_BANS);
	r = call("bans", n, rest);
	if (r->has_status && r->status != 0)
		return finish(r);
	now = (int64_t)ev_wall_ms();
	if (json) {
		printf("{\"node\":");
		json_str(r->node);
		printf(",\"bans\":[");
	} else {
		printf("%-16s %-30s %12s  %-12s %s\n", "LIMIT", "KEY", "REMAINING(s)", "ORIGIN", "UNTIL (unix ms)");
	}
	for (size_t i = 0; i < r->n_bans; i++) {
		const Tandem__Ban *b = r->bans[i];
		int64_t left = (int64_t)b->until_unix_ms - now;
		long long secs = left <= 0 ? 0 : (left + 999) / 1000;   /* as Retry-After: rounded up */

		if (json) {
			printf("%s{\"limit\":", i ? "," : "");
			json_str(b->limit);
			printf(",\"key\":");
			json_str(key_text(&b->key, kb));
			printf(",\"until_unix_ms\":%llu,\"remaining_s\":%lld,\"origin\":",
			    (unsigned long long)b->until_unix_ms, secs);
			if (b->origin != NULL && b->origin[0] != '\0')
				json_str(b->origin);
			else
				printf("null");
			printf("}");
			continue;
		}
		printf("%-16s %-30s %12lld  %-12s %llu\n", b->limit ? b->limit : "?", key_text(&b->key, kb), secs,
		    b->origin && b->origin[0] ? b->origin : "-", (unsigned long long)b->until_unix_ms);
	}
	if (json)
		printf("]}\n");
	print_note(r);
	tandem__ctl_response__free_unpacked(r, NULL);
	return 0;
}

static const struct command commands[] = {
	{ "status",      cmd_status,      "nodes, VIPs, owners and priorities [--json] [--counters] [--watch [--interval S] [--count N]]" },
	{ "failover",    cmd_failover,    "hand a VIP over, make-before-break: [VIP] [--to NODE] [--wait]" },
	{ "maintenance", cmd_maintenance, "on: hand every VIP over, stay priority 0; off: back [--wait]" },
	{ "reload",      cmd_reload,      "re-read hacd.conf and the key file (kept on error)" },
	{ "drain",       cmd_admin_set,   "UPSTREAM/SERVER: no new requests to it, on every node; NODE (any node, from any node): withdraw its BGP routes once open connections end" },
	{ "enable",      cmd_admin_set,   "UPSTREAM/SERVER: back in service, on every node; NODE: announce its BGP routes again (cluster-wide)" },
	{ "maint",       cmd_admin_set,   "UPSTREAM/SERVER: out of service (maintenance), on every node" },
	{ "weight",      cmd_admin_set,   "UPSTREAM/SERVER N: balancing weight 0..256, on every node" },
	{ "admin",       cmd_admin,       "the cluster-wide server admin state [--json]" },
	{ "ratelimit",   cmd_ratelimit,   "cluster-wide counts: top [N] [--limit NAME] | show LIMIT KEY [--json] | reset LIMIT KEY" },
	{ "bans",        cmd_bans,        "bans in force on the cluster [--limit NAME] [--json]" },
	{ "cache",       cmd_cache,       "purge URL | purge --prefix URL | purge --tag TAG: from the cache of every node (a node that was down purges on rejoin); stats [--json]: every node's cache counters and the total" },
	{ "events",      cmd_events,      "follow transitions as they happen" },
	{ "keygen",      cmd_keygen,      "print a new key-file line, or write a new key file: [-o FILE] [ID] (no hacd needed)" },
	{ "help",        cmd_help,        "this list" },
};

static int cmd_help(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("usage: hactl [-R RUNDIR | -s SOCKET] COMMAND [ARGS]\n\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		printf("  %-12s %s\n", commands[i].name, commands[i].help);
	printf("\nexit: 0 ok, 1 error from hacd, 2 usage, 3 cannot reach hacd\n");
	return 0;
}

int main(int argc, char **argv)
{
	int opt;

	while ((opt = getopt(argc, argv, "+R:s:h")) != -1) {
		switch (opt) {
		case 'R':
			snprintf(sock_buf, sizeof(sock_buf), "%s/hacd.ctl", optarg);
			sock_path = sock_buf;
			break;
		case 's':
			sock_path = optarg;
			break;
		case 'h':
			return cmd_help(0, NULL);
		default:
			cmd_help(0, NULL);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		cmd_help(0, NULL);
		return EXIT_USAGE;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[optind], commands[i].name) == 0)
			return commands[i].fn(argc - optind, argv + optind);
	fprintf(stderr, "hactl: unknown command \"%s\"\n", argv[optind]);
	cmd_help(0, NULL);
	return EXIT_USAGE;
}
