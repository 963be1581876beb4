#!/usr/bin/env bash
# tests/run: parallel-safe
# tests/integration/test_ha_multicast.sh — hacd with multicast heartbeats.
#
# The same lab as test_ha.sh (scripts/lab), under LAB_PREFIX=tdmm, with
# etc/hacd.conf plus a "multicast" block (group 239.255.77.7 on eth0, TTL
# 1), so each heartbeat goes once to the group instead of once per peer.
# Checked here: heartbeats really travel to the group (a tap in the switch
# sees them, hactl shows both peers alive and the multicast counters
# moving); unplanned failover when the owner's hacd is killed; a planned
# failover and back loses no keep-alive request; and an attacker on the
# segment sending forged, junk and replayed datagrams to the group moves no
# VIP while the drop counters show each kind — and junk from an address
# that is no node's reaches no hacd socket at all (hacd/peer.c: one group
# socket per peer, connected to it).
#
# Run as root from the repository root (BUILD=dir for binaries elsewhere).
# Prints one line per case and "N passed, N failed".

export LAB_NODES=2
export LAB_PREFIX=${LAB_PREFIX:-tdmm}
: "${T_TIMEOUT:=170}"
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

GROUP=239.255.77.7
VIP1=$LAB_VIP_WEB    # "web", n1 preferred
VIP2=$LAB_VIP_WEB2   # "web2", n2 preferred
URL1=http://$VIP1/
MOVE_S=10
HB_PORT=7007
ETC_CONF=$HACD_CONF
# The lab copies HACD_CONF into its own directory at `up` (and removes that
# directory first), so the multicast variant is written beside it, under
# our prefix, and removed when the script ends.
MCAST_CONF=/tmp/${LAB_PREFIX}-hacd-multicast.conf

# ---- helpers -----------------------------------------------------------------

counter() { t_counter "$1" "$2"; }

holds() { [[ " $(lab_owners "$1") " == *" $2 "* ]]; }
restore() {
	local n
	t_daemons_up || return 1
	lab_wait_owner "$VIP1" n1 $((MOVE_S + 2)) || { t_fail "restore: web on '$(lab_owners "$VIP1")'"; return 1; }
	lab_wait_owner "$VIP2" n2 $((MOVE_S + 2)) || { t_fail "restore: web2 on '$(lab_owners "$VIP2")'"; return 1; }
	for n in n1 n2; do
		t_wait 10 t_hacd_agrees "$n" || { t_fail "restore: hacd on $n does not see the resting state"; return 1; }
	done
	t_wait 5 t_http_ok client "$URL1" || { t_fail "restore: client cannot reach web"; return 1; }
}

# ---- cases -------------------------------------------------------------------

case_heartbeats_multicast() {
	local cap=$LAB_DIR/mcast-cap.txt n tx1 rx1 tx2 rx2 bad
	restore || return 1
	for n in n1 n2; do
		grep -q "heartbeats by multicast to $GROUP:$HB_PORT on eth0 (ttl 1)" "$LAB_DIR/$n/hacd.log" ||
			{ t_fail "hacd on $n did not log multicast mode"; return 1; }
	done
	tx1=$(counter n1 tx-multicast)
	rx1=$(counter n1 rx-multicast)
	[[ $tx1 =~ ^[0-9]+$ && $rx1 =~ ^[0-9]+$ ]] ||
		{ t_fail "no multicast counters in hactl status (tx=$tx1 rx=$rx1)"; return 1; }
	# A tap on n1's and n2's switch ports: what leaves each node for port
	# 7007 goes to the group, from the node's own address, and nothing
	# goes to the peer's unicast address.
	for n in n1 n2; do
		ip netns exec "$(lab_ns sw)" "$BUILD/tests/tools/hb_forge" capture --iface "$n" --port "$HB_PORT" \
			--file "$cap" --count 20 --timeout-ms 5000 2>/dev/null ||
			{ t_fail "the tap on $n's port saw no heartbeat"; return 1; }
		# The port also carries the peer's group datagrams (flooded to
		# every port): look at what this node sent.
		grep -q "^$(lab_ip "$n"):$HB_PORT " "$cap" || { t_fail "the tap saw no heartbeat from $n"; return 1; }
		bad=$(awk -v src="$(lab_ip "$n"):$HB_PORT" -v grp="$GROUP:$HB_PORT" '$1 == src && $2 != grp' "$cap" | head -n 1)
		[[ -z $bad ]] || { t_fail "a heartbeat from $n not to the group: ${bad:0:60}"; return 1; }
	done
	sleep 1
	tx2=$(counter n1 tx-multicast)
	rx2=$(counter n2 rx-multicast)
	((tx2 > tx1)) || { t_fail "n1's tx-multicast did not move ($tx1 -> $tx2)"; return 1; }
	((rx2 > 0 && $(counter n1 rx-multicast) > rx1)) || { t_fail "rx-multicast does not move"; return 1; }
	# Nothing went unicast: tx counts every datagram, tx-multicast those
	# to the group; they are equal. Both from one snapshot: two hactl
	# calls would race with the next heartbeat.
	local both
	both=$(lab_hactl n1 status --json --counters 2>/dev/null |
		jq -r '"\(.counters.tx // "none") \(.counters["tx-multicast"] // "none")"')
	[[ ${both% *} =~ ^[0-9]+$ && ${both% *} == "${both#* }" ]] ||
		{ t_fail "n1 sent unicast heartbeats too (tx, tx-multicast: $both)"; return 1; }
}

