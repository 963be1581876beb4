/*
 * tests/fuzz/fuzz_peer.c — libFuzzer harness for what a peer's sealed
 * datagram carries once it opened: the protobuf PeerMessage decoder, then
 * hacd/replica.c's merge of its StateSync into a replica store, as
 * hacd/repl.c does for every accepted sync. (fuzz_wire covers the sealing
 * ladder in front; a fuzzer cannot forge a Poly1305 tag, so the store is fed
 * here directly.)
 *
 * Input: one byte s, then two PeerMessages: data[1 .. 1+s) and the rest.
 * Both are merged in turn into a fresh store (three configured nodes, small
 * tables so that they fill) at a fixed wall-clock time. After each merge the
 * store's invariants are checked (replica.c's comments promise them):
 *   - sizes bounded: each table holds at most its configured maximum, and
 *     replica_foreach visits exactly stats.entries of each kind;
 *   - every origin a rate count or health observation names is a configured
 *     node (bans and admin may say "" for an older sender), every name and
 *     key within its limit, every count at most REPLICA_MAX_COUNT, ticket
 *     names and secrets of their fixed sizes, nothing already expired;
 *   - G-counters are monotonic: a (origin, limit, key, window) count still
 *     present after the second merge is not lower than after the first;
 *   - merges are idempotent: merging the second message again changes
 *     nothing (replica_apply returns 0 and the store dumps the same);
 *   - bulk export converges: a fresh store fed this store's bulk sync
 *     (replica_bulk_next, each chunk unpacked and merged) dumps the same.
 *
 * A PeerMessage carrying a CachePurge (hactl cache purge) goes instead to
 * hacd/purgelog.c as hacd/repl.c's apply_purge feeds it: the log stays
 * bounded, an origin's (epoch, seq) never goes back, and a purge taken
 * once is a duplicate (or refused) the second time.
 *
 * A CacheSummary or CacheDigest (hactl cache stats, the warm standby) goes
 * to hacd/cacheview.c as repl.c's apply_cache feeds it: a summary kept is
 * bounded, named for its sender and unpacks again; a digest that passes
 * the checks is split into chunks within a datagram's bound that each
 * pass the checks again and together carry every key once, in order.
 *
 * Seeds: tests/fuzz/corpus/peer/, StateSyncs packed by replica.c's own
 * export code (replica_export_delta, replica_bulk_next) from stores filled
 * the way hacd fills them; regenerate with
 *   FUZZ_PEER_WRITE_SEEDS=tests/fuzz/corpus/peer build/fuzz/fuzz_peer
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hacd/cacheview.h"
#include "hacd/purgelog.h"
#include "hacd/replica.h"
#include "lib/log.h"
#include "proto/tandem.pb-c.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* 2026-12-01: seeds carry timestamps around this fixed "now". */
#define NOW ((uint64_t)1796083200000)

static const char *const nodes[] = { "n1", "n2", "n3" };

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_peer: invariant broken: %s\n", what);
		abort();
	}
}

static struct replica *store_new(void)
{
	struct replica_config rc;
	struct replica *r;

	replica_config_defaults(&rc);
	rc.self = "n1";
	rc.nodes = nodes;
	rc.nnodes = 3;
	rc.max_rates = 16;
	rc.max_bans = 8;
	rc.max_health = 8;
	rc.max_admin = 8;
	rc.max_tickets = 3;
	r = replica_new(&rc);
	check(r != NULL, "replica_new");
	return r;
}

static int name_ok(const char *s, int may_be_empty)
{
	size_t n;

	if (s == NULL)
		return may_be_empty;
	n = strlen(s);
	return n <= REPLICA_NAME_MAX && (n > 0 || may_be_empty);
}

static int is_node(const char *s)
{
	for (size_t i = 0; i < 3; i++)
		if (s != NULL && strcmp(s, nodes[i]) == 0)
			return 1;
	return 0;
}

/* A dump: every entry of every kind packed, sorted, concatenated; two
 * stores with equal dumps hold the same state. */
struct dump { uint8_t **e; size_t *len, n, cap; };

