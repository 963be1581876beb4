/*
 * tests/unit/test_replica.c — hacd/replica: merge rules, validation, export
 * packing, bulk sync and memory bounds, on a fake wall clock.
 *
 * Stores are compared entry by entry through a canonical dump (one sorted
 * line per entry, every field). The CRDT properties are checked by applying
 * random update sets in random orders, groupings, with duplicates and drops
 * healed by a bulk sync, to several stores that must all end equal to a
 * reference. Export is checked the way hacd uses it: packed envelopes are
 * unpacked with protobuf-c and applied to a fresh store.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "hacd/replica.h"
#include "lib/wire.h"
#include "proto/tandem.pb-c.h"

#define NOW   1800000000000ull   /* fake wall clock: 2027-01-15 */
#define HOUR  3600000ull

/* ---- building updates ---------------------------------------------------- */

/* One update, self-contained: its pointers point into itself. */
struct upd {
	enum replica_kind kind;
	union {
		Tandem__RateCount rate;
		Tandem__Ban ban;
		Tandem__HealthObs health;
		Tandem__ServerAdmin admin;
		Tandem__TicketKey ticket;
	} m;
	uint8_t key[80];
	uint8_t tname[20], tsecret[40];
	char s1[80], s2[80], s3[80];
};

static void set_str(char *dst, char **field, const char *s)
{
	if (s == NULL) {
		*field = NULL;
		return;
	}
	snprintf(dst, 80, "%s", s);
	*field = dst;
}

static void mk_rate(struct upd *u, const char *origin, const char *limit, const char *key, size_t klen,
    uint64_t window, uint64_t count)
{
	memset(u, 0, sizeof(*u));
	u->kind = REPLICA_RATE;
	tandem__rate_count__init(&u->m.rate);
	set_str(u->s1, &u->m.rate.origin, origin);
	set_str(u->s2, &u->m.rate.limit, limit);
	if (key != NULL) {
		memcpy(u->key, key, klen);
		u->m.rate.has_key = 1;
		u->m.rate.key.len = klen;
		u->m.rate.key.data = u->key;
	}
	u->m.rate.has_window_start_unix_ms = 1;
	u->m.rate.window_start_unix_ms = window;
	u->m.rate.has_count = 1;
	u->m.rate.count = count;
}

static void mk_ban(struct upd *u, const char *limit, const char *key, size_t klen, uint64_t until,
    const char *origin)
{
	memset(u, 0, sizeof(*u));
	u->kind = REPLICA_BAN;
	tandem__ban__init(&u->m.ban);
	set_str(u->s1, &u->m.ban.limit, limit);
	if (key != NULL) {
		memcpy(u->key, key, klen);
		u->m.ban.has_key = 1;
		u->m.ban.key.len = klen;
		u->m.ban.key.data = u->key;
	}
	u->m.ban.has_until_unix_ms = 1;
	u->m.ban.until_unix_ms = until;
	set_str(u->s2, &u->m.ban.origin, origin);
}

static void mk_health(struct upd *u, const char *up, const char *srv, const char *origin, int isup,
    uint64_t obs)
{
	memset(u, 0, sizeof(*u));
	u->kind = REPLICA_HEALTH;
	tandem__health_obs__init(&u->m.health);
	set_str(u->s1, &u->m.health.upstream, up);
	set_str(u->s2, &u->m.health.server, srv);
	set_str(u->s3, &u->m.health.origin, origin);
	u->m.health.has_up = 1;
	u->m.health.up = isup;
	u->m.health.has_observed_unix_ms = 1;
	u->m.health.observed_unix_ms = obs;
}

static void mk_admin(struct upd *u, const char *up, const char *srv, int state, int64_t weight, uint64_t set,
    const char *origin)
{
	memset(u, 0, sizeof(*u));
	u->kind = REPLICA_ADMIN;
	tandem__server_admin__init(&u->m.admin);
	set_str(u->s1, &u->m.admin.upstream, up);
	set_str(u->s2, &u->m.admin.server, srv);
	u->m.admin.has_state = 1;
	u->m.admin.state = (Tandem__AdminState)state;
	u->m.admin.has_weight = weight >= 0;
	u->m.admin.weight = weight >= 0 ? (uint32_t)weight : 0;
	u->m.admin.has_set_unix_ms = 1;
	u->m.admin.set_unix_ms = set;
	set_str(u->s3, &u->m.admin.origin, origin);
}

static void mk_ticket(struct upd *u, uint32_t id, uint8_t fill, uint64_t created, uint64_t expires)
{
	memset(u, 0, sizeof(*u));
	u->kind = REPLICA_TICKET;
	tandem__ticket_key__init(&u->m.ticket);
	memset(u->tname, fill, 16);
	memset(u->tsecret, fill ^ 0x5a, 32);
	u->m.ticket.has_id = 1;
	u->m.ticket.id = id;
	u->m.ticket.has_name = 1;
	u->m.ticket.name.len = 16;
	u->m.ticket.name.data = u->tname;
	u->m.ticket.has_secret = 1;
	u->m.ticket.secret.len = 32;
	u->m.ticket.secret.data = u->tsecret;
	u->m.ticket.has_created_unix_ms = 1;
	u->m.ticket.created_unix_ms = created;
	u->m.ticket.has_expires_unix_ms = expires != 0;
	u->m.ticket.expires_unix_ms = expires;
}

/* Apply n updates as one StateSync. */
static int apply_ups(struct replica *r, struct upd *const *ups, size_t n, enum replica_source src, uint64_t now)
{
	Tandem__StateSync s = TANDEM__STATE_SYNC__INIT;
	Tandem__RateCount *rc[n + 1];
	Tandem__Ban *bn[n + 1];
	Tandem__HealthObs *he[n + 1];
	Tandem__ServerAdmin *ad[n + 1];
	Tandem__TicketKey *tk[n + 1];

	s.counts = rc;
	s.bans = bn;
	s.health = he;
	s.admin = ad;
	s.tickets = tk;
	for (size_t i = 0; i < n; i++) {
		switch (ups[i]->kind) {
		case REPLICA_RATE:   rc[s.n_counts++] = &ups[i]->m.rate; break;
		case REPLICA_BAN:    bn[s.n_bans++] = &ups[i]->m.ban; break;
		case REPLICA_HEALTH: he[s.n_health++] = &ups[i]->m.health; break;
		case REPLICA_ADMIN:  ad[s.n_admin++] = &ups[i]->m.admin; break;
		default:             tk[s.n_tickets++] = &ups[i]->m.ticket; break;
		}
	}
	return replica_apply(r, &s, src, now, NULL, NULL);
}

static int apply1(struct replica *r, struct upd *u, enum replica_source src, uint64_t now)
{
	return apply_ups(r, &u, 1, src, now);
}

/* ---- canonical dumps ----------------------------------------------------- */

struct lines {
	char **v;
	size_t n, cap;
};

static void hex(char *out, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", p[i]);
	out[2 * n] = '\0';
}

static void dump_cb(void *arg, const struct replica_item *it)
{
	struct lines *l = arg;
	char buf[512], h1[200], h2[100];

	switch (it->kind) {
	case REPLICA_RATE:
		hex(h1, it->u.rate->key.data, it->u.rate->key.len);
		snprintf(buf, sizeof(buf), "R %s %s %s %llu %llu", it->u.rate->origin, it->u.rate->limit, h1,
		    (unsigned long long)it->u.rate->window_start_unix_ms, (unsigned long long)it->u.rate->count);
		break;
	case REPLICA_BAN:
		hex(h1, it->u.ban->key.data, it->u.ban->key.len);
		snprintf(buf, sizeof(buf), "B %s %s %llu '%s'", it->u.ban->limit, h1,
		    (unsigned long long)it->u.ban->until_unix_ms, it->u.ban->origin ? it->u.ban->origin : "");
		break;
	case REPLICA_HEALTH:
		snprintf(buf, sizeof(buf), "H %s %s %s %d %llu", it->u.health->upstream, it->u.health->server,
		    it->u.health->origin, it->u.health->up, (unsigned long long)it->u.health->observed_unix_ms);
		break;
	case REPLICA_ADMIN:
		snprintf(buf, sizeof(buf), "A %s %s %d %d/%u %llu '%s'", it->u.admin->upstream, it->u.admin->server,
		    (int)it->u.admin->state, it->u.admin->has_weight, it->u.admin->weight,
		    (unsigned long long)it->u.admin->set_unix_ms, it->u.admin->origin ? it->u.admin->origin : "");
		break;
	default:
		hex(h1, it->u.ticket->name.data, it->u.ticket->name.len);
		hex(h2, it->u.ticket->secret.data, it->u.ticket->secret.len);
		snprintf(buf, sizeof(buf), "T %u %s %s %llu %d/%llu", it->u.ticket->id, h1, h2,
		    (unsigned long long)it->u.ticket->created_unix_ms, it->u.ticket->has_expires_unix_ms,
		    (unsigned long long)it->u.ticket->expires_unix_ms);
		break;
	}
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		l->v = realloc(l->v, l->cap * sizeof(*l->v));
		assert_non_null(l->v);
	}
	l->v[l->n] = strdup(buf);
	assert_non_null(l->v[l->n]);
	l->n++;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void dump(const struct replica *r, struct lines *l)
{
	memset(l, 0, sizeof(*l));
	for (int k = 0; k < REPLICA_KIND_MAX; k++)
		replica_foreach(r, (enum replica_kind)k, dump_cb, l);
	if (l->n > 0)
		qsort(l->v, l->n, sizeof(*l->v), cmp_str);
}

static void lines_free(struct lines *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
}

/* The one entry of kind k in r, as its canonical line ("" when none). */
static const char *only_line(const struct replica *r, enum replica_kind k)
{
	static char out[512];
	struct lines l;

	memset(&l, 0, sizeof(l));
	replica_foreach(r, k, dump_cb, &l);
	assert_true(l.n <= 1);
	snprintf(out, sizeof(out), "%s", l.n ? l.v[0] : "");
	lines_free(&l);
	return out;
}

