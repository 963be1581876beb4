/*
 * tests/unit/test_wire.c — lib/wire: the sealed peer datagram.
 *
 * Every rejection wire_open() can return is provoked on purpose, from a
 * table of (mutation) -> (verdict); a single-bit flip anywhere in a sealed
 * datagram must be caught with the verdict of the header field it hits; the
 * replay window is driven by tables of (epoch, seq) -> verdict; key files
 * and the epoch file are exercised on real files in a private temporary
 * directory. Nothing here sleeps or depends on timing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "lib/secfile.h"
#include "lib/wire.h"

#define SENDER 7u
#define SELF   9u
#define ID_OLD 1u
#define ID_NEW 2u

static const uint8_t key_old[WIRE_KEY_LEN] = {
	0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10,
	0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x20,
};
static const uint8_t key_new[WIRE_KEY_LEN] = {
	0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf,
	0xb0, 0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xbb, 0xbc, 0xbd, 0xbe, 0xbf,
};
static const uint8_t key_other[WIRE_KEY_LEN] = {
	0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55,
	0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x56,
};

static char tmpdir[64];

static uint32_t cluster(void)
{
	return wire_cluster_id("tandem-test");
}

/* A keyring holding the given keys in order; n = 0..2. */
static struct wire_keyring *ring(int n, uint32_t id0, const uint8_t *k0, uint32_t id1, const uint8_t *k1)
{
	struct wire_keyring *kr = wire_keyring_new();

	assert_non_null(kr);
	if (n >= 1)
		assert_int_equal(wire_keyring_add(kr, id0, k0), 0);
	if (n >= 2)
		assert_int_equal(wire_keyring_add(kr, id1, k1), 0);
	return kr;
}

static struct wire_keyring *ring_old(void)
{
	return ring(1, ID_OLD, key_old, 0, NULL);
}

static const char payload_text[] = "heartbeat from node-a: vip1 prio 100";

/* Seal payload_text as (SENDER, epoch, seq) under kr into out. */
static size_t seal_at(const struct wire_keyring *kr, uint64_t epoch, uint64_t seq, uint8_t *out, size_t cap)
{
	struct wire_sender s;
	ssize_t n;

	wire_sender_init(&s, cluster(), SENDER, epoch);
	s.next_seq = seq;
	n = wire_seal(kr, &s, payload_text, sizeof(payload_text), out, cap);
	assert_int_equal(n, (ssize_t)(sizeof(payload_text) + WIRE_OVERHEAD));
	assert_int_equal(s.next_seq, seq + 1);
	return (size_t)n;
}

static enum wire_verdict open_with(const struct wire_keyring *kr, uint32_t expect_cluster, uint32_t self_id,
				   const uint8_t *d, size_t len)
{
	uint8_t plain[WIRE_MAX_DATAGRAM];
	size_t plen = 12345;
	enum wire_verdict v = wire_open(kr, expect_cluster, self_id, d, len, NULL, plain, &plen);

	if (v != WIRE_OK)
		assert_int_equal(plen, 0);
	return v;
}

/* ---- round trip ---------------------------------------------------------- */

static void test_round_trip(void **state)
{
	static const size_t sizes[] = { 0, 1, 37, 500, WIRE_MAX_PAYLOAD };
	struct wire_keyring *kr = ring_old();
	uint8_t in[WIRE_MAX_PAYLOAD], dg[WIRE_MAX_DATAGRAM], plain[WIRE_MAX_DATAGRAM];
	struct wire_sender s;

	(void)state;
	randombytes_buf(in, sizeof(in));
	wire_sender_init(&s, cluster(), SENDER, 1700000000);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct wire_hdr h;
		size_t plen;
		ssize_t n = wire_seal(kr, &s, in, sizes[i], dg, sizeof(dg));

		assert_int_equal(n, (ssize_t)(sizes[i] + WIRE_OVERHEAD));
		assert_int_equal(wire_open(kr, cluster(), SELF, dg, (size_t)n, &h, plain, &plen), WIRE_OK);
		assert_int_equal(plen, sizes[i]);
		if (sizes[i] > 0)
			assert_memory_equal(plain, in, sizes[i]);
		assert_int_equal(h.magic, WIRE_MAGIC);
		assert_int_equal(h.version, WIRE_VERSION);
		assert_int_equal(h.flags, 0);
		assert_int_equal(h.reserved, 0);
		assert_int_equal(h.key_id, ID_OLD);
		assert_int_equal(h.cluster_id, cluster());
		assert_int_equal(h.sender_id, SENDER);
		assert_int_equal(h.epoch, 1700000000);
		assert_int_equal(h.seq, i);
		/* Big-endian layout as documented in wire.h. */
		assert_memory_equal(dg, "TND1\x01\x00\x00\x00\x00\x00\x00\x01", 12);
		assert_memory_equal(dg + 16, "\x00\x00\x00\x07\x00\x00\x00\x00\x65\x53\xf1\x00", 12);
		assert_memory_equal(h.nonce, dg + 36, WIRE_NONCE_LEN);
	}
	/* Two seals of the same payload differ: the nonce is fresh each time. */
	{
		uint8_t a[WIRE_MAX_DATAGRAM], b[WIRE_MAX_DATAGRAM];
		struct wire_sender t = s;

		assert_true(wire_seal(kr, &s, in, 10, a, sizeof(a)) > 0);
		assert_true(wire_seal(kr, &t, in, 10, b, sizeof(b)) > 0);
		assert_memory_not_equal(a + 36, b + 36, WIRE_NONCE_LEN);
	}
	wire_keyring_free(kr);
}

