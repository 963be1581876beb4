#!/usr/bin/env bash
# tests/run: parallel-safe
# tests/integration/test_compress.sh — response compression end to end.
#
# Real processes on loopback (127.0.0.1:23000-23099): a python3 origin
# written below (deterministic bodies, Content-Length or chunked in odd
# pieces, any status and header the case asks for, server-sent events, a
# WebSocket-style 101) behind proxyd, in quick mode with --compress and
# from a config file with a compression block. Clients: curl --compressed
# (gzip, br, zstd) and a python3 client that decodes with zlib, brotli and
# zstandard (python3-brotli, python3-zstandard) byte for byte.
#
# Cases: curl decodes every coding; byte-exact round trips for each coding
# across sizes (300 B, 16 KiB, 1 MiB) and chunkings (one piece, 1-byte,
# 7-byte, 4093-byte, random cuts); a server-sent event decodable before
# the stream ends (the flush); Vary merged and ETag weakened; HTTP/1.0
# gets a close-delimited body; one case per "never compressed" rule
# (Content-Encoding present, 206, Range, no-transform both ways, HEAD,
# 204, 304, Upgrade, no Accept-Encoding, q=0, type not listed, under
# min_length); the per-worker limit (max_streams = 1: a second response
# while the first streams goes out identity, and the metric counts it);
# a config file's route settings (prefer, types, min_length); the metrics
# (promtool-clean) and the access log's coding field.
#
# Until compression is wired into proxyd's filter chain (proxyd accepts
# --compress), the script says so and exits 0 having run nothing.
#
# Run from the repository root: bash tests/integration/test_compress.sh
# (BUILD=dir for binaries built elsewhere). One line per case, then
# "N passed, N failed"; exit status 1 on failure.

set -u

if [[ -z ${T_COMPRESS_BOUNDED:-} ]]; then
	export T_COMPRESS_BOUNDED=1
	exec timeout -k 10 300 bash "$0" "$@"
fi

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
BUILD=${BUILD:-build}
BUILD=$(cd "$BUILD" 2>/dev/null && pwd) || { echo "test_compress: no build directory" >&2; exit 1; }
PROXYD=$BUILD/proxyd
[[ -x $PROXYD ]] || { echo "test_compress: $PROXYD missing (make all first)" >&2; exit 1; }
if ! "$PROXYD" --help 2>&1 | grep -q -- '--compress'; then
	echo "# test_compress: $PROXYD has no --compress yet (compression is not wired into the request path): nothing run"
	exit 0
fi
PY=${T_PYTHON:-/usr/bin/python3}
for t in curl ss timeout; do
	command -v "$t" >/dev/null || { echo "test_compress: $t not installed" >&2; exit 1; }
done
"$PY" -c 'import brotli, zstandard' 2>/dev/null || { echo "test_compress: python3-brotli and python3-zstandard needed (scripts/install-deps)" >&2; exit 1; }
curl --version | grep -q 'brotli' && curl --version | grep -q 'zstd' || { echo "test_compress: curl without brotli/zstd" >&2; exit 1; }

H=127.0.0.1
P_ORIG=23001
P_QUICK=23010              # quick mode --compress
P_CONF=23020 P_ADM=23021   # config file: routes with their own settings, max_streams = 1
P_NOROUTES=23030           # config file without routes, compression.enabled

T_NAME=compress
# shellcheck source=loopback.sh
. "$(dirname "$0")/loopback.sh"

# ---- the origin and the client (one python file) ----------------------------
cat > "$T/h.py" <<'PYEOF'
import os, socket, sys, time, threading, random, zlib, urllib.parse

def body(kind, size, seed=1):
    """Deterministic test bodies: text, random bytes, or JSON-ish."""
    r = random.Random(seed * 7919 + size)
    if kind == "random":
        return bytes(r.getrandbits(8) for _ in range(size))
    words = [b"tandem", b"proxy", b"<div class=\"x\">", b"</div>\n", b"{\"id\": ", b"},", b"response",
             b"compression", b"stream", b"event", b"the", b"a", b"of"]
    out = bytearray()
    while len(out) < size:
        out += r.choice(words) + b" " + str(r.randrange(100000)).encode() + b" "
    return bytes(out[:size])

