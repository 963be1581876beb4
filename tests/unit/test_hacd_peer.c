/*
 * tests/unit/test_hacd_peer.c — hacd's heartbeat receive ladder.
 *
 * The property under test: a datagram refused at any rung of the ladder
 * (hacd/peer.c peer_input) changes nothing but its own counter — not the
 * peer entry, not the replay window, not the dead timer, and no callback
 * reaches the election. Real lib/wire sealing, a real lib/ev loop on a fake
 * clock; the table is (how the datagram is made) -> (outcome, counter).
 * State sync datagrams ride the same ladder: only an accepted one reaches
 * the sync callback (hacd/repl.c, and through it the replicated store).
 *
 * Freshness (hacd/fresh.c): a table that has just been set up is a
 * receiver that has just restarted, with empty replay windows. A recording
 * of n2's genuine datagrams fits into them, so nothing n2 sends counts
 * until it echoes the challenge in our own heartbeat (built here with
 * peer_build_heartbeat, as peer_send_heartbeat would send it).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "hacd/config.h"
#include "hacd/peer.h"
#include "lib/ev.h"
#include "lib/log.h"
#include "lib/net.h"
#include "lib/wire.h"
#include "proto/tandem.pb-c.h"

static const char conf_text[] =
    "cluster = \"t\";\n"
    "key_file = \"/nonexistent\";\n"
    "advert = \"100ms\";\n"
    "nodes = ( { name = \"n1\"; address = \"10.99.9.1\"; },\n"
    "          { name = \"n2\"; address = \"10.99.9.2\"; } );\n"
    "vips = ( { name = \"web\"; address = \"10.99.9.100/24\"; interface = \"eth0\";\n"
    "           priority = { n1 = 150; n2 = 100; }; } );\n";

static uint64_t fake_now;
static int changed_calls, kick_calls;
static int hb_marker;   /* heartbeats say proves_freshness (as every hacd with the proof does) */

static uint64_t fake_clock(void *arg)
{
	(void)arg;
	return fake_now;
}

static void on_changed(void *arg, size_t node, const char *what)
{
	(void)arg;
	(void)node;
	(void)what;
	changed_calls++;
}

struct fixture {
	struct ev_loop *loop;
	struct hacd_config *cfg;
	struct wire_keyring *kr;        /* the cluster key, id 1 */
	struct wire_keyring *kr_otherid; /* id 2: unknown to the receiver */
	struct wire_keyring *kr_wrong;  /* id 1, other bytes: fails authentication */
	struct peer_table pt;
	struct sockaddr_storage from_n2, from_other;
	socklen_t len;
};

static struct fixture fx;

static size_t seal(uint8_t *out, const struct wire_keyring *kr, const char *cluster,
    const char *sender, uint64_t epoch, uint64_t seq, const uint8_t *payload, size_t plen);

static void on_kick(void *arg)
{
	(void)arg;
	kick_calls++;
}

/* A heartbeat from `node`; with echo, it echoes that nonce to n1, and with
 * challenge it challenges n1 with that one. */
static size_t heartbeat_with(uint8_t *out, size_t cap, const char *node, const uint8_t *echo,
    const uint8_t *challenge)
{
	Tandem__PeerMessage m = TANDEM__PEER_MESSAGE__INIT;
	Tandem__Heartbeat hb = TANDEM__HEARTBEAT__INIT;
	Tandem__VipAdvert va = TANDEM__VIP_ADVERT__INIT, *vp = &va;
	Tandem__Challenge e = TANDEM__CHALLENGE__INIT, c = TANDEM__CHALLENGE__INIT, *ep = &e, *cp = &c;
	size_t n;

	hb.has_proves_freshness = hb.proves_freshness = hb_marker;
	if (echo != NULL) {
		e.has_node_id = e.has_nonce = 1;
		e.node_id = wire_cluster_id("n1");
		e.nonce.data = (uint8_t *)echo;
		e.nonce.len = FRESH_NONCE_LEN;
		hb.n_echoes = 1;
		hb.echoes = &ep;
	}
	if (challenge != NULL) {
		c.has_node_id = c.has_nonce = 1;
		c.node_id = wire_cluster_id("n1");
		c.nonce.data = (uint8_t *)challenge;
		c.nonce.len = FRESH_NONCE_LEN;
		hb.n_challenges = 1;
		hb.challenges = &cp;
	}

	va.name = "web";
	va.has_priority = 1;
	va.priority = 100;
	va.has_role = 1;
	va.role = TANDEM__VIP_ROLE__VIP_MASTER;
	hb.node = (char *)node;
	hb.n_vips = 1;
	hb.vips = &vp;
	m.body_case = TANDEM__PEER_MESSAGE__BODY_HEARTBEAT;
	m.heartbeat = &hb;
	n = tandem__peer_message__get_packed_size(&m);
	assert_true(n <= cap);
	tandem__peer_message__pack(&m, out);
	return n;
}

static size_t heartbeat(uint8_t *out, size_t cap, const char *node)
{
	return heartbeat_with(out, cap, node, NULL, NULL);
}

/* The nonce of node_id in list (challenges or echoes) into out: 1, or 0 if none. */
static int find_nonce(Tandem__Challenge **list, size_t n, uint32_t node_id, uint8_t *out)
{
	for (size_t i = 0; i < n; i++)
		if (list[i]->has_node_id && list[i]->node_id == node_id && list[i]->has_nonce &&
		    list[i]->nonce.len == FRESH_NONCE_LEN) {
			memcpy(out, list[i]->nonce.data, FRESH_NONCE_LEN);
			return 1;
		}
	return 0;
}

