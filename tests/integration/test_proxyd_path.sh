#!/usr/bin/env bash
# tests/run: parallel-safe
# tests/integration/test_proxyd_path.sh — one path for routes, access rules and
# the backend.
#
# A route "/internal/" with an allow list and a host route "internal.example"
# with one sit in front of a catch-all. Spellings of the same path or host
# ("/%69nternal/x", "//internal/x", "internal.example.") must not reach the
# origin through the catch-all; ambiguous spellings ("/%2e%2e/", "%2F") are
# refused; an allowed client's request reaches the origin with the path it was
# matched on; a rewrite whose result does not fit fails the request instead of
# forwarding the original target. Each case also checks the counter that
# names the refusal.
#
# Real processes on loopback (127.0.0.1:26100-26199; 127.0.0.2 is the allowed
# client): two python origins that log every request line, and proxyd. Waits
# are bounded, the file runs under timeout(1), and an EXIT trap stops every
# process it started, by PID.
#
# Run from the repository root: bash tests/integration/test_proxyd_path.sh
# (BUILD=dir for binaries built elsewhere). One line per case, then
# "N passed, N failed"; exit status 1 on failure.

set -u

if [[ -z ${T_PATH_BOUNDED:-} ]]; then
	export T_PATH_BOUNDED=1
	exec timeout -k 10 120 bash "$0" "$@"
fi

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
BUILD=${BUILD:-build}
BUILD=$(cd "$BUILD" 2>/dev/null && pwd) || { echo "test_proxyd_path: no build directory" >&2; exit 1; }
PROXYD=$BUILD/proxyd
[[ -x $PROXYD ]] || { echo "test_proxyd_path: $PROXYD missing (make all first)" >&2; exit 1; }
for t in curl python3 ss timeout; do
	command -v "$t" >/dev/null || { echo "test_proxyd_path: $t not installed" >&2; exit 1; }
done

H=127.0.0.1
OK_SRC=127.0.0.2            # the one client address the allow lists admit
P_PX=26100 P_ADM=26101      # the proxy under test and its admin listener
P_INT=26110 P_PUB=26111     # origins: behind the guarded routes, behind the catch-all

T_NAME=path
# shellcheck source=loopback.sh
. "$(dirname "$0")/loopback.sh"

