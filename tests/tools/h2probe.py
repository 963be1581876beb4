#!/usr/bin/python3
"""tests/tools/h2probe.py — raw HTTP/2 frames against proxyd's HTTP/2 front.

Written with Debian's python3-h2 stack (hyperframe for frames, hpack for
header blocks) below the h2 state machine, so that it can send what a
conforming client never would: malformed header lists, frames on the
wrong stream, floods. Three uses:

  h2probe.py HOST PORT conformance [SECTION...]
      the conformance suite, modelled on h2spec's sections of RFC 9113
      (framing, stream states, flow control, HPACK, error codes, HTTP
      semantics): one "ok - ..." / "not ok - ..." line per case, then
      "N passed, N failed"; exit 1 on a failure.
  h2probe.py HOST PORT attack KIND [--good-port PORT]
      one attack (rapid-reset, continuation, ping, settings, empty-data,
      hpack-bomb, zero-window, settings-ack, idle) on one connection while a
      well-behaved client on another connection keeps asking for "/": the
      attacked connection must end with the expected GOAWAY (or close) and
      every good request must succeed. One line "ok - ..." or "not ok - ...".
  h2probe.py HOST PORT request [PATH]   one GET, prints ":status" and the body size.

Every read has a deadline; nothing waits forever.
"""
import socket
import ssl
import sys
import threading
import time

import hpack
from hyperframe.frame import (ContinuationFrame, DataFrame, Frame, GoAwayFrame, HeadersFrame, PingFrame,
                              PriorityFrame, RstStreamFrame, SettingsFrame, WindowUpdateFrame)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
ERR = {0: "NO_ERROR", 1: "PROTOCOL_ERROR", 2: "INTERNAL_ERROR", 3: "FLOW_CONTROL_ERROR", 4: "SETTINGS_TIMEOUT",
       5: "STREAM_CLOSED", 6: "FRAME_SIZE_ERROR", 7: "REFUSED_STREAM", 8: "CANCEL", 9: "COMPRESSION_ERROR",
       10: "CONNECT_ERROR", 11: "ENHANCE_YOUR_CALM", 12: "INADEQUATE_SECURITY", 13: "HTTP_1_1_REQUIRED"}


class Closed(Exception):
    pass


class Conn:
    """One TLS connection that negotiated h2, frames in and out by hand."""

    def __init__(self, host, port, settings=None, ack=True, preface=True):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.set_alpn_protocols(["h2"])
        raw = socket.create_connection((host, port), timeout=5)
        self.s = ctx.wrap_socket(raw, server_hostname="a.test")
        if self.s.selected_alpn_protocol() != "h2":
            raise RuntimeError("ALPN did not select h2")
        self.host, self.port = host, port
        self.enc = hpack.Encoder()
        self.dec = hpack.Decoder()
        self.buf = b""
        self.ack = ack
        self.events = []       # (type name, stream id, detail)
        self.closed = False
        self.server_settings = {}
        if preface:
            f = SettingsFrame(0)
            for k, v in (settings or {}).items():
                f.settings[k] = v
            self.send(PREFACE + f.serialize())

    def send(self, data):
        try:
            self.s.sendall(data)
        except (OSError, ssl.SSLError):
            self.closed = True
            raise Closed()

    def frame(self, f):
        self.send(f.serialize())

    def headers_block(self, headers):
        return self.enc.encode(headers)

    def request(self, sid, path="/", method="GET", end=True, extra=(), authority="a.test"):
        hs = [(":method", method), (":scheme", "https"), (":authority", authority), (":path", path)] + list(extra)
        f = HeadersFrame(sid)
        f.data = self.headers_block(hs)
        f.flags.add("END_HEADERS")
        if end:
            f.flags.add("END_STREAM")
        self.frame(f)

    def read_frame(self, deadline):
        while True:
            if len(self.buf) >= 9:
                f, length = Frame.parse_frame_header(memoryview(self.buf[:9]))
                if len(self.buf) >= 9 + length:
                    f.parse_body(memoryview(self.buf[9:9 + length]))
                    self.buf = self.buf[9 + length:]
                    return f
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.s.settimeout(left)
            try:
                d = self.s.recv(65536)
            except socket.timeout:
                return None
            except (OSError, ssl.SSLError):
                d = b""
            if not d:
                self.closed = True
                raise Closed()
            self.buf += d

    def pump(self, until, timeout=5.0):
        """Reads frames until until(frame) is true (returns the frame), the
        connection closes (returns "closed") or the deadline (None)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                f = self.read_frame(deadline)
            except Closed:
                return "closed"
            if f is None:
                return None
            self.note(f)
            if until(f):
                return f

    def note(self, f):
        if isinstance(f, SettingsFrame) and "ACK" not in f.flags:
            self.server_settings.update(f.settings)
            if self.ack:
                try:
                    self.send(SettingsFrame(0, flags=["ACK"]).serialize())
                except Closed:
                    pass
        if isinstance(f, HeadersFrame):
            try:
                hs = self.dec.decode(f.data)
            except Exception:  # noqa: BLE001 - a decoding failure is the finding
                hs = []
            self.events.append(("HEADERS", f.stream_id, dict((k if isinstance(k, str) else k.decode(),
                                                               v if isinstance(v, str) else v.decode())
                                                              for k, v in hs)))
        elif isinstance(f, RstStreamFrame):
            self.events.append(("RST_STREAM", f.stream_id, ERR.get(f.error_code, f.error_code)))
        elif isinstance(f, GoAwayFrame):
            self.events.append(("GOAWAY", f.last_stream_id, ERR.get(f.error_code, f.error_code)))
        elif isinstance(f, DataFrame):
            self.events.append(("DATA", f.stream_id, len(f.data)))
        elif isinstance(f, PingFrame):
            self.events.append(("PING", 0, bytes(f.opaque_data)))

    def handshake(self):
        """The server's SETTINGS and the ACK of ours."""
        r = self.pump(lambda f: isinstance(f, SettingsFrame) and "ACK" in f.flags, 5)
        return r is not None and r != "closed"

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


