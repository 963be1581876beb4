#!/usr/bin/env bash
# tests/run: parallel-safe
# tests/integration/test_proxyd_guard.sh — proxyd's guards end to end.
#
# Real processes on loopback (127.0.0.1:22000-22999; other 127.0.0.x source
# addresses stand for other clients): tests/tools/backend origins behind a
# proxyd built from a config written below. Cases: active health checks
# take a killed backend out within about fall x interval and put it back
# after rise x interval while a client loop sees no error; a failing /health
# shifts traffic; passive ejection after consecutive 5xx; rate limiting
# admits about the configured rate (+-10% over 5 s) with a sane Retry-After;
# a banned client is refused until the ban ends; slow start ramps a
# returning server's weight; route deny list -> 403;
# body too large (Content-Length and chunked) -> 413; wrong method -> 405
# with Allow; a WebSocket echo through the proxy and the tunnel idle
# timeout; 500 slowloris connections do not stop a normal client and are
# closed by the header timeout; a slow request body -> 408; the per-address
# connection limit; the listener deny list; the guard metrics.
#
# Bounds are generous (a loaded 2-core machine): assertions are on counts
# and statuses, every wait is bounded, the whole file runs under
# timeout(1), and an EXIT trap stops every process it started, by PID.
#
# Run from the repository root: bash tests/integration/test_proxyd_guard.sh
# (BUILD=dir for binaries built elsewhere). One line per case, then
# "N passed, N failed"; exit status 1 on failure.

set -u

if [[ -z ${T_GUARD_BOUNDED:-} ]]; then
	export T_GUARD_BOUNDED=1
	exec timeout -k 10 230 bash "$0" "$@"
fi

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
BUILD=${BUILD:-build}
BUILD=$(cd "$BUILD" 2>/dev/null && pwd) || { echo "test_proxyd_guard: no build directory" >&2; exit 1; }
PROXYD=$BUILD/proxyd
BACKEND=$BUILD/tests/tools/backend
for b in "$PROXYD" "$BACKEND"; do
	[[ -x $b ]] || { echo "test_proxyd_guard: $b missing (make all first)" >&2; exit 1; }
done
for t in curl python3 ss timeout; do
	command -v "$t" >/dev/null || { echo "test_proxyd_guard: $t not installed" >&2; exit 1; }
done

H=127.0.0.1
P_B1=22001 P_B2=22002 P_B3=22003 P_PE1=22004 P_PE2=22005 P_B4=22006
P_PX=22100 P_ADM=22101      # the proxy under test and its admin listener
P_PX2=22110 P_ADM2=22111    # a second proxy: per-address connection limit

T_NAME=guard
# shellcheck source=loopback.sh
. "$(dirname "$0")/loopback.sh"
# The IPv6 case's namespace goes with the rest (cleanup keeps the exit status).
NS6=
trap 'rc=$?; [[ -n $NS6 ]] && ip netns del "$NS6" 2>/dev/null; (exit $rc); cleanup' EXIT
backend() {  # NAME PORT [ARGS...]: start an origin, wait until it listens
	local name=$1 port=$2
	shift 2
	spawn "$T/$name.log" "$BACKEND" --listen "$H:$port" --name "$name" "$@"
	wait_for 5 listening "$port" || { echo "backend $name did not start" >&2; exit 1; }
}

stop_pid() {  # PID: TERM, then KILL after 2 s
	local p=$1
	kill -TERM "$p" 2>/dev/null
	for _ in $(seq 1 40); do
		kill -0 "$p" 2>/dev/null || return 0
		sleep 0.05
	done
	kill -KILL "$p" 2>/dev/null
	wait "$p" 2>/dev/null
}

metric() {  # PORT NAME_WITH_LABELS: the value, or empty
	curl -s --max-time 3 "http://$H:$1/metrics" | awk -v k="$2" 'index($0, k" ") == 1 { print $2 }'
}

metric_is() {  # PORT NAME_WITH_LABELS VALUE: re-read on every call (for wait_for)
	[[ $(metric "$1" "$2") == "$3" ]]
}

code_is() {  # WANT curl args...: re-run on every call (for wait_for)
	local want=$1
	shift
	[[ $(code "$@") == "$want" ]]
}

code() {  # curl args...: the status code
	curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@"
}

# ---- origins and proxies ------------------------------------------------------

backend b1 "$P_B1" --fail-health-file "$T/b1.fail"
backend b2 "$P_B2"
PID_B2=$SPAWNED
backend b3 "$P_B3"
backend pe1 "$P_PE1" --status 500
backend pe2 "$P_PE2"
backend b4 "$P_B4" --fail-health-file "$T/b4.fail"

