/*
 * lib/net.c — socket helpers shared by proxyd, hacd and hactl.
 *
 * proxyd opens its listeners and upstream connections here, hacd its
 * heartbeat sockets and its unix sockets (local channel, control), hactl its
 * control connection. Addresses in configuration are numeric: the daemons
 * never resolve names, so a callback never blocks on DNS and a failover never
 * waits for a resolver. Access-control prefixes (struct net_cidr) live here
 * too because both daemons filter peers by address.
 */
#include "lib/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* Decimal port 0..65535, whole string; -1 otherwise. */
static int
parse_port(const char *s)
{
	long v = 0;
	if (*s == '\0' || strlen(s) > 5)
		return -1;
	for (const char *p = s; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		v = v * 10 + (*p - '0');
	}
	return v > 65535 ? -1 : (int)v;
}

/* IPv6 text, optionally with "%scope" (an interface name or number). */
static int
parse_v6(const char *s, struct sockaddr_in6 *sin6)
{
	char host[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
	const char *pct = strchr(s, '%');
	size_t hl = pct != NULL ? (size_t)(pct - s) : strlen(s);

	if (hl == 0 || hl >= INET6_ADDRSTRLEN)
		return -1;
	memcpy(host, s, hl);
	host[hl] = '\0';
	memset(sin6, 0, sizeof(*sin6));
	sin6->sin6_family = AF_INET6;
	if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
		return -1;
	if (pct != NULL) {
		const char *scope = pct + 1;
		int idx;
		if (*scope == '\0' || strlen(scope) >= IF_NAMESIZE)
			return -1;
		if ((idx = parse_port(scope)) >= 0)   /* numeric scope id */
			sin6->sin6_scope_id = (uint32_t)idx;
		else if ((sin6->sin6_scope_id = if_nametoindex(scope)) == 0)
			return -1;
	}
	return 0;
}

int
net_parse_addr(const char *s, int default_port, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
	const char *port_s = NULL;
	int v6 = 0, port;

	if (s == NULL || *s == '\0')
		return -1;
	if (s[0] == '[') {
		const char *end = strchr(s, ']');
		if (end == NULL || (size_t)(end - s - 1) >= sizeof(host))
			return -1;
		memcpy(host, s + 1, (size_t)(end - s - 1));
		host[end - s - 1] = '\0';
		if (end[1] == ':')
			port_s = end + 2;
		else if (end[1] != '\0')
			return -1;
		v6 = 1;
	} else {
		const char *colon = strchr(s, ':');
		if (colon != NULL && strchr(colon + 1, ':') != NULL) {
			/* Two colons and no brackets: a bare IPv6 address. */
			if (strlen(s) >= sizeof(host))
				return -1;
			strcpy(host, s);
			v6 = 1;
		} else {
			size_t hl = colon != NULL ? (size_t)(colon - s) : strlen(s);
			if (hl >= sizeof(host))
				return -1;
			memcpy(host, s, hl);
			host[hl] = '\0';
			if (colon != NULL)
				port_s = colon + 1;
		}
	}
	if (port_s != NULL) {
		if ((port = parse_port(port_s)) == -1)
			return -1;
	} else {
		if (default_port < 0 || default_port > 65535)
			return -1;
		port = default_port;
	}

	if (v6) {
		struct sockaddr_in6 sin6;
		if (parse_v6(host, &sin6) == -1)
			return -1;
		sin6.sin6_port = htons((uint16_t)port);
		memset(ss, 0, sizeof(*ss));
		memcpy(ss, &sin6, sizeof(sin6));
		*len = sizeof(sin6);
		return 0;
	}
	struct sockaddr_in sin;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	if (strcmp(host, "*") == 0 || host[0] == '\0')
		sin.sin_addr.s_addr = htonl(INADDR_ANY);
	else if (inet_pton(AF_INET, host, &sin.sin_addr) != 1)   /* dotted quad only */
		return -1;
	memset(ss, 0, sizeof(*ss));
	memcpy(ss, &sin, sizeof(sin));
	*len = sizeof(sin);
	return 0;
}

const char *
net_addr_str(const struct sockaddr *sa, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];
	int n = -1;

	if (len == 0)
		return buf;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
		if (inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host)) != NULL)
			n = snprintf(buf, len, "%s:%u", host, ntohs(sin->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
		char scope[IF_NAMESIZE + 2] = "";
		if (sin6->sin6_scope_id != 0) {
			char ifn[IF_NAMESIZE];
			if (if_indextoname(sin6->sin6_scope_id, ifn) != NULL)
				snprintf(scope, sizeof(scope), "%%%s", ifn);
			else
				snprintf(scope, sizeof(scope), "%%%u", sin6->sin6_scope_id);
		}
		if (inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host)) != NULL)
			n = snprintf(buf, len, "[%s%s]:%u", host, scope, ntohs(sin6->sin6_port));
	} else if (sa->sa_family == AF_UNIX) {
		const struct sockaddr_un *sun = (const struct sockaddr_un *)sa;
		n = snprintf(buf, len, "unix:%.*s", (int)sizeof(sun->sun_path), sun->sun_path);
	}
	if (n < 0 || (size_t)n >= len)
		snprintf(buf, len, "?");
	return buf;
}

