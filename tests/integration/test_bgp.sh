#!/usr/bin/env bash
# tests/run: alone (BFD at 50 ms and real-time BIRD threads: timing-bound beside another suite)
# tests/integration/test_bgp.sh — BGP mode end to end, with real daemons.
#
# The BGP lab (scripts/lab-bgp, LAB_PREFIX=tdmg): a router namespace running
# BIRD with BGP and BFD sessions to four proxy nodes, each running BIRD,
# hacd (a VIP group in mode "bgp") and proxyd; multipath into the router's
# kernel through a resilient next-hop group; a client behind the router.
# The router is the judge: a node serves only while the router's kernel
# forwards the VIP to it (and its BIRD holds the node's route).
#
# Cases: every node announces (hacd's metrics, proxyd's status page: "bgp:
# 4 announcing", no owner); the IPv6 VIP (fd99:1:200::1/128, the lab's ULA
# fd99:1::/48): every node announces it over its IPv6 BGP session, the
# router's kernel route has all four next hops, the client reaches proxyd
# through http://[fd99:1:200::1]/ on several nodes, and hactl drain n2 takes
# n2 out of the router's /128 with 0 failed IPv6 requests; a node's proxyd dies → its route goes, new
# connections go to the others, and none of the connections held open to
# the other nodes breaks; the node returns → announced only once its proxyd
# is ready; hactl drain NODE → withdrawn after the open connections end, 0
# failed requests, run from another node; hactl enable NODE → back; the
# drain survives the node's hacd restart; hacd with no BIRD behind its
# socket, then with a socket that is not BIRD's, logs it, counts it and
# keeps running; hacd stopped → its route withdrawn.
#
# Run as root from the repository root. Waits are bounded; no timing
# threshold (the route's withdrawal times are make bench-scale's).

export LAB_PREFIX=${LAB_PREFIX:-tdmg}
export LAB_NODES=4
# BFD every 100 ms (the lab's default is 50): the cases here are about
# routes following hacd, not about BFD's speed on a busy shared host.
export LAB_BFD_MS=${LAB_BFD_MS:-100}
export T_TIMEOUT=${T_TIMEOUT:-150}
HACD_CONF=$(cd "$(dirname "$0")/../.." && pwd)/etc/bgp/hacd.conf
export HACD_CONF
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=../../scripts/lab-bgp
. "$T_ROOT/scripts/lab-bgp"

URL=http://$BGP_VIP/
URL6="http://[$BGP_VIP6]/"
ALL="n1 n2 n3 n4"


# The nodes hactl status (from $1) says announce the VIP, sorted.
announced_by() {
	lab_hactl "$1" status --json 2>/dev/null | jq -r '.vips[0].announced_by | sort | join(" ")' 2>/dev/null
}
announce_state() { lab_hactl "$1" status --json 2>/dev/null | jq -r ".vips[${2:-0}].announce" 2>/dev/null; }
# The same for the IPv6 group (etc/bgp/hacd.conf's second, "web6").
announced_by6() {
	lab_hactl "$1" status --json 2>/dev/null | jq -r '.vips[1] | select(.name == "web6") | .announced_by | sort | join(" ")' 2>/dev/null
}

# tandem_requests_total summed on node $1's proxyd.
node_requests() {
	t_scrape "$1" 9901 2>/dev/null | awk '/^tandem_requests_total/ { s += $NF } END { printf "%d\n", s }'
}

# client_loop_clean NAME WHAT: stop lab_client_start's loop NAME, log its
# result as WHAT; fails unless no request failed and some succeeded.
client_loop_clean() {
	local res
	res=$(lab_client_stop "$1")
	t_log "$2: $res"
	[[ $(sed -n 's/.*failed=\([0-9]*\).*/\1/p' <<<"$res") == 0 ]] || { t_fail "$res"; return 1; }
	[[ $(sed -n 's/.*ok=\([0-9]*\).*/\1/p' <<<"$res") -gt 0 ]] || { t_fail "no request succeeded: $res"; return 1; }
}