static void assert_same(const struct replica *a, const struct replica *b, const char *what)
{
	struct lines la, lb;

	dump(a, &la);
	dump(b, &lb);
	for (size_t i = 0; i < la.n && i < lb.n; i++)
		if (strcmp(la.v[i], lb.v[i]) != 0)
			fail_msg("%s: entry %zu differs: '%s' vs '%s'", what, i, la.v[i], lb.v[i]);
	if (la.n != lb.n)
		fail_msg("%s: %zu entries vs %zu", what, la.n, lb.n);
	lines_free(&la);
	lines_free(&lb);
}

static struct replica *store(const char *self)
{
	struct replica_config c;
	struct replica *r;

	replica_config_defaults(&c);
	c.self = self;
	r = replica_new(&c);
	assert_non_null(r);
	return r;
}

static struct replica *store_cfg(const struct replica_config *c)
{
	struct replica *r = replica_new(c);

	assert_non_null(r);
	return r;
}

/* ---- merge tables -------------------------------------------------------- */

/* One received entry for one key, and what the store holds afterwards. */
struct merge_step {
	enum replica_kind kind;
	uint64_t t;          /* window / until / observed / set / created */
	uint64_t v;          /* rate count; health up; admin state; ticket fill byte */
	int64_t w;           /* admin weight (-1 none) */
	const char *origin;
	int changed;
	const char *want;
};

static const struct merge_step merge_steps[] = {
	/* rate: G-counter, max per (origin, limit, key, window) */
	{ REPLICA_RATE, NOW, 5, 0, "n1", 1, "R n1 lim 0a000001 1800000000000 5" },
	{ REPLICA_RATE, NOW, 3, 0, "n1", 0, "R n1 lim 0a000001 1800000000000 5" },
	{ REPLICA_RATE, NOW, 5, 0, "n1", 0, "R n1 lim 0a000001 1800000000000 5" },
	{ REPLICA_RATE, NOW, 9, 0, "n1", 1, "R n1 lim 0a000001 1800000000000 9" },
	/* ban: max until; a tie goes to the greater origin name */
	{ REPLICA_BAN, NOW + 1000, 0, 0, "b", 1, "B lim 0a000001 1800000001000 'b'" },
	{ REPLICA_BAN, NOW + 900, 0, 0, "z", 0, "B lim 0a000001 1800000001000 'b'" },
	{ REPLICA_BAN, NOW + 1000, 0, 0, "a", 0, "B lim 0a000001 1800000001000 'b'" },
	{ REPLICA_BAN, NOW + 1000, 0, 0, "c", 1, "B lim 0a000001 1800000001000 'c'" },
	{ REPLICA_BAN, NOW + 1000, 0, 0, NULL, 0, "B lim 0a000001 1800000001000 'c'" },
	{ REPLICA_BAN, NOW + 2000, 0, 0, NULL, 1, "B lim 0a000001 1800000002000 ''" },
	/* health: newest wins; on a tie, down beats up */
	{ REPLICA_HEALTH, NOW, 1, 0, "n1", 1, "H web s1 n1 1 1800000000000" },
	{ REPLICA_HEALTH, NOW, 0, 0, "n1", 1, "H web s1 n1 0 1800000000000" },
	{ REPLICA_HEALTH, NOW, 1, 0, "n1", 0, "H web s1 n1 0 1800000000000" },
	{ REPLICA_HEALTH, NOW, 0, 0, "n1", 0, "H web s1 n1 0 1800000000000" },
	{ REPLICA_HEALTH, NOW - 1, 1, 0, "n1", 0, "H web s1 n1 0 1800000000000" },
	{ REPLICA_HEALTH, NOW + 1, 1, 0, "n1", 1, "H web s1 n1 1 1800000000001" },
	/* admin: last writer wins, then origin, state, weight */
	{ REPLICA_ADMIN, NOW, 1, -1, "b", 1, "A web s1 1 0/0 1800000000000 'b'" },
	{ REPLICA_ADMIN, NOW, 0, -1, "a", 0, "A web s1 1 0/0 1800000000000 'b'" },
	{ REPLICA_ADMIN, NOW, 2, -1, "b", 1, "A web s1 2 0/0 1800000000000 'b'" },
	{ REPLICA_ADMIN, NOW, 2, 7, "b", 1, "A web s1 2 1/7 1800000000000 'b'" },
	{ REPLICA_ADMIN, NOW, 2, 3, "b", 0, "A web s1 2 1/7 1800000000000 'b'" },
	{ REPLICA_ADMIN, NOW, 0, -1, "c", 1, "A web s1 0 0/0 1800000000000 'c'" },
	{ REPLICA_ADMIN, NOW - 5, 2, 9, "z", 0, "A web s1 0 0/0 1800000000000 'c'" },
	{ REPLICA_ADMIN, NOW + 5, 0, 5, "a", 1, "A web s1 0 1/5 1800000000005 'a'" },
	/* ticket, same id: newer created wins, then the bytes */
	{ REPLICA_TICKET, NOW, 0x11, 0, NULL, 1, "T 7 11111111111111111111111111111111 "
	    "4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b 1800000000000 0/0" },
	{ REPLICA_TICKET, NOW, 0x10, 0, NULL, 0, "T 7 11111111111111111111111111111111 "
	    "4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b 1800000000000 0/0" },
	{ REPLICA_TICKET, NOW, 0x12, 0, NULL, 1, "T 7 12121212121212121212121212121212 "
	    "4848484848484848484848484848484848484848484848484848484848484848 1800000000000 0/0" },
	{ REPLICA_TICKET, NOW - 1, 0x13, 0, NULL, 0, "T 7 12121212121212121212121212121212 "
	    "4848484848484848484848484848484848484848484848484848484848484848 1800000000000 0/0" },
};

static void test_merge_table(void **unused)
{
	struct replica *r = store("self");
	static const char key[4] = { 10, 0, 0, 1 };

	(void)unused;
	for (size_t i = 0; i < sizeof(merge_steps) / sizeof(merge_steps[0]); i++) {
		const struct merge_step *s = &merge_steps[i];
		struct upd u;
		int got;

		switch (s->kind) {
		case REPLICA_RATE:   mk_rate(&u, s->origin, "lim", key, 4, s->t, s->v); break;
		case REPLICA_BAN:    mk_ban(&u, "lim", key, 4, s->t, s->origin); break;
		case REPLICA_HEALTH: mk_health(&u, "web", "s1", s->origin, (int)s->v, s->t); break;
		case REPLICA_ADMIN:  mk_admin(&u, "web", "s1", (int)s->v, s->w, s->t, s->origin); break;
		default:             mk_ticket(&u, 7, (uint8_t)s->v, s->t, 0); break;
		}
		got = apply1(r, &u, REPLICA_SRC_PEER, NOW);
		if (got != s->changed)
			fail_msg("step %zu: changed %d, want %d", i, got, s->changed);
		if (strcmp(only_line(r, s->kind), s->want) != 0)
			fail_msg("step %zu: have '%s', want '%s'", i, only_line(r, s->kind), s->want);
	}
	assert_int_equal(replica_stats(r)->entries[REPLICA_RATE], 1);
	assert_int_equal(replica_stats(r)->merged[REPLICA_BAN], 3);
	assert_int_equal(replica_stats(r)->stale[REPLICA_HEALTH], 3);
	replica_free(r);
}

/* Tickets keep the newest N by (created, id); older arrivals are not kept. */
static void test_ticket_newest_n(void **unused)
{
	struct replica_config c;
	struct replica *r;
	struct upd u;
	struct lines l;

	(void)unused;
	replica_config_defaults(&c);
	c.self = "self";
	c.max_tickets = 3;
	r = store_cfg(&c);
	for (uint32_t id = 1; id <= 4; id++) {
		mk_ticket(&u, id, (uint8_t)id, NOW - 1000 + id, NOW + HOUR);
		assert_int_equal(apply1(r, &u, REPLICA_SRC_PEER, NOW), 1);
	}
	mk_ticket(&u, 9, 9, NOW - 5000, NOW + HOUR);         /* older than all three kept */
	assert_int_equal(apply1(r, &u, REPLICA_SRC_PEER, NOW), 0);
	mk_ticket(&u, 10, 9, NOW - 1000, 0);                 /* expired: never kept */
	u.m.ticket.has_expires_unix_ms = 1;
	assert_int_equal(apply1(r, &u, REPLICA_SRC_PEER, NOW), 0);
	dump(r, &l);
	assert_int_equal(l.n, 3);
	assert_true(strncmp(l.v[0], "T 2 ", 4) == 0);
	assert_true(strncmp(l.v[2], "T 4 ", 4) == 0);
	lines_free(&l);
	assert_int_equal(replica_stats(r)->evicted[REPLICA_TICKET], 1);
	assert_int_equal(replica_stats(r)->dropped_full[REPLICA_TICKET], 1);
	assert_int_equal(replica_stats(r)->expired_rx[REPLICA_TICKET], 1);
	/* expiry at the tickets' end removes them all */
	replica_expire(r, NOW + HOUR);
	assert_int_equal(replica_stats(r)->entries[REPLICA_TICKET], 0);
	replica_free(r);
}

/* ---- validation ---------------------------------------------------------- */

enum vres { V_OK = -1, V_EXPIRED = -2 };     /* else a replica_bad */

struct vcase {
	const char *name;
	void (*build)(struct upd *u);
	enum replica_source src;
	int want;            /* V_OK, V_EXPIRED or a replica_bad */
};

static const char k64[65] = "0123456789012345678901234567890123456789012345678901234567890123";
static const char n65[] = "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcde";

