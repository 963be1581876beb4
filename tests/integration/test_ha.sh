#!/usr/bin/env bash
# tests/run: parallel-safe
# tests/integration/test_ha.sh — VIP failover end to end, with real daemons.
#
# hacd's promises, checked in the lab (scripts/lab, LAB_PREFIX=tdmt):
# the VIP leaves a node whose hacd is killed, whose proxyd dies or whose link
# goes down; a planned failover loses no keep-alive request; failback waits
# for the preempt delay; active-active survivors carry every VIP and give
# them back; a split brain heals to one owner per VIP; and an attacker on the
# segment without the key — forged, junk and replayed heartbeats — moves no
# VIP while hacd's drop counters show each kind.
#
# The kernel is the judge of ownership (which node's eth0 holds the
# address), hactl's JSON the source of hacd's counters. Waits are bounded
# and generous (no timing thresholds); the whole file runs under
# timeout(1) and always tears its lab down.
#
# Run as root from the repository root: tests/integration/test_ha.sh
# (BUILD=dir for binaries elsewhere). Prints one line per case and
# "N passed, N failed".

# The cases below are written for a pair (n3, configured in etc/hacd.conf,
# simply stays dead).
export LAB_NODES=2
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

VIP1=$LAB_VIP_WEB    # "web", n1 preferred
VIP2=$LAB_VIP_WEB2   # "web2", n2 preferred
URL1=http://$VIP1/
URL2=http://$VIP2/
MOVE_S=10            # bound on any failover (issue: ~3 x advert; generous here)
NFT_TABLE=tdmt_split
PROXYD_METRICS=9901  # etc/proxyd.conf admin.listen, on each node's loopback
HACD_METRICS=9902    # etc/hacd.conf admin.listen

# ---- what etc/hacd.conf says ------------------------------------------------

# conf_value KEY: the first "KEY = value;" in etc/hacd.conf, unquoted.
conf_value() {
	sed -n "s/^[[:space:]]*$1[[:space:]]*[=:][[:space:]]*\"\{0,1\}\([^\";]*\)\"\{0,1\}[[:space:]]*;.*/\1/p" \
		"$HACD_CONF" | head -n 1
}

# duration_ms "2s" -> 2000 (units of lib/conf: ms s m; a bare number is ms)
duration_ms() {
	local v=$1
	case $v in
	*ms) echo "${v%ms}" ;;
	*s) echo $((${v%s} * 1000)) ;;
	*m) echo $((${v%m} * 60000)) ;;
	'') echo 0 ;;
	*) echo "$v" ;;
	esac
}

HB_PORT=$(conf_value port)
HB_PORT=${HB_PORT:-7007}
PREEMPT_DELAY_MS=$(duration_ms "$(conf_value preempt_delay)")

# ---- helpers -----------------------------------------------------------------

# counter NODE NAME: one of hacd's counters from `hactl status --json
# --counters` (hacd/peer.c names, e.g. "drop-auth-failed"); 0 when absent.
counter() { t_counter "$1" "$2" 0; }

nft_split_on() {
	local n peer
	for n in n1 n2; do
		peer=$([[ $n == n1 ]] && echo n2 || echo n1)
		ip netns exec "$(lab_ns "$n")" nft -f - <<EOF || return 1
table inet $NFT_TABLE {
	chain in {
		type filter hook input priority 0; policy accept;
		ip saddr $(lab_ip "$peer") udp dport $HB_PORT drop
	}
}
EOF
	done
}

nft_split_off() {
	local n
	for n in $(lab_node_names); do
		ip netns exec "$(lab_ns "$n")" nft delete table inet "$NFT_TABLE" 2>/dev/null || true
	done
}

# Put the lab back to its resting state: every link up, no filter, every
# daemon running, web on n1 and web2 on n2 (preemption brings them back).
restore() {
	local n
	nft_split_off
	for n in $(lab_node_names); do
		ip -n "$(lab_ns sw)" link set "$n" up
	done
	t_daemons_up || return 1
	lab_wait_owner "$VIP1" n1 $((MOVE_S + PREEMPT_DELAY_MS / 1000)) ||
		{ t_fail "restore: web on '$(lab_owners "$VIP1")', not n1"; return 1; }
	lab_wait_owner "$VIP2" n2 $((MOVE_S + PREEMPT_DELAY_MS / 1000)) ||
		{ t_fail "restore: web2 on '$(lab_owners "$VIP2")', not n2"; return 1; }
	t_wait 5 t_http_ok client "$URL1" || { t_fail "restore: client cannot reach web"; return 1; }
	# And both daemons agree on it: every running node alive, owners as
	# above, as each hacd reports it (the kernel can settle before hacd).
	for n in n1 n2; do
		t_wait 10 t_hacd_agrees "$n" || { t_fail "restore: hacd on $n does not see the resting state"; return 1; }
	done
	return 0
}

