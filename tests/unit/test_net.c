/*
 * tests/unit/test_net.c — lib/net: address parsing, CIDR matching, sockets.
 *
 * Parsers are tables of (text) -> (result, canonical form). Sockets are real
 * and on loopback only; unix sockets live in a private temporary directory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/net.h"

/* ---- address parsing ----------------------------------------------------------- */

static void
test_parse_addr_table(void **state)
{
	static const struct {
		const char *in;
		int default_port;
		int ok;
		const char *canon;   /* net_addr_str of the result */
	} cases[] = {
		{ "1.2.3.4:80", -1, 1, "1.2.3.4:80" },
		{ "127.0.0.1:0", -1, 1, "127.0.0.1:0" },
		{ "255.255.255.255:65535", -1, 1, "255.255.255.255:65535" },
		{ "[::1]:8080", -1, 1, "[::1]:8080" },
		{ "[::]:80", -1, 1, "[::]:80" },
		{ "[2001:db8::1]:443", -1, 1, "[2001:db8::1]:443" },
		{ "[::ffff:10.0.0.1]:1", -1, 1, "[::ffff:10.0.0.1]:1" },
		{ "[fe80::1%1]:80", -1, 1, NULL },       /* scope id 1 (lo) */
		{ "*:80", -1, 1, "0.0.0.0:80" },
		{ ":80", -1, 1, "0.0.0.0:80" },
		{ "1.2.3.4", 8080, 1, "1.2.3.4:8080" },
		{ "[::1]", 53, 1, "[::1]:53" },
		{ "::1", 53, 1, "[::1]:53" },
		{ "2001:db8::2", 0, 1, "[2001:db8::2]:0" },
		{ "*", 443, 1, "0.0.0.0:443" },
		{ "1.2.3.4:080", -1, 1, "1.2.3.4:80" },
		/* rejected */
		{ "", 80, 0, NULL },
		{ "1.2.3.4", -1, 0, NULL },              /* no port and no default */
		{ "1.2.3.4:", 80, 0, NULL },             /* empty port */
		{ "1.2.3.4:65536", -1, 0, NULL },
		{ "1.2.3.4:-1", -1, 0, NULL },
		{ "1.2.3.4:80x", -1, 0, NULL },
		{ "1.2.3.4:+80", -1, 0, NULL },
		{ "1.2.3.4:123456", -1, 0, NULL },
		{ "localhost:80", -1, 0, NULL },         /* no DNS */
		{ "example.com", 80, 0, NULL },
		{ "127.1:80", -1, 0, NULL },             /* inet_aton short form */
		{ "1.2.3.4.5:80", -1, 0, NULL },
		{ "256.1.1.1:80", -1, 0, NULL },
		{ " 1.2.3.4:80", -1, 0, NULL },
		{ "[::1]80", -1, 0, NULL },
		{ "[::1]:", -1, 0, NULL },
		{ "[::1", 80, 0, NULL },
		{ "[]:80", -1, 0, NULL },
		{ "[1.2.3.4]:80", -1, 0, NULL },
		{ "[::1%]:80", -1, 0, NULL },
		{ "[::1%no-such-if0]:80", -1, 0, NULL },
		{ "[::g]:80", -1, 0, NULL },
		{ ":", 80, 0, NULL },
		{ "1.2.3.4", 65536, 0, NULL },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sockaddr_storage ss;
		socklen_t len = 0;
		char buf[NET_ADDRSTRLEN];
		int r = net_parse_addr(cases[i].in, cases[i].default_port, &ss, &len);
		if (r != (cases[i].ok ? 0 : -1)) {
			print_error("'%s': got %d\n", cases[i].in, r);
			fail();
		}
		if (!cases[i].ok)
			continue;
		assert_int_equal(len, ss.ss_family == AF_INET ? sizeof(struct sockaddr_in)
		    : sizeof(struct sockaddr_in6));
		net_addr_str((struct sockaddr *)&ss, buf, sizeof(buf));
		if (cases[i].canon != NULL && strcmp(buf, cases[i].canon) != 0) {
			print_error("'%s': formatted '%s', want '%s'\n", cases[i].in, buf, cases[i].canon);
			fail();
		}
	}
}