# ---- cases ---------------------------------------------------------------------

case_all_announce() {
	bgp_wait_nodes "$ALL" 20 || { t_fail "router forwards to '$(bgp_rt_nodes)', not every node"; return 1; }
	[[ $(bgp_rt_bird_nodes) == "$ALL" ]] || { t_fail "router's BIRD holds '$(bgp_rt_bird_nodes)'"; return 1; }
	lab_wait 5 eval '[[ $(announced_by n1) == "$ALL" ]]' ||
		{ t_fail "hactl status on n1: announced by '$(announced_by n1)'"; return 1; }
	[[ $(announce_state n3) == announced ]] || { t_fail "n3 says '$(announce_state n3)'"; return 1; }
}

# hacd's /metrics: promtool-clean, and every node announcing as n2 sees it.
case_metrics() {
	local sum vip
	t_promtool_lint n2 9902 "hacd's /metrics" || return 1
	for vip in web web6; do
		sum=$(t_scrape n2 9902 | awk -v v="vip=\"$vip\"" '/^tandem_hacd_bgp_announced/ && index($0, v) { s += $NF } END { printf "%d\n", s }')
		[[ $sum == 4 ]] || { t_fail "tandem_hacd_bgp_announced{vip=\"$vip\"} sums to '$sum', not 4"; return 1; }
	done
	t_scrape n2 9902 | grep -q '^tandem_hacd_vip_owner' && { t_fail "a bgp group has an owner series"; return 1; }
	return 0
}

