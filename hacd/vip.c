/*
 * hacd/vip.c — the kernel side of VIP ownership.
 *
 * hacd's election (hacd/election.c) decides who owns each VIP; main.c then
 * calls this module to make the kernel agree: add or remove the address
 * through rtnetlink (libnl-route-3, as keepalived does), announce the new
 * owner's MAC with a gratuitous ARP or an unsolicited neighbour
 * advertisement from a packet socket, and report link and address changes
 * from a netlink monitor socket so that a VIP removed behind hacd's back is
 * put back and a link that loses its carrier lowers the node's priority.
 *
 * Two netlink sockets: `req` for synchronous requests (each waits for the
 * kernel's ack, so a caller knows the address is really there when vip_add
 * returns) and `mon`, subscribed to link and address groups, which never
 * carries requests so that acks and notifications never mix. Everything
 * runs on hacd's single event-loop thread.
 *
 * This is the only code in tandem that needs CAP_NET_ADMIN (addresses) and
 * CAP_NET_RAW (the packet socket).
 */
#include "hacd/vip.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/if_packet.h>
#include <linux/rtnetlink.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/icmp6.h>
#include <netinet/if_ether.h>
#include <netinet/in.h>
#include <netinet/ip6.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <netlink/netlink.h>
#include <netlink/msg.h>
#include <netlink/socket.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>

#include "lib/log.h"

/* The monitor's receive buffer: large enough that a burst of address
 * changes (a peer's VIPs moving, a link flap) does not overrun it; an
 * overrun is still handled (a full re-check), just not expected. */
#define VIP_MON_RCVBUF (1 << 20)

/* Upper bound on netlink reads per vip_monitor_read call, so a storm of
 * notifications cannot starve the rest of the event loop; the socket stays
 * readable and the loop comes back. */
#define VIP_MON_BATCH 64

struct vip_ctx {
	struct nl_sock *req;    /* requests with acks */
	struct nl_sock *mon;    /* notifications only; NULL if it failed */
	struct nl_cb *mon_cb;   /* mon's callback set (our reference) */
	int pkt_fd;             /* AF_PACKET for announcements, opened lazily */
	/* vip_monitor_read's callback and argument, valid during one call */
	void (*cb)(void *arg, int event, const char *ifname);
	void *cb_arg;
};

/* ---- parsing -------------------------------------------------------- */

static int
vip_addr_usable(int family, const uint8_t *a)
{
	static const uint8_t zero[16];

	if (family == AF_INET) {
		/* 0.0.0.0/8, 127/8 and 224/4 can never be a service address. */
		if (a[0] == 0 || a[0] == 127 || (a[0] & 0xf0) == 0xe0)
			return 0;
		if (a[0] == 255 && a[1] == 255 && a[2] == 255 && a[3] == 255)
			return 0;
		return 1;
	}
	if (memcmp(a, zero, 16) == 0)
		return 0; /* :: */
	if (memcmp(a, zero, 15) == 0 && a[15] == 1)
		return 0; /* ::1 */
	if (a[0] == 0xff)
		return 0; /* multicast */
	return 1;
}