static void
test_addr_str_and_equal(void **state)
{
	struct sockaddr_storage a, b, c;
	socklen_t l;
	char buf[NET_ADDRSTRLEN], tiny[4];
	(void)state;

	assert_int_equal(net_parse_addr("10.0.0.1:80", -1, &a, &l), 0);
	assert_int_equal(net_parse_addr("10.0.0.1:81", -1, &b, &l), 0);
	assert_int_equal(net_parse_addr("[::1]:80", -1, &c, &l), 0);
	assert_true(net_addr_equal((struct sockaddr *)&a, (struct sockaddr *)&a, 1));
	assert_false(net_addr_equal((struct sockaddr *)&a, (struct sockaddr *)&b, 1));
	assert_true(net_addr_equal((struct sockaddr *)&a, (struct sockaddr *)&b, 0));
	assert_false(net_addr_equal((struct sockaddr *)&a, (struct sockaddr *)&c, 0));
	assert_int_equal(net_addr_port((struct sockaddr *)&b), 81);
	assert_int_equal(net_addr_port((struct sockaddr *)&c), 80);

	assert_string_equal(net_addr_str((struct sockaddr *)&a, tiny, sizeof(tiny)), "?");
	struct sockaddr_un sun = { .sun_family = AF_UNIX, .sun_path = "/run/x.sock" };
	assert_string_equal(net_addr_str((struct sockaddr *)&sun, buf, sizeof(buf)), "unix:/run/x.sock");
	struct sockaddr other = { .sa_family = AF_PACKET };
	assert_string_equal(net_addr_str(&other, buf, sizeof(buf)), "?");
	assert_int_equal(net_addr_port(&other), -1);
}

/* ---- CIDR ------------------------------------------------------------------------ */

static void
test_cidr_parse_table(void **state)
{
	static const struct { const char *in; int ret; const char *canon; } cases[] = {
		{ "10.0.0.0/8", 0, "10.0.0.0/8" },
		{ "192.168.1.0/24", 0, "192.168.1.0/24" },
		{ "0.0.0.0/0", 0, "0.0.0.0/0" },
		{ "1.2.3.4", 0, "1.2.3.4/32" },
		{ "1.2.3.4/32", 0, "1.2.3.4/32" },
		{ "2001:db8::/32", 0, "2001:db8::/32" },
		{ "::/0", 0, "::/0" },
		{ "::1", 0, "::1/128" },
		{ "fe80::/10", 0, "fe80::/10" },
		{ "10.0.0.1/8", 1, "10.0.0.0/8" },          /* host bits cleared */
		{ "192.168.1.255/25", 1, "192.168.1.128/25" },
		{ "2001:db8::1/32", 1, "2001:db8::/32" },
		{ "10.0.0.0/33", -1, NULL },
		{ "::/129", -1, NULL },
		{ "10.0.0.0/", -1, NULL },
		{ "10.0.0.0/-1", -1, NULL },
		{ "10.0.0.0/8x", -1, NULL },
		{ "10.0.0.0/0008", -1, NULL },
		{ "/8", -1, NULL },
		{ "", -1, NULL },
		{ "10.0.0/8", -1, NULL },
		{ "host/8", -1, NULL },
		{ "10.0.0.0/8/8", -1, NULL },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct net_cidr c;
		char buf[NET_ADDRSTRLEN];
		int r = net_cidr_parse(cases[i].in, &c);
		if (r != cases[i].ret) {
			print_error("'%s': got %d want %d\n", cases[i].in, r, cases[i].ret);
			fail();
		}
		if (r >= 0)
			assert_string_equal(net_cidr_str(&c, buf, sizeof(buf)), cases[i].canon);
	}
}

