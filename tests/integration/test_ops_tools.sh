#!/usr/bin/env bash
# tests/run: parallel-safe
# tests/integration/test_ops_tools.sh — the operator's tools around tandem.
#
#   - goaccess: proxyd's access log in its "combined" format (the Apache/NCSA
#     combined line, then rid= rt= up=) is read by `goaccess
#     --log-format=COMBINED`: a real log from proxyd on loopback
#     (127.0.0.1:23280, a test backend on :23281) after a known set of
#     requests, and goaccess's JSON report must count every one of them, by
#     status and path, and fail none. The same log in "json" format stays one
#     object per line.
#   - hactl status --watch: against hacd running as the single node of a
#     cluster in a network namespace of its own (tdmo-n1 by default, a veth
#     pair, 10.99.9.0/24): a bounded run (--count), a run ended by SIGINT,
#     one ended by "q" typed on a terminal (a pty), --json frames one object a
#     line, bad arguments refused, hacd unreachable said so.
#   - bash completion (contrib/bash-completion/hactl): commands, options, and
#     VIP names asked from the running hacd.
#
# Run as root from the repository root (BUILD=dir for binaries elsewhere);
# the loopback ports are fixed, so run it in a network namespace of its own
# when other tests share the machine. Prints one line per case and
# "N passed, N failed".

export LAB_PREFIX=${LAB_PREFIX:-tdmo}
: "${T_TIMEOUT:=180}"
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
t_bound "$@"

DIR=/tmp/${LAB_PREFIX}-ops
NS=${LAB_PREFIX}-n1
PX_PORT=23280
BE_PORT=23281
PIDS=()
PX_PID=
HD_PID=


listening_here() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }

setup() {
	local f
	for f in proxyd hacd hactl tests/tools/backend; do
		[[ -x $BUILD/$f ]] || { echo "missing $BUILD/$f (run make, or set BUILD=)" >&2; exit 1; }
	done
	for f in goaccess jq python3 curl; do
		command -v "$f" >/dev/null || { echo "needs $f (scripts/install-deps)" >&2; exit 1; }
	done
	[[ -r /usr/share/bash-completion/bash_completion ]] ||
		{ echo "needs bash-completion (scripts/install-deps)" >&2; exit 1; }
	[[ $(id -u) == 0 ]] || { echo "needs root (network namespace)" >&2; exit 1; }
	"$T_ROOT/scripts/add-users" >&2 || exit 1
	ip netns del "$NS" 2>/dev/null || true
	rm -rf "$DIR"
	mkdir -p "$DIR" && chmod 0711 "$DIR" || exit 1
	trap t_pids_teardown EXIT
	trap 'exit 143' TERM
	trap 'exit 130' INT
	"$BUILD/tests/tools/backend" --listen 127.0.0.1:$BE_PORT --name b1 </dev/null >"$DIR/backend.log" 2>&1 &
	PIDS+=($!)
	lab_wait 5 listening_here $BE_PORT || { echo "the test backend did not start" >&2; exit 1; }
}

# ---- goaccess -----------------------------------------------------------------

# proxyd_conf FORMAT LOG: a configuration with its access log in FORMAT.
proxyd_conf() {
	cat >"$DIR/proxyd-$1.conf" <<EOF
threads = 2;
log = { level = "info"; access = "$2"; format = "$1"; };
admin = { listen = "127.0.0.1:$((PX_PORT + 2))"; };
listeners = ( { name = "http"; listen = "127.0.0.1:$PX_PORT"; } );
upstreams = ( { name = "app"; servers = ( { name = "b1"; address = "127.0.0.1:$BE_PORT"; } ); } );
routes = (
  { name = "gone"; match = { path = "/gone"; }; respond = { status = 410; body = "gone\n"; }; },
  { name = "default"; upstream = "app"; }
);
EOF
}

# run_proxyd FORMAT: proxyd with that access-log format, the known requests,
# then SIGTERM (which flushes every worker's log buffer). The requests:
# 5 x GET /echo (200), 3 x GET /status/404 (404 from the backend),
# 2 x GET /gone (410 from proxyd), 1 x POST /echo-body (200), with a
# Referer and a User-Agent.
REQUESTS=11
run_proxyd() {
	local fmt=$1 log=$DIR/access-$1.log i
	rm -f "$log"
	proxyd_conf "$fmt" "$log"
	mkdir -p "$DIR/prun-$fmt"
	"$BUILD/proxyd" -c "$DIR/proxyd-$fmt.conf" -R "$DIR/prun-$fmt" </dev/null >"$DIR/proxyd-$fmt.out" 2>&1 &
	PX_PID=$!
	PIDS+=("$PX_PID")
	t_wait 10 listening_here $PX_PORT || { t_fail "proxyd did not listen"; return 1; }
	local c=(curl -s -o /dev/null -m 5 -A "ops-test/1.0 (goaccess)" -e "http://referrer.example/page")
	for ((i = 0; i < 5; i++)); do "${c[@]}" "http://127.0.0.1:$PX_PORT/echo?i=$i"; done
	for ((i = 0; i < 3; i++)); do "${c[@]}" "http://127.0.0.1:$PX_PORT/status/404"; done
	for ((i = 0; i < 2; i++)); do "${c[@]}" "http://127.0.0.1:$PX_PORT/gone"; done
	"${c[@]}" -X POST --data-binary 'hello' "http://127.0.0.1:$PX_PORT/echo-body"
	t_stop_pid "$PX_PID"
	t_wait 5 test "$(wc -l <"$log")" -ge $REQUESTS || { t_fail "$(wc -l <"$log") log lines, wanted $REQUESTS"; return 1; }
}