/* wire_seal refuses what it cannot send and then leaves the sender as it was. */
static void test_seal_refusals(void **state)
{
	struct wire_keyring *kr = ring_old(), *empty = ring(0, 0, NULL, 0, NULL);
	uint8_t in[WIRE_MAX_DATAGRAM] = { 0 }, dg[WIRE_MAX_DATAGRAM + 64];
	struct wire_sender s;

	(void)state;
	wire_sender_init(&s, cluster(), SENDER, 5);
	assert_int_equal(wire_seal(kr, &s, in, WIRE_MAX_PAYLOAD + 1, dg, sizeof(dg)), -1);
	assert_int_equal(wire_seal(kr, &s, in, 10, dg, 10 + WIRE_OVERHEAD - 1), -1);
	assert_int_equal(wire_seal(empty, &s, in, 10, dg, sizeof(dg)), -1);
	assert_int_equal(s.next_seq, 0);
	s.next_seq = UINT64_MAX;
	assert_int_equal(wire_seal(kr, &s, in, 10, dg, sizeof(dg)), -1);
	assert_true(s.next_seq == UINT64_MAX);
	s.next_seq = 0;
	assert_int_equal(wire_seal(kr, &s, in, 10, dg, 10 + WIRE_OVERHEAD), 10 + WIRE_OVERHEAD);
	wire_keyring_free(kr);
	wire_keyring_free(empty);
}

/* ---- the verdict ladder: (mutation) -> (verdict) --------------------------- */

enum rx_ring { RX_OLD, RX_OTHER_KEY_SAME_ID, RX_UNKNOWN_ID, RX_EMPTY };

struct ladder_case {
	const char *name;
	void (*mutate)(uint8_t *d, size_t *len);
	enum rx_ring rx;
	int other_cluster;
	uint32_t self_id;
	enum wire_verdict want;
};

static void m_none(uint8_t *d, size_t *len) { (void)d; (void)len; }
static void m_magic(uint8_t *d, size_t *len) { (void)len; d[0] = 'X'; }
static void m_version0(uint8_t *d, size_t *len) { (void)len; d[4] = 0; }
static void m_version2(uint8_t *d, size_t *len) { (void)len; d[4] = 2; }
static void m_flags(uint8_t *d, size_t *len) { (void)len; d[5] = 0x80; }
static void m_reserved(uint8_t *d, size_t *len) { (void)len; d[7] = 1; }
static void m_key_id(uint8_t *d, size_t *len) { (void)len; d[11] = 0x42; }
static void m_epoch(uint8_t *d, size_t *len) { (void)len; d[27] ^= 1; }
static void m_seq(uint8_t *d, size_t *len) { (void)len; d[28] = 0xff; }
static void m_nonce(uint8_t *d, size_t *len) { (void)len; d[40] ^= 0x10; }
static void m_body(uint8_t *d, size_t *len) { (void)len; d[WIRE_HDR_LEN] ^= 0x01; }
static void m_tag(uint8_t *d, size_t *len) { d[*len - 1] ^= 0x80; }
static void m_append(uint8_t *d, size_t *len) { d[(*len)++] = 0; }
static void m_drop_one(uint8_t *d, size_t *len) { (void)d; (*len)--; }
static void m_empty(uint8_t *d, size_t *len) { (void)d; *len = 0; }
static void m_just_short(uint8_t *d, size_t *len) { (void)d; *len = WIRE_OVERHEAD - 1; }
static void m_bare_overhead(uint8_t *d, size_t *len) { (void)d; *len = WIRE_OVERHEAD; }
static void m_oversize(uint8_t *d, size_t *len) { memset(d + *len, 0, WIRE_MAX_DATAGRAM + 1 - *len); *len = WIRE_MAX_DATAGRAM + 1; }

static const struct ladder_case ladder_cases[] = {
	{ "valid",                 m_none,          RX_OLD,               0, SELF,   WIRE_OK },
	{ "empty",                 m_empty,         RX_OLD,               0, SELF,   WIRE_ERR_SHORT },
	{ "one below overhead",    m_just_short,    RX_OLD,               0, SELF,   WIRE_ERR_SHORT },
	{ "header and tag only",   m_bare_overhead, RX_OLD,               0, SELF,   WIRE_ERR_AUTH },
	{ "oversize",              m_oversize,      RX_OLD,               0, SELF,   WIRE_ERR_OVERSIZE },
	{ "bad magic",             m_magic,         RX_OLD,               0, SELF,   WIRE_ERR_MAGIC },
	{ "version 0",             m_version0,      RX_OLD,               0, SELF,   WIRE_ERR_VERSION },
	{ "version 2",             m_version2,      RX_OLD,               0, SELF,   WIRE_ERR_VERSION },
	{ "wrong cluster",         m_none,          RX_OLD,               1, SELF,   WIRE_ERR_CLUSTER },
	{ "own datagram",          m_none,          RX_OLD,               0, SENDER, WIRE_ERR_SELF },
	{ "unknown key id (rx)",   m_none,          RX_UNKNOWN_ID,        0, SELF,   WIRE_ERR_KEYID },
	{ "unknown key id (hdr)",  m_key_id,        RX_OLD,               0, SELF,   WIRE_ERR_KEYID },
	{ "empty keyring",         m_none,          RX_EMPTY,             0, SELF,   WIRE_ERR_KEYID },
	{ "wrong key, same id",    m_none,          RX_OTHER_KEY_SAME_ID, 0, SELF,   WIRE_ERR_AUTH },
	{ "flags set in flight",   m_flags,         RX_OLD,               0, SELF,   WIRE_ERR_AUTH },
	{ "reserved set",          m_reserved,      RX_OLD,               0, SELF,   WIRE_ERR_AUTH },
	{ "epoch changed",         m_epoch,         RX_OLD,               0, SELF,   WIRE_ERR_AUTH },
	{ "seq changed",           m_seq,           RX_OLD,               0, SELF,   WIRE_ERR_AUTH },
	{ "nonce changed",         m_nonce,         RX_OLD,               0, SELF,   WIRE_ERR_AUTH },
	{ "ciphertext changed",    m_body,          RX_OLD,               0, SELF,   WIRE_ERR_AUTH },
	{ "tag changed",           m_tag,           RX_OLD,               0, SELF,   WIRE_ERR_AUTH },
	{ "byte appended",         m_append,        RX_OLD,               0, SELF,   WIRE_ERR_AUTH },
	{ "last byte dropped",     m_drop_one,      RX_OLD,               0, SELF,   WIRE_ERR_AUTH },
};

