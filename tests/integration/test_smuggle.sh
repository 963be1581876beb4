#!/usr/bin/env bash
# tests/run: parallel-safe
# tests/integration/test_smuggle.sh — request smuggling through fields a peer
# may not make hop-by-hop, performed end to end.
#
# Real processes on loopback (127.0.0.1:26000-26099): one proxyd (one worker,
# so every request shares one backend connection pool) in front of a python
# origin that frames requests itself (Content-Length, else chunked, else no
# body), logs one JSON line per request it reads (method, target, headers,
# body length) and answers each with the target it served. The clients send
# raw bytes. Cases: Content-Length or chunked framing named by Connection with
# a body that is itself a request (the origin must read exactly one request,
# with the framing header, and the next client on the pooled connection must
# get its own answer); Connection: host; Connection: x-forwarded-for; a
# response naming its Content-Length or Transfer-Encoding in Connection;
# Upgrade: h2c with HTTP2-Settings (stripped; a backend 101 is then refused);
# a WebSocket handshake still tunnels; a forbidden trailer field; and the
# counters that say each defence acted.
#
# Run from the repository root: bash tests/integration/test_smuggle.sh
# (BUILD=dir for binaries built elsewhere, T_PORT_BASE to move the ports,
# T_ONLY=WORD to run only the cases whose name contains WORD: against an
# unfixed binary one case's leftovers would otherwise blur the next).
# One line per case, then "N passed, N failed"; exit status 1 on failure.

set -u

if [[ -z ${T_SMUGGLE_BOUNDED:-} ]]; then
	export T_SMUGGLE_BOUNDED=1
	exec timeout -k 10 120 bash "$0" "$@"
fi

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
BUILD=${BUILD:-build}
BUILD=$(cd "$BUILD" 2>/dev/null && pwd) || { echo "test_smuggle: no build directory" >&2; exit 1; }
PROXYD=$BUILD/proxyd
[[ -x $PROXYD ]] || { echo "test_smuggle: $PROXYD missing (make all first)" >&2; exit 1; }
for t in curl python3 ss timeout; do
	command -v "$t" >/dev/null || { echo "test_smuggle: $t not installed" >&2; exit 1; }
done

H=127.0.0.1
B0=${T_PORT_BASE:-26000}
P_OR=$((B0 + 1)) P_PX=$((B0 + 10)) P_ADM=$((B0 + 11))

T_NAME=smuggle
# shellcheck source=loopback.sh
. "$(dirname "$0")/loopback.sh"

# ---- the origin -----------------------------------------------------------------

cat >"$T/origin.py" <<'EOF'
# A keep-alive HTTP/1.1 origin that frames requests by the headers it is
# given (as a backend that trusts its proxy does), logs each request as one
# JSON line and answers "served <target>". Special targets:
#   /slow...      answered after 0.6 s (a smuggled request's late answer)
#   /resp-cl      answers with "Connection: content-length"
#   /resp-te      answers chunked with "Connection: transfer-encoding"
#   /h2c          answers 101 to any Upgrade it sees
#   /ws           answers 101 to "Upgrade: websocket", then echoes bytes
#   /ws-h2c       answers 101 "Upgrade: h2c" to anything
#   /force101     answers 101 "Upgrade: websocket" to anything
import json, socket, sys, threading, time
port, logf = int(sys.argv[1]), sys.argv[2]
lock = threading.Lock()

def log(rec):
    with lock, open(logf, "a") as f:
        f.write(json.dumps(rec) + "\n")

def recv_until(s, buf, pat):
    while pat not in buf:
        d = s.recv(65536)
        if not d:
            return None
        buf += d
    return buf

def read_chunked(s, buf):
    body = b""
    while True:
        buf = recv_until(s, buf, b"\r\n")
        if buf is None:
            return None, None
        line, buf = buf.split(b"\r\n", 1)
        n = int(line.split(b";")[0], 16)
        if n == 0:
            buf = recv_until(s, buf, b"\r\n\r\n") if not buf.startswith(b"\r\n") else buf
            if buf is None:
                return None, None
            buf = buf.split(b"\r\n\r\n", 1)[1] if not buf.startswith(b"\r\n") else buf[2:]
            return body, buf
        while len(buf) < n + 2:
            d = s.recv(65536)
            if not d:
                return None, None
            buf += d
        body += buf[:n]
        buf = buf[n + 2:]