case_goaccess_combined() {
	local log=$DIR/access-combined.log r=$DIR/goaccess.json
	run_proxyd combined || return 1
	head -n 1 "$log" >"$DIR/combined-sample.out"
	goaccess "$log" --log-format=COMBINED --no-global-config -o "$r" >"$DIR/goaccess.log" 2>&1 ||
		{ t_fail "goaccess failed: $(tail -n 2 "$DIR/goaccess.log" | tr '\n' ' ')"; return 1; }
	# Every line parsed, none failed.
	jq -e --argjson n $REQUESTS '.general.total_requests == $n and .general.valid_requests == $n
		and .general.failed_requests == 0' "$r" >/dev/null ||
		{ t_fail "goaccess counts: $(jq -c '.general | {total_requests, valid_requests, failed_requests}' "$r")"; return 1; }
	# By status (the 4xx class holds 404 and 410) ...
	jq -e '[.status_codes.data[] | select(.data | startswith("2")) | .hits.count] | add == 6' "$r" >/dev/null &&
		jq -e '[.status_codes.data[] | select(.data | startswith("4")) | .hits.count] | add == 5' "$r" >/dev/null ||
		{ t_fail "goaccess status codes: $(jq -c '[.status_codes.data[] | {data, n: .hits.count}]' "$r")"; return 1; }
	# ... by path (query strings kept: /echo?i=0 ... /echo?i=4) ...
	jq -e '[.requests.data[] | select(.data | startswith("/echo?i=")) | .hits.count] | add == 5' "$r" >/dev/null &&
		jq -e '[.requests.data[] | select(.data == "/gone") | .hits.count] | add == 2' "$r" >/dev/null ||
		{ t_fail "goaccess requests: $(jq -c '[.requests.data[] | {data, n: .hits.count}]' "$r")"; return 1; }
	# ... and the referrer and the agent came through their quoted fields.
	jq -e '[.referring_sites.data[] | select(.data == "referrer.example")] | length == 1' "$r" >/dev/null ||
		{ t_fail "goaccess referring sites: $(jq -c '.referring_sites.data' "$r")"; return 1; }
	# An HTML report too (what an operator opens).
	goaccess "$log" --log-format=COMBINED --no-global-config -o "$DIR/report.html" >/dev/null 2>&1 &&
		grep -q '<html' "$DIR/report.html" || { t_fail "no HTML report"; return 1; }
}

case_json_lines() {
	local log=$DIR/access-json.log
	run_proxyd json || return 1
	# One object per line: every line alone is valid JSON, and as many as requests.
	local bad
	bad=$(while IFS= read -r l; do jq -e . >/dev/null 2>&1 <<<"$l" || echo x; done <"$log" | wc -l)
	((bad == 0)) || { t_fail "$bad lines of the json log are not one object each"; return 1; }
	[[ $(jq -s 'length' "$log") == "$REQUESTS" ]] || { t_fail "$(jq -s length "$log") objects, wanted $REQUESTS"; return 1; }
}

# ---- hacd and hactl status --watch ----------------------------------------------

start_hacd() {
	ip netns add "$NS" || return 1
	ip -n "$NS" link set lo up &&
		ip -n "$NS" link add eth0 type veth peer name eth1 &&
		ip -n "$NS" addr add 10.99.9.1/24 dev eth0 &&
		ip -n "$NS" link set eth0 up && ip -n "$NS" link set eth1 up || return 1
	(umask 077 && "$BUILD/hactl" keygen >"$DIR/hacd.key") || return 1
	cat >"$DIR/hacd.conf" <<EOF
cluster = "ops";
key_file = "hacd.key";
advert = "100ms";
nodes = ( { name = "n1"; address = "10.99.9.1"; } );
vips = ( { name = "web"; address = "10.99.9.100/24"; interface = "eth0"; priority = { n1 = 100; }; },
         { name = "api"; address = "10.99.9.101/24"; interface = "eth0"; priority = { n1 = 100; }; } );
track = { proxyd = "off"; };
EOF
	mkdir -p "$DIR/hrun" "$DIR/hstate"
	ip netns exec "$NS" "$BUILD/hacd" -c "$DIR/hacd.conf" -n n1 -R "$DIR/hrun" -S "$DIR/hstate" \
		</dev/null >"$DIR/hacd.log" 2>&1 &
	HD_PID=$!
	PIDS+=("$HD_PID")
	t_wait 10 hactl status || return 1
}

