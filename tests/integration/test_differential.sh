#!/usr/bin/env bash
# tests/run: parallel-safe
# tests/integration/test_differential.sh — differential HTTP testing: the same
# byte streams go to proxyd's own parser (tests/tools/frames, the client's
# framing) and through a real proxyd to a recording origin with an
# independent strict HTTP/1.1 reader; every stream must satisfy the framing
# invariant: each byte the client sent is inside exactly one forwarded
# request or refused, and nothing reaches the origin as a request the
# client's framing did not make (tests/integration/differential.py says
# exactly what is compared).
#
# Real processes on loopback (127.0.0.1:27100-27199): one proxyd (one worker,
# so every stream shares one backend connection pool: bytes left behind by
# one stream would show up in the next) in front of the origin, which
# differential.py runs. Streams: families of header-combination edge cases
# (Content-Length, Transfer-Encoding and chunk syntax, Connection tokens,
# Upgrade, Expect, trailers, pipelining, bare CR/LF, NUL and long lines,
# request-targets, Host), seeded random combinations of those fields, and
# the fuzz corpus (tests/fuzz/corpus/http_parse) as is and mutated with the
# fuzz dictionary. One line per family with the number of streams checked;
# then a check that proxyd counted every refusal; "N passed, N failed" last.
#
# Run from the repository root: bash tests/integration/test_differential.sh
# (BUILD=dir for binaries built elsewhere; T_PORT_BASE to move the ports).
# T_DIFF_LONG=N runs N times the seeded streams under a budget of N minutes
# (outside make test); T_DIFF_SEED picks the seed; T_DIFF_FAMILIES=a,b runs
# some families only; KEEP_LOGS=1 keeps a failed run's per-stream log.

set -u

LONG=${T_DIFF_LONG:-0}
if [[ -z ${T_DIFF_BOUNDED:-} ]]; then
	export T_DIFF_BOUNDED=1
	limit=100
	((LONG > 0)) && limit=$((LONG * 60 + 60))
	exec timeout -k 10 "$limit" bash "$0" "$@"
fi

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
BUILD=${BUILD:-build}
BUILD=$(cd "$BUILD" 2>/dev/null && pwd) || { echo "test_differential: no build directory" >&2; exit 1; }
PROXYD=$BUILD/proxyd
# The reference parser is the tree's own; an older proxyd under test (BUILD)
# is judged against the current framing rules, which is the point.
FRAMES=$BUILD/tests/tools/frames
[[ -x $FRAMES ]] || FRAMES=$ROOT/build/tests/tools/frames
for f in "$PROXYD" "$FRAMES"; do
	[[ -x $f ]] || { echo "test_differential: $f missing (make all first)" >&2; exit 1; }
done
for t in curl python3 ss timeout; do
	command -v "$t" >/dev/null || { echo "test_differential: $t not installed" >&2; exit 1; }
done

H=127.0.0.1
B0=${T_PORT_BASE:-27100}
P_OR=$((B0 + 1)) P_BIG=$((B0 + 2)) P_PX=$((B0 + 10)) P_ADM=$((B0 + 11))

T_NAME=differential
# shellcheck source=loopback.sh
. "$(dirname "$0")/loopback.sh"

cat >"$T/px.conf" <<EOF
threads = 1;
node = "difftest";
log = { level = "warn"; access = "off"; };
timeouts = { linger = "3s"; };
admin = { listen = "$H:$P_ADM"; socket = "$T/px.sock"; };
hacd = { channel = "$T/none.chan"; };
listeners = ( { name = "main"; listen = "$H:$P_PX"; } );
upstreams = ( { name = "o"; retries = 0; servers = ( { name = "o1"; address = "$H:$P_OR"; } ); },
              { name = "big"; retries = 0; servers = ( { name = "b1"; address = "$H:$P_BIG"; } ); } );
routes = ( { name = "linger"; match = { path_prefix = "/linger/"; }; upstream = "big"; },
           { name = "all"; upstream = "o"; } );
EOF
"$PROXYD" -t -c "$T/px.conf" >"$T/check.log" 2>&1 || { cat "$T/check.log" >&2; exit 1; }
spawn "$T/px.log" "$PROXYD" -c "$T/px.conf" -R "$T"
wait_for 5 listening "$P_PX" || { cat "$T/px.log" >&2; exit 1; }

parse_errors() {  # the sum of tandem_parse_errors_total over its reasons
	curl -s --max-time 3 "http://$H:$P_ADM/metrics" |
		awk '/^tandem_parse_errors_total[{ ]/ { s += $2 } END { print s + 0 }'
}

scale=1 budget=75
((LONG > 0)) && scale=$((LONG * 20)) budget=$((LONG * 60))
# T_DIFF_FAMILIES may name "linger", the lingering-close case below; the
# rest are differential.py's families.
fams=${T_DIFF_FAMILIES:-}
fams=$(sed 's/linger//g; s/,,*/,/g; s/^,//; s/,$//' <<<"$fams")