static void test_ladder(void **state)
{
	struct wire_keyring *tx = ring_old();
	struct wire_keyring *rx[] = {
		[RX_OLD] = ring_old(),
		[RX_OTHER_KEY_SAME_ID] = ring(1, ID_OLD, key_other, 0, NULL),
		[RX_UNKNOWN_ID] = ring(1, ID_NEW, key_new, 0, NULL),
		[RX_EMPTY] = ring(0, 0, NULL, 0, NULL),
	};

	(void)state;
	for (size_t i = 0; i < sizeof(ladder_cases) / sizeof(ladder_cases[0]); i++) {
		const struct ladder_case *c = &ladder_cases[i];
		uint8_t d[WIRE_MAX_DATAGRAM + 64];
		size_t len = seal_at(tx, 42, 3, d, sizeof(d));
		uint32_t expect = c->other_cluster ? wire_cluster_id("other-cluster") : cluster();
		enum wire_verdict v;

		c->mutate(d, &len);
		v = open_with(rx[c->rx], expect, c->self_id, d, len);
		if (v != c->want)
			fail_msg("case \"%s\": got %s, want %s", c->name, wire_verdict_str(v),
				 wire_verdict_str(c->want));
	}
	wire_keyring_free(tx);
	for (size_t i = 0; i < sizeof(rx) / sizeof(rx[0]); i++)
		wire_keyring_free(rx[i]);
}

/*
 * Flip every single bit of a sealed datagram in turn. Each flip must be
 * rejected, with the verdict of the field it lands in; the receiver's own
 * id is one bit away from the sender's so that the own-datagram rung is
 * reached exactly once.
 */
static void test_every_bit_flip(void **state)
{
	const uint32_t self_id = SENDER ^ 0x100;
	struct wire_keyring *kr = ring(2, ID_OLD, key_old, ID_NEW, key_new);
	uint8_t orig[WIRE_MAX_DATAGRAM], d[WIRE_MAX_DATAGRAM];
	size_t len = seal_at(kr, 1234567, 99, orig, sizeof(orig));
	unsigned counts[WIRE_VERDICT_MAX] = { 0 };

	(void)state;
	assert_int_equal(open_with(kr, cluster(), self_id, orig, len), WIRE_OK);
	for (size_t bit = 0; bit < len * 8; bit++) {
		size_t off = bit / 8;
		enum wire_verdict want, v;

		memcpy(d, orig, len);
		d[off] ^= (uint8_t)(1u << (bit % 8));
		if (off < 4)
			want = WIRE_ERR_MAGIC;
		else if (off == 4)
			want = WIRE_ERR_VERSION;
		else if (off >= 8 && off < 12)
			want = WIRE_ERR_KEYID;   /* id 1 is one bit away from 0, 3, 5...; never from 2 */
		else if (off >= 12 && off < 16)
			want = WIRE_ERR_CLUSTER;
		else if (off >= 16 && off < 20 && ((uint32_t)d[16] << 24 | (uint32_t)d[17] << 16 |
						   (uint32_t)d[18] << 8 | d[19]) == self_id)
			want = WIRE_ERR_SELF;
		else
			want = WIRE_ERR_AUTH;  /* flags, reserved, sender, epoch, seq, nonce, body, tag */
		v = open_with(kr, cluster(), self_id, d, len);
		if (v != want)
			fail_msg("bit %zu (byte %zu): got %s, want %s", bit, off, wire_verdict_str(v),
				 wire_verdict_str(want));
		counts[v]++;
	}
	assert_int_equal(counts[WIRE_OK], 0);
	assert_int_equal(counts[WIRE_ERR_MAGIC], 32);
	assert_int_equal(counts[WIRE_ERR_VERSION], 8);
	assert_int_equal(counts[WIRE_ERR_KEYID], 32);
	assert_int_equal(counts[WIRE_ERR_CLUSTER], 32);
	assert_int_equal(counts[WIRE_ERR_SELF], 1);
	assert_int_equal(counts[WIRE_ERR_AUTH], len * 8 - 105);
	wire_keyring_free(kr);
}

/* Every proper prefix of a sealed datagram is rejected. */
static void test_truncated(void **state)
{
	struct wire_keyring *kr = ring_old();
	uint8_t d[WIRE_MAX_DATAGRAM];
	size_t len = seal_at(kr, 1, 0, d, sizeof(d));

	(void)state;
	for (size_t n = 0; n < len; n++) {
		enum wire_verdict want = n < WIRE_OVERHEAD ? WIRE_ERR_SHORT : WIRE_ERR_AUTH;
		enum wire_verdict v = open_with(kr, cluster(), SELF, d, n);

		if (v != want)
			fail_msg("length %zu of %zu: got %s, want %s", n, len, wire_verdict_str(v),
				 wire_verdict_str(want));
	}
	wire_keyring_free(kr);
}

/* Random bytes never open: with only the magic right, and with a whole plausible header. */
static void test_forged(void **state)
{
	struct wire_keyring *kr = ring_old();
	uint8_t d[WIRE_MAX_DATAGRAM + 100];

	(void)state;
	for (int i = 0; i < 2000; i++) {
		size_t len = randombytes_uniform(sizeof(d) + 1);

		randombytes_buf(d, sizeof(d));
		if (len >= 4)
			memcpy(d, "TND1", 4);
		assert_int_not_equal(open_with(kr, cluster(), SELF, d, len), WIRE_OK);
	}
	for (int i = 0; i < 2000; i++) {
		size_t len = WIRE_OVERHEAD + randombytes_uniform(WIRE_MAX_PAYLOAD + 1);
		uint32_t c = cluster();

		randombytes_buf(d, sizeof(d));
		memcpy(d, "TND1\x01", 5);
		memcpy(d + 8, "\x00\x00\x00\x01", 4);
		d[12] = (uint8_t)(c >> 24), d[13] = (uint8_t)(c >> 16), d[14] = (uint8_t)(c >> 8), d[15] = (uint8_t)c;
		memcpy(d + 16, "\x00\x00\x00\x07", 4);
		assert_int_equal(open_with(kr, cluster(), SELF, d, len), WIRE_ERR_AUTH);
	}
	wire_keyring_free(kr);
}

/* ---- key rotation: (sender ring) -> (receiver ring) -> verdict -------------- */

enum ringsel { R_OLD, R_NEW, R_OLD_NEW, R_NEW_OLD, R_COUNT };