static void
test_cidr_match_table(void **state)
{
	static const struct { const char *cidr; const char *addr; int match; } cases[] = {
		{ "10.0.0.0/8", "10.0.0.1", 1 },
		{ "10.0.0.0/8", "10.255.255.255", 1 },
		{ "10.0.0.0/8", "11.0.0.0", 0 },
		{ "10.0.0.0/8", "9.255.255.255", 0 },
		{ "192.168.1.128/25", "192.168.1.128", 1 },
		{ "192.168.1.128/25", "192.168.1.255", 1 },
		{ "192.168.1.128/25", "192.168.1.127", 0 },
		{ "172.16.0.0/12", "172.31.255.1", 1 },
		{ "172.16.0.0/12", "172.32.0.1", 0 },
		{ "0.0.0.0/0", "203.0.113.9", 1 },
		{ "1.2.3.4", "1.2.3.4", 1 },
		{ "1.2.3.4", "1.2.3.5", 0 },
		{ "10.0.0.0/8", "::ffff:10.1.2.3", 1 },        /* v4-mapped counts as v4 */
		{ "10.0.0.0/8", "::ffff:11.1.2.3", 0 },
		{ "10.0.0.0/8", "::a01:203", 0 },              /* v4-compatible is not mapped */
		{ "0.0.0.0/0", "::1", 0 },                     /* families never mix */
		{ "::/0", "10.0.0.1", 0 },
		{ "2001:db8::/32", "2001:db8::1", 1 },
		{ "2001:db8::/32", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", 1 },
		{ "2001:db8::/32", "2001:db9::", 0 },
		{ "fe80::/10", "febf::1", 1 },
		{ "fe80::/10", "fec0::1", 0 },
		{ "::1", "::1", 1 },
		{ "::1", "::2", 0 },
		{ "2001:db8::/127", "2001:db8::1", 1 },
		{ "2001:db8::/127", "2001:db8::2", 0 },
		{ "::/0", "2001:db8::2", 1 },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct net_cidr c;
		struct sockaddr_storage ss;
		socklen_t l;
		assert_true(net_cidr_parse(cases[i].cidr, &c) >= 0);
		assert_int_equal(net_parse_addr(cases[i].addr, 1, &ss, &l), 0);
		int m = net_cidr_match(&c, (struct sockaddr *)&ss);
		if (m != cases[i].match) {
			print_error("%s in %s: got %d\n", cases[i].addr, cases[i].cidr, m);
			fail();
		}
	}
	struct net_cidr c;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	assert_int_equal(net_cidr_parse("0.0.0.0/0", &c), 0);
	assert_int_equal(net_cidr_match(&c, (struct sockaddr *)&sun), 0);
}

/* ---- TCP and UDP on loopback ------------------------------------------------------- */

static void
wait_fd(int fd, short ev)
{
	struct pollfd p = { .fd = fd, .events = ev };
	assert_int_equal(poll(&p, 1, 10000), 1);   /* hang guard, not a threshold */
}

static void
tcp_roundtrip(const char *listen_addr)
{
	struct sockaddr_storage ss, bound;
	socklen_t l, bl = sizeof(bound);
	char buf[8];

	assert_int_equal(net_parse_addr(listen_addr, -1, &ss, &l), 0);
	int lfd = net_listen_tcp((struct sockaddr *)&ss, l, 1, 16);
	if (lfd == -1 && ss.ss_family == AF_INET6 && errno == EADDRNOTAVAIL) {
		skip();   /* no IPv6 loopback in this environment */
	}
	assert_true(lfd >= 0);
	assert_true(fcntl(lfd, F_GETFL) & O_NONBLOCK);
	assert_true(fcntl(lfd, F_GETFD) & FD_CLOEXEC);
	int one = 0;
	socklen_t ol = sizeof(one);
	assert_int_equal(getsockopt(lfd, SOL_SOCKET, SO_REUSEPORT, &one, &ol), 0);
	assert_int_equal(one, 1);
	if (ss.ss_family == AF_INET6) {
		assert_int_equal(getsockopt(lfd, IPPROTO_IPV6, IPV6_V6ONLY, &one, &ol), 0);
		assert_int_equal(one, 1);
	}
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&bound, &bl), 0);

	/* Nothing to accept yet. */
	errno = 0;
	assert_int_equal(net_accept(lfd, NULL, NULL), -1);
	assert_true(errno == EAGAIN || errno == EWOULDBLOCK);

	int cfd = net_connect_tcp((struct sockaddr *)&bound, bl);
	assert_true(cfd >= 0);
	assert_true(fcntl(cfd, F_GETFL) & O_NONBLOCK);
	wait_fd(cfd, POLLOUT);
	assert_int_equal(net_connect_result(cfd), 0);
	assert_int_equal(net_set_nodelay(cfd), 0);
	assert_int_equal(getsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, &ol), 0);
	assert_int_equal(one, 1);

	struct sockaddr_storage peer;
	socklen_t pl = 0;
	wait_fd(lfd, POLLIN);
	int afd = net_accept(lfd, &peer, &pl);
	assert_true(afd >= 0);
	assert_true(fcntl(afd, F_GETFL) & O_NONBLOCK);
	assert_int_equal(peer.ss_family, ss.ss_family);
	assert_int_equal(pl, ss.ss_family == AF_INET ? sizeof(struct sockaddr_in)
	    : sizeof(struct sockaddr_in6));

	assert_int_equal(write(cfd, "ping", 4), 4);
	wait_fd(afd, POLLIN);
	assert_int_equal(read(afd, buf, sizeof(buf)), 4);
	assert_memory_equal(buf, "ping", 4);
	close(afd);
	close(cfd);

	/* The listener is gone: a connect is refused, reported by
	 * net_connect_result (or at once by net_connect_tcp). */
	close(lfd);
	cfd = net_connect_tcp((struct sockaddr *)&bound, bl);
	if (cfd >= 0) {
		wait_fd(cfd, POLLOUT);
		errno = 0;
		assert_int_equal(net_connect_result(cfd), -1);
		assert_int_equal(errno, ECONNREFUSED);
		close(cfd);
	} else {
		assert_int_equal(errno, ECONNREFUSED);
	}
}