int
net_addr_port(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)sa)->sin_port);
	if (sa->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	return -1;
}

int net_is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;

		return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
	}
	return 0;
}

int
net_addr_equal(const struct sockaddr *a, const struct sockaddr *b, int with_port)
{
	if (a->sa_family != b->sa_family)
		return 0;
	if (a->sa_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
		return x->sin_addr.s_addr == y->sin_addr.s_addr &&
		    (!with_port || x->sin_port == y->sin_port);
	}
	if (a->sa_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
		return memcmp(&x->sin6_addr, &y->sin6_addr, 16) == 0 &&
		    x->sin6_scope_id == y->sin6_scope_id &&
		    (!with_port || x->sin6_port == y->sin6_port);
	}
	return 0;
}

int
net_set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl == -1)
		return -1;
	if (fl & O_NONBLOCK)
		return 0;
	return fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1 ? -1 : 0;
}

int
net_set_nodelay(int fd)
{
	int one = 1;
	return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static void
close_keep_errno(int fd)
{
	int e = errno;
	close(fd);
	errno = e;
}

int
net_listen_tcp(const struct sockaddr *sa, socklen_t len, int reuseport, int backlog)
{
	int one = 1;
	int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1)
		goto fail;
	if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) == -1)
		goto fail;
	if (sa->sa_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) == -1)
		goto fail;
	if (bind(fd, sa, len) == -1)
		goto fail;
	if (listen(fd, backlog > 0 ? backlog : SOMAXCONN) == -1)
		goto fail;
	return fd;
fail:
	close_keep_errno(fd);
	return -1;
}

int
net_connect_tcp(const struct sockaddr *sa, socklen_t len)
{
	int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	if (connect(fd, sa, len) == -1 && errno != EINPROGRESS) {
		close_keep_errno(fd);
		return -1;
	}
	return fd;
}

int
net_connect_result(int fd)
{
	int err = 0;
	socklen_t l = sizeof(err);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l) == -1)
		return -1;
	if (err != 0) {
		errno = err;
		return -1;
	}
	return 0;
}

int
net_accept(int lfd, struct sockaddr_storage *ss, socklen_t *len)
{
	socklen_t l = sizeof(*ss);
	for (;;) {
		int fd = accept4(lfd, (struct sockaddr *)ss, ss != NULL ? &l : NULL,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1 && errno == EINTR)
			continue;
		if (fd != -1 && ss != NULL && len != NULL)
			*len = l;
		return fd;
	}
}

int
net_bind_udp(const struct sockaddr *sa, socklen_t len)
{
	int one = 1;
	int fd = socket(sa->sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	/* SO_REUSEPORT, never SO_REUSEADDR. A UDP socket has no TIME_WAIT,
	 * so a restart needs neither; hacd needs sharing only between its
	 * own sockets (the shared one and one connected per peer, all on
	 * the node's address and port). With SO_REUSEADDR on both sides
	 * Linux lets any user bind the same address and port and take a
	 * share of the datagrams (a peer's heartbeats: hacd then declares
	 * the peer dead and claims its VIPs). A reuseport group admits only
	 * sockets of the same effective uid (net/core/sock_reuseport.c,
	 * udp_lib_lport_inuse), and a socket without SO_REUSEADDR conflicts
	 * with every overlapping bind, wildcard and multicast group
	 * included: another user's bind fails with EADDRINUSE. */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) == -1)
		goto fail;
	if (sa->sa_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) == -1)
		goto fail;
	if (bind(fd, sa, len) == -1)
		goto fail;
	return fd;
fail:
	close_keep_errno(fd);
	return -1;
}

static int
unix_addr(const char *path, struct sockaddr_un *sun)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (path == NULL || path[0] == '\0') {
		errno = EINVAL;
		return -1;
	}
	if (strlen(path) >= sizeof(sun->sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(sun->sun_path, path);
	return 0;
}

/* Does a socket listen at path in this network namespace? 1 yes, 0 no, -1
 * cannot tell. For a socket file this process may not connect to (a
 * daemon that handed it to another user, see hacd/channel.c): the kernel's
 * table of unix sockets says whether it is alive without connecting. */
static int
unix_listening(const char *path)
{
	char line[4096 + 128];
	FILE *f = fopen("/proc/net/unix", "re");
	int found = 0;

	if (f == NULL)
		return -1;
	while (!found && fgets(line, sizeof(line), f) != NULL) {
		unsigned long flags;
		int off = 0;
		size_t n;

		/* Num: RefCount Protocol Flags Type St Inode Path */
		if (sscanf(line, "%*s %*s %*s %lx %*s %*s %*s %n", &flags, &off) != 1 || off == 0)
			continue;
		n = strcspn(line + off, "\n");
		line[off + n] = '\0';
		found = (flags & 0x10000) != 0 && strcmp(line + off, path) == 0;   /* __SO_ACCEPTCON */
	}
	fclose(f);
	return found;
}

/* A socket file at path nobody accepts on is left over by a crash: remove
 * it. One somebody accepts on belongs to a live daemon: refuse. Anything
 * else at path is not ours to delete. */
static int
unix_remove_stale(const char *path, const struct sockaddr_un *sun)
{
	struct stat st;
	if (lstat(path, &st) == -1)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISSOCK(st.st_mode)) {
		errno = EEXIST;
		return -1;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd == -1)
		return -1;
	int r = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
	int e = errno;
	close(fd);
	/* EAGAIN: a live listener with a full backlog. */
	if (r == 0 || e == EAGAIN) {
		errno = EADDRINUSE;
		return -1;
	}
	if (e == EACCES && unix_listening(path) == 0)
		e = ECONNREFUSED;       /* not ours to connect to, and nobody listens */
	if (e != ECONNREFUSED && e != ENOENT) {
		errno = e;
		return -1;
	}
	if (unlink(path) == -1 && errno != ENOENT)
		return -1;
	return 0;
}