/* Build n1's next heartbeat as hacd would send it; report the challenge it
 * carries for n2 and the echo it carries for n2 (each 1 if present). */
static void our_heartbeat(uint8_t *challenge, int *has_challenge, uint8_t *echo, int *has_echo)
{
	Tandem__Heartbeat hb = TANDEM__HEARTBEAT__INIT;
	Tandem__PeerMessage *m;
	uint8_t pl[WIRE_MAX_PAYLOAD];
	ssize_t n;

	hb.node = "n1";
	n = peer_build_heartbeat(&fx.pt, &hb, pl, sizeof(pl));
	assert_true(n > 0);
	m = tandem__peer_message__unpack(NULL, (size_t)n, pl);
	assert_non_null(m);
	assert_int_equal(m->body_case, TANDEM__PEER_MESSAGE__BODY_HEARTBEAT);
	*has_challenge = find_nonce(m->heartbeat->challenges, m->heartbeat->n_challenges,
	    wire_cluster_id("n2"), challenge);
	if (has_echo != NULL)
		*has_echo = find_nonce(m->heartbeat->echoes, m->heartbeat->n_echoes, wire_cluster_id("n2"), echo);
	tandem__peer_message__free_unpacked(m, NULL);
}

/* n2 answers the challenge in our next heartbeat with a heartbeat sealed
 * at (epoch, seq); returns what the ladder made of it. */
static enum peer_drop prove(uint64_t epoch, uint64_t seq)
{
	uint8_t nonce[FRESH_NONCE_LEN], pl[512], d[WIRE_MAX_DATAGRAM];
	int has;
	size_t pn, dn;

	our_heartbeat(nonce, &has, NULL, NULL);
	assert_true(has);
	pn = heartbeat_with(pl, sizeof(pl), "n2", nonce, NULL);
	dn = seal(d, fx.kr, "t", "n2", epoch, seq, pl, pn);
	return peer_input(&fx.pt, d, dn, (struct sockaddr *)&fx.from_n2);
}

/* Seal payload as `sender` (a node name) in `cluster` at (epoch, seq). */
static size_t seal(uint8_t *out, const struct wire_keyring *kr, const char *cluster,
    const char *sender, uint64_t epoch, uint64_t seq, const uint8_t *payload, size_t plen)
{
	struct wire_sender s;
	ssize_t n;

	wire_sender_init(&s, wire_cluster_id(cluster), wire_cluster_id(sender), epoch);
	s.next_seq = seq;
	n = wire_seal(kr, &s, payload, plen, out, WIRE_MAX_DATAGRAM);
	assert_true(n > 0);
	return (size_t)n;
}

enum kind {
	K_EMPTY, K_GARBAGE, K_OTHER_KEY_ID, K_WRONG_KEY, K_WRONG_CLUSTER, K_OWN, K_TAMPERED,
	K_UNKNOWN_SENDER, K_WRONG_SOURCE, K_NOT_PROTOBUF, K_NAME_MISMATCH, K_OVERSIZE,
};

static const struct {
	const char *name;
	enum kind kind;
	enum peer_drop want;
	enum wire_verdict verdict;      /* for PEER_DROP_WIRE */
} cases[] = {
	{ "empty datagram",            K_EMPTY,          PEER_DROP_WIRE, WIRE_ERR_SHORT },
	{ "random bytes",              K_GARBAGE,        PEER_DROP_WIRE, WIRE_ERR_MAGIC },
	{ "oversized datagram",        K_OVERSIZE,       PEER_DROP_WIRE, WIRE_ERR_OVERSIZE },
	{ "sealed with another key id", K_OTHER_KEY_ID,  PEER_DROP_WIRE, WIRE_ERR_KEYID },
	{ "sealed with a wrong key",   K_WRONG_KEY,      PEER_DROP_WIRE, WIRE_ERR_AUTH },
	{ "other cluster",             K_WRONG_CLUSTER,  PEER_DROP_WIRE, WIRE_ERR_CLUSTER },
	{ "our own sender id",         K_OWN,            PEER_DROP_WIRE, WIRE_ERR_SELF },
	{ "one ciphertext bit flipped", K_TAMPERED,      PEER_DROP_WIRE, WIRE_ERR_AUTH },
	{ "sender id of no node",      K_UNKNOWN_SENDER, PEER_DROP_UNKNOWN_SENDER, WIRE_OK },
	{ "n2's datagram from elsewhere", K_WRONG_SOURCE, PEER_DROP_WRONG_SOURCE, WIRE_OK },
	{ "authentic but not protobuf", K_NOT_PROTOBUF,  PEER_DROP_BAD_PROTOBUF, WIRE_OK },
	{ "heartbeat naming n1 from n2", K_NAME_MISMATCH, PEER_DROP_NAME_MISMATCH, WIRE_OK },
};

static enum peer_drop feed(enum kind k, uint64_t seq)
{
	static uint8_t big[WIRE_MAX_DATAGRAM + 100];
	uint8_t pl[512], d[WIRE_MAX_DATAGRAM];
	size_t pn = heartbeat(pl, sizeof(pl), "n2"), dn = 0;
	const struct sockaddr *from = (struct sockaddr *)&fx.from_n2;

