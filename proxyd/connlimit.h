/*
 * proxyd/connlimit.h — concurrent client connections per client address,
 * across every worker (limits.max_connections_per_ip).
 *
 * Counted at accept and released at close, so it costs nothing per request;
 * used only when the limit is configured. Addresses count per prefix
 * (limits.per_ip_ipv4_prefix, per_ip_ipv6_prefix; by default /32 and /64). Module prefix: cl_.
 */
#ifndef PROXYD_CONNLIMIT_H
#define PROXYD_CONNLIMIT_H

#include <stdint.h>

/* The address a connection counts under: family AF_INET (4 bytes of
 * addr) keeps its first v4_prefix bits, else (16 bytes of IPv6) its first
 * v6_prefix bits, the rest zeroed into out (16 bytes; 4 used for IPv4).
 * One IPv6 host usually holds a whole /64 (RFC 4291 §2.5.1, SLAAC), so
 * counting each address apart would give it 2^64 allowances. Pure. */
void cl_key(int family, const uint8_t *addr, int v4_prefix, int v6_prefix, uint8_t out[16]);
/* Counts one more connection from addr (a key from cl_key: family AF_INET
 * with 4 bytes, else 16 bytes of IPv6) if that stays within max (> 0). 1 counted, 0 over
 * the limit (nothing counted). On ENOMEM the connection is admitted
 * uncounted and 2 is returned (the caller must not release it). Thread-safe. */
int cl_acquire(int family, const uint8_t *addr, uint32_t max);
/* Releases a connection counted by cl_acquire (returned 1). Thread-safe. */
void cl_release(int family, const uint8_t *addr);
/* Distinct addresses counted now (metrics). */
uint64_t cl_addresses(void);

#endif
