/*
 * hacd/replica.c — the store of replicated cluster state.
 *
 * hacd keeps one store. Its local proxyd sends rate-count deltas, bans and
 * health observations over the channel, the operator sets admin state
 * through hactl, and peers send StateSync messages in sealed datagrams; all
 * of it lands here through replica_apply (or replica_admin_set). What this
 * node must tell its peers comes back out of replica_export_delta (changes
 * since the last export) and replica_bulk_next (the whole state, for a
 * joining or restarted peer), already packed as the protobuf envelope the
 * caller seals or frames. Nothing here touches a socket or reads a clock,
 * so every merge rule is unit-tested on a fake clock (tests/unit/test_replica.c).
 *
 * Why the merges converge. Each kind of entry is a map from a key to a value
 * drawn from a total order, and a merge keeps, per key, the larger of the two
 * values (absent is the bottom). max over a total order is commutative,
 * associative and idempotent, and a map merged pointwise keeps those three
 * properties, so every kind is a state-based CRDT (a join-semilattice): any
 * two nodes that received the same set of entries hold the same state, in
 * whatever order, with whatever duplicates the network made. The orders:
 *   rate   (origin, limit, key, window) -> count                 a G-counter per node
 *   ban    (limit, key)                 -> (until, origin, started)
 *   health (upstream, server, origin)   -> (observed, down > up) newest wins; a tie reads "down"
 *   admin  (upstream, server)           -> (set, origin, state, has_weight, weight)  last writer wins
 *   ticket id                           -> (created, name||secret, has_expires, expires)
 * Every component after the first is only a tie-breaker that makes the order
 * total, so that two different values with the same timestamp still resolve
 * the same way everywhere. Tickets are then cut to the newest N by
 * (created, id): top-N of a union is again a join (an entry cut from one
 * side has N larger entries with other ids there, and merging only raises
 * values, so it would be cut from the union too). Expiry removes an entry by
 * a predicate that is monotone in its value (a larger ban end or a later
 * window is never "more expired"), so expiring before or after a merge gives
 * the same result at the same time. Two things break the algebra on purpose,
 * and both are bounded: eviction when a table is full (memory beats
 * convergence; stats say when it happens), and refusing an entry that is too
 * far in the future, which a node with a later clock may accept (it heals on
 * the sender's next delta or bulk sync). Refusing an origin that is not a
 * configured node does not break it: every node holds the same node list
 * (hacd.conf is the same file everywhere, and heartbeats report drift), so
 * every node refuses the same entries; an origin is a node, and a name no
 * node has could otherwise take the origin slots the nodes need.
 *
 * Layout. Every entry is one allocation: a header, then its lookup key
 * (kind byte, NUL-terminated names, key bytes, big-endian numbers), then a
 * fixed value area for the kinds that need one (ban and admin origin, ticket
 * name and secret). The lookup key holds the strings NUL-terminated so that
 * export builds protobuf messages pointing straight into the entry. Lookup is
 * an intrusive chained hash table under lib/hash's SipHash with a random key
 * (peers are authenticated, but rate keys come from clients); intrusive
 * rather than lib/hash's htab because that one copies the key again and
 * allocates a node per entry, which doubles the memory of a million-key
 * store. Each kind has a min-heap on its timestamp (window start, ban end,
 * observation, admin set time, ticket creation) that finds what to expire
 * or evict in O(log n) and doubles as the list for replica_foreach. All
 * entries sit on one list in insertion order, which bulk cursors walk; the
 * entries to export in the next delta sit on a dirty list.
 */
#include "hacd/replica.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "lib/hash.h"
#include "lib/log.h"

#define KEYBUF        256   /* longest lookup key: 'R' origin\0 limit\0 len key window = 204 */
#define ORIGIN_AREA   (REPLICA_NAME_MAX + 1)
#define TICKET_AREA   (REPLICA_TICKET_NAME_LEN + REPLICA_TICKET_SECRET_LEN)
#define HTAB_MIN      64
#define LOG_EVERY_MS  10000

struct rent {
	struct rent *hnext;                 /* hash chain */
	struct rent *all_prev, *all_next;   /* insertion order (bulk cursors) */
	struct rent *dirty_prev, *dirty_next;
	uint64_t hash;
	uint64_t seq;                       /* insertion number */
	uint64_t order, order2;             /* heap key: the kind's timestamp, then ticket id */
	uint64_t a;                         /* rate: count; ban: started (0 unknown); ticket: expires */
	uint32_t c, d;                      /* admin: state, weight */
	uint32_t heap_idx;
	uint16_t klen;
	uint8_t kind;
	uint8_t dirty;
	uint8_t flag;                       /* health: up; admin: has_weight; ticket: has_expires */
	uint8_t data[];                     /* lookup key, then the value area */
};

struct heap {
	struct rent **v;
	size_t n, cap;
};

/* Scratch protobuf messages for one export; grown on demand, kept. */
struct scratch {
	void *msgs;
	void **ptrs;
	size_t n, cap;
};

struct replica {
	struct replica_config cfg;
	char self[REPLICA_NAME_MAX + 1];
	size_t max[REPLICA_KIND_MAX];
	struct rent **tab;
	size_t nbuckets;
	size_t count;
	uint8_t hkey[16];
	struct heap heap[REPLICA_KIND_MAX];
	struct rent *all_head, *all_tail;
	struct rent *dirty_head, *dirty_tail;
	size_t ndirty;
	uint64_t seq;
	struct replica_bulk *cursors;
	char origins[REPLICA_MAX_ORIGINS][REPLICA_NAME_MAX + 1];
	size_t norigins;
	int fixed_origins;           /* origins[] is the configured node list: no others */
	struct scratch scr[REPLICA_KIND_MAX];
	struct replica_stats stats;
	struct log_ratelimit rl;
};

/* A validated received entry, normalised, before it meets the store. */
struct cand {
	enum replica_kind kind;
	uint8_t key[KEYBUF];
	size_t klen;
	uint64_t order, order2, a;
	uint32_t c, d;
	uint8_t flag;
	const char *origin;           /* ban, admin */
	const uint8_t *tname, *tsecret;
};

static const char *const kind_names[REPLICA_KIND_MAX] = { "rate", "ban", "health", "admin", "ticket" };
static const char *const bad_names[REPLICA_BAD_MAX] = {
	"missing-field", "bad-name", "bad-key", "future", "bad-count", "bad-state", "bad-ticket", "bad-origin",
};

const char *replica_kind_str(enum replica_kind k)
{
	return (unsigned)k < REPLICA_KIND_MAX ? kind_names[k] : "invalid";
}

const char *replica_bad_str(enum replica_bad b)
{
	return (unsigned)b < REPLICA_BAD_MAX ? bad_names[b] : "invalid";
}

