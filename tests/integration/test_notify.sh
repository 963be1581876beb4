#!/usr/bin/env bash
# tests/run: parallel-safe
# tests/integration/test_notify.sh — what proxyd and hacd tell systemd.
#
# Both daemons run as Type=notify services with a watchdog
# (systemd/*.service). Instead of systemd, a small listener (python3, an
# AF_UNIX datagram socket with SO_PASSCRED, so each message comes with the
# sender's pid) stands at NOTIFY_SOCKET and records every message. Each
# daemon is started with WATCHDOG_USEC=200000 and WATCHDOG_PID set to its
# own pid (a shell exports $$ and execs the daemon, as systemd would set
# it), and the test checks, from that pid: READY=1 once it serves,
# WATCHDOG=1 again and again, RELOADING=1 (stamped with MONOTONIC_USEC=,
# which systemd >= 253 needs) then READY=1 on SIGHUP, and STOPPING=1 on
# SIGTERM.
#
# proxyd runs on loopback (127.0.0.1:23080, a test backend on :23081) with a
# minimal configuration file (a reload needs one); hacd runs as the single
# node of a cluster in a network namespace of its own (tdmn-n1, a veth pair,
# 10.99.8.0/24) with its own key. Everything is torn down by an EXIT trap.
#
# Run as root from the repository root (BUILD=dir for binaries elsewhere).
# Prints one line per case and "N passed, N failed".

export LAB_PREFIX=${LAB_PREFIX:-tdmn}
: "${T_TIMEOUT:=120}"
# lib.sh for the harness (t_case, t_fail, t_wait, t_end, t_bound); this
# test builds no lab.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

DIR=/tmp/${LAB_PREFIX}-notify
NS=${LAB_PREFIX}-n1
PX_PORT=23080
BE_PORT=23081
WD_USEC=200000
PIDS=()

# ---- the listener -------------------------------------------------------------

# notify_listen SOCKET OUT: record every datagram on SOCKET as a line
# "PID MESSAGE|RECEIVED_USEC=N" (the message's newlines as '|'; N the
# listener's CLOCK_MONOTONIC at receipt) in OUT, for at most T_TIMEOUT
# seconds.
notify_listen() {
	python3 - "$1" "$2" "$T_TIMEOUT" <<'EOF' &
import os, socket, struct, sys, time
path, out, secs = sys.argv[1], sys.argv[2], float(sys.argv[3])
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
os.chmod(path, 0o666)          # proxyd sends after dropping to its user
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
end = time.monotonic() + secs
with open(out, "a", buffering=1) as f:
    f.write("0 LISTENING\n")
    while time.monotonic() < end:
        s.settimeout(max(0.1, end - time.monotonic()))
        try:
            msg, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(12))
        except socket.timeout:
            continue
        pid = -1
        for level, kind, data in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = struct.unpack("iII", data[:12])[0]
        got = time.monotonic_ns() // 1000
        text = msg.decode(errors="replace").strip().replace("\n", "|")
        f.write("%d %s|RECEIVED_USEC=%d\n" % (pid, text, got))
EOF
	PIDS+=($!)
	lab_wait 5 grep -q LISTENING "$2"
}

# ---- helpers ------------------------------------------------------------------

# got OUT PID MSG [FROM_LINE]: some message from PID after line FROM_LINE
# has MSG as one of its fields.
got() {
	tail -n +"$((${4:-0} + 1))" "$1" | awk -v pid="$2" -v m="$3" '
		$1 == pid { n = split(substr($0, length($1) + 2), f, "|"); for (i = 1; i <= n; i++) if (f[i] == m) { found = 1 } }
		END { exit !found }'
}

# count OUT PID MSG: how many messages from PID carry MSG.
count() {
	awk -v pid="$2" -v m="$3" '$1 == pid { n = split(substr($0, length($1) + 2), f, "|");
		for (i = 1; i <= n; i++) if (f[i] == m) c++ } END { print c + 0 }' "$1"
}