# ---- origin -------------------------------------------------------------------
HELD = {}                  # /held responses waiting for their /release, by id
HELD_LOCK = threading.Lock()

def held_event(key):
    with HELD_LOCK:
        return HELD.setdefault(key, threading.Event())

def serve(port):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port)); s.listen(256)
    while True:
        c, _ = s.accept()
        threading.Thread(target=conn, args=(c,), daemon=True).start()

def read_head(c, buf):
    while b"\r\n\r\n" not in buf:
        d = c.recv(65536)
        if not d: return None, b""
        buf += d
    head, rest = buf.split(b"\r\n\r\n", 1)
    return head.decode("latin-1"), rest

def conn(c):
    buf = b""
    try:
        while True:
            head, buf = read_head(c, buf)
            if head is None: return
            lines = head.split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            hdrs = {}
            for l in lines[1:]:
                k, _, v = l.partition(":"); hdrs[k.strip().lower()] = v.strip()
            u = urllib.parse.urlparse(target); q = dict(urllib.parse.parse_qsl(u.query))
            if not answer(c, method, u.path, q, hdrs): return
    except (BrokenPipeError, ConnectionResetError):
        pass
    finally:
        c.close()

def answer(c, method, path, q, hdrs):
    status = int(q.get("status", "200"))
    reason = {200: "OK", 204: "No Content", 206: "Partial Content", 304: "Not Modified", 101: "Switching Protocols"}.get(status, "X")
    if path == "/ws":
        c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nContent-Type: text/plain\r\n\r\n")
        c.sendall(b"tunnel bytes " * 40)
        time.sleep(0.3)
        return False
    if path == "/release":
        held_event(q["id"]).set()
        c.sendall(b"HTTP/1.1 204 No Content\r\n\r\n")
        return True
    if path == "/held":
        # All of the body but its end, then nothing until the client's
        # /release (at most 10 s): whatever proxyd keeps back from the body
        # sent so far reaches the client only after that. fill=N pads the
        # body so that head and bytes sent total exactly N.
        size, te = int(q.get("size", "200")), q.get("te", "length")
        ct = q.get("ct", "text/event-stream")
        def parts(n):
            data = body(q.get("kind", "text"), n, 3)
            if te == "chunked":
                head = ("HTTP/1.1 200 OK\r\nContent-Type: %s\r\nX-Len: %d\r\nTransfer-Encoding: chunked\r\n\r\n" % (ct, n)).encode()
                return head + b"%x\r\n%s\r\n" % (n, data), b"0\r\n\r\n"
            head = ("HTTP/1.1 200 OK\r\nContent-Type: %s\r\nX-Len: %d\r\nContent-Length: %d\r\n\r\n" % (ct, n, n + 1)).encode()
            return head + data, b"\n"
        if "fill" in q:
            fill = int(q["fill"]); size = fill - len(parts(0)[0])
            while len(parts(size)[0]) > fill: size -= 1
            while len(parts(size)[0]) < fill: size += 1
        sent, tail = parts(size)
        c.sendall(sent)
        held_event(q["id"]).wait(10)
        c.sendall(tail)
        return True
    if path == "/sse":
        n, gap = int(q.get("n", "3")), float(q.get("gap", "0.5"))
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
        for i in range(n):
            ev = b"event: tick\ndata: " + body("text", 200, i) + b"\n\n"
            c.sendall(b"%x\r\n%s\r\n" % (len(ev), ev))
            time.sleep(gap)
        c.sendall(b"0\r\n\r\n")
        return True
    size = int(q.get("size", "0"))
    data = bytes.fromhex(q["raw"]) if "raw" in q else body(q.get("kind", "text"), size, int(q.get("seed", "1")))
    h = ["HTTP/1.1 %d %s" % (status, reason), "Content-Type: " + q.get("ct", "text/html; charset=utf-8")]
    for k in ("ce", "cc", "etag", "vary"):
        if k in q:
            h.append({"ce": "Content-Encoding", "cc": "Cache-Control", "etag": "ETag", "vary": "Vary"}[k] + ": " + q[k])
    if q.get("ct") == "none": h = [h[0]]
    nobody = method == "HEAD" or status in (204, 304)
    cuts = q.get("cuts", "")
    if cuts and not nobody:
        h.append("Transfer-Encoding: chunked")
        c.sendall(("\r\n".join(h) + "\r\n\r\n").encode())
        r = random.Random(size); off = 0
        while off < len(data):
            k = r.randrange(1, 70000) if cuts == "random" else int(cuts)
            piece = data[off:off + k]; off += len(piece)
            c.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
        c.sendall(b"0\r\n\r\n")
        return True
    if status not in (204, 304): h.append("Content-Length: %d" % len(data))
    c.sendall(("\r\n".join(h) + "\r\n\r\n").encode() + (b"" if nobody else data))
    return True

