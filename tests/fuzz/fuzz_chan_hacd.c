/*
 * tests/fuzz/fuzz_chan_hacd.c — libFuzzer harness for what hacd does with
 * the bytes proxyd sends on hacd.chan: lib/frame cuts the stream (as
 * hacd/stream.c does), hacd/channel.c's channel_input() unpacks each
 * ChannelMessage and dispatches it, and a StateSync goes through
 * hacd/repl.c's accept ladder (admin and ticket-key entries refused and
 * counted, recent rate-limit resets honoured) into the replica store as
 * this node's own state.
 *
 * hacd here is real: its configuration parsed from text, a peer table, the
 * replication module on a lib/ev loop with a fake clock; only the sockets
 * are missing (sends to peers and proxyd fail and are counted). A fresh
 * hacd per input, so every crash reproduces from its input alone.
 *
 * Checked after every frame: the whole point of the channel's ladder — a
 * process that got onto the socket speaks only for this node's proxyd —
 * holds: the store never gains an admin entry or a ticket key from the
 * channel, every rate count, ban and health observation in it names this
 * node (n1) as origin, and the tables stay within their limits; readiness
 * is consistent (quiet only while draining). An oversized length or an
 * undecodable frame ends the stream, as hacd closes the connection then.
 *
 * Seeds: tests/fuzz/corpus/chan_hacd/, streams proxyd wrote to the channel,
 * captured from the real proxyd by tests/fuzz/capture-seeds.
 *
 * This file also writes the seeds of the other direction (fuzz_chan_proxyd:
 * what hacd sends proxyd), as hacd's own code writes them to a socketpair
 * standing in for proxyd's connection: the view and bulk sync a connecting
 * proxyd gets, operator admin changes and a rate-limit reset (hactl), a
 * peer's counts, bans and health forwarded, drain on and off, the ticket
 * key hacd makes:
 *   FUZZ_CHAN_PROXYD_WRITE_SEEDS=tests/fuzz/corpus/chan_proxyd build/fuzz/fuzz_chan_hacd
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hacd/channel.h"
#include "hacd/config.h"
#include "hacd/peer.h"
#include "hacd/repl.h"
#include "hacd/replica.h"
#include "hacd/stream.h"
#include "lib/ev.h"
#include "lib/frame.h"
#include "lib/log.h"
#include "lib/wire.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char conf_text[] =
    "cluster = \"t\";\n"
    "key_file = \"/nonexistent\";\n"
    "advert = \"100ms\";\n"
    "replication = { sync_interval = \"20ms\"; anti_entropy = \"0\"; max_admin = 8;\n"
    "                max_rate_keys = 64; max_bans = 16; max_health = 16; };\n"
    "nodes = ( { name = \"n1\"; address = \"10.99.9.1\"; },\n"
    "          { name = \"n2\"; address = \"10.99.9.2\"; } );\n"
    "vips = ( { name = \"web\"; address = \"10.99.9.100/24\"; interface = \"eth0\";\n"
    "           priority = { n1 = 150; n2 = 100; }; } );\n";

static uint64_t fake_now = 1000;
static struct hacd_config *cfg;
static struct wire_keyring *kr;

static uint64_t fake_clock(void *arg)
{
	(void)arg;
	return fake_now;
}

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_chan_hacd: invariant broken: %s\n", what);
		abort();
	}
}

static void write_proxyd_seeds(const char *dir);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct conf_err err;
	uint8_t key[WIRE_KEY_LEN];
	const char *dir = getenv("FUZZ_CHAN_PROXYD_WRITE_SEEDS");

	(void)argc;
	(void)argv;
	log_set_level(LOG_LVL_ERR);
	cfg = hacd_config_load_string("fuzz.conf", conf_text, "n1", &err);
	if (cfg == NULL) {
		fprintf(stderr, "fuzz_chan_hacd: %s\n", err.msg);
		abort();
	}
	kr = wire_keyring_new();
	memset(key, 0x42, sizeof(key));
	check(kr != NULL && wire_keyring_add(kr, 1, key) == 0, "keyring");
	if (dir != NULL) {
		write_proxyd_seeds(dir);
		exit(0);
	}
	return 0;
}

static void origin_is_self(void *arg, const struct replica_item *it)
{
	const char *o = NULL;

	(void)arg;
	switch (it->kind) {
	case REPLICA_RATE: o = it->u.rate->origin; break;
	case REPLICA_BAN: o = it->u.ban->origin; break;
	case REPLICA_HEALTH: o = it->u.health->origin; break;
	default: check(0, "an admin or ticket entry came from the channel");
	}
	check(o != NULL && strcmp(o, "n1") == 0, "an entry from proxyd names another origin");
}

static void check_state(const struct channel *ch, const struct repl *r)
{
	const struct replica_stats *st = replica_stats(repl_store(r));

	check(st->entries[REPLICA_ADMIN] == 0, "proxyd set an admin entry");
	check(st->entries[REPLICA_TICKET] == 0, "proxyd planted a ticket key");
	check(st->entries[REPLICA_RATE] <= 64 && st->entries[REPLICA_BAN] <= 16 &&
	    st->entries[REPLICA_HEALTH] <= 16, "tables within their limits");
	for (int k = REPLICA_RATE; k <= REPLICA_HEALTH; k++)
		replica_foreach(repl_store(r), (enum replica_kind)k, origin_is_self, NULL);
	check(!ch->quiet || ch->draining, "quiet only while draining");
	check(ch->ready == 0 || ch->ready == 1, "ready is a flag");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ev_loop *loop = ev_loop_new();
	static struct peer_table pt;
	static struct channel ch;
	static struct repl r;
	struct frame_conn fc;
	const uint8_t *msg;
	size_t len, split = size > 0 ? data[size - 1] % (size + 1) : 0;
	int rc = 0;

	check(loop != NULL, "loop");
	ev_set_clock(loop, fake_clock, NULL);
	ev_now_update(loop);
	memset(&pt, 0, sizeof(pt));
	memset(&ch, 0, sizeof(ch));
	peer_table_init(&pt, loop, cfg, kr, 100, NULL, NULL);
	/* channel_open's state without its socket: no proxyd connection. */
	ch.loop = loop;
	ch.lfd = -1;
	ch.rl = (struct log_ratelimit)LOG_RATELIMIT_INIT(1000);
	check(repl_init(&r, loop, cfg, &pt, &ch) == 0, "repl_init");

	/* The stream arrives in two reads, cut where the last byte says. */
	frame_conn_init(&fc, -1);
	for (int part = 0; part < 2 && rc == 0; part++) {
		size_t from = part == 0 ? 0 : split, to = part == 0 ? split : size;

		check(buf_append(&fc.in, data + from, to - from) == 0, "buffer");
		while ((rc = frame_next(&fc, &msg, &len)) == 1) {
			if (channel_input(&ch, msg, len) == -1) {
				rc = -1;
				break;
			}
			check_state(&ch, &r);
		}
	}
	check_state(&ch, &r);

	frame_conn_fini(&fc);
	repl_fini(&r);
	peer_table_fini(&pt);
	ev_loop_free(loop);
	return 0;
}

