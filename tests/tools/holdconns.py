#!/usr/bin/env python3
"""tests/tools/holdconns.py - hold N keep-alive HTTP/1.1 connections and see which break.

Opens N connections to HOST:PORT, then, round after round, sends one GET on
each and reads the whole response (Content-Length framed), until SECONDS pass
or STOPFILE exists. Once every connection has answered its first request it
writes READYFILE: one line per connection, "index local_port". At the end it
prints one JSON object: per connection its local port, requests answered,
and how it ended ("ok": still open and answering; "closed": the server
closed it cleanly after a response that said Connection: close, or at an
idle moment; "broken": reset, a timeout, or an answer cut short).

A connection that moves to a node that does not know it is reset by that
node (or hangs until the timeout): "broken". test_bgp.sh counts those among
the connections that were on nodes that stayed.
"""
import argparse
import json
import os
import socket
import sys
import time


def read_response(s, timeout):
    """Read one response; return (ok, server_closes)."""
    s.settimeout(timeout)
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(4096)
        if not chunk:
            return False, True
        buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    if not lines[0].startswith(b"HTTP/1.1 2"):
        return False, False
    length = 0
    closes = False
    for ln in lines[1:]:
        k, _, v = ln.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v.strip())
        if k.strip().lower() == b"connection" and v.strip().lower() == b"close":
            closes = True
    while len(body) < length:
        chunk = s.recv(4096)
        if not chunk:
            return False, True
        body += chunk
    return True, closes


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("-n", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--interval", type=float, default=0.1)
    ap.add_argument("--timeout", type=float, default=2.0)
    ap.add_argument("--ready", required=True)
    ap.add_argument("--stop", required=True)
    a = ap.parse_args()

    req = ("GET / HTTP/1.1\r\nHost: %s\r\nUser-Agent: holdconns\r\n\r\n" % a.host).encode()
    conns = []
    for i in range(a.n):
        s = socket.create_connection((a.host, a.port), timeout=a.timeout)
        conns.append({"i": i, "sock": s, "port": s.getsockname()[1], "answered": 0, "end": "ok", "why": ""})
    end = time.time() + a.seconds
    first = True
    while time.time() < end and not os.path.exists(a.stop):
        t0 = time.time()
        for c in conns:
            if c["end"] != "ok":
                continue
            try:
                c["sock"].sendall(req)
                ok, closes = read_response(c["sock"], a.timeout)
            except (OSError, ValueError) as e:
                c["end"], c["why"] = "broken", "%s at %.3f" % (type(e).__name__, time.time())
                continue
            if ok:
                c["answered"] += 1
                if closes:
                    c["end"], c["why"] = "closed", "Connection: close"
            elif c["answered"] > 0 and closes:
                # The server closed between two requests (an idle
                # keep-alive closed by a draining proxyd): clean.
                c["end"], c["why"] = "closed", "closed while idle"
            else:
                c["end"], c["why"] = "broken", "bad or cut response at %.3f" % time.time()
        if first:
            with open(a.ready + ".tmp", "w") as f:
                for c in conns:
                    f.write("%d %d\n" % (c["i"], c["port"]))
            os.rename(a.ready + ".tmp", a.ready)
            first = False
        left = a.interval - (time.time() - t0)
        if left > 0:
            time.sleep(left)
    out = [{"i": c["i"], "port": c["port"], "answered": c["answered"], "end": c["end"], "why": c["why"]}
           for c in conns]
    for c in conns:
        c["sock"].close()
    json.dump(out, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
