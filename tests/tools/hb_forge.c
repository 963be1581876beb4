/*
 * tests/tools/hb_forge.c — the attacker in tests/integration/test_ha.sh.
 *
 * hacd must not let anything that fails authentication or decoding touch a
 * timer or a state. To show it, the integration test runs this
 * tool from an attacker namespace on the lab's switch and counts on hacd's
 * drop counters. The tool never holds the cluster key: it forges heartbeats
 * sealed with a key of its own (same key id, so the AEAD itself must reject
 * them, or another id for "unknown-key"), sends junk shaped to reach each
 * of lib/wire's header checks, and replays genuine datagrams it captured
 * off the wire (in the switch namespace, like a tap) byte for byte.
 *
 * The same forging covers state replication: --body sync seals a
 * StateSync that would put a server in maintenance cluster-wide, and
 * --body sync-request asks for a bulk sync, --body purge purges a prefix
 * from every cache (hactl cache purge), --body digest names a URL as a
 * peer's hot cache key (the warm standby); capture and replay see sync
 * datagrams as well, since they travel on the heartbeat port.
 *
 * Replay after a restart: capture --from a node records that node's
 * datagrams with the time each was seen, and replay --pace recorded sends
 * them once, in order, at that pace, so a recording of a node that has
 * since died looks like the node itself to a receiver that restarted
 * (tests/integration/test_ha.sh, the replay-after-restart case).
 *
 * Datagrams can carry a spoofed source address and port (a raw socket with
 * IP_HDRINCL), because hacd may first check that a datagram comes from a
 * configured peer; an attacker on the same segment can always spoof, so
 * the checks behind that one must hold too.
 *
 * Usage: hb_forge MODE [options]; `hb_forge help` lists modes.
 * Bounded by design: every mode stops after --count datagrams (max 100000)
 * or --timeout-ms.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "lib/buf.h"
#include "lib/wire.h"
#include "proto/tandem.pb-c.h"

#define HBF_MAX_COUNT   100000
#define HBF_MAX_CAPTURE 4096   /* a few seconds of a pair's heartbeats and syncs */

struct hbf_opts {
	struct sockaddr_in to;     /* destination */
	int have_to;
	struct sockaddr_in spoof;  /* source to claim, when have_spoof */
	int have_spoof;
	unsigned long count;
	unsigned long interval_ms;
	unsigned long timeout_ms;
	const char *key_file;      /* forge: the attacker's own key */
	const char *cluster;       /* forge, junk: cluster name */
	const char *node;          /* forge: node to impersonate */
	const char *vip;           /* forge: VIP group to claim */
	const char *vote_for;      /* forge: speak as a witness voting for this node (quorum) */
	const char *kind;          /* junk kind */
	const char *iface;         /* capture */
	unsigned long port;        /* capture: UDP destination port */
	const char *file;          /* capture output / replay input */
	const char *body;          /* forge: heartbeat (default), sync, sync-request */
	const char *admin;         /* forge sync: UPSTREAM/SERVER */
	const char *state;         /* forge sync: ready|drain|maint (default maint) */
	const char *url;           /* forge purge: the URL (default http://127.0.0.1/) */
	struct in_addr from;       /* capture: only datagrams from this source, when have_from */
	int have_from;
	int paced;                 /* replay: at the recorded pace (--pace recorded) */
};

static void
hbf_usage_exit(const char *why)
{
	if (why != NULL)
		fprintf(stderr, "hb_forge: %s\n", why);
	fprintf(stderr, "usage: hb_forge help\n");
	exit(2);
}

static int
hbf_parse_addr(const char *s, struct sockaddr_in *sin)
{
	char host[64];
	const char *colon = strrchr(s, ':');
	char *end;
	unsigned long port;

	if (colon == NULL || (size_t)(colon - s) >= sizeof(host))
		return -1;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (errno != 0 || *end != '\0' || port == 0 || port > 65535)
		return -1;
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)port);
	return inet_pton(AF_INET, host, &sin->sin_addr) == 1 ? 0 : -1;
}

static unsigned long
hbf_num(const char *s, unsigned long max)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || *s == '\0' || v > max)
		hbf_usage_exit("bad number");
	return v;
}

