/*
 * proxyd/ratelimit.c — the counters behind proxyd's 429s, shaped for
 * replication.
 *
 * proxyd's workers call rl_check on every request a route limits; the
 * control thread feeds in what hacd relays from the peers (rl_merge_remote,
 * rl_ban_merge) and hands this node's changes to hacd (rl_collect_deltas,
 * rl_collect_bans), which seals them into peer datagrams (proto StateSync).
 * Nothing here does I/O or reads a clock, so the arithmetic is unit-tested on
 * a fake clock (tests/unit/test_ratelimit.c).  The model, the burst
 * semantics and the thread model are described at the top of ratelimit.h.
 *
 * Layout of one table: RL_SHARDS shards chosen by a SipHash of the key under
 * a per-table random key; each shard has a mutex, a lib/hash table of
 * counter entries with an intrusive LRU list (most recent first) and a list
 * of entries with counts not yet exported, and a lib/hash table of bans with
 * a FIFO list (oldest first) that bounds it.  An entry holds two window
 * slots, indexed by the window number's parity, enough for the sliding
 * estimate (current and previous window); a slot holding an older window is
 * reset when the window it stands for comes round.  Remote counts sit in a
 * small per-entry array of (origin, slot, count), allocated only for keys
 * that peers also see, with the per-slot sum kept beside the local count so
 * that a decision reads two numbers.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>
#include <sodium.h>

#include "lib/hash.h"
#include "lib/net.h"
#include "proxyd/ratelimit.h"

#define WIN_EMPTY     UINT64_MAX
#define EVICT_SCAN    16              /* LRU-end entries looked at for an expired one */
#define MAX_RC        (2 * RL_MAX_NODES)

struct rl_rc {
	uint64_t count;
	uint8_t node;                 /* index in rl_table.nodes */
	uint8_t slot;
};

struct rl_win {
	uint64_t start;               /* window start (unix ms), WIN_EMPTY when unused */
	uint64_t local;               /* this node's G-counter entry */
	uint64_t remote;              /* sum of the remote origins' entries (the rc array) */
};

struct rl_entry {
	struct rl_entry *lru_prev, *lru_next;
	struct rl_entry *dirty_prev, *dirty_next;
	struct rl_win win[2];
	struct rl_rc *rc;
	uint64_t reset_at;            /* rl_reset: windows starting at or before this are forgotten, 0 never */
	uint64_t rej_start;           /* ban accounting: start of the rejection period */
	uint32_t rej_n;
	uint8_t nrc, caprc;
	uint8_t dirty;                /* bit per slot: local count not exported yet */
	uint8_t in_dirty;             /* linked on the shard's dirty list */
	uint8_t klen;
	uint8_t key[];
};

struct rl_ban {
	struct rl_ban *prev, *next;   /* FIFO by insertion or last extension */
	uint64_t until;
	uint8_t pending;              /* issued here, not exported yet */
	uint8_t klen;
	uint8_t key[];
};

struct rl_shard {
	pthread_mutex_t mu;
	struct htab *keys;
	struct htab *bans;
	struct rl_entry *lru_head, *lru_tail;
	struct rl_entry *dirty_head;
	struct rl_ban *ban_head, *ban_tail;
	uint32_t cap, nkeys;
	uint32_t ban_cap, nbans, nban_pending;
	struct rl_stats st;
};

struct rl_table {
	struct rl_limit_conf c;
	_Atomic uint64_t share;       /* num << 32 | den, see rl_table_set_share */
	char self[RL_NAME_MAX];
	uint8_t shard_key[16];
	unsigned nshards;
	pthread_mutex_t nodes_mu;     /* guards nodes/nnodes (merges only, not the request path) */
	unsigned nnodes;
	char nodes[RL_MAX_NODES][RL_NAME_MAX];
	struct rl_shard shards[];
};

const char *rl_verdict_str(enum rl_verdict v)
{
	switch (v) {
	case RL_ALLOW: return "allow";
	case RL_LIMITED: return "limited";
	case RL_BANNED: return "banned";
	default: return "?";
	}
}

int rl_conf_check(const struct rl_limit_conf *c, const char **why)
{
	const char *w = NULL;

	if (c == NULL)
		w = "no configuration";
	else if (memchr(c->name, '\0', sizeof(c->name)) == NULL || c->name[0] == '\0')
		w = "limit name empty or too long";
	else if (c->period_ms == 0 || c->period_ms > RL_MAX_PERIOD_MS)
		w = "period must be between 1ms and 12 days";
	else if (c->rate == 0)
		w = "rate must be at least 1";
	else if (c->rate > RL_MAX_RATE || c->burst > RL_MAX_RATE - c->rate)
		w = "rate + burst too large";
	else if (c->max_keys == 0)
		w = "max_keys must be at least 1";
	else if (c->ban_after > 0 && (c->ban_period_ms == 0 || c->ban_ms == 0))
		w = "a ban needs a ban period and a ban time";
	if (w != NULL) {
		if (why != NULL)
			*why = w;
		return -1;
	}
	return 0;
}

