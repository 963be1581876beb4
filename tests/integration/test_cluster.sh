#!/usr/bin/env bash
# tests/run: alone (6 s ticket-key rotations and rate windows: a case missed its rotation beside another suite on a loaded machine)
# tests/integration/test_cluster.sh — one cluster, one truth.
#
# In the lab (scripts/lab, LAB_PREFIX=tdmc), active-active: VIP web on n1,
# web2 on n2, one client address behind both.
#   - A `scope = "cluster"` limit of R per second: the client sends 2R per
#     second for 10 s, half through each VIP; the total admitted stays
#     within 5% of R x 10 (the windows are aligned to the second and the
#     run starts on one, so the expected figure is exact: the first window
#     admits R from idle, each later one R). The same traffic on a
#     `scope = "node"` limit is admitted about twice (each node alone).
#   - One node killed mid-run: the survivor keeps limiting (it already has
#     the dead node's counts) and nothing crashes; a `partition = "share"`
#     limit then enforces 1/N on the survivor (1 of N configured alive).
#   - A ban issued on n1 refuses the client on n2 too; `hactl bans` and
#     `hactl ratelimit top` on n2 list it; `hactl ratelimit reset` on n2
#     lifts it on both nodes.
#   - A backend that n1 saw go down is down on n2 right after n2 restarts:
#     n2's proxyd restarts with checks every 60 s (its own verdict cannot
#     come within the test), so a "down" there can only be n1's
#     observation, relayed by the hacds; no request of n2's reaches it.
#   - TLS sessions: a ticket from n1's proxyd resumes on n2's (TLS 1.3 and
#     1.2), through a planned failover of the VIP, after the cluster's
#     ticket key rotated (ticket_rotate = 6s here), and right after a cold
#     start of both nodes (proxyd says ready only once it holds the
#     cluster's key).
# Admitted counts come from tests/tools/probe (one fresh connection per
# request, its "ok" is the 2xx count). No timing thresholds: bounds on
# waits are generous; the 5% is the issue's accuracy, not a speed.
#
# Run as root from the repository root (BUILD=dir for binaries elsewhere).
# Prints one line per case and "N passed, N failed".

export LAB_NODES=2
export LAB_PREFIX=${LAB_PREFIX:-tdmc}
: "${T_TIMEOUT:=300}"

CL_DIR=/tmp/${LAB_PREFIX}-conf
export HACD_CONF=$CL_DIR/hacd.conf
export PROXYD_CONF=$CL_DIR/proxyd.conf
SLOW_CONF=$CL_DIR/proxyd-slowchecks.conf

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

RATE=40              # the limits' rate per second
RUN_S=10
ROTATE_S=6           # hacd ticket_rotate here (lead: 3 s)
SYNC_S=10            # bound on a change reaching the other node (generous)

# ---- configuration, written before the lab starts --------------------------

write_confs() {
	local root=${T_ROOT:-$PWD}
	mkdir -p "$CL_DIR" && chmod 0755 "$CL_DIR" || return 1
	# hacd: etc/hacd.conf with a short ticket rotation (key_file stays
	# relative: scripts/lab keeps the key beside its copy).
	sed -e 's/^\([[:space:]]*ticket_rotate[[:space:]]*=\).*/\1 "'$ROTATE_S's";/' \
		"$root/etc/hacd.conf" >"$HACD_CONF" || return 1
	grep -q "ticket_rotate = \"${ROTATE_S}s\"" "$HACD_CONF" || { echo "no ticket_rotate line in etc/hacd.conf" >&2; return 1; }
	# A throwaway ECDSA P-256 certificate; the key 0600 (proxyd refuses
	# keys others can read; it reads them as root, then drops to its user).
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-subj /CN=tandem.test -addext subjectAltName=DNS:tandem.test \
		-keyout "$CL_DIR/tls.key" -out "$CL_DIR/tls.crt" >/dev/null 2>&1 || return 1
	chmod 0600 "$CL_DIR/tls.key"
	proxyd_conf 1s >"$PROXYD_CONF" && proxyd_conf 60s >"$SLOW_CONF" || return 1
	chmod 0644 "$PROXYD_CONF" "$SLOW_CONF"
}