static const struct rotation_case {
	enum ringsel tx, rx;
	enum wire_verdict want;
} rotation_cases[] = {
	/* step 1: nodes add the new key second, still sending the old one */
	{ R_OLD,     R_OLD_NEW, WIRE_OK },
	{ R_OLD_NEW, R_OLD,     WIRE_OK },
	/* step 2: nodes put the new key first and send with it */
	{ R_NEW_OLD, R_OLD_NEW, WIRE_OK },
	{ R_OLD_NEW, R_NEW_OLD, WIRE_OK },
	{ R_OLD,     R_NEW_OLD, WIRE_OK },
	/* step 3: the old key is dropped */
	{ R_NEW,     R_NEW_OLD, WIRE_OK },
	{ R_NEW_OLD, R_NEW,     WIRE_OK },
	/* skipping a step is what fails */
	{ R_NEW_OLD, R_OLD,     WIRE_ERR_KEYID },
	{ R_NEW,     R_OLD,     WIRE_ERR_KEYID },
	{ R_OLD,     R_NEW,     WIRE_ERR_KEYID },
};

static void test_rotation(void **state)
{
	struct wire_keyring *r[R_COUNT] = {
		[R_OLD] = ring(1, ID_OLD, key_old, 0, NULL),
		[R_NEW] = ring(1, ID_NEW, key_new, 0, NULL),
		[R_OLD_NEW] = ring(2, ID_OLD, key_old, ID_NEW, key_new),
		[R_NEW_OLD] = ring(2, ID_NEW, key_new, ID_OLD, key_old),
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rotation_cases) / sizeof(rotation_cases[0]); i++) {
		const struct rotation_case *c = &rotation_cases[i];
		uint8_t d[WIRE_MAX_DATAGRAM];
		size_t len = seal_at(r[c->tx], 1, i, d, sizeof(d));
		enum wire_verdict v = open_with(r[c->rx], cluster(), SELF, d, len);

		if (v != c->want)
			fail_msg("rotation case %zu: got %s, want %s", i, wire_verdict_str(v), wire_verdict_str(c->want));
	}
	/* An id names one key: adding it twice, or a third key, is refused. */
	assert_int_equal(wire_keyring_add(r[R_OLD], ID_OLD, key_new), -1);
	assert_int_equal(wire_keyring_add(r[R_OLD_NEW], 3, key_other), -1);
	for (int i = 0; i < R_COUNT; i++)
		wire_keyring_free(r[i]);
}

/* ---- replay window: steps of (epoch, seq) -> verdict ------------------------ */

struct replay_step { uint64_t epoch, seq; enum wire_verdict want; };

#define END { 0, 0, WIRE_VERDICT_MAX }

static const struct replay_case {
	const char *name;
	struct replay_step steps[12];
} replay_cases[] = {
	{ "same seq twice", {
		{ 1, 5, WIRE_OK }, { 1, 5, WIRE_ERR_REPLAY }, END } },
	{ "in-window out-of-order accepted once", {
		{ 1, 10, WIRE_OK }, { 1, 8, WIRE_OK }, { 1, 9, WIRE_OK }, { 1, 8, WIRE_ERR_REPLAY },
		{ 1, 9, WIRE_ERR_REPLAY }, { 1, 10, WIRE_ERR_REPLAY }, { 1, 11, WIRE_OK }, { 1, 0, WIRE_OK }, END } },
	{ "window edge", {
		{ 1, 0, WIRE_OK }, { 1, 2000, WIRE_OK }, { 1, 976, WIRE_ERR_REPLAY }, { 1, 977, WIRE_OK },
		{ 1, 977, WIRE_ERR_REPLAY }, { 1, 1999, WIRE_OK }, END } },
	{ "out-of-window old seq", {
		{ 1, 5000, WIRE_OK }, { 1, 3000, WIRE_ERR_REPLAY }, { 1, 0, WIRE_ERR_REPLAY }, END } },
	{ "ring bits cleared as the window slides", {
		{ 1, 3, WIRE_OK }, { 1, 1000, WIRE_OK }, { 1, 1026, WIRE_OK }, { 1, 3, WIRE_ERR_REPLAY },
		{ 1, 1027, WIRE_OK }, { 1, 3, WIRE_ERR_REPLAY }, { 1, 4, WIRE_OK }, { 1, 1001, WIRE_OK },
		{ 1, 1000, WIRE_ERR_REPLAY }, END } },
	{ "slot just below a jump is cleared", {
		{ 1, 0, WIRE_OK }, { 1, 1000, WIRE_OK }, { 1, 1025, WIRE_OK }, { 1, 1024, WIRE_OK },
		{ 1, 1024, WIRE_ERR_REPLAY }, END } },
	{ "huge jump forward (must not walk the gap)", {
		{ 1, 0, WIRE_OK }, { 1, 1ull << 62, WIRE_OK }, { 1, 0, WIRE_ERR_REPLAY },
		{ 1, (1ull << 62) - 1, WIRE_OK }, { 1, (1ull << 62) - 1024, WIRE_ERR_REPLAY }, END } },
	{ "same residue one window apart", {
		{ 1, 1, WIRE_OK }, { 1, 1025, WIRE_OK }, { 1, 1, WIRE_ERR_REPLAY }, { 1, 2, WIRE_OK }, END } },
	{ "restarted sender: new epoch accepted, old epoch rejected", {
		{ 5, 100, WIRE_OK }, { 6, 0, WIRE_OK }, { 6, 0, WIRE_ERR_REPLAY }, { 5, 101, WIRE_ERR_OLD_EPOCH },
		{ 5, 100, WIRE_ERR_OLD_EPOCH }, { 6, 1, WIRE_OK }, { 6, 100, WIRE_OK }, END } },
	{ "new epoch resets the window", {
		{ 1, 50000, WIRE_OK }, { 2, 3, WIRE_OK }, { 2, 2, WIRE_OK }, { 2, 3, WIRE_ERR_REPLAY }, END } },
	{ "first datagram may start anywhere", {
		{ 9, UINT64_MAX - 1, WIRE_OK }, { 9, UINT64_MAX, WIRE_OK }, { 9, UINT64_MAX - 1, WIRE_ERR_REPLAY },
		{ 9, 0, WIRE_ERR_REPLAY }, END } },
};