# ---- client -------------------------------------------------------------------
def decoder(ce):
    if ce == "gzip":
        d = zlib.decompressobj(16 + 15); return lambda b: d.decompress(b)
    if ce == "br":
        import brotli; d = brotli.Decompressor(); return lambda b: d.process(b)
    if ce == "zstd":
        import zstandard; d = zstandard.ZstdDecompressor().decompressobj(); return lambda b: d.decompress(b)
    return lambda b: b

def request(port, target, ae=None, method="GET", extra=(), version="1.1"):
    """One request on a fresh connection; returns (status, headers, raw body bytes as framed, chunked decoded)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    req = "%s %s HTTP/%s\r\nHost: t\r\n" % (method, target, version)
    if ae is not None: req += "Accept-Encoding: %s\r\n" % ae
    for e in extra: req += e + "\r\n"
    if version == "1.0": req += "Connection: close\r\n"
    s.sendall((req + "\r\n").encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        if not d: break
        buf += d
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1]); hdrs = {}
    for l in lines[1:]:
        k, _, v = l.partition(":"); k = k.strip().lower()
        hdrs[k] = (hdrs[k] + ", " if k in hdrs else "") + v.strip()
    return s, status, hdrs, rest

def read_body(s, hdrs, rest, method="GET", status=200):
    if method == "HEAD" or status in (204, 304): return b""
    if hdrs.get("transfer-encoding", "").lower() == "chunked":
        out = b""; buf = rest
        while True:
            while b"\r\n" not in buf: buf += s.recv(65536)
            line, buf = buf.split(b"\r\n", 1); n = int(line.split(b";")[0], 16)
            if n == 0: return out
            while len(buf) < n + 2: buf += s.recv(65536)
            out += buf[:n]; buf = buf[n + 2:]
    if "content-length" in hdrs:
        n = int(hdrs["content-length"]); buf = rest
        while len(buf) < n: buf += s.recv(65536)
        return buf[:n]
    buf = rest
    while True:
        d = s.recv(65536)
        if not d: return buf
        buf += d

def fail(msg):
    print(msg); sys.exit(1)

def cmd_roundtrip(port, ae, kind, size, cuts):
    t = "/b?kind=%s&size=%s&ct=text/plain" % (kind, size) + ("&cuts=" + cuts if cuts else "")
    s, st, h, rest = request(int(port), t, ae)
    raw = read_body(s, h, rest)
    ce = h.get("content-encoding", "identity")
    if ce != ae: fail("Content-Encoding %s, want %s" % (ce, ae))
    if ce != "identity" and "content-length" in h: fail("Content-Length kept on a coded body")
    got = decoder(ce)(raw)
    want = body(kind, int(size))
    if got != want: fail("decoded %d bytes, want %d (equal prefix %d)" % (len(got), len(want),
                         next((i for i in range(min(len(got), len(want))) if got[i] != want[i]), min(len(got), len(want)))))
    print("ok %d -> %d" % (len(want), len(raw)))

def cmd_held(port, oport, ae, query, late="0"):
    """Everything the origin sent of a /held body must decode while the
    origin still holds the body open: it ends the body only once released,
    after that. late=1: read nothing until the origin is surely blocked on
    a full socket (the proxy stopped reading: the slow-client pause)."""
    key = "%d-%s" % (os.getpid(), ae)
    s, st, h, rest = request(int(port), "/held?id=%s&%s" % (key, query), ae)
    if h.get("content-encoding") != ae: fail("Content-Encoding %r, want %s" % (h.get("content-encoding"), ae))
    if h.get("transfer-encoding", "").lower() != "chunked": fail("not chunked to the client")
    want = body(dict(urllib.parse.parse_qsl(query)).get("kind", "text"), int(h["x-len"]), 3)
    if late == "1": time.sleep(1)
    dec = decoder(ae); buf = rest; got = b""; s.settimeout(30)
    while got != want:
        # chunked framing: decode what has arrived, chunk by chunk
        while b"\r\n" in buf:
            line, tail = buf.split(b"\r\n", 1); n = int(line.split(b";")[0], 16)
            if n == 0: fail("the body ended before the %d bytes sent before it decoded: held back until the origin ended it" % len(want))
            if len(tail) < n + 2: break
            got += dec(tail[:n]); buf = tail[n + 2:]
        if got == want: break
        if len(got) > len(want) or got != want[:len(got)]: fail("decoded bytes differ from what the origin sent")
        d = s.recv(65536)
        if not d: fail("closed with %d of %d bytes decoded" % (len(got), len(want)))
        buf += d
    rs, rst, rh, rrest = request(int(oport), "/release?id=" + key)
    if rst != 204: fail("release: %d" % rst)
    got += dec(read_body(s, {"transfer-encoding": "chunked"}, buf))
    if got != want + (b"" if "te=chunked" in query else b"\n"): fail("the whole body decoded differently")
    print("ok %d bytes before the end" % len(want))

def cmd_hold(port, ae, secs):
    """Open a streaming response and keep it for secs (holds a coder)."""
    s, st, h, rest = request(int(port), "/sse?n=%d&gap=0.5" % (int(float(secs) * 2)), ae)
    print(h.get("content-encoding", "identity"), flush=True)
    time.sleep(float(secs))

def cmd_head(port, target, ae, method="GET", version="1.1", *extra):
    s, st, h, rest = request(int(port), target, None if ae == "-" else ae, method, extra, version)
    b = read_body(s, h, rest, method, st)
    print("status=%d" % st)
    for k in sorted(h): print("%s: %s" % (k, h[k]))
    print("bodylen=%d" % len(b))
    print("bodyhex=%s" % b[:64].hex())

if __name__ == "__main__":
    cmd = sys.argv[1]
    {"server": lambda: serve(int(sys.argv[2])), "roundtrip": lambda: cmd_roundtrip(*sys.argv[2:7]),
     "held": lambda: cmd_held(*sys.argv[2:]), "hold": lambda: cmd_hold(*sys.argv[2:5]),
     "head": lambda: cmd_head(*sys.argv[2:])}[cmd]()
PYEOF

spawn "$T/origin.log" "$PY" "$T/h.py" server $P_ORIG
wait_for 5 listening $P_ORIG || { echo "origin did not start" >&2; exit 1; }
spawn "$T/quick.log" "$PROXYD" --listen $H:$P_QUICK --to $H:$P_ORIG --threads 1 --compress
PID_QUICK=$SPAWNED
wait_for 5 listening $P_QUICK || { echo "proxyd --compress did not start" >&2; cat "$T/quick.log" >&2; exit 1; }

cat > "$T/proxyd.conf" <<EOF
threads = 1;
user = "tandem-proxyd";
admin = { listen = "$H:$P_ADM"; socket = "$T/proxyd.sock"; };
log = { access = "$T/access.json"; format = "json"; };
compression = { max_streams = 1; };
listeners = ( { name = "t"; listen = "$H:$P_CONF"; } );
upstreams = ( { name = "o"; servers = ( { name = "o1"; address = "$H:$P_ORIG"; } ); } );
routes = (
  { name = "json"; match = { path_prefix = "/json/"; }; upstream = "o";
    rewrite = { strip_prefix = "/json"; };
    compress = { prefer = [ "gzip" ]; types = [ "application/json" ]; min_length = "1k"; levels = { gzip = 1; }; }; },
  { name = "plain"; match = { path_prefix = "/plain/"; }; upstream = "o"; rewrite = { strip_prefix = "/plain"; }; },
  { name = "all"; upstream = "o"; compress = true; }
);
EOF
spawn "$T/conf.log" "$PROXYD" -c "$T/proxyd.conf" -R "$T"
wait_for 5 listening $P_CONF || { echo "proxyd -c did not start" >&2; cat "$T/conf.log" >&2; exit 1; }

head_of() {  # PORT TARGET AE [METHOD [VERSION [HEADER...]]]: "key: value" lines
	timeout 30 "$PY" "$T/h.py" head "$@" 2>&1
}
field() {  # OUTPUT NAME: the value of NAME (a field, lower case; or status, bodylen, bodyhex) in head_of's output
	sed -n -e "s/^$2: //p" -e "s/^$2=//p" <<<"$1" | head -n 1
}
metric() {  # NAME_WITH_LABELS
	curl -s --max-time 3 "http://$H:$P_ADM/metrics" | awk -v k="$1" 'index($0, k" ") == 1 { print $2 }'
}

# ---- real clients ------------------------------------------------------------
curl_decodes() {  # CODING
	local want got ce
	want=$(curl -s "http://$H:$P_ORIG/b?size=50000" | md5sum)
	ce=$(curl -s -o /dev/null -D - -H "Accept-Encoding: $1" "http://$H:$P_QUICK/b?size=50000" | tr -d '\r' |
		sed -n 's/^[Cc]ontent-[Ee]ncoding: *//p')
	[[ $ce == "$1" ]] || { t_fail "Content-Encoding '$ce'"; return 1; }
	got=$(curl -s --compressed -H "Accept-Encoding: $1" "http://$H:$P_QUICK/b?size=50000" | md5sum)
	[[ $got == "$want" ]] || t_fail "curl --compressed decoded something else"
}
for c in gzip br zstd; do t_case "curl --compressed decodes $c" curl_decodes $c; done

roundtrip() {  # CODING KIND SIZE CUTS
	local out
	out=$(timeout 60 "$PY" "$T/h.py" roundtrip $P_QUICK "$@" 2>&1) || { t_fail "$out"; return 1; }
}
for c in gzip br zstd; do
	for size in 300 16384 1048576; do
		for cuts in "" 4093 random; do
			t_case "$c round trip: text $size bytes, ${cuts:-Content-Length} pieces" roundtrip $c text $size "$cuts"
		done
	done
	t_case "$c round trip: 16 KiB in 1-byte chunks" roundtrip $c text 16384 1
	t_case "$c round trip: 16 KiB in 7-byte chunks" roundtrip $c text 16384 7
	t_case "$c round trip: random bytes, 1 MiB" roundtrip $c random 1048576 random
done

# Held back? The origin sends a body but its end, then waits for the
# client's release; the client releases only once it decoded every byte
# sent, so output proxyd keeps back shows as an end before those bytes.
held() { local out; out=$(timeout 40 "$PY" "$T/h.py" held $P_QUICK $P_ORIG "$@" 2>&1) || { t_fail "$out"; return 1; }; }
for c in gzip br zstd; do
	t_case "$c: a server-sent event decodes before the stream ends (flush)" held $c "te=chunked&size=200"
	# A read shorter than proxyd's read, the body not ended: the coder
	# holds it until the next read finds the socket empty, which flushes.
	t_case "$c: a short read of a Content-Length body, then an idle origin (flushed on EAGAIN)" held $c "size=5000&ct=text/plain"
	# 8192: proxyd's read for a response it codes (BACKEND_HOLD_READ,
	# proxyd/backend.c). A read that fills it is not flushed (more is
	# probably there); the read after it finds nothing and must flush.
	t_case "$c: bytes that exactly fill proxyd's read, then an idle origin (flushed on EAGAIN)" held $c "fill=8192&ct=text/plain"
	t_case "$c: 1 MiB chunked, then an idle origin" held $c "te=chunked&size=1048576&ct=text/plain"
done
# Full reads one after another in one wake-up (backend_read_on(): up to
# BACKEND_HOLD_RUN = 32 of 8 KiB while the coder holds output): twelve fill
# them and the next finds nothing; 32 reach the bound, and the read queued
# after it finds nothing; 40 go past it into a second run. Whichever way,
# the end must be flushed.
t_case "gzip: twelve full reads in a row, then an idle origin (flushed on EAGAIN)" held gzip "fill=98304&ct=text/plain"
t_case "gzip: 32 full reads in a row (the run's bound), then an idle origin" held gzip "fill=262144&ct=text/plain"
t_case "gzip: 40 full reads (past the run's bound), then an idle origin" held gzip "fill=327680&ct=text/plain"
for c in gzip zstd; do
	t_case "$c: a slow client (proxyd stops reading), 2 MiB, then an idle origin" held $c "size=2097152&kind=random&ct=text/plain" 1
done

# ---- head edits ---------------------------------------------------------------
vary_etag() {
	local out
	out=$(head_of $P_QUICK '/b?size=5000&vary=Cookie&etag="v1"' gzip)
	[[ $(field "$out" content-encoding) == gzip ]] || { t_fail "not compressed"; return 1; }
	[[ $(field "$out" vary) == "Cookie, Accept-Encoding" ]] || { t_fail "Vary '$(field "$out" vary)'"; return 1; }
	[[ $(field "$out" etag) == 'W/"v1"' ]] || { t_fail "ETag '$(field "$out" etag)'"; return 1; }
	[[ -z $(field "$out" content-length) && $(field "$out" transfer-encoding) == chunked ]] || t_fail "framing: $out"
}
t_case "Vary merged, strong ETag made weak, Content-Length replaced by chunked" vary_etag
vary_star() {
	local out
	out=$(head_of $P_QUICK '/b?size=5000&vary=*' br)
	[[ $(field "$out" content-encoding) == br && $(field "$out" vary) == "*" ]] || t_fail "$out"
}
t_case "Vary: * left alone" vary_star
http10() {
	local out
	out=$(head_of $P_QUICK '/b?size=5000' gzip GET 1.0)
	[[ $(field "$out" content-encoding) == gzip && -z $(field "$out" transfer-encoding) &&
		-z $(field "$out" content-length) ]] || t_fail "$out"
}
t_case "HTTP/1.0 client: close-delimited coded body" http10

# ---- never compressed -----------------------------------------------------------
identity_for() {  # TARGET AE [METHOD [VERSION [HEADER...]]] -> ok if no Content-Encoding added
	local out
	out=$(head_of $P_QUICK "$@")
	[[ $out == status=* ]] || { t_fail "request failed: $out"; return 1; }
	[[ -z $(field "$out" content-encoding) ]] || t_fail "coded: $(field "$out" content-encoding)"
}
already() {
	local gz out
	gz=$(printf 'already compressed by the origin %.0s' $(seq 1 40) | gzip -c | od -An -tx1 | tr -d ' \n')
	out=$(head_of $P_QUICK "/b?raw=$gz&ce=gzip" "br, zstd, gzip")
	[[ $(field "$out" content-encoding) == gzip && $(field "$out" bodyhex) == "${gz:0:128}" ]] || t_fail "$out"
}
t_case "never: Content-Encoding already present (passed through as is)" already
t_case "never: 206 Partial Content" identity_for '/b?size=5000&status=206' gzip
t_case "never: a Range request" identity_for '/b?size=5000' gzip GET 1.1 "Range: bytes=0-99"
t_case "never: Cache-Control: no-transform from the origin" identity_for '/b?size=5000&cc=public,%20no-transform' gzip
t_case "never: Cache-Control: no-transform from the client" identity_for '/b?size=5000' gzip GET 1.1 "Cache-Control: no-transform"
head_vary() {
	local out
	out=$(head_of $P_QUICK '/b?size=5000' gzip HEAD)
	[[ -z $(field "$out" content-encoding) && $(field "$out" vary) == "Accept-Encoding" ]] || t_fail "$out"
}
t_case "never: HEAD (but Vary: Accept-Encoding as GET would have)" head_vary
t_case "never: 204" identity_for '/b?status=204' gzip
t_case "never: 304" identity_for '/b?status=304' gzip
upgrade() {
	local out
	out=$(head_of $P_QUICK /ws gzip GET 1.1 "Connection: Upgrade" "Upgrade: websocket" "Sec-WebSocket-Version: 13" \
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==")
	[[ $(field "$out" status) == 101 || $out == status=101* ]] || { t_fail "$out"; return 1; }
	[[ -z $(field "$out" content-encoding) && $(field "$out" bodyhex) == $(printf 'tunnel bytes ' | od -An -tx1 | tr -d ' \n')* ]] ||
		t_fail "tunnel bytes changed: $out"
}
t_case "never: an upgraded connection (101, tunnel bytes as sent)" upgrade
no_ae() {
	local out
	out=$(head_of $P_QUICK '/b?size=5000' -)
	[[ -z $(field "$out" content-encoding) && $(field "$out" vary) == "Accept-Encoding" ]] || t_fail "$out"
}
t_case "never: no Accept-Encoding (identity, with Vary)" no_ae
t_case "never: q=0 for every coding" identity_for '/b?size=5000' "gzip;q=0, br;q=0, zstd;q=0, identity"
t_case "never: only codings proxyd does not make" identity_for '/b?size=5000' "deflate, compress"
t_case "never: identity preferred by weight" identity_for '/b?size=5000' "identity;q=1, gzip;q=0.5"
t_case "never: a type not listed (image/png)" identity_for '/b?size=5000&ct=image/png' gzip
t_case "never: no Content-Type" identity_for '/b?size=5000&ct=none' gzip
t_case "never: under min_length (255 bytes)" identity_for '/b?size=255' gzip
t_case "never: empty body" identity_for '/b?size=0' gzip
negotiated() {  # AE WANT
	local out
	out=$(head_of $P_QUICK '/b?size=5000' "$1")
	[[ $(field "$out" content-encoding) == "$2" ]] || t_fail "'$1' -> '$(field "$out" content-encoding)', want $2"
}
t_case "negotiation: Chrome's list gets zstd (server order)" negotiated "gzip, deflate, br, zstd" zstd
t_case "negotiation: Firefox's list gets br" negotiated "gzip, deflate, br" br
t_case "negotiation: the client's weights win" negotiated "zstd;q=0.5, gzip;q=0.9" gzip

# ---- a config file's route settings ----------------------------------------------
conf_routes() {
	local out
	out=$(head_of $P_CONF '/json/b?size=5000&ct=application/json' "zstd, br, gzip")
	[[ $(field "$out" content-encoding) == gzip ]] || { t_fail "json route: $(field "$out" content-encoding), want gzip (prefer)"; return 1; }
	out=$(head_of $P_CONF '/json/b?size=5000&ct=text/html' gzip)
	[[ -z $(field "$out" content-encoding) ]] || { t_fail "json route coded text/html (types)"; return 1; }
	out=$(head_of $P_CONF '/json/b?size=900&ct=application/json' gzip)
	[[ -z $(field "$out" content-encoding) ]] || { t_fail "json route coded 900 bytes (min_length 1k)"; return 1; }
	out=$(head_of $P_CONF '/plain/b?size=5000' gzip)
	[[ -z $(field "$out" content-encoding) && -z $(field "$out" vary) ]] || { t_fail "route without compress coded: $out"; return 1; }
	out=$(head_of $P_CONF '/b?size=5000' zstd)
	[[ $(field "$out" content-encoding) == zstd ]] || t_fail "compress = true route: $out"
}
t_case "config file: a route's prefer, types and min_length; a route without compress" conf_routes

# ---- a file without routes: compression.enabled reaches its implicit route --------
no_routes() {
	local out
	cat > "$T/noroutes.conf" <<EOF
threads = 1;
user = "tandem-proxyd";
compression = { enabled = true; };
listeners = ( { name = "n"; listen = "$H:$P_NOROUTES"; } );
upstreams = ( { name = "o"; servers = ( { name = "o1"; address = "$H:$P_ORIG"; } ); } );
EOF
	spawn "$T/noroutes.log" "$PROXYD" -c "$T/noroutes.conf"
	wait_for 5 listening $P_NOROUTES || { t_fail "proxyd did not start: $(cat "$T/noroutes.log")"; return 1; }
	out=$(head_of $P_NOROUTES '/b?size=5000' "gzip, zstd")
	[[ $(field "$out" content-encoding) == zstd && $(field "$out" vary) == Accept-Encoding ]] ||
		t_fail "implicit route with compression.enabled: $out"
}
t_case "config file without routes: compression.enabled compresses the implicit route" no_routes

# ---- the pool limit: max_streams = 1 on one worker ---------------------------------
pool_full() {
	local before after holder out
	before=$(metric 'tandem_compress_skipped_total{reason="pool_full"}')
	timeout 20 "$PY" "$T/h.py" hold $P_CONF gzip 3 > "$T/hold.out" 2>&1 &
	holder=$!
	wait_for 5 grep -q . "$T/hold.out" || { t_fail "holder got no head"; return 1; }
	[[ $(cat "$T/hold.out") == gzip ]] || { t_fail "first stream not coded: $(cat "$T/hold.out")"; return 1; }
	out=$(head_of $P_CONF '/b?size=5000' gzip)
	[[ -z $(field "$out" content-encoding) && $(field "$out" vary) == Accept-Encoding ]] ||
		{ t_fail "second response while the only coder is busy: $out"; return 1; }
	after=$(metric 'tandem_compress_skipped_total{reason="pool_full"}')
	(( ${after:-0} > ${before:-0} )) || { t_fail "pool_full counter ${before:-none} -> ${after:-none}"; return 1; }
	wait "$holder" 2>/dev/null
	out=$(head_of $P_CONF '/b?size=5000' gzip)
	[[ $(field "$out" content-encoding) == gzip ]] || t_fail "coder not given back: $out"
}
t_case "max_streams = 1: a second response goes out identity while the first streams, counted" pool_full

counters() {
	local v
	v=$(metric 'tandem_compress_bytes_in_total{coding="gzip"}')
	[[ -n $v ]] && (( v > 0 )) || { t_fail "bytes_in gzip '$v'"; return 1; }
	v=$(metric 'tandem_compress_bytes_out_total{coding="gzip"}')
	[[ -n $v ]] && (( v > 0 )) || t_fail "bytes_out gzip '$v'"
}
t_case "metrics: bytes in and out by coding" counters

promtool_clean() {
	local out
	command -v promtool >/dev/null || { echo "# promtool not installed: lint skipped"; return 0; }
	out=$(curl -s --max-time 3 "http://$H:$P_ADM/metrics" | promtool check metrics 2>&1 | grep tandem_compress)
	[[ -z $out ]] || t_fail "$out"
}
t_case "metrics: the tandem_compress_* families lint clean (promtool)" promtool_clean

access_log() {
	local line
	head_of $P_QUICK '/b?size=5000&alog=1' gzip >/dev/null
	head_of $P_QUICK '/b?size=5000&alog=2' - >/dev/null
	head_of $P_CONF '/b?size=5000&alog=3' br >/dev/null
	wait_for 3 grep -q 'alog=2' "$T/quick.log" || { t_fail "no combined line"; return 1; }
	line=$(grep 'alog=1 ' "$T/quick.log")
	[[ $line == *' up=default/'*' enc=gzip' ]] || { t_fail "combined, coded: $line"; return 1; }
	line=$(grep 'alog=2 ' "$T/quick.log")
	[[ $line != *enc=* ]] || { t_fail "combined, identity: $line"; return 1; }
	wait_for 3 grep -q 'alog=3' "$T/access.json" || { t_fail "no JSON line"; return 1; }
	line=$(grep 'alog=3' "$T/access.json")
	[[ $(jq -r .coding <<<"$line") == br ]] || t_fail "JSON: $line"
}
t_case "access log: the coding on combined and JSON lines" access_log

t_san_case
echo "$T_PASS passed, $T_FAIL failed"
((T_FAIL == 0))
