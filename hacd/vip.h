/*
 * hacd/vip.h — virtual IP addresses on local interfaces: add, remove and
 * check them through netlink (libnl-route-3), announce them with a
 * gratuitous ARP or an unsolicited neighbour advertisement, and watch link
 * and address changes so the event loop can react when a VIP is removed
 * behind hacd's back or an interface loses its carrier.
 *
 * This module is the only code in tandem that needs CAP_NET_ADMIN (netlink
 * address changes) and CAP_NET_RAW (the packet socket for announcements).
 * It holds no election state: hacd/election decides, this module obeys.
 */
#ifndef TANDEM_HACD_VIP_H
#define TANDEM_HACD_VIP_H

#include <stdint.h>

/* One virtual address on one interface. Filled by vip_parse(); plain data,
 * safe to copy. `addr` holds 4 bytes (AF_INET) or 16 bytes (AF_INET6) in
 * network byte order; `text` is the canonical "address/prefix" for logs. */
struct vip_addr {
	char ifname[16];
	int family;
	uint8_t addr[16];
	uint8_t prefix;
	char text[64];
};

/* Events reported by vip_monitor_read(). */
#define VIP_EV_LINK 1 /* a link changed state (up/down, carrier) */
#define VIP_EV_ADDR 2 /* an address was added to or removed from a link */

struct vip_ctx;

/*
 * Parse "10.99.0.100/24" or "fd00::100/64" (a missing prefix means a host
 * route: /32 or /128) for interface `ifname` into `out`.
 * Rejects: NULL arguments, an empty or too long interface name (IFNAMSIZ),
 * a malformed address, a prefix out of range or with trailing junk, and
 * addresses that cannot be a VIP (unspecified, multicast, loopback).
 * Returns 0, or -1 with errno = EINVAL (out is then unspecified).
 */
int vip_parse(const char *cidr, const char *ifname, struct vip_addr *out);

/*
 * Open the netlink sockets (one for requests, one for the monitor) and
 * the link cache. Returns a context owned by the caller (vip_ctx_free),
 * or NULL with a logged reason (a socket or memory error; opening the
 * sockets needs no capability, changing addresses does).
 */
struct vip_ctx *vip_ctx_new(void);

/* Close every socket and free the context; NULL is accepted. */
void vip_ctx_free(struct vip_ctx *ctx);

/*
 * Add the VIP to its interface (RTM_NEWADDR through rtnl_addr_add). An
 * address that is already there counts as success (EEXIST), so the call is
 * idempotent. Returns 0, or -1 with the reason logged (unknown interface,
 * no permission, netlink error).
 */
int vip_add(struct vip_ctx *ctx, const struct vip_addr *vip);

/*
 * Remove the VIP from its interface (RTM_DELADDR). An address that is not
 * there (ENOENT / EADDRNOTAVAIL) or an interface that has gone counts as
 * success. Returns 0, or -1 with the reason logged.
 */
int vip_del(struct vip_ctx *ctx, const struct vip_addr *vip);

/*
 * Ask the kernel whether the VIP (address and prefix) is configured on its
 * interface right now (a fresh RTM_GETADDR dump, not a cache).
 * Returns 1 present, 0 absent (including: the interface does not exist),
 * -1 on a netlink error (logged).
 */
int vip_present(struct vip_ctx *ctx, const struct vip_addr *vip);

/*
 * Send one announcement for the VIP from an AF_PACKET socket on its
 * interface, so that hosts and switches learn the new owner's MAC:
 *  - IPv4: a gratuitous ARP request, sender and target protocol address
 *    both the VIP, target hardware address zero, to the broadcast MAC
 *    (RFC 5227 §3, RFC 826);
 *  - IPv6: an unsolicited Neighbor Advertisement with the Override flag
 *    set, Solicited clear, a Target Link-Layer Address option, to ff02::1
 *    with hop limit 255, its source the VIP itself (an address assigned
 *    to the interface, as RFC 4861 §4.4 asks; Linux does the same)
 *    (RFC 4861 §7.2.6).
 * Repetition (count, spacing) is the caller's business. Returns 0, or -1
 * with the reason logged (no CAP_NET_RAW, interface gone or not Ethernet,
 * send failure).
 */
int vip_announce(struct vip_ctx *ctx, const struct vip_addr *vip);

/*
 * Link state of interface `ifname`, read fresh from the kernel.
 * Returns 1 when it is administratively up (IFF_UP) and has carrier
 * (IFF_RUNNING), 0 when not (or when it does not exist), -1 on a netlink
 * error (logged).
 */
int vip_link_up(struct vip_ctx *ctx, const char *ifname);

/*
 * A nonblocking netlink socket subscribed to RTNLGRP_LINK,
 * RTNLGRP_IPV4_IFADDR and RTNLGRP_IPV6_IFADDR, for the caller's event
 * loop (read readiness). The fd stays owned by the context; do not close
 * it. Returns the fd, or -1 if the monitor could not be opened.
 */
int vip_monitor_fd(struct vip_ctx *ctx);

/*
 * Drain every pending message from the monitor socket and call
 * cb(arg, VIP_EV_LINK or VIP_EV_ADDR, ifname) once per link or address
 * notification (ifname "" if the interface could not be named). The
 * callback only learns that something changed; it should re-check with
 * vip_present() / vip_link_up(). On a receive buffer overrun (ENOBUFS)
 * events may have been lost, so cb is called with VIP_EV_LINK and
 * VIP_EV_ADDR and ifname "" to force a full re-check. Never blocks.
 */
void vip_monitor_read(struct vip_ctx *ctx,
    void (*cb)(void *arg, int event, const char *ifname), void *arg);

#endif /* TANDEM_HACD_VIP_H */