	switch (k) {
	case K_EMPTY:
		return peer_input(&fx.pt, d, 0, from);
	case K_GARBAGE:
		for (size_t i = 0; i < 200; i++)
			d[i] = (uint8_t)(i * 37 + 11);
		return peer_input(&fx.pt, d, 200, from);
	case K_OVERSIZE:
		memset(big, 0, sizeof(big));
		return peer_input(&fx.pt, big, sizeof(big), from);
	case K_OTHER_KEY_ID:
		dn = seal(d, fx.kr_otherid, "t", "n2", 7, seq, pl, pn);
		break;
	case K_WRONG_KEY:
		dn = seal(d, fx.kr_wrong, "t", "n2", 7, seq, pl, pn);
		break;
	case K_WRONG_CLUSTER:
		dn = seal(d, fx.kr, "other", "n2", 7, seq, pl, pn);
		break;
	case K_OWN:
		dn = seal(d, fx.kr, "t", "n1", 7, seq, pl, pn);
		break;
	case K_TAMPERED:
		dn = seal(d, fx.kr, "t", "n2", 7, seq, pl, pn);
		d[WIRE_HDR_LEN + 3] ^= 0x10;
		break;
	case K_UNKNOWN_SENDER:
		dn = seal(d, fx.kr, "t", "n9", 7, seq, pl, pn);
		break;
	case K_WRONG_SOURCE:
		dn = seal(d, fx.kr, "t", "n2", 7, seq, pl, pn);
		from = (struct sockaddr *)&fx.from_other;
		break;
	case K_NOT_PROTOBUF:
		memset(pl, 0xff, 40);
		dn = seal(d, fx.kr, "t", "n2", 7, seq, pl, 40);
		break;
	case K_NAME_MISMATCH:
		pn = heartbeat(pl, sizeof(pl), "n1");
		dn = seal(d, fx.kr, "t", "n2", 7, seq, pl, pn);
		break;
	}
	return peer_input(&fx.pt, d, dn, from);
}

static int setup(void **state)
{
	struct conf_err err;
	uint8_t key[WIRE_KEY_LEN];
	socklen_t len;

	(void)state;
	log_set_level(LOG_LVL_ERR);
	memset(&fx, 0, sizeof(fx));
	fake_now = 1000;
	changed_calls = kick_calls = hb_marker = 0;
	fx.loop = ev_loop_new();
	assert_non_null(fx.loop);
	ev_set_clock(fx.loop, fake_clock, NULL);
	ev_now_update(fx.loop);
	fx.cfg = hacd_config_load_string("test.conf", conf_text, "n1", &err);
	if (fx.cfg == NULL)
		fail_msg("%s", err.msg);
	fx.kr = wire_keyring_new();
	fx.kr_otherid = wire_keyring_new();
	fx.kr_wrong = wire_keyring_new();
	memset(key, 0x42, sizeof(key));
	assert_int_equal(wire_keyring_add(fx.kr, 1, key), 0);
	assert_int_equal(wire_keyring_add(fx.kr_otherid, 2, key), 0);
	key[0] ^= 1;
	assert_int_equal(wire_keyring_add(fx.kr_wrong, 1, key), 0);
	peer_table_init(&fx.pt, fx.loop, fx.cfg, fx.kr, 100, on_changed, NULL);
	peer_table_set_kick(&fx.pt, on_kick, NULL);
	assert_int_equal(net_parse_addr("10.99.9.2:7007", -1, &fx.from_n2, &len), 0);
	assert_int_equal(net_parse_addr("10.99.9.66:7007", -1, &fx.from_other, &len), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	peer_table_fini(&fx.pt);
	wire_keyring_free(fx.kr);
	wire_keyring_free(fx.kr_otherid);
	wire_keyring_free(fx.kr_wrong);
	hacd_config_free(fx.cfg);
	ev_loop_free(fx.loop);
	return 0;
}

/* Every refused datagram, before the peer was ever heard: nothing moves. */
static void test_refused_change_nothing(void **state)
{
	struct peer before;

	(void)state;
	memcpy(&before, &fx.pt.peers[1], sizeof(before));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct peer_stats st = fx.pt.stats;
		enum peer_drop got = feed(cases[i].kind, 1);

		if (got != cases[i].want)
			fail_msg("%s: outcome %s, want %s", cases[i].name, peer_drop_str(got),
			    peer_drop_str(cases[i].want));
		assert_int_equal(fx.pt.stats.drops[cases[i].want], st.drops[cases[i].want] + 1);
		if (cases[i].want == PEER_DROP_WIRE)
			assert_int_equal(fx.pt.stats.wire[cases[i].verdict], st.wire[cases[i].verdict] + 1);
		if (memcmp(&before, &fx.pt.peers[1], sizeof(before)) != 0)
			fail_msg("%s: the peer entry changed", cases[i].name);
	}
	assert_int_equal(fx.pt.stats.drops[PEER_ACCEPTED], 0);
	assert_int_equal(changed_calls, 0);
	assert_false(ev_timer_active(&fx.pt.peers[1].dead_timer));
	/* None of them consumed seq 1, not even the authentic ones that
	 * failed decoding: the genuine datagram with it is still fresh. */
	assert_int_equal(prove(7, 1), PEER_ACCEPTED);
	assert_int_equal(changed_calls, 1);
}

/* A genuine heartbeat is accepted once; its replay and an older epoch are
 * refused without postponing the dead timer (keepalived 2.2.7's flaw). */