int
vip_parse(const char *cidr, const char *ifname, struct vip_addr *out)
{
	char host[INET6_ADDRSTRLEN + 1], canon[INET6_ADDRSTRLEN];
	const char *slash;
	size_t hlen;
	unsigned long prefix;
	int maxprefix;

	if (cidr == NULL || ifname == NULL || out == NULL)
		goto inval;
	memset(out, 0, sizeof(*out));
	if (ifname[0] == '\0' || strlen(ifname) >= sizeof(out->ifname) ||
	    strlen(ifname) >= IFNAMSIZ)
		goto inval;
	memcpy(out->ifname, ifname, strlen(ifname) + 1);

	slash = strchr(cidr, '/');
	hlen = slash != NULL ? (size_t)(slash - cidr) : strlen(cidr);
	if (hlen == 0 || hlen >= sizeof(host))
		goto inval;
	memcpy(host, cidr, hlen);
	host[hlen] = '\0';

	if (inet_pton(AF_INET, host, out->addr) == 1) {
		out->family = AF_INET;
		maxprefix = 32;
	} else if (inet_pton(AF_INET6, host, out->addr) == 1) {
		out->family = AF_INET6;
		maxprefix = 128;
	} else {
		goto inval;
	}

	if (slash == NULL) {
		prefix = (unsigned long)maxprefix;
	} else {
		char *end;

		/* Digits only: strtoul would accept "+24", " 24" and "-0". */
		if (slash[1] < '0' || slash[1] > '9' || strlen(slash + 1) > 3)
			goto inval;
		errno = 0;
		prefix = strtoul(slash + 1, &end, 10);
		if (errno != 0 || *end != '\0' || prefix > (unsigned long)maxprefix)
			goto inval;
	}
	/* A VIP is one host address, so /0 would make the kernel route the
	 * whole address space to this link. */
	if (prefix == 0)
		goto inval;
	out->prefix = (uint8_t)prefix;

	if (!vip_addr_usable(out->family, out->addr))
		goto inval;
	if (inet_ntop(out->family, out->addr, canon, sizeof(canon)) == NULL)
		goto inval;
	snprintf(out->text, sizeof(out->text), "%s/%u", canon, out->prefix);
	return 0;
inval:
	errno = EINVAL;
	return -1;
}

/* ---- context -------------------------------------------------------- */

static int vip_mon_valid(struct nl_msg *msg, void *arg);

static struct nl_sock *
vip_sock_open(void)
{
	struct nl_sock *sk;
	int err;

	if ((sk = nl_socket_alloc()) == NULL) {
		log_warnx("vip: netlink socket: out of memory");
		return NULL;
	}
	if ((err = nl_connect(sk, NETLINK_ROUTE)) < 0) {
		log_warnx("vip: netlink connect: %s", nl_geterror(err));
		nl_socket_free(sk);
		return NULL;
	}
	/* Every socket hacd keeps must not leak into notify-hook scripts. */
	{
		int fd = nl_socket_get_fd(sk);
		int fl = fcntl(fd, F_GETFD);

		if (fl != -1)
			(void)fcntl(fd, F_SETFD, fl | FD_CLOEXEC);
	}
	return sk;
}

static struct nl_sock *
vip_mon_open(struct vip_ctx *ctx)
{
	struct nl_sock *sk;
	int err;

	if ((sk = vip_sock_open()) == NULL)
		return NULL;
	/* Notifications carry sequence number 0: no sequence checking. */
	nl_socket_disable_seq_check(sk);
	nl_socket_modify_cb(sk, NL_CB_VALID, NL_CB_CUSTOM, vip_mon_valid, ctx);
	if ((err = nl_socket_add_memberships(sk, RTNLGRP_LINK,
	    RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR, 0)) < 0) {
		log_warnx("vip: netlink monitor: join groups: %s",
		    nl_geterror(err));
		goto fail;
	}
	if ((err = nl_socket_set_nonblocking(sk)) < 0) {
		log_warnx("vip: netlink monitor: nonblocking: %s",
		    nl_geterror(err));
		goto fail;
	}
	if ((err = nl_socket_set_buffer_size(sk, VIP_MON_RCVBUF, 0)) < 0)
		log_warnx("vip: netlink monitor: receive buffer: %s "
		    "(continuing with the default)", nl_geterror(err));
	return sk;
fail:
	nl_socket_free(sk);
	return NULL;
}

struct vip_ctx *
vip_ctx_new(void)
{
	struct vip_ctx *ctx;

	if ((ctx = calloc(1, sizeof(*ctx))) == NULL) {
		log_warn("vip: context");
		return NULL;
	}
	ctx->pkt_fd = -1;
	if ((ctx->req = vip_sock_open()) == NULL)
		goto fail;
	if ((ctx->mon = vip_mon_open(ctx)) == NULL)
		goto fail;
	/* Kept so vip_monitor_read can count messages per read
	 * (nl_recvmsgs_report), which nl_recvmsgs_default cannot. */
	if ((ctx->mon_cb = nl_socket_get_cb(ctx->mon)) == NULL) {
		log_warnx("vip: netlink monitor: no callback set");
		goto fail;
	}
	return ctx;
fail:
	vip_ctx_free(ctx);
	return NULL;
}