cat >"$T/guard.conf" <<EOF
threads = 2;
node = "guardtest";
log = { level = "info"; access = "off"; };
admin = { listen = "$H:$P_ADM"; socket = "$T/px.sock"; };
hacd = { channel = "$T/none.chan"; };
timeouts = { client_header = "2s"; client_body = "20s"; tunnel_idle = "2s"; };
limits = { min_body_rate = "2k"; min_body_window = "1s"; };
listeners = ( { name = "main"; listen = "$H:$P_PX"; } );
upstreams = (
  { name = "hc"; retries = 2;
    check = { type = "http"; path = "/health"; expect_status = "200-299"; interval = "300ms";
              timeout = "250ms"; rise = 2; fall = 2; };
    servers = ( { name = "b1"; address = "$H:$P_B1"; }, { name = "b2"; address = "$H:$P_B2"; } ); },
  { name = "pe"; retries = 0;
    eject = { after = 3; base = "30s"; max = "1m"; };
    servers = ( { name = "pe1"; address = "$H:$P_PE1"; }, { name = "pe2"; address = "$H:$P_PE2"; } ); },
  { name = "ss"; slow_start = "6s";
    check = { type = "http"; path = "/health"; interval = "300ms"; timeout = "250ms"; rise = 2; fall = 2; };
    servers = ( { name = "b4"; address = "$H:$P_B4"; weight = 100; } ); },
  { name = "tcp"; check = { type = "tcp"; interval = "300ms"; timeout = "250ms"; rise = 1; fall = 2; };
    servers = ( { name = "live"; address = "$H:$P_B3"; }, { name = "dead"; address = "$H:22099"; } ); },
  { name = "plain"; servers = ( { name = "b3"; address = "$H:$P_B3"; } ); }
);
ratelimits = (
  { name = "fast"; key = "ip"; rate = 25; period = "250ms"; burst = 0; max_keys = 1000; },
  { name = "banme"; key = "ip"; rate = 5; period = "1s"; burst = 0;
    ban = { after = 3; within = "10s"; duration = "3s"; }; }
);
routes = (
  { name = "hc"; match = { path_prefix = "/hc/"; }; upstream = "hc"; },
  { name = "pe"; match = { path_prefix = "/pe/"; }; upstream = "pe"; },
  { name = "acl"; match = { path_prefix = "/acl/"; }; upstream = "plain"; deny = [ "127.0.0.3", "10.0.0.0/8" ]; },
  { name = "upload"; match = { path_prefix = "/upload/"; }; upstream = "plain"; max_body = "1k"; },
  { name = "ro"; match = { path_prefix = "/ro/"; }; upstream = "plain"; allow_methods = [ "GET", "HEAD" ]; },
  { name = "rl"; match = { path_prefix = "/rl/"; }; upstream = "plain"; ratelimit = "fast"; },
  { name = "ban"; match = { path_prefix = "/ban/"; }; upstream = "plain"; ratelimit = "banme"; },
  { name = "default"; upstream = "plain"; }
);
EOF

cat >"$T/guard2.conf" <<EOF
threads = 2;
node = "guardtest2";
log = { level = "info"; access = "off"; };
admin = { listen = "$H:$P_ADM2"; socket = "$T/px2.sock"; max_connections = 4; };
hacd = { channel = "$T/none.chan"; };
limits = { max_connections_per_ip = 5; };
listeners = ( { name = "main"; listen = "$H:$P_PX2"; deny = [ "127.0.0.9" ]; } );
upstreams = ( { name = "plain"; servers = ( { name = "b3"; address = "$H:$P_B3"; } ); } );
EOF

"$PROXYD" -t -c "$T/guard.conf" >"$T/check.log" 2>&1 || { cat "$T/check.log" >&2; exit 1; }
spawn "$T/px.log" "$PROXYD" -c "$T/guard.conf" -R "$T"
PID_PX=$SPAWNED
spawn "$T/px2.log" "$PROXYD" -c "$T/guard2.conf" -R "$T"
wait_for 5 listening "$P_PX" && wait_for 5 listening "$P_PX2" || { cat "$T/px.log" >&2; exit 1; }

# ---- python helpers ------------------------------------------------------------

cat >"$T/loop.py" <<'EOF'
# GET the URL in a loop (new connection each time) until STOPFILE exists or
# MAX requests; print "<total> <failures>".
import os, sys, urllib.request
url, stop, mx = sys.argv[1], sys.argv[2], int(sys.argv[3])
n = bad = 0
while n < mx and not os.path.exists(stop):
    n += 1
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            r.read()
            if r.status != 200:
                bad += 1
    except Exception:
        bad += 1
print(n, bad)
EOF