static void test_accept_then_replay(void **state)
{
	uint8_t pl[512], d[WIRE_MAX_DATAGRAM];
	size_t pn = heartbeat(pl, sizeof(pl), "n2");
	size_t dn = seal(d, fx.kr, "t", "n2", 7, 1, pl, pn);
	uint8_t old[WIRE_MAX_DATAGRAM];
	size_t on = seal(old, fx.kr, "t", "n2", 6, 50, pl, pn);
	const struct sockaddr *from = (struct sockaddr *)&fx.from_n2;
	struct peer before;
	uint64_t when;

	(void)state;
	/* Unproven (we just started): counted and dropped, nothing else. */
	assert_int_equal(peer_input(&fx.pt, d, dn, from), PEER_DROP_HB_UNPROVEN);
	assert_false(fx.pt.peers[1].alive);
	assert_int_equal(changed_calls, 0);
	/* n2 echoes our challenge with seq 2. */
	assert_int_equal(prove(7, 2), PEER_ACCEPTED);
	assert_true(fx.pt.peers[1].alive);
	assert_int_equal(fx.pt.peers[1].vips[0].role, ELECTION_MASTER);
	assert_int_equal(fx.pt.peers[1].vips[0].prio, 100);
	assert_true(ev_timer_active(&fx.pt.peers[1].dead_timer));
	assert_int_equal(changed_calls, 1);
	when = fx.pt.peers[1].dead_timer.when_ms;

	fake_now += 250;
	ev_now_update(fx.loop);
	memcpy(&before, &fx.pt.peers[1], sizeof(before));
	for (int rep = 0; rep < 1000; rep++) {
		assert_int_equal(peer_input(&fx.pt, d, dn, from), PEER_DROP_WIRE);
		assert_int_equal(peer_input(&fx.pt, old, on, from), PEER_DROP_WIRE);
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
			assert_int_equal(feed(cases[i].kind, 3), cases[i].want);
	}
	assert_int_equal(fx.pt.stats.wire[WIRE_ERR_REPLAY], 1000);
	assert_int_equal(fx.pt.stats.wire[WIRE_ERR_OLD_EPOCH], 1000);
	assert_memory_equal(&before, &fx.pt.peers[1], sizeof(before));
	assert_int_equal(fx.pt.peers[1].dead_timer.when_ms, when);
	assert_int_equal(changed_calls, 1);

	/* The next genuine one is accepted and does re-arm the timer, and an
	 * identical view calls nobody. */
	dn = seal(d, fx.kr, "t", "n2", 7, 3, pl, pn);
	assert_int_equal(peer_input(&fx.pt, d, dn, from), PEER_ACCEPTED);
	assert_true(fx.pt.peers[1].dead_timer.when_ms > when);
	assert_int_equal(changed_calls, 1);
}

/* n2's heartbeat with its list of heard peers: lists 0 = an older sender
 * without the list; name NULL = a list that names nobody. */
static size_t heartbeat_heard(uint8_t *out, size_t cap, int lists, const char *name)
{
	Tandem__PeerMessage m = TANDEM__PEER_MESSAGE__INIT;
	Tandem__Heartbeat hb = TANDEM__HEARTBEAT__INIT;
	char *heard[1] = { (char *)name };
	size_t n;

	hb.node = "n2";
	hb.has_lists_heard = lists;
	hb.lists_heard = lists;
	hb.n_heard = name != NULL ? 1 : 0;
	hb.heard = heard;
	m.body_case = TANDEM__PEER_MESSAGE__BODY_HEARTBEAT;
	m.heartbeat = &hb;
	n = tandem__peer_message__get_packed_size(&m);
	assert_true(n <= cap);
	tandem__peer_message__pack(&m, out);
	return n;
}

/* Whether a peer hears this node (the election preempts a live owner only
 * then) comes from the peer's heard list; an older sender's heartbeat
 * without one counts as hearing us; a change moves the view. */
static void test_heard_list(void **state)
{
	static const struct {
		int lists;
		const char *name;
		int hears;
	} steps[] = {
		{ 0, NULL, 1 },    /* an older hacd: assumed to hear us, as before */
		{ 1, NULL, 0 },    /* it names nobody: our heartbeats do not reach it */
		{ 1, "n2", 0 },    /* itself is not us */
		{ 1, "n1", 1 },
		{ 1, NULL, 0 },
	};
	const struct sockaddr *from = (struct sockaddr *)&fx.from_n2;
	uint8_t pl[512], d[WIRE_MAX_DATAGRAM];
	int calls = 0, was = 0;

	(void)state;
	/* The peer proves itself fresh first (it comes alive then, with a
	 * heartbeat that lists nobody's hearing: an older sender's form). */
	assert_int_equal(prove(7, 1), PEER_ACCEPTED);
	assert_int_equal(fx.pt.peers[1].hears_self, 1);
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		size_t pn = heartbeat_heard(pl, sizeof(pl), steps[i].lists, steps[i].name);
		size_t dn = seal(d, fx.kr, "t", "n2", 7, i + 2, pl, pn);

		assert_int_equal(peer_input(&fx.pt, d, dn, from), PEER_ACCEPTED);
		if (fx.pt.peers[1].hears_self != steps[i].hears)
			fail_msg("step %zu: hears_self %d, want %d", i, fx.pt.peers[1].hears_self,
			    steps[i].hears);
		/* The first one may differ from the proving heartbeat in
		 * other fields too; after that only a change calls back. */
		if (i == 0)
			calls = changed_calls;
		else
			calls += steps[i].hears != was;
		assert_int_equal(changed_calls, calls);
		was = steps[i].hears;
	}
}

/* A vote is taken only from a node configured as a witness (hacd/quorum.c):
 * n2 is a plain node here, so its heartbeat saying "witness, votes for
 * n1" is accepted as a heartbeat and its vote is not. */