holds() { [[ " $(lab_owners "$1") " == *" $2 "* ]]; }

# ---- cases -------------------------------------------------------------------

case_hacd_kill9() {
	restore || return 1
	lab_kill n1/hacd KILL
	# n1's kernel still has the address (nobody removed it); what matters is
	# that n2 takes it and announces, so the client follows n2.
	t_wait $MOVE_S holds "$VIP1" n2 || { t_fail "n2 did not take web (holders: $(lab_owners "$VIP1"))"; return 1; }
	t_wait 5 t_http_ok client "$URL1" || { t_fail "client cannot reach web after the move"; return 1; }
	# A restarted hacd must not leave a second holder behind.
	lab_start_hacd n1
	lab_wait_hacd n1 10 || { t_fail "hacd on n1 did not restart"; return 1; }
	t_wait $((MOVE_S + PREEMPT_DELAY_MS / 1000)) lab_owner_is "$VIP1" n1 ||
		t_wait 1 lab_owner_is "$VIP1" n2 ||
		{ t_fail "after restart web is on '$(lab_owners "$VIP1")', not one node"; return 1; }
}

# A graceful stop of hacd (SIGTERM) hands its VIPs over first and asks
# proxyd to drain. With a request in flight the drain never goes quiet, the
# stop's deadline passes and hacd exits with proxyd still draining; the hacd
# started next must end that drain, or proxyd keeps saying "draining", is
# not ready for the new hacd and the node never takes a VIP again (found by
# scripts/soak, whose slow clients always keep a request in flight).
readyz() {
	ip netns exec "$(lab_ns "$1")" curl -s -o /dev/null -w '%{http_code}' -m 2 \
		http://127.0.0.1:9901/readyz 2>/dev/null
}
readyz_ok() { [[ $(readyz "$1") == 200 ]]; }
# An established connection from the client to node $1's port 80.
conn_active() {
	ip netns exec "$(lab_ns "$1")" ss -Htn state established "( sport = :80 )" 2>/dev/null | grep -q .
}

case_hacd_restart_ends_drain() {
	local slow
	restore || return 1
	# A request the backend answers after 3 s keeps n1's drain from quiet.
	ip netns exec "$(lab_ns client)" curl -s -o /dev/null -m 10 "http://$VIP1/delay/3000" &
	slow=$!
	t_wait 5 conn_active n1 || { kill "$slow" 2>/dev/null; wait "$slow"; t_fail "the slow request did not reach n1"; return 1; }
	lab_kill n1/hacd TERM
	wait "$slow"
	t_wait $MOVE_S holds "$VIP1" n2 || { t_fail "n2 did not take web when n1's hacd stopped"; return 1; }
	# The drain took its whole bound; the stop must still have waited for
	# the handover and the linger rather than dropping the VIP as n2 took it.
	if grep -q 'handover not complete in time' "$LAB_DIR/n1/hacd.log"; then
		t_fail "n1's hacd released web before the handover completed (stop deadline = drain bound)"
		return 1
	fi
	lab_start_hacd n1
	lab_wait_hacd n1 10 || { t_fail "hacd on n1 did not restart"; return 1; }
	t_wait 10 readyz_ok n1 || { t_fail "n1's proxyd still not ready (/readyz $(readyz n1)) under the new hacd"; return 1; }
	lab_wait_owner "$VIP1" n1 $((MOVE_S + PREEMPT_DELAY_MS / 1000 + 2)) ||
		{ t_fail "web stays on '$(lab_owners "$VIP1")' after n1's hacd restarted"; return 1; }
}

case_proxyd_death() {
	restore || return 1
	lab_kill n1/proxyd KILL
	lab_wait_owner "$VIP1" n2 $MOVE_S || { t_fail "web on '$(lab_owners "$VIP1")', not only n2"; return 1; }
	lab_alive n1/hacd || { t_fail "hacd on n1 died with its proxyd"; return 1; }
	t_wait 5 t_http_ok client "$URL1" || { t_fail "client cannot reach web on n2"; return 1; }
}

case_link_down() {
	restore || return 1
	ip -n "$(lab_ns sw)" link set n1 down
	lab_wait_owner "$VIP1" n2 $MOVE_S || { t_fail "web on '$(lab_owners "$VIP1")', not only n2"; return 1; }
	t_wait 5 t_http_ok client "$URL1" || { t_fail "client cannot reach web on n2"; return 1; }
	ip -n "$(lab_ns sw)" link set n1 up
	# Link back: n1 heard nobody while it was cut off and must listen
	# before it claims; it takes web back only after the preempt delay.
	# Half the delay after the link returned, n2 must still hold it (n1
	# cannot have heard n2 before the link came up, so this can only fail
	# if n1 claims early).
	local half=$((PREEMPT_DELAY_MS / 2))
	sleep "$((half / 1000)).$(printf '%03d' $((half % 1000)))"
	lab_owner_is "$VIP1" n2 ||
		{ t_fail "web on '$(lab_owners "$VIP1")' ${half} ms after n1's link returned (preempt delay $PREEMPT_DELAY_MS ms)"; return 1; }
	lab_wait_owner "$VIP1" n1 $((MOVE_S + PREEMPT_DELAY_MS / 1000)) ||
		{ t_fail "web not back on n1 after its link returned"; return 1; }
}