/* ---- keys --------------------------------------------------------------- */

int rl_key_ip(const struct sockaddr *sa, int v4_prefix, int v6_prefix, uint8_t out[RL_KEY_IP_LEN])
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	uint8_t a[16];
	int bits;

	if (sa == NULL || v4_prefix < 0 || v4_prefix > 32 || v6_prefix < 0 || v6_prefix > 128)
		return -1;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)(const void *)sa;

		memcpy(a, mapped, 12);
		memcpy(a + 12, &s4->sin_addr, 4);
		bits = 96 + v4_prefix;
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)(const void *)sa;

		memcpy(a, &s6->sin6_addr, 16);
		/* A dual-stack socket shows IPv4 clients as ::ffff:a.b.c.d; they
		 * must share the key (and the prefix) of the same client seen on
		 * an AF_INET socket. */
		bits = memcmp(a, mapped, 12) == 0 ? 96 + v4_prefix : v6_prefix;
	} else {
		return -1;
	}
	net_mask_bits(a, 16, bits);
	out[0] = RL_KEY_IP;
	memcpy(out + 1, a, 16);
	return RL_KEY_IP_LEN;
}

int rl_key_bytes(enum rl_key_kind kind, const void *val, size_t len, uint8_t out[RL_KEY_MAX])
{
	if ((kind != RL_KEY_HEADER && kind != RL_KEY_ROUTE) || (val == NULL && len > 0))
		return -1;
	out[0] = (uint8_t)kind;
	if (len <= RL_KEY_MAX - 1) {
		if (len > 0)
			memcpy(out + 1, val, len);
		return (int)(1 + len);
	}
	/* Unkeyed on purpose: every node must derive the same key.  The table's
	 * own hashing is keyed, so flooding is not a concern here. */
	crypto_generichash(out + 1, 16, val, len, NULL, 0);
	return 17;
}

/* ---- table -------------------------------------------------------------- */

static void entry_free(void *p)
{
	struct rl_entry *e = p;

	if (e != NULL)
		free(e->rc);
	free(e);
}

struct rl_table *rl_table_new(const struct rl_limit_conf *c, const char *self_node)
{
	struct rl_table *t;
	unsigned n;
	uint32_t max_bans;

	if (rl_conf_check(c, NULL) == -1 || self_node == NULL || self_node[0] == '\0' ||
	    strlen(self_node) >= RL_NAME_MAX) {
		errno = EINVAL;
		return NULL;
	}
	if (sodium_init() < 0) {
		errno = ENOMEM;
		return NULL;
	}
	n = c->max_keys >= RL_SHARD_MIN_KEYS ? RL_SHARDS : 1;
	t = calloc(1, sizeof(*t) + n * sizeof(t->shards[0]));
	if (t == NULL)
		return NULL;
	t->c = *c;
	atomic_init(&t->share, 1ull << 32 | 1u);
	memcpy(t->self, self_node, strlen(self_node) + 1);
	randombytes_buf(t->shard_key, sizeof(t->shard_key));
	pthread_mutex_init(&t->nodes_mu, NULL);
	max_bans = c->max_bans != 0 ? c->max_bans : (c->max_keys / 8 > 16 ? c->max_keys / 8 : 16);
	t->c.max_bans = max_bans;
	for (unsigned i = 0; i < n; i++) {
		struct rl_shard *s = &t->shards[i];

		pthread_mutex_init(&s->mu, NULL);
		/* Exact split, so the sum of the shard caps is max_keys. */
		s->cap = c->max_keys / n + (i < c->max_keys % n);
		s->ban_cap = max_bans / n + (i < max_bans % n);
		if (s->ban_cap == 0)
			s->ban_cap = 1;
		t->nshards = i + 1;
		s->keys = htab_new(s->cap < 1024 ? s->cap : 1024);
		s->bans = htab_new(16);
		if (s->keys == NULL || s->bans == NULL) {
			rl_table_free(t);
			errno = ENOMEM;
			return NULL;
		}
	}
	return t;
}

void rl_table_free(struct rl_table *t)
{
	if (t == NULL)
		return;
	for (unsigned i = 0; i < t->nshards; i++) {
		htab_free(t->shards[i].keys, entry_free);
		htab_free(t->shards[i].bans, free);
		pthread_mutex_destroy(&t->shards[i].mu);
	}
	pthread_mutex_destroy(&t->nodes_mu);
	free(t);
}

const struct rl_limit_conf *rl_table_conf(const struct rl_table *t)
{
	return &t->c;
}

const char *rl_table_node(const struct rl_table *t)
{
	return t->self;
}

