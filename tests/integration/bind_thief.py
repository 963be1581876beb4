#!/usr/bin/env python3
# tests/integration/bind_thief.py — a local user trying to share hacd's UDP
# sockets (lib.sh's t_bind_theft runs it as uid nobody inside a node's
# namespace).
#
# For every address given with --bind (a node's heartbeat address, the
# wildcard, a multicast group) it tries both ways a second socket can share
# a bound UDP port on Linux: SO_REUSEADDR and SO_REUSEPORT, plus IPv6's
# dual-stack wildcard. A socket that binds is connected to --peer (a
# connected socket out-scores hacd's unconnected one, and ties with hacd's
# connected one: the newest wins), joins the group if the address is one,
# and reads for --hold seconds: on a hacd that allows the share, the peer's
# heartbeats land here and hacd declares the peer dead.
#
# With --tcp it tries to join a TCP listener instead (proxyd's SO_REUSEPORT
# listeners: a member of the group gets a share of the connections).
#
# Prints one line per attempt ("ADDR MODE refused EADDRINUSE" or "ADDR MODE
# bound") and, when anything bound, "stolen N" (datagrams read). Exit 0 when
# every attempt was refused with EADDRINUSE, 1 when one bound, 2 when one
# failed for another reason (the test would then prove nothing).
import argparse
import errno
import ipaddress
import select
import socket
import struct
import time


def hostport(s):
    host, _, port = s.rpartition(":")
    return host.strip("[]"), int(port)


def attempt(host, port, mode, tcp):
    v6 = ":" in host
    fd = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET,
                       socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM)
    if v6:
        fd.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    fd.setsockopt(socket.SOL_SOCKET,
                  socket.SO_REUSEADDR if mode == "reuseaddr" else socket.SO_REUSEPORT, 1)
    try:
        fd.bind((host, port))
        if tcp:
            fd.listen(16)
    except OSError as e:
        fd.close()
        return None, errno.errorcode.get(e.errno, str(e.errno))
    return fd, None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bind", action="append", required=True)
    ap.add_argument("--peer", required=True)
    ap.add_argument("--hold", type=float, default=2.0)
    ap.add_argument("--iface", default="eth0", help="where to join a group")
    ap.add_argument("--tcp", action="store_true", help="a listener instead (proxyd's ports)")
    a = ap.parse_args()
    peer = hostport(a.peer)
    held, rc = [], 0
    for b in a.bind:
        host, port = hostport(b)
        for mode in ("reuseaddr", "reuseport"):
            fd, err = attempt(host, port, mode, a.tcp)
            if fd is None:
                print(f"{b} {mode} refused {err}", flush=True)
                if err != "EADDRINUSE":
                    rc = max(rc, 2)
                continue
            print(f"{b} {mode} bound", flush=True)
            rc = 1
            if a.tcp:
                pass
            elif ":" not in host and ipaddress.ip_address(host).is_multicast:
                # struct ip_mreqn on the lab's eth0 (there is no multicast route).
                mreq = struct.pack("4s4si", socket.inet_aton(host), socket.inet_aton("0.0.0.0"),
                                   socket.if_nametoindex(a.iface))
                fd.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
            else:
                try:
                    fd.connect(peer if ":" not in host else ("::ffff:" + peer[0], peer[1]))
                except OSError:
                    pass
            fd.setblocking(False)
            held.append(fd)
    stolen = 0
    if held and not a.tcp:
        end = time.monotonic() + a.hold
        while (left := end - time.monotonic()) > 0:
            r, _, _ = select.select(held, [], [], left)
            for fd in r:
                try:
                    while fd.recv(2048):
                        stolen += 1
                except OSError:
                    pass
        print(f"stolen {stolen}", flush=True)
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