void
vip_ctx_free(struct vip_ctx *ctx)
{
	if (ctx == NULL)
		return;
	if (ctx->req != NULL)
		nl_socket_free(ctx->req); /* closes the fd */
	if (ctx->mon_cb != NULL)
		nl_cb_put(ctx->mon_cb);
	if (ctx->mon != NULL)
		nl_socket_free(ctx->mon);
	if (ctx->pkt_fd != -1)
		close(ctx->pkt_fd);
	free(ctx);
}

/* ---- addresses ------------------------------------------------------ */

/* Build the rtnl_addr for `vip` on interface index `ifindex`; NULL on
 * allocation failure (logged). */
static struct rtnl_addr *
vip_rtnl_addr(const struct vip_addr *vip, int ifindex)
{
	struct rtnl_addr *ra;
	struct nl_addr *local;
	size_t alen = vip->family == AF_INET ? 4 : 16;

	if ((ra = rtnl_addr_alloc()) == NULL)
		goto nomem;
	if ((local = nl_addr_build(vip->family, vip->addr, alen)) == NULL) {
		rtnl_addr_put(ra);
		goto nomem;
	}
	nl_addr_set_prefixlen(local, vip->prefix);
	rtnl_addr_set_ifindex(ra, ifindex);
	rtnl_addr_set_family(ra, vip->family);
	/* rtnl_addr_set_local takes its own reference and sets the prefix
	 * length from the address. */
	(void)rtnl_addr_set_local(ra, local);
	nl_addr_put(local);
	rtnl_addr_set_prefixlen(ra, vip->prefix);
	if (vip->family == AF_INET6)
		/* No duplicate address detection: the VIP must be usable (and
		 * announceable) at once, and the previous owner is meant to
		 * still hold it for a moment during make-before-break. */
		rtnl_addr_set_flags(ra, IFA_F_NODAD);
	return ra;
nomem:
	log_warnx("vip %s dev %s: out of memory", vip->text, vip->ifname);
	return NULL;
}

int
vip_add(struct vip_ctx *ctx, const struct vip_addr *vip)
{
	struct rtnl_addr *ra;
	unsigned int ifindex;
	int err;

	if ((ifindex = if_nametoindex(vip->ifname)) == 0) {
		log_warn("vip %s: add: interface %s", vip->text, vip->ifname);
		return -1;
	}
	if ((ra = vip_rtnl_addr(vip, (int)ifindex)) == NULL)
		return -1;
	err = rtnl_addr_add(ctx->req, ra, 0);
	rtnl_addr_put(ra);
	if (err < 0 && err != -NLE_EXIST) {
		log_warnx("vip %s dev %s: add: %s", vip->text, vip->ifname,
		    nl_geterror(err));
		return -1;
	}
	return 0;
}

int
vip_del(struct vip_ctx *ctx, const struct vip_addr *vip)
{
	struct rtnl_addr *ra;
	unsigned int ifindex;
	int err;

	/* An interface that has gone took its addresses with it. */
	if ((ifindex = if_nametoindex(vip->ifname)) == 0)
		return 0;
	if ((ra = vip_rtnl_addr(vip, (int)ifindex)) == NULL)
		return -1;
	err = rtnl_addr_delete(ctx->req, ra, 0);
	rtnl_addr_put(ra);
	if (err < 0 && err != -NLE_NOADDR && err != -NLE_OBJ_NOTFOUND &&
	    err != -NLE_NODEV) {
		log_warnx("vip %s dev %s: delete: %s", vip->text, vip->ifname,
		    nl_geterror(err));
		return -1;
	}
	return 0;
}