case_planned_keepalive() {
	local l1 l2
	restore || return 1
	l1=$(wc -l <"$LAB_DIR/n1/hacd.log")
	l2=$(wc -l <"$LAB_DIR/n2/hacd.log")
	t_planned_roundtrip web "$VIP1" "$URL1" $MOVE_S || return 1
	# The drain that goes with a handover of web must not look like a fault
	# to the other VIP (web2, held by n2 all along): no transition of web2
	# to fault on either node while this case ran.
	local flaps
	flaps=$( (tail -n +$((l1 + 1)) "$LAB_DIR/n1/hacd.log"; tail -n +$((l2 + 1)) "$LAB_DIR/n2/hacd.log") |
		grep 'vip web2 .* -> fault')
	[[ -z $flaps ]] || { t_fail "web2 went to fault during the planned failover of web: ${flaps%%$'\n'*}"; return 1; }
}

# A planned handover holds new connections to the VIP off (hacd/gate.c:
# nft sets a SYN drop rule) before proxyd drains, so a client connecting
# in between never meets a draining proxyd on an address about to move.
# For this case n1's nft is lib.sh's wrapper (t_gate_probe_on): just
# before it sets a gate's rule it writes down n1's proxyd's /readyz,
# "ready", or "draining" (a client connecting then would get Connection:
# close, or GOAWAY), which is what the old order (drain first) showed.
# (Asking the VIP itself would not do: once the handover is done it
# answers from n2.) With the gate-fail file the wrapper fails instead: the
# drain must go ahead anyway, said in one event line, and the handover
# complete. With the gate-slow file nft does not finish: the drain bound
# (2.5 s from the request) still holds, the drain goes ahead when it ends.

# gate_move FROM TO: hactl failover web --to TO on FROM, until TO holds it.
gate_move() {
	lab_hactl "$1" failover web --to "$2" >/dev/null 2>&1 || { t_fail "hactl failover web --to $2 failed"; return 1; }
	lab_wait_owner "$VIP1" "$2" $MOVE_S || { t_fail "web on '$(lab_owners "$VIP1")' after failover to $2"; return 1; }
}

gate_before_drain_body() {
	local log=$LAB_DIR/n1/hacd.log l1 since held drain probe
	l1=$(wc -l <"$log")
	gate_move n1 n2 || return 1
	probe=$(cat "$(t_gate_probe_file n1)" 2>/dev/null)
	t_log "n1's gate probe: ${probe//$'\n'/, }"
	[[ $probe == ready* ]] ||
		{ t_fail "n1's proxyd said '${probe%%$'\n'*}', not 'ready', just before its SYN gate was in place"; return 1; }
	# hacd's log says the same, in that order.
	since=$(tail -n +$((l1 + 1)) "$log")
	held=$(grep -n 'vip web: new connections held off' <<<"$since" | head -n 1)
	drain=$(grep -n 'asking proxyd to drain' <<<"$since" | head -n 1)
	[[ -n $held && -n $drain && ${held%%:*} -lt ${drain%%:*} ]] ||
		{ t_fail "n1's log: gate held at line '${held%%:*}', drain asked at line '${drain%%:*}'"; return 1; }
	gate_move n2 n1 || return 1
	# The gate cannot be set: proxyd drains anyway, said once.
	touch "$LAB_DIR/n1/gate-fail" || return 1
	l1=$(wc -l <"$log")
	gate_move n1 n2 || return 1
	since=$(tail -n +$((l1 + 1)) "$log")
	[[ $(grep -c 'vip web: new connections not held off (nft failed): proxyd drains anyway' <<<"$since") == 1 ]] ||
		{ t_fail "n1 did not say once that web's gate failed and proxyd drains anyway"; return 1; }
	grep -q 'asking proxyd to drain' <<<"$since" || { t_fail "n1 did not drain when its gate failed"; return 1; }
	gate_move n2 n1 || return 1
	# nft hangs: the drain bound ends the wait, the drain goes, the handover completes.
	rm -f "$LAB_DIR/n1/gate-fail"
	touch "$LAB_DIR/n1/gate-slow" || return 1
	l1=$(wc -l <"$log")
	gate_move n1 n2 || { rm -f "$LAB_DIR/n1/gate-slow"; return 1; }
	rm -f "$LAB_DIR/n1/gate-slow"
	since=$(tail -n +$((l1 + 1)) "$log")
	[[ $(grep -c 'vip web: new connections not held off (drain wait over): proxyd drains anyway' <<<"$since") == 1 ]] ||
		{ t_fail "n1 did not say once that the drain bound ended web's wait for its gate"; return 1; }
	grep -q 'asking proxyd to drain' <<<"$since" || { t_fail "n1 did not drain when its drain bound ran out"; return 1; }
	gate_move n2 n1
}