static void
hbf_parse_opts(int argc, char **argv, struct hbf_opts *o)
{
	int i;

	memset(o, 0, sizeof(*o));
	o->count = 1;
	o->timeout_ms = 10000;
	o->cluster = "demo";
	o->vip = "web";
	o->kind = "random";
	o->port = 7007;
	o->body = "heartbeat";
	o->admin = "app/app1";
	o->url = "http://127.0.0.1/";
	o->state = "maint";
	for (i = 0; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (v == NULL)
			hbf_usage_exit("option without a value");
		if (strcmp(a, "--to") == 0) {
			if (hbf_parse_addr(v, &o->to) == -1)
				hbf_usage_exit("--to IP:PORT");
			o->have_to = 1;
		} else if (strcmp(a, "--spoof") == 0) {
			if (hbf_parse_addr(v, &o->spoof) == -1)
				hbf_usage_exit("--spoof IP:PORT");
			o->have_spoof = 1;
		} else if (strcmp(a, "--count") == 0) {
			o->count = hbf_num(v, HBF_MAX_COUNT);
		} else if (strcmp(a, "--interval-ms") == 0) {
			o->interval_ms = hbf_num(v, 60000);
		} else if (strcmp(a, "--timeout-ms") == 0) {
			o->timeout_ms = hbf_num(v, 600000);
		} else if (strcmp(a, "--key") == 0) {
			o->key_file = v;
		} else if (strcmp(a, "--cluster") == 0) {
			o->cluster = v;
		} else if (strcmp(a, "--node") == 0) {
			o->node = v;
		} else if (strcmp(a, "--vote-for") == 0) {
			o->vote_for = v;
		} else if (strcmp(a, "--vip") == 0) {
			o->vip = v;
		} else if (strcmp(a, "--kind") == 0) {
			o->kind = v;
		} else if (strcmp(a, "--iface") == 0) {
			o->iface = v;
		} else if (strcmp(a, "--port") == 0) {
			o->port = hbf_num(v, 65535);
		} else if (strcmp(a, "--from") == 0) {
			if (inet_pton(AF_INET, v, &o->from) != 1)
				hbf_usage_exit("--from IPv4");
			o->have_from = 1;
		} else if (strcmp(a, "--pace") == 0) {
			if (strcmp(v, "recorded") != 0 && strcmp(v, "fast") != 0)
				hbf_usage_exit("--pace recorded|fast");
			o->paced = strcmp(v, "recorded") == 0;
		} else if (strcmp(a, "--file") == 0) {
			o->file = v;
		} else if (strcmp(a, "--body") == 0) {
			if (strcmp(v, "heartbeat") != 0 && strcmp(v, "sync") != 0 && strcmp(v, "sync-request") != 0 &&
			    strcmp(v, "purge") != 0 && strcmp(v, "digest") != 0)
				hbf_usage_exit("--body heartbeat|sync|sync-request|purge|digest");
			o->body = v;
		} else if (strcmp(a, "--admin") == 0) {
			if (strchr(v, '/') == NULL || strlen(v) > 128)
				hbf_usage_exit("--admin UPSTREAM/SERVER");
			o->admin = v;
		} else if (strcmp(a, "--url") == 0) {
			if (strlen(v) > 1024)
				hbf_usage_exit("--url URL");
			o->url = v;
		} else if (strcmp(a, "--state") == 0) {
			if (strcmp(v, "ready") != 0 && strcmp(v, "drain") != 0 && strcmp(v, "maint") != 0)
				hbf_usage_exit("--state ready|drain|maint");
			o->state = v;
		} else {
			hbf_usage_exit("unknown option");
		}
		i++;
	}
}

/* ---- sending -------------------------------------------------------- */