static void
test_tcp_v4(void **state)
{
	(void)state;
	tcp_roundtrip("127.0.0.1:0");
}

static void
test_tcp_v6(void **state)
{
	(void)state;
	tcp_roundtrip("[::1]:0");
}

static void
test_udp_bind(void **state)
{
	struct sockaddr_storage ss, bound;
	socklen_t l, bl = sizeof(bound);
	char buf[8];
	(void)state;

	assert_int_equal(net_parse_addr("127.0.0.1:0", -1, &ss, &l), 0);
	int fd = net_bind_udp((struct sockaddr *)&ss, l);
	assert_true(fd >= 0);
	assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&bound, &bl), 0);
	assert_int_equal(sendto(fd, "hb", 2, 0, (struct sockaddr *)&bound, bl), 2);
	wait_fd(fd, POLLIN);
	assert_int_equal(recv(fd, buf, sizeof(buf), 0), 2);
	close(fd);
}

/* Try to bind another socket to sa with SO_REUSEADDR (reuseaddr) or
 * SO_REUSEPORT; returns 0 if the bind worked, else errno. */
static int
thief_bind(const struct sockaddr *sa, socklen_t l, int reuseaddr, int wildcard)
{
	struct sockaddr_in any;
	int one = 1, fd, e = 0;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return errno;
	setsockopt(fd, SOL_SOCKET, reuseaddr ? SO_REUSEADDR : SO_REUSEPORT, &one, sizeof(one));
	if (wildcard) {
		memcpy(&any, sa, sizeof(any));
		any.sin_addr.s_addr = htonl(INADDR_ANY);
		sa = (const struct sockaddr *)&any;
		l = sizeof(any);
	}
	if (bind(fd, sa, l) == -1)
		e = errno;
	close(fd);
	return e;
}