def serve(s):
    buf = b""
    while True:
        buf = recv_until(s, buf, b"\r\n\r\n")
        if buf is None:
            return
        head, buf = buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        try:
            method, target = lines[0].split(" ")[:2]
            hdrs = [[k.strip().lower(), v.strip()] for k, v in (l.split(":", 1) for l in lines[1:])]
        except ValueError:
            # What a desynchronised stream looks like: answer 400, close.
            log({"method": "?", "target": "<unparseable> " + lines[0][:40], "headers": [], "body": 0})
            s.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return
        h = dict(hdrs)
        if h.get("transfer-encoding", "").lower() == "chunked":
            body, buf = read_chunked(s, buf)
            if body is None:
                return
        elif "content-length" in h:
            n = int(h["content-length"])
            while len(buf) < n:
                d = s.recv(65536)
                if not d:
                    return
                buf += d
            body, buf = buf[:n], buf[n:]
        else:
            body = b""
        log({"method": method, "target": target, "headers": hdrs, "body": len(body)})
        msg = ("served " + target + "\n").encode()
        if target.startswith("/slow"):
            time.sleep(0.6)
        if target == "/resp-cl":
            s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: content-length\r\n\r\n" % len(msg) + msg)
        elif target == "/resp-te":
            s.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: transfer-encoding\r\n\r\n"
                      + b"%x\r\n" % len(msg) + msg + b"\r\n0\r\n\r\n")
        elif target == "/h2c" and "upgrade" in h:
            s.sendall(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n")
            s.sendall(b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")   # an HTTP/2 SETTINGS frame
            time.sleep(0.5)
            return
        elif target in ("/ws-h2c", "/force101"):
            s.sendall(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: %s\r\n\r\n"
                      % (b"h2c" if target == "/ws-h2c" else b"websocket"))
            s.sendall(b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")
            time.sleep(0.5)
            return
        elif target == "/ws" and h.get("upgrade", "").lower() == "websocket":
            s.sendall(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                      b"Sec-WebSocket-Accept: x\r\n\r\n")
            while True:
                d = buf or s.recv(65536)
                buf = b""
                if not d:
                    return
                s.sendall(d)
        else:
            s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(msg) + msg)

ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", port))
ls.listen(64)
while True:
    c, _ = ls.accept()
    threading.Thread(target=lambda c=c: (serve(c), c.close()), daemon=True).start()
EOF

# ---- the client -------------------------------------------------------------------

cat >"$T/client.py" <<'EOF'
# client.py PORT PYTHON-BYTES-LITERAL [WAIT [UNTIL]]: send the bytes on one
# connection, then read responses for WAIT seconds (default 1.5), until the
# server closes or until the bytes read contain UNTIL; print what was read
# (latin-1).
import ast, socket, sys, time
port, data = int(sys.argv[1]), ast.literal_eval(sys.argv[2])
wait = float(sys.argv[3]) if len(sys.argv) > 3 else 1.5
until = sys.argv[4].encode() if len(sys.argv) > 4 else None
s = socket.create_connection(("127.0.0.1", port), timeout=5)
s.sendall(data)
out = b""
end = time.monotonic() + wait
while time.monotonic() < end:
    s.settimeout(max(0.05, end - time.monotonic()))
    try:
        d = s.recv(65536)
    except socket.timeout:
        break
    if not d:
        break
    out += d
    if until is not None and until in out:
        break
sys.stdout.write(out.decode("latin-1"))
EOF

cat >"$T/check.py" <<'EOF'
# check.py LOG FROM COUNT TARGET [HEADER=VALUE | !HEADER ...]: the origin log
# from line FROM on holds exactly COUNT requests, the first for TARGET, and
# it has each HEADER (with VALUE when given; "*" any) and lacks each !HEADER.
import json, sys
logf, frm, count, target = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
recs = [json.loads(l) for l in open(logf).read().splitlines()[frm:]]
if len(recs) != count:
    sys.exit("origin read %d requests, want %d: %s" % (len(recs), count, [r["target"] for r in recs]))
if count == 0:
    sys.exit(0)
r = recs[0]
if r["target"] != target:
    sys.exit("origin read %s, want %s" % (r["target"], target))
h = {}
for k, v in r["headers"]:
    h.setdefault(k, []).append(v)
for want in sys.argv[5:]:
    if want.startswith("!"):
        if want[1:] in h:
            sys.exit("origin saw %s: %s" % (want[1:], h[want[1:]]))
        continue
    k, v = want.split("=", 1)
    if k not in h:
        sys.exit("origin saw no %s (headers %s)" % (k, r["headers"]))
    if v != "*" and v not in h[k]:
        sys.exit("origin saw %s: %s, want %s" % (k, h[k], v))
EOF

# ---- proxyd -------------------------------------------------------------------------

spawn "$T/origin.log" python3 "$T/origin.py" "$P_OR" "$T/requests.log"
wait_for 5 listening "$P_OR" || { echo "origin did not start" >&2; cat "$T/origin.log" >&2; exit 1; }
: >"$T/requests.log"

cat >"$T/px.conf" <<EOF
threads = 1;
node = "smuggletest";
log = { level = "info"; access = "off"; };
admin = { listen = "$H:$P_ADM"; socket = "$T/px.sock"; };
hacd = { channel = "$T/none.chan"; };
listeners = ( { name = "main"; listen = "$H:$P_PX"; } );
upstreams = ( { name = "o"; retries = 0; servers = ( { name = "o1"; address = "$H:$P_OR"; } ); } );
routes = ( { name = "all"; upstream = "o"; } );
EOF
"$PROXYD" -t -c "$T/px.conf" >"$T/check.log" 2>&1 || { cat "$T/check.log" >&2; exit 1; }
spawn "$T/px.log" "$PROXYD" -c "$T/px.conf" -R "$T"
wait_for 5 listening "$P_PX" || { cat "$T/px.log" >&2; exit 1; }

metric() {  # NAME_WITH_LABELS: the value, or 0 when absent
	local v
	v=$(curl -s --max-time 3 "http://$H:$P_ADM/metrics" | awk -v k="$1" 'index($0, k" ") == 1 { print $2 }')
	echo "${v:-0}"
}
nlog() { wc -l <"$T/requests.log"; }
send() { timeout 10 python3 "$T/client.py" "$P_PX" "$@" | tr -d '\000'; }
check() { python3 "$T/check.py" "$T/requests.log" "$@" 2>&1; }

# The smuggling cases share a shape: client A sends REQ (whose body is a
# whole request for /slow-smuggled), the origin must read exactly one
# request, TARGET, with the headers listed; then client B, on the backend
# connection A left in the pool, must get its own answer.
smuggle_case() {  # REQ TARGET METRIC-LABELS HEADER-CHECKS...
	local req=$1 target=$2 mlab=$3 from out why m0 m1
	shift 3
	from=$(nlog)
	m0=$(metric "tandem_http_conn_token_ignored_total{$mlab}")
	# Each client stops at its first answer, so B comes while a smuggled
	# request's answer would still be on its way.
	out=$(send "$req" 3.0 "served ")
	[[ $out == "HTTP/1.1 200"*"served $target"* ]] || { t_fail "client A got: ${out:0:120}"; return 1; }
	out=$(send 'b"GET /victim HTTP/1.1\r\nHost: t\r\n\r\n"' 3.0 "served ")
	[[ $out == *"served /victim"* && $out != *smuggled* ]] || { t_fail "client B got: ${out:0:160}"; return 1; }
	why=$(check "$from" 2 "$target" "$@") || { t_fail "$why"; return 1; }
	m1=$(metric "tandem_http_conn_token_ignored_total{$mlab}")
	((m1 > m0)) || { t_fail "counter {$mlab} did not move ($m0 -> $m1)"; return 1; }
}

sm_case() {  # NAME FUNCTION [ARGS...]: t_case, unless T_ONLY leaves it out
	[[ -z ${T_ONLY:-} || $1 == *"$T_ONLY"* ]] || return 0
	t_case "$@"
}

SM='GET /slow-smuggled HTTP/1.1\r\nHost: t\r\n\r\n'   # 40 bytes
SMC='28\r\nGET /slow-smuggled HTTP/1.1\r\nHost: t\r\n\r\n\r\n0\r\n\r\n'

sm_case "content-length named by Connection: one request, framing kept, no poisoning" smuggle_case \
	"b\"POST /a HTTP/1.1\\r\\nHost: t\\r\\nContent-Length: 40\\r\\nConnection: content-length\\r\\n\\r\\n$SM\"" \
	/a 'side="request",field="framing"' content-length=40
sm_case "transfer-encoding named by Connection: one request, chunked kept" smuggle_case \
	"b\"POST /b HTTP/1.1\\r\\nHost: t\\r\\nTransfer-Encoding: chunked\\r\\nConnection: Transfer-Encoding, keep-alive\\r\\n\\r\\n$SMC\"" \
	/b 'side="request",field="framing"' transfer-encoding=chunked '!content-length'

host_case() {
	local from out why m0 m1
	from=$(nlog)
	m0=$(metric 'tandem_http_conn_token_ignored_total{side="request",field="host"}')
	out=$(send 'b"GET /h HTTP/1.1\r\nHost: routed.example\r\nConnection: host\r\n\r\n"' 1.0)
	[[ $out == "HTTP/1.1 200"* ]] || { t_fail "got: ${out:0:120}"; return 1; }
	why=$(check "$from" 1 /h host=routed.example) || { t_fail "$why"; return 1; }
	m1=$(metric 'tandem_http_conn_token_ignored_total{side="request",field="host"}')
	((m1 > m0)) || t_fail "counter did not move ($m0 -> $m1)"
}
sm_case "Connection: host keeps the Host proxyd routed on" host_case

xff_case() {
	local from out why m0 m1
	from=$(nlog)
	m0=$(metric 'tandem_http_conn_token_ignored_total{side="request",field="proxy_set"}')
	out=$(send 'b"GET /x HTTP/1.1\r\nHost: t\r\nX-Forwarded-For: 192.0.2.7\r\nConnection: x-forwarded-for, X-Request-Id\r\n\r\n"' 1.0)
	[[ $out == "HTTP/1.1 200"* ]] || { t_fail "got: ${out:0:120}"; return 1; }
	why=$(check "$from" 1 /x "x-forwarded-for=192.0.2.7, 127.0.0.1") || { t_fail "$why"; return 1; }
	m1=$(metric 'tandem_http_conn_token_ignored_total{side="request",field="proxy_set"}')
	((m1 > m0)) || t_fail "counter did not move ($m0 -> $m1)"
}
sm_case "Connection: x-forwarded-for cannot drop the client chain" xff_case

resp_case() {  # TARGET WANT-HEADER
	local out m0 m1
	m0=$(metric 'tandem_http_conn_token_ignored_total{side="response",field="framing"}')
	out=$(send "b\"GET $1 HTTP/1.1\\r\\nHost: t\\r\\n\\r\\nGET /after HTTP/1.1\\r\\nHost: t\\r\\n\\r\\n\"" 1.5)
	[[ $out == "HTTP/1.1 200"* ]] || { t_fail "got: ${out:0:120}"; return 1; }
	python3 - "$out" "$2" <<'PY' || { t_fail "client could not frame the answers: ${out:0:200}"; return 1; }
import sys
data, want = sys.argv[1], sys.argv[2].lower()
head, rest = data.split("\r\n\r\n", 1)
h = {l.split(":", 1)[0].strip().lower(): l.split(":", 1)[1].strip() for l in head.split("\r\n")[1:]}
if want not in h:
    sys.exit(1)
if want == "content-length":
    body, rest = rest[:int(h[want])], rest[int(h[want]):]
else:
    body = ""
    while True:
        line, rest = rest.split("\r\n", 1)
        n = int(line, 16)
        if n == 0:
            rest = rest[2:]
            break
        body, rest = body + rest[:n], rest[n + 2:]
assert body.startswith("served "), body
assert rest.startswith("HTTP/1.1 200") and "served /after" in rest, rest
PY
	m1=$(metric 'tandem_http_conn_token_ignored_total{side="response",field="framing"}')
	((m1 > m0)) || t_fail "counter did not move ($m0 -> $m1)"
}
sm_case "response naming Content-Length in Connection keeps its framing" resp_case /resp-cl content-length
sm_case "response naming Transfer-Encoding in Connection keeps its framing" resp_case /resp-te transfer-encoding

h2c_case() {
	local from out why m0 m1
	from=$(nlog)
	m0=$(metric tandem_http_upgrade_stripped_total)
	out=$(send 'b"GET /h2c HTTP/1.1\r\nHost: t\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\nGET /after HTTP/1.1\r\nHost: t\r\n\r\n"' 1.5)
	[[ $out == "HTTP/1.1 200"*"served /h2c"*"served /after"* ]] || { t_fail "got: ${out:0:160}"; return 1; }
	why=$(check "$from" 2 /h2c '!upgrade' '!http2-settings') || { t_fail "$why"; return 1; }
	m1=$(metric tandem_http_upgrade_stripped_total)
	((m1 > m0)) || t_fail "counter did not move ($m0 -> $m1)"
}
sm_case "Upgrade: h2c with HTTP2-Settings is stripped, no tunnel" h2c_case

h2c_noconn_case() {
	local from out why
	from=$(nlog)
	# HTTP2-Settings without a Connection token naming it still goes.
	out=$(send 'b"GET /plain HTTP/1.1\r\nHost: t\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\nConnection: upgrade\r\n\r\n"' 1.0)
	[[ $out == "HTTP/1.1 200"*"served /plain"* ]] || { t_fail "got: ${out:0:160}"; return 1; }
	why=$(check "$from" 1 /plain '!upgrade' '!http2-settings') || t_fail "$why"
}
sm_case "HTTP2-Settings not named by Connection is stripped too" h2c_noconn_case

ws_list_case() {
	local from out why
	from=$(nlog)
	out=$(send 'b"GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket, h2c\r\nConnection: upgrade\r\n\r\n"' 1.0)
	[[ $out == "HTTP/1.1 200"*"served /ws"* ]] || { t_fail "got: ${out:0:160}"; return 1; }
	why=$(check "$from" 1 /ws '!upgrade') || t_fail "$why"
}
sm_case "an Upgrade list (websocket, h2c) is not a WebSocket handshake: stripped" ws_list_case

ws_case() {
	local from out why
	from=$(nlog)
	out=$(send 'b"GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\nping-through-tunnel"' 1.0)
	[[ $out == "HTTP/1.1 101"*"ping-through-tunnel"* ]] || { t_fail "got: ${out:0:160}"; return 1; }
	why=$(check "$from" 1 /ws upgrade=websocket) || t_fail "$why"
}
sm_case "a WebSocket handshake still becomes a tunnel" ws_case

unasked101_case() {  # TARGET EXTRA-HEADERS
	local out m0 m1
	m0=$(metric 'tandem_upstream_errors_total{kind="bad_response"}')
	out=$(send "b\"GET $1 HTTP/1.1\\r\\nHost: t\\r\\n$2\\r\\n\"" 1.0)
	[[ $out == "HTTP/1.1 502"* ]] || { t_fail "got: ${out:0:160}"; return 1; }
	m1=$(metric 'tandem_upstream_errors_total{kind="bad_response"}')
	((m1 > m0)) || t_fail "bad_response did not move ($m0 -> $m1)"
}
sm_case "a 101 to a request not forwarded as an upgrade is a 502" unasked101_case /force101 ""
sm_case "a 101 to another protocol than the WebSocket asked for is a 502" unasked101_case /ws-h2c \
	'Upgrade: websocket\r\nConnection: upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n'

trailer_case() {
	local from out why m0 m1
	from=$(nlog)
	m0=$(metric 'tandem_parse_errors_total{reason="forbidden-trailer"}')
	out=$(send 'b"POST /t HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\nContent-Length: 41\r\n\r\n"' 1.0)
	[[ $out == "HTTP/1.1 400"* ]] || { t_fail "got: ${out:0:160}"; return 1; }
	m1=$(metric 'tandem_parse_errors_total{reason="forbidden-trailer"}')
	((m1 > m0)) || t_fail "counter did not move ($m0 -> $m1)"
}
sm_case "a Content-Length trailer field is refused" trailer_case

t_san_case
echo "$T_PASS passed, $T_FAIL failed"
((T_FAIL == 0))