int rl_table_set_share(struct rl_table *t, uint32_t num, uint32_t den)
{
	if (num == 0 || den == 0 || num > den)
		return -1;
	atomic_store_explicit(&t->share, (uint64_t)num << 32 | den, memory_order_relaxed);
	return 0;
}

static struct rl_shard *shard_of(struct rl_table *t, const uint8_t *key, size_t klen)
{
	if (t->nshards == 1)
		return &t->shards[0];
	return &t->shards[hash_siphash(t->shard_key, key, klen) % t->nshards];
}

static int key_ok(const uint8_t *key, size_t klen)
{
	return key != NULL && klen >= 1 && klen <= RL_KEY_MAX;
}

/* ---- lists -------------------------------------------------------------- */

static void lru_unlink(struct rl_shard *s, struct rl_entry *e)
{
	if (e->lru_prev != NULL)
		e->lru_prev->lru_next = e->lru_next;
	else
		s->lru_head = e->lru_next;
	if (e->lru_next != NULL)
		e->lru_next->lru_prev = e->lru_prev;
	else
		s->lru_tail = e->lru_prev;
	e->lru_prev = e->lru_next = NULL;
}

static void lru_push_head(struct rl_shard *s, struct rl_entry *e)
{
	e->lru_prev = NULL;
	e->lru_next = s->lru_head;
	if (s->lru_head != NULL)
		s->lru_head->lru_prev = e;
	else
		s->lru_tail = e;
	s->lru_head = e;
}

static void lru_touch(struct rl_shard *s, struct rl_entry *e)
{
	if (s->lru_head == e)
		return;
	lru_unlink(s, e);
	lru_push_head(s, e);
}

static void dirty_unlink(struct rl_shard *s, struct rl_entry *e)
{
	if (!e->in_dirty)
		return;
	if (e->dirty_prev != NULL)
		e->dirty_prev->dirty_next = e->dirty_next;
	else
		s->dirty_head = e->dirty_next;
	if (e->dirty_next != NULL)
		e->dirty_next->dirty_prev = e->dirty_prev;
	e->dirty_prev = e->dirty_next = NULL;
	e->in_dirty = 0;
	e->dirty = 0;
}

static void dirty_mark(struct rl_shard *s, struct rl_entry *e, int slot)
{
	if (!e->in_dirty) {
		e->in_dirty = 1;
		e->dirty_prev = NULL;
		e->dirty_next = s->dirty_head;
		if (s->dirty_head != NULL)
			s->dirty_head->dirty_prev = e;
		s->dirty_head = e;
	}
	e->dirty |= (uint8_t)(1u << slot);
}

static void ban_unlink(struct rl_shard *s, struct rl_ban *b)
{
	if (b->prev != NULL)
		b->prev->next = b->next;
	else
		s->ban_head = b->next;
	if (b->next != NULL)
		b->next->prev = b->prev;
	else
		s->ban_tail = b->prev;
	b->prev = b->next = NULL;
}

static void ban_push_tail(struct rl_shard *s, struct rl_ban *b)
{
	b->next = NULL;
	b->prev = s->ban_tail;
	if (s->ban_tail != NULL)
		s->ban_tail->next = b;
	else
		s->ban_head = b;
	s->ban_tail = b;
}

/* ---- windows ------------------------------------------------------------ */

/* Reset slot i to stand for the window starting at start: its local and
 * remote counts belonged to a window two periods old. */
static void slot_roll(struct rl_entry *e, int i, uint64_t start)
{
	uint8_t k = 0;

	e->win[i].start = start;
	e->win[i].local = 0;
	e->win[i].remote = 0;
	e->dirty &= (uint8_t)~(1u << i);
	for (uint8_t j = 0; j < e->nrc; j++)
		if (e->rc[j].slot != i)
			e->rc[k++] = e->rc[j];
	e->nrc = k;
}

static uint64_t slot_total(const struct rl_win *w)
{
	uint64_t sum = w->local + w->remote;

	return sum < w->local ? UINT64_MAX : sum;
}

/* Cluster totals of the current and the previous window at now. */
static void entry_view(const struct rl_table *t, const struct rl_entry *e, uint64_t now,
		       uint64_t *cur, uint64_t *prev)
{
	uint64_t P = t->c.period_ms, w = now / P, start = w * P;
	int i = (int)(w & 1);

	*cur = e->win[i].start == start ? slot_total(&e->win[i]) : 0;
	*prev = w > 0 && e->win[i ^ 1].start == start - P ? slot_total(&e->win[i ^ 1]) : 0;
}

/* An entry is expired when neither slot holds the current or the previous
 * window: it cannot affect a decision any more. */
static int entry_expired(const struct rl_table *t, const struct rl_entry *e, uint64_t now)
{
	uint64_t cur, prev;

	entry_view(t, e, now, &cur, &prev);
	return cur == 0 && prev == 0;
}