static void test_vote_only_from_a_witness(void **state)
{
	Tandem__PeerMessage m = TANDEM__PEER_MESSAGE__INIT;
	Tandem__Heartbeat hb = TANDEM__HEARTBEAT__INIT;
	uint8_t pl[512], d[WIRE_MAX_DATAGRAM];
	size_t pn, dn;

	(void)state;
	assert_int_equal(prove(7, 1), PEER_ACCEPTED);
	assert_int_equal(fx.pt.peers[1].vote_for, -1);
	hb.node = "n2";
	hb.has_witness = hb.witness = 1;
	hb.vote_for = "n1";
	hb.has_quorate = 1;
	hb.quorate = 0;
	m.body_case = TANDEM__PEER_MESSAGE__BODY_HEARTBEAT;
	m.heartbeat = &hb;
	pn = tandem__peer_message__get_packed_size(&m);
	assert_true(pn <= sizeof(pl));
	tandem__peer_message__pack(&m, pl);
	dn = seal(d, fx.kr, "t", "n2", 7, 2, pl, pn);
	assert_int_equal(peer_input(&fx.pt, d, dn, (struct sockaddr *)&fx.from_n2), PEER_ACCEPTED);
	assert_int_equal(fx.pt.peers[1].vote_for, -1);
	/* What it says of its own count is recorded (status, start-up). */
	assert_int_equal(fx.pt.peers[1].quorate, 0);
}

static int sync_calls, request_calls;
static size_t sync_admin_seen;

static void on_sync(void *arg, size_t node, const Tandem__PeerMessage *msg, size_t len)
{
	(void)arg;
	assert_int_equal(node, 1);
	if (msg->body_case == TANDEM__PEER_MESSAGE__BODY_SYNC) {
		assert_true(len > 0);
		sync_calls++;
		sync_admin_seen += msg->sync->n_admin;
	} else {
		assert_int_equal(msg->body_case, TANDEM__PEER_MESSAGE__BODY_SYNC_REQUEST);
		request_calls++;
	}
}

/* A PeerMessage{sync} with one admin entry, or {sync_request{node}}. */
static size_t sync_payload(uint8_t *out, size_t cap, const char *request_node)
{
	Tandem__PeerMessage m = TANDEM__PEER_MESSAGE__INIT;
	Tandem__StateSync ss = TANDEM__STATE_SYNC__INIT;
	Tandem__ServerAdmin a = TANDEM__SERVER_ADMIN__INIT, *ap = &a;
	Tandem__SyncRequest q = TANDEM__SYNC_REQUEST__INIT;
	size_t n;

	if (request_node != NULL) {
		q.node = (char *)request_node;
		m.body_case = TANDEM__PEER_MESSAGE__BODY_SYNC_REQUEST;
		m.sync_request = &q;
	} else {
		a.upstream = "app";
		a.server = "app2";
		a.has_state = 1;
		a.state = TANDEM__ADMIN_STATE__ADMIN_DRAIN;
		a.has_set_unix_ms = 1;
		a.set_unix_ms = 1;
		ss.n_admin = 1;
		ss.admin = &ap;
		m.body_case = TANDEM__PEER_MESSAGE__BODY_SYNC;
		m.sync = &ss;
	}
	n = tandem__peer_message__get_packed_size(&m);
	assert_true(n <= cap);
	tandem__peer_message__pack(&m, out);
	return n;
}

/* State sync rides the same ladder: only an authentic, fresh datagram from
 * the peer's address reaches the sync callback; it does not touch the
 * peer entry or its dead timer (only heartbeats say a peer is alive). */