int
vip_present(struct vip_ctx *ctx, const struct vip_addr *vip)
{
	struct nl_cache *cache;
	struct nl_object *obj;
	unsigned int ifindex;
	size_t alen = vip->family == AF_INET ? 4 : 16;
	int err, found = 0;

	if ((ifindex = if_nametoindex(vip->ifname)) == 0)
		return 0;
	/* A fresh dump every time: the point is to catch changes made
	 * behind hacd's back, which a cache would hide. */
	if ((err = rtnl_addr_alloc_cache(ctx->req, &cache)) < 0) {
		log_warnx("vip %s dev %s: address dump: %s", vip->text,
		    vip->ifname, nl_geterror(err));
		return -1;
	}
	for (obj = nl_cache_get_first(cache); obj != NULL && !found;
	    obj = nl_cache_get_next(obj)) {
		struct rtnl_addr *ra = (struct rtnl_addr *)obj;
		struct nl_addr *local = rtnl_addr_get_local(ra);

		if (rtnl_addr_get_ifindex(ra) != (int)ifindex ||
		    rtnl_addr_get_family(ra) != vip->family || local == NULL ||
		    rtnl_addr_get_prefixlen(ra) != vip->prefix ||
		    nl_addr_get_len(local) != alen)
			continue;
		if (memcmp(nl_addr_get_binary_addr(local), vip->addr, alen) == 0)
			found = 1;
	}
	nl_cache_free(cache);
	return found;
}

/* ---- links ---------------------------------------------------------- */

int
vip_link_up(struct vip_ctx *ctx, const char *ifname)
{
	struct rtnl_link *link;
	unsigned int flags;
	int err;

	if ((err = rtnl_link_get_kernel(ctx->req, 0, ifname, &link)) < 0) {
		if (err == -NLE_NODEV || err == -NLE_OBJ_NOTFOUND)
			return 0;
		log_warnx("vip: link %s: %s", ifname, nl_geterror(err));
		return -1;
	}
	flags = rtnl_link_get_flags(link);
	rtnl_link_put(link);
	/* IFF_RUNNING is the kernel's "operationally up": carrier present.
	 * A veth whose peer is down, or a NIC with its cable pulled, is UP
	 * but not RUNNING, and must not hold a VIP. */
	return (flags & IFF_UP) && (flags & IFF_RUNNING) ? 1 : 0;
}

/* ---- announcements -------------------------------------------------- */

static int
vip_pkt_socket(struct vip_ctx *ctx)
{
	if (ctx->pkt_fd != -1)
		return ctx->pkt_fd;
	/* Protocol 0: the socket only sends, so the kernel never queues a
	 * received frame on it. SOCK_DGRAM: the kernel writes the Ethernet
	 * header from sockaddr_ll and the interface's own MAC. */
	ctx->pkt_fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (ctx->pkt_fd == -1)
		log_warn("vip: packet socket (needs CAP_NET_RAW)");
	return ctx->pkt_fd;
}

/* Interface index and Ethernet MAC of `ifname` via `fd`; 0/-1 logged. */
static int
vip_if_mac(int fd, const struct vip_addr *vip, int *ifindex, uint8_t mac[6])
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, vip->ifname, strlen(vip->ifname) + 1);
	if (ioctl(fd, SIOCGIFINDEX, &ifr) == -1) {
		log_warn("vip %s: announce: interface %s", vip->text,
		    vip->ifname);
		return -1;
	}
	*ifindex = ifr.ifr_ifindex;
	if (ioctl(fd, SIOCGIFHWADDR, &ifr) == -1) {
		log_warn("vip %s: announce: %s: hardware address", vip->text,
		    vip->ifname);
		return -1;
	}
	if (ifr.ifr_hwaddr.sa_family != ARPHRD_ETHER) {
		log_warnx("vip %s: announce: %s is not Ethernet (type %u)",
		    vip->text, vip->ifname, ifr.ifr_hwaddr.sa_family);
		return -1;
	}
	memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
	return 0;
}

/* RFC 1071 ones' complement sum, continued from `sum`. */
static uint32_t
vip_csum_add(uint32_t sum, const void *data, size_t len)
{
	const uint8_t *p = data;

	for (; len > 1; p += 2, len -= 2)
		sum += (uint32_t)p[0] << 8 | p[1];
	if (len == 1)
		sum += (uint32_t)p[0] << 8;
	return sum;
}

static uint16_t
vip_csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* Gratuitous ARP request: RFC 5227 §3 ("ARP Announcement": both sender
 * and target protocol address are the announced address, target hardware
 * address zero) in RFC 826 format, to the broadcast MAC. A request rather
 * than a reply because every stack updates an existing cache entry from a
 * request's sender fields (RFC 826, "merge_flag"). */