/* The heartbeat theft: with SO_REUSEADDR on hacd's socket any local user
 * could bind the same address and port (SO_REUSEADDR too) and receive a
 * share of the peers' unicast heartbeats. net_bind_udp sockets share only
 * with each other (SO_REUSEPORT, same uid); another socket of this uid
 * without SO_REUSEPORT, and (when run as root) any socket of uid nobody,
 * gets EADDRINUSE, on the same address and on the wildcard. */
static void
test_udp_bind_not_shared(void **state)
{
	struct sockaddr_storage ss, bound;
	socklen_t l, bl = sizeof(bound);
	(void)state;

	assert_int_equal(net_parse_addr("127.0.0.1:0", -1, &ss, &l), 0);
	int fd = net_bind_udp((struct sockaddr *)&ss, l);
	assert_true(fd >= 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&bound, &bl), 0);
	/* hacd's own per-peer sockets share it. */
	int fd2 = net_bind_udp((struct sockaddr *)&bound, bl);
	assert_true(fd2 >= 0);
	close(fd2);
	assert_int_equal(thief_bind((struct sockaddr *)&bound, bl, 1, 0), EADDRINUSE);
	assert_int_equal(thief_bind((struct sockaddr *)&bound, bl, 1, 1), EADDRINUSE);
	if (geteuid() == 0) {
		pid_t pid = fork();
		int status;

		assert_true(pid != -1);
		if (pid == 0) {
			int bad = 0;

			if (setresgid(65534, 65534, 65534) == -1 || setresuid(65534, 65534, 65534) == -1)
				_exit(2);
			for (int addr = 0; addr < 2; addr++)
				for (int wild = 0; wild < 2; wild++)
					bad |= thief_bind((struct sockaddr *)&bound, bl, addr, wild) != EADDRINUSE;
			_exit(bad);
		}
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	close(fd);
}

static void
test_set_nonblock(void **state)
{
	int p[2];
	(void)state;
	assert_int_equal(pipe(p), 0);
	assert_false(fcntl(p[0], F_GETFL) & O_NONBLOCK);
	assert_int_equal(net_set_nonblock(p[0]), 0);
	assert_true(fcntl(p[0], F_GETFL) & O_NONBLOCK);
	assert_int_equal(net_set_nonblock(p[0]), 0);   /* already: fine */
	close(p[0]);
	close(p[1]);
	assert_int_equal(net_set_nonblock(p[0]), -1);
	assert_int_equal(net_set_nodelay(p[0]), -1);
}

/* ---- unix sockets --------------------------------------------------------------- */