# proxyd_conf CHECK_INTERVAL: the lab's three backends, HTTP and HTTPS
# listeners, and three limits of RATE/s on one key (the client address).
proxyd_conf() {
	cat <<EOF
threads = 2;
user = "tandem-proxyd";
log = { level = "info"; access = "off"; };
admin = { listen = "127.0.0.1:9901"; };
listeners = (
  { name = "http"; listen = "*:80"; },
  { name = "https"; listen = "*:443";
    tls = { certificates = ( { cert = "$CL_DIR/tls.crt"; key = "$CL_DIR/tls.key"; } ); }; }
);
upstreams = (
  { name = "app"; balance = "roundrobin"; retries = 1;
    check = { type = "http"; path = "/health"; interval = "$1"; timeout = "500ms"; rise = 2; fall = 3; };
    servers = (
      { name = "app1"; address = "10.99.0.21:8080"; },
      { name = "app2"; address = "10.99.0.22:8080"; },
      { name = "app3"; address = "10.99.0.23:8080"; }
    ); }
);
ratelimits = (
  { name = "cl"; key = "ip"; rate = $RATE; period = "1s"; scope = "cluster"; },
  { name = "nd"; key = "ip"; rate = $RATE; period = "1s"; scope = "node"; },
  { name = "sh"; key = "ip"; rate = $RATE; period = "1s"; scope = "cluster"; partition = "share"; },
  { name = "bn"; key = "ip"; rate = 2; period = "1s"; scope = "cluster";
    ban = { after = 1; within = "10s"; duration = "10m"; }; }
);
routes = (
  { name = "cl"; match = { path_prefix = "/cl/"; }; upstream = "app"; ratelimit = "cl"; },
  { name = "nd"; match = { path_prefix = "/nd/"; }; upstream = "app"; ratelimit = "nd"; },
  { name = "sh"; match = { path_prefix = "/sh/"; }; upstream = "app"; ratelimit = "sh"; },
  { name = "bn"; match = { path_prefix = "/bn/"; }; upstream = "app"; ratelimit = "bn"; },
  { name = "default"; upstream = "app"; }
);
EOF
}

# ---- helpers -----------------------------------------------------------------

counter() { t_counter "$1" "$2"; }

# metric NODE NAME{labels}: a value from NODE's proxyd /metrics, or empty.
metric() {
	ip netns exec "$(lab_ns "$1")" curl -s -m 3 http://127.0.0.1:9901/metrics 2>/dev/null |
		awk -v k="$2" '$1 == k { print $2; exit }'
}
metric_ge() { local v; v=$(metric "$1" "$2"); [[ -n $v ]] && ((${v%.*} >= $3)); }
metric_is() { [[ $(metric "$1" "$2") == "$3" ]]; }

restore() {
	local n
	lab_alive b3/backend || lab_start_backend b3
	t_daemons_up || return 1
	for n in n1 n2; do
		t_wait 10 t_both_alive "$n" || { t_fail "restore: hacd on $n does not see both nodes alive"; return 1; }
	done
	t_wait 15 lab_owner_is "$LAB_VIP_WEB" n1 || { t_fail "restore: web not on n1"; return 1; }
	t_wait 15 lab_owner_is "$LAB_VIP_WEB2" n2 || { t_fail "restore: web2 not on n2"; return 1; }
	# Both proxyds hear hacd's view (2 of 2 alive).
	for n in n1 n2; do
		t_wait 10 metric_is "$n" 'tandem_cluster_nodes{state="alive"}' 2 ||
			{ t_fail "restore: $n's proxyd does not see 2 nodes alive"; return 1; }
	done
}

# Sleep to just past the next whole second: windows start there.
align_second() {
	local ms
	ms=$(lab_now_ms)
	sleep "$(printf '0.%03d' $((1000 - ms % 1000 + 5 > 999 ? 999 : 1000 - ms % 1000 + 5)))"
	sleep 2   # and let the previous run's windows go idle first
	ms=$(lab_now_ms)
	sleep "0.$(printf '%03d' $(((1000 - ms % 1000 + 5) % 1000)))"
}

# probe_bg NAME URL SECONDS INTERVAL: a probe from the client, in the
# background (not in a subshell: the caller waits for it); PROBES collects
# the PIDs for probes_wait.
PROBES=()
probe_bg() {
	ip netns exec "$(lab_ns client)" "$BUILD/tests/tools/probe" -i "$4" -d "${3}s" -t 1s "$2" \
		>"$LAB_DIR/$1.probe" 2>&1 &
	PROBES+=($!)
}
probes_wait() {
	wait "${PROBES[@]}"
	PROBES=()
}
probe_field() { sed -n "s/.* $2=\([0-9]*\).*/\1/p; s/^$2=\([0-9]*\).*/\1/p" "$LAB_DIR/$1.probe" | head -n 1; }