# proxyd's status page (/status.json, from hacd's cluster status, and the
# page Chromium renders from it): the BGP group has no owner but says who
# announces it ("bgp: 4 announcing" instead of "NO OWNER").
case_status_json() {
	local js
	js=$(ip netns exec "$(lab_ns n2)" curl -sf --max-time 5 http://127.0.0.1:9901/status.json) ||
		{ t_fail "no /status.json on n2"; return 1; }
	lab_wait 5 eval 'ip netns exec "$(lab_ns n2)" curl -sf --max-time 5 http://127.0.0.1:9901/status.json |
		t_jq ".vips[0] | .bgp == true and .owner == null and .announce == \"announced\" and (.announced_by | sort | join(\" \")) == \"$ALL\""' ||
		{ t_fail "n2's /status.json: $(jq -c '.vips' <<<"$js" 2>&1 | head -c 300)"; return 1; }
	# The page itself, as headless Chromium renders it (test_status_page.sh
	# does the same for VRRP-style VIPs).
	command -v chromium >/dev/null || { t_fail "chromium missing (scripts/install-deps)"; return 1; }
	ip netns exec "$(lab_ns n2)" timeout 30 chromium --headless --no-sandbox --disable-gpu \
		--user-data-dir="$LAB_DIR/chromium" --virtual-time-budget=2500 \
		--dump-dom "http://127.0.0.1:9901/status?refresh=300" >"$LAB_DIR/status.html" 2>>"$LAB_DIR/chromium.log"
	grep -q 'data-vip="web" data-owner="" data-announcing="4"><td>web</td>.*<td class="up">bgp: 4 announcing (n1 n2 n3 n4)</td>' \
		"$LAB_DIR/status.html" ||
		{ t_fail "n2's status page: $(grep -o '<tr data-vip.\{0,300\}' "$LAB_DIR/status.html" | head -c 300)"; return 1; }
}

case_spread() {
	local i n base=() after busy=0 line=""
	for n in $ALL; do base+=("$(node_requests "$n")"); done
	for ((i = 0; i < 60; i++)); do t_http_ok client "$URL" || { t_fail "request $i failed"; return 1; }; done
	i=0
	for n in $ALL; do
		after=$(node_requests "$n")
		line+="$n=$((after - base[i])) "
		((after - base[i] > 0)) && busy=$((busy + 1))
		i=$((i + 1))
	done
	t_log "60 new connections spread: $line"
	((busy >= 3)) || { t_fail "only $busy nodes served 60 new connections ($line)"; return 1; }
}

# The IPv6 VIP end to end: every node announces fd99:1:200::1/128 over its
# IPv6 BGP session, the router's kernel has all four as next hops (ECMP),
# and the client's requests to http://[fd99:1:200::1]/ reach proxyd on more
# than one node (tandem_requests_total: the access log is written in
# batches, so it cannot be counted at once).
case_v6_all_announce() {
	local i n d seen=() busy=0 line=""
	bgp_wait_nodes6 "$ALL" 20 || { t_fail "router forwards the IPv6 VIP to '$(bgp_rt_nodes6)', not every node"; return 1; }
	[[ $(bgp_rt_bird_nodes6) == "$ALL" ]] || { t_fail "router's BIRD holds the /128 from '$(bgp_rt_bird_nodes6)'"; return 1; }
	lab_wait 5 eval '[[ $(announced_by6 n1) == "$ALL" ]]' ||
		{ t_fail "hactl status on n1: web6 announced by '$(announced_by6 n1)'"; return 1; }
	for n in $ALL; do seen+=("$(node_requests "$n")"); done
	for ((i = 0; i < 20; i++)); do t_http_ok client "$URL6" || { t_fail "request $i to $URL6 failed"; return 1; }; done
	i=0
	for n in $ALL; do
		d=$(($(node_requests "$n") - seen[i]))
		line+="$n=$d "
		((d > 0)) && busy=$((busy + 1))
		i=$((i + 1))
	done
	t_log "20 IPv6 connections spread: $line"
	((busy >= 2)) || { t_fail "only $busy nodes answered the 20 IPv6 requests ($line)"; return 1; }
}

# proxyd on n2 dies: its route goes at the router, new connections reach the
# others only, and no held connection of n1, n3, n4 breaks (resilient group).
case_proxyd_dies() {
	local res others broken on_n2 i ok=0
	if ! res=$(bgp_hold_and_kill n2 32 "$LAB_DIR"); then
		t_fail "router forwards to '$(bgp_rt_nodes)', or holdconns failed: $(head -c 300 "$LAB_DIR/hold.err")"
		return 1
	fi
	read -r others broken on_n2 <<<"$res"
	[[ $(bgp_rt_bird_nodes) == "n1 n3 n4" ]] || { t_fail "router's BIRD holds '$(bgp_rt_bird_nodes)'"; return 1; }
	for ((i = 0; i < 20; i++)); do t_http_ok client "$URL" && ok=$((ok + 1)); done
	((ok == 20)) || { t_fail "$((20 - ok)) of 20 new requests failed after the withdrawal"; return 1; }
	t_log "held connections: $others on n1/n3/n4 ($broken broken), $on_n2 on n2 (ended with it)"
	((others > 0)) || { t_fail "no held connection on the surviving nodes"; return 1; }
	((broken == 0)) || { t_fail "$broken of $others connections to surviving nodes broke"; return 1; }
}

# n2's proxyd back: hacd announces only after proxyd said it is ready.
case_returns_when_ready() {
	local log=$LAB_DIR/n2/hacd.log ready_line ann_line
	lab_start_proxyd n2
	bgp_wait_nodes "$ALL" 20 || { t_fail "router forwards to '$(bgp_rt_nodes)' after proxyd's restart"; return 1; }
	ready_line=$(grep -n ': proxyd ready$' "$log" | tail -n 1 | cut -d: -f1)
	ann_line=$(grep -n 'route announced' "$log" | tail -n 1 | cut -d: -f1)
	[[ -n $ready_line && -n $ann_line ]] || { t_fail "hacd.log on n2: no 'proxyd ready' or 'route announced' line"; return 1; }
	((ready_line < ann_line)) || { t_fail "route announced (line $ann_line) before proxyd was ready (line $ready_line)"; return 1; }
	t_http_ok client "$URL" || { t_fail "request after the return failed"; return 1; }
}

# hactl drain n3, run on n1, under load: the drain reaches n3 through the
# replicated admin state, n3 withdraws only once its connections ended, and
# no request fails; hactl enable n3, run on n2: back. The client's connect timeout (3 s)
# covers one SYN retransmission (1 s, RFC 6298): a SYN the drain held off is
# sent again and reaches another node.
case_drain() {
	local rc=0
	lab_client_start drain 30 "$URL" 5 20 3
	sleep 1
	if ! lab_hactl n1 drain n3 >/dev/null; then
		t_fail "hactl drain n3 on n1 failed"
	elif ! bgp_wait_nodes "n1 n2 n4" 10; then
		t_fail "router forwards to '$(bgp_rt_nodes)' after the drain"
	elif [[ $(announce_state n3) != withdrawn ]]; then
		t_fail "n3 says '$(announce_state n3)'"
	elif ! grep -q 'draining before the route is withdrawn' "$LAB_DIR/n3/hacd.log"; then
		t_fail "n3 withdrew without draining first"
	elif ! grep -q 'node n3: drain: .*(hactl on n1)' "$LAB_DIR/n3/hacd.log"; then
		t_fail "n3's hacd.log does not say the drain came from n1"
	fi
	[[ -z $T_WHY ]] || rc=1
	# Clients that were held off reach the other nodes on their SYN retry (1 s).
	sleep 2
	client_loop_clean drain "client loop across the drain" || rc=1
	# Back in service whatever happened above: the cases after this one need n3.
	lab_hactl n2 enable n3 >/dev/null || { t_fail "hactl enable n3 on n2 failed"; rc=1; }
	bgp_wait_nodes "$ALL" 10 || { t_fail "router forwards to '$(bgp_rt_nodes)' after enable"; rc=1; }
	return $rc
}

# hactl drain n2, run on n1, under an IPv6 client loop: n2's /128 leaves the
# router (BIRD and kernel next hops), the IPv6 VIP stays reachable through
# n1, n3, n4 (new requests all answered, none by n2) with 0 failed
# requests of the loop; hactl enable n2: back.
case_v6_drain() {
	local rc=0 i ok=0 n2_before
	lab_client_start drain6 30 "$URL6" 5 20 3
	sleep 1
	if ! lab_hactl n1 drain n2 >/dev/null; then
		t_fail "hactl drain n2 on n1 failed"
	elif ! bgp_wait_nodes6 "n1 n3 n4" 10; then
		t_fail "router forwards the IPv6 VIP to '$(bgp_rt_nodes6)' after the drain"
	elif [[ $(bgp_rt_bird_nodes6) != "n1 n3 n4" ]]; then
		t_fail "router's BIRD holds the /128 from '$(bgp_rt_bird_nodes6)' after the drain"
	elif [[ $(announce_state n2 1) != withdrawn ]]; then
		t_fail "n2 says '$(announce_state n2 1)' for web6"
	else
		# New connections now: every one answered, none by n2.
		n2_before=$(node_requests n2)
		for ((i = 0; i < 10; i++)); do t_http_ok client "$URL6" && ok=$((ok + 1)); done
		((ok == 10)) || t_fail "$((10 - ok)) of 10 IPv6 requests failed after n2's withdrawal"
		[[ $(node_requests n2) == "$n2_before" ]] || t_fail "n2 answered requests after its /128 left the router"
	fi
	[[ -z $T_WHY ]] || rc=1
	sleep 1
	client_loop_clean drain6 "IPv6 client loop across the drain" || rc=1
	lab_hactl n1 enable n2 >/dev/null || { t_fail "hactl enable n2 on n1 failed"; rc=1; }
	bgp_wait_nodes6 "$ALL" 10 || { t_fail "router forwards the IPv6 VIP to '$(bgp_rt_nodes6)' after enable"; rc=1; }
	bgp_wait_nodes "$ALL" 10 || { t_fail "router forwards to '$(bgp_rt_nodes)' after enable"; rc=1; }
	return $rc
}

# Maintenance on n4 withdraws its route (gracefully, as a drain); off: back.
# New connections are held off before proxyd drains: n4's nft is lib.sh's
# wrapper (t_gate_probe_on), which writes down proxyd's /readyz just before
# it sets the rule; "draining" there is a drain asked before the gate.
case_maintenance() {
	local rc=0 probe
	t_gate_probe_on n4 || { t_gate_probe_off n4; return 1; }
	lab_hactl n4 maintenance on >/dev/null || { t_gate_probe_off n4; t_fail "hactl maintenance on failed"; return 1; }
	bgp_wait_nodes "n1 n2 n3" 10 || { t_fail "router forwards to '$(bgp_rt_nodes)' in n4's maintenance"; rc=1; }
	probe=$(cat "$(t_gate_probe_file n4)" 2>/dev/null)
	t_gate_probe_off n4
	t_log "n4's gate probe: ${probe//$'\n'/, }"
	[[ $probe == ready* ]] ||
		{ t_fail "n4's proxyd said '${probe%%$'\n'*}', not 'ready', just before its SYN gate was in place"; rc=1; }
	lab_hactl n4 maintenance off >/dev/null || { t_fail "hactl maintenance off failed"; return 1; }
	bgp_wait_nodes "$ALL" 10 || { t_fail "router forwards to '$(bgp_rt_nodes)' after maintenance"; rc=1; }
	return $rc
}

# hactl drain n3 on n2, then n3's hacd restarts: it relearns the drain from
# its peers' bulk syncs and announces nothing although its proxyd is ready
# (no "route announced" line since the restart); hactl enable n3 on n1: back.
# A name that is no node stays a usage error (exit 2).
case_drain_survives_restart() {
	local out rc=0 before
	out=$(lab_hactl n1 drain nosuchnode 2>&1)
	[[ $? == 2 ]] || { t_fail "hactl drain nosuchnode: not exit 2: $out"; return 1; }
	lab_hactl n2 drain n3 >/dev/null || { t_fail "hactl drain n3 on n2 failed"; return 1; }
	bgp_wait_nodes "n1 n2 n4" 10 || { t_fail "router forwards to '$(bgp_rt_nodes)' after the drain"; rc=1; }
	lab_kill n3/hacd TERM
	before=$(grep -c 'route announced' "$LAB_DIR/n3/hacd.log")
	lab_start_hacd n3
	lab_wait_hacd n3 10 || { t_fail "hacd on n3 did not restart"; rc=1; }
	lab_wait 15 eval '[[ $(lab_hactl n3 status --json 2>/dev/null | jq -r "[.proxyd_ready, .vips[0].announce_why] | join(\" \")") == "true node drained (hactl drain)" ]]' ||
		{ t_fail "n3 after its restart: $(lab_hactl n3 status --json 2>/dev/null | jq -c '[.proxyd_ready, .vips[0].announce, .vips[0].announce_why]')"; rc=1; }
	[[ $(grep -c 'route announced' "$LAB_DIR/n3/hacd.log") == "$before" ]] ||
		{ t_fail "n3 announced its route after the restart, drained"; rc=1; }
	[[ $(bgp_rt_nodes) == "n1 n2 n4" ]] || { t_fail "router forwards to '$(bgp_rt_nodes)' after n3's restart"; rc=1; }
	lab_hactl n1 enable n3 >/dev/null || { t_fail "hactl enable n3 on n1 failed"; rc=1; }
	bgp_wait_nodes "$ALL" 15 || { t_fail "router forwards to '$(bgp_rt_nodes)' after enable"; rc=1; }
	return $rc
}

# hacd on n4 without BIRD, then with a socket that is not BIRD's: logged,
# counted, hacd alive; BIRD back: announced again.
case_careless_bird() {
	local sock before_cf before_bad
	sock=$(bgp_sock n4)
	before_cf=$(t_counter n4 bird-connect-failed 0)
	before_bad=$(t_counter n4 bird-bad-replies 0)
	lab_kill n4/bird TERM
	careless_bird_steps "$sock" "$before_cf" "$before_bad"
	local rc=$?
	# n4's BIRD back whatever happened above.
	lab_kill n4/fakebird
	rm -f "$sock"
	lab_alive n4/bird || bgp_start_bird n4
	lab_wait 10 bgp_bird_up n4 && bgp_rt_threads n4
	bgp_wait_nodes "$ALL" 20 || { t_fail "router forwards to '$(bgp_rt_nodes)' after n4's BIRD came back"; return 1; }
	return $rc
}

careless_bird_steps() {
	local sock=$1 before_cf=$2 before_bad=$3
	bgp_wait_nodes "n1 n2 n3" 10 || { t_fail "router forwards to '$(bgp_rt_nodes)' with n4's BIRD gone"; return 1; }
	t_wait 5 eval '(( $(t_counter n4 bird-connect-failed 0) > before_cf ))' ||
		{ t_fail "bird-connect-failed did not move ($before_cf)"; return 1; }
	grep -q 'cannot connect' "$LAB_DIR/n4/hacd.log" || { t_fail "no 'cannot connect' line in n4's hacd.log"; return 1; }
	[[ $(announce_state n4) == pending ]] || { t_fail "n4 says '$(announce_state n4)', not pending"; return 1; }
	# A socket that answers like something else entirely.
	rm -f "$sock"
	lab_spawn "$(lab_ns n4)" n4/fakebird "$LAB_DIR/n4/fakebird.log" python3 -c '
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1]); s.listen(4)
while True:
    c, _ = s.accept()
    c.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\n"); c.close()' "$sock"
	t_wait 5 eval '(( $(t_counter n4 bird-bad-replies 0) > before_bad ))' ||
		{ t_fail "bird-bad-replies did not move ($before_bad)"; return 1; }
	lab_alive n4/hacd || { t_fail "hacd on n4 died"; return 1; }
}