cat >"$T/flood.py" <<'EOF'
# Keep-alive GETs from source address SRC for SECS seconds over NCONN
# connections (bounded by MAX requests); print admitted, limited, other,
# elapsed and the Retry-After values seen.
import socket, sys, time, threading
host, port, src, path, secs, nconn, mx = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], float(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7])
lock = threading.Lock()
st = {"ok": 0, "lim": 0, "other": 0, "n": 0, "ra": set()}
t0 = time.monotonic()
def conn():
    s = socket.socket(); s.bind((src, 0)); s.connect((host, port)); s.settimeout(5)
    return s, b""
def worker():
    s, buf = conn()
    while time.monotonic() - t0 < secs:
        with lock:
            if st["n"] >= mx: return
            st["n"] += 1
        try:
            s.sendall(("GET %s HTTP/1.1\r\nHost: t\r\n\r\n" % path).encode())
            while b"\r\n\r\n" not in buf:
                d = s.recv(65536)
                if not d: raise OSError("closed")
                buf += d
            head, buf = buf.split(b"\r\n\r\n", 1)
            lines = head.decode("latin1").split("\r\n")
            code = int(lines[0].split()[1])
            clen, close = 0, False
            for l in lines[1:]:
                k, _, v = l.partition(":")
                k = k.strip().lower(); v = v.strip()
                if k == "content-length": clen = int(v)
                if k == "connection" and v.lower() == "close": close = True
                if k == "retry-after" and code == 429:
                    with lock: st["ra"].add(v)
            while len(buf) < clen:
                d = s.recv(65536)
                if not d: raise OSError("closed")
                buf += d
            buf = buf[clen:]
            with lock:
                st["ok" if code == 200 else "lim" if code == 429 else "other"] += 1
            if close:
                s.close(); s, buf = conn()
        except OSError:
            with lock: st["other"] += 1
            s.close(); s, buf = conn()
ts = [threading.Thread(target=worker) for _ in range(nconn)]
for t in ts: t.start()
for t in ts: t.join()
print(st["ok"], st["lim"], st["other"], "%.3f" % (time.monotonic() - t0), ",".join(sorted(st["ra"])) or "-")
EOF

cat >"$T/ws.py" <<'EOF'
# WebSocket echo through the proxy (RFC 6455), then wait for the tunnel idle
# timeout to close it; print "echo-ok closed-after-<s>" or the failure.
import base64, os, socket, sys, time
host, port = sys.argv[1], int(sys.argv[2])
s = socket.create_connection((host, port), timeout=10)
key = base64.b64encode(os.urandom(16)).decode()
s.sendall(("GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % key).encode())
buf = b""
while b"\r\n\r\n" not in buf:
    d = s.recv(4096)
    if not d: print("no-101"); sys.exit(0)
    buf += d
head, buf = buf.split(b"\r\n\r\n", 1)
if b" 101 " not in head.split(b"\r\n")[0]: print("status:" + head.split(b"\r\n")[0].decode()); sys.exit(0)
msg = b"hello through tandem"
mask = os.urandom(4)
s.sendall(bytes([0x81, 0x80 | len(msg)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(msg)))
while len(buf) < 2 + len(msg):
    d = s.recv(4096)
    if not d: print("closed-before-echo"); sys.exit(0)
    buf += d
ok = buf[0] == 0x81 and buf[1] == len(msg) and buf[2:2 + len(msg)] == msg
t0 = time.monotonic()
s.settimeout(20)
try:
    while s.recv(4096): pass
    print(("echo-ok" if ok else "echo-bad") + " closed-after-%.1f" % (time.monotonic() - t0))
except socket.timeout:
    print(("echo-ok" if ok else "echo-bad") + " never-closed")
EOF

cat >"$T/slowloris.py" <<'EOF'
# N connections that send a request head a few bytes at a time, never
# finishing it; print how many the server closed within LIMIT seconds.
import resource, socket, sys, time, select
host, port, n, limit = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, n + 64)), hard))
socks = []
for i in range(n):
    s = socket.socket(); s.setblocking(True)
    try:
        s.connect((host, port)); s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n")
    except OSError:
        s.close(); continue
    s.setblocking(False); socks.append(s)
opened = len(socks)
closed = 0
t0 = time.monotonic()
open(sys.argv[5], "w").write("%d\n" % opened)
while socks and time.monotonic() - t0 < limit:
    r, _, _ = select.select(socks[:1000], [], [], 0.3)
    for s in r:
        try: d = s.recv(4096)
        except OSError: d = b""
        if not d or b"408" in d:
            closed += 1; socks.remove(s); s.close()
    for s in socks:
        try: s.send(b"X-a: b\r\n")
        except OSError: pass
print(opened, closed)
EOF