void replica_config_defaults(struct replica_config *c)
{
	memset(c, 0, sizeof(*c));
	c->max_rates = 200000;
	c->max_bans = 100000;
	c->max_health = 4096;
	c->max_admin = 1024;
	c->max_tickets = 3;
	c->rate_retention_ms = 120000;
	c->max_future_ms = 3600000;
	c->max_ban_ms = 7ull * 24 * 3600000;
}

/* Names are what proxyd.conf and hacd.conf allow: 1..64 visible ASCII
 * characters. Control bytes and spaces would also corrupt hactl's tables. */
static uint64_t add_sat(uint64_t a, uint64_t b)
{
	return a + b < a ? UINT64_MAX : a + b;
}

static int name_ok(const char *s)
{
	size_t n;

	if (s == NULL || (n = strnlen(s, REPLICA_NAME_MAX + 1)) == 0 || n > REPLICA_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			return 0;
	return 1;
}

/* ---- lookup keys --------------------------------------------------------- */

static size_t key_str(uint8_t *p, size_t off, const char *s)
{
	size_t n = strlen(s) + 1;

	memcpy(p + off, s, n);
	return off + n;
}

static size_t key_u64(uint8_t *p, size_t off, uint64_t v)
{
	for (int i = 7; i >= 0; i--)
		p[off++] = (uint8_t)(v >> (8 * i));
	return off;
}

/* 'R' origin\0 limit\0 len key window: names validated, key_len <= 64. */
static size_t key_rate(uint8_t *p, const char *origin, const char *limit, const void *key, size_t key_len,
    uint64_t window)
{
	size_t off = 1;

	p[0] = 'R';
	off = key_str(p, off, origin);
	off = key_str(p, off, limit);
	p[off++] = (uint8_t)key_len;
	if (key_len > 0)
		memcpy(p + off, key, key_len);
	off += key_len;
	return key_u64(p, off, window);
}

/* ---- hash table ---------------------------------------------------------- */

static struct rent **bucket_of(const struct replica *r, uint64_t h)
{
	return &r->tab[h & (r->nbuckets - 1)];
}

static struct rent *lookup(const struct replica *r, const uint8_t *key, size_t klen, uint64_t h)
{
	for (struct rent *e = *bucket_of(r, h); e != NULL; e = e->hnext)
		if (e->hash == h && e->klen == klen && memcmp(e->data, key, klen) == 0)
			return e;
	return NULL;
}

/* Double the buckets; on failure chains just grow longer. */
static void tab_grow(struct replica *r)
{
	size_t nb = r->nbuckets * 2;
	struct rent **t;

	if (nb > SIZE_MAX / sizeof(*t) || (t = calloc(nb, sizeof(*t))) == NULL)
		return;
	for (size_t i = 0; i < r->nbuckets; i++) {
		struct rent *e = r->tab[i], *next;

		for (; e != NULL; e = next) {
			next = e->hnext;
			e->hnext = t[e->hash & (nb - 1)];
			t[e->hash & (nb - 1)] = e;
		}
	}
	free(r->tab);
	r->tab = t;
	r->nbuckets = nb;
}

static void tab_unlink(struct replica *r, struct rent *e)
{
	struct rent **pp = bucket_of(r, e->hash);

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	r->count--;
}

/* ---- heaps --------------------------------------------------------------- */

static int rent_less(const struct rent *x, const struct rent *y)
{
	return x->order < y->order || (x->order == y->order && x->order2 < y->order2);
}

static void heap_set(struct heap *h, size_t i, struct rent *e)
{
	h->v[i] = e;
	e->heap_idx = (uint32_t)i;
}

static void heap_up(struct heap *h, size_t i)
{
	struct rent *e = h->v[i];

	while (i > 0 && rent_less(e, h->v[(i - 1) / 2])) {
		heap_set(h, i, h->v[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	heap_set(h, i, e);
}

static void heap_down(struct heap *h, size_t i)
{
	struct rent *e = h->v[i];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= h->n)
			break;
		if (c + 1 < h->n && rent_less(h->v[c + 1], h->v[c]))
			c++;
		if (!rent_less(h->v[c], e))
			break;
		heap_set(h, i, h->v[c]);
		i = c;
	}
	heap_set(h, i, e);
}

static int heap_push(struct heap *h, struct rent *e)
{
	if (h->n == h->cap) {
		size_t nc = h->cap ? h->cap * 2 : 64;
		struct rent **v;

		if (nc > UINT32_MAX || (v = realloc(h->v, nc * sizeof(*v))) == NULL)
			return -1;
		h->v = v;
		h->cap = nc;
	}
	heap_set(h, h->n++, e);
	heap_up(h, h->n - 1);
	return 0;
}

static void heap_remove(struct heap *h, struct rent *e)
{
	size_t i = e->heap_idx;

	if (i != --h->n) {
		struct rent *m = h->v[h->n];

		heap_set(h, i, m);
		heap_up(h, i);
		heap_down(h, m->heap_idx);
	}
}

/* After e's order grew or shrank. */
static void heap_fix(struct heap *h, struct rent *e)
{
	heap_up(h, e->heap_idx);
	heap_down(h, e->heap_idx);
}

/* ---- lists --------------------------------------------------------------- */

static void dirty_mark(struct replica *r, struct rent *e)
{
	if (e->dirty)
		return;
	e->dirty = 1;
	e->dirty_next = NULL;
	e->dirty_prev = r->dirty_tail;
	if (r->dirty_tail)
		r->dirty_tail->dirty_next = e;
	else
		r->dirty_head = e;
	r->dirty_tail = e;
	r->ndirty++;
}

static void dirty_clear(struct replica *r, struct rent *e)
{
	if (!e->dirty)
		return;
	if (e->dirty_prev)
		e->dirty_prev->dirty_next = e->dirty_next;
	else
		r->dirty_head = e->dirty_next;
	if (e->dirty_next)
		e->dirty_next->dirty_prev = e->dirty_prev;
	else
		r->dirty_tail = e->dirty_prev;
	e->dirty = 0;
	r->ndirty--;
}

/* ---- entries ------------------------------------------------------------- */

static size_t value_area(enum replica_kind k)
{
	return k == REPLICA_BAN || k == REPLICA_ADMIN ? ORIGIN_AREA : k == REPLICA_TICKET ? TICKET_AREA : 0;
}

static char *rent_origin(struct rent *e)     /* ban, admin */
{
	return (char *)e->data + e->klen;
}

static uint8_t *rent_ticket(struct rent *e)  /* name then secret */
{
	return e->data + e->klen;
}

/* Unlink e from everything, fix up bulk cursors standing on it, free it. */
static void rent_remove(struct replica *r, struct rent *e)
{
	tab_unlink(r, e);
	heap_remove(&r->heap[e->kind], e);
	dirty_clear(r, e);
	for (struct replica_bulk *b = r->cursors; b != NULL; b = b->next_cursor)
		if (b->pos == e)
			b->pos = e->all_next;
	if (e->all_prev)
		e->all_prev->all_next = e->all_next;
	else
		r->all_head = e->all_next;
	if (e->all_next)
		e->all_next->all_prev = e->all_prev;
	else
		r->all_tail = e->all_prev;
	r->stats.entries[e->kind]--;
	if (e->kind == REPLICA_TICKET)
		sodium_memzero(rent_ticket(e), TICKET_AREA);
	free(e);
}

/* Copy cand's value into e (the key is already there). */
static void rent_assign(struct rent *e, const struct cand *c)
{
	e->order = c->order;
	e->order2 = c->order2;
	e->a = c->a;
	e->c = c->c;
	e->d = c->d;
	e->flag = c->flag;
	if (c->kind == REPLICA_BAN || c->kind == REPLICA_ADMIN) {
		memset(rent_origin(e), 0, ORIGIN_AREA);
		memcpy(rent_origin(e), c->origin, strlen(c->origin));
	} else if (c->kind == REPLICA_TICKET) {
		memcpy(rent_ticket(e), c->tname, REPLICA_TICKET_NAME_LEN);
		memcpy(rent_ticket(e) + REPLICA_TICKET_NAME_LEN, c->tsecret, REPLICA_TICKET_SECRET_LEN);
	}
}

static struct rent *rent_insert(struct replica *r, const struct cand *c, uint64_t h)
{
	struct rent *e = calloc(1, sizeof(*e) + c->klen + value_area(c->kind));

	if (e == NULL)
		return NULL;
	e->kind = (uint8_t)c->kind;
	e->klen = (uint16_t)c->klen;
	e->hash = h;
	memcpy(e->data, c->key, c->klen);
	rent_assign(e, c);
	if (heap_push(&r->heap[c->kind], e) == -1) {
		free(e);
		return NULL;
	}
	e->hnext = *bucket_of(r, h);
	*bucket_of(r, h) = e;
	if (++r->count > r->nbuckets)
		tab_grow(r);
	e->seq = ++r->seq;
	e->all_prev = r->all_tail;
	if (r->all_tail)
		r->all_tail->all_next = e;
	else
		r->all_head = e;
	r->all_tail = e;
	r->stats.entries[c->kind]++;
	return e;
}

/* Does cand's value beat e's in the kind's total order (see the top)? */
static int cand_beats(const struct cand *c, struct rent *e)
{
	int x;

	switch (c->kind) {
	case REPLICA_RATE:
		return c->a > e->a;
	case REPLICA_BAN:
		if (c->order != e->order)
			return c->order > e->order;
		if ((x = strcmp(c->origin, rent_origin(e))) != 0)
			return x > 0;
		return c->a > e->a;
	case REPLICA_HEALTH:
		if (c->order != e->order)
			return c->order > e->order;
		return !c->flag && e->flag;         /* down beats up */
	case REPLICA_ADMIN:
		if (c->order != e->order)
			return c->order > e->order;
		if ((x = strcmp(c->origin, rent_origin(e))) != 0)
			return x > 0;
		if (c->c != e->c)
			return c->c > e->c;
		if (c->flag != e->flag)
			return c->flag > e->flag;
		return c->d > e->d;
	case REPLICA_TICKET:
		if (c->order != e->order)
			return c->order > e->order;
		if ((x = memcmp(c->tname, rent_ticket(e), REPLICA_TICKET_NAME_LEN)) != 0)
			return x > 0;
		if ((x = memcmp(c->tsecret, rent_ticket(e) + REPLICA_TICKET_NAME_LEN, REPLICA_TICKET_SECRET_LEN)) != 0)
			return x > 0;
		if (c->flag != e->flag)
			return c->flag > e->flag;
		return c->a > e->a;
	default:
		return 0;
	}
}

static int expired_now(const struct replica *r, enum replica_kind k, uint64_t order, int has_exp,
    uint64_t exp, uint64_t now)
{
	switch (k) {
	case REPLICA_RATE:
		return now >= r->cfg.rate_retention_ms && order <= now - r->cfg.rate_retention_ms;
	case REPLICA_BAN:
		return order <= now;
	case REPLICA_TICKET:
		return has_exp && exp <= now;
	default:
		return 0;
	}
}

static size_t expire_kind(struct replica *r, enum replica_kind k, uint64_t now)
{
	struct heap *h = &r->heap[k];
	size_t n = 0;

	if (k == REPLICA_TICKET) {
		/* Few tickets, ordered by creation rather than expiry: scan. */
		for (size_t i = 0; i < h->n;) {
			struct rent *e = h->v[i];

			if (expired_now(r, k, e->order, e->flag, e->a, now)) {
				rent_remove(r, e);
				n++;
				i = 0;
			} else {
				i++;
			}
		}
	} else if (k == REPLICA_RATE || k == REPLICA_BAN) {
		while (h->n > 0 && expired_now(r, k, h->v[0]->order, 0, 0, now)) {
			rent_remove(r, h->v[0]);
			n++;
		}
	}
	r->stats.expired[k] += n;
	return n;
}

void replica_expire(struct replica *r, uint64_t now_unix_ms)
{
	for (int k = 0; k < REPLICA_KIND_MAX; k++)
		expire_kind(r, (enum replica_kind)k, now_unix_ms);
}

/*
 * Make room for one more entry of c's kind: expire, then evict the heap
 * minimum (oldest window, soonest ban end, oldest observation or admin
 * write, oldest ticket) if c would rank above it. Returns 0 when there is
 * room, -1 when c itself is the one not to keep.
 */
static int make_room(struct replica *r, const struct cand *c, uint64_t now)
{
	struct heap *h = &r->heap[c->kind];
	struct rent *top;

	if (h->n < r->max[c->kind])
		return 0;
	expire_kind(r, c->kind, now);
	if (h->n < r->max[c->kind])
		return 0;
	top = h->v[0];
	if (c->order < top->order || (c->order == top->order && c->order2 <= top->order2)) {
		r->stats.dropped_full[c->kind]++;
		return -1;
	}
	rent_remove(r, top);
	r->stats.evicted[c->kind]++;
	return 0;
}

/* ---- filling protobuf messages from entries ------------------------------ */

union pbmsg {
	Tandem__RateCount rate;
	Tandem__Ban ban;
	Tandem__HealthObs health;
	Tandem__ServerAdmin admin;
	Tandem__TicketKey ticket;
};

static const size_t pb_size[REPLICA_KIND_MAX] = {
	sizeof(Tandem__RateCount), sizeof(Tandem__Ban), sizeof(Tandem__HealthObs),
	sizeof(Tandem__ServerAdmin), sizeof(Tandem__TicketKey),
};

/* Point m (of e's kind) into e. Valid while e lives unchanged. */
static void fill_msg(struct rent *e, void *m)
{
	char *s = (char *)e->data + 1;
	size_t l1 = strlen(s) + 1;

	switch (e->kind) {
	case REPLICA_RATE: {
		Tandem__RateCount *p = m;
		size_t l2 = strlen(s + l1) + 1;
		uint8_t *k = (uint8_t *)s + l1 + l2;

		tandem__rate_count__init(p);
		p->origin = s;
		p->limit = s + l1;
		p->has_key = 1;
		p->key.len = k[0];
		p->key.data = k + 1;
		p->has_window_start_unix_ms = 1;
		p->window_start_unix_ms = e->order;
		p->has_count = 1;
		p->count = e->a;
		break;
	}
	case REPLICA_BAN: {
		Tandem__Ban *p = m;
		uint8_t *k = (uint8_t *)s + l1;

		tandem__ban__init(p);
		p->limit = s;
		p->has_key = 1;
		p->key.len = k[0];
		p->key.data = k + 1;
		p->has_until_unix_ms = 1;
		p->until_unix_ms = e->order;
		/* Kept and passed on so that a node that reset the key can
		 * tell this ban from a new one (hacd/repl.c apply_sync). */
		p->has_started_unix_ms = e->a != 0;
		p->started_unix_ms = e->a;
		p->origin = rent_origin(e)[0] ? rent_origin(e) : NULL;  /* "" was an absent origin */
		break;
	}
	case REPLICA_HEALTH: {
		Tandem__HealthObs *p = m;
		size_t l2 = strlen(s + l1) + 1;

		tandem__health_obs__init(p);
		p->upstream = s;
		p->server = s + l1;
		p->origin = s + l1 + l2;
		p->has_up = 1;
		p->up = e->flag;
		p->has_observed_unix_ms = 1;
		p->observed_unix_ms = e->order;
		break;
	}
	case REPLICA_ADMIN: {
		Tandem__ServerAdmin *p = m;

		tandem__server_admin__init(p);
		p->upstream = s;
		p->server = s + l1;
		p->has_state = 1;
		p->state = (Tandem__AdminState)e->c;
		p->has_weight = e->flag;
		p->weight = e->d;
		p->has_set_unix_ms = 1;
		p->set_unix_ms = e->order;
		p->origin = rent_origin(e)[0] ? rent_origin(e) : NULL;
		break;
	}
	case REPLICA_TICKET: {
		Tandem__TicketKey *p = m;

		tandem__ticket_key__init(p);
		p->has_id = 1;
		p->id = (uint32_t)e->order2;
		p->has_name = 1;
		p->name.len = REPLICA_TICKET_NAME_LEN;
		p->name.data = rent_ticket(e);
		p->has_secret = 1;
		p->secret.len = REPLICA_TICKET_SECRET_LEN;
		p->secret.data = rent_ticket(e) + REPLICA_TICKET_NAME_LEN;
		p->has_created_unix_ms = 1;
		p->created_unix_ms = e->order;
		p->has_expires_unix_ms = e->flag;
		p->expires_unix_ms = e->a;
		break;
	}
	default:
		break;
	}
}

static void item_of(struct rent *e, union pbmsg *m, struct replica_item *it)
{
	fill_msg(e, m);
	it->kind = (enum replica_kind)e->kind;
	switch (e->kind) {
	case REPLICA_RATE:   it->u.rate = &m->rate; break;
	case REPLICA_BAN:    it->u.ban = &m->ban; break;
	case REPLICA_HEALTH: it->u.health = &m->health; break;
	case REPLICA_ADMIN:  it->u.admin = &m->admin; break;
	default:             it->u.ticket = &m->ticket; break;
	}
}

/* ---- merging ------------------------------------------------------------- */

static int known_origin(const struct replica *r, const char *origin)
{
	for (size_t i = 0; i < r->norigins; i++)
		if (strcmp(r->origins[i], origin) == 0)
			return 1;
	return 0;
}

/* The rate-count origin slots. With a node list they were all registered
 * by replica_new, and a name outside it is refused; without one they fill
 * first come first served (this node's own was registered first, so it
 * always has one). */
static int add_origin(struct replica *r, const char *origin)
{
	if (known_origin(r, origin))
		return 0;
	if (r->fixed_origins || r->norigins == REPLICA_MAX_ORIGINS)
		return -1;
	memcpy(r->origins[r->norigins++], origin, strlen(origin) + 1);
	return 0;
}

/* Merge one validated candidate. 1 = the store changed, 0 = not. */
static int merge(struct replica *r, const struct cand *c, enum replica_source src, uint64_t now,
    replica_change_cb cb, void *arg)
{
	uint64_t h = hash_siphash(r->hkey, c->key, c->klen);
	struct rent *e = lookup(r, c->key, c->klen, h);

	if (e != NULL) {
		if (!cand_beats(c, e)) {
			r->stats.stale[c->kind]++;
			return 0;
		}
		rent_assign(e, c);
		heap_fix(&r->heap[c->kind], e);
	} else {
		if (c->kind == REPLICA_RATE && c->a == 0) {
			r->stats.stale[c->kind]++;     /* a zero G-counter is the same as none */
			return 0;
		}
		if (make_room(r, c, now) == -1)
			return 0;
		if ((e = rent_insert(r, c, h)) == NULL) {
			r->stats.nomem++;
			return 0;
		}
	}
	r->stats.merged[c->kind]++;
	if (src == REPLICA_SRC_LOCAL || r->cfg.relay_remote)
		dirty_mark(r, e);
	if (cb != NULL) {
		union pbmsg m;
		struct replica_item it;

		item_of(e, &m, &it);
		it.src = src;
		cb(arg, &it);
	}
	return 1;
}

/*
 * The origin an entry is credited to. Local input speaks for this node only;
 * peer input must name one (rate, health) or may omit it (ban, admin: "").
 */
static int pick_origin(const struct replica *r, const char *got, enum replica_source src, int required,
    const char **out, enum replica_bad *why)
{
	/* An empty origin is an absent one: protobuf-c cannot tell them apart
	 * on every path, and "" is how an absent origin is stored. */
	if (got != NULL && got[0] == '\0' && !required)
		got = NULL;
	if (got == NULL) {
		if (src == REPLICA_SRC_LOCAL) {
			*out = r->self;
			return 0;
		}
		if (required) {
			*why = REPLICA_BAD_MISSING;
			return -1;
		}
		*out = "";
		return 0;
	}
	if (!name_ok(got)) {
		*why = REPLICA_BAD_NAME;
		return -1;
	}
	if (src == REPLICA_SRC_LOCAL && strcmp(got, r->self) != 0) {
		*why = REPLICA_BAD_ORIGIN;
		return -1;
	}
	/* An origin is a node of the cluster. A name no node has would
	 * take an origin slot (rate) or a table entry (health) that the
	 * nodes need, for as long as the sender keeps sending it. */
	if (r->fixed_origins && !known_origin(r, got)) {
		*why = REPLICA_BAD_ORIGIN;
		return -1;
	}
	*out = got;
	return 0;
}

/* Each check_* returns 0 (cand filled), 1 (valid but already expired) or -1 (*why set). */
static int check_rate(struct replica *r, const Tandem__RateCount *m, enum replica_source src, uint64_t now,
    struct cand *c, enum replica_bad *why)
{
	const char *origin;

	if (m->limit == NULL || !m->has_key || !m->has_window_start_unix_ms || !m->has_count) {
		*why = REPLICA_BAD_MISSING;
		return -1;
	}
	if (pick_origin(r, m->origin, src, 1, &origin, why) == -1)
		return -1;
	if (!name_ok(m->limit)) {
		*why = REPLICA_BAD_NAME;
		return -1;
	}
	if (m->key.len > REPLICA_KEY_MAX || (m->key.len > 0 && m->key.data == NULL)) {
		*why = REPLICA_BAD_KEY;
		return -1;
	}
	if (m->count > REPLICA_MAX_COUNT) {
		*why = REPLICA_BAD_COUNT;
		return -1;
	}
	if (m->window_start_unix_ms > add_sat(now, r->cfg.max_future_ms)) {
		*why = REPLICA_BAD_FUTURE;
		return -1;
	}
	if (expired_now(r, REPLICA_RATE, m->window_start_unix_ms, 0, 0, now))
		return 1;
	if (add_origin(r, origin) == -1) {
		*why = REPLICA_BAD_ORIGIN;
		return -1;
	}
	c->kind = REPLICA_RATE;
	c->klen = key_rate(c->key, origin, m->limit, m->key.data, m->key.len, m->window_start_unix_ms);
	c->order = m->window_start_unix_ms;
	c->a = m->count;
	return 0;
}

static int check_ban(struct replica *r, const Tandem__Ban *m, enum replica_source src, uint64_t now,
    struct cand *c, enum replica_bad *why)
{
	size_t off = 1;

	if (m->limit == NULL || !m->has_key || !m->has_until_unix_ms) {
		*why = REPLICA_BAD_MISSING;
		return -1;
	}
	if (pick_origin(r, m->origin, src, 0, &c->origin, why) == -1)
		return -1;
	if (!name_ok(m->limit)) {
		*why = REPLICA_BAD_NAME;
		return -1;
	}
	if (m->key.len > REPLICA_KEY_MAX || (m->key.len > 0 && m->key.data == NULL)) {
		*why = REPLICA_BAD_KEY;
		return -1;
	}
	if (m->until_unix_ms > add_sat(now, r->cfg.max_ban_ms)) {
		*why = REPLICA_BAD_FUTURE;
		return -1;
	}
	if (expired_now(r, REPLICA_BAN, m->until_unix_ms, 0, 0, now))
		return 1;
	c->kind = REPLICA_BAN;
	c->key[0] = 'B';
	off = key_str(c->key, off, m->limit);
	c->key[off++] = (uint8_t)m->key.len;
	if (m->key.len > 0)
		memcpy(c->key + off, m->key.data, m->key.len);
	c->klen = off + m->key.len;
	c->order = m->until_unix_ms;
	/* A start after the end is nonsense: kept as unknown. */
	c->a = m->has_started_unix_ms && m->started_unix_ms <= m->until_unix_ms ? m->started_unix_ms : 0;
	return 0;
}

static int check_health(struct replica *r, const Tandem__HealthObs *m, enum replica_source src, uint64_t now,
    struct cand *c, enum replica_bad *why)
{
	const char *origin;
	size_t off = 1;

	if (m->upstream == NULL || m->server == NULL || !m->has_up || !m->has_observed_unix_ms) {
		*why = REPLICA_BAD_MISSING;
		return -1;
	}
	if (pick_origin(r, m->origin, src, 1, &origin, why) == -1)
		return -1;
	if (!name_ok(m->upstream) || !name_ok(m->server)) {
		*why = REPLICA_BAD_NAME;
		return -1;
	}
	if (m->observed_unix_ms > add_sat(now, r->cfg.max_future_ms)) {
		*why = REPLICA_BAD_FUTURE;
		return -1;
	}
	c->kind = REPLICA_HEALTH;
	c->key[0] = 'H';
	off = key_str(c->key, off, m->upstream);
	off = key_str(c->key, off, m->server);
	c->klen = key_str(c->key, off, origin);
	c->order = m->observed_unix_ms;
	c->flag = m->up ? 1 : 0;
	return 0;
}

static int check_admin(struct replica *r, const Tandem__ServerAdmin *m, enum replica_source src, uint64_t now,
    struct cand *c, enum replica_bad *why)
{
	size_t off = 1;

	if (m->upstream == NULL || m->server == NULL || !m->has_set_unix_ms) {
		*why = REPLICA_BAD_MISSING;
		return -1;
	}
	if (pick_origin(r, m->origin, src, 0, &c->origin, why) == -1)
		return -1;
	if (!name_ok(m->upstream) || !name_ok(m->server)) {
		*why = REPLICA_BAD_NAME;
		return -1;
	}
	/* An absent state is the proto default, READY (rolling upgrades). */
	if (m->has_state && (unsigned)m->state > TANDEM__ADMIN_STATE__ADMIN_MAINT) {
		*why = REPLICA_BAD_STATE;
		return -1;
	}
	if (m->set_unix_ms > add_sat(now, r->cfg.max_future_ms)) {
		*why = REPLICA_BAD_FUTURE;
		return -1;
	}
	c->kind = REPLICA_ADMIN;
	c->key[0] = 'A';
	off = key_str(c->key, off, m->upstream);
	c->klen = key_str(c->key, off, m->server);
	c->order = m->set_unix_ms;
	c->c = m->has_state ? (uint32_t)m->state : 0;
	c->flag = m->has_weight ? 1 : 0;
	c->d = m->has_weight ? m->weight : 0;
	return 0;
}

static int check_ticket(struct replica *r, const Tandem__TicketKey *m, uint64_t now, struct cand *c,
    enum replica_bad *why)
{
	if (!m->has_id || !m->has_name || !m->has_secret || !m->has_created_unix_ms) {
		*why = REPLICA_BAD_MISSING;
		return -1;
	}
	if (m->name.len != REPLICA_TICKET_NAME_LEN || m->secret.len != REPLICA_TICKET_SECRET_LEN ||
	    m->name.data == NULL || m->secret.data == NULL) {
		*why = REPLICA_BAD_TICKET;
		return -1;
	}
	if (m->created_unix_ms > add_sat(now, r->cfg.max_future_ms)) {
		*why = REPLICA_BAD_FUTURE;
		return -1;
	}
	if (expired_now(r, REPLICA_TICKET, 0, m->has_expires_unix_ms, m->expires_unix_ms, now))
		return 1;
	c->kind = REPLICA_TICKET;
	c->key[0] = 'T';
	c->key[1] = (uint8_t)(m->id >> 24);
	c->key[2] = (uint8_t)(m->id >> 16);
	c->key[3] = (uint8_t)(m->id >> 8);
	c->key[4] = (uint8_t)m->id;
	c->klen = 5;
	c->order = m->created_unix_ms;
	c->order2 = m->id;
	c->flag = m->has_expires_unix_ms ? 1 : 0;
	c->a = m->has_expires_unix_ms ? m->expires_unix_ms : 0;
	c->tname = m->name.data;
	c->tsecret = m->secret.data;
	return 0;
}

/* Count a refused entry, log it at most once per LOG_EVERY_MS. Attacker
 * bytes never reach the log: only the kind and the reason. */
static void refuse(struct replica *r, enum replica_kind k, enum replica_source src, enum replica_bad why,
    uint64_t now)
{
	r->stats.bad[why]++;
	log_rl_warnx(&r->rl, now, "replica: %s entry from %s refused: %s", replica_kind_str(k),
	    src == REPLICA_SRC_LOCAL ? "proxyd" : "peer", replica_bad_str(why));
}

/* Run one received entry of kind k through its check and the merge. */
static int take(struct replica *r, enum replica_kind k, const void *m, enum replica_source src, uint64_t now,
    replica_change_cb cb, void *arg)
{
	struct cand c;
	enum replica_bad why = REPLICA_BAD_MISSING;
	int v = -1;

	c.kind = k;
	c.klen = 0;
	c.order = c.order2 = c.a = 0;
	c.c = c.d = 0;
	c.flag = 0;
	c.origin = NULL;
	c.tname = c.tsecret = NULL;
	if (m != NULL) {
		switch (k) {
		case REPLICA_RATE:   v = check_rate(r, m, src, now, &c, &why); break;
		case REPLICA_BAN:    v = check_ban(r, m, src, now, &c, &why); break;
		case REPLICA_HEALTH: v = check_health(r, m, src, now, &c, &why); break;
		case REPLICA_ADMIN:  v = check_admin(r, m, src, now, &c, &why); break;
		default:             v = check_ticket(r, m, now, &c, &why); break;
		}
	}
	if (v == -1) {
		refuse(r, k, src, why, now);
		return 0;
	}
	if (v == 1) {
		r->stats.expired_rx[k]++;
		return 0;
	}
	return merge(r, &c, src, now, cb, arg);
}

int replica_apply(struct replica *r, const Tandem__StateSync *sync, enum replica_source src,
    uint64_t now_unix_ms, replica_change_cb cb, void *arg)
{
	int changed = 0;

	if (sync == NULL)
		return -1;
	r->stats.syncs++;
	for (size_t i = 0; i < sync->n_counts; i++)
		changed += take(r, REPLICA_RATE, sync->counts[i], src, now_unix_ms, cb, arg);
	for (size_t i = 0; i < sync->n_bans; i++)
		changed += take(r, REPLICA_BAN, sync->bans[i], src, now_unix_ms, cb, arg);
	for (size_t i = 0; i < sync->n_health; i++)
		changed += take(r, REPLICA_HEALTH, sync->health[i], src, now_unix_ms, cb, arg);
	for (size_t i = 0; i < sync->n_admin; i++)
		changed += take(r, REPLICA_ADMIN, sync->admin[i], src, now_unix_ms, cb, arg);
	for (size_t i = 0; i < sync->n_tickets; i++)
		changed += take(r, REPLICA_TICKET, sync->tickets[i], src, now_unix_ms, cb, arg);
	return changed;
}

int replica_admin_set(struct replica *r, const char *upstream, const char *server,
    Tandem__AdminState state, int64_t weight, uint64_t now_unix_ms)
{
	Tandem__ServerAdmin m = TANDEM__SERVER_ADMIN__INIT;
	Tandem__ServerAdmin *mp = &m;
	Tandem__StateSync s = TANDEM__STATE_SYNC__INIT;
	uint8_t key[KEYBUF];
	size_t off = 1;
	struct rent *e;
	uint64_t stamp = now_unix_ms;

	if (!name_ok(upstream) || !name_ok(server) || (unsigned)state > TANDEM__ADMIN_STATE__ADMIN_MAINT ||
	    weight > UINT32_MAX)
		return -1;
	key[0] = 'A';
	off = key_str(key, off, upstream);
	off = key_str(key, off, server);
	e = lookup(r, key, off, hash_siphash(r->hkey, key, off));
	if (e != NULL && e->order >= stamp)
		stamp = e->order + 1;   /* beat the last writer even if its clock ran ahead */
	m.upstream = (char *)upstream;
	m.server = (char *)server;
	m.has_state = 1;
	m.state = state;
	m.has_weight = weight >= 0;
	m.weight = weight >= 0 ? (uint32_t)weight : 0;
	m.has_set_unix_ms = 1;
	m.set_unix_ms = stamp;
	m.origin = r->self;
	s.n_admin = 1;
	s.admin = &mp;
	/* The stamp may exceed now by the drift of the previous writer: check
	 * against the stamp, which is this node's own decision. */
	return replica_apply(r, &s, REPLICA_SRC_LOCAL, stamp, NULL, NULL) == 1 ? 0 : -1;
}

uint64_t replica_rate_sum(const struct replica *r, const char *limit, const void *key, size_t key_len,
    uint64_t window_start_unix_ms, const char *exclude_origin)
{
	uint8_t k[KEYBUF];
	uint64_t sum = 0;

	if (!name_ok(limit) || key_len > REPLICA_KEY_MAX || (key_len > 0 && key == NULL))
		return 0;
	for (size_t i = 0; i < r->norigins; i++) {
		size_t kl;
		struct rent *e;

		if (exclude_origin != NULL && strcmp(exclude_origin, r->origins[i]) == 0)
			continue;
		kl = key_rate(k, r->origins[i], limit, key, key_len, window_start_unix_ms);
		if ((e = lookup(r, k, kl, hash_siphash(r->hkey, k, kl))) != NULL)
			sum = sum + e->a < sum ? UINT64_MAX : sum + e->a;
	}
	return sum;
}

/* ---- export -------------------------------------------------------------- */

static size_t varint_len(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

/* Bytes of the envelope around a StateSync of sync_len bytes: one tag byte
 * (field 2 or 4, wire type 2) and the length varint. */
static size_t env_len(size_t sync_len)
{
	return 1 + varint_len(sync_len) + sync_len;
}

struct packer {
	struct replica *r;
	size_t max;
	size_t used;      /* bytes of the repeated fields so far */
	size_t fixed;     /* bytes of the bulk fields (bulk_last reserved) */
	size_t n;         /* entries */
};

static int scratch_reserve(struct scratch *s, size_t elem)
{
	size_t nc;
	void *m;
	void **p;

	if (s->n < s->cap)
		return 0;
	nc = s->cap ? s->cap * 2 : 64;
	if ((m = realloc(s->msgs, nc * elem)) == NULL)
		return -1;
	s->msgs = m;
	if ((p = realloc(s->ptrs, nc * sizeof(*p))) == NULL)
		return -1;
	s->ptrs = p;
	s->cap = nc;
	return 0;
}

/* Add e to the chunk if it still fits. 1 = added, 0 = full (or no memory). */
static int pack_add(struct packer *pk, struct rent *e)
{
	struct scratch *s = &pk->r->scr[e->kind];
	size_t elem = pb_size[e->kind], sz, cost;
	void *m;

	if (scratch_reserve(s, elem) == -1)
		return 0;
	m = (uint8_t *)s->msgs + s->n * elem;
	fill_msg(e, m);
	sz = protobuf_c_message_get_packed_size(m);
	cost = 1 + varint_len(sz) + sz;
	if (env_len(pk->used + cost + pk->fixed) > pk->max)
		return 0;
	pk->used += cost;
	s->n++;
	pk->n++;
	return 1;
}

static void pack_begin(struct packer *pk, struct replica *r, size_t max, int bulk, uint32_t chunk)
{
	pk->r = r;
	pk->max = max;
	pk->used = 0;
	pk->n = 0;
	pk->fixed = bulk ? 2 + 1 + varint_len(chunk) + 2 : 0;
	for (int k = 0; k < REPLICA_KIND_MAX; k++)
		r->scr[k].n = 0;
}

/* Pack the collected entries into out. The scratch arrays have moved
 * (realloc) since the messages were filled, so the pointer arrays are built
 * only now. */
static ssize_t pack_finish(struct packer *pk, enum replica_env env, int bulk, uint32_t chunk, int last,
    uint8_t *out)
{
	struct replica *r = pk->r;
	Tandem__StateSync sync = TANDEM__STATE_SYNC__INIT;
	Tandem__PeerMessage pm = TANDEM__PEER_MESSAGE__INIT;
	Tandem__ChannelMessage cm = TANDEM__CHANNEL_MESSAGE__INIT;
	ProtobufCMessage *top;
	size_t len;

	for (int k = 0; k < REPLICA_KIND_MAX; k++) {
		struct scratch *s = &r->scr[k];

		for (size_t i = 0; i < s->n; i++)
			s->ptrs[i] = (uint8_t *)s->msgs + i * pb_size[k];
	}
	sync.n_counts = r->scr[REPLICA_RATE].n;
	sync.counts = (Tandem__RateCount **)r->scr[REPLICA_RATE].ptrs;
	sync.n_bans = r->scr[REPLICA_BAN].n;
	sync.bans = (Tandem__Ban **)r->scr[REPLICA_BAN].ptrs;
	sync.n_health = r->scr[REPLICA_HEALTH].n;
	sync.health = (Tandem__HealthObs **)r->scr[REPLICA_HEALTH].ptrs;
	sync.n_admin = r->scr[REPLICA_ADMIN].n;
	sync.admin = (Tandem__ServerAdmin **)r->scr[REPLICA_ADMIN].ptrs;
	sync.n_tickets = r->scr[REPLICA_TICKET].n;
	sync.tickets = (Tandem__TicketKey **)r->scr[REPLICA_TICKET].ptrs;
	if (bulk) {
		sync.has_bulk = sync.bulk = 1;
		sync.has_bulk_chunk = 1;
		sync.bulk_chunk = chunk;
		sync.has_bulk_last = last;
		sync.bulk_last = last;
	}
	if (env == REPLICA_ENV_CHANNEL) {
		cm.body_case = TANDEM__CHANNEL_MESSAGE__BODY_SYNC;
		cm.sync = &sync;
		top = &cm.base;
	} else {
		pm.body_case = TANDEM__PEER_MESSAGE__BODY_SYNC;
		pm.sync = &sync;
		top = &pm.base;
	}
	/* The running estimate is exact but for the reserved bulk_last bytes;
	 * protobuf-c has the last word. */
	len = protobuf_c_message_get_packed_size(top);
	if (len > pk->max) {
		log_warnx("replica: packed %zu bytes over the %zu limit: dropping chunk", len, pk->max);
		return -1;
	}
	protobuf_c_message_pack(top, out);
	r->stats.export_msgs++;
	r->stats.export_bytes += len;
	r->stats.export_entries += pk->n;
	return (ssize_t)len;
}

ssize_t replica_export_delta(struct replica *r, enum replica_env env, uint8_t *out, size_t max_bytes)
{
	struct packer pk;

	if (max_bytes < REPLICA_MIN_CHUNK) {
		errno = EINVAL;
		return -1;
	}
	if (r->dirty_head == NULL)
		return 0;
	pack_begin(&pk, r, max_bytes, 0, 0);
	while (r->dirty_head != NULL && pack_add(&pk, r->dirty_head))
		dirty_clear(r, r->dirty_head);
	if (pk.n == 0) {
		errno = ENOMEM;     /* only allocation failure gets here */
		return -1;
	}
	return pack_finish(&pk, env, 0, 0, 0, out);
}

size_t replica_dirty_count(const struct replica *r)
{
	return r->ndirty;
}

void replica_bulk_begin(struct replica *r, struct replica_bulk *b)
{
	b->r = r;
	b->pos = r->all_head;
	b->end_seq = r->seq;
	b->chunk = 0;
	b->active = 1;
	b->next_cursor = r->cursors;
	r->cursors = b;
}

void replica_bulk_abort(struct replica_bulk *b)
{
	struct replica_bulk **pp;

	if (!b->active)
		return;
	for (pp = &b->r->cursors; *pp != NULL; pp = &(*pp)->next_cursor)
		if (*pp == b) {
			*pp = b->next_cursor;
			break;
		}
	b->active = 0;
	b->pos = NULL;
}

ssize_t replica_bulk_next(struct replica_bulk *b, enum replica_env env, uint8_t *out, size_t max_bytes)
{
	struct packer pk;
	struct rent *e;
	ssize_t len;
	int last;

	if (!b->active)
		return 0;
	if (max_bytes < REPLICA_MIN_CHUNK) {
		errno = EINVAL;
		return -1;
	}
	pack_begin(&pk, b->r, max_bytes, 1, b->chunk);
	for (e = b->pos; e != NULL && e->seq <= b->end_seq; e = e->all_next)
		if (!pack_add(&pk, e))
			break;
	b->pos = e;
	last = e == NULL || e->seq > b->end_seq;
	if (!last && pk.n == 0) {
		errno = ENOMEM;     /* only allocation failure gets here */
		return -1;
	}
	len = pack_finish(&pk, env, 1, b->chunk, last, out);
	if (len < 0)
		return -1;
	b->chunk++;
	if (last)
		replica_bulk_abort(b);
	return len;
}

/* ---- inspection ---------------------------------------------------------- */

size_t replica_forget(struct replica *r, const char *limit, const void *key, size_t key_len,
    uint64_t at_unix_ms)
{
	struct rent **gone = NULL;
	size_t n = 0, cap = 0;

	for (int k = REPLICA_RATE; k <= REPLICA_BAN; k++) {
		struct heap *h = &r->heap[k];

		for (size_t i = 0; i < h->n; i++) {
			union pbmsg m;
			struct replica_item it;
			const char *l;
			ProtobufCBinaryData kb;

			item_of(h->v[i], &m, &it);
			if (k == REPLICA_RATE) {
				l = it.u.rate->limit;
				kb = it.u.rate->key;
				if (it.u.rate->window_start_unix_ms > at_unix_ms)
					continue;
			} else {
				l = it.u.ban->limit;
				kb = it.u.ban->key;
			}
			if (strcmp(l, limit) != 0 || kb.len != key_len || memcmp(kb.data, key, key_len) != 0)
				continue;
			if (n == cap) {
				size_t nc = cap ? cap * 2 : 16;
				struct rent **p = realloc(gone, nc * sizeof(*p));

				if (p == NULL)
					break;   /* forget what fits; the rest expires */
				gone = p;
				cap = nc;
			}
			gone[n++] = h->v[i];
		}
	}
	/* Removal reorders the heaps: collect first, then remove. */
	for (size_t i = 0; i < n; i++)
		rent_remove(r, gone[i]);
	free(gone);
	return n;
}

void replica_foreach(const struct replica *r, enum replica_kind kind,
    void (*cb)(void *arg, const struct replica_item *item), void *arg)
{
	const struct heap *h;

	if ((unsigned)kind >= REPLICA_KIND_MAX)
		return;
	h = &r->heap[kind];
	for (size_t i = 0; i < h->n; i++) {
		union pbmsg m;
		struct replica_item it;

		item_of(h->v[i], &m, &it);
		it.src = REPLICA_SRC_PEER;
		cb(arg, &it);
	}
}

const struct replica_stats *replica_stats(const struct replica *r)
{
	return &r->stats;
}

void replica_counters(const struct replica *r, void (*cb)(void *arg, const char *name, uint64_t value),
    void *arg)
{
	static const struct { const char *pfx; size_t off; } per_kind[] = {
		{ "entries",      offsetof(struct replica_stats, entries) },
		{ "merged",       offsetof(struct replica_stats, merged) },
		{ "stale",        offsetof(struct replica_stats, stale) },
		{ "expired-rx",   offsetof(struct replica_stats, expired_rx) },
		{ "expired",      offsetof(struct replica_stats, expired) },
		{ "evicted",      offsetof(struct replica_stats, evicted) },
		{ "dropped-full", offsetof(struct replica_stats, dropped_full) },
	};
	const struct replica_stats *s = &r->stats;
	char name[64];

	for (size_t i = 0; i < sizeof(per_kind) / sizeof(per_kind[0]); i++)
		for (int k = 0; k < REPLICA_KIND_MAX; k++) {
			const uint64_t *v = (const uint64_t *)((const uint8_t *)s + per_kind[i].off);

			snprintf(name, sizeof(name), "%s-%s", per_kind[i].pfx, kind_names[k]);
			cb(arg, name, v[k]);
		}
	for (int b = 0; b < REPLICA_BAD_MAX; b++) {
		snprintf(name, sizeof(name), "bad-%s", bad_names[b]);
		cb(arg, name, s->bad[b]);
	}
	cb(arg, "syncs", s->syncs);
	cb(arg, "export-msgs", s->export_msgs);
	cb(arg, "export-bytes", s->export_bytes);
	cb(arg, "export-entries", s->export_entries);
	cb(arg, "nomem", s->nomem);
}

/* ---- life cycle ---------------------------------------------------------- */

struct replica *replica_new(const struct replica_config *cfg)
{
	struct replica *r;

	if (cfg == NULL || !name_ok(cfg->self) || cfg->max_rates == 0 || cfg->max_bans == 0 ||
	    cfg->max_health == 0 || cfg->max_admin == 0 || cfg->max_tickets == 0 ||
	    cfg->max_rates > UINT32_MAX || cfg->max_bans > UINT32_MAX)
		return NULL;
	if (sodium_init() == -1 || (r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	r->cfg = *cfg;
	memcpy(r->self, cfg->self, strlen(cfg->self) + 1);
	r->cfg.self = r->self;
	r->max[REPLICA_RATE] = cfg->max_rates;
	r->max[REPLICA_BAN] = cfg->max_bans;
	r->max[REPLICA_HEALTH] = cfg->max_health;
	r->max[REPLICA_ADMIN] = cfg->max_admin;
	r->max[REPLICA_TICKET] = cfg->max_tickets;
	r->cfg.nodes = NULL;
	r->cfg.nnodes = 0;
	/* This node's own slot first: its counts are never refused for want
	 * of one. */
	memcpy(r->origins[r->norigins++], r->self, strlen(r->self) + 1);
	for (size_t i = 0; i < cfg->nnodes; i++) {
		if (!name_ok(cfg->nodes[i]) || (!known_origin(r, cfg->nodes[i]) &&
		    r->norigins == REPLICA_MAX_ORIGINS)) {
			free(r);
			return NULL;
		}
		if (!known_origin(r, cfg->nodes[i]))
			memcpy(r->origins[r->norigins++], cfg->nodes[i], strlen(cfg->nodes[i]) + 1);
	}
	r->fixed_origins = cfg->nnodes > 0;
	r->nbuckets = HTAB_MIN;
	if ((r->tab = calloc(r->nbuckets, sizeof(*r->tab))) == NULL) {
		free(r);
		return NULL;
	}
	randombytes_buf(r->hkey, sizeof(r->hkey));
	r->rl.interval_ms = LOG_EVERY_MS;
	return r;
}

void replica_free(struct replica *r)
{
	struct rent *e, *next;

	if (r == NULL)
		return;
	while (r->cursors != NULL)
		replica_bulk_abort(r->cursors);
	for (e = r->all_head; e != NULL; e = next) {
		next = e->all_next;
		if (e->kind == REPLICA_TICKET)
			sodium_memzero(rent_ticket(e), TICKET_AREA);
		free(e);
	}
	for (int k = 0; k < REPLICA_KIND_MAX; k++) {
		free(r->heap[k].v);
		free(r->scr[k].msgs);
		free(r->scr[k].ptrs);
	}
	sodium_memzero(r->hkey, sizeof(r->hkey));
	free(r->tab);
	free(r);
}