static void b_rate_ok(struct upd *u) { mk_rate(u, "n1", "lim", "k", 1, NOW, 1); }
static void b_rate_key64(struct upd *u) { mk_rate(u, "n1", "lim", k64, 64, NOW, 1); }
static void b_rate_key65(struct upd *u) { mk_rate(u, "n1", "lim", n65, 65, NOW, 1); }
static void b_rate_emptykey(struct upd *u) { mk_rate(u, "n1", "lim", "", 0, NOW, 1); }
static void b_rate_nokey(struct upd *u) { mk_rate(u, "n1", "lim", NULL, 0, NOW, 1); }
static void b_rate_nolimit(struct upd *u) { mk_rate(u, "n1", NULL, "k", 1, NOW, 1); }
static void b_rate_noorigin(struct upd *u) { mk_rate(u, NULL, "lim", "k", 1, NOW, 1); }
static void b_rate_nocount(struct upd *u) { b_rate_ok(u); u->m.rate.has_count = 0; }
static void b_rate_space(struct upd *u) { mk_rate(u, "n 1", "lim", "k", 1, NOW, 1); }
static void b_rate_ctl(struct upd *u) { mk_rate(u, "n1", "li\x01m", "k", 1, NOW, 1); }
static void b_rate_long(struct upd *u) { mk_rate(u, n65, "lim", "k", 1, NOW, 1); }
static void b_rate_name64(struct upd *u) { mk_rate(u, "n1", k64, "k", 1, NOW, 1); }
static void b_rate_empty(struct upd *u) { mk_rate(u, "", "lim", "k", 1, NOW, 1); }
static void b_rate_count(struct upd *u) { mk_rate(u, "n1", "lim", "k", 1, NOW, REPLICA_MAX_COUNT + 1); }
static void b_rate_countmax(struct upd *u) { mk_rate(u, "n1", "lim", "k", 1, NOW, REPLICA_MAX_COUNT); }
static void b_rate_future(struct upd *u) { mk_rate(u, "n1", "lim", "k", 1, NOW + HOUR + 1, 1); }
static void b_rate_future_ok(struct upd *u) { mk_rate(u, "n1", "lim", "k", 1, NOW + HOUR, 1); }
static void b_rate_old(struct upd *u) { mk_rate(u, "n1", "lim", "k", 1, NOW - 120000, 1); }
static void b_rate_notold(struct upd *u) { mk_rate(u, "n1", "lim", "k", 1, NOW - 119999, 1); }
static void b_rate_self(struct upd *u) { mk_rate(u, "self", "lim", "k", 1, NOW, 1); }
static void b_ban_ok(struct upd *u) { mk_ban(u, "lim", "k", 1, NOW + 1000, "n1"); }
static void b_ban_nokey(struct upd *u) { mk_ban(u, "lim", NULL, 0, NOW + 1000, "n1"); }
static void b_ban_badorigin(struct upd *u) { mk_ban(u, "lim", "k", 1, NOW + 1000, "n\t1"); }
static void b_ban_far(struct upd *u) { mk_ban(u, "lim", "k", 1, NOW + 7 * 24 * HOUR + 1, "n1"); }
static void b_ban_over(struct upd *u) { mk_ban(u, "lim", "k", 1, NOW, "n1"); }
static void b_ban_key65(struct upd *u) { mk_ban(u, "lim", n65, 65, NOW + 1, "n1"); }
static void b_health_ok(struct upd *u) { mk_health(u, "web", "s1", "n1", 1, NOW); }
static void b_health_noup(struct upd *u) { b_health_ok(u); u->m.health.has_up = 0; }
static void b_health_noserver(struct upd *u) { mk_health(u, "web", NULL, "n1", 1, NOW); }
static void b_health_future(struct upd *u) { mk_health(u, "web", "s1", "n1", 1, NOW + HOUR + 1); }
static void b_health_noorigin(struct upd *u) { mk_health(u, "web", "s1", NULL, 1, NOW); }
static void b_admin_ok(struct upd *u) { mk_admin(u, "web", "s1", 1, 5, NOW, "n1"); }
static void b_admin_state(struct upd *u) { mk_admin(u, "web", "s1", 7, 5, NOW, "n1"); }
static void b_admin_noset(struct upd *u) { b_admin_ok(u); u->m.admin.has_set_unix_ms = 0; }
static void b_admin_future(struct upd *u) { mk_admin(u, "web", "s1", 1, 5, NOW + HOUR + 1, "n1"); }
static void b_admin_longsrv(struct upd *u) { mk_admin(u, "web", n65, 1, 5, NOW, "n1"); }
static void b_ticket_ok(struct upd *u) { mk_ticket(u, 1, 1, NOW, NOW + HOUR); }
static void b_ticket_name15(struct upd *u) { b_ticket_ok(u); u->m.ticket.name.len = 15; }
static void b_ticket_secret33(struct upd *u) { b_ticket_ok(u); u->m.ticket.secret.len = 33; }
static void b_ticket_noid(struct upd *u) { b_ticket_ok(u); u->m.ticket.has_id = 0; }
static void b_ticket_future(struct upd *u) { mk_ticket(u, 1, 1, NOW + HOUR + 1, 0); }
static void b_ticket_expired(struct upd *u) { mk_ticket(u, 1, 1, NOW - 10, NOW); }

static const struct vcase vcases[] = {
	{ "rate ok",                 b_rate_ok,         REPLICA_SRC_PEER,  V_OK },
	{ "rate 64-byte key",        b_rate_key64,      REPLICA_SRC_PEER,  V_OK },
	{ "rate 65-byte key",        b_rate_key65,      REPLICA_SRC_PEER,  REPLICA_BAD_KEY },
	{ "rate empty key",          b_rate_emptykey,   REPLICA_SRC_PEER,  V_OK },
	{ "rate no key",             b_rate_nokey,      REPLICA_SRC_PEER,  REPLICA_BAD_MISSING },
	{ "rate no limit",           b_rate_nolimit,    REPLICA_SRC_PEER,  REPLICA_BAD_MISSING },
	{ "rate no origin (peer)",   b_rate_noorigin,   REPLICA_SRC_PEER,  REPLICA_BAD_MISSING },
	{ "rate no origin (local)",  b_rate_noorigin,   REPLICA_SRC_LOCAL, V_OK },
	{ "rate other origin local", b_rate_ok,         REPLICA_SRC_LOCAL, REPLICA_BAD_ORIGIN },
	{ "rate own origin local",   b_rate_self,       REPLICA_SRC_LOCAL, V_OK },
	{ "rate no count",           b_rate_nocount,    REPLICA_SRC_PEER,  REPLICA_BAD_MISSING },
	{ "rate space in name",      b_rate_space,      REPLICA_SRC_PEER,  REPLICA_BAD_NAME },
	{ "rate control byte",       b_rate_ctl,        REPLICA_SRC_PEER,  REPLICA_BAD_NAME },
	{ "rate 65-char name",       b_rate_long,       REPLICA_SRC_PEER,  REPLICA_BAD_NAME },
	{ "rate 64-char name",       b_rate_name64,     REPLICA_SRC_PEER,  V_OK },
	{ "rate empty name",         b_rate_empty,      REPLICA_SRC_PEER,  REPLICA_BAD_NAME },
	{ "rate count too big",      b_rate_count,      REPLICA_SRC_PEER,  REPLICA_BAD_COUNT },
	{ "rate count at the cap",   b_rate_countmax,   REPLICA_SRC_PEER,  V_OK },
	{ "rate window 1h+1ms ahead", b_rate_future,    REPLICA_SRC_PEER,  REPLICA_BAD_FUTURE },
	{ "rate window 1h ahead",    b_rate_future_ok,  REPLICA_SRC_PEER,  V_OK },
	{ "rate window expired",     b_rate_old,        REPLICA_SRC_PEER,  V_EXPIRED },
	{ "rate window just kept",   b_rate_notold,     REPLICA_SRC_PEER,  V_OK },
	{ "ban ok",                  b_ban_ok,          REPLICA_SRC_PEER,  V_OK },
	{ "ban no key",              b_ban_nokey,       REPLICA_SRC_PEER,  REPLICA_BAD_MISSING },
	{ "ban tab in origin",       b_ban_badorigin,   REPLICA_SRC_PEER,  REPLICA_BAD_NAME },
	{ "ban beyond 7 days",       b_ban_far,         REPLICA_SRC_PEER,  REPLICA_BAD_FUTURE },
	{ "ban already over",        b_ban_over,        REPLICA_SRC_PEER,  V_EXPIRED },
	{ "ban 65-byte key",         b_ban_key65,       REPLICA_SRC_PEER,  REPLICA_BAD_KEY },
	{ "health ok",               b_health_ok,       REPLICA_SRC_PEER,  V_OK },
	{ "health no up",            b_health_noup,     REPLICA_SRC_PEER,  REPLICA_BAD_MISSING },
	{ "health no server",        b_health_noserver, REPLICA_SRC_PEER,  REPLICA_BAD_MISSING },
	{ "health in the future",    b_health_future,   REPLICA_SRC_PEER,  REPLICA_BAD_FUTURE },
	{ "health no origin (peer)", b_health_noorigin, REPLICA_SRC_PEER,  REPLICA_BAD_MISSING },
	{ "health no origin (local)", b_health_noorigin, REPLICA_SRC_LOCAL, V_OK },
	{ "admin ok",                b_admin_ok,        REPLICA_SRC_PEER,  V_OK },
	{ "admin state 7",           b_admin_state,     REPLICA_SRC_PEER,  REPLICA_BAD_STATE },
	{ "admin no set time",       b_admin_noset,     REPLICA_SRC_PEER,  REPLICA_BAD_MISSING },
	{ "admin in the future",     b_admin_future,    REPLICA_SRC_PEER,  REPLICA_BAD_FUTURE },
	{ "admin 65-char server",    b_admin_longsrv,   REPLICA_SRC_PEER,  REPLICA_BAD_NAME },
	{ "ticket ok",               b_ticket_ok,       REPLICA_SRC_PEER,  V_OK },
	{ "ticket 15-byte name",     b_ticket_name15,   REPLICA_SRC_PEER,  REPLICA_BAD_TICKET },
	{ "ticket 33-byte secret",   b_ticket_secret33, REPLICA_SRC_PEER,  REPLICA_BAD_TICKET },
	{ "ticket no id",            b_ticket_noid,     REPLICA_SRC_PEER,  REPLICA_BAD_MISSING },
	{ "ticket in the future",    b_ticket_future,   REPLICA_SRC_PEER,  REPLICA_BAD_FUTURE },
	{ "ticket expired",          b_ticket_expired,  REPLICA_SRC_PEER,  V_EXPIRED },
};