/* Rate and burst after this node's share (rl_table_set_share). */
struct lim { double r, b; };

static struct lim limit_now(const struct rl_table *t)
{
	uint64_t sh = atomic_load_explicit(&t->share, memory_order_relaxed);
	double f = (double)(sh >> 32) / (double)(sh & 0xffffffffu);
	struct lim l = { (double)t->c.rate * f, (double)t->c.burst * f };

	return l;
}

/* The limit L of the current window given the previous window's total. */
static double window_limit(struct lim l, uint64_t prev)
{
	if ((double)prev >= l.r)
		return l.r;
	return l.r + l.b * (1.0 - (double)prev / l.r);
}

static double estimate(const struct rl_table *t, uint64_t cur, uint64_t prev, uint64_t now)
{
	uint64_t P = t->c.period_ms;
	double f = (double)(now % P) / (double)P;

	return (double)prev * (1.0 - f) + (double)cur;
}

static uint32_t ms_to_retry(double ms)
{
	double s = ceil(ms / 1000.0);

	if (!(s >= 1.0))
		return 1;
	if (s > (double)UINT32_MAX)
		return UINT32_MAX;
	return (uint32_t)s;
}

/*
 * Seconds until est < L if nothing else is admitted.  Within the current
 * window est falls linearly as the previous window's weight decays; if the
 * current window alone is at the limit, the wait runs into the next window,
 * where the current total becomes the decaying previous one and the limit is
 * recomputed from it.
 */
static uint32_t retry_after(const struct rl_table *t, struct lim l, uint64_t cur, uint64_t prev, uint64_t now)
{
	double P = (double)t->c.period_ms, e = (double)(now % t->c.period_ms);
	double L = window_limit(l, prev), wait;

	if ((double)cur < L && prev > 0) {
		wait = (1.0 - (L - (double)cur) / (double)prev) * P - e;
	} else {
		double L2 = window_limit(l, cur);

		wait = (P - e) + (cur > 0 ? (1.0 - L2 / (double)cur) * P : 0.0);
	}
	return ms_to_retry(wait + 1.0);
}

/* ---- entries ------------------------------------------------------------ */

static void entry_evict(struct rl_shard *s, struct rl_entry *e)
{
	lru_unlink(s, e);
	dirty_unlink(s, e);
	htab_del(s->keys, e->key, e->klen);
	s->nkeys--;
	entry_free(e);
}

/* Make room for one entry: an expired one near the LRU end, else the LRU end. */
static void shard_make_room(const struct rl_table *t, struct rl_shard *s, uint64_t now)
{
	struct rl_entry *e = s->lru_tail;

	for (int n = 0; e != NULL && n < EVICT_SCAN; n++, e = e->lru_prev) {
		if (entry_expired(t, e, now)) {
			s->st.evict_expired++;
			entry_evict(s, e);
			return;
		}
	}
	if (s->lru_tail != NULL) {
		s->st.evict_lru++;
		entry_evict(s, s->lru_tail);
	}
}

static struct rl_entry *entry_get(const struct rl_table *t, struct rl_shard *s,
				  const uint8_t *key, size_t klen, uint64_t now, int create)
{
	struct rl_entry *e = htab_get(s->keys, key, klen);

	if (e != NULL || !create)
		return e;
	if (s->cap == 0)
		return NULL;
	while (s->nkeys >= s->cap)
		shard_make_room(t, s, now);
	e = calloc(1, sizeof(*e) + klen);
	if (e == NULL)
		return NULL;
	e->win[0].start = e->win[1].start = WIN_EMPTY;
	e->klen = (uint8_t)klen;
	memcpy(e->key, key, klen);
	if (htab_put(s->keys, key, klen, e) == -1) {
		free(e);
		return NULL;
	}
	s->nkeys++;
	lru_push_head(s, e);
	return e;
}

/* ---- bans --------------------------------------------------------------- */

static struct rl_ban *ban_set(struct rl_shard *s, const uint8_t *key, size_t klen,
			      uint64_t until, uint64_t now, int *changed)
{
	struct rl_ban *b = htab_get(s->bans, key, klen);

	*changed = 0;
	if (b != NULL) {
		if (until > b->until) {
			b->until = until;
			ban_unlink(s, b);
			ban_push_tail(s, b);
			*changed = 1;
		}
		return b;
	}
	/* The FIFO head is the ban set longest ago; with one ban time per
	 * limit, it is also (about) the one that ends first. */
	while (s->nbans >= s->ban_cap && s->ban_head != NULL) {
		struct rl_ban *old = s->ban_head;

		if (old->until > now)
			s->st.ban_evictions++;
		ban_unlink(s, old);
		htab_del(s->bans, old->key, old->klen);
		s->nban_pending -= old->pending;
		s->nbans--;
		free(old);
	}
	b = calloc(1, sizeof(*b) + klen);
	if (b == NULL)
		return NULL;
	b->until = until;
	b->klen = (uint8_t)klen;
	memcpy(b->key, key, klen);
	if (htab_put(s->bans, key, klen, b) == -1) {
		free(b);
		return NULL;
	}
	ban_push_tail(s, b);
	s->nbans++;
	*changed = 1;
	return b;
}