static void
test_unix_listen_connect(void **state)
{
	char dir[] = "/tmp/test_net.XXXXXX";
	char path[256], file[256], longp[300];
	struct stat st;
	uid_t uid = (uid_t)-1;
	(void)state;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/ctl.sock", dir);
	snprintf(file, sizeof(file), "%s/regular", dir);

	int lfd = net_listen_unix(path, 0600);
	assert_true(lfd >= 0);
	assert_true(fcntl(lfd, F_GETFL) & O_NONBLOCK);
	assert_true(fcntl(lfd, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);

	/* A live listener is never stolen. */
	errno = 0;
	assert_int_equal(net_listen_unix(path, 0600), -1);
	assert_int_equal(errno, EADDRINUSE);

	int cfd = net_connect_unix(path);
	assert_true(cfd >= 0);
	assert_false(fcntl(cfd, F_GETFL) & O_NONBLOCK);   /* documented: blocking */
	assert_true(fcntl(cfd, F_GETFD) & FD_CLOEXEC);
	wait_fd(lfd, POLLIN);
	int afd = net_accept(lfd, NULL, NULL);
	assert_true(afd >= 0);
	assert_int_equal(net_peer_uid(afd, &uid), 0);
	assert_int_equal(uid, getuid());
	close(afd);
	close(cfd);

	/* Crash leftover: the file stays, nobody accepts; it is replaced. */
	close(lfd);
	assert_int_equal(lstat(path, &st), 0);
	lfd = net_listen_unix(path, 0660);
	assert_true(lfd >= 0);
	assert_int_equal(lstat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0660);
	close(lfd);
	unlink(path);

	/* Not a socket: never deleted. */
	int ffd = open(file, O_CREAT | O_WRONLY, 0600);
	assert_true(ffd >= 0);
	close(ffd);
	errno = 0;
	assert_int_equal(net_listen_unix(file, 0600), -1);
	assert_int_equal(errno, EEXIST);
	assert_int_equal(lstat(file, &st), 0);
	unlink(file);

	/* Nobody there. */
	errno = 0;
	assert_int_equal(net_connect_unix(path), -1);
	assert_int_equal(errno, ENOENT);

	/* Longer than sun_path. */
	memset(longp, 'a', sizeof(longp) - 1);
	longp[0] = '/';
	longp[sizeof(longp) - 1] = '\0';
	errno = 0;
	assert_int_equal(net_listen_unix(longp, 0600), -1);
	assert_int_equal(errno, ENAMETOOLONG);
	errno = 0;
	assert_int_equal(net_connect_unix(longp), -1);
	assert_int_equal(errno, ENAMETOOLONG);

	/* Not a unix socket: no peer credentials. */
	int p[2];
	assert_int_equal(pipe(p), 0);
	assert_int_equal(net_peer_uid(p[0], &uid), -1);
	close(p[0]);
	close(p[1]);
	assert_int_equal(rmdir(dir), 0);
}

/* Prefix masking (rate-limit keys in proxyd and hactl share it). */
static void
test_mask_bits(void **state)
{
	static const struct { int bits; uint8_t want[4]; } t[] = {
		{ 0, { 0, 0, 0, 0 } },
		{ 1, { 0x80, 0, 0, 0 } },
		{ 12, { 0xff, 0xf0, 0, 0 } },
		{ 24, { 0xff, 0xff, 0xff, 0 } },
		{ 31, { 0xff, 0xff, 0xff, 0xfe } },
		{ 32, { 0xff, 0xff, 0xff, 0xff } },
		{ 99, { 0xff, 0xff, 0xff, 0xff } },
		{ -5, { 0, 0, 0, 0 } },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		uint8_t a[4] = { 0xff, 0xff, 0xff, 0xff };

		net_mask_bits(a, sizeof(a), t[i].bits);
		if (memcmp(a, t[i].want, 4) != 0)
			fail_msg("bits %d: %02x%02x%02x%02x", t[i].bits, a[0], a[1], a[2], a[3]);
	}
}

static void test_is_loopback(void **state)
{
	static const struct { const char *addr; int want; } t[] = {
		{ "127.0.0.1:1", 1 }, { "127.255.0.9:1", 1 }, { "[::1]:1", 1 }, { "[::ffff:127.0.0.2]:1", 1 },
		{ "128.0.0.1:1", 0 }, { "10.99.0.1:1", 0 }, { "0.0.0.0:1", 0 }, { "[::]:1", 0 },
		{ "[::2]:1", 0 }, { "[::ffff:10.0.0.1]:1", 0 }, { "[fe80::1]:1", 0 },
	};
	struct sockaddr_storage ss;
	socklen_t len;

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		assert_int_equal(net_parse_addr(t[i].addr, -1, &ss, &len), 0);
		if (net_is_loopback((struct sockaddr *)&ss) != t[i].want)
			fail_msg("%s: loopback %d, want %d", t[i].addr, !t[i].want, t[i].want);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_addr_table),
		cmocka_unit_test(test_addr_str_and_equal),
		cmocka_unit_test(test_is_loopback),
		cmocka_unit_test(test_cidr_parse_table),
		cmocka_unit_test(test_mask_bits),
		cmocka_unit_test(test_cidr_match_table),
		cmocka_unit_test(test_tcp_v4),
		cmocka_unit_test(test_tcp_v6),
		cmocka_unit_test(test_udp_bind),
		cmocka_unit_test(test_udp_bind_not_shared),
		cmocka_unit_test(test_set_nonblock),
		cmocka_unit_test(test_unix_listen_connect),
	};
	return cmocka_run_group_tests_name("net", tests, NULL, NULL);
}