case_gate_before_drain() {
	local rc
	restore || return 1
	t_gate_probe_on n1 || { t_gate_probe_off n1; return 1; }
	gate_before_drain_body
	rc=$?
	t_gate_probe_off n1
	return $rc
}

case_failback_preempt_delay() {
	local res failed t_start half
	restore || return 1
	((PREEMPT_DELAY_MS > 0)) || { t_fail "etc/hacd.conf sets no preempt_delay"; return 1; }
	lab_kill n1/proxyd KILL
	lab_wait_owner "$VIP1" n2 $MOVE_S || { t_fail "web did not move to n2"; return 1; }
	lab_client_start fb 60 "$URL1"
	t_start=$(lab_now_ms)
	lab_start_proxyd n1
	# Before the delay has run out n2 must still hold it: n1 could not have
	# been ready before t_start, so this can only fail if hacd is early.
	half=$((PREEMPT_DELAY_MS / 2))
	sleep "$((half / 1000)).$(printf '%03d' $((half % 1000)))"
	if ! lab_owner_is "$VIP1" n2; then
		lab_client_stop fb >/dev/null
		t_fail "web on '$(lab_owners "$VIP1")' ${half} ms after proxyd restarted (preempt delay $PREEMPT_DELAY_MS ms)"
		return 1
	fi
	if ! lab_wait_owner "$VIP1" n1 $((MOVE_S + PREEMPT_DELAY_MS / 1000)); then
		lab_client_stop fb >/dev/null
		t_fail "web did not come back to n1 (holders: $(lab_owners "$VIP1"))"
		return 1
	fi
	(($(lab_now_ms) - t_start >= PREEMPT_DELAY_MS)) ||
		{ lab_client_stop fb >/dev/null; t_fail "failback before the preempt delay"; return 1; }
	sleep 1
	res=$(lab_client_stop fb)
	failed=$(client_field "$res" failed)
	# This client opens a new connection per request, one at a time. A
	# request whose connection was open on n2 at the instant the client
	# learnt n1's MAC dies with it, whatever hacd does (its packets now
	# reach a host that never saw the connection), so one failure can be
	# bad luck; two or more mean a real gap (no holder, or a stale ARP
	# entry). The keep-alive case above holds planned moves to zero.
	((failed <= 1)) || { t_fail "$failed requests failed across the failback ($res)"; return 1; }
}

case_active_active() {
	restore || return 1
	ip -n "$(lab_ns sw)" link set n2 down
	lab_wait_owner "$VIP2" n1 $MOVE_S || { t_fail "web2 on '$(lab_owners "$VIP2")' with n2 cut off"; return 1; }
	lab_owner_is "$VIP1" n1 || { t_fail "web on '$(lab_owners "$VIP1")' with n2 cut off"; return 1; }
	t_wait 5 t_http_ok client "$URL2" || { t_fail "client cannot reach web2 on n1"; return 1; }
	ip -n "$(lab_ns sw)" link set n2 up
	lab_wait_owner "$VIP2" n2 $((MOVE_S + PREEMPT_DELAY_MS / 1000)) ||
		{ t_fail "web2 on '$(lab_owners "$VIP2")' after n2 returned"; return 1; }
	lab_owner_is "$VIP1" n1 || { t_fail "web on '$(lab_owners "$VIP1")' after n2 returned"; return 1; }
	t_wait 5 t_http_ok client "$URL2" || { t_fail "client cannot reach web2 on n2"; return 1; }
}

# hacd/vip.c's netlink monitor at work: an operator (or a stray script)
# removes the VIP from its owner, or adds it on a node that does not own it.
case_behind_our_back() {
	restore || return 1
	ip -n "$(lab_ns n1)" addr del "$VIP1/24" dev eth0 || { t_fail "cannot remove web by hand"; return 1; }
	lab_wait_owner "$VIP1" n1 5 || { t_fail "web removed from n1 was not put back (holders: $(lab_owners "$VIP1"))"; return 1; }
	ip -n "$(lab_ns n2)" addr add "$VIP1/24" dev eth0 || { t_fail "cannot add web on n2 by hand"; return 1; }
	lab_wait_owner "$VIP1" n1 5 || { t_fail "web added on n2 by hand stayed (holders: $(lab_owners "$VIP1"))"; return 1; }
	t_wait 5 t_http_ok client "$URL1" || { t_fail "client cannot reach web afterwards"; return 1; }
}

