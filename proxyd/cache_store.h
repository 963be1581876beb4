/*
 * proxyd/cache_store.h — the RAM store behind a named cache: objects
 * (a stored response's head and body, its key and the request values its
 * Vary selects on) in a hash table, a byte bound, and a segmented LRU.
 *
 * One store per cache name, shared by every worker thread and every
 * configuration generation that names it (a registry, like the rate-limit
 * tables): a hit ratio that divided by the worker count, or a cache that
 * went cold at each reload, is not what an operator expects. One mutex
 * guards the table and the lists; it is held for a lookup (hash, compare,
 * a reference taken) or an insert, never while bytes are written to a
 * client: a hit is served from the object outside the lock, and the
 * reference keeps it alive even if it is evicted or replaced meanwhile.
 *
 * Eviction is a segmented LRU (SLRU): a new object enters the probation
 * segment; a hit there promotes it to the protected segment (at most 80%
 * of the bytes), whose overflow goes back to probation; eviction takes
 * probation's least recently used first. A scan of one-hit objects only
 * churns probation, so the objects that were hit twice survive it. Chosen
 * over a TinyLFU admission filter because it needs no frequency sketch to
 * size, age and tune, its behaviour is exact and testable (a table test
 * can say which object goes), and it protects exactly the set an operator
 * reasons about: what was asked for more than once.
 *
 * Objects are immutable once inserted; a newer response for the same key
 * and Vary values replaces the old object (which lives until its last
 * reference goes).
 */
#ifndef PROXYD_CACHE_STORE_H
#define PROXYD_CACHE_STORE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "proxyd/cache_rule.h"

#define CACHE_NAME_MAX 64

struct cache_obj {
	/* The store's, under its lock. */
	struct cache_obj *hnext;           /* hash chain */
	struct cache_obj **hprev;          /* what points to it: its bucket or the previous one's hnext; NULL out of the table */
	struct cache_obj *prev, *next;     /* segment list */
	uint32_t refs;
	uint8_t seg;                       /* CACHE_SEG_* */
	uint64_t seq;                      /* insertion order */
	size_t cost;                       /* bytes charged against the bound */
	/* Set before insertion, read-only afterwards. */
	uint64_t hash;                     /* of the key */
	int64_t response_time;             /* Unix seconds the response arrived */
	int64_t initial_age;               /* corrected_initial_age (RFC 9111 §4.2.3) */
	int64_t lifetime;                  /* freshness lifetime, seconds */
	int64_t stale_if_error;            /* the response's stale-if-error (RFC 5861 §4), seconds; -1 none */
	int64_t stale_while_revalidate;    /* the response's stale-while-revalidate (RFC 5861 §3); -1 none */
	unsigned no_stale:1;               /* never served stale (cache_may_serve_stale()) */
	unsigned body_inline:1;            /* body is in mem (its length was known): not freed apart */
	uint32_t key_len, vary_len, head_len, aux_len;
	size_t body_len, body_cap;
	const uint8_t *key;                /* into mem */
	const uint8_t *vary;               /* "name\0value\0" pairs, into mem */
	const uint8_t *head;               /* the origin's response head bytes, into mem */
	const uint8_t *aux;                /* the caller's (proxyd/cache.c: the head as parsed), into mem */
	uint8_t *body;                     /* in mem when body_inline, else its own allocation (grows while the body arrives) */
	uint8_t mem[];
};

enum { CACHE_SEG_NONE = 0, CACHE_SEG_PROBATION, CACHE_SEG_PROTECTED };

/* A store's counters (atomics: rendered by the control thread while
 * workers count). */