case_hacd_kill9() {
	restore || return 1
	lab_kill n1/hacd KILL
	t_wait $MOVE_S holds "$VIP1" n2 || { t_fail "n2 did not take web (holders: $(lab_owners "$VIP1"))"; return 1; }
	t_wait 5 t_http_ok client "$URL1" || { t_fail "client cannot reach web after the move"; return 1; }
	lab_start_hacd n1
	lab_wait_hacd n1 10 || { t_fail "hacd on n1 did not restart"; return 1; }
	# The restarted n1 hears n2 over the group again and one node holds web.
	t_wait $((MOVE_S + 2)) lab_owner_is "$VIP1" n1 ||
		{ t_fail "after the restart web is on '$(lab_owners "$VIP1")', not n1 alone"; return 1; }
}

case_planned_keepalive() {
	restore || return 1
	t_planned_roundtrip web "$VIP1" "$URL1" $MOVE_S
}

evil_up() {
	local evil
	evil=$(lab_ns evil)
	if ! ip netns list | awk '{print $1}' | grep -qx "$evil"; then
		lab_add_evil || return 1
	fi
	# The attacker needs a route to the group to send to it at all.
	ip -n "$evil" route replace 224.0.0.0/4 dev eth0
}

case_attacker() {
	restore || return 1
	evil_up || { t_fail "cannot attach the attacker namespace"; return 1; }
	# Forged and junk datagrams go to the group, claiming each node's address in turn.
	t_heartbeat_attack "$GROUP:$HB_PORT" "$GROUP:$HB_PORT" "$HB_PORT" || return 1
	if ! t_hacd_agrees n1 || ! t_hacd_agrees n2; then
		t_fail "a hacd's view changed during the attack"
		return 1
	fi
}

# Junk to the group from the attacker's own address (no spoofing) matches
# no hacd socket: the per-peer group sockets are connected to the peers.
# Each datagram is "random" (no magic), so had any reached the ladder,
# drop-bad-magic would count it.
case_stranger_filtered() {
	local before after
	restore || return 1
	evil_up || { t_fail "cannot attach the attacker namespace"; return 1; }
	before=$(($(counter n1 drop-bad-magic) + $(counter n2 drop-bad-magic)))
	ip netns exec "$(lab_ns evil)" "$BUILD/tests/tools/hb_forge" junk --kind random \
		--to "$GROUP:$HB_PORT" --count 2000 || { t_fail "hb_forge junk failed"; return 1; }
	# The same junk spoofed from n2 does reach n1 (the tool and the route
	# work): without this the case could pass with nothing sent.
	ip netns exec "$(lab_ns evil)" "$BUILD/tests/tools/hb_forge" junk --kind random \
		--to "$GROUP:$HB_PORT" --spoof "$(lab_ip n2):$HB_PORT" --count 10 || { t_fail "spoofed junk failed"; return 1; }
	t_wait 5 test "$(($(counter n1 drop-bad-magic) + $(counter n2 drop-bad-magic)))" -ge $((before + 10)) ||
		{ t_fail "the spoofed junk was not counted"; return 1; }
	sleep 0.5
	after=$(($(counter n1 drop-bad-magic) + $(counter n2 drop-bad-magic)))
	((after - before == 10)) ||
		{ t_fail "junk from a stranger's address reached hacd ($((after - before - 10)) counted)"; return 1; }
}

# A local user (uid nobody) on n1 tries to share hacd's sockets: the
# group and port (where n2's heartbeats arrive), n1's own address and port
# (unicast replication arrives there), and the wildcards; every bind must
# fail with EADDRINUSE, with SO_REUSEADDR and with SO_REUSEPORT.
case_bind_theft() {
	restore || return 1
	t_bind_theft n1 n2 "$HB_PORT" "$GROUP:$HB_PORT" "$(lab_ip n1):$HB_PORT" \
		"0.0.0.0:$HB_PORT" "[::]:$HB_PORT"
}

# ---- run -----------------------------------------------------------------------

t_bound "$@"
{
	cat "$ETC_CONF"
	printf '\n# added by %s\nmulticast = { group = "%s"; interface = "eth0"; ttl = 1; };\n' \
		"$(basename "$0")" "$GROUP"
} >"$MCAST_CONF" || exit 1
HACD_CONF=$MCAST_CONF
t_begin "$@"
rm -f "$MCAST_CONF"
t_case "heartbeats travel to the multicast group, both peers alive" case_heartbeats_multicast
t_case "unplanned failover: kill -9 of the owner's hacd" case_hacd_kill9
t_case "planned failover and back: zero failed keep-alive requests" case_planned_keepalive
t_case "attacker: forged, junk, replayed datagrams to the group move nothing" case_attacker
t_case "junk to the group from a non-node address reaches no hacd socket" case_stranger_filtered
t_case "a local user cannot bind the group or heartbeat port" case_bind_theft
t_end