mac_of() { ip -n "$(lab_ns "$1")" -br link show dev eth0 | awk '{print $3}'; }

# client_mac_is VIP NODE: the client's ARP entry for VIP is NODE's MAC.
client_mac_is() {
	[[ $(ip -n "$(lab_ns client)" neigh show "$1" dev eth0 | awk '{print $3}') == "$(mac_of "$2")" ]]
}

both_hold_both() {
	holds "$VIP1" n1 && holds "$VIP1" n2 && holds "$VIP2" n1 && holds "$VIP2" n2
}

all_ok() {
	local i
	for ((i = 0; i < 10; i++)); do
		t_http_ok client "$URL1" && t_http_ok client "$URL2" || return 1
	done
}

case_split_brain() {
	restore || return 1
	nft_split_on || { t_fail "cannot install nft rules"; return 1; }
	t_wait $MOVE_S both_hold_both ||
		{ nft_split_off; t_fail "no split brain: web on '$(lab_owners "$VIP1")', web2 on '$(lab_owners "$VIP2")'"; return 1; }
	# What the "two owners" alert sums (contrib/prometheus): both say master.
	t_wait 5 masters_are web 2 ||
		{ nft_split_off; t_fail "both hold web but the nodes' metrics sum to $(masters web) masters"; return 1; }
	# n2 announced web last, so the client now sends web's traffic to n2's
	# MAC: after the heal only n1's fresh announcement can fix that.
	t_wait 5 client_mac_is "$VIP1" n2 ||
		{ nft_split_off; t_fail "precondition: the client never learnt n2's MAC for web"; return 1; }
	nft_split_off
	lab_wait_owner "$VIP1" n1 $((MOVE_S + PREEMPT_DELAY_MS / 1000)) ||
		{ t_fail "after healing web on '$(lab_owners "$VIP1")'"; return 1; }
	lab_wait_owner "$VIP2" n2 $((MOVE_S + PREEMPT_DELAY_MS / 1000)) ||
		{ t_fail "after healing web2 on '$(lab_owners "$VIP2")'"; return 1; }
	t_wait 5 masters_are web 1 || { t_fail "healed, but the metrics sum to $(masters web) masters of web"; return 1; }
	# The winners announced again: the client reaches both at once, without
	# waiting for its ARP entries to expire.
	all_ok || { t_fail "client still fails after the heal (stale ARP?)"; return 1; }
	client_mac_is "$VIP1" n1 || { t_fail "the client still has n2's MAC for web"; return 1; }
}

case_attacker() {
	restore || return 1
	if ! ip netns list | awk '{print $1}' | grep -qx "$(lab_ns evil)"; then
		lab_add_evil || { t_fail "cannot attach the attacker namespace"; return 1; }
	fi
	t_heartbeat_attack "$(lab_ip n1):$HB_PORT" "$(lab_ip n2):$HB_PORT" "$HB_PORT"
}

# set_preempt_delay VALUE: rewrite preempt_delay in the lab's hacd.conf
# (every VIP; the first call keeps the original beside it) and reload both
# hacds; "orig" puts the original back.
set_preempt_delay() {
	local n conf=$LAB_DIR/hacd.conf
	[[ -e $conf.orig ]] || cp "$conf" "$conf.orig" || return 1
	if [[ $1 == orig ]]; then
		cp "$conf.orig" "$conf" || return 1
	else
		sed -i "s/^\([[:space:]]*preempt_delay[[:space:]]*=[[:space:]]*\)\"[^\"]*\"/\1\"$1\"/" "$conf" || return 1
	fi
	for n in n1 n2; do
		lab_hactl "$n" reload >/dev/null 2>&1 || return 1
	done
}

# first_stamp NODE FROMLINE REGEX: the timestamp (hacd's log prefix,
# 2026-12-06T07:27:10.587Z: one clock for every namespace) of the first
# line of NODE's hacd log after line FROMLINE that matches REGEX.
first_stamp() {
	tail -n +$(($2 + 1)) "$LAB_DIR/$1/hacd.log" | grep -m1 -E -- "$3" | cut -d' ' -f1
}