static void dump_add(struct dump *d, const ProtobufCMessage *m)
{
	size_t len = protobuf_c_message_get_packed_size(m);

	if (d->n == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 64;
		d->e = realloc(d->e, d->cap * sizeof(*d->e));
		d->len = realloc(d->len, d->cap * sizeof(*d->len));
		check(d->e != NULL && d->len != NULL, "realloc");
	}
	d->e[d->n] = malloc(len ? len : 1);
	check(d->e[d->n] != NULL, "malloc");
	protobuf_c_message_pack(m, d->e[d->n]);
	d->len[d->n++] = len;
}

struct walk { struct dump *d; size_t count; enum replica_kind kind; };

static void visit(void *arg, const struct replica_item *it)
{
	struct walk *w = arg;

	check(it->kind == w->kind, "foreach kind");
	w->count++;
	switch (it->kind) {
	case REPLICA_RATE:
		check(is_node(it->u.rate->origin), "rate origin is a configured node");
		check(name_ok(it->u.rate->limit, 0) && it->u.rate->key.len <= REPLICA_KEY_MAX, "rate name/key");
		check(it->u.rate->count <= REPLICA_MAX_COUNT, "rate count bounded");
		dump_add(w->d, &it->u.rate->base);
		break;
	case REPLICA_BAN:
		check(it->u.ban->origin == NULL || it->u.ban->origin[0] == '\0' || is_node(it->u.ban->origin),
		    "ban origin is a configured node");
		check(name_ok(it->u.ban->limit, 0) && it->u.ban->key.len <= REPLICA_KEY_MAX, "ban name/key");
		check(it->u.ban->until_unix_ms > NOW, "no expired ban kept");
		dump_add(w->d, &it->u.ban->base);
		break;
	case REPLICA_HEALTH:
		check(is_node(it->u.health->origin), "health origin is a configured node");
		check(name_ok(it->u.health->upstream, 0) && name_ok(it->u.health->server, 0), "health names");
		dump_add(w->d, &it->u.health->base);
		break;
	case REPLICA_ADMIN:
		check(it->u.admin->origin == NULL || it->u.admin->origin[0] == '\0' || is_node(it->u.admin->origin),
		    "admin origin is a configured node");
		check(name_ok(it->u.admin->upstream, 0) && name_ok(it->u.admin->server, 0), "admin names");
		check(!it->u.admin->has_state || it->u.admin->state <= TANDEM__ADMIN_STATE__ADMIN_MAINT, "admin state");
		dump_add(w->d, &it->u.admin->base);
		break;
	case REPLICA_TICKET:
		check(it->u.ticket->name.len == REPLICA_TICKET_NAME_LEN &&
		    it->u.ticket->secret.len == REPLICA_TICKET_SECRET_LEN, "ticket sizes");
		check(it->u.ticket->expires_unix_ms > NOW, "no expired ticket kept");
		dump_add(w->d, &it->u.ticket->base);
		break;
	default:
		check(0, "kind");
	}
}

static int cmp_entry(const uint8_t *a, size_t na, const uint8_t *b, size_t nb)
{
	int c = memcmp(a, b, na < nb ? na : nb);

	return c != 0 ? c : (na > nb) - (na < nb);
}

/* Walk the store, checking invariants; dump it sorted into d. */
static void check_store(const struct replica *r, struct dump *d)
{
	static const size_t max[REPLICA_KIND_MAX] = { 16, 8, 8, 8, 3 };
	const struct replica_stats *st = replica_stats(r);

	d->n = 0;
	for (int k = 0; k < REPLICA_KIND_MAX; k++) {
		struct walk w = { d, 0, (enum replica_kind)k };

		replica_foreach(r, (enum replica_kind)k, visit, &w);
		check(w.count == st->entries[k], "foreach visits stats.entries");
		check(w.count <= max[k], "table within its maximum");
	}
	/* insertion sort: dumps are small (at most 43 entries) */
	for (size_t i = 1; i < d->n; i++)
		for (size_t j = i; j > 0 && cmp_entry(d->e[j - 1], d->len[j - 1], d->e[j], d->len[j]) > 0; j--) {
			uint8_t *te = d->e[j];
			size_t tl = d->len[j];

			d->e[j] = d->e[j - 1];
			d->len[j] = d->len[j - 1];
			d->e[j - 1] = te;
			d->len[j - 1] = tl;
		}
}

