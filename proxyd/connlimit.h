/*
 * proxyd/connlimit.h — concurrent client connections per client address,
 * across every worker (limits.max_connections_per_ip).
 *
 * Counted at accept and released at close, so it costs nothing per request;
 * used only when the limit is configured. Module prefix: cl_.
 */
#ifndef PROXYD_CONNLIMIT_H
#define PROXYD_CONNLIMIT_H

#include <stdint.h>

/* Counts one more connection from addr (family 2 = AF_INET with 4 bytes,
 * else 16 bytes of IPv6) if that stays within max (> 0). 1 counted, 0 over
 * the limit (nothing counted). On ENOMEM the connection is admitted
 * uncounted and 2 is returned (the caller must not release it). Thread-safe. */
int cl_acquire(int family, const uint8_t *addr, uint32_t max);
/* Releases a connection counted by cl_acquire (returned 1). Thread-safe. */
void cl_release(int family, const uint8_t *addr);
/* Distinct addresses counted now (metrics). */
uint64_t cl_addresses(void);

#endif
