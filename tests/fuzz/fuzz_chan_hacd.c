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
 * captured from the real daemons (see tests/fuzz/corpus/README).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hacd/channel.h"
#include "hacd/config.h"
#include "hacd/peer.h"
#include "hacd/repl.h"
#include "hacd/replica.h"
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

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct conf_err err;
	uint8_t key[WIRE_KEY_LEN];

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