differential() {
	local pe0 pe1 rc fam n bad nref refused=0
	pe0=$(parse_errors)
	# The origin is started by differential.py itself (it has to see what
	# it received to judge each stream); its port is free until then.
	timeout -k 5 $((budget + 20)) python3 tests/integration/differential.py \
		--proxy "$P_PX" --origin "$P_OR" --frames "$FRAMES" \
		--corpus tests/fuzz/corpus/http_parse --dict tests/fuzz/http_parse.dict \
		--scale "$scale" --seed "${T_DIFF_SEED:-1}" --budget "$budget" --log "$T/streams.log" \
		${fams:+--families "$fams"} >"$T/result" 2>"$T/driver.err"
	rc=$?
	pe1=$(parse_errors)
	grep '^#' "$T/result"
	while read -r fam n bad nref; do
		refused=$((refused + nref))
		t_case "$fam: $n streams keep the framing invariant" family_case "$n" "$bad"
	done < <(grep -v '^#' "$T/result")
	if ((rc != 0)) || ! grep -qv '^#' "$T/result"; then
		t_case "driver ran to the end" t_fail "differential.py exit $rc: $(tail -n 3 "$T/driver.err")"
	fi
	# Every stream the parser refuses was refused by proxyd's parser and
	# counted once (417 and the like are not parse errors, not in the figure).
	t_case "parse refusals counted in tandem_parse_errors_total ($refused streams)" counted_case "$refused" $((pe1 - pe0))
}
family_case() {  # CHECKED FAILED
	(($1 > 0)) || { t_fail "no stream checked"; return 1; }
	(($2 == 0)) || t_fail "$2 of $1 streams broke the framing invariant (see the # lines above)"
}
counted_case() {  # REFUSALS-SENT COUNTER-DELTA
	(($1 > 0)) || { t_fail "no stream was refused"; return 1; }
	(($2 == $1)) || t_fail "tandem_parse_errors_total moved by $2, $1 refusals sent"
}
[[ -z ${T_DIFF_FAMILIES:-} || -n $fams ]] && differential

# ---- lingering close (RFC 9112 §9.6) ---------------------------------------------
# A client pipelines a request behind one that says Connection: close, after
# proxyd stopped reading (it reads no further while it answers), so those
# bytes are still unread in proxyd's socket when it closes. Closed at once,
# the kernel answers them with a reset and drops the part of the response it
# has not delivered yet: a 4 MB body arrived cut short. proxyd must shut its
# write side, drain, and close only on the client's FIN.
cat >"$T/big.py" <<'PY'
import socket, sys, threading
port, size = int(sys.argv[1]), int(sys.argv[2])
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", port))
ls.listen(16)
def serve(c):
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = c.recv(65536)
        if not d:
            return
        buf += d
    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size + b"x" * size)
    c.recv(1)
    c.close()
while True:
    c, _ = ls.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
cat >"$T/linger_client.py" <<'PY'
import socket, sys, time
port, size = int(sys.argv[1]), int(sys.argv[2])
s = socket.create_connection(("127.0.0.1", port), timeout=10)
s.sendall(b"GET /linger/big HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
time.sleep(0.2)
s.sendall(b"GET /after HTTP/1.1\r\nHost: t\r\n\r\n")
time.sleep(0.3)    # not reading: most of the body waits in proxyd's socket
got, err = b"", None
try:
    while True:
        d = s.recv(65536)
        if not d:
            break
        got += d
except OSError as e:
    err = e.strerror
i = got.find(b"\r\n\r\n")
body = len(got) - i - 4 if i >= 0 else -1
if body != size or err is not None:
    sys.exit("got %d of %d body bytes, then %s" % (body, size, err or "EOF"))
PY
linger_metric() {
	curl -s --max-time 3 "http://$H:$P_ADM/metrics" |
		awk '/^tandem_lingering_closes_total\{end="client_fin"\}/ { print $2 }'
}
linger_case() {
	local why m0 m1
	spawn "$T/big.log" python3 "$T/big.py" "$P_BIG" 4000000
	wait_for 5 listening "$P_BIG" || { t_fail "big origin did not start"; return 1; }
	m0=$(linger_metric)
	why=$(timeout 20 python3 "$T/linger_client.py" "$P_PX" 4000000 2>&1) || { t_fail "$why"; return 1; }
	m1=$(linger_metric)
	((${m1:-0} > ${m0:-0})) || t_fail "tandem_lingering_closes_total{end=\"client_fin\"} did not move (${m0:-none} -> ${m1:-none})"
}
[[ -z ${T_DIFF_FAMILIES:-} || ${T_DIFF_FAMILIES} == *linger* ]] &&
	t_case "Connection: close with more pipelined: the whole 4 MB response, then FIN (lingering close)" linger_case

echo "$T_PASS passed, $T_FAIL failed"
((T_FAIL == 0))