static int dump_eq(const struct dump *a, const struct dump *b)
{
	if (a->n != b->n)
		return 0;
	for (size_t i = 0; i < a->n; i++)
		if (a->len[i] != b->len[i] || memcmp(a->e[i], b->e[i], a->len[i]) != 0)
			return 0;
	return 1;
}

static void dump_clear(struct dump *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->e[i]);
	d->n = 0;
}

static void dump_free(struct dump *d)
{
	dump_clear(d);
	free(d->e);
	free(d->len);
	memset(d, 0, sizeof(*d));
}

/* Rate counts by (origin, limit, key, window) after the first merge: none
 * may be lower after the second. */
struct rate_snap { char origin[8]; char limit[REPLICA_NAME_MAX + 1]; uint8_t key[REPLICA_KEY_MAX]; size_t klen;
		   uint64_t ws, count; };
static struct rate_snap snap[16];
static size_t nsnap;

static void snap_cb(void *arg, const struct replica_item *it)
{
	const Tandem__RateCount *c = it->u.rate;
	struct rate_snap *s;

	(void)arg;
	if (nsnap >= 16)
		return;
	s = &snap[nsnap++];
	snprintf(s->origin, sizeof(s->origin), "%s", c->origin);
	snprintf(s->limit, sizeof(s->limit), "%s", c->limit);
	memcpy(s->key, c->key.data, c->key.len);
	s->klen = c->key.len;
	s->ws = c->window_start_unix_ms;
	s->count = c->count;
}

static void mono_cb(void *arg, const struct replica_item *it)
{
	const Tandem__RateCount *c = it->u.rate;

	(void)arg;
	for (size_t i = 0; i < nsnap; i++)
		if (strcmp(snap[i].origin, c->origin) == 0 && strcmp(snap[i].limit, c->limit) == 0 &&
		    snap[i].klen == c->key.len && memcmp(snap[i].key, c->key.data, c->key.len) == 0 &&
		    snap[i].ws == c->window_start_unix_ms)
			check(c->count >= snap[i].count, "a G-counter went down");
}

/* Unpack a PeerMessage; the StateSync it carries, or NULL. */
static Tandem__PeerMessage *unpack(const uint8_t *p, size_t n)
{
	Tandem__PeerMessage *m = tandem__peer_message__unpack(NULL, n, p);

	if (m != NULL && (m->body_case != TANDEM__PEER_MESSAGE__BODY_SYNC || m->sync == NULL)) {
		tandem__peer_message__free_unpacked(m, NULL);
		return NULL;
	}
	return m;
}

/* Feed a fresh store r's whole bulk sync, chunk by chunk. */
static void bulk_copy(struct replica *from, struct replica *to)
{
	static uint8_t out[1400];
	struct replica_bulk b;
	ssize_t n;

	memset(&b, 0, sizeof(b));
	replica_bulk_begin(from, &b);
	while ((n = replica_bulk_next(&b, REPLICA_ENV_PEER, out, sizeof(out))) > 0) {
		Tandem__PeerMessage *m = unpack(out, (size_t)n);

		check(m != NULL, "a bulk chunk unpacks");
		check(replica_apply(to, m->sync, REPLICA_SRC_PEER, NOW, NULL, NULL) >= 0, "bulk merge");
		tandem__peer_message__free_unpacked(m, NULL);
	}
	check(n == 0, "bulk export");
}

/* ---- seeds ----------------------------------------------------------------- */