static void test_replay_window(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(replay_cases) / sizeof(replay_cases[0]); i++) {
		const struct replay_case *c = &replay_cases[i];
		struct wire_replay r;

		wire_replay_init(&r);
		for (size_t j = 0; c->steps[j].want != WIRE_VERDICT_MAX; j++) {
			const struct replay_step *st = &c->steps[j];
			enum wire_verdict v = wire_replay_check(&r, st->epoch, st->seq);

			if (v != st->want)
				fail_msg("case \"%s\" step %zu (epoch %llu seq %llu): got %s, want %s", c->name, j,
					 (unsigned long long)st->epoch, (unsigned long long)st->seq,
					 wire_verdict_str(v), wire_verdict_str(st->want));
			if (v == WIRE_OK)
				wire_replay_update(&r, st->epoch, st->seq);
		}
	}
}

/*
 * The window after a proof of freshness (hacd/fresh.c): a receiver that
 * restarted accepted a few older datagrams of the peer's epoch (unproven,
 * dropped by hacd), then the peer proved itself with seq 200. Everything
 * at or below 200 must now be refused, even seqs the window never saw —
 * exactly what a recording made while the receiver was down holds — while
 * the peer's next datagrams and a later epoch stay fresh.
 */
static void test_replay_floor(void **state)
{
	struct wire_replay r;
	static const struct { uint64_t epoch, seq; enum wire_verdict want; } after[] = {
		{ 7, 199, WIRE_ERR_REPLAY },     /* never seen, but from before the proof */
		{ 7, 150, WIRE_ERR_REPLAY },
		{ 7, 200, WIRE_ERR_REPLAY },
		{ 7, 0, WIRE_ERR_REPLAY },       /* left of the window */
		{ 6, 500, WIRE_ERR_OLD_EPOCH },
		{ 7, 201, WIRE_OK },
		{ 7, 1300, WIRE_OK },            /* a jump past the window clears the floor bits */
		{ 7, 1299, WIRE_OK },
		{ 7, 1300, WIRE_ERR_REPLAY },
		{ 8, 0, WIRE_OK },
	};

	(void)state;
	wire_replay_init(&r);
	/* Before the proof: an empty window takes old datagrams (the hole). */
	assert_int_equal(wire_replay_check(&r, 7, 100), WIRE_OK);
	wire_replay_update(&r, 7, 100);
	assert_int_equal(wire_replay_check(&r, 7, 200), WIRE_OK);
	wire_replay_update(&r, 7, 200);
	wire_replay_floor(&r, 7, 200);
	for (size_t i = 0; i < sizeof(after) / sizeof(after[0]); i++) {
		enum wire_verdict v = wire_replay_check(&r, after[i].epoch, after[i].seq);

		if (v != after[i].want)
			fail_msg("step %zu (epoch %llu seq %llu): got %s, want %s", i,
				 (unsigned long long)after[i].epoch, (unsigned long long)after[i].seq,
				 wire_verdict_str(v), wire_verdict_str(after[i].want));
		if (v == WIRE_OK)
			wire_replay_update(&r, after[i].epoch, after[i].seq);
	}
	/* A floor below the window's top keeps the top; an older epoch is ignored. */
	wire_replay_init(&r);
	wire_replay_update(&r, 3, 50);
	wire_replay_floor(&r, 3, 40);
	assert_int_equal(wire_replay_check(&r, 3, 45), WIRE_ERR_REPLAY);
	assert_int_equal(wire_replay_check(&r, 3, 51), WIRE_OK);
	wire_replay_floor(&r, 2, 1000);
	assert_int_equal(wire_replay_check(&r, 3, 51), WIRE_OK);
}

/*
 * The receive path as hacd/peer.c runs it: open, then check, then update.
 * A replayed datagram opens fine and is caught by the window; a forged one
 * with a huge seq fails authentication and leaves the window where it was.
 */
static enum wire_verdict deliver(const struct wire_keyring *kr, struct wire_replay *r, const uint8_t *d, size_t len)
{
	uint8_t plain[WIRE_MAX_DATAGRAM];
	size_t plen;
	struct wire_hdr h;
	enum wire_verdict v = wire_open(kr, cluster(), SELF, d, len, &h, plain, &plen);

	if (v != WIRE_OK)
		return v;
	v = wire_replay_check(r, h.epoch, h.seq);
	if (v == WIRE_OK)
		wire_replay_update(r, h.epoch, h.seq);
	return v;
}

static void test_replay_datagrams(void **state)
{
	struct wire_keyring *kr = ring_old();
	uint8_t d0[WIRE_MAX_DATAGRAM], d1[WIRE_MAX_DATAGRAM], d2[WIRE_MAX_DATAGRAM], old3[WIRE_MAX_DATAGRAM];
	uint8_t n0[WIRE_MAX_DATAGRAM], forged[WIRE_MAX_DATAGRAM];
	size_t l0 = seal_at(kr, 100, 0, d0, sizeof(d0));
	size_t l1 = seal_at(kr, 100, 1, d1, sizeof(d1));
	size_t l2 = seal_at(kr, 100, 2, d2, sizeof(d2));
	size_t l3 = seal_at(kr, 100, 3, old3, sizeof(old3));
	size_t ln = seal_at(kr, 101, 0, n0, sizeof(n0));
	struct wire_replay r, before;

	(void)state;
	wire_replay_init(&r);
	assert_int_equal(deliver(kr, &r, d0, l0), WIRE_OK);
	assert_int_equal(deliver(kr, &r, d0, l0), WIRE_ERR_REPLAY);
	assert_int_equal(deliver(kr, &r, d2, l2), WIRE_OK);
	assert_int_equal(deliver(kr, &r, d1, l1), WIRE_OK);
	assert_int_equal(deliver(kr, &r, d1, l1), WIRE_ERR_REPLAY);

	/* Forged: a valid datagram with seq rewritten to far ahead and epoch to far later. */
	memcpy(forged, d2, l2);
	memset(forged + 20, 0x7f, 16);
	before = r;
	assert_int_equal(deliver(kr, &r, forged, l2), WIRE_ERR_AUTH);
	assert_memory_equal(&r, &before, sizeof(r));
	assert_int_equal(deliver(kr, &r, d2, l2), WIRE_ERR_REPLAY);

	/* The sender restarts with a higher epoch: its seq 0 is fresh, its old life is over. */
	assert_int_equal(deliver(kr, &r, n0, ln), WIRE_OK);
	assert_int_equal(deliver(kr, &r, n0, ln), WIRE_ERR_REPLAY);
	assert_int_equal(deliver(kr, &r, old3, l3), WIRE_ERR_OLD_EPOCH);
	wire_keyring_free(kr);
}