static void test_validation_table(void **unused)
{
	(void)unused;
	for (size_t i = 0; i < sizeof(vcases) / sizeof(vcases[0]); i++) {
		const struct vcase *vc = &vcases[i];
		struct replica *r = store("self");
		const struct replica_stats *st = replica_stats(r);
		struct upd u;
		uint64_t bad = 0, exp = 0, ent = 0;
		int got;

		vc->build(&u);
		got = apply1(r, &u, vc->src, NOW);
		for (int b = 0; b < REPLICA_BAD_MAX; b++)
			bad += st->bad[b];
		for (int k = 0; k < REPLICA_KIND_MAX; k++) {
			exp += st->expired_rx[k];
			ent += st->entries[k];
		}
		if (vc->want == V_OK) {
			if (got != 1 || ent != 1 || bad != 0)
				fail_msg("%s: want accepted, got changed=%d entries=%llu bad=%llu", vc->name, got,
				    (unsigned long long)ent, (unsigned long long)bad);
		} else if (vc->want == V_EXPIRED) {
			if (got != 0 || ent != 0 || exp != 1 || bad != 0)
				fail_msg("%s: want expired on arrival", vc->name);
		} else if (got != 0 || ent != 0 || bad != 1 || st->bad[vc->want] != 1) {
			fail_msg("%s: want refused as %s (changed=%d entries=%llu)", vc->name,
			    replica_bad_str((enum replica_bad)vc->want), got, (unsigned long long)ent);
		}
		replica_free(r);
	}
}

/* One bad entry does not spoil the message; a NULL entry pointer is counted. */
static void test_bad_entry_skipped(void **unused)
{
	struct replica *r = store("self");
	struct upd good1, bad, good2;
	struct upd *ups[] = { &good1, &bad, &good2 };
	Tandem__StateSync s = TANDEM__STATE_SYNC__INIT;
	Tandem__Ban *nullban = NULL;

	(void)unused;
	mk_rate(&good1, "n1", "lim", "a", 1, NOW, 3);
	mk_rate(&bad, "n1", "lim", "b", 1, NOW + 2 * HOUR, 3);
	mk_rate(&good2, "n1", "lim", "c", 1, NOW, 4);
	assert_int_equal(apply_ups(r, ups, 3, REPLICA_SRC_PEER, NOW), 2);
	assert_int_equal(replica_stats(r)->bad[REPLICA_BAD_FUTURE], 1);
	assert_int_equal(replica_stats(r)->entries[REPLICA_RATE], 2);
	s.n_bans = 1;
	s.bans = &nullban;
	assert_int_equal(replica_apply(r, &s, REPLICA_SRC_PEER, NOW, NULL, NULL), 0);
	assert_int_equal(replica_stats(r)->bad[REPLICA_BAD_MISSING], 1);
	assert_int_equal(replica_apply(r, NULL, REPLICA_SRC_PEER, NOW, NULL, NULL), -1);
	replica_free(r);
}

/* A 33rd distinct origin is refused: the origin list that rate sums walk is bounded. */
/* Without a node list (the merge tests' stores), origins fill first come
 * first served up to REPLICA_MAX_ORIGINS; this node's own slot is taken
 * when the store is made, so a peer naming 32 invented origins cannot
 * lock this node out of its own counts. */
static void test_origin_bound(void **unused)
{
	struct replica *r = store("self");
	struct upd u;
	char name[16];

	(void)unused;
	for (int i = 0; i < REPLICA_MAX_ORIGINS; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		mk_rate(&u, name, "lim", "k", 1, NOW, 1);
		assert_int_equal(apply1(r, &u, REPLICA_SRC_PEER, NOW), i < REPLICA_MAX_ORIGINS - 1);
	}
	assert_int_equal(replica_stats(r)->bad[REPLICA_BAD_ORIGIN], 1);
	mk_rate(&u, "n3", "lim", "k", 1, NOW, 2);    /* known origins still merge */
	assert_int_equal(apply1(r, &u, REPLICA_SRC_PEER, NOW), 1);
	/* This node's proxyd: still counted. */
	mk_rate(&u, NULL, "lim", "k", 1, NOW, 5);
	assert_int_equal(apply1(r, &u, REPLICA_SRC_LOCAL, NOW), 1);
	assert_int_equal(replica_rate_sum(r, "lim", "k", 1, NOW, NULL), (REPLICA_MAX_ORIGINS - 1) + 1 + 5);
	replica_free(r);
}

/* With the cluster's node list (as hacd runs it), an origin is a node: a
 * peer's sync naming 32 invented origins changes nothing and is counted,
 * per entry; so are health and ban entries naming one; the nodes' own
 * counts still merge afterwards. */
static void test_origin_configured_nodes(void **unused)
{
	static const char *const nodes[] = { "n1", "n2", "n3" };
	struct replica_config c;
	struct replica *r;
	struct upd u[REPLICA_MAX_ORIGINS];
	struct upd *ups[REPLICA_MAX_ORIGINS];
	struct upd one;
	char name[16];

	(void)unused;
	replica_config_defaults(&c);
	c.self = "n1";
	c.nodes = nodes;
	c.nnodes = 3;
	r = store_cfg(&c);
	for (int i = 0; i < REPLICA_MAX_ORIGINS; i++) {
		snprintf(name, sizeof(name), "invented%u", (unsigned)i % 100u);
		mk_rate(&u[i], name, "lim", "k", 1, NOW, 1000);
		ups[i] = &u[i];
	}
	assert_int_equal(apply_ups(r, ups, REPLICA_MAX_ORIGINS, REPLICA_SRC_PEER, NOW), 0);
	assert_int_equal(replica_stats(r)->bad[REPLICA_BAD_ORIGIN], REPLICA_MAX_ORIGINS);
	assert_int_equal(replica_stats(r)->entries[REPLICA_RATE], 0);
	mk_health(&one, "web", "s1", "invented", 0, NOW);
	assert_int_equal(apply1(r, &one, REPLICA_SRC_PEER, NOW), 0);
	mk_ban(&one, "lim", "k", 1, NOW + 60000, "invented");
	assert_int_equal(apply1(r, &one, REPLICA_SRC_PEER, NOW), 0);
	assert_int_equal(replica_stats(r)->bad[REPLICA_BAD_ORIGIN], REPLICA_MAX_ORIGINS + 2);
	assert_int_equal(replica_stats(r)->entries[REPLICA_HEALTH], 0);
	assert_int_equal(replica_stats(r)->entries[REPLICA_BAN], 0);
	/* The nodes themselves: this one's proxyd, and a peer. */
	mk_rate(&one, NULL, "lim", "k", 1, NOW, 5);
	assert_int_equal(apply1(r, &one, REPLICA_SRC_LOCAL, NOW), 1);
	mk_rate(&one, "n2", "lim", "k", 1, NOW, 7);
	assert_int_equal(apply1(r, &one, REPLICA_SRC_PEER, NOW), 1);
	mk_ban(&one, "lim", "k", 1, NOW + 60000, "n3");
	assert_int_equal(apply1(r, &one, REPLICA_SRC_PEER, NOW), 1);
	mk_ban(&one, "lim", "j", 1, NOW + 60000, NULL);       /* an older peer: no origin */
	assert_int_equal(apply1(r, &one, REPLICA_SRC_PEER, NOW), 1);
	assert_int_equal(replica_rate_sum(r, "lim", "k", 1, NOW, NULL), 12);
	replica_free(r);
	/* A node list longer than the origin slots is a bad configuration. */
	{
		const char *many[REPLICA_MAX_ORIGINS + 1];
		char names[REPLICA_MAX_ORIGINS + 1][16];

		for (int i = 0; i <= REPLICA_MAX_ORIGINS; i++) {
			snprintf(names[i], sizeof(names[i]), "m%u", (unsigned)i % 100u);
			many[i] = names[i];
		}
		c.self = "m0";
		c.nodes = many;
		c.nnodes = REPLICA_MAX_ORIGINS + 1;
		assert_null(replica_new(&c));
	}
}

/* A ban's start is kept and sent on, in deltas and bulk syncs: a node
 * that reset the key tells an old ban from a new one by it (hacd/repl.c). */