# With preempt_delay 0, n1's link goes down and comes back. Cut off, n1
# heard nobody; back, it hears n2's heartbeats before its own get out
# (neighbour resolution), and used to preempt on the first one it heard:
# web on both nodes until n2 heard the claim (60 ms to a second). The
# check is causal, not a timing threshold: n1 may claim web only once its
# heartbeats reach n2, so n1's "-> master" line must not be older than
# n2's "peer n1: alive" line. Then web ends on n1 alone.
case_link_back_no_two_owners() {
	local l1 l2 claim heard rc=0
	restore || return 1
	set_preempt_delay 0s || { t_fail "cannot set preempt_delay 0 and reload"; return 1; }
	ip -n "$(lab_ns sw)" link set n1 down
	if ! lab_wait_owner "$VIP1" n2 $MOVE_S; then
		t_fail "web on '$(lab_owners "$VIP1")', not only n2, with n1 cut off"
		rc=1
	else
		l1=$(wc -l <"$LAB_DIR/n1/hacd.log")
		l2=$(wc -l <"$LAB_DIR/n2/hacd.log")
		ip -n "$(lab_ns sw)" link set n1 up
		if ! lab_wait_owner "$VIP1" n1 $MOVE_S; then
			t_fail "web not back on n1 alone after its link returned (holders: $(lab_owners "$VIP1"))"
			rc=1
		else
			claim=$(first_stamp n1 "$l1" 'vip web .* -> master')
			heard=$(first_stamp n2 "$l2" 'peer n1: alive')
			t_log "link back: n1 claimed web at $claim, n2 heard n1 at $heard"
			if [[ -z $claim || -z $heard ]]; then
				t_fail "no claim by n1 ($claim) or n2 never heard n1 ($heard) in the logs"
				rc=1
			elif [[ $claim < $heard ]]; then
				t_fail "n1 claimed web at $claim, before n2 heard n1 at $heard: two owners meanwhile"
				rc=1
			fi
		fi
	fi
	set_preempt_delay orig || { t_fail "cannot restore preempt_delay"; return 1; }
	return "$rc"
}

# The same, made deterministic: n1's heartbeats to n2 are dropped on their
# way out (nft on n1's output, as an unresolved neighbour loses them) while
# n1 hears n2. n1 must not claim web (n2 cannot hear the claim: both would
# hold it for as long as the filter stays); it waits in backup and counts
# the wait ("preempt-wait-unheard"). Once the filter goes, n2 hears n1,
# says so in its heartbeats, and n1 takes web back alone.
MUTE_L1=0
n1_decided() { [[ -n $(first_stamp n1 "$MUTE_L1" 'vip web .* (init|fault) -> (backup|master)') ]]; }

case_preempt_waits_until_heard() {
	local before after rc=0 table=${LAB_PREFIX}_mute
	restore || return 1
	set_preempt_delay 0s || { t_fail "cannot set preempt_delay 0 and reload"; return 1; }
	before=$(counter n1 preempt-wait-unheard)
	ip -n "$(lab_ns sw)" link set n1 down
	if ! lab_wait_owner "$VIP1" n2 $MOVE_S; then
		t_fail "web on '$(lab_owners "$VIP1")', not only n2, with n1 cut off"
		rc=1
	elif ! ip netns exec "$(lab_ns n1)" nft -f - <<EOF; then
table inet $table {
	chain out {
		type filter hook output priority 0; policy accept;
		ip daddr $(lab_ip n2) udp dport $HB_PORT drop
	}
}
EOF
		t_fail "cannot install the nft rule"
		rc=1
	else
		MUTE_L1=$(wc -l <"$LAB_DIR/n1/hacd.log")
		ip -n "$(lab_ns sw)" link set n1 up
		if ! t_wait $MOVE_S n1_decided; then
			t_fail "n1 never left init/fault for web after its link returned"
			rc=1
		elif holds "$VIP1" n1; then
			t_fail "n1 claimed web while n2 could not hear it (holders: $(lab_owners "$VIP1"); $(first_stamp n1 "$MUTE_L1" 'vip web .* -> master'))"
			rc=1
		fi
		after=$(counter n1 preempt-wait-unheard)
		((rc == 0 && after <= before)) && { t_fail "preempt-wait-unheard did not move on n1 ($before -> $after)"; rc=1; }
		ip netns exec "$(lab_ns n1)" nft delete table inet "$table" 2>/dev/null
		((rc == 0)) && ! lab_wait_owner "$VIP1" n1 $MOVE_S &&
			{ t_fail "web not back on n1 alone once n2 heard it (holders: $(lab_owners "$VIP1"))"; rc=1; }
	fi
	set_preempt_delay orig || { t_fail "cannot restore preempt_delay"; return 1; }
	return "$rc"
}

# A local user (uid nobody) on n1 tries to share hacd's heartbeat port to
# steal n2's heartbeats (hacd would then declare n2 dead and claim web2):
# every bind must fail with EADDRINUSE, on n1's address, the IPv4 and the
# dual-stack IPv6 wildcard, with SO_REUSEADDR and with SO_REUSEPORT.
case_bind_theft() {
	restore || return 1
	t_bind_theft n1 n2 "$HB_PORT" "$(lab_ip n1):$HB_PORT" "0.0.0.0:$HB_PORT" "[::]:$HB_PORT"
}

# The same user tries to join proxyd's listeners (SO_REUSEPORT groups:
# a member gets a share of the connections; proxyd opened them as root).
case_listener_theft() {
	restore || return 1
	t_tcp_theft n1 80 0.0.0.0 "$(lab_ip n1)"
}