# run_both PATH: 2 x RATE per second for RUN_S, half through each VIP,
# starting on a window boundary; prints the total admitted (2xx).
run_both() {
	local iv=$((2000 / (2 * RATE)))
	align_second
	probe_bg a "http://$LAB_VIP_WEB$1" $RUN_S ${iv}ms
	probe_bg b "http://$LAB_VIP_WEB2$1" $RUN_S ${iv}ms
	probes_wait
	echo $(($(probe_field a ok) + $(probe_field b ok)))
}

within_pct() {  # GOT WANT PCT
	local d=$(($1 - $2))
	((d < 0)) && d=$((-d))
	((d * 100 <= $2 * $3))
}

# ---- cases: rate limits ------------------------------------------------------

case_cluster_limit() {
	local got want=$((RATE * RUN_S))
	restore || return 1
	got=$(run_both /cl/x)
	t_log "scope cluster: admitted $got of $((2 * want)) sent, limit x time $want"
	within_pct "$got" "$want" 5 || { t_fail "admitted $got, want $want +-5%"; return 1; }
}

case_node_limit() {
	local got want=$((RATE * RUN_S))
	restore || return 1
	got=$(run_both /nd/x)
	t_log "scope node: admitted $got of $((2 * want)) sent, limit x time $want"
	((got * 10 >= want * 18)) || { t_fail "admitted $got: want about twice $want (each node its own limit)"; return 1; }
}

case_kill_midrun() {
	local got want=$((RATE * RUN_S)) iv=$((2000 / (2 * RATE)))
	restore || return 1
	align_second
	probe_bg a "http://$LAB_VIP_WEB/cl/x" $RUN_S ${iv}ms
	probe_bg b "http://$LAB_VIP_WEB2/cl/x" $RUN_S ${iv}ms
	sleep 4
	lab_kill n2/proxyd KILL
	lab_kill n2/hacd KILL
	probes_wait
	got=$(($(probe_field a ok) + $(probe_field b ok)))
	t_log "n2 killed at 4 s: admitted $got, limit x time $want"
	lab_alive n1/proxyd && lab_alive n1/hacd || { t_fail "n1's daemons died"; return 1; }
	lab_owner_is "$LAB_VIP_WEB2" n1 || { t_fail "web2 on '$(lab_owners "$LAB_VIP_WEB2")' after n2 died"; return 1; }
	((got * 100 <= want * 105)) || { t_fail "admitted $got: the survivor stopped limiting (want <= $want +5%)"; return 1; }
	((got * 100 >= want * 70)) || { t_fail "admitted only $got (want about $want)"; return 1; }
}

# Right after case_kill_midrun (n2 still down): n1 sees 1 of the N nodes
# its hacd.conf names (etc/hacd.conf names three; the lab runs two), so a
# partition = "share" limit admits 1/N of its rate there, where a "full"
# one (case_kill_midrun) kept all of it.
case_partition_share() {
	local got nodes want iv=$((1000 / RATE))
	lab_alive n2/hacd && { t_fail "precondition: n2's hacd is running"; return 1; }
	t_wait 10 metric_is n1 'tandem_cluster_nodes{state="alive"}' 1 ||
		{ t_fail "n1's proxyd does not see 1 node alive"; return 1; }
	nodes=$(metric n1 'tandem_cluster_nodes{state="configured"}')
	[[ $nodes =~ ^[0-9]+$ ]] && ((nodes >= 2)) || { t_fail "configured nodes: '$nodes'"; return 1; }
	want=$((RATE * 5 / nodes))
	align_second
	probe_bg s "http://$LAB_VIP_WEB/sh/x" 5 ${iv}ms
	probes_wait
	got=$(probe_field s ok)
	t_log "partition share, 1 of $nodes alive: admitted $got at $RATE/s for 5 s, 1/$nodes of the limit: $want"
	within_pct "$got" "$want" 10 || { t_fail "admitted $got, want $want +-10% (1/$nodes of the limit)"; return 1; }
}

# ---- case: bans are cluster-wide; hactl bans, ratelimit top, reset --------------

