# shellcheck shell=bash
# tests/integration/lib.sh — what every integration test shares.
#
# Integration tests run tandem's real daemons in a network-namespace lab
# (scripts/lab, sourced here for its topology and process functions) under a
# LAB_PREFIX of their own, so they never meet a running `make demo`. This
# file adds the test harness around it:
#   - t_begin: a bound on the whole run (the script re-runs itself under
#     timeout(1)), a trap that always tears the lab down, the lab itself;
#   - bounded waits (t_wait, t_wait_line, t_wait_port): every wait has a
#     deadline, none is a timing assertion (shared, noisy machines);
#   - one line per case, "ok - name" or "not ok - name (why)", and the
#     final "N passed, N failed" with a non-zero exit status on failure.
#
# Use:
#     . "$(dirname "$0")/lib.sh"
#     t_begin "$@"
#     t_case "name" some_function     # the function sets T_WHY and returns 1 to fail
#     t_end

T_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
T_ROOT=$(cd "$T_LIB_DIR/../.." && pwd)

: "${LAB_PREFIX:=tdmt}"
: "${T_TIMEOUT:=290}"          # seconds for the whole test file
export LAB_PREFIX

# shellcheck source-path=SCRIPTDIR source=../../scripts/lab
. "$T_ROOT/scripts/lab"
# shellcheck source=sanitizer.sh
. "$T_LIB_DIR/sanitizer.sh"

T_PASS=0
T_FAIL=0
T_WHY=
T_STARTED=0

t_log() { printf '# %s\n' "$*" >&2; }

# Bound the whole file: re-exec under timeout(1) once. On expiry the script
# gets SIGTERM and its EXIT trap still tears the lab down; -k makes sure a
# script that ignores TERM dies anyway.
t_bound() {
	if [[ -z ${T_BOUNDED:-} ]]; then
		export T_BOUNDED=1
		exec timeout -k 20 "$T_TIMEOUT" bash "$0" "$@"
	fi
}

t_teardown() {
	local rc=$?
	((T_STARTED)) || return "$rc"
	if ((T_FAIL > 0)) || ((rc != 0)); then
		# Keep the daemons' logs of a failed run for the reader.
		local keep=/tmp/${LAB_PREFIX}-logs
		rm -rf "$keep"
		mkdir -p "$keep"
		# Logs and outputs only: no key (or key copy) leaves the lab dir.
		(cd "$LAB_DIR" 2>/dev/null && find . -type f ! -name '*.key' ! -name '*.tmp' \
			-exec cp --parents {} "$keep"/ \;) 2>/dev/null || true
		t_log "logs kept in $keep"
	fi
	lab_down
	return "$rc"
}

# For scripts that start their own processes in one namespace of their own
# rather than a lab (test_notify, test_ops_tools): they record each pid in
# PIDS and set `trap t_pids_teardown EXIT` after defining NS and DIR.

# t_stop_pid PID: TERM, then KILL after 5 s; only processes this test started.
t_stop_pid() {
	local pid=$1 i
	[[ -d /proc/$pid ]] || return 0
	kill -TERM "$pid" 2>/dev/null
	for ((i = 0; i < 100; i++)); do
		[[ -d /proc/$pid ]] || break
		sleep 0.05
	done
	[[ -d /proc/$pid ]] && kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null || true
}