struct cache_stats {
	_Atomic uint64_t hits, misses, passes, stored, stored_bytes, evicted, evicted_bytes, replaced;
	_Atomic uint64_t revalidated;          /* stale objects the origin's 304 freshened */
	_Atomic uint64_t stale_served;         /* stale objects served because the origin failed */
	_Atomic uint64_t stale_updating;       /* stale objects served while another request revalidates */
	_Atomic uint64_t coalesced;            /* misses answered from another request's fetch */
	_Atomic uint64_t coalesce_gave_up;     /* misses that waited, then went to the origin themselves */
	_Atomic uint64_t objects, bytes;       /* gauges */
	_Atomic uint64_t not_stored[CACHE_NS_MAX];   /* by reason (cache_rule.h) */
};

struct cache_store;

/* A response on its way from the origin for a key (request coalescing):
 * the first miss registers one, later misses for the key wait for it to
 * end instead of going to the origin too. Embedded in the leader's
 * request state; the store only links it. */
struct cache_pending {
	struct cache_pending *next, **pprev;    /* pprev: where it is linked from (unlinked in O(1)) */
	uint64_t hash;
	const void *key;
	size_t klen;
	unsigned linked:1;
};

/* The store named name, made with this bound and object limit or, when a
 * generation already has it, the existing one with its bound set to these
 * (shrinking evicts at once). One reference per call; NULL out of memory. */
struct cache_store *cache_store_acquire(const char *name, uint64_t size, uint64_t max_object);
void cache_store_release(struct cache_store *s);    /* NULL accepted */
const char *cache_store_name(const struct cache_store *s);
uint64_t cache_store_max_object(const struct cache_store *s);
struct cache_stats *cache_store_stats(struct cache_store *s);
/* The store named name with a reference taken, or NULL (admin commands:
 * a store lives as long as the generations naming it, which a worker may
 * drop at any time). */
struct cache_store *cache_store_find(const char *name);
/* Removes every object whose key starts with prefix (plen bytes); a whole
 * key matches itself. Returns the number removed. Walks the table under the
 * lock: an operator's command, not the request path. */
size_t cache_store_purge_prefix(struct cache_store *s, const void *prefix, size_t plen);
/* Every object whose stored head lists tag in its field (cache_head_has_tag);
 * how many. A walk of the whole store under its lock, as a prefix purge. */
size_t cache_store_purge_tag(struct cache_store *s, const char *field, const char *tag);
/* Calls fn for every store in the registry (metrics, status). */
void cache_store_foreach(void (*fn)(void *ctx, struct cache_store *s), void *ctx);
/* Every store's counters as Prometheus families tandem_cache_* (nothing
 * when no cache is configured). Control thread (metrics.c). */
void cache_store_render(struct buf *o);

/* The keyed hash of a key (siphash under the process's random key: a
 * client cannot aim keys at one chain). */
uint64_t cache_key_hash(const void *key, size_t len);

/* A new object, not yet in any store: key, Vary pairs and head copied in;
 * room for body_hint body bytes. NULL out of memory. */
struct cache_obj *cache_obj_new(const void *key, size_t klen, const void *vary, size_t vlen, const void *head,
    size_t hlen, size_t body_hint);
/* The same with aux (alen bytes) kept too, 8-byte aligned, and the key's
 * hash given (cache_key_hash(key, klen): the caller has it already). */
struct cache_obj *cache_obj_new_aux(uint64_t hash, const void *key, size_t klen, const void *vary, size_t vlen,
    const void *head, size_t hlen, const void *aux, size_t alen, size_t body_hint);
/* Appends n body bytes to an object being built; -1 when it would exceed
 * max bytes (or out of memory): the object is then not to be stored. */
int cache_obj_append(struct cache_obj *o, const void *p, size_t n, size_t max);
/* Frees an object that never went into a store. */
void cache_obj_free(struct cache_obj *o);

/* Inserts o (ownership passes to the store): an object with the same key
 * and Vary pairs is replaced (else, when the key has CACHE_MAX_VARIANTS
 * already, its oldest); then least recently used objects are evicted
 * until the bound holds. An object larger than the bound is freed. */