hactl() { ip netns exec "$NS" "$BUILD/hactl" -R "$DIR/hrun" "$@"; }

case_hacd_up() {
	start_hacd || { t_fail "hacd did not answer hactl status in 10 s"; return 1; }
}

case_watch_count() {
	local rc
	hactl status --watch --count 3 --interval 0.2 >"$DIR/watch.out" 2>&1
	rc=$?
	((rc == 0)) || { t_fail "exit $rc: $(tail -n 1 "$DIR/watch.out")"; return 1; }
	# Three frames, each a header and the VIP table with both VIPs.
	[[ $(grep -c '^hactl status --watch: every 0.200 s' "$DIR/watch.out") == 3 ]] ||
		{ t_fail "$(grep -c '^hactl status --watch' "$DIR/watch.out") frames, wanted 3"; return 1; }
	[[ $(grep -c '^web ' "$DIR/watch.out") == 3 && $(grep -c '^api ' "$DIR/watch.out") == 3 ]] ||
		{ t_fail "the frames lack the VIP rows"; return 1; }
	# Not a terminal: no escape sequences in the output.
	grep -q $'\033' "$DIR/watch.out" && { t_fail "escape sequences written to a pipe"; return 1; }
	return 0
}

case_watch_json() {
	hactl status --watch --json --count 2 --interval 0.1 >"$DIR/watch.json" 2>&1 || { t_fail "exit $?"; return 1; }
	[[ $(wc -l <"$DIR/watch.json") == 2 ]] || { t_fail "$(wc -l <"$DIR/watch.json") lines, wanted 2"; return 1; }
	while IFS= read -r l; do
		jq -e '.vips | length == 2' >/dev/null <<<"$l" || { t_fail "a frame is not one status object: $l"; return 1; }
	done <"$DIR/watch.json"
}

case_watch_sigint() {
	# No --count: it runs until SIGINT, then ends the loop cleanly (exit 0).
	local pid rc
	# Not through the hactl function: $! must be hactl's own pid (ip netns
	# exec execs it), not a subshell's.
	ip netns exec "$NS" "$BUILD/hactl" -R "$DIR/hrun" status --watch --interval 0.2 >"$DIR/watch-int.out" 2>&1 &
	pid=$!
	t_wait 5 grep -q '^web ' "$DIR/watch-int.out" || { kill -KILL "$pid"; t_fail "no first frame"; return 1; }
	kill -INT "$pid"
	t_wait 5 test ! -d "/proc/$pid" || { kill -KILL "$pid"; t_fail "still running 5 s after SIGINT"; return 1; }
	wait "$pid"
	rc=$?
	((rc == 0)) || { t_fail "exit $rc after SIGINT"; return 1; }
}

case_watch_q_tty() {
	# On a terminal: the screen is cleared per frame and "q" ends it, with
	# the terminal's mode restored. A pty from python3 stands in for one.
	ip netns exec "$NS" timeout 20 python3 - "$BUILD/hactl" "$DIR/hrun" >"$DIR/watch-tty.out" 2>&1 <<'EOF'
import os, pty, select, sys, termios, time
hactl, rundir = sys.argv[1], sys.argv[2]
pid, fd = pty.fork()
if pid == 0:
    os.execv(hactl, [hactl, "-R", rundir, "status", "--watch", "--interval", "0.2"])
before = termios.tcgetattr(fd)
out, deadline = b"", time.time() + 10
while out.count(b"\033[H\033[2J") < 2 and time.time() < deadline:
    r, _, _ = select.select([fd], [], [], 0.2)
    if r:
        out += os.read(fd, 65536)
if out.count(b"\033[H\033[2J") < 2:
    print("fewer than 2 cleared frames:", out[-300:]); sys.exit(1)
during = termios.tcgetattr(fd)
if during[3] & termios.ICANON:
    print("the terminal is still in canonical mode while watching"); sys.exit(1)
os.write(fd, b"q")
deadline = time.time() + 5
while time.time() < deadline:
    wpid, status = os.waitpid(pid, os.WNOHANG)
    if wpid == pid:
        break
    try:
        select.select([fd], [], [], 0.1) and os.read(fd, 65536)
    except OSError:
        pass
else:
    os.kill(pid, 9); print("still running 5 s after q"); sys.exit(1)
if not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0:
    print("exit status", status); sys.exit(1)
print("ok")
EOF
	local rc=$?
	((rc == 0)) || { t_fail "$(tail -n 1 "$DIR/watch-tty.out")"; return 1; }
}

