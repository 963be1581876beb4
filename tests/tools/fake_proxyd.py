#!/usr/bin/env python3
# tests/tools/fake_proxyd.py — a process that claims to be proxyd on
# hacd.chan, for the integration tests of the channel's defences.
#
#   fake_proxyd.py SOCKET [--ready] [--admin UPSTREAM/SERVER] [--ticket]
#                         [--drain] [--hold SECONDS]
#
# Connects to SOCKET, sends ProxydHello and, with --ready, a ProxydStatus
# saying ready; with --admin a StateSync carrying a ServerAdmin entry that
# puts the server in maintenance, with --ticket one carrying a TLS ticket
# key, with --drain a DrainCommand (which only hacd sends); then stays for --hold seconds (default 1) reading what hacd sends.
# Prints one word: "refused" (connect failed: the socket's permissions),
# "closed" (hacd closed the connection) or "open" (still open at the end),
# then the number of frames hacd sent. Frames are lib/frame (a 4-byte
# big-endian length, then a tandem.ChannelMessage); the protobuf is
# written by hand here (field numbers from proto/tandem.proto) so the tool
# needs nothing beyond python3.
import os
import socket
import struct
import sys
import time


def varint(v):
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def field_varint(num, v):
    return varint(num << 3) + varint(v)


def field_bytes(num, b):
    return varint((num << 3) | 2) + varint(len(b)) + b


def frame(msg):
    return struct.pack(">I", len(msg)) + msg


def main():
    args = sys.argv[1:]
    if not args:
        sys.exit("usage: fake_proxyd.py SOCKET [--ready] [--admin UP/SRV] [--ticket] [--drain] [--hold S]")
    path = args.pop(0)
    ready = admin = ticket = drain = None
    hold = 1.0
    while args:
        a = args.pop(0)
        if a == "--ready":
            ready = True
        elif a == "--admin":
            admin = args.pop(0)
        elif a == "--ticket":
            ticket = True
        elif a == "--drain":
            drain = True
        elif a == "--hold":
            hold = float(args.pop(0))
        else:
            sys.exit("fake_proxyd.py: unknown option " + a)
    now = int(time.time() * 1000)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
    except OSError:
        print("refused 0")
        return
    out = b""
    # ChannelMessage.hello (1): ProxydHello{node = "fake" (1), pid (2)}
    out += frame(field_bytes(1, field_bytes(1, b"fake") + field_varint(2, os.getpid())))
    if ready:
        # ChannelMessage.status (2): ProxydStatus{ready (1), draining (2)}
        out += frame(field_bytes(2, field_varint(1, 1) + field_varint(2, 0)))
    sync = b""
    if admin:
        up, srv = admin.split("/", 1)
        # StateSync.admin (4): ServerAdmin{upstream 1, server 2, state 3 = MAINT (2), set_unix_ms 5}
        sync += field_bytes(4, field_bytes(1, up.encode()) + field_bytes(2, srv.encode()) +
                            field_varint(3, 2) + field_varint(5, now + 60000))
    if ticket:
        # StateSync.tickets (5): TicketKey{id 1, name 2 (16), secret 3 (32), created 4, expires 5}
        sync += field_bytes(5, field_varint(1, 0x7E57) + field_bytes(2, b"\xee" * 16) +
                            field_bytes(3, b"\x5a" * 32) + field_varint(4, now + 1000) +
                            field_varint(5, now + 3600000))
    if sync:
        out += frame(field_bytes(4, sync))   # ChannelMessage.sync (4)
    if drain:
        out += frame(field_bytes(3, field_varint(1, 1)))   # ChannelMessage.drain (3): {on}
    try:
        s.sendall(out)
    except OSError:
        print("closed 0")
        return
    end = time.monotonic() + hold
    buf = b""
    frames = 0
    state = "open"
    while time.monotonic() < end:
        s.settimeout(max(0.05, end - time.monotonic()))
        try:
            d = s.recv(65536)
        except socket.timeout:
            break
        except OSError:
            state = "closed"
            break
        if not d:
            state = "closed"
            break
        buf += d
        while len(buf) >= 4:
            n = struct.unpack(">I", buf[:4])[0]
            if len(buf) < 4 + n:
                break
            buf = buf[4 + n:]
            frames += 1
    print(state, frames)


main()