cat >"$T/slowbody.py" <<'EOF'
# A POST whose body trickles at ~100 bytes/s; print the status (or "closed").
import socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=15)
s.sendall(b"POST /upload2 HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n")
t0 = time.monotonic(); buf = b""
s.setblocking(False)
while time.monotonic() - t0 < 15:
    try:
        s.send(b"x" * 30)
    except OSError:
        pass
    time.sleep(0.3)
    try:
        d = s.recv(4096)
        if not d: break
        buf += d
        if b"\r\n" in buf: break
    except BlockingIOError:
        pass
    except OSError:
        break
print(buf.split(b"\r\n")[0].decode() if buf else "closed", "%.1f" % (time.monotonic() - t0))
EOF

cat >"$T/perip.py" <<'EOF'
# Opens N connections from SRC and counts those the server closes at once.
import socket, sys, time
host, port, src, n = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
socks = []
for i in range(n):
    s = socket.socket(); s.bind((src, 0)); s.connect((host, port)); socks.append(s)
time.sleep(0.5)
closed = 0
for s in socks:
    s.settimeout(1.0)
    try:
        d = s.recv(1)
        if not d: closed += 1
    except socket.timeout: pass
    except OSError: closed += 1
# one more, from another address, must be served
c = socket.socket(); c.bind(("127.0.0.7", 0)); c.connect((host, port)); c.settimeout(5)
c.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
other = c.recv(64).split(b"\r\n")[0].decode()
print(closed, other.replace(" ", "_"))
EOF

cat >"$T/perip6.py" <<'EOF'
# Inside the IPv6 namespace: N connections from each of two addresses of one
# /64, then a request from another /64. Prints how many the server closed at
# once and the other /64's status line.
import socket, sys, time
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
a1, a2, other = sys.argv[4], sys.argv[5], sys.argv[6]
socks = []
for src in (a1, a2):
    for i in range(n):
        s = socket.socket(socket.AF_INET6); s.bind((src, 0)); s.connect((host, port)); socks.append(s)
        time.sleep(0.05)
time.sleep(0.5)
closed = 0
for s in socks:
    s.settimeout(1.0)
    try:
        if not s.recv(1): closed += 1
    except socket.timeout: pass
    except OSError: closed += 1
c = socket.socket(socket.AF_INET6); c.bind((other, 0)); c.connect((host, port)); c.settimeout(5)
c.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
print(closed, c.recv(64).split(b"\r\n")[0].decode().replace(" ", "_"))
EOF

cat >"$T/admincap.py" <<'EOF'
# Opens N idle connections to the admin listener; prints how many the
# server closed at once, then closes them all.
import select, socket, sys, time
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
socks = []
for i in range(n):
    s = socket.socket(); s.connect((host, port)); socks.append(s)
    time.sleep(0.05)
# One bounded look at all of them (not a timeout each: the listener closes
# idle connections after 10 s, and those it keeps must still be open here).
time.sleep(0.5)
ready, _, _ = select.select(socks, [], [], 1.0)
closed = 0
for s in ready:
    try:
        if not s.recv(1): closed += 1
    except OSError: closed += 1
for s in socks: s.close()
print(closed)
EOF

# ---- cases --------------------------------------------------------------------

case_killed_backend() {
	local stop=$T/loop1.stop out t0 t_down t_up r
	wait_for 5 metric_is $P_ADM 'tandem_server_up{upstream="hc",server="b2"}' 1 ||
		{ t_fail "b2 never seen up"; return 1; }
	python3 "$T/loop.py" "http://$H:$P_PX/hc/x" "$stop" 20000 >"$T/loop1.out" &
	local lp=$!
	PIDS+=("$lp")
	sleep 0.5
	t0=$(date +%s.%N)
	stop_pid "$PID_B2"
	# fall x interval = 0.6 s; allow 10 s.
	wait_for 10 metric_is $P_ADM 'tandem_server_up{upstream="hc",server="b2"}' 0 ||
		{ touch "$stop"; wait "$lp"; { t_fail "b2 not marked down within 10 s"; return 1; }; }
	t_down=$(echo "$(date +%s.%N) - $t0" | bc)
	sleep 0.5
	backend b2 "$P_B2"
	PID_B2=$SPAWNED
	t0=$(date +%s.%N)
	# rise x interval = 0.6 s; allow 10 s.
	wait_for 10 metric_is $P_ADM 'tandem_server_up{upstream="hc",server="b2"}' 1 ||
		{ touch "$stop"; wait "$lp"; { t_fail "b2 not back up within 10 s"; return 1; }; }
	t_up=$(echo "$(date +%s.%N) - $t0" | bc)
	sleep 0.5
	touch "$stop"
	wait "$lp"
	read -r n bad <"$T/loop1.out"
	echo "# killed backend: down after ${t_down}s, up after ${t_up}s; client loop $n requests, $bad failed" >&2
	((n > 20)) || { t_fail "client loop made only $n requests"; return 1; }
	((bad == 0)) || { t_fail "$bad of $n client requests failed"; return 1; }
	r=$(curl -s --max-time 5 "http://$H:$P_PX/hc/"; curl -s --max-time 5 "http://$H:$P_PX/hc/"; curl -s --max-time 5 "http://$H:$P_PX/hc/"; curl -s --max-time 5 "http://$H:$P_PX/hc/")
	grep -q b2 <<<"$r" || { t_fail "b2 gets no traffic after coming back"; return 1; }
}