# hacd on n1 stopped (SIGTERM): its route withdrawn, the others serve.
case_hacd_stops() {
	lab_kill n1/hacd TERM
	bgp_wait_nodes "n2 n3 n4" 10 || { t_fail "router forwards to '$(bgp_rt_nodes)' after n1's hacd stopped"; return 1; }
	grep -q 'route withdrawn' "$LAB_DIR/n1/hacd.log" || { t_fail "no 'route withdrawn' in n1's hacd.log"; return 1; }
	t_http_ok client "$URL" || { t_fail "request after n1's hacd stopped failed"; return 1; }
}

T_CHECK_ENV=bgp_check_env
T_LAB_UP=bgp_up
t_begin "$@"
t_case "every node announces the VIP; the router forwards to all four" case_all_announce
t_case "hacd's /metrics: every node announcing, no owner series, promtool-clean" case_metrics
t_case "proxyd's status page and /status.json: the BGP group's announcers, no owner" case_status_json
t_case "new connections spread over the nodes (L4 ECMP)" case_spread
t_case "IPv6 VIP: every node announces its /128 over IPv6 BGP; router ECMP to all four; client reaches proxyd" case_v6_all_announce
t_case "proxyd dies: route withdrawn, new connections elsewhere, 0 held connections of the others broken" case_proxyd_dies
t_case "node returns: announced only after its proxyd is ready" case_returns_when_ready
t_case "hactl drain n3 on n1: n3 withdrawn after open connections end, 0 failed requests; enable on n2: back" case_drain
t_case "hactl drain n2: its IPv6 route withdrawn at the router, the IPv6 VIP served by the others, 0 failed; enable: back" case_v6_drain
t_case "maintenance on: new connections held off, then proxyd drains, route withdrawn; off: back" case_maintenance
t_case "a drain set on n2 survives n3's hacd restart; enable on n1: back; an unknown node is exit 2" case_drain_survives_restart
t_case "no BIRD, then a socket that is not BIRD's: logged, counted, hacd runs on" case_careless_bird
t_case "hacd stopped: its route withdrawn" case_hacd_stops
t_end