static size_t
vip_build_garp(const struct vip_addr *vip, const uint8_t mac[6], uint8_t *out)
{
	struct ether_arp arp;

	memset(&arp, 0, sizeof(arp));
	arp.arp_hrd = htons(ARPHRD_ETHER);
	arp.arp_pro = htons(ETHERTYPE_IP);
	arp.arp_hln = 6;
	arp.arp_pln = 4;
	arp.arp_op = htons(ARPOP_REQUEST);
	memcpy(arp.arp_sha, mac, 6);
	memcpy(arp.arp_spa, vip->addr, 4);
	memcpy(arp.arp_tpa, vip->addr, 4);
	memcpy(out, &arp, sizeof(arp));
	return sizeof(arp);
}

/* Unsolicited Neighbor Advertisement (RFC 4861 §7.2.6): to all-nodes
 * ff02::1, Solicited = 0 (required for a multicast destination, §7.1.2),
 * Override = 1 so receivers replace the old owner's MAC, Router = 0, a
 * Target Link-Layer Address option, hop limit 255 (receivers drop NAs with
 * any other, §7.1.2). Source: the VIP itself, an address of the interface
 * (§4.4). Returns the length of IPv6 header + ICMPv6 message. */
static size_t
vip_build_una(const struct vip_addr *vip, const uint8_t mac[6], uint8_t *out)
{
	static const uint8_t all_nodes[16] = {
		0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 };
	struct ip6_hdr ip6;
	struct nd_neighbor_advert na;
	uint8_t opt[8];
	uint8_t pseudo[40];
	uint16_t plen = (uint16_t)(sizeof(na) + sizeof(opt));
	uint32_t sum;
	uint16_t csum;

	memset(&na, 0, sizeof(na));
	na.nd_na_type = ND_NEIGHBOR_ADVERT;
	na.nd_na_code = 0;
	na.nd_na_flags_reserved = ND_NA_FLAG_OVERRIDE;
	memcpy(&na.nd_na_target, vip->addr, 16);
	opt[0] = ND_OPT_TARGET_LINKADDR;
	opt[1] = 1; /* length in units of 8 octets */
	memcpy(opt + 2, mac, 6);

	/* ICMPv6 checksum over the pseudo-header (RFC 8200 §8.1). */
	memcpy(pseudo, vip->addr, 16);
	memcpy(pseudo + 16, all_nodes, 16);
	pseudo[32] = 0;
	pseudo[33] = 0;
	pseudo[34] = (uint8_t)(plen >> 8);
	pseudo[35] = (uint8_t)plen;
	pseudo[36] = 0;
	pseudo[37] = 0;
	pseudo[38] = 0;
	pseudo[39] = IPPROTO_ICMPV6;
	sum = vip_csum_add(0, pseudo, sizeof(pseudo));
	sum = vip_csum_add(sum, &na, sizeof(na));
	sum = vip_csum_add(sum, opt, sizeof(opt));
	csum = vip_csum_fold(sum);
	na.nd_na_hdr.icmp6_cksum = htons(csum);

	memset(&ip6, 0, sizeof(ip6));
	ip6.ip6_flow = htonl(6u << 28);
	ip6.ip6_plen = htons(plen);
	ip6.ip6_nxt = IPPROTO_ICMPV6;
	ip6.ip6_hlim = 255;
	memcpy(&ip6.ip6_src, vip->addr, 16);
	memcpy(&ip6.ip6_dst, all_nodes, 16);

	memcpy(out, &ip6, sizeof(ip6));
	memcpy(out + sizeof(ip6), &na, sizeof(na));
	memcpy(out + sizeof(ip6) + sizeof(na), opt, sizeof(opt));
	return sizeof(ip6) + plen;
}