case_failing_health() {
	local r i
	touch "$T/b1.fail"
	wait_for 10 metric_is $P_ADM 'tandem_server_up{upstream="hc",server="b1"}' 0 ||
		{ rm -f "$T/b1.fail"; { t_fail "b1 not marked down with /health failing"; return 1; }; }
	r=
	for i in $(seq 1 10); do r+=$(curl -s --max-time 5 "http://$H:$P_PX/hc/"); done
	rm -f "$T/b1.fail"
	grep -q b1 <<<"$r" && { t_fail "b1 still gets traffic while its checks fail"; return 1; }
	wait_for 10 metric_is $P_ADM 'tandem_server_up{upstream="hc",server="b1"}' 1 ||
		{ t_fail "b1 not back after /health recovered"; return 1; }
	[[ $(metric $P_ADM 'tandem_server_weight{upstream="hc",server="b1"}') == 1 ]] ||
		{ t_fail "tandem_server_weight not 1 after recovery"; return 1; }
}

case_tcp_check() {
	wait_for 10 metric_is $P_ADM 'tandem_server_up{upstream="tcp",server="dead"}' 0 ||
		{ t_fail "closed port not marked down"; return 1; }
	[[ $(metric $P_ADM 'tandem_server_up{upstream="tcp",server="live"}') == 1 ]] ||
		{ t_fail "listening port not up"; return 1; }
	[[ $(metric $P_ADM 'tandem_server_checks_total{upstream="tcp",server="live",result="ok"}') -ge 1 ]] ||
		{ t_fail "no passed check counted"; return 1; }
}

case_passive_ejection() {
	local i c last=
	for i in $(seq 1 30); do
		c=$(code "http://$H:$P_PX/pe/x")
		((i > 20)) && last+="$c "
	done
	[[ $(metric $P_ADM 'tandem_server_ejections_total{upstream="pe",server="pe1",result="ejected"}') -ge 1 ]] ||
		{ t_fail "pe1 never ejected"; return 1; }
	grep -q 500 <<<"$last" && { t_fail "5xx after the ejection: $last"; return 1; }
	[[ $(metric $P_ADM 'tandem_server_up{upstream="pe",server="pe1"}') == 0 ]] ||
		{ t_fail "pe1 not reported down while ejected"; return 1; }
	return 0
}

case_rate() {
	local out ok lim other el ra exp lo hi
	# rate 25 per 250 ms = 100/s; 4 keep-alive connections ask far more.
	out=$(python3 "$T/flood.py" "$H" "$P_PX" 127.0.0.5 /rl/x 5 4 200000)
	read -r ok lim other el ra <<<"$out"
	exp=$(echo "100 * $el" | bc)
	lo=$(echo "$exp * 0.9 / 1" | bc)
	hi=$(echo "($exp * 1.1 + 25) / 1" | bc)   # + one period: the run starts mid-window
	echo "# rate limit: admitted $ok, limited $lim, other $other in ${el}s (expected ~${exp%.*}, band $lo..$hi); Retry-After seen: $ra" >&2
	((lim > ok)) || { t_fail "client did not ask well above the limit ($ok admitted, $lim limited)"; return 1; }
	((ok >= lo && ok <= hi)) || { t_fail "admitted $ok, expected $lo..$hi"; return 1; }
	((other == 0)) || { t_fail "$other unexpected answers"; return 1; }
	[[ $ra =~ ^[12](,[12])?$ ]] || { t_fail "Retry-After values \"$ra\" (want 1 or 2 s for a 250 ms period)"; return 1; }
}

case_ban() {
	local i c body banned=0 t0 el
	for i in $(seq 1 40); do
		body=$(curl -s --interface 127.0.0.4 --max-time 5 "http://$H:$P_PX/ban/x")
		if grep -q banned <<<"$body"; then banned=1; break; fi
	done
	((banned)) || { t_fail "never banned after 40 requests"; return 1; }
	t0=$SECONDS
	# Still refused for a while (the ban lasts 3 s)...
	c=$(code --interface 127.0.0.4 "http://$H:$P_PX/ban/x")
	[[ $c == 429 ]] || { t_fail "right after the ban: $c, want 429"; return 1; }
	# ...another client is not affected...
	c=$(code --interface 127.0.0.8 "http://$H:$P_PX/ban/x")
	[[ $c == 200 ]] || { t_fail "another client got $c"; return 1; }
	# ...and admitted again once it ended (3 s; allow 15).
	wait_for 15 code_is 200 --interface 127.0.0.4 "http://$H:$P_PX/ban/x" ||
		{ t_fail "still refused 15 s after a 3 s ban"; return 1; }
	el=$((SECONDS - t0))
	echo "# ban: lifted after about ${el}s (ban 3 s)" >&2
	((el >= 1)) || { t_fail "ban lifted immediately"; return 1; }
}