/* 1 and *left_ms when key is banned at now. */
static int ban_active(struct rl_shard *s, const uint8_t *key, size_t klen, uint64_t now, uint64_t *left_ms)
{
	struct rl_ban *b;

	if (s->nbans == 0)
		return 0;
	b = htab_get(s->bans, key, klen);
	if (b == NULL || b->until <= now)
		return 0;
	*left_ms = b->until - now;
	return 1;
}

/* A rejection of e at now: count it and ban the key when it reaches ban_after. */
static int note_rejection(const struct rl_table *t, struct rl_shard *s, struct rl_entry *e, uint64_t now)
{
	struct rl_ban *b;
	int changed;

	if (t->c.ban_after == 0)
		return 0;
	if (e->rej_n == 0 || now - e->rej_start >= t->c.ban_period_ms || now < e->rej_start) {
		e->rej_start = now;
		e->rej_n = 0;
	}
	if (++e->rej_n < t->c.ban_after)
		return 0;
	e->rej_n = 0;
	b = ban_set(s, e->key, e->klen, now + t->c.ban_ms, now, &changed);
	if (b == NULL)
		return 0;
	if (changed) {
		if (!b->pending)
			s->nban_pending++;
		b->pending = 1;
		s->st.bans_issued++;
	}
	return 1;
}

/* ---- the request path --------------------------------------------------- */

enum rl_verdict rl_check(struct rl_table *t, const uint8_t *key, size_t klen,
			 uint64_t now, uint32_t *retry_after_s)
{
	struct rl_shard *s;
	struct rl_entry *e;
	uint64_t cur, prev, left, w = now / t->c.period_ms, start = w * t->c.period_ms;
	int i = (int)(w & 1);
	enum rl_verdict v;
	struct lim lim = limit_now(t);

	if (!key_ok(key, klen)) {
		s = &t->shards[0];
		pthread_mutex_lock(&s->mu);
		s->st.bad_key++;
		pthread_mutex_unlock(&s->mu);
		return RL_ALLOW;
	}
	s = shard_of(t, key, klen);
	pthread_mutex_lock(&s->mu);
	if (ban_active(s, key, klen, now, &left)) {
		s->st.banned++;
		pthread_mutex_unlock(&s->mu);
		if (retry_after_s != NULL)
			*retry_after_s = ms_to_retry((double)left);
		return RL_BANNED;
	}
	e = entry_get(t, s, key, klen, now, 1);
	if (e == NULL) {
		s->st.allowed++;
		pthread_mutex_unlock(&s->mu);
		return RL_ALLOW;
	}
	lru_touch(s, e);
	if (e->win[i].start == WIN_EMPTY || e->win[i].start < start)
		slot_roll(e, i, start);
	entry_view(t, e, now, &cur, &prev);
	if (estimate(t, cur, prev, now) < window_limit(lim, prev)) {
		/* A slot ahead of now (the clock stepped back) is not counted
		 * into: the request is admitted on the view at now. */
		if (e->win[i].start == start) {
			e->win[i].local++;
			dirty_mark(s, e, i);
		}
		s->st.allowed++;
		pthread_mutex_unlock(&s->mu);
		return RL_ALLOW;
	}
	if (note_rejection(t, s, e, now)) {
		s->st.banned++;
		v = RL_BANNED;
		if (retry_after_s != NULL)
			*retry_after_s = ms_to_retry((double)t->c.ban_ms);
	} else {
		s->st.limited++;
		v = RL_LIMITED;
		if (retry_after_s != NULL)
			*retry_after_s = retry_after(t, lim, cur, prev, now);
	}
	pthread_mutex_unlock(&s->mu);
	return v;
}

int rl_ban_check(struct rl_table *t, const uint8_t *key, size_t klen, uint64_t now, uint32_t *retry_after_s)
{
	struct rl_shard *s;
	uint64_t left;
	int banned;

	if (!key_ok(key, klen))
		return 0;
	s = shard_of(t, key, klen);
	pthread_mutex_lock(&s->mu);
	banned = ban_active(s, key, klen, now, &left);
	pthread_mutex_unlock(&s->mu);
	if (banned && retry_after_s != NULL)
		*retry_after_s = ms_to_retry((double)left);
	return banned;
}