def status_of(c, sid):
    for t, s, d in c.events:
        if t == "HEADERS" and s == sid and ":status" in d:
            return d[":status"]
    return None


def ended(c, sid):
    """The stream's error, "GOAWAY:CODE", "closed", or None while it runs."""
    for t, s, d in c.events:
        if t == "RST_STREAM" and s == sid:
            return "RST_STREAM:" + d
        if t == "GOAWAY":
            return "GOAWAY:" + d
    return "closed" if c.closed else None


def wait_stream_error(c, sid, timeout=5):
    r = c.pump(lambda f: (isinstance(f, RstStreamFrame) and f.stream_id == sid) or isinstance(f, GoAwayFrame)
               or (isinstance(f, HeadersFrame) and f.stream_id == sid and "END_STREAM" in f.flags)
               or (isinstance(f, DataFrame) and f.stream_id == sid and "END_STREAM" in f.flags), timeout)
    if r == "closed":
        return "closed"
    if r is None:
        return "timeout"
    if isinstance(r, RstStreamFrame):
        return "RST_STREAM:" + ERR.get(r.error_code, str(r.error_code))
    if isinstance(r, GoAwayFrame):
        return "GOAWAY:" + ERR.get(r.error_code, str(r.error_code))
    return "status:" + str(status_of(c, sid))


def wait_conn_error(c, timeout=5):
    r = c.pump(lambda f: isinstance(f, GoAwayFrame), timeout)
    if r == "closed":
        return "closed"
    if r is None:
        return "timeout"
    return "GOAWAY:" + ERR.get(r.error_code, str(r.error_code))


def wait_response(c, sid, timeout=5):
    """Reads the whole response on sid: (status, body bytes) or (error, 0)."""
    body = 0
    deadline = time.monotonic() + timeout
    while True:
        try:
            f = c.read_frame(deadline)
        except Closed:
            return ("closed", body)
        if f is None:
            return ("timeout", body)
        c.note(f)
        if f.stream_id == sid:
            if isinstance(f, DataFrame):
                body += len(f.data)
                if f.data:
                    w = WindowUpdateFrame(sid)
                    w.window_increment = len(f.data)
                    w0 = WindowUpdateFrame(0)
                    w0.window_increment = len(f.data)
                    c.send(w.serialize() + w0.serialize())
            if isinstance(f, RstStreamFrame):
                return ("RST_STREAM:" + ERR.get(f.error_code, str(f.error_code)), body)
            if "END_STREAM" in getattr(f, "flags", ()):
                return (status_of(c, sid), body)
        if isinstance(f, GoAwayFrame) and f.error_code != 0:
            return ("GOAWAY:" + ERR.get(f.error_code, str(f.error_code)), body)


# ---- conformance -------------------------------------------------------------

CASES = []


def case(section, name):
    def deco(fn):
        CASES.append((section, name, fn))
        return fn
    return deco


def raw_case(section, name, data, want):
    """A case that sends DATA (raw frames) after the SETTINGS exchange and
    wants the connection error WANT."""
    def fn(h, p):
        c = fresh(h, p)
        c.send(data)
        return expect_conn(c, want)
    case(section, name)(fn)


