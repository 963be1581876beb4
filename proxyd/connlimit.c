/*
 * proxyd/connlimit.c — the per-address connection counts behind
 * limits.max_connections_per_ip.
 *
 * A connection may be accepted by any worker (SO_REUSEPORT spreads them),
 * so the count of one address is shared. The table is split into shards by
 * a SipHash of the address under a random key (lib/hash), each shard a
 * mutex and a lib/hash table of address -> count; an entry lives only while
 * its address has connections, so memory follows the open connections and a
 * client cannot aim addresses at one shard or bucket. The lock is taken at
 * accept and close only, never per request, and not at all when the limit
 * is off.
 */
#include "proxyd/connlimit.h"

#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "lib/hash.h"
#include "lib/net.h"

#define CL_SHARDS 64
#define CL_KEY_LEN 17

struct cl_shard {
	pthread_mutex_t mu;
	struct htab *t;
};

static struct cl_shard shards[CL_SHARDS];
static uint8_t shard_key[16];
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int init_ok;
static _Atomic uint64_t naddr;

static void
cl_init(void)
{
	if (sodium_init() < 0)
		return;
	randombytes_buf(shard_key, sizeof(shard_key));
	for (int i = 0; i < CL_SHARDS; i++) {
		pthread_mutex_init(&shards[i].mu, NULL);
		if ((shards[i].t = htab_new(64)) == NULL)
			return;
	}
	init_ok = 1;
}

static struct cl_shard *
shard_of(int family, const uint8_t *addr, uint8_t key[CL_KEY_LEN])
{
	memset(key, 0, CL_KEY_LEN);
	key[0] = (uint8_t)family;
	memcpy(key + 1, addr, family == AF_INET ? 4 : 16);
	return &shards[hash_siphash(shard_key, key, CL_KEY_LEN) % CL_SHARDS];
}

void
cl_key(int family, const uint8_t *addr, int v4_prefix, int v6_prefix, uint8_t out[16])
{
	memset(out, 0, 16);
	if (family == AF_INET) {
		memcpy(out, addr, 4);
		net_mask_bits(out, 4, v4_prefix);
	} else {
		memcpy(out, addr, 16);
		net_mask_bits(out, 16, v6_prefix);
	}
}

int
cl_acquire(int family, const uint8_t *addr, uint32_t max)
{
	uint8_t key[CL_KEY_LEN];
	struct cl_shard *s;
	uintptr_t n;
	int rc = 1;

	pthread_once(&once, cl_init);
	if (!init_ok)
		return 2;
	s = shard_of(family, addr, key);
	pthread_mutex_lock(&s->mu);
	n = (uintptr_t)htab_get(s->t, key, CL_KEY_LEN);
	if (n >= max)
		rc = 0;
	else if (htab_put(s->t, key, CL_KEY_LEN, (void *)(n + 1)) == -1)
		rc = 2;
	else if (n == 0)
		atomic_fetch_add_explicit(&naddr, 1, memory_order_relaxed);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

void
cl_release(int family, const uint8_t *addr)
{
	uint8_t key[CL_KEY_LEN];
	struct cl_shard *s;
	uintptr_t n;

	if (!init_ok)
		return;
	s = shard_of(family, addr, key);
	pthread_mutex_lock(&s->mu);
	n = (uintptr_t)htab_get(s->t, key, CL_KEY_LEN);
	if (n <= 1) {
		if (n == 1) {
			htab_del(s->t, key, CL_KEY_LEN);
			atomic_fetch_sub_explicit(&naddr, 1, memory_order_relaxed);
		}
	} else {
		htab_put(s->t, key, CL_KEY_LEN, (void *)(n - 1));
	}
	pthread_mutex_unlock(&s->mu);
}

uint64_t
cl_addresses(void)
{
	return atomic_load_explicit(&naddr, memory_order_relaxed);
}
