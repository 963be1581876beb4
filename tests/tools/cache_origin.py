#!/usr/bin/env python3
"""tests/tools/cache_origin.py — an HTTP/1.1 origin that counts what reaches it,
for the cache tests (tests/integration/test_cache.sh).

    cache_origin.py PORT

Every GET and HEAD is counted under its target (path and query), other
methods under "METHOD TARGET"; GET /_count?t=KEY answers the count for KEY,
/_count?all=1 the total, /_reset clears them. Neither is counted.

The response is chosen by the query string, so a case says in its URL
what the origin sends:
    cc=V       Cache-Control: V          expires=N   Expires N s from now ("bad": an invalid date)
    vary=V     Vary: V                   cookie=1    Set-Cookie: s=1
    etag=V     ETag: "V"                 lm=N        Last-Modified N s ago
    age=N      Age: N                    nodate=1    no Date field
    status=N   that status               size=N      a body of N bytes (else a short text)
    chunked=1  Transfer-Encoding: chunked, the body in 3 pieces
    delay=MS   answer after MS milliseconds
    echo=NAME  the body is the request's NAME field's value
    xc=1       X-Count: the count (to see a 304 update stored fields)
    cc304=V    Cache-Control: V on a 304 instead of cc's
    sk=V       Surrogate-Key: V (tags for hactl cache purge --tag)
With etag=, an If-None-Match naming that tag is answered 304 (with the
same fields). /_fail?on=1 makes every other request a 500, /_fail?on=0
ends that.
The default body names the target and the count, so a test can tell a
stored answer from a fresh one. A POST, PUT, PATCH or DELETE is answered
204 (status= overrides) after its body is read, with loc=V as Location and
cloc=V as Content-Location.
"""
import email.utils
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
COUNTS = {}
FAIL = [False]


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True   # head and body are two writes: no 40 ms stall between them

    def log_message(self, fmt, *args):
        pass

    def count(self, prefix=""):
        k = prefix + self.path
        with LOCK:
            COUNTS[k] = COUNTS.get(k, 0) + 1
            return COUNTS[k]

    def control(self, u):
        q = dict(urllib.parse.parse_qsl(u.query))
        with LOCK:
            if u.path == "/_reset":
                COUNTS.clear()
                n = 0
            elif u.path == "/_fail":
                FAIL[0] = q.get("on") == "1"
                n = 0
            elif "all" in q:
                n = sum(COUNTS.values())
            else:
                n = COUNTS.get(q.get("t", ""), 0)
        b = b"%d\n" % n
        self.send_response(200)
        self.send_header("Content-Length", str(len(b)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(b)

    def answer(self, head_only):
        u = urllib.parse.urlparse(self.path)
        if u.path in ("/_count", "/_reset", "/_fail"):
            return self.control(u)
        n = self.count()
        q = dict(urllib.parse.parse_qsl(u.query))
        if "delay" in q:
            time.sleep(int(q["delay"]) / 1000.0)
        status = int(q.get("status", "200"))
        if FAIL[0]:
            self.send_response_only(500)
            self.send_header("Content-Length", "7")
            self.end_headers()
            if not head_only:
                self.wfile.write(b"failed\n")
            return
        if "etag" in q and '"%s"' % q["etag"] in (self.headers.get("If-None-Match") or ""):
            status = 304     # RFC 9110 §13.1.2: the tag matches
        if "echo" in q:
            body = (self.headers.get(q["echo"]) or "-").encode() + b"\n"
        elif "size" in q:
            body = (b"%s #%d " % (self.path.encode(), n)).ljust(int(q["size"]), b"x")[: int(q["size"])]
        else:
            body = b"%s #%d\n" % (self.path.encode(), n)
        if status in (204, 304):
            body = b""
        self.send_response_only(status)
        if "nodate" not in q:
            self.send_header("Date", email.utils.formatdate(usegmt=True))
        self.send_header("Content-Type", "text/plain")
        if status == 304 and "cc304" in q:
            self.send_header("Cache-Control", q["cc304"])
        elif "cc" in q:
            self.send_header("Cache-Control", q["cc"])
        if "expires" in q:
            self.send_header("Expires", "bad" if q["expires"] == "bad"
                             else email.utils.formatdate(time.time() + int(q["expires"]), usegmt=True))
        if "vary" in q:
            self.send_header("Vary", q["vary"])
        if "cookie" in q:
            self.send_header("Set-Cookie", "s=1")
        if "etag" in q:
            self.send_header("ETag", '"%s"' % q["etag"])
        if "lm" in q:
            self.send_header("Last-Modified", email.utils.formatdate(time.time() - int(q["lm"]), usegmt=True))
        if "age" in q:
            self.send_header("Age", q["age"])
        if "sk" in q:
            self.send_header("Surrogate-Key", q["sk"])
        if "xc" in q:
            self.send_header("X-Count", str(n))
        if q.get("chunked") == "1" and status not in (204, 304):
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            if not head_only:
                third = max(1, len(body) // 3)
                for i in range(0, len(body), third):
                    piece = body[i:i + third]
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                self.wfile.write(b"0\r\n\r\n")
            return
        if status not in (204, 304):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head_only:
            self.wfile.write(body)

    def do_GET(self):
        self.answer(False)

    def do_HEAD(self):
        self.answer(True)

    def unsafe(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        self.count(self.command + " ")
        q = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(self.path).query))
        self.send_response_only(int(q.get("status", "204")))
        if "loc" in q:
            self.send_header("Location", q["loc"])
        if "cloc" in q:
            self.send_header("Content-Location", q["cloc"])
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_POST = do_PUT = do_PATCH = do_DELETE = unsafe


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True


if __name__ == "__main__":
    Server(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
