/*
 * tests/fuzz/fuzz_wire.c — libFuzzer harness for the peer datagram path:
 * lib/wire's wire_open() ladder and the protobuf-c PeerMessage decoder that
 * hacd runs on whatever opens.
 *
 * Each input is used twice:
 *   1. as a received datagram, opened with a fixed keyring; if it opens,
 *      the invariants of an authenticated datagram are checked and the
 *      payload is unpacked as a tandem.PeerMessage, as hacd/peer.c does;
 *   2. as a payload: sealed, opened back (the round trip must be exact),
 *      and the opened bytes unpacked and re-packed. A fuzzer cannot forge a
 *      Poly1305 tag, so without this step the decoder would only ever see
 *      the seed payloads.
 *
 * Seeds: run with FUZZ_WIRE_WRITE_SEEDS=DIR to write a few sealed datagrams
 * and raw payloads into DIR and exit (tests/fuzz/corpus/wire/ was made so):
 *   FUZZ_WIRE_WRITE_SEEDS=tests/fuzz/corpus/wire build/fuzz/fuzz_wire
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/wire.h"
#include "proto/tandem.pb-c.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_SENDER 7u
#define FUZZ_SELF   9u

static struct wire_keyring *kr;
static uint32_t cluster;
static struct wire_sender sender;

/* Not secret: the harness needs keys it can also seal the seed corpus with. */
static void fuzz_key(uint8_t key[WIRE_KEY_LEN], uint8_t salt)
{
	for (int i = 0; i < WIRE_KEY_LEN; i++)
		key[i] = (uint8_t)(i * 7 + salt);
}

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_wire: invariant broken: %s\n", what);
		abort();
	}
}

static void write_seed(const char *dir, const char *name, const void *p, size_t n)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	check(f != NULL && fwrite(p, 1, n, f) == n && fclose(f) == 0, "write seed");
}

/* Write one packed PeerMessage both raw and sealed. */
static void seed_message(const char *dir, const char *name, const Tandem__PeerMessage *m)
{
	uint8_t pb[WIRE_MAX_PAYLOAD], dg[WIRE_MAX_DATAGRAM];
	size_t n = tandem__peer_message__get_packed_size(m);
	ssize_t dn;
	char fname[256];

	check(n <= sizeof(pb), "seed fits");
	tandem__peer_message__pack(m, pb);
	dn = wire_seal(kr, &sender, pb, n, dg, sizeof(dg));
	check(dn > 0, "seal seed");
	snprintf(fname, sizeof(fname), "pb-%s.bin", name);
	write_seed(dir, fname, pb, n);
	snprintf(fname, sizeof(fname), "dgram-%s.bin", name);
	write_seed(dir, fname, dg, (size_t)dn);
}

static void write_seeds(const char *dir)
{
	Tandem__PeerMessage m = TANDEM__PEER_MESSAGE__INIT;
	Tandem__Heartbeat hb = TANDEM__HEARTBEAT__INIT;
	Tandem__VipAdvert vip = TANDEM__VIP_ADVERT__INIT, *vips[] = { &vip };
	Tandem__StateSync sync = TANDEM__STATE_SYNC__INIT;
	Tandem__RateCount rc = TANDEM__RATE_COUNT__INIT, *rcs[] = { &rc };
	Tandem__Ban ban = TANDEM__BAN__INIT, *bans[] = { &ban };
	Tandem__SyncRequest req = TANDEM__SYNC_REQUEST__INIT;
	static uint8_t ip[16] = { [10] = 0xff, [11] = 0xff, [12] = 192, [13] = 0, [14] = 2, [15] = 1 };

	hb.node = "node-a";
	hb.has_health = 1, hb.health = TANDEM__HEALTH_BITS__HEALTH_PROXYD_READY | TANDEM__HEALTH_BITS__HEALTH_LINK_UP;
	hb.has_uptime_ms = 1, hb.uptime_ms = 123456;
	hb.has_advert_ms = 1, hb.advert_ms = 50;
	vip.name = "vip1";
	vip.has_priority = 1, vip.priority = 100;
	vip.has_role = 1, vip.role = TANDEM__VIP_ROLE__VIP_MASTER;
	hb.n_vips = 1, hb.vips = vips;
	m.body_case = TANDEM__PEER_MESSAGE__BODY_HEARTBEAT, m.heartbeat = &hb;
	seed_message(dir, "heartbeat", &m);

	rc.origin = "node-a", rc.limit = "api";
	rc.has_key = 1, rc.key.data = ip, rc.key.len = sizeof(ip);
	rc.has_window_start_unix_ms = 1, rc.window_start_unix_ms = 1795000000000ull;
	rc.has_count = 1, rc.count = 42;
	ban.limit = "api", ban.has_key = 1, ban.key.data = ip, ban.key.len = sizeof(ip);
	ban.has_until_unix_ms = 1, ban.until_unix_ms = 1795000060000ull, ban.origin = "node-a";
	sync.n_counts = 1, sync.counts = rcs;
	sync.n_bans = 1, sync.bans = bans;
	m.body_case = TANDEM__PEER_MESSAGE__BODY_SYNC, m.sync = &sync;
	seed_message(dir, "sync", &m);

	req.node = "node-b";
	m.body_case = TANDEM__PEER_MESSAGE__BODY_SYNC_REQUEST, m.sync_request = &req;
	seed_message(dir, "sync-request", &m);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	uint8_t k[WIRE_KEY_LEN];
	const char *seeds = getenv("FUZZ_WIRE_WRITE_SEEDS");

	(void)argc;
	(void)argv;
	kr = wire_keyring_new();
	check(kr != NULL, "keyring");
	fuzz_key(k, 1);
	check(wire_keyring_add(kr, 1, k) == 0, "key 1");
	fuzz_key(k, 2);
	check(wire_keyring_add(kr, 2, k) == 0, "key 2");
	cluster = wire_cluster_id("fuzz");
	wire_sender_init(&sender, cluster, FUZZ_SENDER, 1795000000);
	if (seeds != NULL) {
		write_seeds(seeds);
		exit(0);
	}
	return 0;
}