# t_pids_teardown: stop PIDS newest first, delete NS, keep DIR's logs and
# outputs (never keys) in /tmp/${LAB_PREFIX}-logs when anything failed,
# remove DIR.
t_pids_teardown() {
	local rc=$? i
	for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do t_stop_pid "${PIDS[i]}"; done
	ip netns del "$NS" 2>/dev/null || true
	if ((rc != 0)) || ((T_FAIL > 0)); then
		rm -rf "/tmp/${LAB_PREFIX}-logs"
		mkdir -p "/tmp/${LAB_PREFIX}-logs"
		cp "$DIR"/*.out "$DIR"/*.log "$DIR"/*.json "/tmp/${LAB_PREFIX}-logs/" 2>/dev/null
		t_log "logs kept in /tmp/${LAB_PREFIX}-logs"
	fi
	rm -rf "$DIR"
	return "$rc"
}

# t_begin: check the environment, bound the run, set the trap, build the lab.
# T_CHECK_ENV and T_LAB_UP name other functions for both steps (the BGP lab,
# scripts/lab-bgp: bgp_check_env and bgp_up).
t_begin() {
	t_bound "$@"
	"${T_CHECK_ENV:-lab_check_env}"
	lab_check_binaries
	if lab_exists; then
		t_log "a lab with prefix $LAB_PREFIX exists (an earlier run killed hard?); removing it"
		lab_down
	fi
	# Reports of a sanitized build: outside LAB_DIR, which lab_down removes.
	t_san_setup "/tmp/${LAB_PREFIX}-san" || exit 1
	T_STARTED=1
	trap t_teardown EXIT
	trap 'exit 143' TERM
	trap 'exit 130' INT
	"${T_LAB_UP:-lab_up}" || exit 1
}

# t_case NAME FUNCTION [ARGS...]: run one case and print its line. With
# T_ONLY=REGEX set, only cases whose function name matches run (the others
# are not counted), e.g. T_ONLY='split|attacker'.
t_case() {
	local name=$1
	shift
	[[ -z ${T_ONLY:-} || $1 =~ $T_ONLY ]] || return 0
	T_WHY=
	if "$@"; then
		echo "ok - $name"
		T_PASS=$((T_PASS + 1))
	else
		echo "not ok - $name (${T_WHY:-no reason given})"
		T_FAIL=$((T_FAIL + 1))
	fi
}

# t_fail WHY: record why the current case fails; returns 1 so a case can
# `t_fail "..." || return 1` or end with `return $(t_fail ...)`.
t_fail() {
	[[ -z $T_WHY ]] && T_WHY=$*
	return 1
}

# t_running PID: PID exists and is not a zombie (a daemon this shell
# started stays one until lab_kill reaps it).
t_running() {
	local st
	# The redirection on a group: on the assignment itself it would not
	# silence $(<file)'s "No such file" for a process already gone.
	{ st=$(<"/proc/$1/stat"); } 2>/dev/null || return 1
	st=${st##*) }
	[[ ${st%% *} != Z ]]
}

# t_san_lab_check: every process of the lab stopped with SIGTERM (as
# lab_down would; reports written at exit count too), then no sanitizer
# report; a clean run's report directory is removed, a dirty one kept.
t_san_lab_check() {
	local f name pid i
	for f in "$LAB_DIR"/*/proxyd.pid "$LAB_DIR"/*/hacd.pid "$LAB_DIR"/*/*.pid "$LAB_DIR"/*.pid; do
		[[ -e $f ]] || continue
		name=${f#"$LAB_DIR"/}
		name=${name%.pid}
		# lab_kill gives 3 s before SIGKILL; a sanitized daemon may need
		# longer to stop, and only a stop that returns from main is checked.
		pid=$(lab_pid "$name")
		if [[ -n $pid ]]; then
			kill -TERM "$pid" 2>/dev/null
			for ((i = 0; i < 200; i++)); do
				t_running "$pid" || break
				sleep 0.05
			done
			t_running "$pid" && t_log "$name ignored SIGTERM for 10 s: killed (no exit-time sanitizer check)"
		fi
		lab_kill "$name" TERM
	done
	t_san_reports || return 1
	rm -rf "$T_SAN_DIR"
}

# t_end: with a sanitized build one more case, whatever T_ONLY selected
# (t_san_lab_check); then the summary line; the exit status says whether
# anything failed.
t_end() {
	[[ -n $T_SAN ]] && T_ONLY='' t_case "every daemon stopped, no $T_SAN report" t_san_lab_check
	echo "$T_PASS passed, $T_FAIL failed"
	((T_FAIL == 0))
}

# t_wait SECONDS CMD...: run CMD every 50 ms until it succeeds; 0, or 1
# after SECONDS.
t_wait() { lab_wait "$@"; }

# t_wait_line FILE REGEX SECONDS: until a line of FILE matches REGEX (ERE).
t_wait_line() {
	local file=$1 re=$2 secs=$3
	lab_wait "$secs" grep -Eq -- "$re" "$file"
}

# t_wait_port HOST PORT SECONDS: until something listens on TCP PORT in the
# lab host's namespace.
t_wait_port() { lab_wait "$3" lab_listening "$1" "$2"; }

# t_http HOST URL: one request from lab host HOST's namespace; prints the
# status code (000 on a transport error).
t_http() {
	ip netns exec "$(lab_ns "$1")" curl -s -o /dev/null -w '%{http_code}' \
		--connect-timeout 1 -m 3 "$2" 2>/dev/null || true
}

# t_http_ok HOST URL: succeeds when the request answers 2xx.
t_http_ok() { [[ $(t_http "$1" "$2") == 2* ]]; }

# t_jq ARGS...: jq -e on stdin that fails on empty input as well. jq 1.6
# exits 0 when it read nothing, so a check on the output of a command that
# failed (printed nothing) would pass.
t_jq() {
	local in
	in=$(cat)
	[[ -n $in ]] || return 1
	jq -e "$@" <<<"$in"
}

# t_scrape NODE PORT: GET /metrics on NODE's loopback (proxyd's admin
# listener 9901, hacd's 9902 in the lab's configurations).
t_scrape() { ip netns exec "$(lab_ns "$1")" curl -sf --max-time 5 "http://127.0.0.1:$2/metrics"; }

# t_promtool_lint NODE PORT WHAT: NODE's /metrics on PORT has metric
# families and `promtool check metrics` says nothing about them (names,
# units, HELP/TYPE); else t_fail with promtool's first complaints.
t_promtool_lint() {
	local out lint rc
	command -v promtool >/dev/null || { t_fail "promtool missing (Debian prometheus: scripts/install-deps)"; return 1; }
	out=$(t_scrape "$1" "$2") || { t_fail "$3 on $1: no answer on 127.0.0.1:$2/metrics"; return 1; }
	[[ $out == *"# TYPE "* ]] || { t_fail "$3 on $1: no metric families in the answer"; return 1; }
	lint=$(printf '%s\n' "$out" | promtool check metrics 2>&1); rc=$?
	[[ $rc -eq 0 && -z $lint ]] ||
		{ t_fail "$3 on $1: promtool check metrics: $(printf '%s' "$lint" | head -n 3 | tr '\n' ' ')"; return 1; }
}

# t_gate_probe_on NODE: NODE's hacd runs, as its nft (hactl reload), a
# wrapper that, for the command that sets a SYN gate's rule (hacd/gate.c),
# first appends what NODE's proxyd answers on /readyz ("ready", or
# "draining") to $(t_gate_probe_file NODE), then runs the real nft. The
# rule does not exist yet at that instant: "draining" there means proxyd
# was asked to drain before new connections were held off. With
# $LAB_DIR/NODE/gate-fail present the wrapper fails that command instead
# ("fail" appended); with $LAB_DIR/NODE/gate-slow present it waits until the
# file is gone (hacd kills an nft run after 5 s) before it goes on. t_gate_probe_off NODE puts the real nft back. The
# lab's hacd.conf is every node's: only NODE is reloaded, and the line is
# gone again before any other hacd may start.
t_gate_probe_file() { echo "$LAB_DIR/$1/gate-probe"; }

t_gate_probe_on() {
	local w=$LAB_DIR/$1/nft-probe p
	p=$(t_gate_probe_file "$1")
	cat >"$w" <<EOF || return 1
#!/bin/bash
case \$1 in
*"add rule"*)
	[[ -e $LAB_DIR/$1/gate-fail ]] && { echo fail >>$p; exit 1; }
	for ((i = 0; i < 200; i++)); do [[ -e $LAB_DIR/$1/gate-slow ]] || break; sleep 0.05; done
	echo "\$(curl -s --max-time 3 http://127.0.0.1:9901/readyz)" >>$p ;;
esac
exec /usr/sbin/nft "\$@"
EOF
	# hacd may run as another user (LAB_HACD_USER): the file is there for it.
	chmod 0755 "$w" && rm -f "$LAB_DIR/$1/gate-fail" "$LAB_DIR/$1/gate-slow" && : >"$p" && chmod 0666 "$p" || return 1
	sed -i "/^cluster /a nft = \"$w\";" "$LAB_DIR/hacd.conf" || return 1
	lab_hactl "$1" reload >/dev/null || { t_fail "hactl reload on $1 (nft wrapper) failed"; return 1; }
}

t_gate_probe_off() {
	sed -i '/^nft = /d' "$LAB_DIR/hacd.conf"
	lab_hactl "$1" reload >/dev/null
	rm -f "$LAB_DIR/$1/nft-probe" "$LAB_DIR/$1/gate-fail" "$LAB_DIR/$1/gate-slow"
}

# t_counter NODE NAME [MISSING]: one of NODE's hacd counters (hactl status
# --json --counters); MISSING (default "absent") when it has no such counter
# or hacd does not answer.
t_counter() {
	local v
	v=$(lab_hactl "$1" status --json --counters 2>/dev/null |
		jq -r --arg k "$2" '.counters[$k] // empty' 2>/dev/null)
	[[ $v =~ ^[0-9]+$ ]] && echo "$v" || echo "${3:-absent}"
}

# t_both_alive NODE: NODE's hacd sees n1 and n2 alive.
t_both_alive() {
	lab_hactl "$1" status --json 2>/dev/null |
		t_jq '[.nodes[] | select(.name == "n1" or .name == "n2") | .alive] | all' >/dev/null
}

# t_daemons_up: start every node's hacd and proxyd that is not running and
# wait until each answers (t_fail and 1 when one does not within 10 s).
t_daemons_up() {
	local n
	for n in $(lab_node_names); do
		lab_alive "$n/hacd" || lab_start_hacd "$n"
		lab_alive "$n/proxyd" || lab_start_proxyd "$n"
	done
	for n in $(lab_node_names); do
		lab_wait_hacd "$n" 10 || { t_fail "restore: hacd on $n does not answer"; return 1; }
		lab_wait_proxyd "$n" 10 || { t_fail "restore: proxyd on $n does not listen"; return 1; }
	done
}

# t_backends_seen NODE COUNT: COUNT requests from the client straight to
# NODE's proxyd (not through a VIP, so the node is known), one line per
# X-Backend answer.
t_backends_seen() {
	local i
	for ((i = 0; i < $2; i++)); do
		ip netns exec "$(lab_ns client)" curl -s -m 3 -o /dev/null -D - "http://$(lab_ip "$1")/" 2>/dev/null |
			tr -d '\r' | sed -n 's/^[Xx]-[Bb]ackend: //p'
	done
}

# t_hacd_agrees NODE: NODE's hacd sees n1 and n2 alive, web on n1, web2 on n2.
t_hacd_agrees() {
	lab_hactl "$1" status --json 2>/dev/null | t_jq '
		([.nodes[] | select(.name == "n1" or .name == "n2") | .alive] | all) and
		([.vips[] | select(.name == "web") | .owner] == ["n1"]) and
		([.vips[] | select(.name == "web2") | .owner] == ["n2"])' >/dev/null
}

# t_watch_owners STOPFILE: every 100 ms until STOPFILE exists (at most
# 60 s), web on n1 only and web2 on n2 only; 1 (and why, on stdout) as
# soon as either moved.
t_watch_owners() {
	local stop=$1 until
	until=$(($(lab_now_ms) + 60000))
	while [[ ! -e $stop ]] && (($(lab_now_ms) < until)); do
		if ! lab_owner_is "$LAB_VIP_WEB" n1 || ! lab_owner_is "$LAB_VIP_WEB2" n2; then
			echo "moved: web on '$(lab_owners "$LAB_VIP_WEB")', web2 on '$(lab_owners "$LAB_VIP_WEB2")'"
			return 1
		fi
		sleep 0.1
	done
}

# t_heartbeat_attack TO_N1 TO_N2 PORT: from the attacker namespace (up, with
# a route to the targets), with keys of its own (never the cluster's),
# while a client runs through web and the owners are watched: forged
# heartbeats (n2 claiming web towards TO_N1, n1 claiming web2 towards
# TO_N2, each from the impersonated node's address; also under an unknown
# key id), junk of every kind, and genuine heartbeats captured on n1's
# switch port (PORT) replayed from their real source. Fails (t_fail) when
# a VIP moved, a client request failed, hb_forge failed, or any of the
# eight drop counters (both nodes together) did not move.
t_heartbeat_attack() {
	local to1=$1 to2=$2 port=$3 forge=$BUILD/tests/tools/hb_forge evil key99 keybad cap kinds k
	local -A before
	local names=(drop-auth-failed drop-unknown-key drop-bad-magic drop-short drop-oversize
		drop-bad-version drop-wrong-cluster drop-replay)
	local n1a n2a sent=0 tries=0 watcher res failed missing=() b a
	[[ -x $forge ]] || { t_fail "missing $forge"; return 1; }
	evil=$(lab_ns evil)
	keybad=$LAB_DIR/evil-same-id.key
	key99=$LAB_DIR/evil-other-id.key
	(umask 077 && printf '1 %s\n' "$(openssl rand -hex 32)" >"$keybad" &&
		printf '99 %s\n' "$(openssl rand -hex 32)" >"$key99") || return 1
	cap=$LAB_DIR/captured.txt
	ip netns exec "$(lab_ns sw)" "$forge" capture --iface n1 --port "$port" \
		--file "$cap" --count 20 --timeout-ms 5000 2>/dev/null ||
		{ t_fail "captured no genuine heartbeat on port $port"; return 1; }
	for k in "${names[@]}"; do before[$k]=$(($(t_counter n1 "$k" 0) + $(t_counter n2 "$k" 0))); done

	lab_client_start atk 60 "http://$LAB_VIP_WEB/"
	rm -f "$LAB_DIR/watch.stop"
	t_watch_owners "$LAB_DIR/watch.stop" >"$LAB_DIR/watch.out" &
	watcher=$!
	n1a=$(lab_ip n1):$port
	n2a=$(lab_ip n2):$port
	attack() { tries=$((tries + 1)); ip netns exec "$evil" "$forge" "$@" && sent=$((sent + 1)); }
	attack forge --key "$keybad" --node n2 --vip web --to "$to1" --spoof "$n2a" --count 1000
	attack forge --key "$keybad" --node n1 --vip web2 --to "$to2" --spoof "$n1a" --count 1000
	attack forge --key "$key99" --node n2 --vip web --to "$to1" --spoof "$n2a" --count 200
	for kinds in random short oversize version cluster auth; do
		attack junk --kind "$kinds" --node n2 --to "$to1" --spoof "$n2a" --count 200
		attack junk --kind "$kinds" --node n1 --to "$to2" --spoof "$n1a" --count 200
	done
	attack replay --file "$cap" --count 500
	# Let the heartbeats that follow the attack run through the election.
	sleep 1
	touch "$LAB_DIR/watch.stop"
	if ((sent != tries)); then
		wait "$watcher"
		lab_client_stop atk >/dev/null
		t_fail "hb_forge failed in $((tries - sent)) of $tries runs"
		return 1
	fi
	if ! wait "$watcher"; then
		lab_client_stop atk >/dev/null
		t_fail "$(cat "$LAB_DIR/watch.out")"
		return 1
	fi
	res=$(lab_client_stop atk)
	failed=$(client_field "$res" failed)
	for k in "${names[@]}"; do
		b=${before[$k]}
		a=$(($(t_counter n1 "$k" 0) + $(t_counter n2 "$k" 0)))
		((a > b)) || missing+=("$k")
	done
	((${#missing[@]} == 0)) || { t_fail "counters did not move: ${missing[*]}"; return 1; }
	((failed == 0)) || { t_fail "$failed client requests failed during the attack"; return 1; }
}

# t_thief NODE ARGS...: tests/integration/bind_thief.py (the system python,
# T_PYTHON: root's own may be unreadable to nobody) as uid nobody (group
# nogroup, no other groups) inside NODE's namespace; as uid 65533 when the
# lab runs hacd itself as nobody (LAB_HACD_USER), since a process of
# hacd's own uid may share its sockets by design. Its output on stdout,
# its status returned.
t_thief() {
	local node=$1 uid=nobody
	shift
	[[ $(lab_hacd_user) == nobody ]] && uid=65533
	ip netns exec "$(lab_ns "$node")" setpriv --reuid="$uid" --regid=nogroup --clear-groups \
		"${T_PYTHON:-/usr/bin/python3}" - "$@" <"$T_LIB_DIR/bind_thief.py" 2>&1
}

# t_bind_theft NODE PEER PORT ADDR...: heartbeat theft by a local user. As
# uid nobody in NODE's namespace, try to bind UDP PORT on every ADDR (the
# node's heartbeat address, the wildcards, a multicast group) with
# SO_REUSEADDR and with SO_REUSEPORT; whatever binds is connected to PEER
# (or joins the group) and reads for 3 s, while the owners are watched.
# Fails (t_fail) when any bind worked or failed otherwise than EADDRINUSE,
# when a VIP moved (a hacd that lost its peer's heartbeats to the thief
# declares the peer dead and claims its VIP), or when NODE's "accepted"
# counter stood still meanwhile (its heartbeats must still arrive).
t_bind_theft() {
	local node=$1 peer=$2 port=$3 watcher out rc acc a args=()
	shift 3
	for a in "$@"; do args+=(--bind "$a"); done
	acc=$(t_counter "$node" accepted 0)
	rm -f "$LAB_DIR/watch.stop"
	t_watch_owners "$LAB_DIR/watch.stop" >"$LAB_DIR/watch.out" &
	watcher=$!
	out=$(t_thief "$node" "${args[@]}" --peer "$(lab_ip "$peer"):$port" --hold 3)
	rc=$?
	t_log "thief on $node: ${out//$'\n'/; }"
	# A hacd that lost heartbeats to the thief has claimed by now; one
	# more second lets its transition reach the kernel and the watcher.
	sleep 1
	touch "$LAB_DIR/watch.stop"
	if ! wait "$watcher"; then
		t_fail "$(cat "$LAB_DIR/watch.out") (thief: ${out//$'\n'/; })"
		return 1
	fi
	((rc == 0)) || { t_fail "a socket of uid nobody shared port $port: ${out//$'\n'/; }"; return 1; }
	(($(t_counter "$node" accepted 0) > acc)) ||
		{ t_fail "$node accepted no heartbeat while the thief tried"; return 1; }
}

# t_tcp_theft NODE PORT ADDR...: as uid nobody in NODE's namespace (with
# unprivileged binds of low ports allowed there for the attempt, so the
# kernel's bind check, not the port number, decides), try to join the TCP
# listeners on every ADDR:PORT with SO_REUSEADDR and SO_REUSEPORT: a member
# of a listener's SO_REUSEPORT group gets a share of its connections.
t_tcp_theft() {
	local node=$1 port=$2 a args=() out rc old ns
	shift 2
	ns=$(lab_ns "$node")
	for a in "$@"; do args+=(--bind "$a:$port"); done
	old=$(ip netns exec "$ns" sysctl -n net.ipv4.ip_unprivileged_port_start) || return 1
	ip netns exec "$ns" sysctl -qw net.ipv4.ip_unprivileged_port_start=0 || return 1
	out=$(t_thief "$node" --tcp "${args[@]}" --peer 127.0.0.1:1 --hold 0)
	rc=$?
	ip netns exec "$ns" sysctl -qw net.ipv4.ip_unprivileged_port_start="$old"
	t_log "tcp thief on $node: ${out//$'\n'/; }"
	((rc == 0)) || { t_fail "a socket of uid nobody shared TCP port $port: ${out//$'\n'/; }"; return 1; }
}

# client_field "done ok=N failed=N ..." NAME: the number after NAME=.
client_field() { sed -n "s/.*$2=\([0-9]*\).*/\1/p" <<<"$1"; }

# t_planned_roundtrip VIP_NAME VIP URL SECONDS: a keep-alive client (10
# requests per connection) runs through URL while VIP_NAME is handed from n1
# to n2 and back with hactl failover, each move bounded by SECONDS. Fails
# (t_fail) on any failed request, and on any request curl silently re-sent
# on a dead reused connection: a stricter client would have shown an error.
t_planned_roundtrip() {
	local name=$1 vip=$2 url=$3 secs=$4 res ok failed retried
	# Connect timeout 4 s, as a browser's is longer still: during a planned
	# handover the old owner drops new SYNs to the VIP (hacd/gate.c) until
	# it hands over, at most 2.5 s, and the client's SYN retransmits (at
	# 1 s, then 3 s) reach the new owner. A 1 s connect timeout would count
	# that wait as a failure; the wait itself is the design.
	lab_client_start ka 60 "$url" 10 20 4
	sleep 1
	lab_hactl n1 failover "$name" --to n2 >/dev/null 2>&1 ||
		{ lab_client_stop ka >/dev/null; t_fail "hactl failover $name --to n2 failed"; return 1; }
	if ! lab_wait_owner "$vip" n2 "$secs"; then
		lab_client_stop ka >/dev/null
		t_fail "$name on '$(lab_owners "$vip")' after failover to n2"
		return 1
	fi
	sleep 1
	lab_hactl n2 failover "$name" --to n1 >/dev/null 2>&1 ||
		{ lab_client_stop ka >/dev/null; t_fail "hactl failover $name --to n1 failed"; return 1; }
	if ! lab_wait_owner "$vip" n1 "$secs"; then
		lab_client_stop ka >/dev/null
		t_fail "$name on '$(lab_owners "$vip")' after failover back to n1"
		return 1
	fi
	sleep 1
	res=$(lab_client_stop ka)
	ok=$(client_field "$res" ok)
	failed=$(client_field "$res" failed)
	retried=$(client_field "$res" retried)
	((ok > 0)) || { t_fail "no request succeeded ($res)"; return 1; }
	((failed == 0)) || { t_fail "$failed of $((ok + failed)) keep-alive requests failed across two planned failovers"; return 1; }
	((retried == 0)) || { t_fail "$retried keep-alive requests hit a dead connection (curl retried them)"; return 1; }
}
