/*
 * lib/net.h — socket helpers shared by proxyd, hacd and hactl.
 *
 * Addresses are numeric only (no DNS: callbacks never block). Every socket is
 * created CLOEXEC; listening and connecting TCP sockets are nonblocking.
 * Functions return -1 with errno set on failure.
 */
#ifndef TANDEM_LIB_NET_H
#define TANDEM_LIB_NET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

/* Enough for "[v6%scope]:port" and "unix:/path". */
#define NET_ADDRSTRLEN 128

/* Parse a numeric socket address. Accepts "1.2.3.4:80", "[::1]:8080",
 * "[fe80::1%eth0]:80", "*:80" and ":80" (IPv4 any), "[::]:80" (IPv6 any), and
 * the same without ":port" ("1.2.3.4", "[::1]", "::1", "*") when
 * default_port >= 0. Port 0..65535 in decimal. Rejects host names, empty
 * ports, trailing garbage, inet_aton short forms ("127.1"). 0 ok (ss, len set),
 * -1 bad input (ss untouched). */
int net_parse_addr(const char *s, int default_port, struct sockaddr_storage *ss, socklen_t *len);
/* Format sa into buf: "1.2.3.4:80", "[::1]:80", "unix:/path"; "?" for other
 * families or a too-small buffer. Returns buf. len >= NET_ADDRSTRLEN is always enough. */
const char *net_addr_str(const struct sockaddr *sa, char *buf, size_t len);
/* Port of an AF_INET/AF_INET6 address in host order, -1 for other families. */
int net_addr_port(const struct sockaddr *sa);
/* 1 if a and b are the same family and address (and port if with_port), else 0.
 * AF_INET and AF_INET6 only. */
int net_addr_equal(const struct sockaddr *a, const struct sockaddr *b, int with_port);
/* 1 if sa is a loopback address (127.0.0.0/8, ::1, ::ffff:127.0.0.0/104), else 0. */
int net_is_loopback(const struct sockaddr *sa);

int net_set_nonblock(int fd);   /* O_NONBLOCK; 0/-1 */
int net_set_nodelay(int fd);    /* TCP_NODELAY; 0/-1 */

/* Nonblocking CLOEXEC listening TCP socket with SO_REUSEADDR (+SO_REUSEPORT if
 * reuseport), IPV6_V6ONLY for v6 so "[::]" never takes IPv4. backlog <= 0 means
 * SOMAXCONN. Returns fd or -1. */
int net_listen_tcp(const struct sockaddr *sa, socklen_t len, int reuseport, int backlog);
/* Nonblocking connect: returns fd (connection may be in progress: wait for
 * EV_WRITE then check net_connect_result) or -1 (immediate failure). */
int net_connect_tcp(const struct sockaddr *sa, socklen_t len);
/* Outcome of a nonblocking connect once writable: 0 connected, -1 with errno
 * set to the socket error (ECONNREFUSED, ETIMEDOUT, ...). */
int net_connect_result(int fd);
/* accept4 with SOCK_NONBLOCK|SOCK_CLOEXEC, retrying EINTR. ss/len may be NULL.
 * Returns fd or -1 (EAGAIN when the queue is empty). */
int net_accept(int lfd, struct sockaddr_storage *ss, socklen_t *len);
/* Nonblocking CLOEXEC UDP socket bound to sa, V6ONLY for v6, with
 * SO_REUSEPORT and without SO_REUSEADDR: more sockets of the same effective
 * uid may bind sa too (hacd's per-peer sockets), a socket of any other uid
 * cannot (EADDRINUSE), so no other user can receive a share of what is sent
 * to sa. Returns fd or -1 (EADDRINUSE when another uid holds sa). */
int net_bind_udp(const struct sockaddr *sa, socklen_t len);

/* Listening unix stream socket at path (nonblocking, CLOEXEC), mode applied
 * before listen() so no client connects through looser permissions. A stale
 * socket file (nobody accepting) is unlinked; a live one fails with
 * EADDRINUSE; a non-socket file at path fails with EEXIST (never deleted).
 * Path longer than sun_path: ENAMETOOLONG. Returns fd or -1. */
int net_listen_unix(const char *path, mode_t mode);
/* Connect to a unix stream socket. Returns a connected, BLOCKING, CLOEXEC fd
 * (hactl uses it as is; an event-loop caller calls net_set_nonblock) or -1. */
int net_connect_unix(const char *path);
/* Uid of the process at the other end of a unix socket (SO_PEERCRED). 0/-1. */
int net_peer_uid(int fd, uid_t *uid);

/* An address prefix for access control: "10.0.0.0/8", "2001:db8::/32", or a
 * bare address (= /32 or /128). */
struct net_cidr { int family; uint8_t addr[16]; unsigned prefix; };
/* Parse s. 0 ok; 1 ok but host bits were set and were cleared ("10.0.0.1/8"
 * -> 10.0.0.0/8: the caller may warn); -1 bad syntax or prefix out of range. */
int net_cidr_parse(const char *s, struct net_cidr *c);
/* 1 if sa (AF_INET or AF_INET6) lies in c, else 0. An IPv4-mapped IPv6
 * address (::ffff:a.b.c.d) matches IPv4 prefixes as its IPv4 address. */
int net_cidr_match(const struct net_cidr *c, const struct sockaddr *sa);
/* Same on a raw address: family AF_INET (4 bytes) or AF_INET6 (16 bytes). */
int net_cidr_match_raw(const struct net_cidr *c, int family, const void *addr);
/* Keep the first bits bits of the len-byte address a, zero the rest (a
 * prefix; bits >= 8 * len keeps everything). */
void net_mask_bits(uint8_t *a, size_t len, int bits);
/* "10.0.0.0/8" into buf (NET_ADDRSTRLEN is enough); returns buf. */
const char *net_cidr_str(const struct net_cidr *c, char *buf, size_t len);

#endif
