#!/usr/bin/env bash
# tests/run: parallel-safe
# tests/integration/test_sticky.sh — cookie stickiness of an upstream, end
# to end.
#
# Real processes on loopback (127.0.0.1:25000-25999): three
# tests/tools/backend origins b1, b2, b3 behind a proxyd (one worker, so
# round robin is exact) whose upstream has `sticky` and round robin. Cases:
# the first request gets a Set-Cookie naming the server that answered; 20
# requests carrying it all reach that server and get no new cookie; our
# cookie is cut out of the Cookie header the backend sees while the others
# stay byte-exact; requests without a cookie (or with an unknown or
# malformed one) are balanced round robin over all three and pinned; a
# drained server is left and comes back; after the pinned server is
# killed, requests with its cookie are retried on another server (never the
# dead one), answered 200 and re-pinned, and the new cookie sticks.
#
# Assertions are on counts and headers, never on time; every wait is
# bounded, the whole file runs under timeout(1), and an EXIT trap stops
# every process it started, by PID.
#
# Run from the repository root: bash tests/integration/test_sticky.sh
# (BUILD=dir for binaries built elsewhere). One line per case, then
# "N passed, N failed"; exit status 1 on failure.

set -u

if [[ -z ${T_STICKY_BOUNDED:-} ]]; then
	export T_STICKY_BOUNDED=1
	exec timeout -k 10 110 bash "$0" "$@"
fi

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
BUILD=${BUILD:-build}
BUILD=$(cd "$BUILD" 2>/dev/null && pwd) || { echo "test_sticky: no build directory" >&2; exit 1; }
PROXYD=$BUILD/proxyd
BACKEND=$BUILD/tests/tools/backend
for b in "$PROXYD" "$BACKEND"; do
	[[ -x $b ]] || { echo "test_sticky: $b missing (make all first)" >&2; exit 1; }
done
for t in curl python3 ss timeout; do
	command -v "$t" >/dev/null || { echo "test_sticky: $t not installed" >&2; exit 1; }
done

H=127.0.0.1
P_B1=25001 P_B2=25002 P_B3=25003
P_PX=25100 P_ADM=25101
CK=TNDSRV
T_NAME=sticky
# shellcheck source=loopback.sh
. "$(dirname "$0")/loopback.sh"
declare -A BPID
backend() {  # NAME PORT: start an origin, wait until it listens
	spawn "$T/$1.log" "$BACKEND" --listen "$H:$2" --name "$1" --threads 1
	BPID[$1]=$SPAWNED
	wait_for 5 listening "$2" || { echo "backend $1 did not start" >&2; exit 1; }
}

stop_pid() {  # PID: TERM, then KILL after 2 s
	local p=$1
	kill -TERM "$p" 2>/dev/null
	for _ in $(seq 1 40); do
		kill -0 "$p" 2>/dev/null || break
		sleep 0.05
	done
	kill -KILL "$p" 2>/dev/null
	wait "$p" 2>/dev/null
	return 0
}

admin() {  # LINE: one command on the admin unix socket, answer on stdout
	timeout 10 python3 "$ROOT/tests/tools/adminsock.py" "$T/px.sock" "$1"
}

# One request: sets R_CODE, R_BACKEND (X-Backend), R_TOKEN (the value of our
# Set-Cookie, empty if none), R_SETCOOKIE (the whole header line).
R_CODE= R_BACKEND= R_TOKEN= R_SETCOOKIE=
req() {  # PATH [curl args...]
	local path=$1 hdr
	shift
	hdr=$(curl -s -D - -o "$T/body.raw" --max-time 5 "$@" "http://$H:$P_PX$path" | tr -d '\r')
	tr -d '\r' <"$T/body.raw" >"$T/body"
	R_CODE=$(awk 'NR == 1 { print $2 }' <<<"$hdr")
	R_BACKEND=$(awk -F': ' 'tolower($1) == "x-backend" { print $2 }' <<<"$hdr")
	R_SETCOOKIE=$(grep -i "^set-cookie: $CK=" <<<"$hdr")
	R_TOKEN=$(sed -n "s/^[Ss]et-[Cc]ookie: $CK=\([^;]*\).*/\1/p" <<<"$hdr")
}

# Which server each token was seen to pin: must be one-to-one.
declare -A TOK_SRV
note_token() {  # TOKEN BACKEND
	local prev=${TOK_SRV[$1]:-}
	if [[ -n $prev && $prev != "$2" ]]; then
		t_fail "token $1 pinned $prev and $2"
		return 1
	fi
	TOK_SRV[$1]=$2
	local k
	for k in "${!TOK_SRV[@]}"; do
		if [[ $k != "$1" && ${TOK_SRV[$k]} == "$2" ]]; then
			t_fail "$2 has two tokens: $k and $1"
			return 1
		fi
	done
	return 0
}

# ---- origins and proxy ----------------------------------------------------------

backend b1 "$P_B1"
backend b2 "$P_B2"
backend b3 "$P_B3"

