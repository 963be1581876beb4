#!/usr/bin/env python3
"""tests/integration/differential.py — differential HTTP testing of proxyd.

The same byte stream goes to two readers: the reference (tests/tools/frames,
proxyd's own parser, which says where each client request begins and ends,
what proxyd must forward for it and where the stream is refused) and a real
proxyd in front of a recording origin started here. The origin logs every
byte it receives per backend connection and frames it with its own strict
HTTP/1.1 reader (RFC 9112 §2.2, §5, §6, §7.1, written independently of
proxyd's parser), answering each request 200 with a body that names it.

For each stream the framing invariant is checked:
  * every request the origin read is one the client framed, in order: same
    method, the normalised target, Host, and byte-for-byte the same body
    (chunked framing included, since proxyd forwards it verbatim);
  * the origin read exactly the requests the client framed up to the first
    refused one (or up to the one after which proxyd closes: HTTP/1.0 without
    keep-alive, Connection: close, an Expect proxyd answers 417), none after;
  * no backend connection holds leftover bytes once the stream is over (a
    partial request left in a pooled connection would be prefixed to the
    next client's request), and the origin could frame everything it got;
  * the client got one response per request, in order, each naming the
    origin request it answers, then for a refused stream the parser's status
    (4xx, or 501/505) and a closed connection; a close is a FIN, never a
    reset (RFC 9112 §9.6), which could have cut the last response off.
Half the streams are sent in two segments, cut at a point derived from the
stream, so the verdict must not depend on where a read ends.

Streams come from families of header-combination edge cases (generated
below), from the fuzz corpus as is, and from seeded mutations of the corpus
with the fuzz dictionary. Usage:

  differential.py --proxy PORT --origin PORT --frames PATH --corpus DIR
                  --dict FILE [--families a,b] [--scale N] [--seed S]
                  [--budget SECONDS] [--log FILE]

Prints one line per family: "FAMILY CHECKED FAILED PARSE-REFUSED", after, per failure, a
"# ..." line with the stream (Python bytes literal) and what was wrong.
"""
import argparse
import os
import random
import re
import socket
import subprocess
import sys
import threading
import time
import zlib

# ---------------------------------------------------------------------------
# The recording origin, with its own strict HTTP/1.1 request framing.