/* ---- seeds for fuzz_chan_proxyd: hacd's side writing ---------------------- */

static void ignore_frame(struct stream *st, const uint8_t *msg, size_t len)
{
	(void)st;
	(void)msg;
	(void)len;
}

static void put_file(const char *dir, const char *name, const uint8_t *p, size_t n)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	check(f != NULL, "seed file");
	fwrite(p, 1, n, f);
	fclose(f);
}

/* A peer's StateSync, as hacd/peer.c hands an accepted one to repl.c. */
static void peer_sync(struct peer_table *pt)
{
	Tandem__PeerMessage m = TANDEM__PEER_MESSAGE__INIT;
	Tandem__StateSync ss = TANDEM__STATE_SYNC__INIT;
	Tandem__RateCount c = TANDEM__RATE_COUNT__INIT, *cp = &c;
	Tandem__Ban b = TANDEM__BAN__INIT, *bp = &b;
	Tandem__HealthObs h = TANDEM__HEALTH_OBS__INIT, *hp = &h;
	static uint8_t key[16] = { [10] = 0xff, [11] = 0xff, [12] = 10, [13] = 99, [15] = 7 };
	uint64_t now = ev_wall_ms();

	c.origin = "n2";
	c.limit = "api";
	c.has_key = c.has_window_start_unix_ms = c.has_count = 1;
	c.key.data = key;
	c.key.len = sizeof(key);
	c.window_start_unix_ms = now - now % 10000;
	c.count = 42;
	b.origin = "n2";
	b.limit = "api";
	b.has_key = b.has_until_unix_ms = b.has_started_unix_ms = 1;
	b.key.data = key;
	b.key.len = sizeof(key);
	b.until_unix_ms = now + 600000;
	b.started_unix_ms = now - 1000;
	h.origin = "n2";
	h.upstream = "app";
	h.server = "s1";
	h.has_up = h.has_observed_unix_ms = 1;
	h.up = 0;
	h.observed_unix_ms = now - 200;
	ss.n_counts = ss.n_bans = ss.n_health = 1;
	ss.counts = &cp;
	ss.bans = &bp;
	ss.health = &hp;
	ss.has_sent_unix_ms = 1;
	ss.sent_unix_ms = now;
	m.body_case = TANDEM__PEER_MESSAGE__BODY_SYNC;
	m.sync = &ss;
	pt->sync(pt->sync_arg, 1, &m, 100);
}