cat >"$T/sticky.conf" <<EOF
threads = 1;
node = "stickytest";
log = { level = "info"; access = "off"; };
admin = { listen = "$H:$P_ADM"; socket = "$T/px.sock"; };
hacd = { channel = "$T/none.chan"; };
listeners = ( { name = "main"; listen = "$H:$P_PX"; } );
upstreams = (
  { name = "app"; balance = "roundrobin"; retries = 2;
    sticky = { cookie = "$CK"; max_age = "1h"; path = "/"; httponly = true; secure = false; };
    servers = ( { name = "b1"; address = "$H:$P_B1"; },
                { name = "b2"; address = "$H:$P_B2"; },
                { name = "b3"; address = "$H:$P_B3"; } ); }
);
EOF

"$PROXYD" -t -c "$T/sticky.conf" >"$T/check.log" 2>&1 || { cat "$T/check.log" >&2; exit 1; }
spawn "$T/px.log" "$PROXYD" -c "$T/sticky.conf" -R "$T"
PID_PX=$SPAWNED
wait_for 5 listening "$P_PX" || { cat "$T/px.log" >&2; exit 1; }

# ---- cases ------------------------------------------------------------------------

PIN_TOKEN= PIN_SRV=

case_first_request() {
	req /
	[[ $R_CODE == 200 ]] || { t_fail "status $R_CODE"; return 1; }
	[[ -n $R_BACKEND ]] || { t_fail "no X-Backend"; return 1; }
	[[ $R_TOKEN =~ ^[0-9a-f]{16}$ ]] || { t_fail "Set-Cookie \"$R_SETCOOKIE\""; return 1; }
	[[ $R_SETCOOKIE == "Set-Cookie: $CK=$R_TOKEN; Path=/; Max-Age=3600; HttpOnly" ]] ||
		{ t_fail "Set-Cookie \"$R_SETCOOKIE\""; return 1; }
	note_token "$R_TOKEN" "$R_BACKEND" || return 1
	PIN_TOKEN=$R_TOKEN
	PIN_SRV=$R_BACKEND
}

# sticky_count RESULT: tandem_sticky_cookies_total{result=RESULT} from /metrics.
sticky_count() {
	curl -s -m 3 "http://$H:$P_ADM/metrics" | awk -v k="tandem_sticky_cookies_total{result=\"$1\"}" '$1 == k { print $2 }'
}

case_cookie_sticks() {
	local i before after
	[[ -n $PIN_TOKEN ]] || { t_fail "no cookie from the first case"; return 1; }
	before=$(sticky_count pinned)
	for i in $(seq 1 20); do
		req / -H "Cookie: a=1; $CK=$PIN_TOKEN; b=2"
		[[ $R_CODE == 200 ]] || { t_fail "request $i: status $R_CODE"; return 1; }
		[[ $R_BACKEND == "$PIN_SRV" ]] || { t_fail "request $i went to $R_BACKEND, not $PIN_SRV"; return 1; }
		[[ -z $R_SETCOOKIE ]] || { t_fail "request $i re-pinned: $R_SETCOOKIE"; return 1; }
	done
	after=$(sticky_count pinned)
	[[ -n $before && -n $after ]] && ((after - before == 20)) ||
		{ t_fail "pinned counter went from '$before' to '$after', not by 20"; return 1; }
}

case_cookie_stripped() {
	req /echo -H "Cookie: a=1; $CK=$PIN_TOKEN;  b=\"x y\""
	[[ $R_BACKEND == "$PIN_SRV" ]] || { t_fail "went to $R_BACKEND"; return 1; }
	grep -qi "^cookie: a=1;  b=\"x y\"$" "$T/body" ||
		{ t_fail "backend saw: $(grep -i '^cookie' "$T/body" | tr -d '\r')"; return 1; }
	! grep -q "$CK" "$T/body" || { t_fail "$CK reached the backend"; return 1; }
	req /echo -H "Cookie: $CK=$PIN_TOKEN"
	[[ $R_BACKEND == "$PIN_SRV" ]] || { t_fail "went to $R_BACKEND"; return 1; }
	! grep -qi '^cookie' "$T/body" || { t_fail "an empty Cookie header was forwarded"; return 1; }
	# A cookie of another name is no business of ours.
	req /echo -H "Cookie: ${CK}X=1; x$CK=2"
	grep -qi "^cookie: ${CK}X=1; x$CK=2$" "$T/body" || { t_fail "other cookies changed"; return 1; }
}

case_round_robin() {
	local i n1=0 n2=0 n3=0
	for i in $(seq 1 30); do
		req /
		[[ $R_CODE == 200 ]] || { t_fail "request $i: status $R_CODE"; return 1; }
		[[ -n $R_TOKEN ]] || { t_fail "request $i: no Set-Cookie"; return 1; }
		note_token "$R_TOKEN" "$R_BACKEND" || return 1
		case $R_BACKEND in
		b1) n1=$((n1 + 1)) ;;
		b2) n2=$((n2 + 1)) ;;
		b3) n3=$((n3 + 1)) ;;
		esac
	done
	((n1 == 10 && n2 == 10 && n3 == 10)) || { t_fail "b1 $n1, b2 $n2, b3 $n3 of 30"; return 1; }
}