# ban_listed / top_listed NODE: the client's key is in NODE's `hactl bans`
# / `hactl ratelimit top` for limit bn (hactl fails when the store holds
# nothing of bn: not listed).
ban_listed() {
	local out
	out=$(lab_hactl "$1" bans --limit bn --json 2>/dev/null) || return 1
	t_jq --arg k "ip:$(lab_ip client)" '.bans | map(select(.key == $k)) | length > 0' <<<"$out" >/dev/null
}
top_listed() {
	local out
	out=$(lab_hactl "$1" ratelimit top --limit bn --json 2>/dev/null) || return 1
	t_jq --arg k "ip:$(lab_ip client)" '.top | map(select(.key == $k)) | length > 0' <<<"$out" >/dev/null
}
vip_ok() { t_http_ok client "http://$1/bn/x"; }

case_ban_and_reset() {
	local i
	restore || return 1
	# 2 per second, banned at the first refusal: five at once through n1.
	for ((i = 0; i < 5; i++)); do t_http client "http://$LAB_VIP_WEB/bn/x" >/dev/null; done
	! vip_ok "$LAB_VIP_WEB" || { t_fail "not refused on n1 after 5 requests"; return 1; }
	t_wait $SYNC_S ban_listed n2 || { t_fail "hactl bans on n2 does not list n1's ban"; return 1; }
	t_wait $SYNC_S top_listed n2 || { t_fail "hactl ratelimit top on n2 does not list the key"; return 1; }
	! vip_ok "$LAB_VIP_WEB2" || { t_fail "n2 admitted a client banned on n1"; return 1; }
	# The ban lasts 10 minutes; only the reset (on the other node) lifts it.
	lab_hactl n2 ratelimit reset bn "ip:$(lab_ip client)" >/dev/null ||
		{ t_fail "hactl ratelimit reset on n2 failed"; return 1; }
	t_wait $SYNC_S vip_ok "$LAB_VIP_WEB" || { t_fail "still refused on n1 after the reset on n2"; return 1; }
	vip_ok "$LAB_VIP_WEB2" || { t_fail "still refused on n2 after its own reset"; return 1; }
	! ban_listed n1 || { t_fail "hactl bans on n1 still lists the ban: $(lab_hactl n1 bans --json 2>&1)"; return 1; }
	[[ $(counter n1 reset-rx) -ge 1 ]] || { t_fail "n1 counted no reset datagram"; return 1; }
}

# ---- case: health seen by a peer -----------------------------------------------

backends_seen() { t_backends_seen "$@"; }

case_health_after_restart() {
	local seen rc=0
	restore || return 1
	lab_kill b3/backend KILL
	t_wait 20 metric_is n1 'tandem_server_up{upstream="app",server="app3"}' 0 ||
		{ t_fail "n1 never saw app3 down"; rc=1; }
	if ((rc == 0)); then
		lab_kill n2/proxyd KILL
		lab_kill n2/hacd KILL
		lab_start_hacd n2
		PROXYD_CONF=$SLOW_CONF lab_start_proxyd n2
		lab_wait_proxyd n2 10 || { t_fail "proxyd on n2 did not restart"; rc=1; }
	fi
	if ((rc == 0)); then
		t_wait $SYNC_S metric_is n2 'tandem_server_up{upstream="app",server="app3"}' 0 ||
			{ t_fail "restarted n2 treats app3 as up (checks every 60 s: only n1's view can say down)"; rc=1; }
	fi
	if ((rc == 0)); then
		grep -q 'server app3: .*as a peer saw it' "$(lab_node_dir n2)/proxyd.log" ||
			{ t_fail "n2's log does not say it used a peer's view"; rc=1; }
		seen=$(backends_seen n2 12)
		[[ -n $seen ]] || { t_fail "no answer from n2's proxyd"; rc=1; }
		! grep -qx b3 <<<"$seen" || { t_fail "n2 sent a request to app3"; rc=1; }
	fi
	# Back to the normal configuration for the cases after this one.
	lab_kill n2/proxyd TERM
	lab_start_backend b3
	return $rc
}

# ---- cases: TLS session resumption across nodes ----------------------------------

# tls_req HOST_OR_IP ARGS...: one request through s_client from the client
# (SNI tandem.test); the exchange gives TLS 1.3 time to deliver its ticket.
tls_req() {
	local addr=$1
	shift
	{ printf 'GET / HTTP/1.1\r\nHost: tandem.test\r\nConnection: close\r\n\r\n'; sleep 1; } |
		ip netns exec "$(lab_ns client)" timeout 10 openssl s_client -connect "$addr:443" \
		-servername tandem.test "$@" 2>&1
}
reused() { tls_req "$@" | grep -m1 -oE '^(New|Reused)'; }

