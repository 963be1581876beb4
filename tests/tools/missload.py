#!/usr/bin/env python3
"""tests/tools/missload.py — exactly N HTTP/1.1 GETs over C keep-alive
connections, for scripts/bench-cache's miss-path figures (callgrind needs
a request count, not a duration, and a cacheable miss needs a URL that no
earlier request used).

    missload.py HOST:PORT PATH N [C]

PATH may hold "{n}", replaced by a number unique in this run and across
runs of the same process start (the counter starts at the wall-clock
microseconds), so every request of a "unique URL" workload is a miss.
Each connection sends a request, reads the whole response (Content-Length
or chunked), and sends the next. Prints the count of non-2xx answers;
exits 1 when a connection failed. Bounded: N requests, a 30 s deadline on
each read.
"""
import asyncio
import sys
import time


async def read_response(rd):
    head = await asyncio.wait_for(rd.readuntil(b"\r\n\r\n"), 30)
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length, chunked = 0, False
    for ln in lines[1:]:
        k, _, v = ln.partition(b":")
        k = k.strip().lower()
        if k == b"content-length":
            length = int(v.strip())
        elif k == b"transfer-encoding" and b"chunked" in v.lower():
            chunked = True
    if chunked:
        while True:
            size = int((await asyncio.wait_for(rd.readuntil(b"\r\n"), 30)).split(b";")[0], 16)
            await asyncio.wait_for(rd.readexactly(size + 2), 30)
            if size == 0:
                break
    elif length:
        await asyncio.wait_for(rd.readexactly(length), 30)
    return status


async def conn(host, port, path, quota, ctr, bad):
    rd, wr = await asyncio.open_connection(host, port)
    for _ in range(quota):
        ctr[0] += 1
        p = path.replace("{n}", str(ctr[0]))
        wr.write(b"GET " + p.encode() + b" HTTP/1.1\r\nHost: bench.test\r\nUser-Agent: missload\r\nAccept: */*\r\n\r\n")
        if await read_response(rd) // 100 != 2:
            bad[0] += 1
    wr.close()


async def main():
    hp, path, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    c = int(sys.argv[4]) if len(sys.argv) > 4 else 16
    host, _, port = hp.rpartition(":")
    ctr, bad = [int(time.time() * 1e6)], [0]
    quotas = [n // c + (1 if i < n % c else 0) for i in range(c)]
    await asyncio.gather(*(conn(host, int(port), path, q, ctr, bad) for q in quotas if q > 0))
    print(bad[0])


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError) as e:
        print("missload: %s" % e, file=sys.stderr)
        sys.exit(1)