/* ---- key files ----------------------------------------------------------- */

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd != -1);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	assert_int_equal(close(fd), 0);
}

#define HEX_OLD   "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20"
#define HEX_NEW   "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
#define HEX_OTHER "5555555555555555555555555555555555555555555555555555555555555556"

static const struct keyfile_case {
	const char *name;
	const char *text;
	mode_t mode;
	int want_rc;
	const char *want_err;    /* substring of the message when want_rc == -1 */
	int want_nkeys;
	uint32_t want_id0;
} keyfile_cases[] = {
	{ "two keys, comments, blanks, 0600",
	  "# tandem cluster key\n\n  2 " HEX_NEW "  \n\t1 " HEX_OLD "\n", 0600, 0, NULL, 2, 2 },
	{ "one key, no newline, 0400", "7 " HEX_OLD, 0400, 0, NULL, 1, 7 },
	{ "CRLF line ends", "1 " HEX_OLD "\r\n2 " HEX_NEW "\r\n", 0600, 0, NULL, 2, 1 },
	{ "upper-case hex", "1 0102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F20\n", 0600, 0, NULL, 1, 1 },
	{ "mode 0644 refused", "1 " HEX_OLD "\n", 0644, -1, "mode 0644", 0, 0 },
	{ "mode 0640 refused", "1 " HEX_OLD "\n", 0640, -1, "mode 0640", 0, 0 },
	{ "mode 0602 refused", "1 " HEX_OLD "\n", 0602, -1, "mode 0602", 0, 0 },
	{ "mode 0610 refused", "1 " HEX_OLD "\n", 0610, -1, "mode 0610", 0, 0 },
	{ "malformed hex on line 2", "1 " HEX_OLD "\n2 zza1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf\n", 0600, -1, ":2: key is not valid hex", 0, 0 },
	{ "short key", "# c\n1 abcd\n", 0600, -1, ":2: key must be exactly 64", 0, 0 },
	{ "long key", "1 " HEX_OLD "00\n", 0600, -1, ":1: key must be exactly 64", 0, 0 },
	{ "missing id", HEX_OLD "\n", 0600, -1, ":1: expected", 0, 0 },
	{ "id out of range", "4294967296 " HEX_OLD "\n", 0600, -1, ":1: key id out of range", 0, 0 },
	{ "id with junk", "1x " HEX_OLD "\n", 0600, -1, ":1: expected", 0, 0 },
	{ "three keys refused", "1 " HEX_OLD "\n2 " HEX_NEW "\n\n3 " HEX_OTHER "\n", 0600, -1, ":4: more than two keys", 0, 0 },
	{ "duplicate id", "1 " HEX_OLD "\n1 " HEX_NEW "\n", 0600, -1, ":2: duplicate key id", 0, 0 },
	{ "no keys", "# nothing here\n\n", 0600, -1, "no key found", 0, 0 },
	{ "empty file", "", 0600, -1, "no key found", 0, 0 },
};

static void assert_no_key_text(const char *err)
{
	/* Neither a whole key nor a recognisable piece of one may reach a message. */
	static const char *const pieces[] = { HEX_OLD, HEX_NEW, HEX_OTHER, "0102030405", "a0a1a2a3", "55555555", "zza1a2" };

	for (size_t i = 0; i < sizeof(pieces) / sizeof(pieces[0]); i++)
		if (strstr(err, pieces[i]) != NULL)
			fail_msg("error message leaks key text: %s", err);
}

static void test_keyfile(void **state)
{
	char path[128], err[256];

	(void)state;
	snprintf(path, sizeof(path), "%s/keys", tmpdir);
	for (size_t i = 0; i < sizeof(keyfile_cases) / sizeof(keyfile_cases[0]); i++) {
		const struct keyfile_case *c = &keyfile_cases[i];
		struct wire_keyring *kr = ring(1, 99, key_other, 0, NULL);
		int rc;

		unlink(path);
		write_file(path, c->text, c->mode);
		err[0] = '\0';
		rc = wire_keyring_load(kr, path, err, sizeof(err));
		if (rc != c->want_rc)
			fail_msg("case \"%s\": rc %d, want %d (%s)", c->name, rc, c->want_rc, err);
		assert_no_key_text(err);
		if (rc == 0) {
			assert_int_equal(kr->nkeys, c->want_nkeys);
			assert_int_equal(kr->keys[0].id, c->want_id0);
		} else {
			if (strstr(err, c->want_err) == NULL || strncmp(err, path, strlen(path)) != 0)
				fail_msg("case \"%s\": message \"%s\" lacks \"%s\" or the path", c->name, err, c->want_err);
			/* A failed load keeps the keys that were there. */
			assert_int_equal(kr->nkeys, 1);
			assert_int_equal(kr->keys[0].id, 99);
			assert_memory_equal(kr->keys[0].key, key_other, WIRE_KEY_LEN);
		}
		wire_keyring_free(kr);
	}
}

/* The loaded keys are the bytes of the file, in file order, and they interoperate. */
static void test_keyfile_contents(void **state)
{
	char path[128], err[256];
	struct wire_keyring *kr = wire_keyring_new(), *tx = ring(1, ID_NEW, key_new, 0, NULL);
	uint8_t d[WIRE_MAX_DATAGRAM];
	size_t len;

	(void)state;
	snprintf(path, sizeof(path), "%s/keys-contents", tmpdir);
	write_file(path, "2 " HEX_NEW "\n1 " HEX_OLD "\n", 0600);
	assert_int_equal(wire_keyring_load(kr, path, err, sizeof(err)), 0);
	assert_int_equal(kr->nkeys, 2);
	assert_int_equal(kr->keys[0].id, 2);
	assert_memory_equal(kr->keys[0].key, key_new, WIRE_KEY_LEN);
	assert_int_equal(kr->keys[1].id, 1);
	assert_memory_equal(kr->keys[1].key, key_old, WIRE_KEY_LEN);
	len = seal_at(tx, 1, 0, d, sizeof(d));
	assert_int_equal(open_with(kr, cluster(), SELF, d, len), WIRE_OK);
	wire_keyring_free(kr);
	wire_keyring_free(tx);
}