static void test_sync_ladder(void **state)
{
	uint8_t pl[512], d[WIRE_MAX_DATAGRAM];
	size_t pn = sync_payload(pl, sizeof(pl), NULL), dn;
	const struct sockaddr *from = (struct sockaddr *)&fx.from_n2;
	struct peer before;
	uint64_t when;

	(void)state;
	sync_calls = request_calls = 0;
	sync_admin_seen = 0;
	peer_table_set_sync(&fx.pt, on_sync, NULL);
	/* Before n2 proved itself (we just restarted): dropped and counted;
	 * the store never sees it, and its seq is spent. */
	dn = seal(d, fx.kr, "t", "n2", 7, 1, pl, pn);
	assert_int_equal(peer_input(&fx.pt, d, dn, from), PEER_DROP_SYNC_UNPROVEN);
	assert_int_equal(fx.pt.stats.drops[PEER_DROP_SYNC_UNPROVEN], 1);
	assert_int_equal(peer_input(&fx.pt, d, dn, from), PEER_DROP_WIRE);   /* replay */
	assert_int_equal(sync_calls, 0);
	assert_int_equal(prove(7, 2), PEER_ACCEPTED);
	changed_calls = 0;
	when = fx.pt.peers[1].dead_timer.when_ms;

	/* Without a taker it is authentic but ignored (and consumes its seq). */
	peer_table_set_sync(&fx.pt, NULL, NULL);
	dn = seal(d, fx.kr, "t", "n2", 7, 3, pl, pn);
	assert_int_equal(peer_input(&fx.pt, d, dn, from), PEER_DROP_IGNORED);
	peer_table_set_sync(&fx.pt, on_sync, NULL);
	assert_int_equal(peer_input(&fx.pt, d, dn, from), PEER_DROP_WIRE);   /* replay */
	assert_int_equal(sync_calls, 0);

	memcpy(&before, &fx.pt.peers[1], sizeof(before));
	dn = seal(d, fx.kr, "t", "n2", 7, 4, pl, pn);
	/* Forged (wrong key), from elsewhere, then the genuine one. */
	{
		uint8_t f[WIRE_MAX_DATAGRAM];
		size_t fn = seal(f, fx.kr_wrong, "t", "n2", 7, 5, pl, pn);

		assert_int_equal(peer_input(&fx.pt, f, fn, from), PEER_DROP_WIRE);
		fn = seal(f, fx.kr_otherid, "t", "n2", 7, 5, pl, pn);
		assert_int_equal(peer_input(&fx.pt, f, fn, from), PEER_DROP_WIRE);
		assert_int_equal(peer_input(&fx.pt, d, dn, (struct sockaddr *)&fx.from_other), PEER_DROP_WRONG_SOURCE);
		assert_int_equal(sync_calls, 0);
	}
	assert_int_equal(peer_input(&fx.pt, d, dn, from), PEER_ACCEPTED);
	assert_int_equal(sync_calls, 1);
	assert_int_equal(sync_admin_seen, 1);
	for (int rep = 0; rep < 100; rep++)
		assert_int_equal(peer_input(&fx.pt, d, dn, from), PEER_DROP_WIRE);
	assert_int_equal(sync_calls, 1);
	/* The window moved, nothing else: no liveness, no timer, no callback. */
	assert_int_equal(fx.pt.peers[1].dead_timer.when_ms, when);
	assert_int_equal(changed_calls, 0);
	before.replay = fx.pt.peers[1].replay;
	assert_memory_equal(&before, &fx.pt.peers[1], sizeof(before));

	/* A sync request naming another node is refused and consumes nothing;
	 * the right name (or none) is taken. */
	pn = sync_payload(pl, sizeof(pl), "n1");
	dn = seal(d, fx.kr, "t", "n2", 7, 10, pl, pn);
	assert_int_equal(peer_input(&fx.pt, d, dn, from), PEER_DROP_NAME_MISMATCH);
	assert_int_equal(request_calls, 0);
	pn = sync_payload(pl, sizeof(pl), "n2");
	dn = seal(d, fx.kr, "t", "n2", 7, 10, pl, pn);
	assert_int_equal(peer_input(&fx.pt, d, dn, from), PEER_ACCEPTED);
	assert_int_equal(request_calls, 1);
	assert_int_equal(peer_input(&fx.pt, d, dn, from), PEER_DROP_WIRE);
	assert_int_equal(request_calls, 1);
	assert_int_equal(sync_calls, 1);
}

/*
 * The attack: this node restarted (fresh table, empty windows) and an
 * attacker replays, in order, a recording of the now dead n2 — heartbeats
 * claiming the VIP, one echoing a nonce of our previous life, a StateSync
 * and a SyncRequest. Nothing makes n2 alive, nothing reaches the store, and
 * each drop is counted. Then the live n2 proves itself, its SyncRequest
 * made before the proof is answered, and the rest of the recording (seqs
 * the window never saw) is refused as older than the proof.
 */