static void write_seed(const char *dir, int n, const uint8_t *m1, size_t n1, const uint8_t *m2, size_t n2)
{
	char path[4096];
	uint8_t s = (uint8_t)n1;
	FILE *f;

	snprintf(path, sizeof(path), "%s/seed-%02d", dir, n);
	f = fopen(path, "wb");
	check(f != NULL, "seed file");
	fwrite(&s, 1, 1, f);
	fwrite(m1, 1, n1, f);
	fwrite(m2, 1, n2, f);
	fclose(f);
}

/* A StateSync from node `origin` as hacd/repl.c would receive it from its
 * proxyd: rate counts, a ban, a health verdict. */
static void fill_from(struct replica *r, const char *origin, uint64_t base)
{
	Tandem__StateSync ss = TANDEM__STATE_SYNC__INIT;
	Tandem__RateCount c[3], *cp[3];
	Tandem__Ban b = TANDEM__BAN__INIT, *bp = &b;
	Tandem__HealthObs h = TANDEM__HEALTH_OBS__INIT, *hp = &h;
	static uint8_t key[3][16];

	for (int i = 0; i < 3; i++) {
		tandem__rate_count__init(&c[i]);
		memset(key[i], 0, 16);
		key[i][10] = key[i][11] = 0xff;
		key[i][12] = 10; key[i][13] = 99; key[i][14] = 0; key[i][15] = (uint8_t)(10 + i);
		c[i].origin = (char *)origin;
		c[i].limit = "api";
		c[i].has_key = c[i].has_window_start_unix_ms = c[i].has_count = 1;
		c[i].key.data = key[i];
		c[i].key.len = 16;
		c[i].window_start_unix_ms = NOW - NOW % 10000 - (uint64_t)i * 10000;
		c[i].count = base + (uint64_t)i * 7;
		cp[i] = &c[i];
	}
	b.limit = "api";
	b.has_key = b.has_until_unix_ms = b.has_started_unix_ms = 1;
	b.key.data = key[0];
	b.key.len = 16;
	b.until_unix_ms = NOW + 60000;
	b.started_unix_ms = NOW - 1000;
	b.origin = (char *)origin;
	h.origin = (char *)origin;
	h.upstream = "app";
	h.server = "s1";
	h.has_up = h.has_observed_unix_ms = 1;
	h.up = base % 2 == 0;
	h.observed_unix_ms = NOW - 500;
	ss.n_counts = 3;
	ss.counts = cp;
	ss.n_bans = 1;
	ss.bans = &bp;
	ss.n_health = 1;
	ss.health = &hp;
	ss.has_sent_unix_ms = 1;
	ss.sent_unix_ms = NOW;
	check(replica_apply(r, &ss, strcmp(origin, "n1") == 0 ? REPLICA_SRC_LOCAL : REPLICA_SRC_PEER, NOW,
	    NULL, NULL) > 0, "seed merge");
}