/* Not a regular file, a symlink, or missing: refused with the path named. */
static void test_keyfile_not_regular(void **state)
{
	char file[128], link[128], dir[128], missing[128], err[256];
	struct wire_keyring *kr = wire_keyring_new();

	(void)state;
	snprintf(file, sizeof(file), "%s/keys-real", tmpdir);
	snprintf(link, sizeof(link), "%s/keys-link", tmpdir);
	snprintf(dir, sizeof(dir), "%s/keys-dir", tmpdir);
	snprintf(missing, sizeof(missing), "%s/keys-missing", tmpdir);
	write_file(file, "1 " HEX_OLD "\n", 0600);
	assert_int_equal(symlink(file, link), 0);
	assert_int_equal(mkdir(dir, 0700), 0);

	assert_int_equal(wire_keyring_load(kr, file, err, sizeof(err)), 0);
	assert_int_equal(wire_keyring_load(kr, link, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "symbolic link"));
	assert_int_equal(wire_keyring_load(kr, dir, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not a regular file"));
	assert_int_equal(wire_keyring_load(kr, missing, err, sizeof(err)), -1);
	assert_non_null(strstr(err, missing));
	assert_int_equal(kr->nkeys, 1);
	wire_keyring_free(kr);
}

/* A 0600 key file owned by another account is that account's to read and to
 * replace: refused with the path and the owner named, never the key. The
 * service user (the account a daemon drops to) may own it; root may. */
static void test_keyfile_owner(void **state)
{
	char path[128], epath[128], err[256];
	struct wire_keyring *kr = wire_keyring_new();
	const struct passwd *pw = getpwnam("nobody");
	uint64_t e;

	(void)state;
	if (geteuid() != 0 || pw == NULL)
		skip();
	snprintf(path, sizeof(path), "%s/keys-owner", tmpdir);
	write_file(path, "1 " HEX_OLD "\n", 0600);
	assert_int_equal(chown(path, pw->pw_uid, (gid_t)-1), 0);
	err[0] = '\0';
	assert_int_equal(wire_keyring_load(kr, path, err, sizeof(err)), -1);
	if (strstr(err, "owned by uid") == NULL || strncmp(err, path, strlen(path)) != 0)
		fail_msg("message \"%s\" lacks the path or the owner", err);
	assert_no_key_text(err);
	assert_int_equal(kr->nkeys, 0);
	secfile_set_service_uid(pw->pw_uid);
	assert_int_equal(wire_keyring_load(kr, path, err, sizeof(err)), 0);
	secfile_set_service_uid((uid_t)-1);
	assert_int_equal(chown(path, 0, (gid_t)-1), 0);
	assert_int_equal(wire_keyring_load(kr, path, err, sizeof(err)), 0);
	wire_keyring_free(kr);

	/* The epoch file too: someone who may write it could roll it back. */
	snprintf(epath, sizeof(epath), "%s/epoch-owner", tmpdir);
	write_file(epath, "1700000000\n", 0600);
	assert_int_equal(chown(epath, pw->pw_uid, (gid_t)-1), 0);
	assert_int_equal(wire_epoch_next(epath, &e, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "owned by uid"));
	assert_int_equal(chown(epath, 0, (gid_t)-1), 0);
	assert_int_equal(chmod(epath, 0620), 0);
	assert_int_equal(wire_epoch_next(epath, &e, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "writable by group or others"));
	assert_int_equal(chmod(epath, 0600), 0);
	assert_int_equal(wire_epoch_next(epath, &e, err, sizeof(err)), 0);
}

/* What a key-file reader that is not root meets (hacd under hacd.service,
 * as tandem-hacd), in a child that became "nobody": its own 0600 file is
 * read; root's 0600 file cannot be opened, and the message names the uid
 * the file must belong to; its own file readable by group is refused by
 * mode. The child's exit status says which step went wrong. */
static int reader_steps(const char *own, const char *roots, const struct passwd *pw)
{
	char err[512], want[64];
	struct wire_keyring *kr;

	if (setgroups(0, NULL) == -1 || setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) == -1 ||
	    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) == -1)
		return 10;
	kr = wire_keyring_new();
	if (kr == NULL)
		return 11;
	if (wire_keyring_load(kr, own, err, sizeof(err)) != 0)
		return 12;
	if (wire_keyring_load(kr, roots, err, sizeof(err)) != -1)
		return 13;
	snprintf(want, sizeof(want), "uid %u reads it", (unsigned)pw->pw_uid);
	if (strstr(err, want) == NULL || strstr(err, "chown") == NULL || strncmp(err, roots, strlen(roots)) != 0)
		return 14;
	if (chmod(own, 0640) == -1)
		return 15;
	if (wire_keyring_load(kr, own, err, sizeof(err)) != -1 || strstr(err, "group or others") == NULL)
		return 16;
	wire_keyring_free(kr);
	return 0;
}

static void test_keyfile_reader_uid(void **state)
{
	char own[128], roots[128];
	const struct passwd *pw = getpwnam("nobody");
	int status;
	pid_t pid;

	(void)state;
	if (geteuid() != 0 || pw == NULL || pw->pw_uid == 0)
		skip();
	snprintf(own, sizeof(own), "%s/keys-reader-own", tmpdir);
	snprintf(roots, sizeof(roots), "%s/keys-reader-root", tmpdir);
	write_file(own, "1 " HEX_OLD "\n", 0600);
	write_file(roots, "1 " HEX_OLD "\n", 0600);
	assert_int_equal(chown(own, pw->pw_uid, (gid_t)-1), 0);
	assert_int_equal(chmod(tmpdir, 0711), 0);       /* the child must reach the files */
	pid = fork();
	assert_true(pid != -1);
	if (pid == 0)
		_exit(reader_steps(own, roots, pw));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(chmod(tmpdir, 0700), 0);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) != 0)
		fail_msg("the reader as uid %u failed at step %d", (unsigned)pw->pw_uid, WEXITSTATUS(status));
	unlink(own);
	unlink(roots);
}