keys_arrived() {
	metric_ge n1 'tandem_cluster_rx_entries_total{kind="ticket",result="merged"}' 1 &&
		metric_ge n2 'tandem_cluster_rx_entries_total{kind="ticket",result="merged"}' 1
}

case_tickets_cross_node() {
	local v r
	restore || return 1
	t_wait $SYNC_S keys_arrived || { t_fail "the cluster's ticket key did not reach both proxyds"; return 1; }
	for v in tls1_3 tls1_2; do
		tls_req "$(lab_ip n1)" "-$v" -sess_out "$LAB_DIR/sess-$v.pem" >/dev/null
		[[ -s $LAB_DIR/sess-$v.pem ]] || { t_fail "$v: no session from n1"; return 1; }
		r=$(reused "$(lab_ip n2)" "-$v" -sess_in "$LAB_DIR/sess-$v.pem")
		[[ $r == Reused ]] || { t_fail "$v: n1's session on n2 gave '$r', want Reused"; return 1; }
		r=$(reused "$(lab_ip n1)" "-$v" -sess_in "$LAB_DIR/sess-$v.pem")
		[[ $r == Reused ]] || { t_fail "$v: n1's session back on n1 gave '$r'"; return 1; }
	done
}

case_tickets_failover() {
	local v r rc=0
	restore || return 1
	t_wait $SYNC_S keys_arrived || { t_fail "the cluster's ticket key did not reach both proxyds"; return 1; }
	for v in tls1_3 tls1_2; do
		tls_req "$LAB_VIP_WEB" "-$v" -sess_out "$LAB_DIR/fo-$v.pem" >/dev/null
	done
	lab_hactl n1 failover web --to n2 >/dev/null 2>&1 || { t_fail "hactl failover web --to n2 failed"; return 1; }
	lab_wait_owner "$LAB_VIP_WEB" n2 10 || { t_fail "web did not move to n2"; return 1; }
	for v in tls1_3 tls1_2; do
		r=$(reused "$LAB_VIP_WEB" "-$v" -sess_in "$LAB_DIR/fo-$v.pem")
		[[ $r == Reused ]] || { t_fail "$v: after the failover the VIP gave '$r', want Reused"; rc=1; break; }
	done
	lab_hactl n2 failover web --to n1 >/dev/null 2>&1
	lab_wait_owner "$LAB_VIP_WEB" n1 10 || { t_fail "web did not come back to n1"; return 1; }
	return $rc
}

case_tickets_rotation() {
	local v r made
	restore || return 1
	t_wait $SYNC_S keys_arrived || { t_fail "the cluster's ticket key did not reach both proxyds"; return 1; }
	for v in tls1_3 tls1_2; do
		tls_req "$(lab_ip n1)" "-$v" -sess_out "$LAB_DIR/rot-$v.pem" >/dev/null
	done
	# The next key is made a lead (3 s) before it seals: wait for it to be
	# made and then to have taken over on n2, then resume there.
	made=$(counter n1 tickets-made)
	t_wait $((ROTATE_S * 2)) counter_above n1 tickets-made "$made" ||
		{ t_fail "no new ticket key within two rotation periods"; return 1; }
	sleep $((ROTATE_S / 2 + 1))
	for v in tls1_3 tls1_2; do
		r=$(reused "$(lab_ip n2)" "-$v" -sess_in "$LAB_DIR/rot-$v.pem")
		[[ $r == Reused ]] || { t_fail "$v: after a rotation n1's session on n2 gave '$r', want Reused"; return 1; }
	done
	metric_ge n2 'tandem_tls_tickets_total{outcome="renewed"}' 1 ||
		{ t_fail "n2 never renewed a ticket under an older key: was there a rotation?"; return 1; }
}
counter_above() { local v; v=$(counter "$1" "$2"); [[ $v =~ ^[0-9]+$ ]] && ((v > $3)); }