def fresh(host, port, **kw):
    c = Conn(host, port, **kw)
    if not c.handshake():
        raise RuntimeError("no SETTINGS exchange")
    return c


def expect_stream(c, sid, want):
    got = wait_stream_error(c, sid)
    if got not in want:
        return "got %s, want %s" % (got, " or ".join(want))
    return None


def expect_conn(c, want):
    got = wait_conn_error(c)
    if got not in want:
        return "got %s, want %s" % (got, " or ".join(want))
    return None


@case("3.4", "the server's first frame is SETTINGS")
def _c34(h, p):
    c = Conn(h, p)
    f = c.pump(lambda f: True, 5)
    return None if isinstance(f, SettingsFrame) and "ACK" not in f.flags else "first frame %r" % (f,)


@case("3.4", "an invalid connection preface -> connection error")
def _c34b(h, p):
    c = Conn(h, p, preface=False)
    c.send(b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n" + SettingsFrame(0).serialize())
    return expect_conn(c, ["GOAWAY:PROTOCOL_ERROR", "closed"])


@case("4.1", "a frame of unknown type is ignored")
def _c41(h, p):
    c = fresh(h, p)
    c.send(b"\x00\x00\x04\xee\x00\x00\x00\x00\x00abcd")
    c.request(1)
    st, _ = wait_response(c, 1)
    return None if st == "200" else "got %s" % st


@case("4.2", "DATA larger than SETTINGS_MAX_FRAME_SIZE -> FRAME_SIZE_ERROR")
def _c42(h, p):
    c = fresh(h, p)
    c.request(1, method="POST", end=False)
    d = DataFrame(1)
    d.data = b"x" * 16385
    c.frame(d)
    return expect_conn(c, ["GOAWAY:FRAME_SIZE_ERROR"]) and expect_stream(c, 1, ["RST_STREAM:FRAME_SIZE_ERROR"])


@case("4.3", "a header block that is not HPACK -> COMPRESSION_ERROR")
def _c43(h, p):
    c = fresh(h, p)
    f = HeadersFrame(1)
    f.data = b"\xff\xff\xff\xff\xff\xff\xff\x7f"
    f.flags.add("END_HEADERS")
    f.flags.add("END_STREAM")
    c.frame(f)
    return expect_conn(c, ["GOAWAY:COMPRESSION_ERROR"])


@case("5.1", "DATA on an idle stream -> PROTOCOL_ERROR")
def _c51a(h, p):
    c = fresh(h, p)
    d = DataFrame(1)
    d.data = b"x"
    c.frame(d)
    return expect_conn(c, ["GOAWAY:PROTOCOL_ERROR"])


@case("5.1", "HEADERS on a half-closed (remote) stream -> STREAM_CLOSED")
def _c51b(h, p):
    c = fresh(h, p)
    c.request(1, path="/delay/300")
    c.request(1, path="/delay/300")
    return expect_stream(c, 1, ["RST_STREAM:STREAM_CLOSED", "GOAWAY:STREAM_CLOSED", "GOAWAY:PROTOCOL_ERROR"])


@case("5.1.1", "an even stream id from the client -> PROTOCOL_ERROR")
def _c511a(h, p):
    c = fresh(h, p)
    c.request(2)
    return expect_conn(c, ["GOAWAY:PROTOCOL_ERROR"])


@case("5.1.1", "a stream id lower than one used is never served (nghttp2 ignores it as closed; no PROTOCOL_ERROR)")
def _c511b(h, p):
    c = fresh(h, p)
    c.request(5, path="/status/204")
    c.request(3, path="/status/204")
    c.request(7, path="/status/204")
    got = wait_stream_error(c, 7)
    served = [s for t, s, d in c.events if t == "HEADERS" and s == 3]
    return None if got == "status:204" and not served else "stream 7: %s, stream 3 answered: %s" % (got, bool(served))


@case("5.1.2", "streams over SETTINGS_MAX_CONCURRENT_STREAMS are refused")
def _c512(h, p):
    c = fresh(h, p)
    n = c.server_settings.get(3, 100)
    for i in range(n + 1):
        c.request(1 + 2 * i, path="/delay/5000")
    got = wait_stream_error(c, 1 + 2 * n)
    return None if got in ("RST_STREAM:REFUSED_STREAM", "RST_STREAM:PROTOCOL_ERROR", "GOAWAY:PROTOCOL_ERROR") \
        else "stream %d: got %s" % (1 + 2 * n, got)


@case("5.5", "an unknown extension frame inside a header block -> PROTOCOL_ERROR")
def _c55(h, p):
    c = fresh(h, p)
    f = HeadersFrame(1)
    f.data = c.headers_block([(":method", "GET"), (":scheme", "https"), (":path", "/")])
    f.flags.add("END_STREAM")
    c.frame(f)
    c.send(b"\x00\x00\x04\xee\x00\x00\x00\x00\x01abcd")
    return expect_conn(c, ["GOAWAY:PROTOCOL_ERROR"])


raw_case("6.1", "DATA on stream 0 -> PROTOCOL_ERROR", b"\x00\x00\x01\x00\x00\x00\x00\x00\x00x", ["GOAWAY:PROTOCOL_ERROR"])


@case("6.2", "HEADERS on stream 0 -> PROTOCOL_ERROR")
def _c62(h, p):
    c = fresh(h, p)
    blk = c.headers_block([(":method", "GET"), (":scheme", "https"), (":path", "/")])
    c.send(len(blk).to_bytes(3, "big") + b"\x01\x05\x00\x00\x00\x00" + blk)
    return expect_conn(c, ["GOAWAY:PROTOCOL_ERROR"])


@case("6.3", "PRIORITY of a wrong length -> FRAME_SIZE_ERROR")
def _c63(h, p):
    c = fresh(h, p)
    c.send(b"\x00\x00\x04\x02\x00\x00\x00\x00\x01\x00\x00\x00\x00")
    got = wait_stream_error(c, 1)
    return None if got in ("RST_STREAM:FRAME_SIZE_ERROR", "GOAWAY:FRAME_SIZE_ERROR") else "got " + got


raw_case("6.4", "RST_STREAM on stream 0 -> PROTOCOL_ERROR", b"\x00\x00\x04\x03\x00\x00\x00\x00\x00\x00\x00\x00\x08", ["GOAWAY:PROTOCOL_ERROR"])


@case("6.4", "RST_STREAM on an idle stream -> PROTOCOL_ERROR")
def _c64b(h, p):
    c = fresh(h, p)
    c.frame(RstStreamFrame(1, error_code=8))
    return expect_conn(c, ["GOAWAY:PROTOCOL_ERROR"])


raw_case("6.5", "SETTINGS ACK with a payload -> FRAME_SIZE_ERROR", b"\x00\x00\x06\x04\x01\x00\x00\x00\x00\x00\x01\x00\x00\x10\x00", ["GOAWAY:FRAME_SIZE_ERROR"])


raw_case("6.5", "SETTINGS on a stream -> PROTOCOL_ERROR", b"\x00\x00\x00\x04\x00\x00\x00\x00\x01", ["GOAWAY:PROTOCOL_ERROR"])


raw_case("6.5.2", "SETTINGS_ENABLE_PUSH = 2 -> PROTOCOL_ERROR", b"\x00\x00\x06\x04\x00\x00\x00\x00\x00\x00\x02\x00\x00\x00\x02", ["GOAWAY:PROTOCOL_ERROR"])


raw_case("6.5.2", "SETTINGS_INITIAL_WINDOW_SIZE over 2^31-1 -> FLOW_CONTROL_ERROR", b"\x00\x00\x06\x04\x00\x00\x00\x00\x00\x00\x04\x80\x00\x00\x00", ["GOAWAY:FLOW_CONTROL_ERROR"])


raw_case("6.5.2", "SETTINGS_MAX_FRAME_SIZE below 16384 -> PROTOCOL_ERROR", b"\x00\x00\x06\x04\x00\x00\x00\x00\x00\x00\x05\x00\x00\x10\x00", ["GOAWAY:PROTOCOL_ERROR"])


@case("6.5.3", "our SETTINGS are acknowledged")
def _c653(h, p):
    c = Conn(h, p)
    return None if c.handshake() else "no SETTINGS ACK"


@case("6.7", "PING is answered with an ACK carrying the same data")
def _c67a(h, p):
    c = fresh(h, p)
    c.frame(PingFrame(0, opaque_data=b"h2probe!"))
    f = c.pump(lambda f: isinstance(f, PingFrame) and "ACK" in f.flags, 5)
    return None if isinstance(f, PingFrame) and bytes(f.opaque_data) == b"h2probe!" else "got %r" % (f,)


raw_case("6.7", "PING on a stream -> PROTOCOL_ERROR", b"\x00\x00\x08\x06\x00\x00\x00\x00\x01" + b"x" * 8, ["GOAWAY:PROTOCOL_ERROR"])


raw_case("6.7", "PING of a wrong length -> FRAME_SIZE_ERROR", b"\x00\x00\x06\x06\x00\x00\x00\x00\x00" + b"x" * 6, ["GOAWAY:FRAME_SIZE_ERROR"])


raw_case("6.8", "GOAWAY on a stream -> PROTOCOL_ERROR", b"\x00\x00\x08\x07\x00\x00\x00\x00\x01" + b"\x00" * 8, ["GOAWAY:PROTOCOL_ERROR"])


raw_case("6.9", "WINDOW_UPDATE of 0 on the connection -> PROTOCOL_ERROR", b"\x00\x00\x04\x08\x00\x00\x00\x00\x00\x00\x00\x00\x00", ["GOAWAY:PROTOCOL_ERROR"])


raw_case("6.9.1", "a connection window over 2^31-1 -> FLOW_CONTROL_ERROR", b"\x00\x00\x04\x08\x00\x00\x00\x00\x00\x7f\xff\xff\xff", ["GOAWAY:FLOW_CONTROL_ERROR"])


@case("6.9.2", "DATA respects SETTINGS_INITIAL_WINDOW_SIZE and goes on after WINDOW_UPDATE")
def _c692(h, p):
    c = fresh(h, p, settings={4: 1000})
    c.request(1, path="/")
    got = 0
    deadline = time.monotonic() + 1.0
    while True:
        try:
            f = c.read_frame(deadline)
        except Closed:
            return "closed"
        if f is None:
            break
        c.note(f)
        if isinstance(f, DataFrame) and f.stream_id == 1:
            got += len(f.data)
    if got > 1000:
        return "%d bytes sent in a 1000-byte window" % got
    st, body = None, got
    w = WindowUpdateFrame(1)
    w.window_increment = 1 << 30
    c.frame(w)
    st, more = wait_response(c, 1)
    return None if st == "200" and body + more > 1000 else "after WINDOW_UPDATE: %s, %d bytes" % (st, body + more)


@case("6.10", "CONTINUATION without HEADERS -> PROTOCOL_ERROR")
def _c610a(h, p):
    c = fresh(h, p)
    f = ContinuationFrame(1)
    f.data = c.headers_block([("x", "y")])
    f.flags.add("END_HEADERS")
    c.frame(f)
    return expect_conn(c, ["GOAWAY:PROTOCOL_ERROR"])


@case("6.10", "another frame inside a header block -> PROTOCOL_ERROR")
def _c610b(h, p):
    c = fresh(h, p)
    f = HeadersFrame(1)
    f.data = c.headers_block([(":method", "GET"), (":scheme", "https"), (":path", "/")])
    f.flags.add("END_STREAM")
    c.frame(f)
    c.frame(PingFrame(0, opaque_data=b"12345678"))
    return expect_conn(c, ["GOAWAY:PROTOCOL_ERROR"])


@case("6.10", "a header block split over CONTINUATION frames is one request")
def _c610c(h, p):
    c = fresh(h, p)
    blk = c.headers_block([(":method", "GET"), (":scheme", "https"), (":authority", "a.test"), (":path", "/echo"),
                           ("x-split", "yes")])
    f = HeadersFrame(1)
    f.data = blk[:5]
    f.flags.add("END_STREAM")
    c.frame(f)
    g = ContinuationFrame(1)
    g.data = blk[5:]
    g.flags.add("END_HEADERS")
    c.frame(g)
    st, n = wait_response(c, 1)
    return None if st == "200" and n > 0 else "got %s" % st


def malformed(extra=(), base=None):
    def fn(h, p):
        c = fresh(h, p)
        hs = base if base is not None else [(":method", "GET"), (":scheme", "https"), (":authority", "a.test"),
                                            (":path", "/")]
        f = HeadersFrame(1)
        f.data = c.headers_block(list(hs) + list(extra))
        f.flags.add("END_HEADERS")
        f.flags.add("END_STREAM")
        c.frame(f)
        return expect_stream(c, 1, ["RST_STREAM:PROTOCOL_ERROR"])
    return fn


M = [(":method", "GET"), (":scheme", "https"), (":authority", "a.test"), (":path", "/")]
for _name, _kw in [
        ("an upper-case field name", dict(extra=[("X-Upper", "1")])),
        ("a connection-specific field (connection)", dict(extra=[("connection", "keep-alive")])),
        ("a connection-specific field (transfer-encoding)", dict(extra=[("transfer-encoding", "chunked")])),
        ("a connection-specific field (upgrade)", dict(extra=[("upgrade", "h2c")])),
        ("TE other than trailers", dict(extra=[("te", "gzip")])),
        ("a CR LF in a field value", dict(extra=[("x-a", "1\r\nx-b: 2")])),
        ("a NUL in a field value", dict(extra=[("x-a", "1\x002")])),
        ("a field value with leading white space", dict(extra=[("x-a", " 1")])),
        ("no :path", dict(base=[(":method", "GET"), (":scheme", "https"), (":authority", "a.test")])),
        ("no :method", dict(base=[(":scheme", "https"), (":authority", "a.test"), (":path", "/")])),
        ("an empty :path", dict(base=[(":method", "GET"), (":scheme", "https"), (":authority", "a.test"),
                                      (":path", "")])),
        ("two :method", dict(extra=[(":method", "POST")], base=M[:1] + M)),
        ("a pseudo-header after a regular field", dict(base=M[:3] + [("x-a", "1"), (":path", "/")])),
        ("an unknown pseudo-header", dict(extra=[(":foo", "bar")], base=[M[0], M[1], M[2], (":foo", "1"), M[3]])),
        ("a response pseudo-header in a request", dict(base=M + [(":status", "200")])),
        (":path not in origin form", dict(base=M[:3] + [(":path", "http://a.test/")])),
        ("a Host naming another authority than :authority", dict(extra=[("host", "b.test")])),
]:
    case("8.2", "malformed: " + _name + " -> RST_STREAM PROTOCOL_ERROR")(malformed(**_kw))


def length_mismatch(cl):
    """content-length cl with 5 bytes of DATA: a malformed request (RFC 9113 §8.1.1)."""
    def fn(h, p):
        c = fresh(h, p)
        c.request(1, method="POST", end=False, extra=[("content-length", cl)])
        d = DataFrame(1)
        d.data = b"12345"
        d.flags.add("END_STREAM")
        c.frame(d)
        return expect_stream(c, 1, ["RST_STREAM:PROTOCOL_ERROR"])
    return fn


case("8.1.1", "content-length larger than the DATA -> PROTOCOL_ERROR")(length_mismatch("10"))
case("8.1.1", "content-length smaller than the DATA -> PROTOCOL_ERROR")(length_mismatch("2"))


@case("8.1", "a request with a body and trailers is answered")
def _c81(h, p):
    c = fresh(h, p)
    c.request(1, path="/echo-body", method="POST", end=False)
    d = DataFrame(1)
    d.data = b"hello"
    c.frame(d)
    t = HeadersFrame(1)
    t.data = c.headers_block([("x-trailer", "1")])
    t.flags.add("END_HEADERS")
    t.flags.add("END_STREAM")
    c.frame(t)
    st, n = wait_response(c, 1)
    return None if st == "200" and n == 5 else "got %s, %d bytes" % (st, n)


@case("8.2.3", "cookie crumbs are joined into one Cookie for HTTP/1.1")
def _c823(h, p):
    c = fresh(h, p)
    c.request(1, path="/echo", extra=[("cookie", "a=1"), ("cookie", "b=2")])
    body = b""
    deadline = time.monotonic() + 5
    while True:
        try:
            f = c.read_frame(deadline)
        except Closed:
            return "closed"
        if f is None:
            return "timeout"
        c.note(f)
        if isinstance(f, DataFrame) and f.stream_id == 1:
            body += f.data
            if "END_STREAM" in f.flags:
                break
    return None if b"cookie: a=1; b=2\r\n" in body.lower() else "backend saw %r" % body[:400]


@case("8.3.1", "a request with Host and no :authority is answered")
def _c831(h, p):
    c = fresh(h, p)
    f = HeadersFrame(1)
    f.data = c.headers_block([(":method", "GET"), (":scheme", "https"), (":path", "/"), ("host", "a.test")])
    f.flags.add("END_HEADERS")
    f.flags.add("END_STREAM")
    c.frame(f)
    st, _ = wait_response(c, 1)
    return None if st == "200" else "got %s" % st


@case("8.2.2", "a response carries no connection-specific field")
def _c822(h, p):
    c = fresh(h, p)
    c.request(1, path="/")
    st, _ = wait_response(c, 1)
    hs = [d for t, s, d in c.events if t == "HEADERS" and s == 1]
    bad = [k for d in hs for k in d if k in ("connection", "keep-alive", "transfer-encoding", "upgrade",
                                              "proxy-connection")]
    return None if st == "200" and not bad else "status %s, fields %s" % (st, bad)


@case("10.5.1", "a header list over max_header_list_size is answered 431")
def _c1051(h, p):
    c = fresh(h, p)
    c.request(1, path="/", extra=[("x-big", "abcdefgh" * 2500)])
    st, _ = wait_response(c, 1)
    return None if st == "431" else "got %s" % st


def conformance(h, p, only):
    npass = nfail = 0
    for sec, name, fn in CASES:
        if only and not any(sec == o or sec.startswith(o + ".") for o in only):
            continue
        try:
            why = fn(h, p)
        except Exception as e:  # noqa: BLE001 - any failure is the case's
            why = "%s: %s" % (type(e).__name__, e)
        if why is None:
            print("ok - %s %s" % (sec, name))
            npass += 1
        else:
            print("not ok - %s %s (%s)" % (sec, name, why))
            nfail += 1
        sys.stdout.flush()
    print("%d passed, %d failed" % (npass, nfail))
    return 1 if nfail else 0


# ---- attacks -----------------------------------------------------------------

class Good(threading.Thread):
    """A well-behaved client on its own connection: GET / in a loop."""

    def __init__(self, h, p):
        super().__init__(daemon=True)
        self.h, self.p = h, p
        self.ok = self.bad = 0
        self.why = ""
        self.stop = threading.Event()

    def run(self):
        c = None
        sid = 1
        while not self.stop.is_set() or self.ok == 0:
            try:
                if c is None:
                    c = fresh(self.h, self.p)
                    sid = 1
                c.request(sid, path="/")
                st, _ = wait_response(c, sid, 10)
                if st == "200":
                    self.ok += 1
                else:
                    self.bad += 1
                    self.why = "status %s" % st
                    c = None
                sid += 2
                if sid > 2001:
                    c = None
            except Exception as e:  # noqa: BLE001
                self.bad += 1
                self.why = "%s: %s" % (type(e).__name__, e)
                c = None
            if self.ok + self.bad > 5000:
                break


def goaway_seen(c):
    """Reads what already arrived (without waiting): True once a GOAWAY came."""
    try:
        c.pump(lambda f: isinstance(f, GoAwayFrame), 0.001)
    except Closed:
        pass
    return any(t == "GOAWAY" for t, s, d in c.events) or c.closed


def attack(h, p, kind, good_port):
    g = Good(h, good_port or p)
    g.start()
    c = fresh(h, p)
    want = ["GOAWAY:ENHANCE_YOUR_CALM"]
    sent = 0
    try:
        if kind == "rapid-reset":
            # CVE-2023-44487: open and cancel at once, as fast as possible.
            for i in range(5000):
                sid = 1 + 2 * i
                f = HeadersFrame(sid)
                f.data = c.headers_block([(":method", "GET"), (":scheme", "https"), (":authority", "a.test"),
                                          (":path", "/delay/200")])
                f.flags.add("END_HEADERS")
                f.flags.add("END_STREAM")
                c.send(f.serialize() + RstStreamFrame(sid, error_code=8).serialize())
                sent += 1
                if sent % 50 == 0 and goaway_seen(c):
                    break
        elif kind == "continuation":
            # CVE-2024-27316 class: a header block that never ends.
            f = HeadersFrame(1)
            f.data = c.headers_block([(":method", "GET"), (":scheme", "https"), (":path", "/")])
            f.flags.add("END_STREAM")
            c.frame(f)
            for i in range(10000):
                g2 = ContinuationFrame(1)
                g2.data = c.headers_block([("x-flood-%d" % (i % 50), "a" * 100)])
                c.frame(g2)
                sent += 1
                if sent % 50 == 0 and goaway_seen(c):
                    break
            want = ["GOAWAY:ENHANCE_YOUR_CALM", "GOAWAY:PROTOCOL_ERROR", "closed"]
        elif kind == "ping":
            for i in range(20000):
                c.frame(PingFrame(0, opaque_data=i.to_bytes(8, "big")))
                sent += 1
                if sent % 50 == 0 and goaway_seen(c):
                    break
        elif kind == "settings":
            for i in range(20000):
                c.frame(SettingsFrame(0))
                sent += 1
                if sent % 50 == 0 and goaway_seen(c):
                    break
        elif kind == "empty-data":
            c.request(1, path="/echo-body", method="POST", end=False)
            for i in range(20000):
                c.frame(DataFrame(1))
                sent += 1
                if sent % 50 == 0 and goaway_seen(c):
                    break
        elif kind == "hpack-bomb":
            # One 4000-byte field in the dynamic table, then referenced by
            # a one-byte index thousands of times: a 4 KB block, a list of
            # megabytes.
            hs = [(":method", "GET"), (":scheme", "https"), (":authority", "a.test"), (":path", "/")]
            c.request(1, path="/", extra=[("x-bomb", "b" * 4000)])
            blk = c.headers_block(hs + [("x-bomb", "b" * 4000)] * 4000)
            for k in range(0, len(blk), 16384):
                part = blk[k:k + 16384]
                if k == 0:
                    f = HeadersFrame(3)
                    f.flags.add("END_STREAM")
                else:
                    f = ContinuationFrame(3)
                f.data = part
                if k + 16384 >= len(blk):
                    f.flags.add("END_HEADERS")
                c.frame(f)
                sent += 1
                if sent % 50 == 0 and goaway_seen(c):
                    break
        elif kind == "zero-window":
            # A reader that never opens its window: the stream is reset on
            # the backend's idle timeout, nothing piles up meanwhile.
            c.close()
            c = fresh(h, p, settings={4: 0})
            for i in range(10):
                c.request(1 + 2 * i, path="/")
            want = ["RST_STREAM:INTERNAL_ERROR"]
            got = wait_stream_error(c, 1, 15)
            g.stop.set()
            g.join(30)
            return finish(kind, got, want, g, sent)
        elif kind == "settings-ack":
            c.close()
            c = Conn(h, p, ack=False)
            want = ["GOAWAY:SETTINGS_TIMEOUT"]
            got = wait_conn_error(c, 15)
            g.stop.set()
            g.join(30)
            return finish(kind, got, want, g, sent)
        elif kind == "idle":
            want = ["GOAWAY:NO_ERROR"]
        else:
            print("not ok - unknown attack %s" % kind)
            return 1
    except Closed:
        pass
    got = "closed" if c.closed else wait_conn_error(c, 15)
    if not any(t == "GOAWAY" for t, s, d in c.events):
        try:
            c.pump(lambda f: isinstance(f, GoAwayFrame), 1)
        except Closed:
            pass
    if got == "closed" or any(t == "GOAWAY" for t, s, d in c.events):
        # The GOAWAY may sit before the close in what was received.
        for t, s, d in c.events:
            if t == "GOAWAY":
                got = "GOAWAY:" + d
    g.stop.set()
    g.join(30)
    return finish(kind, got, want, g, sent)


def finish(kind, got, want, g, sent):
    if got not in want:
        print("not ok - %s: attacked connection ended with %s, want %s (%d frames sent)" % (kind, got, " or ".join(want),
                                                                                         sent))
        return 1
    if g.bad or not g.ok:
        print("not ok - %s: good client: %d ok, %d failed (%s)" % (kind, g.ok, g.bad, g.why))
        return 1
    print("ok - %s: %s after %d frames; good client %d/%d" % (kind, got, sent, g.ok, g.ok + g.bad))
    return 0


def graceful(h, p, how, arg):
    """A slow stream under way when proxyd drains (admin "drain on") or
    stops (SIGTERM): a GOAWAY NO_ERROR naming it as processed, the stream
    still answered in full, then the close (RFC 9113 §6.8)."""
    import os
    import signal
    c = fresh(h, p)
    c.request(1, path="/delay/700")
    # Frames are handled in order: once the PING that follows the HEADERS
    # is answered, the stream has been taken (no sleep to guess it).
    c.frame(PingFrame(0, opaque_data=b"in-order"))
    if not isinstance(c.pump(lambda f: isinstance(f, PingFrame) and "ACK" in f.flags, 5), PingFrame):
        print("not ok - %s: no PING ACK" % how)
        return 1
    if how == "drain":
        a = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        a.settimeout(5)
        a.connect(arg)
        a.sendall(b"drain on\n")
        a.recv(4096)
        a.close()
    else:
        os.kill(int(arg), signal.SIGTERM)
    st, n = wait_response(c, 1, 10)
    gw = [(s, d) for t, s, d in c.events if t == "GOAWAY"]
    if not gw:
        c.pump(lambda f: isinstance(f, GoAwayFrame), 3)
        gw = [(s, d) for t, s, d in c.events if t == "GOAWAY"]
    end = c.pump(lambda f: False, 5)
    if st != "200" or not gw or gw[0][1] != "NO_ERROR" or gw[0][0] < 1 or end != "closed":
        print("not ok - %s: stream %s (%d bytes), GOAWAY %s, then %s" % (how, st, n, gw, end))
        return 1
    print("ok - %s: GOAWAY NO_ERROR (last stream %d), the stream under way answered (%d bytes), then closed"
          % (how, gw[0][0], n))
    return 0


def main(argv):
    if len(argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    h, p, what = argv[1], int(argv[2]), argv[3]
    if what == "conformance":
        return conformance(h, p, argv[4:])
    if what == "attack":
        gp = int(argv[6]) if len(argv) > 6 and argv[5] == "--good-port" else None
        return attack(h, p, argv[4], gp)
    if what in ("drain", "stop"):
        return graceful(h, p, what, argv[4])
    if what == "request":
        c = fresh(h, p)
        c.request(1, path=argv[4] if len(argv) > 4 else "/")
        print(*wait_response(c, 1))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
