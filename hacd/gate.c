/*
 * hacd/gate.c — holding new connections off a VIP during a planned
 * handover (an nftables rule set through nft(8)), and counting the
 * connections still open to it (/proc/net/tcp). See hacd/gate.h for why.
 */
#include "hacd/gate.h"

#include <arpa/inet.h>
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/log.h"

extern char **environ;

/* An nft run that takes longer is killed (and counted as failed). */
#define GATE_NFT_TIMEOUT_MS 5000

void gate_init(struct gate *g, struct proc_table *procs)
{
	memset(g, 0, sizeof(*g));
	g->procs = procs;
}

void gate_notify(struct gate *g, gate_done_cb done, void *arg)
{
	g->done = done;
	g->done_arg = arg;
}

/* "gate_" and the address in hex: a chain name nft takes unquoted. */
static void chain_name(const struct vip_addr *va, char *out, size_t len)
{
	size_t n = va->family == AF_INET6 ? 16 : 4, off;

	off = (size_t)snprintf(out, len, "gate_");
	for (size_t i = 0; i < n && off + 3 <= len; i++)
		off += (size_t)snprintf(out + off, len - off, "%02x", va->addr[i]);
}

static void run(struct gate *g);

static void exit_cb(void *arg, pid_t pid, int status)
{
	struct gate *g = arg;
	char a[INET6_ADDRSTRLEN];

	(void)pid;
	g->pid = 0;
	inet_ntop(g->va.family, g->va.addr, a, sizeof(a));
	if (status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		g->applied = g->op_running;
		g->failures = 0;
		log_debug("gate %s: new connections %s", a, g->applied ? "held off" : "let in");
	} else {
		g->failures++;
		log_warnx("gate %s: %s %s failed (%s %d)", a, g->nft,
		    g->op_running ? "holding new connections off" : "letting new connections in",
		    status == -1 ? "timed out" : WIFEXITED(status) ? "exit" : "signal",
		    status == -1 ? 0 : WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	}
	/* What is wanted may have changed while nft ran: catch up. */
	if (g->want != g->applied && g->failures < 3)
		run(g);
	if (g->done != NULL)
		g->done(g->done_arg);
}

static void run(struct gate *g)
{
	char chain[48], a[INET6_ADDRSTRLEN], cmd[512];
	char *argv[3];
	const char *fam = g->va.family == AF_INET6 ? "ip6" : "ip";

	if (g->pid != 0 || g->nft[0] == '\0')
		return;
	chain_name(&g->va, chain, sizeof(chain));
	inet_ntop(g->va.family, g->va.addr, a, sizeof(a));
	/* Each command list is idempotent (add creates only what is missing),
	 * so a run repeated after a failure or a restart does no harm. */
	if (g->want)
		snprintf(cmd, sizeof(cmd),
		    "add table inet " GATE_TABLE "; "
		    "add chain inet " GATE_TABLE " %s { type filter hook input priority -10; policy accept; }; "
		    "flush chain inet " GATE_TABLE " %s; "
		    "add rule inet " GATE_TABLE " %s %s daddr %s tcp flags & (syn | ack) == syn drop",
		    chain, chain, chain, fam, a);
	else
		snprintf(cmd, sizeof(cmd),
		    "add table inet " GATE_TABLE "; "
		    "add chain inet " GATE_TABLE " %s { type filter hook input priority -10; policy accept; }; "
		    "flush chain inet " GATE_TABLE " %s; "
		    "delete chain inet " GATE_TABLE " %s",
		    chain, chain, chain);
	argv[0] = g->nft;
	argv[1] = cmd;
	argv[2] = NULL;
	g->op_running = g->want;
	g->pid = proc_spawn(g->procs, argv, NULL, GATE_NFT_TIMEOUT_MS, exit_cb, g);
	if (g->pid == -1) {
		g->pid = 0;
		g->failures++;
		log_warn("gate %s: cannot start %s", a, g->nft);
	}
}

void gate_set(struct gate *g, const char *nft, const struct vip_addr *va, int hold)
{
	hold = hold != 0;
	if (g->pid == 0) {
		/* Only between runs: a running nft works on the copies. */
		g->va = *va;
		snprintf(g->nft, sizeof(g->nft), "%s", nft);
	}
	if (g->want != hold)
		g->failures = 0;
	g->want = hold;
	if (g->want != g->applied)
		run(g);
}

void gate_retry(struct gate *g)
{
	if (!g->want && g->applied && g->pid == 0) {
		g->failures = 0;
		run(g);
	}
}

int gate_held(const struct gate *g)
{
	return g->want && g->applied && g->pid == 0;
}

int gate_failed(const struct gate *g)
{
	return g->want && !g->applied && (g->failures > 0 || g->pid == 0);
}

int gate_busy(const struct gate *g)
{
	return g->pid != 0 || g->applied;
}

void gate_clear_all(const char *nft)
{
	char *argv[3];
	pid_t pid;
	int st, rc;

	if (nft == NULL || nft[0] == '\0' || access(nft, X_OK) != 0)
		return;
	argv[0] = (char *)nft;
	argv[1] = (char *)"add table inet " GATE_TABLE "; delete table inet " GATE_TABLE;
	argv[2] = NULL;
	rc = posix_spawn(&pid, nft, NULL, NULL, argv, environ);
	if (rc != 0) {
		errno = rc;
		log_warn("gate: cannot start %s", nft);
		return;
	}
	while (waitpid(pid, &st, 0) == -1 && errno == EINTR)
		;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		log_warnx("gate: %s could not remove table inet %s", nft, GATE_TABLE);
}

/* /proc/net/tcp's st column (include/net/tcp_states.h). */
static int counted_state(unsigned st)
{
	switch (st) {
	case 0x01:  /* ESTABLISHED */
	case 0x03:  /* SYN_RECV */
	case 0x04:  /* FIN_WAIT1: our FIN (or data before it) unacknowledged */
	case 0x08:  /* CLOSE_WAIT: the client is done, we are not */
	case 0x09:  /* LAST_ACK */
	case 0x0B:  /* CLOSING */
		return 1;
	default:
		return 0;
	}
}

int gate_conns(const struct vip_addr *va)
{
	const char *path = va->family == AF_INET6 ? "/proc/net/tcp6" : "/proc/net/tcp";
	size_t nw = va->family == AF_INET6 ? 4 : 1;
	uint32_t want[4];
	char line[512];
	int count = 0;
	FILE *f;

	/* The kernel prints each 32-bit word of the address as a host-order
	 * integer (%08X of the raw word): compare raw words the same way. */
	memcpy(want, va->addr, nw * 4);
	f = fopen(path, "re");
	if (f == NULL)
		return -1;
	if (fgets(line, sizeof(line), f) == NULL) {     /* the header */
		fclose(f);
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		char *p = strchr(line, ':'), *end;
		int match = 1;
		unsigned long st;

		if (p == NULL)
			continue;
		p++;
		while (*p == ' ')
			p++;
		if (strlen(p) < nw * 8)
			continue;
		for (size_t i = 0; i < nw; i++) {
			char word[9];
			uint32_t w;

			memcpy(word, p + i * 8, 8);
			word[8] = '\0';
			w = (uint32_t)strtoul(word, &end, 16);
			if (end != word + 8) {
				match = 0;
				break;
			}
			if (w != want[i])
				match = 0;
		}
		if (!match)
			continue;
		/* local ADDR:PORT, remote ADDR:PORT, then st. */
		p = strchr(p, ' ');
		if (p == NULL || (p = strchr(p + 1, ' ')) == NULL)
			continue;
		st = strtoul(p + 1, &end, 16);
		if (end != p + 1 && counted_state((unsigned)st))
			count++;
	}
	fclose(f);
	return count;
}