static void test_ban_started_kept(void **unused)
{
	struct replica *r = store("n1");
	struct replica_bulk b = { 0 };
	struct upd u;
	uint8_t buf[4096];
	ssize_t n;
	Tandem__PeerMessage *pm;

	(void)unused;
	mk_ban(&u, "lim", "k", 1, NOW + 60000, NULL);
	u.m.ban.has_started_unix_ms = 1;
	u.m.ban.started_unix_ms = NOW - 1000;
	assert_int_equal(apply1(r, &u, REPLICA_SRC_LOCAL, NOW), 1);
	n = replica_export_delta(r, REPLICA_ENV_PEER, buf, sizeof(buf));
	assert_true(n > 0);
	pm = tandem__peer_message__unpack(NULL, (size_t)n, buf);
	assert_non_null(pm);
	assert_int_equal(pm->sync->n_bans, 1);
	assert_true(pm->sync->bans[0]->has_started_unix_ms);
	assert_int_equal(pm->sync->bans[0]->started_unix_ms, NOW - 1000);
	tandem__peer_message__free_unpacked(pm, NULL);
	replica_bulk_begin(r, &b);
	n = replica_bulk_next(&b, REPLICA_ENV_PEER, buf, sizeof(buf));
	assert_true(n > 0);
	pm = tandem__peer_message__unpack(NULL, (size_t)n, buf);
	assert_non_null(pm);
	assert_int_equal(pm->sync->n_bans, 1);
	assert_true(pm->sync->bans[0]->has_started_unix_ms);
	assert_int_equal(pm->sync->bans[0]->started_unix_ms, NOW - 1000);
	tandem__peer_message__free_unpacked(pm, NULL);
	replica_bulk_abort(&b);
	/* A ban without a start (an older sender) stays without one. */
	mk_ban(&u, "lim", "j", 1, NOW + 60000, NULL);
	assert_int_equal(apply1(r, &u, REPLICA_SRC_LOCAL, NOW), 1);
	n = replica_export_delta(r, REPLICA_ENV_PEER, buf, sizeof(buf));
	pm = tandem__peer_message__unpack(NULL, (size_t)n, buf);
	assert_non_null(pm);
	assert_int_equal(pm->sync->n_bans, 1);
	assert_false(pm->sync->bans[0]->has_started_unix_ms);
	tandem__peer_message__free_unpacked(pm, NULL);
	replica_free(r);
}

/* ---- sums, admin, callbacks, counters ------------------------------------ */

static void test_rate_sum(void **unused)
{
	struct replica *r = store("n1");
	struct upd u[5];
	struct upd *ups[] = { &u[0], &u[1], &u[2], &u[3], &u[4] };

	(void)unused;
	mk_rate(&u[0], "n1", "lim", "k", 1, NOW, 10);
	mk_rate(&u[1], "n2", "lim", "k", 1, NOW, 20);
	mk_rate(&u[2], "n3", "lim", "k", 1, NOW, 30);
	mk_rate(&u[3], "n3", "lim", "k", 1, NOW - 1000, 1000);   /* another window */
	mk_rate(&u[4], "n3", "other", "k", 1, NOW, 1000);        /* another limit */
	assert_int_equal(apply_ups(r, ups, 5, REPLICA_SRC_PEER, NOW), 5);
	assert_int_equal(replica_rate_sum(r, "lim", "k", 1, NOW, NULL), 60);
	assert_int_equal(replica_rate_sum(r, "lim", "k", 1, NOW, "n1"), 50);
	assert_int_equal(replica_rate_sum(r, "lim", "k", 1, NOW, "nobody"), 60);
	assert_int_equal(replica_rate_sum(r, "lim", "x", 1, NOW, NULL), 0);
	assert_int_equal(replica_rate_sum(r, "lim", "k", 1, NOW + 1, NULL), 0);
	assert_int_equal(replica_rate_sum(r, "nolimit", "k", 1, NOW, NULL), 0);
	assert_int_equal(replica_rate_sum(r, "bad name", "k", 1, NOW, NULL), 0);
	replica_free(r);
}

/* hactl ratelimit reset: every origin's counts of (limit, key) in windows
 * begun by the reset, and the key's ban, go; other keys, limits and later
 * windows stay. */
static void test_forget(void **unused)
{
	struct replica *r = store("n1");
	struct upd u[7];
	struct upd *ups[] = { &u[0], &u[1], &u[2], &u[3], &u[4], &u[5], &u[6] };

	(void)unused;
	mk_rate(&u[0], "n1", "lim", "k", 1, NOW, 10);
	mk_rate(&u[1], "n2", "lim", "k", 1, NOW, 20);
	mk_rate(&u[2], "n2", "lim", "k", 1, NOW - 1000, 5);
	mk_rate(&u[3], "n2", "lim", "k", 1, NOW + 1000, 7);      /* a window begun after the reset */
	mk_rate(&u[4], "n2", "lim", "x", 1, NOW, 30);            /* another key */
	mk_rate(&u[5], "n2", "other", "k", 1, NOW, 40);          /* another limit */
	mk_ban(&u[6], "lim", "k", 1, NOW + 60000, "n2");
	assert_int_equal(apply_ups(r, ups, 7, REPLICA_SRC_PEER, NOW + 1000), 7);
	assert_int_equal(replica_forget(r, "lim", "k", 1, NOW + 500), 4);
	assert_int_equal(replica_rate_sum(r, "lim", "k", 1, NOW, NULL), 0);
	assert_int_equal(replica_rate_sum(r, "lim", "k", 1, NOW - 1000, NULL), 0);
	assert_int_equal(replica_rate_sum(r, "lim", "k", 1, NOW + 1000, NULL), 7);
	assert_int_equal(replica_rate_sum(r, "lim", "x", 1, NOW, NULL), 30);
	assert_int_equal(replica_rate_sum(r, "other", "k", 1, NOW, NULL), 40);
	assert_int_equal(replica_stats(r)->entries[REPLICA_BAN], 0);
	assert_int_equal(replica_forget(r, "lim", "k", 1, NOW + 500), 0);
	replica_free(r);
}

/* A local admin command beats a peer's write stamped ahead of our clock. */
static void test_admin_set_skew(void **unused)
{
	struct replica *r = store("n1");
	struct upd u;
	uint8_t buf[WIRE_MAX_PAYLOAD];
	ssize_t n;
	Tandem__PeerMessage *pm;

	(void)unused;
	mk_admin(&u, "web", "s1", 2, -1, NOW + 5000, "n2");
	assert_int_equal(apply1(r, &u, REPLICA_SRC_PEER, NOW), 1);
	assert_int_equal(replica_dirty_count(r), 0);          /* peer input is not re-sent */
	assert_int_equal(replica_admin_set(r, "web", "s1", TANDEM__ADMIN_STATE__ADMIN_READY, 3, NOW), 0);
	assert_string_equal(only_line(r, REPLICA_ADMIN), "A web s1 0 1/3 1800000005001 'n1'");
	assert_int_equal(replica_dirty_count(r), 1);
	assert_int_equal(replica_admin_set(r, "web", "s1", TANDEM__ADMIN_STATE__ADMIN_DRAIN, -1, NOW + 9000), 0);
	assert_string_equal(only_line(r, REPLICA_ADMIN), "A web s1 1 0/0 1800000009000 'n1'");
	assert_int_equal(replica_admin_set(r, "bad name", "s1", TANDEM__ADMIN_STATE__ADMIN_DRAIN, -1, NOW), -1);
	assert_int_equal(replica_admin_set(r, "web", "s1", (Tandem__AdminState)9, -1, NOW), -1);
	n = replica_export_delta(r, REPLICA_ENV_PEER, buf, sizeof(buf));
	assert_true(n > 0);
	pm = tandem__peer_message__unpack(NULL, (size_t)n, buf);
	assert_non_null(pm);
	assert_int_equal(pm->body_case, TANDEM__PEER_MESSAGE__BODY_SYNC);
	assert_int_equal(pm->sync->n_admin, 1);
	assert_int_equal(pm->sync->admin[0]->state, TANDEM__ADMIN_STATE__ADMIN_DRAIN);
	assert_false(pm->sync->has_bulk);
	tandem__peer_message__free_unpacked(pm, NULL);
	assert_int_equal(replica_export_delta(r, REPLICA_ENV_PEER, buf, sizeof(buf)), 0);
	replica_free(r);
}

struct cb_log {
	int n[REPLICA_KIND_MAX];
	int local, peer;
	uint64_t last_count;
};

static void change_cb(void *arg, const struct replica_item *it)
{
	struct cb_log *l = arg;

	l->n[it->kind]++;
	if (it->src == REPLICA_SRC_LOCAL)
		l->local++;
	else
		l->peer++;
	if (it->kind == REPLICA_RATE)
		l->last_count = it->u.rate->count;
}

static void test_change_callback(void **unused)
{
	struct replica *r = store("n1");
	struct cb_log log;
	struct upd u[4];
	Tandem__StateSync s = TANDEM__STATE_SYNC__INIT;
	Tandem__RateCount *rc[3];
	Tandem__HealthObs *ho[1];

	(void)unused;
	memset(&log, 0, sizeof(log));
	mk_rate(&u[0], "n2", "lim", "k", 1, NOW, 7);
	mk_rate(&u[1], "n2", "lim", "k", 1, NOW, 5);         /* stale: no call */
	mk_rate(&u[2], "n2", "lim", "k", 1, NOW, 9);
	mk_health(&u[3], "web", "s1", NULL, 0, NOW);
	rc[0] = &u[0].m.rate;
	rc[1] = &u[1].m.rate;
	rc[2] = &u[2].m.rate;
	s.n_counts = 3;
	s.counts = rc;
	assert_int_equal(replica_apply(r, &s, REPLICA_SRC_PEER, NOW, change_cb, &log), 2);
	assert_int_equal(log.n[REPLICA_RATE], 2);
	assert_int_equal(log.last_count, 9);
	assert_int_equal(log.peer, 2);
	s = (Tandem__StateSync)TANDEM__STATE_SYNC__INIT;
	ho[0] = &u[3].m.health;
	s.n_health = 1;
	s.health = ho;
	assert_int_equal(replica_apply(r, &s, REPLICA_SRC_LOCAL, NOW, change_cb, &log), 1);
	assert_int_equal(log.local, 1);
	assert_string_equal(only_line(r, REPLICA_HEALTH), "H web s1 n1 0 1800000000000");
	replica_free(r);
}

struct ctr_find {
	const char *name;
	uint64_t value;
	int found, total;
};

static void ctr_cb(void *arg, const char *name, uint64_t value)
{
	struct ctr_find *f = arg;

	f->total++;
	if (strcmp(name, f->name) == 0) {
		f->found++;
		f->value = value;
	}
}