static void test_replay_after_restart(void **state)
{
	const struct sockaddr *from = (struct sockaddr *)&fx.from_n2;
	uint8_t pl[512], d[WIRE_MAX_DATAGRAM], stale[FRESH_NONCE_LEN], rec[8][WIRE_MAX_DATAGRAM];
	size_t pn, rn[8];
	uint64_t seq = 100;

	(void)state;
	sync_calls = request_calls = 0;
	peer_table_set_sync(&fx.pt, on_sync, NULL);
	memset(stale, 0x5a, sizeof(stale));
	/* The recording: seqs 100..107 of epoch 7. */
	for (int i = 0; i < 8; i++, seq++) {
		if (i == 2)
			pn = heartbeat_with(pl, sizeof(pl), "n2", stale, NULL);
		else if (i == 4)
			pn = sync_payload(pl, sizeof(pl), NULL);
		else if (i == 5)
			pn = sync_payload(pl, sizeof(pl), "n2");
		else
			pn = heartbeat(pl, sizeof(pl), "n2");
		rn[i] = seal(rec[i], fx.kr, "t", "n2", 7, seq, pl, pn);
	}
	/* Replayed in order, twice over: the first heard also challenge it. */
	for (int i = 0; i < 4; i++) {
		static const enum peer_drop want[4] = {
			PEER_DROP_HB_UNPROVEN, PEER_DROP_HB_UNPROVEN, PEER_DROP_BAD_ECHO, PEER_DROP_HB_UNPROVEN,
		};

		assert_int_equal(peer_input(&fx.pt, rec[i], rn[i], from), want[i]);
	}
	assert_true(kick_calls > 0);          /* a challenge should go out now */
	{
		uint8_t nonce[FRESH_NONCE_LEN];
		int has;

		our_heartbeat(nonce, &has, NULL, NULL);
		assert_true(has);
		assert_int_equal(fx.pt.peers[1].fresh.state, FRESH_CHALLENGED);
	}
	assert_int_equal(peer_input(&fx.pt, rec[4], rn[4], from), PEER_DROP_SYNC_UNPROVEN);
	assert_int_equal(peer_input(&fx.pt, rec[5], rn[5], from), PEER_DROP_SYNC_UNPROVEN);
	for (int i = 6; i < 8; i++)
		assert_int_equal(peer_input(&fx.pt, rec[i], rn[i], from), PEER_DROP_HB_UNPROVEN);
	for (int i = 0; i < 8; i++)
		assert_int_equal(peer_input(&fx.pt, rec[i], rn[i], from), PEER_DROP_WIRE);
	assert_false(fx.pt.peers[1].alive);
	assert_false(ev_timer_active(&fx.pt.peers[1].dead_timer));
	assert_int_equal(fx.pt.peers[1].vips[0].role, ELECTION_INIT);
	assert_int_equal(changed_calls, 0);
	assert_int_equal(sync_calls, 0);
	assert_int_equal(request_calls, 0);
	assert_int_equal(fx.pt.stats.drops[PEER_DROP_HB_UNPROVEN], 5);
	assert_int_equal(fx.pt.stats.drops[PEER_DROP_SYNC_UNPROVEN], 2);
	assert_int_equal(fx.pt.stats.drops[PEER_DROP_BAD_ECHO], 1);
	assert_int_equal(fx.pt.stats.drops[PEER_ACCEPTED], 0);

	/* The live n2, further on in the same epoch, echoes our nonce. */
	assert_int_equal(prove(7, 300), PEER_ACCEPTED);
	assert_true(fx.pt.peers[1].alive);
	assert_int_equal(fx.pt.peers[1].fresh.state, FRESH_PROVEN);
	assert_int_equal(changed_calls, 1);
	assert_int_equal(request_calls, 1);    /* its early SyncRequest, answered now */
	assert_int_equal(fx.pt.stats.proved, 1);
	/* What it sent before the proof, heard or not, stays refused. */
	pn = heartbeat(pl, sizeof(pl), "n2");
	for (uint64_t s = 108; s < 300; s += 13) {
		size_t dn = seal(d, fx.kr, "t", "n2", 7, s, pl, pn);

		assert_int_equal(peer_input(&fx.pt, d, dn, from), PEER_DROP_WIRE);
	}
	pn = sync_payload(pl, sizeof(pl), NULL);
	{
		size_t dn = seal(d, fx.kr, "t", "n2", 7, 299, pl, pn);

		assert_int_equal(peer_input(&fx.pt, d, dn, from), PEER_DROP_WIRE);
		assert_int_equal(sync_calls, 0);
		dn = seal(d, fx.kr, "t", "n2", 7, 301, pl, pn);
		assert_int_equal(peer_input(&fx.pt, d, dn, from), PEER_ACCEPTED);
		assert_int_equal(sync_calls, 1);
	}
	/* Proven: our heartbeats stop challenging it. */
	{
		uint8_t nonce[FRESH_NONCE_LEN];
		int has;

		our_heartbeat(nonce, &has, NULL, NULL);
		assert_false(has);
	}
}

/* n2 restarts (a new epoch) while we run: its first heartbeats do not
 * count, the old view stays until it proves itself or its dead timer
 * runs out, and a proof of the old epoch is no proof of the new. */
static void test_peer_restart_needs_proof(void **state)
{
	const struct sockaddr *from = (struct sockaddr *)&fx.from_n2;
	uint8_t pl[512], d[WIRE_MAX_DATAGRAM];
	size_t pn = heartbeat(pl, sizeof(pl), "n2"), dn;
	uint64_t when;

	(void)state;
	assert_int_equal(prove(7, 1), PEER_ACCEPTED);
	when = fx.pt.peers[1].dead_timer.when_ms;
	fake_now += 50;
	ev_now_update(fx.loop);
	kick_calls = 0;
	dn = seal(d, fx.kr, "t", "n2", 8, 0, pl, pn);
	assert_int_equal(peer_input(&fx.pt, d, dn, from), PEER_DROP_HB_UNPROVEN);
	assert_int_equal(fx.pt.peers[1].fresh.state, FRESH_UNPROVEN);
	assert_int_equal(fx.pt.peers[1].dead_timer.when_ms, when);   /* not refreshed */
	assert_true(kick_calls > 0);
	assert_int_equal(prove(8, 1), PEER_ACCEPTED);
	assert_true(fx.pt.peers[1].dead_timer.when_ms > when);
	/* Reported as a return (so replication asks it for a bulk sync: what
	 * it sent before the proof was dropped), though it never looked dead. */
	assert_int_equal(changed_calls, 2);
	assert_int_equal(fx.pt.stats.proved, 2);
}

/* The other side of the exchange: n2 challenges us, our heartbeats echo
 * its newest nonce (and ask to go out at once) until it stops asking. */