/* Deltas and bulk chunks packed by replica.c's export code. */
static void write_seeds(const char *dir)
{
	static uint8_t a[1400], b[1400];
	struct replica *r = store_new();
	struct replica_bulk bulk;
	ssize_t na, nb;
	int n = 0;

	fill_from(r, "n1", 40);
	check(replica_admin_set(r, "app", "s1", TANDEM__ADMIN_STATE__ADMIN_DRAIN, -1, NOW) == 0, "admin");
	check(replica_admin_set(r, "app", "s2", TANDEM__ADMIN_STATE__ADMIN_READY, 5, NOW) == 0, "admin");
	na = replica_export_delta(r, REPLICA_ENV_PEER, a, sizeof(a));
	check(na > 0, "delta");
	write_seed(dir, n++, NULL, 0, a, (size_t)na);
	fill_from(r, "n1", 90);                     /* the same windows, counted on */
	nb = replica_export_delta(r, REPLICA_ENV_PEER, b, sizeof(b));
	check(nb > 0, "delta");
	write_seed(dir, n++, NULL, 0, b, (size_t)nb);
	if (na <= 255)
		write_seed(dir, n++, a, (size_t)na, b, (size_t)nb);
	fill_from(r, "n2", 3);
	fill_from(r, "n3", 8);
	memset(&bulk, 0, sizeof(bulk));
	replica_bulk_begin(r, &bulk);
	while ((na = replica_bulk_next(&bulk, REPLICA_ENV_PEER, a, 600)) > 0)
		write_seed(dir, n++, NULL, 0, a, (size_t)na);
	replica_free(r);
	{
		/* A purge as hacd/repl.c packs one, and that purge twice. */
		Tandem__PeerMessage pm = TANDEM__PEER_MESSAGE__INIT;
		Tandem__CachePurge cp = TANDEM__CACHE_PURGE__INIT;

		cp.origin = "n2";
		cp.has_epoch = cp.has_seq = cp.has_prefix = cp.has_at_unix_ms = 1;
		cp.epoch = NOW - 60000;
		cp.seq = 1;
		cp.prefix = 1;
		cp.at_unix_ms = NOW;
		cp.url = "http://tandem.test/static/";
		pm.body_case = TANDEM__PEER_MESSAGE__BODY_PURGE;
		pm.purge = &cp;
		na = (ssize_t)tandem__peer_message__pack(&pm, a);
		write_seed(dir, n++, NULL, 0, a, (size_t)na);
		cp.seq = 3;
		nb = (ssize_t)tandem__peer_message__pack(&pm, b);
		write_seed(dir, n++, a, (size_t)na, b, (size_t)nb);
	}
	printf("fuzz_peer: %d seeds in %s\n", n, dir);
	exit(0);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("FUZZ_PEER_WRITE_SEEDS");

	(void)argc;
	(void)argv;
	log_set_level(LOG_LVL_ERR);
	if (dir != NULL)
		write_seeds(dir);
	return 0;
}

/* Each purge twice, as the second copy or a resent log brings it. */
static void purge_case(const uint8_t *data, size_t size, size_t s)
{
	static struct purgelog l;
	Tandem__PeerMessage *m[2];

	purgelog_init(&l, NOW);
	m[0] = tandem__peer_message__unpack(NULL, s, data + 1);
	m[1] = tandem__peer_message__unpack(NULL, size - 1 - s, data + 1 + s);
	for (int i = 0; i < 2; i++) {
		const Tandem__CachePurge *cp;
		size_t node = 1;

		if (m[i] == NULL || m[i]->body_case != TANDEM__PEER_MESSAGE__BODY_PURGE || m[i]->purge == NULL)
			continue;
		cp = m[i]->purge;
		for (size_t k = 0; k < 3; k++)
			if (cp->origin != NULL && strcmp(cp->origin, nodes[k]) == 0)
				node = k;
		for (int rep = 0; rep < 2; rep++) {
			uint64_t e0 = l.epoch[node], h0 = l.hi[node];
			enum purge_verdict v = purgelog_take(&l, node, cp->origin, cp->epoch, cp->seq,
			    cp->tag != NULL ? cp->tag : cp->url, cp->tag != NULL ? PURGE_KIND_TAG :
			    cp->has_prefix && cp->prefix ? PURGE_KIND_PREFIX : PURGE_KIND_URL, cp->at_unix_ms);

			check(l.n <= PURGELOG_MAX, "the purge log outgrew its bound");
			check(l.epoch[node] > e0 || (l.epoch[node] == e0 && l.hi[node] >= h0), "an origin's seq went back");
			check(rep == 0 || v == PURGE_DUP || v == PURGE_BAD, "a purge was taken twice");
			if (v == PURGE_NEW || v == PURGE_NEW_GAP)
				check(strlen(purgelog_at(&l, l.n - 1)->url) <= PURGE_URL_MAX, "a stored URL is too long");
		}
	}
	for (int i = 0; i < 2; i++)
		if (m[i] != NULL)
			tandem__peer_message__free_unpacked(m[i], NULL);
}