case_acl() {
	local a b
	a=$(code --interface 127.0.0.3 "http://$H:$P_PX/acl/x")
	b=$(code "http://$H:$P_PX/acl/x")
	[[ $a == 403 ]] || { t_fail "denied client got $a"; return 1; }
	[[ $b == 200 ]] || { t_fail "allowed client got $b"; return 1; }
}

case_body() {
	local big small cb
	head -c 2048 /dev/zero >"$T/2k"
	head -c 500 /dev/zero >"$T/500"
	big=$(code --data-binary @"$T/2k" "http://$H:$P_PX/upload/x")
	cb=$(code -H 'Transfer-Encoding: chunked' --data-binary @"$T/2k" "http://$H:$P_PX/upload/x")
	small=$(code --data-binary @"$T/500" "http://$H:$P_PX/upload/x")
	[[ $big == 413 ]] || { t_fail "2k Content-Length body: $big, want 413"; return 1; }
	[[ $cb == 413 ]] || { t_fail "2k chunked body: $cb, want 413"; return 1; }
	[[ $small == 200 ]] || { t_fail "500-byte body: $small, want 200"; return 1; }
}

case_method() {
	local c allow
	c=$(code -X POST -d x "http://$H:$P_PX/ro/x")
	allow=$(curl -s -D - -o /dev/null -X DELETE --max-time 5 "http://$H:$P_PX/ro/x" | tr -d '\r' | awk -F': ' 'tolower($1)=="allow"{print $2}')
	[[ $c == 405 ]] || { t_fail "POST: $c, want 405"; return 1; }
	[[ $allow == "GET, HEAD" ]] || { t_fail "Allow: \"$allow\""; return 1; }
	[[ $(code "http://$H:$P_PX/ro/x") == 200 ]] || { t_fail "GET refused"; return 1; }
}