# ready_in_cluster NODE: NODE's proxyd says ready on /readyz and has heard
# hacd's view (so it is a clustered proxyd that decided it is ready).
ready_in_cluster() {
	[[ $(ip netns exec "$(lab_ns "$1")" curl -s -m 3 -o /dev/null -w '%{http_code}' \
		http://127.0.0.1:9901/readyz 2>/dev/null) == 200 ]] &&
		metric_ge "$1" 'tandem_cluster_nodes{state="configured"}' 1
}

# Cold start of the whole cluster: no ticket key exists anywhere until one
# hacd makes the first (after its peers' bulk or a 3 s grace). A proxyd
# that said ready before then would seal its first tickets under a key of
# its own, and they would resume on that node only. So: the moment n1's
# proxyd says ready, a session made there must resume on n2.
case_tickets_cold_start() {
	local v n r rc=0
	restore || return 1
	for n in n1 n2; do
		lab_kill "$n/proxyd" KILL
		lab_kill "$n/hacd" KILL
	done
	for n in n1 n2; do
		lab_start_hacd "$n"
	done
	for n in n1 n2; do
		lab_wait_hacd "$n" 10 || { t_fail "hacd on $n did not restart"; return 1; }
		lab_start_proxyd "$n"
	done
	t_wait 20 ready_in_cluster n1 || { t_fail "n1's proxyd never said ready"; return 1; }
	for v in tls1_3 tls1_2; do
		tls_req "$(lab_ip n1)" "-$v" -sess_out "$LAB_DIR/cold-$v.pem" >/dev/null
		[[ -s $LAB_DIR/cold-$v.pem ]] || { t_fail "$v: no session from n1"; return 1; }
	done
	t_wait 20 ready_in_cluster n2 || { t_fail "n2's proxyd never said ready"; return 1; }
	for v in tls1_3 tls1_2; do
		r=$(reused "$(lab_ip n2)" "-$v" -sess_in "$LAB_DIR/cold-$v.pem")
		[[ $r == Reused ]] || { t_fail "$v: a session from n1 right after a cold start gave '$r' on n2"; rc=1; break; }
	done
	((rc == 0)) && ! metric_ge n1 'tandem_cluster_ticket_wait_total{result="key"}' 1 &&
		{ t_fail "n1's proxyd did not wait for the cluster's key"; rc=1; }
	return $rc
}

# Last, after the traffic above (rate limits, bans, TLS tickets, the
# cluster's replicated state): promtool finds nothing to say about either
# daemon's /metrics on either node, and each hacd counted syncs both ways.
case_metrics_lint() {
	local n v
	restore || return 1
	for n in n1 n2; do
		t_promtool_lint "$n" 9901 proxyd && t_promtool_lint "$n" 9902 hacd || return 1
		v=$(t_scrape "$n" 9902 | awk '$1 == "tandem_hacd_replication_datagrams_total{dir=\"rx\"}" { print $2 }')
		[[ -n $v ]] && ((v > 0)) || { t_fail "hacd on $n: replication_datagrams_total{rx} is '$v'"; return 1; }
		# The rate-limit families were in what promtool read.
		[[ -n $(metric "$n" 'tandem_ratelimit_requests_total{limit="cl",verdict="limited"}') ]] ||
			{ t_fail "proxyd on $n: no tandem_ratelimit_requests_total in /metrics"; return 1; }
	done
}

# ---- run -----------------------------------------------------------------------

write_confs || { echo "test_cluster: cannot write the configuration" >&2; exit 1; }
t_begin "$@"

t_case "scope cluster: 2x the limit through both VIPs, total within 5% of the limit" case_cluster_limit
t_case "scope node: the same traffic admitted about twice" case_node_limit
t_case "a node killed mid-run: the survivor keeps limiting, nothing crashes" case_kill_midrun
t_case "partition = share: 1 of N nodes alive enforces 1/N of the limit" case_partition_share
t_case "a ban on n1 holds on n2; hactl bans, ratelimit top; reset on n2 lifts it" case_ban_and_reset
t_case "a backend down on n1 is down on n2 right after n2 restarts" case_health_after_restart
t_case "a TLS session from n1 resumes on n2 (1.3 and 1.2)" case_tickets_cross_node
t_case "cold start: proxyd ready only with the cluster's ticket key; n1's session resumes on n2" case_tickets_cold_start
t_case "a TLS session resumes through the VIP after a planned failover" case_tickets_failover
t_case "a TLS session resumes on the other node after a key rotation" case_tickets_rotation
t_case "after all that traffic both daemons' /metrics pass promtool; hacd counted the replication" case_metrics_lint
t_end