/* ---- keygen, hex, cluster id, verdict names ------------------------------- */

static void test_keygen(void **state)
{
	char a[WIRE_KEYGEN_LINE], b[WIRE_KEYGEN_LINE], path[128], err[256], hex[65];
	struct wire_keyring *kr = wire_keyring_new();

	(void)state;
	wire_key_hex(hex, key_old);
	assert_string_equal(hex, HEX_OLD);

	assert_int_equal(wire_keygen(4000000000u, a, sizeof(a)), 0);
	assert_int_equal(wire_keygen(4000000000u, b, sizeof(b)), 0);
	assert_int_equal(strlen(a), 11 + 64);
	assert_memory_equal(a, "4000000000 ", 11);
	assert_string_not_equal(a, b);
	assert_int_equal(wire_keygen(1, a, WIRE_KEYGEN_LINE - 1), -1);

	/* A generated line is a valid key file, whose key is the line's hex. */
	assert_int_equal(wire_keygen(12, a, sizeof(a)), 0);
	snprintf(path, sizeof(path), "%s/keys-gen", tmpdir);
	write_file(path, a, 0600);
	assert_int_equal(wire_keyring_load(kr, path, err, sizeof(err)), 0);
	assert_int_equal(kr->keys[0].id, 12);
	wire_key_hex(hex, kr->keys[0].key);
	assert_string_equal(hex, a + 3);
	wire_keyring_free(kr);
}

static void test_cluster_id(void **state)
{
	(void)state;
	/* Pinned: nodes on different releases must agree on it (BLAKE2b-128 prefix). */
	assert_int_equal(wire_cluster_id("tandem"), 0x368efa2eu);
	assert_int_equal(wire_cluster_id(""), 0xcae66941u);
	assert_int_equal(wire_cluster_id(NULL), 0xcae66941u);
	assert_int_not_equal(wire_cluster_id("tandem"), wire_cluster_id("tandem2"));
}

static void test_verdict_str(void **state)
{
	static const struct { enum wire_verdict v; const char *s; } names[] = {
		{ WIRE_OK, "ok" }, { WIRE_ERR_SHORT, "short" }, { WIRE_ERR_OVERSIZE, "oversize" },
		{ WIRE_ERR_MAGIC, "bad-magic" }, { WIRE_ERR_VERSION, "bad-version" },
		{ WIRE_ERR_CLUSTER, "wrong-cluster" }, { WIRE_ERR_KEYID, "unknown-key" },
		{ WIRE_ERR_AUTH, "auth-failed" }, { WIRE_ERR_REPLAY, "replay" },
		{ WIRE_ERR_OLD_EPOCH, "old-epoch" }, { WIRE_ERR_SELF, "own-datagram" },
		{ WIRE_VERDICT_MAX, "invalid" }, { (enum wire_verdict)-1, "invalid" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		assert_string_equal(wire_verdict_str(names[i].v), names[i].s);
}

/* ---- epoch --------------------------------------------------------------- */

static uint64_t read_u64_file(const char *path)
{
	char buf[64] = { 0 };
	int fd = open(path, O_RDONLY);

	assert_true(fd != -1);
	assert_true(read(fd, buf, sizeof(buf) - 1) > 0);
	close(fd);
	return strtoull(buf, NULL, 10);
}

static void test_epoch_next(void **state)
{
	char path[192], dir[128], err[256];
	uint64_t e1, e2, e3, e;
	struct stat st;
	time_t start = time(NULL);

	(void)state;
	snprintf(dir, sizeof(dir), "%s/state/hacd", tmpdir);
	snprintf(path, sizeof(path), "%s/epoch", dir);

	/* First call: directories created 0700, epoch at least the clock. */
	assert_int_equal(wire_epoch_next(path, &e1, err, sizeof(err)), 0);
	assert_true(e1 >= (uint64_t)start);
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(read_u64_file(path), e1);

	/* Calls within the same second still grow: the clock need not move. */
	assert_int_equal(wire_epoch_next(path, &e2, err, sizeof(err)), 0);
	assert_int_equal(wire_epoch_next(path, &e3, err, sizeof(err)), 0);
	assert_true(e2 > e1);
	assert_true(e3 > e2);
	assert_int_equal(read_u64_file(path), e3);

	/* A stored epoch ahead of the clock (clock stepped back) still grows by one. */
	write_file(path, "99999999999\n", 0600);
	assert_int_equal(wire_epoch_next(path, &e, err, sizeof(err)), 0);
	assert_int_equal(e, 100000000000ull);

	/* Damage is an error, never a silent reset. */
	write_file(path, "12ab\n", 0600);
	assert_int_equal(wire_epoch_next(path, &e, err, sizeof(err)), -1);
	assert_non_null(strstr(err, ":1:"));
	write_file(path, "", 0600);
	assert_int_equal(wire_epoch_next(path, &e, err, sizeof(err)), -1);
	write_file(path, "18446744073709551615\n", 0600);
	assert_int_equal(wire_epoch_next(path, &e, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "exhausted"));
}

/* ---- setup --------------------------------------------------------------- */

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int group_setup(void **state)
{
	(void)state;
	if (sodium_init() < 0)
		return -1;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_wire.XXXXXX");
	return mkdtemp(tmpdir) != NULL ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	return nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_seal_refusals),
		cmocka_unit_test(test_ladder),
		cmocka_unit_test(test_every_bit_flip),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_forged),
		cmocka_unit_test(test_rotation),
		cmocka_unit_test(test_replay_window),
		cmocka_unit_test(test_replay_floor),
		cmocka_unit_test(test_replay_datagrams),
		cmocka_unit_test(test_keyfile),
		cmocka_unit_test(test_keyfile_contents),
		cmocka_unit_test(test_keyfile_not_regular),
		cmocka_unit_test(test_keyfile_owner),
		cmocka_unit_test(test_keyfile_reader_uid),
		cmocka_unit_test(test_keygen),
		cmocka_unit_test(test_cluster_id),
		cmocka_unit_test(test_verdict_str),
		cmocka_unit_test(test_epoch_next),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