# admin_state NODE UPSTREAM/SERVER: the state of that entry in NODE's
# replicated store (hactl admin --json); empty if there is none.
admin_state() {
	local up=${2%%/*} srv=${2#*/}
	lab_hactl "$1" admin --json 2>/dev/null | jq -r --arg u "$up" --arg s "$srv" \
		'.admin[] | select(.upstream == $u and .server == $s) | .state // empty' 2>/dev/null
}

# The attack on a restarted receiver: a recording of n1's genuine
# datagrams (heartbeats, and a StateSync that drains app/app2), made on
# n1's switch port, is replayed in order at its recorded pace from n1's
# own address after n1 died and n2's hacd restarted (empty replay windows).
# n2 must claim web after its normal start-up wait, while the replay still
# runs (the replay must not keep the dead n1 alive), count the datagrams as
# unproven, and keep the replayed drain out of its store.
case_replay_after_restart() {
	local forge=$BUILD/tests/tools/hb_forge cap=$LAB_DIR/recording.txt n1ip capid rp hbs took=0 st t0
	restore || return 1
	[[ -x $forge ]] || { t_fail "missing $forge"; return 1; }
	n1ip=$(lab_ip n1)
	ip netns exec "$(lab_ns sw)" "$forge" capture --iface n1 --port "$HB_PORT" --from "$n1ip" \
		--file "$cap" --count 4000 --timeout-ms 5000 2>/dev/null &
	capid=$!
	sleep 0.5
	lab_hactl n1 drain app/app2 >/dev/null || { wait "$capid"; t_fail "hactl drain app/app2 on n1 failed"; return 1; }
	t_wait 5 admin_is_drain n2 || { wait "$capid"; t_fail "precondition: the drain did not reach n2"; return 1; }
	wait "$capid" || { t_fail "captured none of n1's datagrams"; return 1; }
	hbs=$(wc -l <"$cap")
	((hbs >= 20)) || { t_fail "recorded only $hbs datagrams of n1's"; return 1; }
	t_log "recorded $hbs datagrams of n1's over 5 s"

	# n1 dies (no goodbye); n2's hacd restarts and the replay begins at once.
	lab_kill n1/hacd KILL
	lab_kill n2/hacd TERM
	t0=$(lab_now_ms)
	lab_start_hacd n2
	ip netns exec "$(lab_ns n1)" "$forge" replay --file "$cap" --pace recorded --count 4000 2>/dev/null &
	rp=$!
	lab_wait_hacd n2 10 || { kill "$rp" 2>/dev/null; wait "$rp"; t_fail "hacd on n2 did not restart"; return 1; }
	# Until n2 holds web or the replay is over (bounded by the replay's own length).
	while kill -0 "$rp" 2>/dev/null; do
		if holds "$VIP1" n2; then
			took=1
			t_log "n2 took web $(($(lab_now_ms) - t0)) ms after its restart, the replay still running"
			break
		fi
		sleep 0.05
	done
	wait "$rp"
	((took)) || { t_fail "n2 took web only after the replay ended: the recording kept n1 alive"; return 1; }
	st=$(admin_state n2 app/app2)
	[[ -z $st ]] || { t_fail "the replayed StateSync reached n2's store (app/app2 is '$st')"; return 1; }
	(($(counter n2 drop-hb-unproven) > 0)) || { t_fail "drop-hb-unproven did not move on n2"; return 1; }
	(($(counter n2 drop-sync-unproven) > 0)) || { t_fail "drop-sync-unproven did not move on n2"; return 1; }
	# Leave no drained server behind for whoever runs next.
	t_daemons_up || return 1
	t_wait 10 t_hacd_agrees n2 || { t_fail "after the restart n1 and n2 do not agree"; return 1; }
	lab_hactl n1 enable app/app2 >/dev/null || true
}

admin_is_drain() { [[ $(admin_state "$1" app/app2) == drain ]]; }

# ---- metrics -------------------------------------------------------------------

# sample NODE PORT SERIES: the value of one series (name with its labels,
# exactly as exposed), empty when absent.
sample() { t_scrape "$1" "$2" | awk -v s="$3" '$1 == s { print $2; exit }'; }

# masters VIP: how many nodes say they are master of VIP (the sum the
# "two owners" and "no owner" alerts take, contrib/prometheus).
masters() {
	local n v sum=0
	for n in n1 n2; do
		v=$(sample "$n" $HACD_METRICS "tandem_hacd_vip_role{vip=\"$1\",role=\"master\"}")
		sum=$((sum + ${v:-0}))
	done
	echo "$sum"
}
masters_are() { [[ $(masters "$1") == "$2" ]]; }