double rl_estimate(struct rl_table *t, const uint8_t *key, size_t klen, uint64_t now)
{
	struct rl_shard *s;
	struct rl_entry *e;
	uint64_t cur = 0, prev = 0;

	if (!key_ok(key, klen))
		return 0;
	s = shard_of(t, key, klen);
	pthread_mutex_lock(&s->mu);
	e = htab_get(s->keys, key, klen);
	if (e != NULL)
		entry_view(t, e, now, &cur, &prev);
	pthread_mutex_unlock(&s->mu);
	return estimate(t, cur, prev, now);
}

/* ---- replication -------------------------------------------------------- */

/* Index of a remote origin, registered on first sight; -1 when the table
 * already tracks RL_MAX_NODES origins. */
static int node_index(struct rl_table *t, const char *origin)
{
	int idx = -1;

	pthread_mutex_lock(&t->nodes_mu);
	for (unsigned i = 0; i < t->nnodes; i++) {
		if (strcmp(t->nodes[i], origin) == 0) {
			idx = (int)i;
			break;
		}
	}
	if (idx == -1 && t->nnodes < RL_MAX_NODES) {
		memcpy(t->nodes[t->nnodes], origin, strlen(origin) + 1);
		idx = (int)t->nnodes++;
	}
	pthread_mutex_unlock(&t->nodes_mu);
	return idx;
}

static const char *node_name(struct rl_table *t, unsigned idx)
{
	const char *n;

	pthread_mutex_lock(&t->nodes_mu);
	n = t->nodes[idx];    /* names never change once registered */
	pthread_mutex_unlock(&t->nodes_mu);
	return n;
}

/* Raise origin node's count in slot i to count; 1 if it rose. */
static int rc_raise(struct rl_entry *e, int node, int i, uint64_t count)
{
	struct rl_rc *rc;

	for (uint8_t j = 0; j < e->nrc; j++) {
		rc = &e->rc[j];
		if (rc->node == node && rc->slot == i) {
			if (count <= rc->count)
				return 0;
			e->win[i].remote += count - rc->count;
			rc->count = count;
			return 1;
		}
	}
	if (e->nrc == e->caprc) {
		uint8_t ncap = e->caprc == 0 ? 2 : (uint8_t)(e->caprc * 2);

		if (ncap > MAX_RC)
			ncap = MAX_RC;
		if (ncap <= e->caprc)
			return -1;
		rc = realloc(e->rc, ncap * sizeof(*rc));
		if (rc == NULL)
			return -1;
		e->rc = rc;
		e->caprc = ncap;
	}
	e->rc[e->nrc].node = (uint8_t)node;
	e->rc[e->nrc].slot = (uint8_t)i;
	e->rc[e->nrc].count = count;
	e->nrc++;
	e->win[i].remote += count;
	return 1;
}

int rl_merge_remote(struct rl_table *t, const char *origin, const uint8_t *key, size_t klen,
		    uint64_t ws, uint64_t count, uint64_t now)
{
	uint64_t P = t->c.period_ms, w = ws / P, cw = now / P;
	struct rl_shard *s;
	struct rl_entry *e;
	int node = -1, self, i = (int)(w & 1), rc;

	if (origin == NULL || origin[0] == '\0' || strnlen(origin, RL_NAME_MAX) >= RL_NAME_MAX ||
	    !key_ok(key, klen) || ws % P != 0 || w > cw) {
		s = &t->shards[0];
		pthread_mutex_lock(&s->mu);
		s->st.merge_bad++;
		pthread_mutex_unlock(&s->mu);
		return -1;
	}
	self = strcmp(origin, t->self) == 0;
	s = shard_of(t, key, klen);
	if (w + 1 < cw || count == 0) {
		pthread_mutex_lock(&s->mu);
		s->st.merge_stale++;
		pthread_mutex_unlock(&s->mu);
		return 0;
	}
	if (!self && (node = node_index(t, origin)) == -1) {
		pthread_mutex_lock(&s->mu);
		s->st.merge_bad++;
		pthread_mutex_unlock(&s->mu);
		return -1;
	}
	pthread_mutex_lock(&s->mu);
	e = entry_get(t, s, key, klen, now, 1);
	if (e == NULL) {
		s->st.merge_bad++;
		pthread_mutex_unlock(&s->mu);
		return -1;
	}
	lru_touch(s, e);
	if ((e->win[i].start != WIN_EMPTY && e->win[i].start > ws) || (e->reset_at != 0 && ws <= e->reset_at)) {
		s->st.merge_stale++;
		pthread_mutex_unlock(&s->mu);
		return 0;
	}
	if (e->win[i].start != ws)
		slot_roll(e, i, ws);
	if (self) {
		/* Our own count echoed back after a restart: take it, but do
		 * not re-export what the peers already hold. */
		rc = count > e->win[i].local;
		if (rc)
			e->win[i].local = count;
	} else {
		rc = rc_raise(e, node, i, count);
	}
	if (rc == 1)
		s->st.merged++;
	else if (rc == 0)
		s->st.merge_stale++;
	else
		s->st.merge_bad++;
	pthread_mutex_unlock(&s->mu);
	return rc;
}