case_watch_bad_args() {
	local a rc
	for a in "--interval 0" "--interval 3601" "--interval x" "--count 0" "--count -1" "--bogus"; do
		# shellcheck disable=SC2086
		hactl status --watch $a >/dev/null 2>&1
		rc=$?
		((rc == 2)) || { t_fail "'status --watch $a' exited $rc, wanted 2 (usage)"; return 1; }
	done
}

case_watch_unreachable() {
	local rc
	ip netns exec "$NS" "$BUILD/hactl" -R "$DIR/nowhere" status --watch --count 2 >/dev/null 2>&1
	rc=$?
	((rc == 3)) || { t_fail "exit $rc without hacd, wanted 3"; return 1; }
}

# ---- bash completion ------------------------------------------------------------

# complete_words LINE: what hactl's completion offers for LINE (the cursor
# at its end), one per line; run in hacd's namespace so names can be asked.
complete_words() {
	ip netns exec "$NS" env PATH="$BUILD:$PATH" bash -c '
		. /usr/share/bash-completion/bash_completion
		. "$1"
		COMP_LINE=$2
		COMP_POINT=${#COMP_LINE}
		read -ra COMP_WORDS <<<"$COMP_LINE"
		[[ $COMP_LINE == *" " ]] && COMP_WORDS+=("")
		COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
		_hactl hactl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
		printf "%s\n" "${COMPREPLY[@]}"' _ "$T_ROOT/contrib/bash-completion/hactl" "$1" 2>&1
}

case_completion() {
	local w
	w=$(complete_words "hactl st")
	[[ $w == status ]] || { t_fail "'hactl st' offers: $(tr '\n' ' ' <<<"$w")"; return 1; }
	w=$(complete_words "hactl ma")
	[[ $(sort <<<"$w" | tr '\n' ' ') == "maint maintenance " ]] || { t_fail "'hactl ma' offers: $(tr '\n' ' ' <<<"$w")"; return 1; }
	w=$(complete_words "hactl status --w")
	[[ $w == --watch ]] || { t_fail "'hactl status --w' offers: $(tr '\n' ' ' <<<"$w")"; return 1; }
	w=$(complete_words "hactl maintenance ")
	[[ $(sort <<<"$w" | tr '\n' ' ') == "off on " ]] || { t_fail "'hactl maintenance' offers: $(tr '\n' ' ' <<<"$w")"; return 1; }
	# VIP names from the running hacd (-R carried over to the question).
	w=$(complete_words "hactl -R $DIR/hrun failover ")
	[[ $(sort <<<"$w" | tr '\n' ' ') == "api web " ]] || { t_fail "'failover' offers: $(tr '\n' ' ' <<<"$w")"; return 1; }
	w=$(complete_words "hactl -R $DIR/hrun failover web --to ")
	[[ $w == n1 ]] || { t_fail "'failover web --to' offers: $(tr '\n' ' ' <<<"$w")"; return 1; }
	w=$(complete_words "hactl cache ")
	[[ $(sort <<<"$w" | tr '\n' ' ') == "purge stats " ]] || { t_fail "'hactl cache' offers: $(tr '\n' ' ' <<<"$w")"; return 1; }
	# keygen: its one option, then a file name.
	w=$(complete_words "hactl keygen ")
	[[ $w == -o ]] || { t_fail "'hactl keygen' offers: $(tr '\n' ' ' <<<"$w")"; return 1; }
	w=$(complete_words "hactl keygen -o $DIR/hru")
	[[ $w == "$DIR/hrun" ]] || { t_fail "'hactl keygen -o $DIR/hru' offers: $(tr '\n' ' ' <<<"$w")"; return 1; }
	# No hacd there: no names, and no error text in the completion.
	w=$(complete_words "hactl -R $DIR/nowhere failover ")
	[[ -z $w ]] || { t_fail "without hacd 'failover' offers: $(tr '\n' ' ' <<<"$w")"; return 1; }
}

setup
t_case "goaccess --log-format=COMBINED reads proxyd's combined log" case_goaccess_combined
t_case "json access log: one object per line" case_json_lines
t_case "hacd up for hactl" case_hacd_up
t_case "hactl status --watch --count 3: three frames, exit 0" case_watch_count
t_case "hactl status --watch --json: one object per frame" case_watch_json
t_case "hactl status --watch ends on SIGINT with exit 0" case_watch_sigint
t_case "hactl status --watch on a terminal: cleared frames, q ends it" case_watch_q_tty
t_case "hactl status --watch refuses bad arguments (exit 2)" case_watch_bad_args
t_case "hactl status --watch without hacd: exit 3" case_watch_unreachable
t_case "bash completion: commands, options, VIP and node names" case_completion
t_end