case_bad_cookie() {
	local v before after
	before=$(sticky_count unknown)
	for v in 0000000000000000 "$PIN_TOKEN"0 nothex "\"$PIN_TOKEN"; do
		req / -H "Cookie: $CK=$v"
		[[ $R_CODE == 200 && -n $R_TOKEN ]] || { t_fail "value \"$v\": status $R_CODE, Set-Cookie \"$R_SETCOOKIE\""; return 1; }
		note_token "$R_TOKEN" "$R_BACKEND" || return 1
	done
	after=$(sticky_count unknown)
	[[ -n $before && -n $after ]] && ((after - before == 4)) ||
		{ t_fail "unknown counter went from '$before' to '$after', not by 4"; return 1; }
	# Quoted (RFC 6265 §4.1.1) is the same cookie.
	req / -H "Cookie: $CK=\"$PIN_TOKEN\""
	[[ $R_BACKEND == "$PIN_SRV" && -z $R_SETCOOKIE ]] || { t_fail "quoted: $R_BACKEND \"$R_SETCOOKIE\""; return 1; }
}

case_drain() {
	local i
	admin "set server app/$PIN_SRV state drain" | grep -q '^error' && { t_fail "admin refused drain"; return 1; }
	for i in $(seq 1 5); do
		req / -H "Cookie: $CK=$PIN_TOKEN"
		[[ $R_CODE == 200 ]] || { t_fail "drained, request $i: status $R_CODE"; return 1; }
		[[ $R_BACKEND != "$PIN_SRV" ]] || { t_fail "drained $PIN_SRV still got request $i"; return 1; }
		[[ -n $R_TOKEN ]] || { t_fail "drained, request $i: no new Set-Cookie"; return 1; }
		note_token "$R_TOKEN" "$R_BACKEND" || return 1
	done
	admin "set server app/$PIN_SRV state ready" | grep -q '^error' && { t_fail "admin refused ready"; return 1; }
	req / -H "Cookie: $CK=$PIN_TOKEN"
	[[ $R_BACKEND == "$PIN_SRV" && -z $R_SETCOOKIE ]] || { t_fail "ready again: $R_BACKEND \"$R_SETCOOKIE\""; return 1; }
}

case_killed() {
	local i new_tok= new_srv=
	stop_pid "${BPID[$PIN_SRV]}"
	for i in $(seq 1 10); do
		req / -H "Cookie: $CK=$PIN_TOKEN"
		[[ $R_CODE == 200 ]] || { t_fail "request $i with the dead server's cookie: status $R_CODE"; return 1; }
		[[ $R_BACKEND != "$PIN_SRV" ]] || { t_fail "dead $PIN_SRV answered?"; return 1; }
		[[ -n $R_TOKEN && $R_TOKEN != "$PIN_TOKEN" ]] || { t_fail "request $i: Set-Cookie \"$R_SETCOOKIE\""; return 1; }
		note_token "$R_TOKEN" "$R_BACKEND" || return 1
		new_tok=$R_TOKEN
		new_srv=$R_BACKEND
	done
	for i in $(seq 1 10); do
		req / -H "Cookie: $CK=$new_tok"
		[[ $R_CODE == 200 && $R_BACKEND == "$new_srv" && -z $R_SETCOOKIE ]] ||
			{ t_fail "new cookie, request $i: $R_CODE $R_BACKEND \"$R_SETCOOKIE\""; return 1; }
	done
}

case_no_cookie_after_kill() {
	local i dead=$PIN_SRV
	declare -A seen=()
	for i in $(seq 1 12); do
		req /
		[[ $R_CODE == 200 && -n $R_TOKEN ]] || { t_fail "request $i: $R_CODE \"$R_SETCOOKIE\""; return 1; }
		[[ $R_BACKEND != "$dead" ]] || { t_fail "dead $dead answered?"; return 1; }
		seen[$R_BACKEND]=1
	done
	((${#seen[@]} == 2)) || { t_fail "servers seen: ${!seen[*]}"; return 1; }
}

t_case "first request gets Set-Cookie naming the server that answered" case_first_request
t_case "20 requests with the cookie reach the same server, no new cookie" case_cookie_sticks
t_case "our cookie is cut from the Cookie header the backend sees" case_cookie_stripped
t_case "no cookie: round robin over all three, each pinned" case_round_robin
t_case "unknown or malformed cookie: balanced and re-pinned; quoted works" case_bad_cookie
t_case "drained server is left with a new cookie, and comes back" case_drain
t_case "killed server: its cookie retried elsewhere and re-pinned; new cookie sticks" case_killed
t_case "no cookie after the kill: the two live servers, each pinned" case_no_cookie_after_kill

kill -0 "$PID_PX" 2>/dev/null || { T_FAIL=$((T_FAIL + 1)); echo "not ok - proxyd still running (it exited)"; }

t_san_case
echo "$T_PASS passed, $T_FAIL failed"
((T_FAIL == 0))