TCHAR = set(b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
HEXDIG = set(b"0123456789abcdefABCDEF")
MAX_HEAD = 70000


class Malformed(Exception):
    pass


def _line(buf, pos):
    """The line starting at pos, which must end in CRLF (RFC 9112 §2.2: a
    bare CR or LF is not a line ending this reader accepts). None if the
    buffer ends first."""
    i = buf.find(b"\n", pos)
    if i < 0:
        if len(buf) - pos > MAX_HEAD:
            raise Malformed("line too long")
        return None, pos
    if i == pos or buf[i - 1] != 0x0D:
        raise Malformed("bare LF")
    line = buf[pos:i - 1]
    if b"\r" in line:
        raise Malformed("bare CR")
    return line, i + 1


def _fields(buf, pos):
    """Field lines up to the empty line: list of (lname, value), new pos."""
    fields = []
    while True:
        line, npos = _line(buf, pos)
        if line is None:
            return None, pos
        pos = npos
        if line == b"":
            return fields, pos
        if line[:1] in (b" ", b"\t"):
            raise Malformed("obs-fold")
        name, sep, value = line.partition(b":")
        if not sep or not name or any(c not in TCHAR for c in name):
            raise Malformed("bad field name %r" % name[:40])
        value = value.strip(b" \t")
        if any((c < 0x20 and c != 0x09) or c == 0x7F for c in value):
            raise Malformed("control byte in field value")
        fields.append((name.lower(), value))


def parse_request(buf):
    """One request from the start of buf: (record, consumed) or (None, 0)
    when more bytes are needed. Raises Malformed."""
    pos = 0
    line, pos = _line(buf, 0)
    if line is None:
        return None, 0
    m = re.fullmatch(rb"([!#$%&'*+\-.^_`|~0-9A-Za-z]+) ([\x21-\x7e\x80-\xff]+) HTTP/1\.([01])", line)
    if not m:
        raise Malformed("bad request line %r" % line[:60])
    method, target, minor = m.group(1), m.group(2), int(m.group(3))
    fields, pos = _fields(buf, pos)
    if fields is None:
        return None, 0
    hosts = [v for k, v in fields if k == b"host"]
    if len(hosts) != 1:
        raise Malformed("%d Host fields" % len(hosts))       # RFC 9112 §3.2
    cls = [v for k, v in fields if k == b"content-length"]
    tes = [v for k, v in fields if k == b"transfer-encoding"]
    if tes and cls:
        raise Malformed("Content-Length with Transfer-Encoding")  # RFC 9112 §6.3
    start = pos
    if tes:
        if [t.strip(b" \t").lower() for t in b",".join(tes).split(b",")] != [b"chunked"]:
            raise Malformed("transfer coding %r" % b",".join(tes))
        while True:
            line, npos = _line(buf, pos)
            if line is None:
                return None, 0
            size = re.match(rb"[0-9a-fA-F]+", line)
            if not size or len(size.group(0)) > 15:
                raise Malformed("bad chunk size %r" % line[:40])
            rest = line[size.end():]
            if rest and not re.fullmatch(rb"([ \t]*;[ \t]*[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
                                         rb"([ \t]*=[ \t]*([!#$%&'*+\-.^_`|~0-9A-Za-z]+|"
                                         rb"\"([\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*\"))?)*", rest):
                raise Malformed("bad chunk extension %r" % rest[:40])
            n = int(size.group(0), 16)
            pos = npos
            if n == 0:
                trailers, pos = _fields(buf, pos)
                if trailers is None:
                    return None, 0
                break
            if len(buf) < pos + n + 2:
                return None, 0
            if buf[pos + n:pos + n + 2] != b"\r\n":
                raise Malformed("chunk data not followed by CRLF")
            pos += n + 2
    elif cls:
        if len(cls) != 1 or not re.fullmatch(rb"[0-9]{1,15}", cls[0]):
            raise Malformed("Content-Length %r" % cls)
        n = int(cls[0])
        if len(buf) < pos + n:
            return None, 0
        pos += n
    rec = {"method": method, "target": target, "host": hosts[0], "body": bytes(buf[start:pos]),
           "minor": minor, "close": any(k == b"connection" and b"close" in v.lower() for k, v in fields)}
    return rec, pos


class Origin:
    def __init__(self, port):
        self.lock = threading.Lock()
        self.reqs = []         # (seq, conn id, record)
        self.errors = []       # (conn id, why, bytes)
        self.conns = {}        # conn id -> {"pending": bytes, "open": bool}
        self.seq = 0
        self.ncid = 0
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(("127.0.0.1", port))
        self.ls.listen(128)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            c, _ = self.ls.accept()
            with self.lock:
                self.ncid += 1
                cid = self.ncid
                self.conns[cid] = {"pending": b"", "open": True}
            threading.Thread(target=self._serve, args=(c, cid), daemon=True).start()

    def _serve(self, c, cid):
        buf = b""
        try:
            while True:
                d = c.recv(65536)
                if not d:
                    break
                buf += d
                closing = False
                while buf:
                    try:
                        rec, used = parse_request(buf)
                    except Malformed as e:
                        with self.lock:
                            self.errors.append((cid, str(e), buf[:200]))
                        c.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                        buf = b""
                        closing = True
                        break
                    if rec is None:
                        break
                    buf = buf[used:]
                    with self.lock:
                        self.seq += 1
                        seq = self.seq
                        self.reqs.append((seq, cid, rec))
                    body = b"origin %d\n" % seq
                    head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n" % len(body)
                    if rec["close"]:
                        head += b"Connection: close\r\n"
                        closing = True
                    c.sendall(head + b"\r\n" + (b"" if rec["method"] == b"HEAD" else body))
                    if closing:
                        break
                with self.lock:
                    self.conns[cid]["pending"] = buf
                if closing:
                    break
        except OSError:
            pass
        finally:
            with self.lock:
                self.conns[cid]["open"] = False
            c.close()

    def mark(self):
        with self.lock:
            return len(self.reqs), len(self.errors)

    def leftovers(self):
        with self.lock:
            return [(cid, s["pending"]) for cid, s in self.conns.items() if s["open"] and s["pending"]]

    def forget_closed(self):
        with self.lock:
            for cid in [k for k, s in self.conns.items() if not s["open"]]:
                del self.conns[cid]


# ---------------------------------------------------------------------------
# The reference: tests/tools/frames, plus proxyd's policy around its parser.

def reference(frames, data):
    """What proxyd must do with data: (requests, outcome, status). requests:
    dicts (method, target, host, body, head) of what must be forwarded;
    outcome: "refused" (status is the answer), "close" (proxyd closes after
    the last request), "open" (every byte framed, connection stays open),
    "incomplete-head" or "incomplete-body"."""
    out = subprocess.run([frames], input=data, stdout=subprocess.PIPE, check=True).stdout.decode()
    reqs = []
    h = lambda s: b"" if s == "-" else bytes.fromhex(s)
    for line in out.splitlines():
        f = line.split("\t")
        if f[0] == "req":
            start, hend, end = int(f[1]), int(f[2]), int(f[3])
            keep, is_head = f[8] == "1", f[10] == "1"
            reqs.append({"method": h(f[4]), "target": h(f[5]), "host": None if f[6] == "-" else h(f[6]),
                         "body": h(f[7]), "head": is_head, "span": (start, end)})
            if not keep:
                return reqs, "close", 0
        elif f[0] == "expect-other":
            # start_request(): answered 417 (no body to HEAD), closed.
            return reqs + [{"refusal-head": f[2] == "1"}], "refused", 417
        elif f[0] == "refused":
            return reqs + [{"refusal-head": f[4] == "1"}], "refused", int(f[2])
        elif f[0] == "incomplete":
            return reqs, "incomplete-" + f[2], 0
        elif f[0] == "end":
            return reqs, "open", 0
    raise RuntimeError("frames said nothing: %r" % out)


# ---------------------------------------------------------------------------
# The client.

def read_responses(s, want, heads, until_close, grace):
    """Reads responses on s: stops after `want` final responses (then waits
    `grace` seconds for anything more, or for the close if until_close), or
    at the close. Returns (responses [(status, body)], closed, extra bytes,
    error)."""
    buf, resps, closed, err = b"", [], False, None
    deadline = time.monotonic() + 2.0   # proxyd answers in milliseconds; this is for a missing answer
    done_at = None

    def parse_one(b):
        i = b.find(b"\r\n\r\n")
        if i < 0:
            return None, 0
        lines = b[:i].split(b"\r\n")
        m = re.match(rb"HTTP/1\.[01] (\d{3})", lines[0])
        if not m:
            raise ValueError("bad status line %r" % lines[0][:60])
        st = int(m.group(1))
        cl = 0
        for l in lines[1:]:
            k, _, v = l.partition(b":")
            if k.strip().lower() == b"content-length":
                cl = int(v.strip())
        is_head = len(resps) < len(heads) and heads[len(resps)]
        if 100 <= st < 200 or is_head:
            cl = 0
        if len(b) < i + 4 + cl:
            return None, 0
        return (st, b[i + 4:i + 4 + cl]), i + 4 + cl

    while True:
        now = time.monotonic()
        if len(resps) >= want and done_at is None:
            done_at = now + grace
        end = min(deadline, done_at) if done_at is not None and not until_close else deadline
        if now >= end:
            break
        s.settimeout(max(0.005, end - now))
        try:
            d = s.recv(65536)
        except socket.timeout:
            break
        except OSError as e:
            err = e.strerror or str(e)
            closed = True
            break
        if not d:
            closed = True
            break
        buf += d
        try:
            while True:
                r, used = parse_one(buf)
                if r is None:
                    break
                buf = buf[used:]
                if not 100 <= r[0] < 200:
                    resps.append(r)
        except ValueError as e:
            err = str(e)
            break
    return resps, closed, buf, err


class Harness:
    def __init__(self, args):
        self.a = args
        self.origin = Origin(args.origin)
        self.failures = []
        self.t_end = time.monotonic() + args.budget

    def check(self, family, name, data):
        """Runs one stream; returns None or why it failed."""
        reqs, outcome, status = reference(self.a.frames, data)
        refusal_head = False
        if reqs and "refusal-head" in reqs[-1]:
            refusal_head = reqs.pop()["refusal-head"]
        o = self.origin
        o.forget_closed()
        r0, e0 = o.mark()
        s = socket.create_connection(("127.0.0.1", self.a.proxy), timeout=5)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        problems = []
        try:
            try:
                # Half the streams arrive in two segments, cut at a point
                # derived from the stream (so a rerun cuts at the same
                # place): a verdict that depends on where a read ends
                # would be a smuggling vector of its own.
                cut = zlib.crc32(data) % (len(data) + 1) if zlib.crc32(data) & 1 else 0
                if 0 < cut < len(data):
                    s.sendall(data[:cut])
                    time.sleep(0.004)
                    s.sendall(data[cut:])
                else:
                    s.sendall(data)
            except OSError:
                pass    # refused early; what was answered is read below
            want = len(reqs) + (1 if outcome == "refused" else 0)
            heads = [q["head"] for q in reqs] + [refusal_head]
            resps, closed, extra, err = read_responses(
                s, want, heads, outcome in ("refused", "close"), 0.03)
        finally:
            s.close()
        # The origin: wait (bounded) until it framed what proxyd sent and
        # every backend connection with a partial request in it was closed.
        deadline = time.monotonic() + 2.0
        while True:
            r1, e1 = o.mark()
            left = o.leftovers()
            if (r1 - r0 >= len(reqs) and not left) or time.monotonic() > deadline:
                break
            time.sleep(0.005)
        time.sleep(0.003)
        with o.lock:
            got = o.reqs[r0:]
            errs = o.errors[e0:]
        left = o.leftovers()

        for cid, why, b in errs:
            problems.append("origin could not frame what proxyd sent on backend conn %d (%s): %r" % (cid, why, b[:120]))
        if len(got) > len(reqs):
            problems.append("origin read %d requests, the client framed %d (%s): extra %r" % (
                len(got), len(reqs), outcome, [(g[2]["method"], g[2]["target"]) for g in got[len(reqs):]]))
        elif len(got) < len(reqs):
            problems.append("origin read %d requests, the client framed %d before %s" % (len(got), len(reqs), outcome))
        for i, (g, q) in enumerate(zip(got, reqs)):
            rec = g[2]
            if rec["method"] != q["method"]:
                problems.append("request %d: method %r, client sent %r" % (i, rec["method"], q["method"]))
            if rec["target"] != q["target"]:
                problems.append("request %d: target %r, want %r" % (i, rec["target"], q["target"]))
            if q["host"] is not None and rec["host"] != q["host"]:
                problems.append("request %d: Host %r, want %r" % (i, rec["host"], q["host"]))
            if rec["body"] != q["body"]:
                problems.append("request %d: body %r, client framed %r" % (i, rec["body"][:80], q["body"][:80]))
        for cid, b in left:
            problems.append("backend conn %d left open holding %d bytes: %r" % (cid, len(b), b[:80]))
        # The client's side.
        # proxyd closes with a lingering close (RFC 9112 §9.6): FIN after
        # the last response, never a reset that could cut it off.
        if err is not None:
            problems.append("client: %s" % err)
        nfwd = min(len(got), len(reqs))
        for i in range(min(len(resps), nfwd)):
            st, body = resps[i]
            if st != 200 or (not reqs[i]["head"] and body != b"origin %d\n" % got[i][0]):
                problems.append("response %d: %d %r, want 200 origin %d" % (i, st, body[:40], got[i][0]))
                break
        if outcome == "refused":
            if len(resps) == len(reqs) + 1:
                if resps[-1][0] != status:
                    problems.append("refusal answered %d, want %d" % (resps[-1][0], status))
            else:
                problems.append("client got %d responses, want %d and a %d" % (len(resps), len(reqs), status))
            if not closed:
                problems.append("connection not closed after the refusal")
        else:
            if len(resps) != len(reqs):
                problems.append("client got %d responses (%r), want %d" % (
                    len(resps), [r[0] for r in resps], len(reqs)))
            if outcome == "close" and not closed:
                problems.append("connection not closed after a request that ends it")
        if extra and outcome != "refused":
            problems.append("client got bytes that are no response: %r" % extra[:80])
        self.last_parse_refusal = outcome == "refused" and status != 417
        return "; ".join(problems) if problems else None

    def run_family(self, family, streams, nleft):
        """Checks the streams of one family in the time left, minus a
        reserve of 3 s for each of the nleft - 1 families after it, so a slow
        family (every stream failing on a timeout) leaves the others a turn."""
        n = bad = nref = 0
        t_end = self.t_end - 3.0 * (nleft - 1)
        for name, data in streams:
            if time.monotonic() > t_end:
                print("# %s: time budget spent after %d streams" % (family, n))
                break
            n += 1
            why = self.check(family, name, data)
            nref += self.last_parse_refusal
            if why is not None:
                bad += 1
                self.failures.append((family, name, data, why))
                if bad <= self.a.show:
                    print("# %s/%s: %s\n#   stream: %r" % (family, name, why, data[:400]))
            if self.a.log:
                with open(self.a.log, "a") as f:
                    f.write("%s\t%s\t%s\t%r\n" % (family, name, why or "ok", data[:400]))
        print("%s %d %d %d" % (family, n, bad, nref))
        sys.stdout.flush()
        return n, bad


# ---------------------------------------------------------------------------
# The generators of edge cases: (name, bytes) per stream.

CRLF = b"\r\n"
NEXT = b"GET /next HTTP/1.1\r\nHost: t\r\n\r\n"
SMUG = b"GET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n"


def req(method=b"GET", target=b"/", hdrs=(), body=b"", version=b"HTTP/1.1", host=b"t", eol=CRLF):
    h = b"" if host is None else b"Host: " + host + eol
    return method + b" " + target + b" " + version + eol + h + b"".join(x + eol for x in hdrs) + eol + body


def chunked(*parts, trailers=()):
    out = b""
    for p in parts:
        out += b"%x\r\n" % len(p) + p + CRLF
    return out + b"0\r\n" + b"".join(t + CRLF for t in trailers) + CRLF


def fam_cl():
    body = SMUG
    n = len(body)
    vals = [b"%d" % n, b"%d, %d" % (n, n), b"%d,%d" % (n, n + 1), b"+%d" % n, b"-1", b"0%d" % n,
            b"%d " % n, b" %d" % n, b"0x%x" % n, b"99999999999999999999", b"", b"%d\t" % n, b"%d;x" % n,
            b"1e2", b"%d%d" % (n, 0), b"%d\x00" % n, b"\xd9\xa3"]
    for v in vals:
        yield "cl=%r" % v, req(b"POST", b"/cl", [b"Content-Length: " + v], body) + NEXT
        yield "cl-dup=%r" % v, req(b"POST", b"/cl", [b"Content-Length: %d" % n, b"Content-Length: " + v], body) + NEXT
    yield "cl-0-body-is-request", req(b"POST", b"/cl0", [b"Content-Length: 0"], SMUG)
    yield "cl-get-body", req(b"GET", b"/g", [b"Content-Length: %d" % n], body) + NEXT
    yield "cl-head-body", req(b"HEAD", b"/h", [b"Content-Length: %d" % n], body) + NEXT
    yield "cl-http10", req(b"POST", b"/p", [b"Content-Length: %d" % n, b"Connection: keep-alive"], body,
                           version=b"HTTP/1.0") + NEXT
    yield "cl-short", req(b"POST", b"/short", [b"Content-Length: 100"], b"abc")
    yield "cl-name-space", req(b"POST", b"/p", [b"Content-Length : %d" % n], body) + NEXT
    yield "cl-name-case", req(b"POST", b"/p", [b"cOnTeNt-LeNgTh: %d" % n], body) + NEXT
    yield "cl-name-prefix", req(b"POST", b"/p", [b"X-Content-Length: %d" % n], body) + NEXT


def fam_te():
    data = chunked(b"hello", SMUG)
    tes = [b"chunked", b"chunked, chunked", b"identity", b" chunked", b"Chunked", b"CHUNKED", b"\tchunked",
           b"chunked\t", b"chunked ", b"gzip, chunked", b"chunked, gzip", b"xchunked", b"chunked;q=1",
           b"identity, chunked", b"chunk", b"chunked,", b",chunked", b"\"chunked\"", b"chunked\x0bx",
           b"ch\x00unked"]
    for v in tes:
        yield "te=%r" % v, req(b"POST", b"/te", [b"Transfer-Encoding: " + v], data) + NEXT
        yield "te+cl=%r" % v, req(b"POST", b"/te", [b"Content-Length: 4", b"Transfer-Encoding: " + v], data) + NEXT
        yield "te-cl-after=%r" % v, req(b"POST", b"/te", [b"Transfer-Encoding: " + v, b"Content-Length: 4"], data) + NEXT
    yield "te-two-fields", req(b"POST", b"/te", [b"Transfer-Encoding: chunked", b"Transfer-Encoding: chunked"], data) + NEXT
    yield "te-two-fields-identity", req(b"POST", b"/te", [b"Transfer-Encoding: identity", b"Transfer-Encoding: chunked"], data) + NEXT
    yield "te-http10", req(b"POST", b"/te", [b"Transfer-Encoding: chunked", b"Connection: keep-alive"], data,
                           version=b"HTTP/1.0") + NEXT
    yield "te-name-space", req(b"POST", b"/te", [b"Transfer-Encoding : chunked"], data) + NEXT
    yield "te-name-tab", req(b"POST", b"/te", [b"Transfer-Encoding\t: chunked"], data) + NEXT
    yield "te-get", req(b"GET", b"/te", [b"Transfer-Encoding: chunked"], data) + NEXT
    # Chunk syntax, each followed by the next request on the same connection.
    bodies = {
        "ext": b"5;a=b\r\nhello\r\n0\r\n\r\n",
        "ext-quoted": b"5;a=\"b c\"\r\nhello\r\n0\r\n\r\n",
        "ext-bws": b"5 ;a=b\r\nhello\r\n0\r\n\r\n",
        "ext-bare-semicolon": b"5;\r\nhello\r\n0\r\n\r\n",
        "upper-hex": b"A\r\n0123456789\r\n0\r\n\r\n",
        "leading-zeros": b"0005\r\nhello\r\n0000\r\n\r\n",
        "size-overflow": b"ffffffffffffffff1\r\nhello\r\n0\r\n\r\n",
        "size-0x": b"0x5\r\nhello\r\n0\r\n\r\n",
        "size-negative": b"-5\r\nhello\r\n0\r\n\r\n",
        "size-space": b" 5\r\nhello\r\n0\r\n\r\n",
        "size-lf": b"5\nhello\r\n0\r\n\r\n",
        "data-lf": b"5\r\nhello\n0\r\n\r\n",
        "data-long": b"3\r\nhello\r\n0\r\n\r\n",
        "data-short": b"7\r\nhello\r\n0\r\n\r\n",
        "last-lf": b"5\r\nhello\r\n0\n\n",
        "last-no-crlf": b"5\r\nhello\r\n0\r\n",
        "size-ctl": b"5\x00\r\nhello\r\n0\r\n\r\n",
        "ext-ctl": b"5;a=\x01\r\nhello\r\n0\r\n\r\n",
        "ext-cr": b"5;a\rb\r\nhello\r\n0\r\n\r\n",
        "empty-size": b"\r\nhello\r\n0\r\n\r\n",
    }
    for k, b in bodies.items():
        yield "chunk-" + k, req(b"POST", b"/ck", [b"Transfer-Encoding: chunked"], b) + NEXT


CONN_TOKENS = [b"content-length", b"Content-Length", b"transfer-encoding", b"TRANSFER-ENCODING", b"host",
               b"close", b"keep-alive", b"upgrade", b"x-forwarded-for", b"te", b"trailer", b"expect",
               b"x-hop", b"connection", b"via", b"forwarded", b"x-request-id", b"x-real-ip",
               b"http2-settings", b"proxy-connection", b"keep-alive, content-length"]


def fam_conn():
    cl = [b"Content-Length: %d" % len(SMUG)]
    te = [b"Transfer-Encoding: chunked"]
    for tok in CONN_TOKENS:
        yield "cl-conn=%r" % tok, req(b"POST", b"/c", cl + [b"Connection: " + tok], SMUG) + NEXT
        yield "te-conn=%r" % tok, req(b"POST", b"/c", te + [b"Connection: " + tok], chunked(SMUG)) + NEXT
        yield "get-conn=%r" % tok, req(b"GET", b"/c", [b"X-Hop: 1", b"Connection: " + tok]) + NEXT
    variants = [b"Connection: content-length\r\nConnection: keep-alive",
                b"Connection: ,content-length,", b"Connection:  content-length ",
                b"Connection: content-length\t", b"Connection: keep-alive,\tcontent-length",
                b"Connection: content-length, transfer-encoding, host",
                b"Connection: \"content-length\"", b"Connection: content-length;q=1"]
    for v in variants:
        yield "cl-conn-variant=%r" % v, req(b"POST", b"/c", cl + [v], SMUG) + NEXT
        yield "te-conn-variant=%r" % v, req(b"POST", b"/c", te + [v], chunked(SMUG)) + NEXT
    yield "http10-keepalive-cl", req(b"POST", b"/c", cl + [b"Connection: keep-alive, content-length"], SMUG,
                                     version=b"HTTP/1.0") + NEXT
    yield "http10-no-keepalive", req(b"GET", b"/c", version=b"HTTP/1.0") + NEXT
    yield "close-then-more", req(b"GET", b"/c", [b"Connection: close"]) + NEXT
    yield "close-and-keepalive", req(b"GET", b"/c", [b"Connection: keep-alive, close"]) + NEXT
    yield "proxy-connection", req(b"GET", b"/c", [b"Proxy-Connection: close"]) + NEXT


def fam_upgrade():
    ups = [b"websocket", b"WebSocket", b"h2c", b"websocket, h2c", b"h2c, websocket", b"HTTP/2.0",
           b"TLS/1.2", b"websocket\t", b"", b"web socket"]
    ws = [b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", b"Sec-WebSocket-Version: 13"]
    for u in ups:
        yield "get=%r" % u, req(b"GET", b"/u", [b"Upgrade: " + u, b"Connection: Upgrade"] + ws) + NEXT
        yield "no-conn=%r" % u, req(b"GET", b"/u", [b"Upgrade: " + u]) + NEXT
        yield "post-cl=%r" % u, req(b"POST", b"/u", [b"Upgrade: " + u, b"Connection: upgrade",
                                                     b"Content-Length: %d" % len(SMUG)], SMUG) + NEXT
        yield "post-te=%r" % u, req(b"POST", b"/u", [b"Upgrade: " + u, b"Connection: upgrade",
                                                     b"Transfer-Encoding: chunked"], chunked(SMUG)) + NEXT
    yield "h2c-settings", req(b"GET", b"/u", [b"Upgrade: h2c", b"HTTP2-Settings: AAMAAABk",
                                              b"Connection: Upgrade, HTTP2-Settings"]) + NEXT
    yield "two-upgrade-fields", req(b"GET", b"/u", [b"Upgrade: websocket", b"Upgrade: websocket",
                                                    b"Connection: upgrade"] + ws) + NEXT
    yield "conn-upgrade-only", req(b"GET", b"/u", [b"Connection: upgrade"]) + NEXT
    yield "h2-preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
    yield "ws-http10", req(b"GET", b"/u", [b"Upgrade: websocket", b"Connection: Upgrade, keep-alive"] + ws,
                           version=b"HTTP/1.0") + NEXT


def fam_expect():
    cl = b"Content-Length: 5"
    for v in [b"100-continue", b"100-Continue", b"100-CONTINUE", b"100-continue, foo", b"foo", b"", b"100",
              b"100-continue;x=1", b" 100-continue "]:
        yield "post=%r" % v, req(b"POST", b"/e", [cl, b"Expect: " + v], b"hello") + NEXT
        yield "get=%r" % v, req(b"GET", b"/e", [b"Expect: " + v]) + NEXT
        yield "http10=%r" % v, req(b"POST", b"/e", [cl, b"Expect: " + v, b"Connection: keep-alive"], b"hello",
                                   version=b"HTTP/1.0") + NEXT
    yield "two-expect", req(b"POST", b"/e", [cl, b"Expect: 100-continue", b"Expect: 100-continue"], b"hello") + NEXT
    yield "expect-te", req(b"POST", b"/e", [b"Transfer-Encoding: chunked", b"Expect: 100-continue"],
                           chunked(b"hello")) + NEXT


def fam_trailer():
    te = [b"Transfer-Encoding: chunked"]
    for t in [b"X-Sum: 1", b"Content-Length: 40", b"content-length: 0", b"Transfer-Encoding: chunked",
              b"Host: evil", b"Connection: close", b"X-Forwarded-For: 1.2.3.4", b"Expect: 100-continue",
              b"Trailer: x", b"Via: x", b"X-Request-Id: x", b"Forwarded: for=x", b"Keep-Alive: 1",
              b"Content-Lengthx: 1", b"X-A: 1\r\n b", b"X-A 1", b": x", b"X-A: 1\nX-B: 2", b"X-\x00: 1",
              b"X-A: \x01", b"Upgrade: h2c", b"Cookie: a=b"]:
        yield "trailer=%r" % t, req(b"POST", b"/tr", te + [b"Trailer: X-Sum"], chunked(b"hi", trailers=[t])) + NEXT
    yield "many-trailers", req(b"POST", b"/tr", te, chunked(b"hi", trailers=[b"X-%d: %d" % (i, i) for i in range(50)])) + NEXT
    yield "huge-trailer", req(b"POST", b"/tr", te, chunked(b"hi", trailers=[b"X-Big: " + b"a" * 9000])) + NEXT


def fam_pipeline():
    a = req(b"GET", b"/a")
    p = req(b"POST", b"/p", [b"Content-Length: 5"], b"hello")
    c = req(b"POST", b"/c", [b"Transfer-Encoding: chunked"], chunked(b"abc", b"defg"))
    h = req(b"HEAD", b"/h")
    yield "three-gets", a + a + a
    yield "mixed", a + p + c + h + a
    yield "heads", h + h + a
    yield "ten", (a + p) * 5
    yield "body-looks-like-request", req(b"POST", b"/p", [b"Content-Length: %d" % len(SMUG)], SMUG) + a
    yield "chunk-looks-like-request", req(b"POST", b"/c", [b"Transfer-Encoding: chunked"], chunked(SMUG)) + a
    yield "leading-crlf", CRLF + a + CRLF + CRLF + a
    yield "trailing-crlf", a + CRLF
    yield "partial-next-head", a + b"GET /partial HTTP/1.1\r\nHost: t\r\n"
    yield "partial-next-line", a + b"GET /par"
    yield "partial-body", a + req(b"POST", b"/p", [b"Content-Length: 10"], b"hel")
    yield "partial-chunk", a + req(b"POST", b"/c", [b"Transfer-Encoding: chunked"], b"5\r\nhel")
    yield "partial-trailer", a + req(b"POST", b"/c", [b"Transfer-Encoding: chunked"], b"5\r\nhello\r\n0\r\nX-A: 1\r\n")
    yield "http10-then-more", req(b"GET", b"/a", version=b"HTTP/1.0") + a
    yield "http10-keepalive", req(b"GET", b"/a", [b"Connection: keep-alive"], version=b"HTTP/1.0") + a + a
    yield "close-middle", a + req(b"GET", b"/z", [b"Connection: close"]) + a
    yield "garbage-after", a + b"\x00\x01\x02garbage\r\n\r\n"
    yield "response-as-request", a + b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"


def fam_bytes():
    a = req(b"GET", b"/a")
    yield "bare-lf", req(b"GET", b"/lf", eol=b"\n") + a
    yield "bare-lf-one-field", b"GET /lf HTTP/1.1\r\nHost: t\nX-A: 1\r\n\r\n" + a
    yield "bare-lf-end", b"GET /lf HTTP/1.1\r\nHost: t\r\n\n" + a
    yield "bare-cr", b"GET /cr HTTP/1.1\rHost: t\r\n\r\n" + a
    yield "bare-cr-value", b"GET /cr HTTP/1.1\r\nHost: t\r\nX-A: 1\r2\r\n\r\n" + a
    yield "bare-cr-end", b"GET /cr HTTP/1.1\r\nHost: t\r\n\r" + a
    yield "crcrlf", b"GET /cr HTTP/1.1\r\r\nHost: t\r\n\r\n" + a
    for where, s in [("method", b"G\x00ET / HTTP/1.1\r\nHost: t\r\n\r\n"),
                     ("target", b"GET /\x00a HTTP/1.1\r\nHost: t\r\n\r\n"),
                     ("version", b"GET / HTTP/1.1\x00\r\nHost: t\r\n\r\n"),
                     ("name", b"GET / HTTP/1.1\r\nHost: t\r\nX-\x00A: 1\r\n\r\n"),
                     ("value", b"GET / HTTP/1.1\r\nHost: t\r\nX-A: 1\x00\r\n\r\n"),
                     ("host", b"GET / HTTP/1.1\r\nHost: t\x00.evil\r\n\r\n"),
                     ("between", a + b"\x00" + a)]:
        yield "nul-" + where, s + a
    yield "obs-fold", b"GET / HTTP/1.1\r\nHost: t\r\nX-A: 1\r\n 2\r\n\r\n" + a
    yield "obs-fold-tab", b"GET / HTTP/1.1\r\nHost: t\r\nX-A: 1\r\n\t2\r\n\r\n" + a
    yield "obs-fold-cl", b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length:\r\n 5\r\n\r\nhello" + a
    yield "obs-fold-te", b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding:\r\n chunked\r\n\r\n" + chunked(b"x") + a
    yield "first-field-folded", b"GET / HTTP/1.1\r\n X-A: 1\r\nHost: t\r\n\r\n" + a
    yield "space-before-colon", b"GET / HTTP/1.1\r\nHost : t\r\n\r\n" + a
    yield "no-colon", b"GET / HTTP/1.1\r\nHost: t\r\nX-A\r\n\r\n" + a
    yield "empty-name", b"GET / HTTP/1.1\r\nHost: t\r\n: v\r\n\r\n" + a
    yield "obs-text-value", b"GET / HTTP/1.1\r\nHost: t\r\nX-A: \xe9\xff\r\n\r\n" + a
    yield "obs-text-name", b"GET / HTTP/1.1\r\nHost: t\r\nX-\xe9: 1\r\n\r\n" + a
    yield "tab-in-value", b"GET / HTTP/1.1\r\nHost: t\r\nX-A: 1\t2\r\n\r\n" + a
    yield "del-in-value", b"GET / HTTP/1.1\r\nHost: t\r\nX-A: 1\x7f2\r\n\r\n" + a
    yield "two-spaces-line", b"GET  / HTTP/1.1\r\nHost: t\r\n\r\n" + a
    yield "tab-in-line", b"GET\t/ HTTP/1.1\r\nHost: t\r\n\r\n" + a
    yield "trailing-space-line", b"GET / HTTP/1.1 \r\nHost: t\r\n\r\n" + a
    yield "lowercase-version", b"GET / http/1.1\r\nHost: t\r\n\r\n" + a
    yield "version-2", b"GET / HTTP/2.0\r\nHost: t\r\n\r\n" + a
    yield "version-1.2", b"GET / HTTP/1.2\r\nHost: t\r\n\r\n" + a
    yield "version-0.9", b"GET /\r\n\r\n" + a
    yield "method-lower", req(b"get", b"/m") + a
    yield "method-odd", req(b"X-METHOD!", b"/m") + a
    yield "method-bad", req(b"GE(T", b"/m") + a
    for n in (8191, 8192, 8193, 9000):
        t = b"/" + b"a" * (n - len(b"GET  HTTP/1.1") - 1)
        yield "request-line-%d" % n, req(b"GET", t) + a
    for n in (32000, 32768, 33000):
        yield "head-%d" % n, req(b"GET", b"/big", [b"X-Big: " + b"b" * (n - 60)]) + a
    for n in (99, 100, 101, 128, 129):
        yield "fields-%d" % n, req(b"GET", b"/many", [b"X-%d: %d" % (i, i) for i in range(n - 1)]) + a
    yield "long-name", req(b"GET", b"/n", [b"X-" + b"n" * 9000 + b": 1"]) + a


def fam_target():
    a = req(b"GET", b"/a")
    targets = [b"http://h/p", b"http://h", b"http://h?q=1", b"http://h:8080/p", b"https://h/p", b"HTTP://h/p",
               b"http://u@h/p", b"http://h/p#frag", b"/p#frag", b"*", b"h:80", b"//h/p", b"/a/../b", b"/a/./b",
               b"/%2e%2e/b", b"/a%2Fb", b"/a%2fb", b"/a%5cb", b"/a\\b", b"/%41%7e", b"/a//b///c", b"/a%00",
               b"/%zz", b"/a?b=%2F&c=..", b"/?", b"p", b"", b"/a b", b"http://[::1]/p", b"http:///p",
               b"http://h\x80/p", b"/\xc3\xa9", b"ftp://h/p", b"http://h/../p", b"http://h//p"]
    for t in targets:
        yield "get=%r" % t, req(b"GET", t) + a
    yield "options-asterisk", req(b"OPTIONS", b"*") + a
    yield "connect-authority", req(b"CONNECT", b"h:443") + a
    yield "absolute-host-mismatch", req(b"GET", b"http://other/p", host=b"t") + a
    yield "absolute-no-host", req(b"GET", b"http://other/p", host=None) + a


def fam_host():
    a = req(b"GET", b"/a")
    for h in [b"t", b"t:80", b"", b"T.Example", b"a b", b"t\t", b"[::1]:80", b"t:abc", b"t/evil", b"t@evil",
              b"t,evil", b"t;x", b"..", b"\xe9", b"t:", b"t:99999"]:
        yield "host=%r" % h, req(b"GET", b"/h", host=h) + a
    yield "no-host-11", req(b"GET", b"/h", host=None) + a
    yield "no-host-10", req(b"GET", b"/h", [b"Connection: keep-alive"], host=None, version=b"HTTP/1.0") + a
    yield "two-hosts", req(b"GET", b"/h", [b"Host: evil"]) + a
    yield "two-hosts-same", req(b"GET", b"/h", [b"Host: t"]) + a
    yield "host-name-case", req(b"GET", b"/h", [b"hOST: evil"], host=None) + a


HDR_POOL = [b"Content-Length: 5", b"Content-Length: 0", b"Content-Length: 40", b"Transfer-Encoding: chunked",
            b"Transfer-Encoding: identity", b"Connection: content-length", b"Connection: transfer-encoding",
            b"Connection: close", b"Connection: keep-alive", b"Connection: upgrade", b"Upgrade: websocket",
            b"Upgrade: h2c", b"HTTP2-Settings: AAMAAABk", b"Expect: 100-continue", b"Expect: foo",
            b"Trailer: X-T", b"TE: trailers", b"Host: other", b"X-Forwarded-For: 1.2.3.4",
            b"Keep-Alive: timeout=5", b"Proxy-Connection: keep-alive", b"Connection: x-hop", b"X-Hop: 1",
            b"Content-Length: 5, 5", b"Transfer-Encoding: chunked, chunked", b"Cookie: a=b"]
BODY_POOL = [b"", b"hello", SMUG, chunked(b"hello"), chunked(SMUG), chunked(b"hi", trailers=[b"X-T: 1"]),
             chunked(b"hi", trailers=[b"Content-Length: 5"]), b"5\r\nhello\r\n", b"0\r\n\r\n"]


def fam_combo(rng, count):
    """Random combinations of the header pool, seeded: up to 4 fields, a
    body from the pool, sometimes HTTP/1.0, then the next request."""
    for i in range(count):
        hdrs = rng.sample(HDR_POOL, rng.randint(1, 4))
        ver = b"HTTP/1.0" if rng.random() < 0.15 else b"HTTP/1.1"
        meth = rng.choice([b"GET", b"POST", b"PUT", b"HEAD", b"OPTIONS"])
        body = rng.choice(BODY_POOL)
        yield "combo-%d" % i, req(meth, b"/combo%d" % i, hdrs, body, version=ver) + NEXT


def load_dict(path):
    toks = []
    for line in open(path, encoding="latin-1"):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = re.search(r'"(.*)"', line)
        if m:
            toks.append(m.group(1).encode("latin-1").decode("unicode_escape").encode("latin-1"))
    return toks


def fam_corpus(corpus, toks, rng, mutations):
    """Each corpus file as is and followed by a request (responses and bare
    chunked bodies are streams a client may send too), then seeded
    mutations: a dictionary token inserted or a line repeated, dropped or
    its CRLF made bare."""
    files = sorted(os.listdir(corpus))
    seeds = []
    for f in files:
        data = open(os.path.join(corpus, f), "rb").read()
        seeds.append(data)
        yield f, data
        yield f + "+next", data + NEXT
    for i in range(mutations):
        d = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 3)):
            op = rng.randrange(5)
            lines = bytes(d).split(CRLF)
            if op == 0 and toks:
                at = rng.randint(0, len(d))
                d[at:at] = rng.choice(toks)
            elif op == 1 and len(lines) > 1:
                k = rng.randrange(len(lines))
                lines.insert(k, lines[k])
                d = bytearray(CRLF.join(lines))
            elif op == 2 and len(lines) > 2:
                del lines[rng.randrange(1, len(lines))]
                d = bytearray(CRLF.join(lines))
            elif op == 3 and len(lines) > 1:
                k = rng.randrange(len(lines) - 1)
                d = bytearray(CRLF.join(lines[:k + 1]) + rng.choice([b"\n", b"\r", b"\r\n "]) +
                              CRLF.join(lines[k + 1:]))
            elif len(d) > 0:
                at = rng.randrange(len(d))
                d[at] = rng.choice(b"\x00\r\n \t:;,0fF\x7f\xff")
        yield "mut-%d" % i, bytes(d) + (NEXT if rng.random() < 0.5 else b"")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--proxy", type=int, required=True)
    ap.add_argument("--origin", type=int, required=True)
    ap.add_argument("--frames", required=True)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--dict", required=True)
    ap.add_argument("--families", default="cl,te,conn,upgrade,expect,trailer,pipeline,bytes,target,host,combo,corpus")
    ap.add_argument("--scale", type=int, default=1, help="multiplies the seeded combo and corpus mutation counts")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--budget", type=float, default=70.0, help="seconds for all families")
    ap.add_argument("--show", type=int, default=3, help="failures printed per family")
    ap.add_argument("--log", default=None)
    a = ap.parse_args()
    H = Harness(a)
    rng = random.Random(a.seed)
    fams = {
        "cl": fam_cl, "te": fam_te, "conn": fam_conn, "upgrade": fam_upgrade, "expect": fam_expect,
        "trailer": fam_trailer, "pipeline": fam_pipeline, "bytes": fam_bytes, "target": fam_target,
        "host": fam_host,
        "combo": lambda: fam_combo(rng, 60 * a.scale),
        "corpus": lambda: fam_corpus(a.corpus, load_dict(a.dict), rng, 40 * a.scale),
    }
    names = a.families.split(",")
    for i, name in enumerate(names):
        H.run_family(name, fams[name](), len(names) - i)
    return 0


if __name__ == "__main__":
    sys.exit(main())