# Both daemons' /metrics on both nodes pass promtool; hacd's agree with the
# kernel (web on n1, web2 on n2, n3 never started); hacd's listener is on
# loopback only and answers nothing but /metrics.
case_metrics() {
	local v
	restore || return 1
	t_promtool_lint n1 $HACD_METRICS hacd && t_promtool_lint n2 $HACD_METRICS hacd &&
		t_promtool_lint n1 $PROXYD_METRICS proxyd && t_promtool_lint n2 $PROXYD_METRICS proxyd || return 1
	v=$(sample n1 $HACD_METRICS 'tandem_hacd_vip_role{vip="web",role="master"}')
	[[ $v == 1 ]] || { t_fail "n1 holds web but its role{master} is '$v'"; return 1; }
	v=$(sample n2 $HACD_METRICS 'tandem_hacd_vip_role{vip="web",role="backup"}')
	[[ $v == 1 ]] || { t_fail "n2 is web's backup but its role{backup} is '$v'"; return 1; }
	v=$(sample n2 $HACD_METRICS 'tandem_hacd_vip_owner{vip="web",node="n1"}')
	[[ $v == 1 ]] || { t_fail "n2 does not see n1 as web's owner ('$v')"; return 1; }
	v=$(sample n1 $HACD_METRICS 'tandem_hacd_vip_claimants{vip="web2"}')
	[[ $v == 1 ]] || { t_fail "n1 sees $v claimants of web2, not 1"; return 1; }
	masters_are web 1 && masters_are web2 1 || { t_fail "masters: web $(masters web), web2 $(masters web2), not 1 each"; return 1; }
	v=$(sample n1 $HACD_METRICS 'tandem_hacd_peer_up{node="n2"}')
	[[ $v == 1 ]] || { t_fail "n1: peer_up{n2} is '$v'"; return 1; }
	v=$(sample n1 $HACD_METRICS 'tandem_hacd_peer_up{node="n3"}')
	[[ $v == 0 ]] || { t_fail "n1: peer_up{n3} (never started) is '$v'"; return 1; }
	v=$(sample n1 $HACD_METRICS 'tandem_hacd_peer_last_heard_seconds{node="n2"}')
	[[ -n $v ]] && (($(echo "$v < $MOVE_S" | bc))) || { t_fail "n1: n2 last heard '$v' s ago"; return 1; }
	# What n1 heard n2 advertise is what n2 says of itself.
	v=$(sample n1 $HACD_METRICS 'tandem_hacd_vip_priority{vip="web",node="n2"}')
	[[ -n $v && $v == "$(sample n2 $HACD_METRICS 'tandem_hacd_vip_priority{vip="web",node="n2"}')" ]] ||
		{ t_fail "n1 has n2's web priority as '$v', n2 says otherwise"; return 1; }
	v=$(ip netns exec "$(lab_ns n1)" curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$HACD_METRICS/status")
	[[ $v == 404 ]] || { t_fail "hacd's listener answered $v to /status, not 404"; return 1; }
	if ip netns exec "$(lab_ns client)" curl -s -o /dev/null --max-time 3 "http://$(lab_ip n1):$HACD_METRICS/metrics"; then
		t_fail "hacd's metrics answer on n1's lab address, not only on loopback"
		return 1
	fi
}

# ---- run -----------------------------------------------------------------------

t_begin "$@"
t_case "both daemons' /metrics pass promtool; hacd's roles, owners and peers match the kernel" case_metrics
t_case "unplanned failover: kill -9 of the owner's hacd" case_hacd_kill9
t_case "a restarted hacd ends the drain its predecessor asked for; the node takes its VIP back" case_hacd_restart_ends_drain
t_case "unplanned failover: the owner's proxyd dies, the node lives" case_proxyd_death
t_case "unplanned failover: the owner's link goes down; failback only after the preempt delay" case_link_down
t_case "link back with preempt delay 0: no two owners while n1's heartbeats cannot leave" case_link_back_no_two_owners
t_case "n1's heartbeats cannot leave, it hears n2: no preemption until n2 hears n1" case_preempt_waits_until_heard
t_case "planned failover and back: zero failed keep-alive requests" case_planned_keepalive
t_case "planned failover: new connections held off before proxyd drains; drains anyway when nft fails or hangs" case_gate_before_drain
t_case "failback waits for the preempt delay, no request lost to a gap" case_failback_preempt_delay
t_case "active-active: the survivor carries both VIPs and gives one back" case_active_active
t_case "split brain: both claim, then exactly one owner per VIP" case_split_brain
t_case "a VIP removed or added behind hacd's back is put right" case_behind_our_back
t_case "attacker without the key: forged, junk, replayed heartbeats move nothing" case_attacker
t_case "a local user cannot bind hacd's heartbeat port and steal heartbeats" case_bind_theft
t_case "a local user cannot join proxyd's listeners" case_listener_theft
t_case "replay after a restart: a dead node's recording keeps it neither alive nor in the store" case_replay_after_restart
t_end
