#!/usr/bin/env python3
"""tests/tools/soakload.py - the soak's continuous client load (scripts/soak).

Runs in the lab's client namespace until STOPFILE exists or --seconds pass,
and writes one line per request to --out:

    START_MS END_MS VIP KIND RESULT

(wall-clock milliseconds since the epoch, so scripts/soak can attribute each
request to the fault window it overlapped; RESULT is "ok" or the reason it
failed: refused, timeout, reset, eof, status-NNN, tls, ws-..., error).

Kinds, each against every VIP given:
  ka      plain HTTP/1.1 keep-alive: requests on one connection (strict: a
          request on a reused connection that dies is a failure, never
          retried; a connection the server closed while idle is simply
          reopened, as RFC 9112 9.3 lets every client do)
  new     plain HTTP, a new connection per request (Connection: close)
  tls_ka  HTTPS keep-alive (SNI a.test, verified against --ca)
  tls_new HTTPS, a new connection (and full handshake) per request
  ws      WebSocket: handshake on /ws, WS_MSGS masked text frames echoed
          back, a close frame; the whole session is one "request"
  slow    a slow client: the request head trickled in pieces over about
          SLOW_S seconds (well inside proxyd's client_header timeout), the
          response read in 64-byte pieces

Every request has a deadline (--timeout). The load is bounded in rate (one
worker per kind and VIP, each pausing between requests) and in time.
"""
import argparse
import asyncio
import base64
import os
import ssl
import sys
import time

WS_MSGS = 5
SLOW_S = 1.5


def now_ms():
    return int(time.time() * 1000)


class Fail(Exception):
    pass