static uint16_t
hbf_csum(uint32_t sum, const void *data, size_t len)
{
	const uint8_t *p = data;

	for (; len > 1; p += 2, len -= 2)
		sum += (uint32_t)p[0] << 8 | p[1];
	if (len == 1)
		sum += (uint32_t)p[0] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

struct hbf_sender {
	int fd;
	int raw;
	struct sockaddr_in src, dst;
};

static int
hbf_sender_open(struct hbf_sender *s, const struct hbf_opts *o,
    const struct sockaddr_in *dst)
{
	int one = 1;

	s->dst = *dst;
	s->raw = o->have_spoof;
	s->src = o->spoof;
	if (s->raw) {
		s->fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
		if (s->fd == -1 || setsockopt(s->fd, IPPROTO_IP, IP_HDRINCL,
		    &one, sizeof(one)) == -1) {
			perror("hb_forge: raw socket (needs CAP_NET_RAW)");
			return -1;
		}
	} else {
		s->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (s->fd == -1) {
			perror("hb_forge: socket");
			return -1;
		}
	}
	return 0;
}

/* One UDP datagram, from the spoofed source through a raw socket (IPv4
 * header and UDP checksum built here; the kernel fills the IP checksum and
 * id) or from our own address. */
static int
hbf_send(struct hbf_sender *s, const uint8_t *p, size_t len)
{
	uint8_t pkt[2048], pseudo[12];
	struct iphdr ip;
	struct udphdr udp;
	uint32_t sum;
	ssize_t n;

	if (!s->raw) {
		n = sendto(s->fd, p, len, 0, (struct sockaddr *)&s->dst,
		    sizeof(s->dst));
		goto out;
	}
	if (len > sizeof(pkt) - 28) {
		fprintf(stderr, "hb_forge: datagram of %zu bytes too large\n", len);
		return -1;
	}
	memset(&ip, 0, sizeof(ip));
	ip.version = 4;
	ip.ihl = 5;
	ip.ttl = 64;
	ip.protocol = IPPROTO_UDP;
	ip.tot_len = htons((uint16_t)(28 + len));
	ip.saddr = s->src.sin_addr.s_addr;
	ip.daddr = s->dst.sin_addr.s_addr;
	memset(&udp, 0, sizeof(udp));
	udp.source = s->src.sin_port;
	udp.dest = s->dst.sin_port;
	udp.len = htons((uint16_t)(8 + len));
	memcpy(pseudo, &ip.saddr, 4);
	memcpy(pseudo + 4, &ip.daddr, 4);
	pseudo[8] = 0;
	pseudo[9] = IPPROTO_UDP;
	memcpy(pseudo + 10, &udp.len, 2);
	memcpy(pkt, &udp, 8);
	memcpy(pkt + 8, p, len);
	{
		const uint8_t *q = pseudo;
		size_t i;

		sum = 0;
		for (i = 0; i < sizeof(pseudo); i += 2)
			sum += (uint32_t)q[i] << 8 | q[i + 1];
	}
	udp.check = htons(hbf_csum(sum, pkt, 8 + len));
	if (udp.check == 0)
		udp.check = 0xffff;
	memcpy(pkt, &ip, 20);
	memcpy(pkt + 20, &udp, 8);
	memcpy(pkt + 28, p, len);
	n = sendto(s->fd, pkt, 28 + len, 0, (struct sockaddr *)&s->dst,
	    sizeof(s->dst));
out:
	if (n == -1) {
		perror("hb_forge: send");
		return -1;
	}
	return 0;
}

static void
hbf_sleep_ms(unsigned long ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* ---- forge: a heartbeat under the attacker's own key ---------------- */

static int
hbf_forge(const struct hbf_opts *o)
{
	Tandem__VipAdvert va = TANDEM__VIP_ADVERT__INIT, *vas[1] = { &va };
	Tandem__Heartbeat hb = TANDEM__HEARTBEAT__INIT;
	Tandem__PeerMessage pm = TANDEM__PEER_MESSAGE__INIT;
	Tandem__StateSync ss = TANDEM__STATE_SYNC__INIT;
	Tandem__ServerAdmin sa = TANDEM__SERVER_ADMIN__INIT, *sas[1] = { &sa };
	Tandem__SyncRequest sr = TANDEM__SYNC_REQUEST__INIT;
	Tandem__CachePurge cp = TANDEM__CACHE_PURGE__INIT;
	Tandem__CacheDigest dg = TANDEM__CACHE_DIGEST__INIT;
	Tandem__CacheDigestKey dk = TANDEM__CACHE_DIGEST_KEY__INIT, *dkp[1];
	char dhost[256];
	char up[129], *srv;
	struct wire_keyring *kr;
	struct wire_sender ws;
	struct hbf_sender snd;
	uint8_t payload[WIRE_MAX_PAYLOAD], dgram[WIRE_MAX_DATAGRAM];
	char err[256];
	size_t plen;
	ssize_t dlen;
	unsigned long i;
	int rc = 1;

	if (!o->have_to || o->key_file == NULL || o->node == NULL)
		hbf_usage_exit("forge needs --to, --key and --node");
	if ((kr = wire_keyring_new()) == NULL)
		return 1;
	if (wire_keyring_load(kr, o->key_file, err, sizeof(err)) == -1) {
		fprintf(stderr, "hb_forge: %s\n", err);
		goto out;
	}
	/* The most tempting lie: the impersonated node claims the VIP with
	 * the highest priority and full health. */
	va.name = (char *)o->vip;
	va.has_priority = 1;
	va.priority = 255;
	va.has_role = 1;
	va.role = TANDEM__VIP_ROLE__VIP_MASTER;
	hb.node = (char *)o->node;
	hb.has_health = 1;
	hb.health = TANDEM__HEALTH_BITS__HEALTH_PROXYD_READY |
	    TANDEM__HEALTH_BITS__HEALTH_LINK_UP | TANDEM__HEALTH_BITS__HEALTH_SCRIPT_OK;
	hb.n_vips = 1;
	hb.vips = vas;
	if (o->vote_for != NULL) {
		/* A witness's lie: its vote for the node that lost its
		 * majority, which would make it an owner on the wrong side. */
		hb.n_vips = 0;
		hb.has_witness = hb.witness = 1;
		hb.vote_for = (char *)o->vote_for;
	}
	pm.body_case = TANDEM__PEER_MESSAGE__BODY_HEARTBEAT;
	pm.heartbeat = &hb;
	if (strcmp(o->body, "sync") == 0) {
		/* State replication's most tempting lie: a server put in
		 * maintenance, stamped a minute ahead so it would win the
		 * last-writer-wins merge if it were ever merged. */
		snprintf(up, sizeof(up), "%s", o->admin);
		srv = strchr(up, '/');
		*srv++ = '\0';
		sa.upstream = up;
		sa.server = srv;
		sa.has_state = 1;
		sa.state = strcmp(o->state, "ready") == 0 ? TANDEM__ADMIN_STATE__ADMIN_READY :
		    strcmp(o->state, "drain") == 0 ? TANDEM__ADMIN_STATE__ADMIN_DRAIN :
		    TANDEM__ADMIN_STATE__ADMIN_MAINT;
		sa.has_set_unix_ms = 1;
		sa.set_unix_ms = (uint64_t)time(NULL) * 1000 + 60000;
		sa.origin = (char *)o->node;
		ss.n_admin = 1;
		ss.admin = sas;
		pm.body_case = TANDEM__PEER_MESSAGE__BODY_SYNC;
		pm.sync = &ss;
	} else if (strcmp(o->body, "sync-request") == 0) {
		sr.node = (char *)o->node;
		pm.body_case = TANDEM__PEER_MESSAGE__BODY_SYNC_REQUEST;
		pm.sync_request = &sr;
	} else if (strcmp(o->body, "purge") == 0) {
		/* hactl cache purge as the impersonated node would send it: a
		 * new epoch, seq 1, so only the AEAD can refuse it. */
		cp.origin = (char *)o->node;
		cp.has_epoch = cp.has_seq = cp.has_prefix = 1;
		cp.epoch = (uint64_t)time(NULL) * 1000 + 60000;
		cp.seq = 1;
		cp.prefix = 1;
		cp.url = (char *)o->url;
		pm.body_case = TANDEM__PEER_MESSAGE__BODY_PURGE;
		pm.purge = &cp;
	} else if (strcmp(o->body, "digest") == 0) {
		/* A warm-standby digest naming --url (http://HOST/TARGET) as
		 * hot in cache "main": a node that took it would fetch it. */
		const char *h = strncmp(o->url, "http://", 7) == 0 ? o->url + 7 : o->url, *sl = strchr(h, '/');

		snprintf(dhost, sizeof(dhost), "%.*s", sl != NULL ? (int)(sl - h) : (int)strlen(h), h);
		dk.cache = (char *)"main";
		dk.host = dhost;
		dk.target = (char *)(sl != NULL ? sl : "/");
		dkp[0] = &dk;
		dg.origin = (char *)o->node;
		dg.n_keys = 1;
		dg.keys = dkp;
		pm.body_case = TANDEM__PEER_MESSAGE__BODY_CACHE_DIGEST;
		pm.cache_digest = &dg;
	}
	plen = tandem__peer_message__get_packed_size(&pm);
	if (plen > sizeof(payload))
		goto out;
	tandem__peer_message__pack(&pm, payload);
	/* A far-future epoch, so that a window-based check could not be what
	 * rejects it: only the AEAD can. */
	wire_sender_init(&ws, wire_cluster_id(o->cluster),
	    wire_cluster_id(o->node), (uint64_t)time(NULL) + 86400);
	if (hbf_sender_open(&snd, o, &o->to) == -1)
		goto out;
	for (i = 0; i < o->count; i++) {
		dlen = wire_seal(kr, &ws, payload, plen, dgram, sizeof(dgram));
		if (dlen < 0 || hbf_send(&snd, dgram, (size_t)dlen) == -1)
			goto out_close;
		if (o->interval_ms > 0)
			hbf_sleep_ms(o->interval_ms);
	}
	rc = 0;
out_close:
	close(snd.fd);
out:
	wire_keyring_free(kr);
	return rc;
}

/* ---- junk: bytes shaped to stop at each of wire_open's checks ------- */

static int
hbf_junk(const struct hbf_opts *o)
{
	uint8_t d[WIRE_MAX_DATAGRAM + 100];
	struct hbf_sender snd;
	unsigned long i;
	size_t len;
	int rc = 1;

	if (!o->have_to)
		hbf_usage_exit("junk needs --to");
	if (sodium_init() < 0)
		return 1;
	if (hbf_sender_open(&snd, o, &o->to) == -1)
		return 1;
	for (i = 0; i < o->count; i++) {
		len = 200;
		randombytes_buf(d, sizeof(d));
		if (strcmp(o->kind, "random") == 0) {
			d[0] = 0; /* never the magic by chance */
		} else if (strcmp(o->kind, "short") == 0) {
			len = 1 + randombytes_uniform(WIRE_OVERHEAD - 1);
		} else if (strcmp(o->kind, "oversize") == 0) {
			/* Over the limit but within a 1500-byte MTU (IPv4 +
			 * UDP headers: 28): raw sockets do not fragment. */
			len = WIRE_MAX_DATAGRAM + 1 +
			    randombytes_uniform(1500 - 28 - WIRE_MAX_DATAGRAM);
		} else if (strcmp(o->kind, "version") == 0) {
			put_u32be(d, WIRE_MAGIC);
			d[4] = WIRE_VERSION + 1 + (uint8_t)randombytes_uniform(200);
		} else if (strcmp(o->kind, "cluster") == 0) {
			put_u32be(d, WIRE_MAGIC);
			d[4] = WIRE_VERSION;
			put_u32be(d + 12, wire_cluster_id(o->cluster) ^ 0x5a5a5a5a);
		} else if (strcmp(o->kind, "auth") == 0) {
			/* Right magic, version, cluster and key id 1, claiming
			 * to be --node; random nonce and ciphertext. */
			put_u32be(d, WIRE_MAGIC);
			d[4] = WIRE_VERSION;
			d[5] = 0;
			d[6] = d[7] = 0;
			put_u32be(d + 8, 1);
			put_u32be(d + 12, wire_cluster_id(o->cluster));
			put_u32be(d + 16, wire_cluster_id(o->node != NULL ? o->node : "n2"));
		} else {
			hbf_usage_exit("--kind random|short|oversize|version|cluster|auth");
		}
		if (hbf_send(&snd, d, len) == -1)
			goto out;
		if (o->interval_ms > 0)
			hbf_sleep_ms(o->interval_ms);
	}
	rc = 0;
out:
	close(snd.fd);
	return rc;
}

/* ---- capture: genuine datagrams off the wire ------------------------ */

static int
hbf_capture(const struct hbf_opts *o)
{
	struct sockaddr_ll sll;
	uint8_t frame[2048];
	FILE *f;
	int fd, got = 0, rc = 1;
	unsigned long want = o->count > HBF_MAX_CAPTURE ? HBF_MAX_CAPTURE : o->count;
	struct timespec t0, now;

	if (o->iface == NULL || o->file == NULL)
		hbf_usage_exit("capture needs --iface and --file");
	/* ETH_P_ALL, not ETH_P_IP: on a bridge port the bridge consumes the
	 * frame before protocol-specific taps run; only "all" taps see it. */
	fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, htons(ETH_P_ALL));
	if (fd == -1) {
		perror("hb_forge: packet socket (needs CAP_NET_RAW)");
		return 1;
	}
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(ETH_P_ALL);
	sll.sll_ifindex = (int)if_nametoindex(o->iface);
	if (sll.sll_ifindex == 0 || bind(fd, (struct sockaddr *)&sll, sizeof(sll)) == -1) {
		perror("hb_forge: bind to interface");
		close(fd);
		return 1;
	}
	if ((f = fopen(o->file, "w")) == NULL) {
		perror("hb_forge: output file");
		close(fd);
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while ((unsigned long)got < want) {
		struct pollfd pfd = { fd, POLLIN, 0 };
		long elapsed;
		ssize_t n;
		size_t ihl, i;
		char src[INET_ADDRSTRLEN], dst[INET_ADDRSTRLEN];
		struct iphdr ip;
		struct udphdr udp;
		struct sockaddr_ll from;
		socklen_t fromlen;

		clock_gettime(CLOCK_MONOTONIC, &now);
		elapsed = (now.tv_sec - t0.tv_sec) * 1000 +
		    (now.tv_nsec - t0.tv_nsec) / 1000000;
		if (elapsed >= (long)o->timeout_ms)
			break;
		if (poll(&pfd, 1, (int)((long)o->timeout_ms - elapsed)) <= 0)
			continue;
		fromlen = sizeof(from);
		n = recvfrom(fd, frame, sizeof(frame), 0, (struct sockaddr *)&from,
		    &fromlen);
		if (n < (ssize_t)(sizeof(ip) + sizeof(udp)) ||
		    from.sll_protocol != htons(ETH_P_IP))
			continue;
		memcpy(&ip, frame, sizeof(ip));
		ihl = (size_t)ip.ihl * 4;
		if (ip.version != 4 || ip.protocol != IPPROTO_UDP || ihl < 20 ||
		    (size_t)n < ihl + sizeof(udp))
			continue;
		if (o->have_from && ip.saddr != o->from.s_addr)
			continue;
		memcpy(&udp, frame + ihl, sizeof(udp));
		if (ntohs(udp.dest) != o->port || ntohs(udp.len) < 8 ||
		    (size_t)n < ihl + ntohs(udp.len))
			continue;
		inet_ntop(AF_INET, &ip.saddr, src, sizeof(src));
		inet_ntop(AF_INET, &ip.daddr, dst, sizeof(dst));
		fprintf(f, "%s:%u %s:%u ", src, ntohs(udp.source), dst, ntohs(udp.dest));
		for (i = ihl + 8; i < ihl + ntohs(udp.len); i++)
			fprintf(f, "%02x", frame[i]);
		/* When it was seen, for a replay at the recorded pace. */
		clock_gettime(CLOCK_MONOTONIC, &now);
		fprintf(f, " %ld\n", (long)((now.tv_sec - t0.tv_sec) * 1000 +
		    (now.tv_nsec - t0.tv_nsec) / 1000000));
		got++;
	}
	if (fclose(f) == 0 && got > 0)
		rc = 0;
	close(fd);
	fprintf(stderr, "hb_forge: captured %d datagram(s)\n", got);
	return rc;
}

/* ---- replay: captured bytes, unchanged ------------------------------ */

static int
hbf_replay(const struct hbf_opts *o)
{
	static uint8_t dg[HBF_MAX_CAPTURE][WIRE_MAX_DATAGRAM + 100];
	static size_t dlen[HBF_MAX_CAPTURE];
	static long at[HBF_MAX_CAPTURE];
	static struct sockaddr_in from[HBF_MAX_CAPTURE], to[HBF_MAX_CAPTURE];
	char line[8192], a[64], b[64], hex[4096];
	int n = 0, rc = 1;
	unsigned long i;
	struct timespec t0, now;
	FILE *f;

	if (o->file == NULL)
		hbf_usage_exit("replay needs --file");
	if ((f = fopen(o->file, "r")) == NULL) {
		perror("hb_forge: capture file");
		return 1;
	}
	while (n < HBF_MAX_CAPTURE && fgets(line, sizeof(line), f) != NULL) {
		size_t hl, j;

		at[n] = 0;
		if (sscanf(line, "%63s %63s %4095s %ld", a, b, hex, &at[n]) < 3 ||
		    hbf_parse_addr(a, &from[n]) == -1 || hbf_parse_addr(b, &to[n]) == -1)
			continue;
		hl = strlen(hex);
		if (hl % 2 != 0 || hl / 2 > sizeof(dg[0]))
			continue;
		for (j = 0; j < hl / 2; j++) {
			unsigned v;

			if (sscanf(hex + 2 * j, "%2x", &v) != 1)
				break;
			dg[n][j] = (uint8_t)v;
		}
		if (j != hl / 2)
			continue;
		dlen[n++] = hl / 2;
	}
	fclose(f);
	if (n == 0) {
		fprintf(stderr, "hb_forge: no datagram in %s\n", o->file);
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < o->count; i++) {
		int k = (int)(i % (unsigned long)n);
		struct hbf_opts one = *o;
		struct hbf_sender snd;
		int r;

		/* --pace recorded: each datagram leaves as long after the first
		 * as it was seen after the first (one pass; --count bounds it). */
		if (o->paced) {
			long due, elapsed;

			if (i >= (unsigned long)n)
				break;
			due = at[k] - at[0];
			clock_gettime(CLOCK_MONOTONIC, &now);
			elapsed = (now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000;
			if (due > elapsed)
				hbf_sleep_ms((unsigned long)(due - elapsed));
		}

		/* Each replayed datagram claims its original source unless the
		 * caller chose one; the destination is the original too unless
		 * --to says otherwise. */
		if (!one.have_spoof) {
			one.spoof = from[k];
			one.have_spoof = 1;
		}
		if (hbf_sender_open(&snd, &one, o->have_to ? &o->to : &to[k]) == -1)
			return 1;
		r = hbf_send(&snd, dg[k], dlen[k]);
		close(snd.fd);
		if (r == -1)
			return 1;
		if (o->interval_ms > 0)
			hbf_sleep_ms(o->interval_ms);
	}
	rc = 0;
	return rc;
}

/* ---- command table -------------------------------------------------- */

static int hbf_help(const struct hbf_opts *o);

static const struct {
	const char *name;
	int (*fn)(const struct hbf_opts *);
	const char *help;
} hbf_cmds[] = {
	{ "forge", hbf_forge,
	  "--to IP:PORT --key FILE --node NAME [--cluster demo] [--vip web] [--vote-for NODE] [--spoof IP:PORT]\n"
	  "\t\t[--body heartbeat|sync|sync-request|purge|digest] [--admin UP/SRV] [--state ready|drain|maint]\n"
	  "\t\t[--url URL]\n"
	  "\t\ta heartbeat claiming VIP at priority 255 (or a state sync setting UP/SRV's\n"
	  "\t\tadmin state, a bulk sync request, a cache purge of the prefix URL, or a\n"
	  "\t\tcache digest naming URL as a hot key of cache main),\n"
	  "\t\tsealed with FILE's (wrong) key" },
	{ "junk", hbf_junk,
	  "--to IP:PORT --kind random|short|oversize|version|cluster|auth [--node N] [--spoof IP:PORT]\n"
	  "\t\tbytes shaped to stop at one of lib/wire's checks" },
	{ "capture", hbf_capture,
	  "--iface IF --file OUT [--port 7007] [--from IP] [--count N] [--timeout-ms T]\n"
	  "\t\tsave genuine UDP datagrams to PORT (from IP) seen on IF, with the time each was seen\n"
	  "\t\t(run it in the switch namespace)" },
	{ "replay", hbf_replay,
	  "--file IN [--to IP:PORT] [--spoof IP:PORT] [--pace recorded|fast]\n"
	  "\t\tresend captured datagrams byte for byte, from their original source by default;\n"
	  "\t\t--pace recorded: once through, each as long after the first as it was captured" },
	{ "help", hbf_help, "\t\tthis list" },
};

static int
hbf_help(const struct hbf_opts *o)
{
	size_t i;

	(void)o;
	printf("hb_forge MODE [--count N] [--interval-ms M] options\n");
	for (i = 0; i < sizeof(hbf_cmds) / sizeof(hbf_cmds[0]); i++)
		printf("  %s %s\n", hbf_cmds[i].name, hbf_cmds[i].help);
	return 0;
}

int
main(int argc, char **argv)
{
	struct hbf_opts o;
	size_t i;

	if (argc < 2)
		hbf_usage_exit(NULL);
	hbf_parse_opts(argc - 2, argv + 2, &o);
	for (i = 0; i < sizeof(hbf_cmds) / sizeof(hbf_cmds[0]); i++)
		if (strcmp(argv[1], hbf_cmds[i].name) == 0)
			return hbf_cmds[i].fn(&o);
	hbf_usage_exit("unknown mode");
	return 2;
}