int rl_ban_merge(struct rl_table *t, const uint8_t *key, size_t klen, uint64_t until, uint64_t now)
{
	struct rl_shard *s;
	int changed;
	struct rl_ban *b;

	if (!key_ok(key, klen))
		return -1;
	if (until <= now)
		return 0;
	s = shard_of(t, key, klen);
	pthread_mutex_lock(&s->mu);
	/* A ban that began before an operator's reset of the key (delayed,
	 * or a peer that has not heard of the reset yet) stays forgotten. */
	{
		struct rl_entry *e = entry_get(t, s, key, klen, now, 0);

		if (e != NULL && e->reset_at != 0 && t->c.ban_ms != 0 && until - t->c.ban_ms <= e->reset_at) {
			pthread_mutex_unlock(&s->mu);
			return 0;
		}
	}
	b = ban_set(s, key, klen, until, now, &changed);
	pthread_mutex_unlock(&s->mu);
	return b == NULL ? -1 : changed;
}

int rl_reset(struct rl_table *t, const uint8_t *key, size_t klen, uint64_t at, uint64_t now)
{
	struct rl_shard *s;
	struct rl_entry *e;
	struct rl_ban *b;
	int changed = 0;

	if (!key_ok(key, klen) || at == 0)
		return -1;
	s = shard_of(t, key, klen);
	pthread_mutex_lock(&s->mu);
	/* Created if absent, to remember the reset against counts and bans
	 * still on their way from other nodes. */
	e = entry_get(t, s, key, klen, now, 1);
	if (e != NULL && at > e->reset_at) {
		e->reset_at = at;
		for (int i = 0; i < 2; i++)
			if (e->win[i].start != WIN_EMPTY && e->win[i].start <= at) {
				/* Keep the window (its start orders later merges),
				 * drop every node's count in it. */
				uint64_t start = e->win[i].start;

				slot_roll(e, i, start);
			}
		e->rej_n = 0;
		e->rej_start = 0;
		changed = 1;
	}
	if ((b = htab_get(s->bans, key, klen)) != NULL) {
		ban_unlink(s, b);
		htab_del(s->bans, b->key, b->klen);
		s->nban_pending -= b->pending;
		s->nbans--;
		free(b);
		changed = 1;
	}
	pthread_mutex_unlock(&s->mu);
	return e == NULL ? -1 : changed;
}

size_t rl_collect_deltas(struct rl_table *t, size_t max, rl_count_cb cb, void *arg)
{
	size_t n = 0;
	int stop = 0;

	for (unsigned si = 0; si < t->nshards && !stop; si++) {
		struct rl_shard *s = &t->shards[si];
		struct rl_entry *e, *next;

		pthread_mutex_lock(&s->mu);
		for (e = s->dirty_head; e != NULL && !stop; e = next) {
			next = e->dirty_next;
			for (int i = 0; i < 2; i++) {
				if (!(e->dirty & (1u << i)))
					continue;
				if ((max != 0 && n >= max) ||
				    cb(arg, t->self, e->key, e->klen, e->win[i].start, e->win[i].local) != 0) {
					stop = 1;
					break;
				}
				n++;
				e->dirty &= (uint8_t)~(1u << i);
			}
			if (e->dirty == 0)
				dirty_unlink(s, e);
		}
		pthread_mutex_unlock(&s->mu);
	}
	return n;
}

size_t rl_collect_bans(struct rl_table *t, size_t max, rl_ban_cb cb, void *arg)
{
	size_t n = 0;
	int stop = 0;

	for (unsigned si = 0; si < t->nshards && !stop; si++) {
		struct rl_shard *s = &t->shards[si];

		pthread_mutex_lock(&s->mu);
		for (struct rl_ban *b = s->ban_head; b != NULL && s->nban_pending > 0; b = b->next) {
			if (!b->pending)
				continue;
			if ((max != 0 && n >= max) || cb(arg, b->key, b->klen, b->until) != 0) {
				stop = 1;
				break;
			}
			b->pending = 0;
			s->nban_pending--;
			n++;
		}
		pthread_mutex_unlock(&s->mu);
	}
	return n;
}