static void test_counters(void **unused)
{
	struct replica *r = store("n1");
	struct upd u;
	struct ctr_find f;
	static const struct { const char *name; uint64_t want; } want[] = {
		{ "bad-future", 1 }, { "entries-rate", 1 }, { "merged-rate", 1 }, { "stale-rate", 1 },
		{ "expired-rx-ban", 1 }, { "syncs", 5 }, { "bad-missing-field", 0 }, { "export-bytes", 0 },
	};

	(void)unused;
	mk_rate(&u, "n2", "lim", "k", 1, NOW, 1);
	apply1(r, &u, REPLICA_SRC_PEER, NOW);
	apply1(r, &u, REPLICA_SRC_PEER, NOW);
	mk_rate(&u, "n2", "lim", "k", 1, NOW + 2 * HOUR, 1);
	apply1(r, &u, REPLICA_SRC_PEER, NOW);
	mk_ban(&u, "lim", "k", 1, NOW - 1, "n2");
	apply1(r, &u, REPLICA_SRC_PEER, NOW);
	mk_ban(&u, "lim", "k", 1, NOW - 1, "n2");
	apply1(r, &u, REPLICA_SRC_PEER, NOW - 10);
	replica_expire(r, NOW);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		memset(&f, 0, sizeof(f));
		f.name = want[i].name;
		replica_counters(r, ctr_cb, &f);
		if (f.found != 1 || f.value != want[i].want)
			fail_msg("%s: found %d value %llu want %llu", want[i].name, f.found,
			    (unsigned long long)f.value, (unsigned long long)want[i].want);
	}
	assert_int_equal(f.total, 7 * REPLICA_KIND_MAX + REPLICA_BAD_MAX + 5);
	assert_string_equal(replica_kind_str(REPLICA_TICKET), "ticket");
	assert_string_equal(replica_kind_str((enum replica_kind)99), "invalid");
	assert_string_equal(replica_bad_str(REPLICA_BAD_FUTURE), "future");
	assert_string_equal(replica_bad_str((enum replica_bad)99), "invalid");
	replica_free(r);
}

/* ---- random update sets: the CRDT laws ----------------------------------- */

static uint64_t rng_next(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static uint64_t rnd(uint64_t *s, uint64_t n)
{
	return rng_next(s) % n;
}

static const char *const origins[] = { "n1", "n2", "n3" };
static const char *const names[] = { "a", "b", "c" };

/* Small key and time spaces, so that collisions and ties are frequent. */
static void random_upd(struct upd *u, uint64_t *s)
{
	char key[2] = { (char)rnd(s, 4), (char)rnd(s, 2) };

	switch (rnd(s, 5)) {
	case 0:
		mk_rate(u, origins[rnd(s, 3)], names[rnd(s, 2)], key, 1 + rnd(s, 2), NOW - 1000 * rnd(s, 3),
		    rnd(s, 20));
		break;
	case 1:
		mk_ban(u, names[rnd(s, 2)], key, 1, NOW + 1000 * (1 + rnd(s, 4)),
		    rnd(s, 4) == 0 ? NULL : origins[rnd(s, 3)]);
		break;
	case 2:
		mk_health(u, names[rnd(s, 2)], names[rnd(s, 3)], origins[rnd(s, 3)], (int)rnd(s, 2),
		    NOW - rnd(s, 4));
		break;
	case 3:
		mk_admin(u, names[rnd(s, 2)], names[rnd(s, 3)], (int)rnd(s, 3), rnd(s, 3) == 0 ? -1 : (int64_t)rnd(s, 3),
		    NOW - rnd(s, 4), rnd(s, 4) == 0 ? NULL : origins[rnd(s, 3)]);
		break;
	default:
		mk_ticket(u, (uint32_t)rnd(s, 6), (uint8_t)rnd(s, 3), NOW - rnd(s, 5),
		    rnd(s, 2) ? NOW + HOUR : 0);
		break;
	}
}

static void shuffle(struct upd **v, size_t n, uint64_t *s)
{
	for (size_t i = n; i > 1; i--) {
		size_t j = (size_t)rnd(s, i);
		struct upd *t = v[i - 1];

		v[i - 1] = v[j];
		v[j] = t;
	}
}

/* Apply v[0..n) in batches of random size. */
static void apply_batched(struct replica *r, struct upd **v, size_t n, uint64_t *s)
{
	for (size_t i = 0; i < n;) {
		size_t b = 1 + (size_t)rnd(s, 16);

		if (b > n - i)
			b = n - i;
		apply_ups(r, v + i, b, REPLICA_SRC_PEER, NOW);
		i += b;
	}
}

/* Feed a complete bulk sync of src into dst (chunks in order). */
static void bulk_into(struct replica *src, struct replica *dst, size_t max)
{
	struct replica_bulk b;
	uint8_t *buf = malloc(max);
	ssize_t n;
	uint32_t chunk = 0;
	int saw_last = 0;
	uint64_t bad = 0;

	for (int k = 0; k < REPLICA_BAD_MAX; k++)
		bad += replica_stats(dst)->bad[k];
	assert_non_null(buf);
	replica_bulk_begin(src, &b);
	while ((n = replica_bulk_next(&b, REPLICA_ENV_PEER, buf, max)) > 0) {
		Tandem__PeerMessage *pm = tandem__peer_message__unpack(NULL, (size_t)n, buf);

		assert_true((size_t)n <= max);
		assert_non_null(pm);
		assert_int_equal(pm->body_case, TANDEM__PEER_MESSAGE__BODY_SYNC);
		assert_true(pm->sync->bulk);
		assert_int_equal(pm->sync->bulk_chunk, chunk);
		assert_false(saw_last);
		saw_last = pm->sync->has_bulk_last && pm->sync->bulk_last;
		chunk++;
		assert_true(replica_apply(dst, pm->sync, REPLICA_SRC_PEER, NOW, NULL, NULL) >= 0);
		tandem__peer_message__free_unpacked(pm, NULL);
	}
	assert_int_equal(n, 0);
	assert_true(saw_last);
	/* what one store exports, another accepts whole */
	for (int k = 0; k < REPLICA_BAD_MAX; k++)
		bad -= replica_stats(dst)->bad[k];
	assert_int_equal(bad, 0);
	free(buf);
}

#define NUPD   1500
#define NSTORE 5

static void test_crdt_laws(void **unused)
{
	(void)unused;
	for (uint64_t trial = 1; trial <= 12; trial++) {
		uint64_t seed = 0x9e3779b97f4a7c15ull * trial, s = seed;
		struct upd *ups = calloc(NUPD, sizeof(*ups));
		struct upd **v = calloc(2 * NUPD, sizeof(*v));
		struct replica *ref = store("self"), *half_a = store("self"), *half_b = store("self");
		char what[96];

		assert_non_null(ups);
		assert_non_null(v);
		for (size_t i = 0; i < NUPD; i++) {
			random_upd(&ups[i], &s);
			v[i] = &ups[i];
		}
		/* the reference: every update once, in generation order */
		apply_batched(ref, v, NUPD, &s);

		/* commutativity + idempotence: random order, every update once or twice */
		for (int k = 0; k < NSTORE; k++) {
			struct replica *x = store("self"), *y = store("self");
			size_t n = 0, m = 0;

			for (size_t i = 0; i < NUPD; i++) {
				v[n++] = &ups[i];
				if (rnd(&s, 4) == 0)
					v[n++] = &ups[i];
			}
			shuffle(v, n, &s);
			apply_batched(x, v, n, &s);
			snprintf(what, sizeof(what), "seed %llx store %d: permuted+duplicated",
			    (unsigned long long)seed, k);
			assert_same(ref, x, what);

			/* loss: drop a third, then heal with a bulk sync from a full store */
			for (size_t i = 0; i < n; i++)
				if (rnd(&s, 3) != 0)
					v[m++] = v[i];
			apply_batched(y, v, m, &s);
			bulk_into(x, y, WIRE_MAX_PAYLOAD);
			snprintf(what, sizeof(what), "seed %llx store %d: lossy then bulk", (unsigned long long)seed, k);
			assert_same(ref, y, what);
			replica_free(x);
			replica_free(y);
		}

		/* associativity: (first half) merged with (second half), both ways */
		for (size_t i = 0; i < NUPD; i++)
			v[i] = &ups[i];
		apply_batched(half_a, v, NUPD / 2, &s);
		apply_batched(half_b, v + NUPD / 2, NUPD - NUPD / 2, &s);
		{
			struct replica *ab = store("self"), *ba = store("self");

			bulk_into(half_a, ab, WIRE_MAX_PAYLOAD);
			bulk_into(half_b, ab, WIRE_MAX_PAYLOAD);
			bulk_into(half_b, ba, 700);
			bulk_into(half_a, ba, 900);
			bulk_into(ba, half_a, WIRE_MAX_PAYLOAD);   /* half_a := a ⊔ (b ⊔ a) */
			snprintf(what, sizeof(what), "seed %llx: a+b", (unsigned long long)seed);
			assert_same(ref, ab, what);
			snprintf(what, sizeof(what), "seed %llx: b+a", (unsigned long long)seed);
			assert_same(ref, ba, what);
			snprintf(what, sizeof(what), "seed %llx: a+(b+a)", (unsigned long long)seed);
			assert_same(ref, half_a, what);
			replica_free(ab);
			replica_free(ba);
		}
		replica_free(ref);
		replica_free(half_a);
		replica_free(half_b);
		free(ups);
		free(v);
	}
}

/* ---- export -------------------------------------------------------------- */

struct dgram {
	uint8_t *p;
	size_t n;
};

/* Deltas go through a network that reorders, duplicates and loses them;
 * a bulk sync afterwards (also reordered and duplicated) heals the loss. */
static void test_delta_lossy_network(void **unused)
{
	uint64_t s = 12345;
	struct replica *a = store("n1"), *b = store("n2");
	struct dgram *net = calloc(4096, sizeof(*net));
	size_t nnet = 0, lost = 0;
	uint8_t buf[WIRE_MAX_PAYLOAD];
	ssize_t n;
	struct upd u;

	(void)unused;
	assert_non_null(net);
	/* three rounds of local changes, each exported as deltas */
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 600; i++) {
			char key[4] = { (char)round, (char)(i >> 8), (char)i, 1 };

			switch (i % 4) {
			case 0: mk_rate(&u, NULL, "lim", key, 4, NOW - 1000 * (i % 3), (uint64_t)(round + i)); break;
			case 1: mk_ban(&u, "lim", key, 4, NOW + 1000 + (uint64_t)i, NULL); break;
			case 2: mk_health(&u, "web", names[i % 3], NULL, (i + round) & 1, NOW - 10 + (uint64_t)round); break;
			default: mk_rate(&u, NULL, "lim", key, 3, NOW, (uint64_t)(i * (round + 1))); break;
			}
			assert_true(apply1(a, &u, REPLICA_SRC_LOCAL, NOW) >= 0);
		}
		while ((n = replica_export_delta(a, REPLICA_ENV_PEER, buf, sizeof(buf))) > 0) {
			assert_true(n <= WIRE_MAX_PAYLOAD);
			for (int copies = rnd(&s, 5) == 0 ? 2 : 1; copies > 0; copies--) {
				assert_true(nnet < 4096);
				net[nnet].p = malloc((size_t)n);
				memcpy(net[nnet].p, buf, (size_t)n);
				net[nnet++].n = (size_t)n;
			}
		}
		assert_int_equal(n, 0);
		assert_int_equal(replica_dirty_count(a), 0);
	}
	/* deliver in random order, losing some */
	for (size_t i = nnet; i > 1; i--) {
		size_t j = (size_t)rnd(&s, i);
		struct dgram t = net[i - 1];

		net[i - 1] = net[j];
		net[j] = t;
	}
	for (size_t i = 0; i < nnet; i++) {
		Tandem__PeerMessage *pm;

		if (rnd(&s, 10) == 0) {
			lost++;
			continue;
		}
		pm = tandem__peer_message__unpack(NULL, net[i].n, net[i].p);
		assert_non_null(pm);
		replica_apply(b, pm->sync, REPLICA_SRC_PEER, NOW, NULL, NULL);
		tandem__peer_message__free_unpacked(pm, NULL);
	}
	assert_true(lost > 0);
	bulk_into(a, b, WIRE_MAX_PAYLOAD);
	assert_same(a, b, "deltas over a lossy network, then bulk");
	for (size_t i = 0; i < nnet; i++)
		free(net[i].p);
	free(net);
	replica_free(a);
	replica_free(b);
}