int
net_listen_unix(const char *path, mode_t mode)
{
	struct sockaddr_un sun;
	if (unix_addr(path, &sun) == -1)
		return -1;
	if (unix_remove_stale(path, &sun) == -1)
		return -1;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		goto fail;
	/* Nobody can connect before listen(), so permissions tightened here
	 * are in force for the first client. */
	if (chmod(path, mode) == -1)
		goto fail_unlink;
	if (listen(fd, SOMAXCONN) == -1)
		goto fail_unlink;
	return fd;
fail_unlink:
	{
		int e = errno;
		unlink(path);
		errno = e;
	}
fail:
	close_keep_errno(fd);
	return -1;
}

int
net_connect_unix(const char *path)
{
	struct sockaddr_un sun;
	if (unix_addr(path, &sun) == -1)
		return -1;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	for (;;) {
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
			return fd;
		if (errno != EINTR)
			break;
	}
	close_keep_errno(fd);
	return -1;
}

int
net_peer_uid(int fd, uid_t *uid)
{
	struct ucred cr;
	socklen_t l = sizeof(cr);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &l) == -1)
		return -1;
	*uid = cr.uid;
	return 0;
}

/* ---- CIDR ---------------------------------------------------------------------- */

int
net_cidr_parse(const char *s, struct net_cidr *c)
{
	char host[INET6_ADDRSTRLEN];
	const char *slash = strchr(s, '/');
	size_t hl = slash != NULL ? (size_t)(slash - s) : strlen(s);
	struct net_cidr r;
	unsigned max;
	int fixed = 0;

	if (hl == 0 || hl >= sizeof(host))
		return -1;
	memcpy(host, s, hl);
	host[hl] = '\0';
	memset(&r, 0, sizeof(r));
	if (inet_pton(AF_INET, host, r.addr) == 1) {
		r.family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, host, r.addr) == 1) {
		r.family = AF_INET6;
		max = 128;
	} else {
		return -1;
	}
	r.prefix = max;
	if (slash != NULL) {
		int p = parse_port(slash + 1);   /* same digits-only rule */
		if (p == -1 || (unsigned)p > max || strlen(slash + 1) > 3)
			return -1;
		r.prefix = (unsigned)p;
	}
	for (unsigned bit = r.prefix; bit < max; bit++) {
		uint8_t m = (uint8_t)(0x80u >> (bit % 8));
		if (r.addr[bit / 8] & m) {
			r.addr[bit / 8] &= (uint8_t)~m;
			fixed = 1;
		}
	}
	*c = r;
	return fixed;
}

void
net_mask_bits(uint8_t *a, size_t len, int bits)
{
	for (size_t i = 0; i < len; i++) {
		int keep = bits - 8 * (int)i;

		if (keep <= 0)
			a[i] = 0;
		else if (keep < 8)
			a[i] &= (uint8_t)(0xff00u >> keep);
	}
}

int
net_cidr_match_raw(const struct net_cidr *c, int family, const void *addr)
{
	static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	const uint8_t *a = addr;

	if (family == AF_INET6 && c->family == AF_INET && memcmp(a, v4mapped, 12) == 0) {
		family = AF_INET;
		a += 12;
	}
	if (family != c->family)
		return 0;
	unsigned full = c->prefix / 8, rest = c->prefix % 8;
	if (memcmp(a, c->addr, full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	uint8_t mask = (uint8_t)(0xffu << (8 - rest));
	return (a[full] & mask) == c->addr[full];
}

int
net_cidr_match(const struct net_cidr *c, const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return net_cidr_match_raw(c, AF_INET, &((const struct sockaddr_in *)sa)->sin_addr);
	if (sa->sa_family == AF_INET6)
		return net_cidr_match_raw(c, AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr);
	return 0;
}

const char *
net_cidr_str(const struct net_cidr *c, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];
	if (inet_ntop(c->family, c->addr, host, sizeof(host)) == NULL)
		snprintf(buf, len, "?");
	else
		snprintf(buf, len, "%s/%u", host, c->prefix);
	return buf;
}