case_websocket() {
	local out
	out=$(python3 "$T/ws.py" "$H" "$P_PX")
	echo "# websocket: $out (tunnel_idle 2 s)" >&2
	[[ $out == echo-ok\ closed-after-* ]] || { t_fail "$out"; return 1; }
	local s=${out##*closed-after-}
	(($(echo "$s >= 1 && $s <= 15" | bc))) || { t_fail "tunnel closed after $s s, tunnel_idle is 2 s"; return 1; }
}

case_slowloris() {
	local out opened closed c rss0 rss1
	rss0=$(awk '/VmRSS/ {print $2}' /proc/$PID_PX/status)
	python3 "$T/slowloris.py" "$H" "$P_PX" 500 25 "$T/sl.opened" >"$T/sl.out" &
	local sp=$!
	PIDS+=("$sp")
	wait_for 20 test -s "$T/sl.opened" || { t_fail "slowloris client did not start"; return 1; }
	rss1=$(awk '/VmRSS/ {print $2}' /proc/$PID_PX/status)
	c=$(code "http://$H:$P_PX/")
	wait "$sp"
	read -r opened closed <"$T/sl.out"
	echo "# slowloris: $opened opened, $closed closed by the proxy; proxyd RSS ${rss0} kB -> ${rss1} kB with them open" >&2
	[[ $c == 200 ]] || { t_fail "normal client got $c during the attack"; return 1; }
	((opened >= 450)) || { t_fail "only $opened slow connections opened"; return 1; }
	((closed >= opened * 95 / 100)) || { t_fail "only $closed of $opened closed within 25 s (client_header 2 s)"; return 1; }
}

case_slow_body() {
	local out
	out=$(python3 "$T/slowbody.py" "$H" "$P_PX")
	echo "# slow body: $out" >&2
	[[ $out == *" 408 "* ]] || { t_fail "got \"$out\", want 408"; return 1; }
}

case_per_ip() {
	local out closed other
	out=$(python3 "$T/perip.py" "$H" "$P_PX2" 127.0.0.6 10)
	read -r closed other <<<"$out"
	[[ $closed == 5 ]] || { t_fail "$closed of 10 connections closed, want 5 (max_connections_per_ip = 5)"; return 1; }
	[[ $other == HTTP/1.1_200_OK ]] || { t_fail "another address got \"$other\""; return 1; }
	[[ $(metric $P_ADM2 'tandem_guard_total{reason="max_connections_per_ip"}') -ge 5 ]] ||
		{ t_fail "metric tandem_guard_total{reason=max_connections_per_ip} not counted"; return 1; }
}

# One IPv6 host holds a whole /64: max_connections_per_ip counts per /64 by
# default. Loopback has only ::1, so this case runs in a network namespace of
# its own with fd00:64::/64 and fd00:65::/64 addresses on its lo, a backend
# and a proxyd inside it (its ports are private to the namespace).
case_per_ip_v6() {
	local out closed other n a
	NS6=${LAB_PREFIX:-tdm}-g6-$$
	ip netns add "$NS6" || { t_fail "cannot create network namespace $NS6"; return 1; }
	ip -n "$NS6" link set lo up || { t_fail "lo up in $NS6"; return 1; }
	for a in fd00:64::1 fd00:64::2 fd00:64::3 fd00:65::1; do
		ip -n "$NS6" addr add "$a/128" dev lo nodad || { t_fail "address $a"; return 1; }
	done
	cat >"$T/guard6.conf" <<EOF6
threads = 2;
node = "guardtest6";
log = { level = "info"; access = "off"; };
admin = { listen = "127.0.0.1:9901"; socket = "$T/px6.sock"; };
hacd = { channel = "$T/none.chan"; };
limits = { max_connections_per_ip = 2; };
listeners = ( { name = "v6"; listen = "[fd00:64::1]:8080"; } );
upstreams = ( { name = "plain"; servers = ( { name = "b6"; address = "127.0.0.1:8081"; } ); } );
EOF6
	spawn "$T/b6.log" ip netns exec "$NS6" "$BACKEND" --listen 127.0.0.1:8081 --name b6
	spawn "$T/px6.log" ip netns exec "$NS6" "$PROXYD" -c "$T/guard6.conf" -R "$T"
	wait_for 5 ns6_listening 8080 || { t_fail "proxyd did not start in $NS6: $(tail -3 "$T/px6.log")"; return 1; }
	# Two connections from fd00:64::2 fill the /64's allowance of 2; the two
	# from fd00:64::3 (same /64) are closed; fd00:65::1 is served.
	out=$(ip netns exec "$NS6" python3 "$T/perip6.py" fd00:64::1 8080 2 fd00:64::2 fd00:64::3 fd00:65::1)
	read -r closed other <<<"$out"
	[[ $closed == 2 ]] || { t_fail "$closed of 4 connections from one /64 closed, want 2"; return 1; }
	[[ $other == HTTP/1.1_200_OK ]] || { t_fail "another /64 got \"$other\""; return 1; }
	n=$(ip netns exec "$NS6" curl -s --max-time 3 http://127.0.0.1:9901/metrics |
		awk '$1 == "tandem_guard_total{reason=\"max_connections_per_ip\"}" { print $2 }')
	[[ ${n:-0} -ge 2 ]] || { t_fail "tandem_guard_total{reason=max_connections_per_ip} = ${n:-none}, want >= 2"; return 1; }
}

ns6_listening() { ip netns exec "$NS6" ss -Htln "sport = :$1" | grep -q .; }

# The admin listener holds at most admin.max_connections (4 here) open at
# once: the rest are closed at accept and counted; /metrics answers again
# once the idle ones are gone.
case_admin_cap() {
	local closed n
	closed=$(python3 "$T/admincap.py" "$H" "$P_ADM2" 7)
	[[ $closed == 3 ]] || { t_fail "$closed of 7 idle admin connections closed, want 3 (max_connections = 4)"; return 1; }
	n=$(metric $P_ADM2 'tandem_guard_total{reason="admin_max_connections"}')
	[[ ${n:-0} -ge 3 ]] || { t_fail "tandem_guard_total{reason=admin_max_connections} = ${n:-none}, want >= 3"; return 1; }
}

# The admin listener reads its request line within the bytes received
# (no sscanf): no version, another method, a target without '/' -> 400,
# each counted.
case_admin_bad() {
	local n0 n1 r req
	n0=$(metric $P_ADM2 'tandem_guard_total{reason="admin_bad_request"}')
	for req in 'GET /metrics\r\n\r\n' 'POST /metrics HTTP/1.1\r\n\r\n' 'GET metrics HTTP/1.1\r\n\r\n' \
		'GET /metrics HTTP/1.1      \r\n\r\n'; do
		r=$(python3 -c 'import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
s.sendall(sys.argv[3].encode().decode("unicode_escape").encode())
print(s.recv(64).split(b"\r\n")[0].decode().replace(" ", "_"))' "$H" "$P_ADM2" "$req")
		[[ $r == HTTP/1.1_400_* ]] || { t_fail "'$req' got \"$r\", want 400"; return 1; }
	done
	n1=$(metric $P_ADM2 'tandem_guard_total{reason="admin_bad_request"}')
	((${n1:-0} - ${n0:-0} >= 4)) || { t_fail "admin_bad_request went ${n0:-none} -> ${n1:-none}, want +4"; return 1; }
	[[ $(curl -s --max-time 3 -o /dev/null -w '%{http_code}' "http://$H:$P_ADM2/healthz") == 200 ]] ||
		{ t_fail "a good request after them failed"; return 1; }
}

case_slow_start() {
	local w
	touch "$T/b4.fail"
	wait_for 10 metric_is $P_ADM 'tandem_server_up{upstream="ss",server="b4"}' 0 ||
		{ rm -f "$T/b4.fail"; t_fail "b4 not marked down"; return 1; }
	[[ $(metric $P_ADM 'tandem_server_weight{upstream="ss",server="b4"}') == 0 ]] ||
		{ rm -f "$T/b4.fail"; t_fail "weight of a down server is not 0"; return 1; }
	rm -f "$T/b4.fail"
	wait_for 10 metric_is $P_ADM 'tandem_server_up{upstream="ss",server="b4"}' 1 || { t_fail "b4 not back"; return 1; }
	w=$(metric $P_ADM 'tandem_server_weight{upstream="ss",server="b4"}')
	echo "# slow start: weight $w of 100 just after coming back (ramp 6 s)" >&2
	((w >= 1 && w < 100)) || { t_fail "weight $w right after coming back, want a ramp below 100"; return 1; }
	wait_for 20 metric_is $P_ADM 'tandem_server_weight{upstream="ss",server="b4"}' 100 ||
		{ t_fail "weight never reached 100"; return 1; }
}

case_listener_deny() {
	local c
	c=$(code --interface 127.0.0.9 "http://$H:$P_PX2/")
	[[ $c == 000 ]] || { t_fail "denied address got $c, want the connection closed"; return 1; }
	[[ $(code "http://$H:$P_PX2/") == 200 ]] || { t_fail "allowed address refused"; return 1; }
	[[ $(metric $P_ADM2 'tandem_guard_total{reason="listener_acl"}') -ge 1 ]] ||
		{ t_fail "listener_acl not counted"; return 1; }
}

case_metrics() {
	local r v
	for r in route_acl method_not_allowed body_too_large rate_limited banned header_timeout slow_body tunnel_idle; do
		v=$(metric $P_ADM "tandem_guard_total{reason=\"$r\"}")
		[[ -n $v && $v -ge 1 ]] || { t_fail "tandem_guard_total{reason=\"$r\"} = \"$v\""; return 1; }
	done
	v=$(metric $P_ADM 'tandem_ratelimit_requests_total{limit="fast",verdict="limited"}')
	[[ -n $v && $v -ge 1 ]] || { t_fail "tandem_ratelimit_requests_total limited = \"$v\""; return 1; }
	v=$(metric $P_ADM 'tandem_ratelimit_bans_total{limit="banme"}')
	[[ -n $v && $v -ge 1 ]] || { t_fail "tandem_ratelimit_bans_total = \"$v\""; return 1; }
	v=$(metric $P_ADM 'tandem_server_checks_total{upstream="hc",server="b1",result="failed"}')
	[[ -n $v && $v -ge 1 ]] || { t_fail "tandem_server_checks_total failed = \"$v\""; return 1; }
	return 0
}

t_case "killed backend leaves and returns, no client error" case_killed_backend
t_case "failing /health shifts traffic away and back" case_failing_health
t_case "tcp check: closed port down, listening port up" case_tcp_check
t_case "passive ejection after consecutive 5xx" case_passive_ejection
t_case "slow start ramps the weight of a server that came back" case_slow_start
t_case "rate limit admits the configured rate (+-10%), Retry-After sane" case_rate
t_case "banned client refused until the ban ends" case_ban
t_case "route deny list -> 403" case_acl
t_case "body too large -> 413 (length and chunked)" case_body
t_case "method not allowed -> 405 with Allow" case_method
t_case "websocket echo through the proxy, tunnel idle timeout" case_websocket
t_case "500 slowloris connections: client served, all closed" case_slowloris
t_case "request body below min_body_rate -> 408" case_slow_body
t_case "per-address connection limit" case_per_ip
t_case "per-address connection limit counts an IPv6 /64 as one client" case_per_ip_v6
t_case "admin listener: connections past admin.max_connections closed and counted" case_admin_cap
t_case "admin listener: malformed request lines -> 400, counted" case_admin_bad
t_case "listener deny list closes the connection" case_listener_deny
t_case "guard metrics counted" case_metrics

t_san_case
echo "$T_PASS passed, $T_FAIL failed"
((T_FAIL == 0))
