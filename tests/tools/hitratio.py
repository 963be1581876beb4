#!/usr/bin/env python3
"""tests/tools/hitratio.py — a cache's hit ratio as a client sees it, per
request, for scripts/bench-cache-failover.

GETs http://HOST/PREFIX<k>?cc=max-age%3D600 for keys k drawn from a Zipf
distribution (KEYS keys, exponent S) on one keep-alive connection (a new
one after any error or Connection: close, 0.5 s timeouts) for SECONDS, and
writes one line per request: wall-clock ms, then 1 (Cache-Status says hit),
0 (a miss or other answer from the cache) or E (no answer). A benchmark
tool: it asserts nothing.

usage: hitratio.py HOST SECONDS OUT [--keys 20000] [--s 1.0] [--prefix /c/k/] [--seed 1]
"""
import argparse
import http.client
import random
import socket
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("seconds", type=float)
    ap.add_argument("out")
    ap.add_argument("--keys", type=int, default=20000)
    ap.add_argument("--s", type=float, default=1.0)
    ap.add_argument("--prefix", default="/c/k/")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rnd = random.Random(a.seed)
    cum, tot = [], 0.0
    for i in range(a.keys):
        tot += 1.0 / (i + 1) ** a.s
        cum.append(tot)
    keys = range(a.keys)
    end = time.time() + a.seconds
    conn = None
    with open(a.out, "w") as out:
        while time.time() < end:
            k = rnd.choices(keys, cum_weights=cum)[0]
            res = "E"
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(a.host, 80, timeout=0.5)
                conn.request("GET", "%s%d?cc=max-age%%3D600" % (a.prefix, k))
                r = conn.getresponse()
                r.read()
                cs = r.getheader("Cache-Status") or ""
                res = "1" if "; hit" in cs else "0"
                if r.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException, socket.timeout):
                if conn is not None:
                    conn.close()
                conn = None
                time.sleep(0.01)
            out.write("%d %s\n" % (int(time.time() * 1000), res))


if __name__ == "__main__":
    main()