cat >"$T/origin.py" <<'EOF'
# An origin that appends every request line it receives to LOG (flushed
# before it answers) and answers 200 with its NAME.
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
port, name, log = int(sys.argv[1]), sys.argv[2], sys.argv[3]
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        with open(log, "a") as f:
            f.write(self.requestline + "\n")
        body = (name + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
ThreadingHTTPServer.allow_reuse_address = True
ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
EOF

: >"$T/int.log"
: >"$T/pub.log"
spawn "$T/int.out" python3 "$T/origin.py" "$P_INT" int "$T/int.log"
spawn "$T/pub.out" python3 "$T/origin.py" "$P_PUB" pub "$T/pub.log"

# 300 bytes of replacement: "/rw/" + 7900 bytes is a request line the parser
# takes (< 8192), rewritten it is longer than the proxy's target buffer.
RW_LONG=/$(printf 'r%.0s' $(seq 1 300))/
cat >"$T/path.conf" <<EOF
threads = 1;
node = "pathtest";
log = { level = "info"; access = "off"; };
admin = { listen = "$H:$P_ADM"; socket = "$T/px.sock"; };
hacd = { channel = "$T/none.chan"; };
listeners = ( { name = "main"; listen = "$H:$P_PX"; } );
upstreams = (
  { name = "int"; servers = ( { name = "int"; address = "$H:$P_INT"; } ); },
  { name = "pub"; servers = ( { name = "pub"; address = "$H:$P_PUB"; } ); }
);
routes = (
  { name = "internal"; match = { path_prefix = "/internal/"; }; upstream = "int"; allow = [ "$OK_SRC" ]; },
  { name = "hostint"; match = { host = "internal.example"; }; upstream = "int"; allow = [ "$OK_SRC" ]; },
  { name = "rw"; match = { path_prefix = "/rw/"; }; upstream = "pub"; rewrite = { prefix = "/rw/"; replace = "$RW_LONG"; }; },
  { name = "default"; upstream = "pub"; }
);
EOF

"$PROXYD" -t -c "$T/path.conf" >"$T/check.log" 2>&1 || { cat "$T/check.log" >&2; exit 1; }
spawn "$T/px.log" "$PROXYD" -c "$T/path.conf" -R "$T"
wait_for 5 listening "$P_PX" && wait_for 5 listening "$P_INT" && wait_for 5 listening "$P_PUB" ||
	{ cat "$T/px.log" "$T/int.out" "$T/pub.out" >&2; exit 1; }

metric() {  # NAME_WITH_LABELS: the value, 0 when absent
	local v
	v=$(curl -s --max-time 3 "http://$H:$P_ADM/metrics" | awk -v k="$1" 'index($0, k" ") == 1 { print $2 }')
	echo "${v:-0}"
}

code() {  # curl args...: the status code; the path goes out as written
	curl -s -o /dev/null -w '%{http_code}' --max-time 5 --path-as-is "$@"
}

origins_clear() {
	: >"$T/int.log"
	: >"$T/pub.log"
}

origins_empty() {  # WHY: neither origin received anything since origins_clear
	if [[ -s $T/int.log || -s $T/pub.log ]]; then
		t_fail "$1: origin received: $(cat "$T/int.log" "$T/pub.log" | cut -c1-80 | tr '\n' '|')"
		return 1
	fi
}

# ---- cases ---------------------------------------------------------------------

case_path_spellings() {
	local acl0 dot0 sl0 p want c
	origins_clear
	acl0=$(metric 'tandem_guard_total{reason="route_acl"}')
	dot0=$(metric 'tandem_parse_errors_total{reason="dot-segment"}')
	sl0=$(metric 'tandem_parse_errors_total{reason="encoded-slash"}')
	for p in "/%69nternal/x:403" "//internal/x:403" "/internal//x:403" "/%2e%2e/internal:400" "/internal%2Fx:400"; do
		want=${p##*:}
		c=$(code "http://$H:$P_PX${p%:*}")
		[[ $c == "$want" ]] || { t_fail "${p%:*} from $H: $c, want $want"; return 1; }
	done
	origins_empty "refused paths" || return 1
	(($(metric 'tandem_guard_total{reason="route_acl"}') == acl0 + 3)) ||
		{ t_fail "route_acl moved $acl0 -> $(metric 'tandem_guard_total{reason="route_acl"}'), want +3"; return 1; }
	(($(metric 'tandem_parse_errors_total{reason="dot-segment"}') == dot0 + 1)) ||
		{ t_fail "dot-segment not counted"; return 1; }
	(($(metric 'tandem_parse_errors_total{reason="encoded-slash"}') == sl0 + 1)) ||
		{ t_fail "encoded-slash not counted"; return 1; }
}

case_host_spellings() {
	local acl0 h c
	origins_clear
	acl0=$(metric 'tandem_guard_total{reason="route_acl"}')
	for h in "internal.example." "INTERNAL.example.:$P_PX"; do
		c=$(code -H "Host: $h" "http://$H:$P_PX/x")
		[[ $c == 403 ]] || { t_fail "Host: $h from $H: $c, want 403"; return 1; }
	done
	c=$(code -H "Host: %69nternal.example" "http://$H:$P_PX/x")
	[[ $c == 400 ]] || { t_fail "Host: %69nternal.example: $c, want 400"; return 1; }
	origins_empty "refused hosts" || return 1
	(($(metric 'tandem_guard_total{reason="route_acl"}') == acl0 + 2)) ||
		{ t_fail "route_acl did not move by 2"; return 1; }
}

case_allowed_normalised() {
	local c
	origins_clear
	c=$(code --interface "$OK_SRC" "http://$H:$P_PX/%69nternal//%7Ex?q=//%2F")
	[[ $c == 200 ]] || { t_fail "allowed client: $c, want 200"; return 1; }
	[[ $(cat "$T/int.log") == "GET /internal/~x?q=//%2F HTTP/1.1" ]] ||
		{ t_fail "origin saw \"$(cat "$T/int.log")\", want the normalised path, query as sent"; return 1; }
	[[ ! -s $T/pub.log ]] || { t_fail "catch-all origin got a request"; return 1; }
}

case_rewrite_overflow() {
	local rw0 c long
	origins_clear
	rw0=$(metric 'tandem_guard_total{reason="rewrite_overflow"}')
	long=/rw/$(printf 'a%.0s' $(seq 1 7900))
	c=$(code "http://$H:$P_PX$long")
	[[ $c == 414 ]] || { t_fail "overflowing rewrite: $c, want 414"; return 1; }
	origins_empty "overflowing rewrite" || return 1
	(($(metric 'tandem_guard_total{reason="rewrite_overflow"}') == rw0 + 1)) ||
		{ t_fail "rewrite_overflow not counted"; return 1; }
	# A rewrite that fits still goes out rewritten.
	c=$(code "http://$H:$P_PX/rw/ok")
	[[ $c == 200 && $(cat "$T/pub.log") == "GET ${RW_LONG}ok HTTP/1.1" ]] ||
		{ t_fail "short rewrite: $c, origin saw \"$(cut -c1-60 "$T/pub.log")\""; return 1; }
}

t_case "path spellings of a guarded route: 403/400, origin untouched, counted" case_path_spellings
t_case "host spellings of a guarded host route: 403/400, origin untouched" case_host_spellings
t_case "allowed client: origin gets the normalised path, query as sent" case_allowed_normalised
t_case "rewrite that does not fit: 414, not the original target, counted" case_rewrite_overflow

t_san_case
echo "$T_PASS passed, $T_FAIL failed"
((T_FAIL == 0))