#define CACHE_MAX_VARIANTS 32
void cache_store_insert(struct cache_store *s, struct cache_obj *o);
/* The object for key whose Vary pairs vary_ok() accepts (ctx passed on),
 * with a reference taken, promoted as a hit; NULL when none. *key_found:
 * some object had the key (a Vary mismatch, RFC 9211 fwd=vary-miss). */
struct cache_obj *cache_store_lookup(struct cache_store *s, uint64_t hash, const void *key, size_t klen,
    int (*vary_ok)(void *ctx, const struct cache_obj *o), void *ctx, int *key_found);
/* The key's last response was not storable: for the next ttl seconds
 * (from now, Unix seconds) its misses neither wait for nor lead a fetch
 * (Varnish's hit-for-miss): a hot uncacheable URL must not queue its
 * requests behind each other. What they fetch is still considered for
 * storing; an object stored for the key ends the mark. The marks are a
 * fixed table of CACHE_PASS_SLOTS (by key hash): a collision only costs a
 * key its coalescing for a while. */
#define CACHE_PASS_SLOTS 4096
void cache_store_mark_pass(struct cache_store *s, uint64_t hash, int64_t now, int64_t ttl);
/* Whether hash is marked pass at now. Without the lock (the marks are
 * atomics: a mark seen a moment late only changes whether a miss waits). */
int cache_store_is_pass(struct cache_store *s, uint64_t hash, int64_t now);
/* A hint, without the lock: the bucket a lookup of hash will read is
 * fetched into the CPU's caches meanwhile (a read of memory no cache
 * holds once the store is larger than the CPU's caches). */
void cache_store_prefetch(struct cache_store *s, uint64_t hash);
/* A miss for p's key (hash, key, klen set) at time now: CACHE_FOLLOW when
 * another fetch is registered (wait for it); else, when may_lead and the
 * key is not marked pass, CACHE_LEAD (p linked as the key's fetch); else
 * CACHE_ALONE (go to the origin, nobody waits). One lock. */
enum { CACHE_ALONE = 0, CACHE_LEAD, CACHE_FOLLOW };
int cache_store_lead(struct cache_store *s, struct cache_pending *p, int64_t now, int may_lead);
/* cache_store_lookup(), then, when nothing was found and p is not NULL,
 * cache_store_lead(s, p, now, may_lead) in the same lock: a miss locks the
 * store once. *how: the lead's answer, CACHE_ALONE when not asked. */
struct cache_obj *cache_store_lookup_lead(struct cache_store *s, uint64_t hash, const void *key, size_t klen,
    int (*vary_ok)(void *ctx, const struct cache_obj *o), void *ctx, int *key_found, struct cache_pending *p,
    int64_t now, int may_lead, int *how);
/* cache_store_insert(s, o), then cache_store_unlead(s, p) when p is not
 * NULL, in one lock. */
void cache_store_insert_unlead(struct cache_store *s, struct cache_obj *o, struct cache_pending *p);
/* Unlinks p (no-op when not linked): the fetch ended, stored or not. */
void cache_store_unlead(struct cache_store *s, struct cache_pending *p);
/* Whether a fetch is registered for key. */
int cache_store_pending(struct cache_store *s, uint64_t hash, const void *key, size_t klen);
/* Drops a reference from cache_store_lookup(). */
void cache_store_unref(struct cache_store *s, struct cache_obj *o);
/* Removes every object with this key (all Vary variants). Returns the
 * number removed. */
size_t cache_store_remove(struct cache_store *s, uint64_t hash, const void *key, size_t klen);

/* The warm-standby digest: fn for up to max objects of the protected
 * segment (hit since stored), most recently used first, under the lock
 * (fn copies what it needs; it must not call into the store). How many. */
size_t cache_store_hottest(struct cache_store *s, size_t max, void (*fn)(void *ctx, const struct cache_obj *o), void *ctx);
/* Whether some variant of key is stored and fresh at now (Unix seconds),
 * without counting a hit or promoting it (a peer's prefetch asking). */
int cache_store_has_fresh(struct cache_store *s, uint64_t hash, const void *key, size_t klen, int64_t now);

#endif