async def read_response(reader, max_body=1 << 20):
    """Read one HTTP/1.1 response; return (status, close)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
        raise Fail("error")
    status = int(parts[1])
    hdr = {}
    for ln in lines[1:]:
        if ":" in ln:
            k, v = ln.split(":", 1)
            hdr[k.strip().lower()] = v.strip()
    close = "close" in hdr.get("connection", "").lower()
    if status in (204, 304) or 100 <= status < 200:
        return status, close
    if "chunked" in hdr.get("transfer-encoding", "").lower():
        while True:
            line = await reader.readuntil(b"\r\n")
            size = int(line.split(b";")[0].strip(), 16)
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass
                break
            await reader.readexactly(size + 2)
    elif "content-length" in hdr:
        n = int(hdr["content-length"])
        if n > max_body:
            raise Fail("error")
        await reader.readexactly(n)
    else:
        await reader.read()
        close = True
    return status, close


def classify(e):
    if isinstance(e, Fail):
        return str(e)
    if isinstance(e, asyncio.TimeoutError):
        return "timeout"
    if isinstance(e, ConnectionRefusedError):
        return "refused"
    if isinstance(e, ConnectionResetError):
        return "reset"
    if isinstance(e, (asyncio.IncompleteReadError, EOFError, BrokenPipeError)):
        return "eof"
    if isinstance(e, ssl.SSLError):
        return "tls"
    if isinstance(e, OSError):
        return "oserror-%s" % (e.errno,)
    return "error"


class Load:
    def __init__(self, args):
        self.args = args
        self.out = open(args.out, "a", buffering=1)
        self.stop_at = time.time() + args.seconds
        self.ctx = ssl.create_default_context(cafile=args.ca) if args.ca else None

    def stopping(self):
        return time.time() >= self.stop_at or os.path.exists(self.args.stopfile)

    def log(self, t0, vip, kind, res):
        self.out.write("%d %d %s %s %s\n" % (t0, now_ms(), vip, kind, res))

    async def connect(self, vip, tls):
        port = 443 if tls else 80
        if tls:
            return await asyncio.open_connection(vip, port, ssl=self.ctx,
                                                 server_hostname="a.test")
        return await asyncio.open_connection(vip, port)

    def request(self, vip, path, close):
        return ("GET %s HTTP/1.1\r\nHost: a.test\r\nUser-Agent: tandem-soak\r\n%s\r\n"
                % (path, "Connection: close\r\n" if close else "")).encode()

    async def pause(self, iv):
        await asyncio.sleep(iv)

    async def keepalive(self, vip, kind, tls, iv):
        reader = writer = None
        while not self.stopping():
            # A connection the server closed while it was idle (drain,
            # idle timeout) is not a failed request: reopen it.
            if reader is not None and reader.at_eof():
                writer.close()
                reader = writer = None
            t0 = now_ms()
            try:
                async def one():
                    nonlocal reader, writer
                    if reader is None:
                        reader, writer = await self.connect(vip, tls)
                    writer.write(self.request(vip, "/", False))
                    await writer.drain()
                    return await read_response(reader)
                status, close = await asyncio.wait_for(one(), self.args.timeout)
                self.log(t0, vip, kind, "ok" if 200 <= status < 300 else "status-%d" % status)
                if close:
                    writer.close()
                    reader = writer = None
            except Exception as e:  # noqa: BLE001 - every failure is logged
                self.log(t0, vip, kind, classify(e))
                if writer is not None:
                    writer.close()
                reader = writer = None
            await self.pause(iv)
        if writer is not None:
            writer.close()

    async def one_per_connection(self, vip, kind, tls, iv, timeout, exchange):
        """The new-connection clients: each attempt opens a connection,
        runs exchange(reader, writer) -> HTTP status within timeout, logs
        the outcome and closes, until the stop file appears."""
        while not self.stopping():
            t0 = now_ms()
            writer = None
            try:
                async def one():
                    nonlocal writer
                    reader, writer = await self.connect(vip, tls)
                    return await exchange(reader, writer)
                status = await asyncio.wait_for(one(), timeout)
                self.log(t0, vip, kind, "ok" if 200 <= status < 300 else "status-%d" % status)
            except Exception as e:  # noqa: BLE001 - every failure is logged
                self.log(t0, vip, kind, classify(e))
            if writer is not None:
                writer.close()
            await self.pause(iv)

    async def fresh(self, vip, kind, tls, iv):
        async def exchange(reader, writer):
            writer.write(self.request(vip, "/", True))
            await writer.drain()
            status, _ = await read_response(reader)
            return status
        await self.one_per_connection(vip, kind, tls, iv, self.args.timeout, exchange)

    async def slow(self, vip, kind, iv):
        async def exchange(reader, writer):
            req = self.request(vip, "/", True)
            pieces = 6
            step = (len(req) + pieces - 1) // pieces
            for i in range(0, len(req), step):
                writer.write(req[i:i + step])
                await writer.drain()
                await asyncio.sleep(SLOW_S / pieces)
            data = b""
            while True:
                b = await reader.read(64)
                if not b:
                    break
                data += b
                await asyncio.sleep(0.01)
            if not data.startswith(b"HTTP/1.1 "):
                raise Fail("eof")
            return int(data[9:12])
        await self.one_per_connection(vip, kind, False, iv, self.args.timeout + SLOW_S, exchange)

    async def ws(self, vip, kind, iv):
        async def exchange(reader, writer):
            key = base64.b64encode(os.urandom(16)).decode()
            writer.write(("GET /ws HTTP/1.1\r\nHost: a.test\r\nUpgrade: websocket\r\n"
                          "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                          "Sec-WebSocket-Version: 13\r\n\r\n" % key).encode())
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 101"):
                raise Fail("ws-status-%s" % head[9:12].decode("latin-1"))
            for i in range(WS_MSGS):
                payload = ("soak %d" % i).encode()
                mask = os.urandom(4)
                body = bytes(b ^ mask[j % 4] for j, b in enumerate(payload))
                writer.write(bytes([0x81, 0x80 | len(payload)]) + mask + body)
                await writer.drain()
                h = await reader.readexactly(2)
                n = h[1] & 0x7F
                got = await reader.readexactly(n)
                if h[0] != 0x81 or got != payload:
                    raise Fail("ws-echo")
                await asyncio.sleep(0.1)
            mask = os.urandom(4)
            code = (1000).to_bytes(2, "big")
            writer.write(bytes([0x88, 0x82]) + mask +
                         bytes(b ^ mask[j] for j, b in enumerate(code)))
            await writer.drain()
            h = await reader.readexactly(2)
            if h[0] != 0x88:
                raise Fail("ws-close")
            return 200   # the echoes and the close handshake came back
        await self.one_per_connection(vip, kind, False, iv, self.args.timeout + 1, exchange)

    async def run(self):
        tasks = []
        iv = self.args.interval
        for vip in self.args.vip:
            tasks.append(self.keepalive(vip, "ka", False, iv))
            tasks.append(self.keepalive(vip, "ka", False, iv))
            tasks.append(self.fresh(vip, "new", False, iv))
            if self.ctx is not None:
                tasks.append(self.keepalive(vip, "tls_ka", True, iv))
                tasks.append(self.fresh(vip, "tls_new", True, iv * 2))
            tasks.append(self.ws(vip, "ws", iv * 4))
            tasks.append(self.slow(vip, "slow", iv))
        await asyncio.gather(*tasks)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--stopfile", required=True)
    ap.add_argument("--seconds", type=float, required=True)
    ap.add_argument("--ca")
    ap.add_argument("--interval", type=float, default=0.05)
    ap.add_argument("--timeout", type=float, default=5.0)
    ap.add_argument("vip", nargs="+")
    args = ap.parse_args()
    if args.seconds > 4 * 3600:
        sys.exit("soakload: --seconds is bounded to 4 h")
    asyncio.run(Load(args).run())


if __name__ == "__main__":
    main()