# in_order OUT PID FROM_LINE A B: after FROM_LINE, a message from PID with
# A and a later one with B.
in_order() {
	tail -n +"$(($3 + 1))" "$1" | awk -v pid="$2" -v a="$4" -v b="$5" '
		$1 == pid { n = split(substr($0, length($1) + 2), f, "|");
			for (i = 1; i <= n; i++) { if (f[i] == a && !sa) sa = NR; else if (f[i] == b && sa && NR > sa) ok = 1 } }
		END { exit !ok }'
}

mono_usec() { python3 -c 'import time; print(time.monotonic_ns() // 1000)'; }

# reload_stamped OUT PID FROM_LINE SENT_USEC: the first RELOADING=1 from PID
# after FROM_LINE carries MONOTONIC_USEC=M (sd_notify(3); systemd >= 253
# needs it to match the message to its reload request) with
# SENT_USEC <= M <= the time the listener received it: stamped after the
# signal was sent, on CLOCK_MONOTONIC.
reload_stamped() {
	tail -n +"$(($3 + 1))" "$1" | awk -v pid="$2" -v sent="$4" '
		$1 == pid && !done { n = split(substr($0, length($1) + 2), f, "|"); r = 0; m = ""; got = ""
			for (i = 1; i <= n; i++) {
				if (f[i] == "RELOADING=1") r = 1
				if (f[i] ~ /^MONOTONIC_USEC=[0-9]+$/) m = substr(f[i], 16)
				if (f[i] ~ /^RECEIVED_USEC=[0-9]+$/) got = substr(f[i], 15)
			}
			if (r) { done = 1; ok = (m != "" && m + 0 >= sent + 0 && m + 0 <= got + 0) } }
		END { exit !ok }'
}

watchdog_grows() { (($(count "$1" "$2" WATCHDOG=1) >= $3)); }

# start_notified OUT NS CMD...: CMD with NOTIFY_SOCKET, WATCHDOG_USEC and
# WATCHDOG_PID (its own pid: the shell exports $$ and execs CMD, and
# `ip netns exec` and env exec too, so $! is the daemon). NS "" = here.
# Sets STARTED_PID.
start_notified() {
	local out=$1 ns=$2 log=$1.log
	shift 2
	local wrap=(env NOTIFY_SOCKET="$DIR/$(basename "$out").sock" WATCHDOG_USEC="$WD_USEC"
		sh -c 'export WATCHDOG_PID=$$; exec "$@"' sh "$@")
	if [[ -n $ns ]]; then
		ip netns exec "$ns" "${wrap[@]}" </dev/null >>"$log" 2>&1 &
	else
		"${wrap[@]}" </dev/null >>"$log" 2>&1 &
	fi
	STARTED_PID=$!
	PIDS+=("$STARTED_PID")
}


setup() {
	local f
	for f in proxyd hacd hactl tests/tools/backend; do
		[[ -x $BUILD/$f ]] || { echo "missing $BUILD/$f (run make, or set BUILD=)" >&2; exit 1; }
	done
	command -v python3 >/dev/null || { echo "needs python3" >&2; exit 1; }
	[[ $(id -u) == 0 ]] || { echo "needs root (network namespace)" >&2; exit 1; }
	ip netns del "$NS" 2>/dev/null || true
	rm -rf "$DIR"
	mkdir -p "$DIR" && chmod 0711 "$DIR" || exit 1
	trap t_pids_teardown EXIT
	trap 'exit 143' TERM
	trap 'exit 130' INT

	# proxyd: a backend and a minimal configuration on loopback.
	"$BUILD/tests/tools/backend" --listen 127.0.0.1:$BE_PORT --name b1 </dev/null >"$DIR/backend.log" 2>&1 &
	PIDS+=($!)
	cat >"$DIR/proxyd.conf" <<EOF
threads = 1;
log = { level = "info"; access = "off"; };
listeners = ( { name = "http"; listen = "127.0.0.1:$PX_PORT"; } );
upstreams = ( { name = "app"; servers = ( { name = "b1"; address = "127.0.0.1:$BE_PORT"; } ); } );
routes = ( { name = "default"; upstream = "app"; } );
EOF
	mkdir -p "$DIR/prun" && chmod 0755 "$DIR/prun"

	# hacd: one node, its own key, in its own namespace.
	ip netns add "$NS" || exit 1
	ip -n "$NS" link set lo up &&
		ip -n "$NS" link add eth0 type veth peer name eth1 &&
		ip -n "$NS" addr add 10.99.8.1/24 dev eth0 &&
		ip -n "$NS" link set eth0 up && ip -n "$NS" link set eth1 up || exit 1
	(umask 077 && "$BUILD/hactl" keygen >"$DIR/hacd.key") || exit 1
	chmod 600 "$DIR/hacd.key"
	cat >"$DIR/hacd.conf" <<EOF
cluster = "notify";
key_file = "hacd.key";
advert = "100ms";
nodes = ( { name = "n1"; address = "10.99.8.1"; } );
vips = ( { name = "web"; address = "10.99.8.100/24"; interface = "eth0"; priority = { n1 = 100; }; } );
track = { proxyd = "off"; };
EOF
	mkdir -p "$DIR/hrun" "$DIR/hstate"
	lab_wait 5 lab_listening_here $BE_PORT || { echo "the test backend did not start" >&2; exit 1; }
}