#define BIG 100000

/* 100k rate entries (plus some of every kind): every chunk fits a datagram
 * and an empty store rebuilt from the chunks equals the source. */
static void test_export_100k(void **unused)
{
	struct replica *a = store("n1"), *from_delta = store("n2"), *from_bulk = store("n3");
	struct upd u;
	uint8_t buf[WIRE_MAX_PAYLOAD + 64];
	ssize_t n;
	size_t chunks = 0, total = 0;
	const struct replica_stats *st = replica_stats(a);

	(void)unused;
	for (uint32_t i = 0; i < BIG; i++) {
		uint8_t key[16] = { 0x20, 0x01, 0x0d, 0xb8 };

		key[12] = (uint8_t)(i >> 24);
		key[13] = (uint8_t)(i >> 16);
		key[14] = (uint8_t)(i >> 8);
		key[15] = (uint8_t)i;
		mk_rate(&u, NULL, i % 2 ? "per-ip" : "per-ip-burst", (const char *)key, 16, NOW - 1000 * (i % 50),
		    1 + i % 1000);
		assert_int_equal(apply1(a, &u, REPLICA_SRC_LOCAL, NOW), 1);
	}
	for (int i = 0; i < 100; i++) {
		char key[16];

		snprintf(key, sizeof(key), "k%d", i);
		mk_ban(&u, "per-ip", key, strlen(key), NOW + 60000, NULL);
		apply1(a, &u, REPLICA_SRC_LOCAL, NOW);
		snprintf(key, sizeof(key), "s%d", i);
		mk_health(&u, "web", key, NULL, i & 1, NOW);
		apply1(a, &u, REPLICA_SRC_LOCAL, NOW);
	}
	assert_int_equal(replica_admin_set(a, "web", "s1", TANDEM__ADMIN_STATE__ADMIN_DRAIN, 10, NOW), 0);
	mk_ticket(&u, 1, 7, NOW, NOW + HOUR);
	apply1(a, &u, REPLICA_SRC_LOCAL, NOW);
	assert_int_equal(st->entries[REPLICA_RATE], BIG);
	assert_int_equal(replica_dirty_count(a), BIG + 202);

	while ((n = replica_export_delta(a, REPLICA_ENV_PEER, buf, WIRE_MAX_PAYLOAD)) > 0) {
		Tandem__PeerMessage *pm = tandem__peer_message__unpack(NULL, (size_t)n, buf);

		if ((size_t)n > WIRE_MAX_PAYLOAD)
			fail_msg("delta chunk %zu is %zd bytes", chunks, n);
		assert_non_null(pm);
		assert_int_equal(replica_apply(from_delta, pm->sync, REPLICA_SRC_PEER, NOW, NULL, NULL),
		    (int)(pm->sync->n_counts + pm->sync->n_bans + pm->sync->n_health + pm->sync->n_admin +
		    pm->sync->n_tickets));
		tandem__peer_message__free_unpacked(pm, NULL);
		chunks++;
		total += (size_t)n;
	}
	assert_int_equal(n, 0);
	assert_int_equal(st->export_msgs, chunks);
	assert_int_equal(st->export_bytes, total);
	assert_int_equal(st->export_entries, BIG + 202);
	/* greedy packing: chunks are nearly full (an entry is < 80 bytes here) */
	assert_true(total > chunks * (WIRE_MAX_PAYLOAD - 80));
	assert_same(a, from_delta, "100k via deltas");

	bulk_into(a, from_bulk, WIRE_MAX_PAYLOAD);
	assert_same(a, from_bulk, "100k via bulk");
	replica_free(a);
	replica_free(from_delta);
	replica_free(from_bulk);
}

/* Limits on max_bytes, the channel envelope, and an empty bulk. */
static void test_export_edges(void **unused)
{
	struct replica *r = store("n1");
	uint8_t buf[4096];
	struct replica_bulk b;
	ssize_t n;
	struct upd u;
	Tandem__ChannelMessage *cm;
	Tandem__PeerMessage *pm;
	uint32_t chunk;
	int last;

	(void)unused;
	replica_bulk_begin(r, &b);
	n = replica_bulk_next(&b, REPLICA_ENV_PEER, buf, sizeof(buf));
	assert_true(n > 0);
	pm = tandem__peer_message__unpack(NULL, (size_t)n, buf);
	assert_non_null(pm);
	assert_true(pm->sync->bulk && pm->sync->bulk_last);
	assert_int_equal(pm->sync->bulk_chunk, 0);
	assert_int_equal(pm->sync->n_counts, 0);
	tandem__peer_message__free_unpacked(pm, NULL);
	assert_int_equal(replica_bulk_next(&b, REPLICA_ENV_PEER, buf, sizeof(buf)), 0);
	replica_bulk_abort(&b);     /* finished: a no-op */

	mk_rate(&u, NULL, k64, k64, 64, NOW, REPLICA_MAX_COUNT);   /* the largest rate entry */
	assert_int_equal(apply1(r, &u, REPLICA_SRC_LOCAL, NOW), 1);
	assert_int_equal(replica_export_delta(r, REPLICA_ENV_PEER, buf, REPLICA_MIN_CHUNK - 1), -1);
	n = replica_export_delta(r, REPLICA_ENV_CHANNEL, buf, REPLICA_MIN_CHUNK);
	assert_true(n > 0 && n <= REPLICA_MIN_CHUNK);
	cm = tandem__channel_message__unpack(NULL, (size_t)n, buf);
	assert_non_null(cm);
	assert_int_equal(cm->body_case, TANDEM__CHANNEL_MESSAGE__BODY_SYNC);
	assert_int_equal(cm->sync->n_counts, 1);
	assert_string_equal(cm->sync->counts[0]->origin, "n1");
	tandem__channel_message__free_unpacked(cm, NULL);

	for (int i = 0; i < 3; i++) {                               /* the largest admin entries */
		char srv[65];

		memcpy(srv, k64, sizeof(srv));
		srv[0] = (char)('a' + i);
		mk_admin(&u, k64, srv, 2, 4000000000, NOW, k64);
		assert_int_equal(apply1(r, &u, REPLICA_SRC_PEER, NOW), 1);
	}
	replica_bulk_begin(r, &b);
	assert_int_equal(replica_bulk_next(&b, REPLICA_ENV_PEER, buf, 100), -1);
	for (last = 0, chunk = 0; !last; chunk++) {
		n = replica_bulk_next(&b, REPLICA_ENV_PEER, buf, REPLICA_MIN_CHUNK);
		assert_true(n > 0 && n <= REPLICA_MIN_CHUNK);
		pm = tandem__peer_message__unpack(NULL, (size_t)n, buf);
		assert_non_null(pm);
		assert_int_equal(pm->sync->bulk_chunk, chunk);
		assert_true(pm->sync->n_counts + pm->sync->n_admin >= 1);
		last = pm->sync->bulk_last;
		tandem__peer_message__free_unpacked(pm, NULL);
	}
	assert_true(chunk >= 2);                  /* four ~200-byte entries cannot share 512 bytes */
	assert_int_equal(replica_bulk_next(&b, REPLICA_ENV_PEER, buf, REPLICA_MIN_CHUNK), 0);
	/* a cursor left active is ended by replica_free */
	replica_bulk_begin(r, &b);
	replica_free(r);
	assert_int_equal(replica_bulk_next(&b, REPLICA_ENV_PEER, buf, sizeof(buf)), 0);
}