static void cache_case(const uint8_t *data, size_t size)
{
	static struct cacheview cv;
	Tandem__PeerMessage *m = tandem__peer_message__unpack(NULL, size, data);
	uint8_t buf[CV_CHUNK_BYTES + 64];

	if (m == NULL)
		return;
	if (m->body_case == TANDEM__PEER_MESSAGE__BODY_CACHE_SUMMARY && m->cache_summary != NULL &&
	    cv_keep_summary(&cv, 1, "n2", m->cache_summary, NOW) == 0) {
		Tandem__CacheSummary *back = tandem__cache_summary__unpack(NULL, cv.node[1].len, cv.node[1].sum);

		check(cv.node[1].len <= CV_SUMMARY_MAX, "a kept summary outgrew its bound");
		check(back != NULL && back->node != NULL && strcmp(back->node, "n2") == 0, "a kept summary does not name its sender");
		check(cv_summary_ok(back), "a kept summary fails the checks");
		tandem__cache_summary__free_unpacked(back, NULL);
	}
	if (m->body_case == TANDEM__PEER_MESSAGE__BODY_CACHE_DIGEST && m->cache_digest != NULL &&
	    cv_digest_ok(m->cache_digest)) {
		size_t from = 0, seen = 0, len;

		while ((len = cv_digest_chunk(m->cache_digest, "n1", &from, buf, sizeof(buf))) > 0) {
			Tandem__PeerMessage *c = tandem__peer_message__unpack(NULL, len, buf);

			check(len <= CV_CHUNK_BYTES, "a digest chunk outgrew a datagram");
			check(c != NULL && c->body_case == TANDEM__PEER_MESSAGE__BODY_CACHE_DIGEST &&
			    cv_digest_ok(c->cache_digest), "a digest chunk fails the checks");
			for (size_t i = 0; i < c->cache_digest->n_keys; i++)
				check(strcmp(c->cache_digest->keys[i]->target, m->cache_digest->keys[seen + i]->target) == 0,
				    "a digest chunk reordered its keys");
			seen += c->cache_digest->n_keys;
			tandem__peer_message__free_unpacked(c, NULL);
		}
		check(from == m->cache_digest->n_keys, "the chunks did not cover the digest");
		check(seen == m->cache_digest->n_keys, "the chunks did not carry every key");
	}
	tandem__peer_message__free_unpacked(m, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Tandem__PeerMessage *m1, *m2;
	struct replica *r, *r2;
	struct dump d1 = { 0 }, d2 = { 0 };
	size_t s;

	if (size < 1)
		return 0;
	s = data[0];
	if (s > size - 1)
		s = size - 1;
	purge_case(data, size, s);
	cache_case(data + 1, size - 1);
	m1 = unpack(data + 1, s);
	m2 = unpack(data + 1 + s, size - 1 - s);
	if (m1 == NULL && m2 == NULL)
		return 0;

	r = store_new();
	if (m1 != NULL)
		check(replica_apply(r, m1->sync, REPLICA_SRC_PEER, NOW, NULL, NULL) >= 0, "merge 1");
	check_store(r, &d1);
	nsnap = 0;
	replica_foreach(r, REPLICA_RATE, snap_cb, NULL);
	if (m2 != NULL) {
		check(replica_apply(r, m2->sync, REPLICA_SRC_PEER, NOW, NULL, NULL) >= 0, "merge 2");
		replica_foreach(r, REPLICA_RATE, mono_cb, NULL);
		dump_clear(&d1);
		check_store(r, &d1);
		/* Idempotent: the same message again changes nothing. */
		check(replica_apply(r, m2->sync, REPLICA_SRC_PEER, NOW, NULL, NULL) == 0, "a repeated merge changed entries");
		check_store(r, &d2);
		check(dump_eq(&d1, &d2), "a repeated merge changed the store");
		dump_clear(&d2);
	}
	/* Convergence through a bulk sync. */
	r2 = store_new();
	bulk_copy(r, r2);
	check_store(r2, &d2);
	check(dump_eq(&d1, &d2), "a bulk-synced store differs from its source");

	dump_free(&d1);
	dump_free(&d2);
	replica_free(r);
	replica_free(r2);
	if (m1 != NULL)
		tandem__peer_message__free_unpacked(m1, NULL);
	if (m2 != NULL)
		tandem__peer_message__free_unpacked(m2, NULL);
	return 0;
}