lab_listening_here() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }

# ---- proxyd -------------------------------------------------------------------

PX_OUT=$DIR/proxyd.out
PX_PID=

case_proxyd_ready() {
	notify_listen "$DIR/proxyd.out.sock" "$PX_OUT" || { t_fail "listener did not start"; return 1; }
	start_notified "$PX_OUT" "" "$BUILD/proxyd" -c "$DIR/proxyd.conf" -R "$DIR/prun"
	PX_PID=$STARTED_PID
	t_wait 10 got "$PX_OUT" "$PX_PID" READY=1 || { t_fail "no READY=1 from pid $PX_PID in 10 s"; return 1; }
	# READY means serving.
	[[ $(curl -s -o /dev/null -w '%{http_code}' -m 3 "http://127.0.0.1:$PX_PORT/") == 200 ]] ||
		{ t_fail "READY=1 sent but a request through proxyd failed"; return 1; }
}

case_proxyd_watchdog() {
	[[ -n $PX_PID ]] || { t_fail "proxyd not started"; return 1; }
	local n
	n=$(count "$PX_OUT" "$PX_PID" WATCHDOG=1)
	t_wait 5 watchdog_grows "$PX_OUT" "$PX_PID" $((n + 2)) ||
		{ t_fail "fewer than 2 WATCHDOG=1 in 5 s (WATCHDOG_USEC=$WD_USEC)"; return 1; }
}

case_proxyd_reload() {
	[[ -n $PX_PID ]] || { t_fail "proxyd not started"; return 1; }
	local from sent
	from=$(wc -l <"$PX_OUT")
	sent=$(mono_usec)
	kill -HUP "$PX_PID"
	t_wait 10 in_order "$PX_OUT" "$PX_PID" "$from" RELOADING=1 READY=1 ||
		{ t_fail "no RELOADING=1 then READY=1 after SIGHUP"; return 1; }
	reload_stamped "$PX_OUT" "$PX_PID" "$from" "$sent" ||
		{ t_fail "RELOADING=1 without a MONOTONIC_USEC= taken after the signal"; return 1; }
	grep -q "reloaded" "$PX_OUT.log" || { t_fail "proxyd did not log the reload"; return 1; }
}

case_proxyd_stop() {
	[[ -n $PX_PID ]] || { t_fail "proxyd not started"; return 1; }
	kill -TERM "$PX_PID"
	t_wait 10 got "$PX_OUT" "$PX_PID" STOPPING=1 || { t_fail "no STOPPING=1 after SIGTERM"; return 1; }
	t_wait 10 test ! -d "/proc/$PX_PID" || { t_fail "proxyd did not exit after SIGTERM"; return 1; }
}

# ---- hacd ---------------------------------------------------------------------