/* A bulk sync sent a few chunks at a time while the store changes under it:
 * entries expire (including the one the cursor stands on), values change,
 * new entries arrive (they travel as deltas). The receiver ends equal. */
static void test_bulk_resumable(void **unused)
{
	struct replica *a = store("n1"), *b = store("n2");
	struct replica_bulk cur, other;
	uint8_t buf[WIRE_MAX_PAYLOAD];
	ssize_t n;
	struct upd u;
	uint64_t now = NOW;
	uint32_t chunk = 0;
	int last = 0, calls = 0;

	(void)unused;
	/* 5000 entries, windows ascending with insertion order, so expiry eats
	 * the cursor's position and the entries just ahead of it */
	for (uint32_t i = 0; i < 5000; i++) {
		char key[4] = { (char)(i >> 8), (char)i, 0, 0 };

		mk_rate(&u, "n3", "lim", key, 2, NOW - 100000 + 20 * i, 1 + i);
		assert_int_equal(apply1(a, &u, REPLICA_SRC_PEER, now), 1);
	}
	replica_bulk_begin(a, &cur);
	replica_bulk_begin(a, &other);
	while (!last) {
		for (int k = 0; k < 3 && !last; k++) {
			Tandem__PeerMessage *pm;

			n = replica_bulk_next(&cur, REPLICA_ENV_PEER, buf, sizeof(buf));
			assert_true(n > 0 && n <= WIRE_MAX_PAYLOAD);
			pm = tandem__peer_message__unpack(NULL, (size_t)n, buf);
			assert_non_null(pm);
			assert_int_equal(pm->sync->bulk_chunk, chunk++);
			last = pm->sync->bulk_last;
			replica_apply(b, pm->sync, REPLICA_SRC_PEER, now, NULL, NULL);
			tandem__peer_message__free_unpacked(pm, NULL);
		}
		/* between loop iterations: time passes, things change */
		calls++;
		now += 20000;       /* expiry overtakes the cursor from the third round on */
		replica_expire(a, now);
		replica_expire(b, now);
		for (int i = 0; i < 20; i++) {
			char key[4] = { (char)(calls >> 8), (char)calls, (char)i, 1 };

			mk_rate(&u, NULL, "lim", key, 4, now, (uint64_t)i + 1);          /* new, local */
			apply1(a, &u, REPLICA_SRC_LOCAL, now);
		}
		mk_rate(&u, "n3", "lim", "\x13\x87", 2, NOW - 100000 + 20 * 4999, 100000 + (uint64_t)calls);
		apply1(a, &u, REPLICA_SRC_PEER, now);       /* a changed value of an entry already sent */
		if (calls == 2)
			replica_bulk_abort(&other);
	}
	assert_true(calls > 3);
	assert_true(replica_stats(a)->expired[REPLICA_RATE] > 1000);
	assert_int_equal(replica_bulk_next(&cur, REPLICA_ENV_PEER, buf, sizeof(buf)), 0);
	assert_int_equal(replica_bulk_next(&other, REPLICA_ENV_PEER, buf, sizeof(buf)), 0);
	/* the new local entries travel as deltas */
	while ((n = replica_export_delta(a, REPLICA_ENV_PEER, buf, sizeof(buf))) > 0) {
		Tandem__PeerMessage *pm = tandem__peer_message__unpack(NULL, (size_t)n, buf);

		assert_non_null(pm);
		replica_apply(b, pm->sync, REPLICA_SRC_PEER, now, NULL, NULL);
		tandem__peer_message__free_unpacked(pm, NULL);
	}
	/* the changed value of an entry already sent: b missed it (peer input is
	 * not relayed) — that is what the next bulk sync is for */
	bulk_into(a, b, WIRE_MAX_PAYLOAD);
	assert_same(a, b, "bulk under mutation");
	replica_free(a);
	replica_free(b);
}

/* relay_remote: merged peer entries go into deltas too (a partial mesh). */
static void test_relay_remote(void **unused)
{
	struct replica_config c;
	struct replica *r;
	struct upd u;

	(void)unused;
	replica_config_defaults(&c);
	c.self = "n1";
	c.relay_remote = 1;
	r = store_cfg(&c);
	mk_rate(&u, "n2", "lim", "k", 1, NOW, 4);
	apply1(r, &u, REPLICA_SRC_PEER, NOW);
	apply1(r, &u, REPLICA_SRC_PEER, NOW);     /* a duplicate changes nothing: no echo */
	assert_int_equal(replica_dirty_count(r), 1);
	replica_free(r);
}

/* ---- memory bounds ------------------------------------------------------- */

static void test_memory_bound(void **unused)
{
	struct replica_config c;
	struct replica *r;
	const struct replica_stats *st;
	struct upd u;
	struct lines l;

	(void)unused;
	replica_config_defaults(&c);
	c.self = "n1";
	c.max_rates = 1000;
	c.max_bans = 10;
	c.max_health = 5;
	c.max_admin = 5;
	r = store_cfg(&c);
	st = replica_stats(r);
	/* windows ascending: the oldest go first */
	for (uint32_t i = 0; i < 5000; i++) {
		char key[4] = { (char)(i >> 8), (char)i, 0, 0 };

		mk_rate(&u, "n2", "lim", key, 2, NOW - 50000 + 10 * i, 1);
		assert_int_equal(apply1(r, &u, REPLICA_SRC_PEER, NOW), 1);
		assert_true(st->entries[REPLICA_RATE] <= 1000);
	}
	assert_int_equal(st->entries[REPLICA_RATE], 1000);
	assert_int_equal(st->evicted[REPLICA_RATE], 4000);
	/* an entry older than everything kept is not let in */
	mk_rate(&u, "n2", "lim", "old", 3, NOW - 60000, 1);
	assert_int_equal(apply1(r, &u, REPLICA_SRC_PEER, NOW), 0);
	assert_int_equal(st->dropped_full[REPLICA_RATE], 1);
	/* the kept ones are the newest */
	assert_int_equal(replica_rate_sum(r, "lim", "\x0f\xa0", 2, NOW - 50000 + 10 * 4000, NULL), 1);
	assert_int_equal(replica_rate_sum(r, "lim", "\x0f\x9f", 2, NOW - 50000 + 10 * 3999, NULL), 0);
	/* time passes: expiry comes before eviction */
	mk_rate(&u, "n2", "lim", "new", 3, NOW + 119000, 1);
	assert_int_equal(apply1(r, &u, REPLICA_SRC_PEER, NOW + 119000 + 1), 1);
	assert_int_equal(st->evicted[REPLICA_RATE], 4000);
	assert_true(st->expired[REPLICA_RATE] > 0);
	replica_expire(r, NOW + 200000);
	assert_int_equal(st->entries[REPLICA_RATE], 1);

	/* bans: the soonest to end make room; expired ones leave on expiry */
	for (int i = 0; i < 30; i++) {
		char key[4] = { 'b', (char)i, 0, 0 };

		mk_ban(&u, "lim", key, 2, NOW + 1000 + (uint64_t)i, "n2");
		apply1(r, &u, REPLICA_SRC_PEER, NOW);
	}
	assert_int_equal(st->entries[REPLICA_BAN], 10);
	replica_expire(r, NOW + 1025);
	assert_int_equal(st->entries[REPLICA_BAN], 4);
	/* health and admin: the oldest observation or write makes room */
	for (int i = 0; i < 8; i++) {
		char srv[16];

		snprintf(srv, sizeof(srv), "s%d", i);
		mk_health(&u, "web", srv, "n2", 1, NOW + (uint64_t)i);
		apply1(r, &u, REPLICA_SRC_PEER, NOW);
		mk_admin(&u, "web", srv, 1, -1, NOW + (uint64_t)i, "n2");
		apply1(r, &u, REPLICA_SRC_PEER, NOW);
	}
	assert_int_equal(st->entries[REPLICA_HEALTH], 5);
	assert_int_equal(st->entries[REPLICA_ADMIN], 5);
	dump(r, &l);
	for (size_t i = 0; i < l.n; i++)
		assert_null(strstr(l.v[i], " s0 "));
	lines_free(&l);
	replica_free(r);
}

static void test_config_refused(void **unused)
{
	struct replica_config c;

	(void)unused;
	replica_config_defaults(&c);
	assert_null(replica_new(&c));          /* no self */
	c.self = "bad name";
	assert_null(replica_new(&c));
	c.self = "n1";
	c.max_tickets = 0;
	assert_null(replica_new(&c));
	assert_null(replica_new(NULL));
	replica_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_merge_table),
		cmocka_unit_test(test_ticket_newest_n),
		cmocka_unit_test(test_validation_table),
		cmocka_unit_test(test_bad_entry_skipped),
		cmocka_unit_test(test_origin_bound),
		cmocka_unit_test(test_origin_configured_nodes),
		cmocka_unit_test(test_ban_started_kept),
		cmocka_unit_test(test_rate_sum),
		cmocka_unit_test(test_forget),
		cmocka_unit_test(test_admin_set_skew),
		cmocka_unit_test(test_change_callback),
		cmocka_unit_test(test_counters),
		cmocka_unit_test(test_crdt_laws),
		cmocka_unit_test(test_delta_lossy_network),
		cmocka_unit_test(test_export_100k),
		cmocka_unit_test(test_export_edges),
		cmocka_unit_test(test_bulk_resumable),
		cmocka_unit_test(test_relay_remote),
		cmocka_unit_test(test_memory_bound),
		cmocka_unit_test(test_config_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