static void test_we_echo_challenges(void **state)
{
	const struct sockaddr *from = (struct sockaddr *)&fx.from_n2;
	uint8_t pl[512], d[WIRE_MAX_DATAGRAM], c1[FRESH_NONCE_LEN], c2[FRESH_NONCE_LEN], got[FRESH_NONCE_LEN];
	uint8_t nonce[FRESH_NONCE_LEN];
	size_t pn, dn;
	int has_c, has_e;

	(void)state;
	memset(c1, 0x11, sizeof(c1));
	memset(c2, 0x22, sizeof(c2));
	our_heartbeat(nonce, &has_c, got, &has_e);
	assert_true(has_c);
	assert_false(has_e);
	/* Unproven n2 challenges us: answered all the same (both may have
	 * restarted together; each must answer before either is proven). */
	pn = heartbeat_with(pl, sizeof(pl), "n2", NULL, c1);
	dn = seal(d, fx.kr, "t", "n2", 7, 1, pl, pn);
	assert_int_equal(peer_input(&fx.pt, d, dn, from), PEER_DROP_HB_UNPROVEN);
	assert_true(kick_calls > 0);
	our_heartbeat(nonce, &has_c, got, &has_e);
	assert_true(has_e);
	assert_memory_equal(got, c1, sizeof(c1));
	/* A new nonce replaces it; the same one again asks for nothing more. */
	pn = heartbeat_with(pl, sizeof(pl), "n2", nonce, c2);
	dn = seal(d, fx.kr, "t", "n2", 7, 2, pl, pn);
	assert_int_equal(peer_input(&fx.pt, d, dn, from), PEER_ACCEPTED);
	kick_calls = 0;
	dn = seal(d, fx.kr, "t", "n2", 7, 3, pl, pn);
	assert_int_equal(peer_input(&fx.pt, d, dn, from), PEER_ACCEPTED);
	assert_int_equal(kick_calls, 0);
	our_heartbeat(nonce, &has_c, got, &has_e);
	assert_false(has_c);
	assert_true(has_e);
	assert_memory_equal(got, c2, sizeof(c2));
	/* n2 stops challenging: we stop echoing. */
	pn = heartbeat(pl, sizeof(pl), "n2");
	dn = seal(d, fx.kr, "t", "n2", 7, 4, pl, pn);
	assert_int_equal(peer_input(&fx.pt, d, dn, from), PEER_ACCEPTED);
	our_heartbeat(nonce, &has_c, got, &has_e);
	assert_false(has_e);
	assert_int_equal(fx.pt.stats.challenged, 2);
}

/* The dead timer fires only for silence, and reports it. */
static void test_dead_after_silence(void **state)
{
	uint8_t pl[512], d[WIRE_MAX_DATAGRAM];
	size_t pn = heartbeat(pl, sizeof(pl), "n2");
	size_t dn = seal(d, fx.kr, "t", "n2", 7, 1, pl, pn);

	(void)state;
	assert_int_equal(peer_dead_after_ms(&fx.pt, 1), 300);
	assert_int_equal(prove(7, 0), PEER_ACCEPTED);
	assert_int_equal(peer_input(&fx.pt, d, dn, (struct sockaddr *)&fx.from_n2), PEER_ACCEPTED);
	fake_now += 299;
	ev_run_once(fx.loop, 0);
	assert_true(fx.pt.peers[1].alive);
	fake_now += 1;
	ev_run_once(fx.loop, 0);
	assert_false(fx.pt.peers[1].alive);
	assert_int_equal(changed_calls, 2);
}

/*
 * Rolling upgrade: with legacy_peers on, a peer whose heartbeats do not say
 * proves_freshness (an hacd from before the proof) counts unproven, and is
 * counted; one that does say it still needs its echo, so a recording of an
 * upgraded node gains nothing from the setting. Off (the default), the
 * older peer is never taken.
 */
static void test_legacy_peers(void **state)
{
	static const char legacy_text[] =
	    "cluster = \"t\";\n"
	    "key_file = \"/nonexistent\";\n"
	    "advert = \"100ms\";\n"
	    "legacy_peers = true;\n"
	    "nodes = ( { name = \"n1\"; address = \"10.99.9.1\"; },\n"
	    "          { name = \"n2\"; address = \"10.99.9.2\"; } );\n"
	    "vips = ( { name = \"web\"; address = \"10.99.9.100/24\"; interface = \"eth0\";\n"
	    "           priority = { n1 = 150; n2 = 100; }; } );\n";
	const struct sockaddr *from = (struct sockaddr *)&fx.from_n2;
	uint8_t pl[512], d[WIRE_MAX_DATAGRAM];
	size_t pn = heartbeat(pl, sizeof(pl), "n2"), dn;
	struct hacd_config *lc;
	struct conf_err err;

	(void)state;
	dn = seal(d, fx.kr, "t", "n2", 7, 1, pl, pn);
	assert_int_equal(peer_input(&fx.pt, d, dn, from), PEER_DROP_HB_UNPROVEN);
	lc = hacd_config_load_string("legacy.conf", legacy_text, "n1", &err);
	if (lc == NULL)
		fail_msg("%s", err.msg);
	assert_true(lc->legacy_peers);
	peer_table_set_config(&fx.pt, lc, fx.kr);
	dn = seal(d, fx.kr, "t", "n2", 7, 2, pl, pn);
	assert_int_equal(peer_input(&fx.pt, d, dn, from), PEER_ACCEPTED);
	assert_true(fx.pt.peers[1].alive);
	assert_int_equal(fx.pt.stats.legacy, 1);
	/* The upgraded n2 restarts: its heartbeats say so, and need the echo. */
	hb_marker = 1;
	pn = heartbeat(pl, sizeof(pl), "n2");
	dn = seal(d, fx.kr, "t", "n2", 8, 0, pl, pn);
	assert_int_equal(peer_input(&fx.pt, d, dn, from), PEER_DROP_HB_UNPROVEN);
	assert_int_equal(prove(8, 1), PEER_ACCEPTED);
	assert_int_equal(fx.pt.stats.legacy, 1);
	peer_table_set_config(&fx.pt, fx.cfg, fx.kr);
	hacd_config_free(lc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_refused_change_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_accept_then_replay, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dead_after_silence, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sync_ladder, setup, teardown),
		cmocka_unit_test_setup_teardown(test_heard_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vote_only_from_a_witness, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replay_after_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_peer_restart_needs_proof, setup, teardown),
		cmocka_unit_test_setup_teardown(test_we_echo_challenges, setup, teardown),
		cmocka_unit_test_setup_teardown(test_legacy_peers, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