int
vip_announce(struct vip_ctx *ctx, const struct vip_addr *vip)
{
	uint8_t pkt[128], mac[6];
	struct sockaddr_ll sll;
	size_t len;
	int fd, ifindex;

	if ((fd = vip_pkt_socket(ctx)) == -1)
		return -1;
	if (vip_if_mac(fd, vip, &ifindex, mac) == -1)
		return -1;

	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_ifindex = ifindex;
	sll.sll_halen = 6;
	if (vip->family == AF_INET) {
		len = vip_build_garp(vip, mac, pkt);
		sll.sll_protocol = htons(ETH_P_ARP);
		memset(sll.sll_addr, 0xff, 6);
	} else {
		/* ff02::1 maps to 33:33:00:00:00:01 (RFC 2464 §7). */
		static const uint8_t mc[6] = { 0x33, 0x33, 0, 0, 0, 1 };

		len = vip_build_una(vip, mac, pkt);
		sll.sll_protocol = htons(ETH_P_IPV6);
		memcpy(sll.sll_addr, mc, 6);
	}
	for (;;) {
		ssize_t n = sendto(fd, pkt, len, 0, (struct sockaddr *)&sll,
		    sizeof(sll));

		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			/* ENETDOWN when the link is down: the caller repeats
			 * announcements and re-checks the link anyway. */
			log_warn("vip %s: announce on %s", vip->text,
			    vip->ifname);
			return -1;
		}
		return 0;
	}
}

/* ---- monitor -------------------------------------------------------- */

int
vip_monitor_fd(struct vip_ctx *ctx)
{
	if (ctx->mon == NULL)
		return -1;
	return nl_socket_get_fd(ctx->mon);
}

/* libnl's NL_CB_VALID callback on the monitor socket: one notification. */
static int
vip_mon_valid(struct nl_msg *msg, void *arg)
{
	struct vip_ctx *ctx = arg;
	struct nlmsghdr *nlh = nlmsg_hdr(msg);
	char name[IF_NAMESIZE + 1] = "";
	int event;

	if (ctx->cb == NULL)
		return NL_OK;
	switch (nlh->nlmsg_type) {
	case RTM_NEWLINK:
	case RTM_DELLINK: {
		struct nlattr *a;

		if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(struct ifinfomsg)))
			return NL_SKIP;
		event = VIP_EV_LINK;
		a = nlmsg_find_attr(nlh, sizeof(struct ifinfomsg), IFLA_IFNAME);
		if (a != NULL)
			nla_strlcpy(name, a, sizeof(name));
		else
			(void)if_indextoname((unsigned)((struct ifinfomsg *)
			    nlmsg_data(nlh))->ifi_index, name);
		break;
	}
	case RTM_NEWADDR:
	case RTM_DELADDR: {
		struct ifaddrmsg *ifa;

		if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(struct ifaddrmsg)))
			return NL_SKIP;
		ifa = nlmsg_data(nlh);
		event = VIP_EV_ADDR;
		/* The interface may be gone already (RTM_DELADDR on unplug):
		 * then name stays "" and the callback re-checks everything. */
		if (if_indextoname(ifa->ifa_index, name) == NULL)
			name[0] = '\0';
		break;
	}
	default:
		return NL_SKIP;
	}
	ctx->cb(ctx->cb_arg, event, name);
	return NL_OK;
}

void
vip_monitor_read(struct vip_ctx *ctx,
    void (*cb)(void *arg, int event, const char *ifname), void *arg)
{
	int i, n;

	if (ctx->mon == NULL)
		return;
	ctx->cb = cb;
	ctx->cb_arg = arg;
	for (i = 0; i < VIP_MON_BATCH; i++) {
		/* > 0 messages handled, 0 nothing left (EAGAIN), < 0 error. */
		n = nl_recvmsgs_report(ctx->mon, ctx->mon_cb);
		if (n > 0)
			continue;
		if (n == 0)
			break;
		if (n == -NLE_NOMEM) {
			/* ENOBUFS: the kernel dropped notifications. Ask the
			 * caller to re-check every VIP and link. */
			log_warnx("vip: netlink monitor overrun; re-checking "
			    "all links and addresses");
			if (cb != NULL) {
				cb(arg, VIP_EV_LINK, "");
				cb(arg, VIP_EV_ADDR, "");
			}
			continue;
		}
		if (n == -NLE_AGAIN)
			break;
		log_warnx("vip: netlink monitor: %s", nl_geterror(n));
		break;
	}
	ctx->cb = NULL;
	ctx->cb_arg = NULL;
}