HD_OUT=$DIR/hacd.out
HD_PID=

case_hacd_ready() {
	notify_listen "$DIR/hacd.out.sock" "$HD_OUT" || { t_fail "listener did not start"; return 1; }
	start_notified "$HD_OUT" "$NS" "$BUILD/hacd" -c "$DIR/hacd.conf" -n n1 -R "$DIR/hrun" -S "$DIR/hstate"
	HD_PID=$STARTED_PID
	t_wait 10 got "$HD_OUT" "$HD_PID" READY=1 || { t_fail "no READY=1 from pid $HD_PID in 10 s"; return 1; }
	# READY means its control socket answers.
	ip netns exec "$NS" "$BUILD/hactl" -R "$DIR/hrun" status >/dev/null 2>&1 ||
		{ t_fail "READY=1 sent but hactl status fails"; return 1; }
	grep -q "^$HD_PID READY=1|STATUS=node n1 of cluster notify|" "$HD_OUT" ||
		{ t_fail "READY=1 without its STATUS line"; return 1; }
}

case_hacd_watchdog() {
	[[ -n $HD_PID ]] || { t_fail "hacd not started"; return 1; }
	local n
	n=$(count "$HD_OUT" "$HD_PID" WATCHDOG=1)
	t_wait 5 watchdog_grows "$HD_OUT" "$HD_PID" $((n + 2)) ||
		{ t_fail "fewer than 2 WATCHDOG=1 in 5 s (WATCHDOG_USEC=$WD_USEC)"; return 1; }
}

case_hacd_reload() {
	[[ -n $HD_PID ]] || { t_fail "hacd not started"; return 1; }
	local from sent
	from=$(wc -l <"$HD_OUT")
	sent=$(mono_usec)
	kill -HUP "$HD_PID"
	t_wait 10 in_order "$HD_OUT" "$HD_PID" "$from" RELOADING=1 READY=1 ||
		{ t_fail "no RELOADING=1 then READY=1 after SIGHUP"; return 1; }
	reload_stamped "$HD_OUT" "$HD_PID" "$from" "$sent" ||
		{ t_fail "RELOADING=1 without a MONOTONIC_USEC= taken after the signal"; return 1; }
	# The same through the control socket (hactl reload).
	from=$(wc -l <"$HD_OUT")
	ip netns exec "$NS" "$BUILD/hactl" -R "$DIR/hrun" reload >/dev/null 2>&1 ||
		{ t_fail "hactl reload failed"; return 1; }
	t_wait 10 in_order "$HD_OUT" "$HD_PID" "$from" RELOADING=1 READY=1 ||
		{ t_fail "no RELOADING=1 then READY=1 after hactl reload"; return 1; }
}

case_hacd_stop() {
	[[ -n $HD_PID ]] || { t_fail "hacd not started"; return 1; }
	kill -TERM "$HD_PID"
	t_wait 10 got "$HD_OUT" "$HD_PID" STOPPING=1 || { t_fail "no STOPPING=1 after SIGTERM"; return 1; }
	t_wait 10 test ! -d "/proc/$HD_PID" || { t_fail "hacd did not exit after SIGTERM"; return 1; }
}

# ---- run ------------------------------------------------------------------------

t_bound "$@"
setup
t_case "proxyd: READY=1 once it serves" case_proxyd_ready
t_case "proxyd: WATCHDOG=1 at half the watchdog period" case_proxyd_watchdog
t_case "proxyd: SIGHUP sends RELOADING=1 (with MONOTONIC_USEC) then READY=1" case_proxyd_reload
t_case "proxyd: SIGTERM sends STOPPING=1" case_proxyd_stop
t_case "hacd: READY=1 once its control socket answers" case_hacd_ready
t_case "hacd: WATCHDOG=1 at half the watchdog period" case_hacd_watchdog
t_case "hacd: SIGHUP and hactl reload send RELOADING=1 (with MONOTONIC_USEC) then READY=1" case_hacd_reload
t_case "hacd: SIGTERM sends STOPPING=1" case_hacd_stop
t_end