/* Unpack as hacd would, and re-pack what was accepted: both must hold up. */
static void decode(const uint8_t *p, size_t n)
{
	Tandem__PeerMessage *m = tandem__peer_message__unpack(NULL, n, p);
	uint8_t *out;
	size_t len;

	if (m == NULL)
		return;
	len = tandem__peer_message__get_packed_size(m);
	out = malloc(len + 1);
	check(out != NULL, "malloc");
	check(tandem__peer_message__pack(m, out) == len, "repack size");
	free(out);
	tandem__peer_message__free_unpacked(m, NULL);
}

static void as_datagram(const uint8_t *data, size_t size)
{
	uint8_t plain[WIRE_MAX_DATAGRAM];
	size_t plen = 0;
	struct wire_hdr h;
	struct wire_replay r;
	enum wire_verdict v = wire_open(kr, cluster, FUZZ_SELF, data, size, &h, plain, &plen);

	check((unsigned)v < WIRE_VERDICT_MAX, "verdict in range");
	check(wire_verdict_str(v) != NULL, "verdict name");
	if (v != WIRE_OK) {
		check(plen == 0, "no payload on rejection");
		return;
	}
	check(size >= WIRE_OVERHEAD && size <= WIRE_MAX_DATAGRAM, "accepted length");
	check(plen == size - WIRE_OVERHEAD, "payload length");
	check(h.magic == WIRE_MAGIC && h.version == WIRE_VERSION, "accepted header");
	check(h.cluster_id == cluster && h.sender_id != FUZZ_SELF, "accepted identity");
	wire_replay_init(&r);
	check(wire_replay_check(&r, h.epoch, h.seq) == WIRE_OK, "fresh window accepts");
	wire_replay_update(&r, h.epoch, h.seq);
	check(wire_replay_check(&r, h.epoch, h.seq) == WIRE_ERR_REPLAY, "window catches the replay");
	decode(plain, plen);
}

static void as_payload(const uint8_t *data, size_t size)
{
	uint8_t dg[WIRE_MAX_DATAGRAM], plain[WIRE_MAX_DATAGRAM];
	size_t plen = 0;
	struct wire_hdr h;
	ssize_t n = wire_seal(kr, &sender, data, size, dg, sizeof(dg));

	if (size > WIRE_MAX_PAYLOAD) {
		check(n == -1, "oversize payload refused");
		return;
	}
	check(n == (ssize_t)(size + WIRE_OVERHEAD), "seal length");
	check(wire_open(kr, cluster, FUZZ_SELF, dg, (size_t)n, &h, plain, &plen) == WIRE_OK, "round trip opens");
	check(plen == size && (size == 0 || memcmp(plain, data, size) == 0), "round trip exact");
	check(h.seq + 1 == sender.next_seq, "seq taken from the sender");
	decode(plain, plen);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	as_datagram(data, size);
	as_payload(data, size);
	return 0;
}