size_t rl_dump(struct rl_table *t, uint64_t now, rl_count_cb ccb, rl_ban_cb bcb, void *arg)
{
	uint64_t P = t->c.period_ms, cw = now / P;
	size_t n = 0;
	int stop = 0;

	for (unsigned si = 0; si < t->nshards && !stop; si++) {
		struct rl_shard *s = &t->shards[si];

		pthread_mutex_lock(&s->mu);
		for (struct rl_entry *e = s->lru_head; ccb != NULL && e != NULL && !stop; e = e->lru_next) {
			for (int i = 0; i < 2 && !stop; i++) {
				uint64_t w = e->win[i].start / P;

				if (e->win[i].start == WIN_EMPTY || w > cw || w + 1 < cw)
					continue;
				if (e->win[i].local > 0) {
					if (ccb(arg, t->self, e->key, e->klen, e->win[i].start, e->win[i].local) != 0) {
						stop = 1;
						break;
					}
					n++;
				}
				for (uint8_t j = 0; j < e->nrc && !stop; j++) {
					if (e->rc[j].slot != i)
						continue;
					if (ccb(arg, node_name(t, e->rc[j].node), e->key, e->klen,
						e->win[i].start, e->rc[j].count) != 0)
						stop = 1;
					else
						n++;
				}
			}
		}
		for (struct rl_ban *b = s->ban_head; bcb != NULL && b != NULL && !stop; b = b->next) {
			if (b->until <= now)
				continue;
			if (bcb(arg, b->key, b->klen, b->until) != 0)
				stop = 1;
			else
				n++;
		}
		pthread_mutex_unlock(&s->mu);
	}
	return n;
}

size_t rl_expire(struct rl_table *t, uint64_t now)
{
	size_t n = 0;

	for (unsigned si = 0; si < t->nshards; si++) {
		struct rl_shard *s = &t->shards[si];
		struct rl_entry *e, *prev;
		struct rl_ban *b, *next;

		pthread_mutex_lock(&s->mu);
		for (e = s->lru_tail; e != NULL; e = prev) {
			prev = e->lru_prev;
			if (entry_expired(t, e, now)) {
				entry_evict(s, e);
				n++;
			}
		}
		for (b = s->ban_head; b != NULL; b = next) {
			next = b->next;
			if (b->until > now)
				continue;
			ban_unlink(s, b);
			htab_del(s->bans, b->key, b->klen);
			s->nban_pending -= b->pending;
			s->nbans--;
			free(b);
			n++;
		}
		pthread_mutex_unlock(&s->mu);
	}
	return n;
}

void rl_stats_get(struct rl_table *t, struct rl_stats *out)
{
	memset(out, 0, sizeof(*out));
	for (unsigned si = 0; si < t->nshards; si++) {
		struct rl_shard *s = &t->shards[si];

		pthread_mutex_lock(&s->mu);
		out->keys += s->nkeys;
		out->bans += s->nbans;
		out->allowed += s->st.allowed;
		out->limited += s->st.limited;
		out->banned += s->st.banned;
		out->bans_issued += s->st.bans_issued;
		out->evict_expired += s->st.evict_expired;
		out->evict_lru += s->st.evict_lru;
		out->ban_evictions += s->st.ban_evictions;
		out->merged += s->st.merged;
		out->merge_stale += s->st.merge_stale;
		out->merge_bad += s->st.merge_bad;
		out->bad_key += s->st.bad_key;
		pthread_mutex_unlock(&s->mu);
	}
}

/* ---- the registry: tables shared across generations ---------------------- */

struct rl_reg {
	struct rl_reg *next;
	struct rl_table *t;
	long refs;
};
static pthread_mutex_t rl_mu = PTHREAD_MUTEX_INITIALIZER;
static struct rl_reg *rl_head;

static int
rl_conf_same(const struct rl_limit_conf *a, const struct rl_limit_conf *b)
{
	return strcmp(a->name, b->name) == 0 && a->period_ms == b->period_ms && a->rate == b->rate &&
	    a->burst == b->burst && a->max_keys == b->max_keys &&
	    a->ban_after == b->ban_after && a->ban_period_ms == b->ban_period_ms && a->ban_ms == b->ban_ms;
}

struct rl_table *
rl_table_acquire(const struct rl_limit_conf *c, const char *node)
{
	struct rl_reg *r;
	struct rl_table *t = NULL;

	pthread_mutex_lock(&rl_mu);
	for (r = rl_head; r != NULL; r = r->next)
		if (rl_conf_same(rl_table_conf(r->t), c)) {
			r->refs++;
			t = r->t;
			break;
		}
	if (t == NULL && (r = calloc(1, sizeof(*r))) != NULL) {
		if ((r->t = rl_table_new(c, node)) == NULL) {
			free(r);
		} else {
			r->refs = 1;
			r->next = rl_head;
			rl_head = r;
			t = r->t;
		}
	}
	pthread_mutex_unlock(&rl_mu);
	return t;
}

void
rl_table_release(struct rl_table *t)
{
	struct rl_reg **pp, *r;

	if (t == NULL)
		return;
	pthread_mutex_lock(&rl_mu);
	for (pp = &rl_head; (r = *pp) != NULL; pp = &r->next)
		if (r->t == t) {
			if (--r->refs == 0) {
				*pp = r->next;
				rl_table_free(r->t);
				free(r);
			}
			break;
		}
	pthread_mutex_unlock(&rl_mu);
}