static void write_proxyd_seeds(const char *dir)
{
	struct ev_loop *loop = ev_loop_new();
	static struct peer_table pt;
	static struct channel ch;
	static struct repl r;
	static uint8_t all[1 << 16];
	struct frame_conn rx;
	const uint8_t *msg;
	size_t len, n = 0, total = 0, cut = 0;
	char msgbuf[256], name[32];
	int sv[2];

	check(loop != NULL, "loop");
	ev_set_clock(loop, fake_clock, NULL);
	ev_now_update(loop);
	peer_table_init(&pt, loop, cfg, kr, 100, NULL, NULL);
	ch.loop = loop;
	ch.lfd = -1;
	ch.rl = (struct log_ratelimit)LOG_RATELIMIT_INIT(1000);
	check(repl_init(&r, loop, cfg, &pt, &ch) == 0, "repl_init");
	check(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0, "socketpair");
	ch.conn = stream_new(loop, sv[0], ignore_frame, NULL, &ch);
	check(ch.conn != NULL, "stream");

	check(repl_admin_set(&r, "app", "s1", TANDEM__ADMIN_STATE__ADMIN_DRAIN, -1, msgbuf, sizeof(msgbuf)) == 0,
	    "admin");
	ch.connected(ch.sync_arg);              /* proxyd connects: view, then the bulk */
	check(repl_admin_set(&r, "app", "s2", TANDEM__ADMIN_STATE__ADMIN_READY, 7, msgbuf, sizeof(msgbuf)) == 0,
	    "admin");
	peer_sync(&pt);
	check(repl_rate_reset(&r, "api", (const uint8_t *)"\0\0\0\0\0\0\0\0\0\0\xff\xff\x0a\x63\0\x07", 16,
	    msgbuf, sizeof(msgbuf)) == 0, "reset");
	channel_send_drain(&ch, 1);
	channel_send_drain(&ch, 0);
	for (int i = 0; i < 50; i++) {          /* timers: pump, deltas, the ticket key */
		fake_now += 100;
		ev_now_update(loop);
		ev_run_once(loop, 0);
	}
	/* Last, so the frames before keep their seed names. */
	check(repl_cache_purge(&r, "http://tandem.test/img/", 1, msgbuf, sizeof(msgbuf)) == 0, "purge");

	frame_conn_init(&rx, sv[1]);
	check(frame_read(&rx) == 1, "read");
	while (frame_next(&rx, &msg, &len) == 1) {
		Tandem__ChannelMessage *m = tandem__channel_message__unpack(NULL, len, msg);

		check(m != NULL, "hacd wrote a ChannelMessage");
		snprintf(name, sizeof(name), "hacd-%02zu-%s", n++,
		    m->body_case == TANDEM__CHANNEL_MESSAGE__BODY_SYNC ? "sync" :
		    m->body_case == TANDEM__CHANNEL_MESSAGE__BODY_VIEW ? "view" :
		    m->body_case == TANDEM__CHANNEL_MESSAGE__BODY_RESET ? "reset" :
		    m->body_case == TANDEM__CHANNEL_MESSAGE__BODY_PURGE ? "purge" :
		    m->body_case == TANDEM__CHANNEL_MESSAGE__BODY_DRAIN ? "drain" : "other");
		tandem__channel_message__free_unpacked(m, NULL);
		put_file(dir, name, msg - FRAME_HDR_LEN, len + FRAME_HDR_LEN);
		if (total + len + FRAME_HDR_LEN <= sizeof(all)) {
			memcpy(all + total, msg - FRAME_HDR_LEN, len + FRAME_HDR_LEN);
			total += len + FRAME_HDR_LEN;
			if (total <= 4096)
				cut = total;
		}
	}
	put_file(dir, "hacd-stream", all, cut);
	printf("fuzz_chan_hacd: %zu frames from hacd in %s\n", n, dir);
	frame_conn_fini(&rx);
	stream_close(ch.conn);
	ev_run_once(loop, 0);
	repl_fini(&r);
	peer_table_fini(&pt);
	ev_loop_free(loop);
}
