#!/usr/bin/env bash
# Runs alone in tests/run (not marked parallel-safe). It was marked so on 2026-12-07,
# then its stale-key refresh case failed twice in clean-clone CI runs, once beside
# another suite and once alone (sanitized): a timing fault of the case itself, its
# max-age=1 keys (see case_stale_prefetch), since fixed. Left running alone until
# more runs beside other suites pass.
# tests/integration/test_cache_cluster.sh — the cache's cluster view:
# `hactl cache stats` and the warm standby (docs/cache.md).
#
# In the lab (scripts/lab, LAB_PREFIX=tdmw), two nodes; each node's proxyd
# caches /c/ from its own counting origin (tests/tools/cache_origin.py on
# 127.0.0.1 inside the node's namespace), so an origin's count says what
# that node's cache, or its prefetch, did.
#   - Hits on n1 show in n2's `hactl cache stats` (n1's row), and the
#     cluster total adds both nodes.
#   - Keys hot on n1 (asked for twice: the SLRU's protected segment) are
#     fetched by n2 from n2's origin without a client asking n2 (its
#     origin counts 1 each), and a client on n2 then gets them from its
#     cache (the count stays 1); a key asked for once on n1 is not hot and
#     n2 does not fetch it.
#   - Prefetches are internal exchanges, not requests to a listener: with
#     only a TLS listener on each node, https keys hot on n1 are fetched
#     by n2 and then served to an https client from n2's cache; with a
#     listener that denies 127.0.0.1 (clients on the nodes' own
#     addresses), prefetching goes on, and n2's access log has no line
#     for a prefetch.
#   - With n2's origin stopped (SIGSTOP: connections open, nothing
#     answered), n2's prefetch is aborted at its 10 s deadline (counted
#     failed), each key asked for once though every digest names it, and
#     n2 goes on serving; a prefetch still hanging when n2's
#     proxyd stops is aborted with it (the sanitized build's check at the
#     end sees that teardown of an exchange without a connection).
#   - With n2's origin down, n2's prefetch of a key hot on n1 counts an
#     origin error and pauses that cache's prefetching (logged).
#   - An attacker on the segment (tests/tools/hb_forge, no cluster key): a
#     digest sealed with a key of its own, spoofing n1 and naming a URL, is
#     dropped and counted (drop-auth-failed) and n2 does not fetch the URL.
#   - Genuine digest and summary datagrams, recorded on n1's switch port
#     while a key turns hot on n1 (hb_forge capture), replayed from n1's
#     address once n2's cache no longer holds the key and n1 sends no
#     digest: each dropped and counted (drop-replay), no digest or summary
#     taken, the key not fetched; again after n2's hacd restarted.
#   - A key n2 holds stale and n1 names: with n2's origin down, the prefetch
#     is answered with the stale copy (stale-if-error), which counts an
#     origin error and pauses (logged); with it up, the prefetch refreshes
#     it (counted stored, no origin error).
#
# Run as root from the repository root. Prints one line per case and
# "N passed, N failed".

export LAB_NODES=2
export LAB_PREFIX=${LAB_PREFIX:-tdmw}
: "${T_TIMEOUT:=120}"

PG_DIR=/tmp/${LAB_PREFIX}-conf
export PROXYD_CONF=$PG_DIR/proxyd.conf
ORIGIN_PORT=23180
HB_PORT=7007
WAIT_S=15            # bound on a digest reaching the other node and its keys being fetched (generous)

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=cache_lab.sh
. "$(dirname "$0")/cache_lab.sh"

write_conf() { cache_lab_conf 'size = "8m"; prefetch_rate = 50;'; }

TLS_DIR=/tmp/${LAB_PREFIX}-cctls
ALT_CONF=$PG_DIR/proxyd-alt.conf

# alt_conf AWK_LISTENERS: $PROXYD_CONF with its listeners line replaced by
# what awk prints for it, into $ALT_CONF (checked with proxyd -t).
alt_conf() {
	awk -v l="$1" '/^listeners = / { print l; next } { print }' "$PROXYD_CONF" >"$ALT_CONF" || return 1
	chmod 0644 "$ALT_CONF"
	"$BUILD/proxyd" -t -c "$ALT_CONF" >&2
}
# restart_proxyd CONF PORT: both nodes' proxyd restarted on CONF, waited
# for on PORT (a fresh, empty cache each).
restart_proxyd() {
	local n
	for n in n1 n2; do
		lab_kill "$n/proxyd" TERM
		PROXYD_CONF=$1 lab_start_proxyd "$n"
	done
	for n in n1 n2; do
		t_wait 10 lab_listening "$n" "$2" || { t_fail "proxyd on $n does not listen on $2"; return 1; }
	done
}
# five_prefetched DIR: /c/DIR/0..4 reached n2's origin once each.
five_prefetched() {
	local i t
	for ((i = 0; i < 5; i++)); do
		t="/c/$1/$i?cc=max-age%3D600"
		t_wait $WAIT_S is_count n2 "$t" 1 ||
			{ t_fail "n2 did not prefetch /c/$1/$i: its origin saw $(count n2 "$t")"; return 1; }
	done
}
# back_to_plain: both nodes' proxyd on the test's own configuration again.
back_to_plain() { restart_proxyd "$PROXYD_CONF" 80; }
# sget NODE TARGET: one https request through NODE's proxyd (Host 127.0.0.1).
sget() { ip netns exec "$(lab_ns "$1")" curl -sk -o /dev/null --max-time 5 "https://127.0.0.1$2"; }
# sget_status NODE TARGET: its Cache-Status field.
sget_cs() {
	ip netns exec "$(lab_ns "$1")" curl -sk -o /dev/null -D - --max-time 5 "https://127.0.0.1$2" |
		tr -d '\r' | sed -n 's/^[Cc]ache-[Ss]tatus: //p'
}

is_count() { [[ $(count "$1" "$2") == "$3" ]]; }
# prom NODE SERIES: the value of one series of NODE's proxyd /metrics, or 0.
prom() { t_scrape "$1" 9901 | awk -v s="$2" '$1 == s { v = $2 } END { print v + 0 }'; }
prom_above() { local v; v=$(prom "$1" "$2"); ((${v%.*} > $3)); }
# stat NODE ASKED JQ: from ASKED's `hactl cache stats --json`, NODE's cache main, field JQ.
stat() {
	lab_hactl "$2" cache stats --json 2>/dev/null |
		jq -r --arg n "$1" --arg f "$3" '.nodes[] | select(.node == $n) | .caches[] | select(.name == "main") | .[$f]' 2>/dev/null
}
stat_at_least() { local v; v=$(stat "$1" "$2" "$3"); [[ $v =~ ^[0-9]+$ ]] && ((v >= $4)); }

case_stats() {
	local t='/c/st?cc=max-age%3D600' h0 i tot
	setup || return 1
	get n1 "$t"
	t_wait $WAIT_S stat_at_least n1 n2 objects 1 || { t_fail "n2's hactl cache stats shows no object on n1"; return 1; }
	h0=$(stat n1 n2 hits)
	for ((i = 0; i < 20; i++)); do get n1 "$t"; done
	t_wait $WAIT_S stat_at_least n1 n2 hits $((h0 + 20)) ||
		{ t_fail "n2's hactl cache stats: n1's hits $(stat n1 n2 hits), want at least $((h0 + 20))"; return 1; }
	lab_hactl n2 cache stats | grep -q '^cluster' || { t_fail "hactl cache stats prints no cluster total"; return 1; }
	tot=$(lab_hactl n2 cache stats --json | jq -r '.total.hits')
	((tot >= $(stat n1 n2 hits) + $(stat n2 n2 hits))) || { t_fail "cluster total hits $tot is not the nodes' sum"; return 1; }
	t_log "$(lab_hactl n2 cache stats)"
}

case_prefetch() {
	local i t s0 one='/c/once?cc=max-age%3D600'
	setup || return 1
	s0=$(prom n2 'tandem_cache_prefetches_total{result="stored"}')
	for ((i = 0; i < 10; i++)); do
		t="/c/hot/$i?cc=max-age%3D600"
		get n1 "$t"; get n1 "$t"          # stored, then hit: hot
	done
	get n1 "$one"                          # stored, never hit: not hot
	for ((i = 0; i < 10; i++)); do
		t_wait $WAIT_S is_count n2 "/c/hot/$i?cc=max-age%3D600" 1 ||
			{ t_fail "n2 did not prefetch /c/hot/$i: its origin saw $(count n2 "/c/hot/$i?cc=max-age%3D600")"; return 1; }
	done
	prom_above n2 'tandem_cache_prefetches_total{result="stored"}' "${s0%.*}" ||
		{ t_fail "prefetches_total{stored} did not move on n2"; return 1; }
	for ((i = 0; i < 10; i++)); do
		get n2 "/c/hot/$i?cc=max-age%3D600"
		is_count n2 "/c/hot/$i?cc=max-age%3D600" 1 || { t_fail "n2 went to its origin for prefetched /c/hot/$i"; return 1; }
	done
	[[ $(count n2 "$one") == 0 ]] || { t_fail "n2 fetched a key n1 asked for once: origin saw $(count n2 "$one")"; return 1; }
	t_wait 5 stat_at_least n2 n1 prefetched 10 || { t_fail "n1's hactl cache stats: n2 prefetched $(stat n2 n1 prefetched)"; return 1; }
	t_log "n2 prefetched $(stat n2 n1 prefetched) objects; hacd n1 digest-tx $(t_counter n1 cache-digest-tx), n2 digest-rx $(t_counter n2 cache-digest-rx)"
}

case_tls_only() {
	local i t s0 rc=0
	setup || return 1
	rm -rf "$TLS_DIR" && mkdir -p "$TLS_DIR" || return 1
	sh "$T_ROOT/tests/tools/mkcerts.sh" "$TLS_DIR" >/dev/null || { t_fail "mkcerts failed"; return 1; }
	chown -R tandem-proxyd "$TLS_DIR" && chmod 0755 "$TLS_DIR" || return 1
	alt_conf "listeners = ( { name = \"https\"; listen = \"*:443\"; tls = { certificates = ( { cert = \"$TLS_DIR/a-ecdsa.crt\"; key = \"$TLS_DIR/a-ecdsa.key\"; } ); }; } );" ||
		{ t_fail "cannot write the TLS-only configuration"; return 1; }
	restart_proxyd "$ALT_CONF" 443 || { back_to_plain; return 1; }
	lab_listening n2 80 && { t_fail "n2's proxyd listens on 80 with a TLS-only configuration"; rc=1; }
	s0=$(prom n2 'tandem_cache_prefetches_total{result="stored"}')
	for ((i = 0; rc == 0 && i < 5; i++)); do
		t="/c/tls/$i?cc=max-age%3D600"
		sget n1 "$t"; sget n1 "$t"
	done
	((rc == 0)) && { five_prefetched tls || rc=1; }
	if ((rc == 0)); then
		prom_above n2 'tandem_cache_prefetches_total{result="stored"}' "${s0%.*}" ||
			{ t_fail "prefetches_total{stored} did not move on n2"; rc=1; }
	fi
	for ((i = 0; rc == 0 && i < 5; i++)); do
		t="/c/tls/$i?cc=max-age%3D600"
		[[ $(sget_cs n2 "$t") == *hit* ]] || { t_fail "n2 did not answer prefetched https /c/tls/$i from its cache"; rc=1; }
		is_count n2 "$t" 1 || { t_fail "n2 went to its origin for prefetched https /c/tls/$i"; rc=1; }
	done
	back_to_plain || rc=1
	rm -rf "$TLS_DIR"
	return $rc
}

case_deny_loopback() {
	local i t ip1 ip2 rc=0 log2
	setup || return 1
	ip1=$(lab_ip n1)
	ip2=$(lab_ip n2)
	sed -e '/^log = /s/access = "off"/access = "stderr"/' "$PROXYD_CONF" >"$ALT_CONF.log" || return 1
	PROXYD_CONF=$ALT_CONF.log alt_conf 'listeners = ( { name = "http"; listen = "*:80"; deny = ( "127.0.0.1/32" ); } );' ||
		{ t_fail "cannot write the deny configuration"; return 1; }
	rm -f "$ALT_CONF.log"
	grep -q 'access = "stderr"' "$ALT_CONF" || { t_fail "the deny configuration has no access log"; return 1; }
	restart_proxyd "$ALT_CONF" 80 || { back_to_plain; return 1; }
	log2=$(lab_node_dir n2)/proxyd.log
	# The deny list is in force: a client on 127.0.0.1 gets nothing.
	if ip netns exec "$(lab_ns n2)" curl -sf -o /dev/null --max-time 3 "http://127.0.0.1/c/denied"; then
		t_fail "n2's listener answered 127.0.0.1 despite its deny list"; rc=1
	fi
	for ((i = 0; rc == 0 && i < 5; i++)); do
		t="/c/deny/$i?cc=max-age%3D600"
		ip netns exec "$(lab_ns n1)" curl -s -o /dev/null --max-time 5 "http://$ip1$t"
		ip netns exec "$(lab_ns n1)" curl -s -o /dev/null --max-time 5 "http://$ip1$t"
	done
	((rc == 0)) && { five_prefetched deny || rc=1; }
	for ((i = 0; rc == 0 && i < 5; i++)); do
		t="/c/deny/$i?cc=max-age%3D600"
		# The key's host is n1's address: a client names it.
		ip netns exec "$(lab_ns n2)" curl -s -o /dev/null --max-time 5 -H "Host: $ip1" "http://$ip2$t"
		is_count n2 "$t" 1 || { t_fail "n2 went to its origin for prefetched /c/deny/$i"; rc=1; }
	done
	# Access log lines are written in batches (a worker's 200 ms timer,
	# proxyd/accesslog.c): the client's lines, asked for after the
	# prefetches ended, show once those batches are out.
	if ((rc == 0)) && ! t_wait 5 grep -q "\"GET /c/deny/0?cc=max-age%3D600 HTTP/1.1\" 200" "$log2"; then
		t_fail "n2's access log has no line for the client's request"; rc=1
	fi
	if ((rc == 0)) && grep -v 'curl/' "$log2" | grep -q '/c/deny/'; then
		t_fail "n2's access log has a line for a prefetch: $(grep -v 'curl/' "$log2" | grep -m1 '/c/deny/')"; rc=1
	fi
	back_to_plain || rc=1
	return $rc
}

# origin_conns NODE: established connections to NODE's origin.
origin_conns() {
	ip netns exec "$(lab_ns "$1")" ss -Htn state established "( dport = :$ORIGIN_PORT )" 2>/dev/null | wc -l
}
origin_busy() { (($(origin_conns "$1") > 0)); }

case_origin_hangs() {
	local t='/c/hang?cc=max-age%3D600' t2='/c/hang2?cc=max-age%3D600' f0 opid rc=0
	setup || return 1
	# n2's proxyd fresh: no pooled connection to its origin yet.
	restart_proxyd "$PROXYD_CONF" 80 || return 1
	f0=$(prom n2 'tandem_cache_prefetches_total{result="failed"}')
	opid=$(lab_pid n2/origin)
	[[ -n $opid ]] || { t_fail "no origin on n2"; return 1; }
	kill -STOP "$opid"
	get n1 "$t"; get n1 "$t"
	# The deadline is 10 s after the hand-off; the digest takes a second or two.
	t_wait 30 prom_above n2 'tandem_cache_prefetches_total{result="failed"}' "${f0%.*}" ||
		{ t_fail "n2's hanging prefetch was not counted failed"; rc=1; }
	if ((rc == 0)); then
		get n1 "$t2"; get n1 "$t2"
		# Its request is open on n2's (stopped) origin, then n2's proxyd stops.
		t_wait $WAIT_S origin_busy n2 || { t_fail "n2's second prefetch never reached its origin"; rc=1; }
	fi
	# Stopped with that request in flight; the origin resumes after.
	((rc == 0)) && { restart_proxyd "$PROXYD_CONF" 80 || rc=1; }
	kill -CONT "$opid"
	if ((rc == 0)) && ! grep -q "stopping: 1 prefetch in flight aborted" "$(lab_node_dir n2)/proxyd.log"; then
		t_fail "n2's proxyd did not abort the prefetch in flight when it stopped"; rc=1
	fi
	# What the stopped origin had been asked comes in now: each key once,
	# though every digest named it while it was being fetched.
	if ((rc == 0)); then
		t_wait 10 is_count n2 "$t2" 1 || { t_fail "n2's origin saw /c/hang2 $(count n2 "$t2") times, want 1"; rc=1; }
		is_count n2 "$t" 1 || { t_fail "n2's origin saw /c/hang $(count n2 "$t") times, want 1"; rc=1; }
	fi
	if ((rc == 0)); then
		get n2 '/c/after?cc=max-age%3D600'
		is_count n2 '/c/after?cc=max-age%3D600' 1 || { t_fail "n2 does not serve after the aborted prefetches"; rc=1; }
	fi
	return $rc
}

# get_cs NODE TARGET: the Cache-Status field of one request through NODE's proxyd.
get_cs() {
	ip netns exec "$(lab_ns "$1")" curl -s -o /dev/null -D - --max-time 5 "http://127.0.0.1$2" |
		tr -d '\r' | sed -n 's/^[Cc]ache-[Ss]tatus: //p'
}
count_at_least() { local v; v=$(count "$1" "$2"); [[ $v =~ ^[0-9]+$ ]] && ((v >= $3)); }
# pf_results NODE: its prefetch results that are not 0 (" stored=2 fresh=1").
pf_results() { t_scrape "$1" 9901 | sed -n 's/^tandem_cache_prefetches_total{result="\([a-z-]*\)"} \([1-9][0-9]*\)$/ \1=\2/p' | tr -d '\n'; }
# pf_diag: what n2 made of n1's digests, for the log and failure messages.
pf_diag() {
	printf "n2's prefetches:%s; digests n1 sent %s, n2 received %s" "$(pf_results n2)" \
		"$(prom n1 'tandem_cache_digests_total{direction="sent"}')" "$(prom n2 'tandem_cache_digests_total{direction="received"}')"
}

# A key n2 holds stale and n1 names as hot. With n2's origin down, the
# prefetch is answered with the stale copy (stale-if-error, RFC 5861 §4):
# the origin failing all the same, so counted an origin error and the
# cache's prefetching paused. With n2's origin up, the prefetch refreshes
# it: stored, and no pause (a stale key the origin answered afresh is not
# the origin failing). Either judgement wrong shows here: the first as
# "not-stored", the second as an origin error. Run last among the
# prefetching cases: n1 goes on naming both keys, each stale on n2 a few
# seconds after it is fetched, so they are fetched again and again.
# max-age=3, not 1: the cache counts ages in whole seconds (RFC 9111
# §1.2.2; proxyd/cache.c wall_now()), so a max-age=1 copy is fresh only
# until the next second boundary. n1's second request then found its
# copy stale often enough (2 runs in about 12, the CI's among them): it
# refetched, the new copy went to probation, and n1's digest named
# nothing for n2 to refresh. A copy fresh for 2-3 s outlives n1's two
# requests and is stale on n2 after STALE_S.
STALE_S=3.2
case_stale_prefetch() {
	local er='/c/sp/err?cc=max-age%3D3%2C%20stale-if-error%3D600' fr='/c/sp/fresh?cc=max-age%3D3' e0 s0 cs
	setup || return 1
	e0=$(prom n2 'tandem_cache_prefetches_total{result="origin-error"}')
	get n2 "$er"
	sleep $STALE_S   # stale on n2 (max-age=3)
	lab_kill n2/origin TERM
	t_wait 5 eval '! lab_listening n2 '"$ORIGIN_PORT" || { t_fail "n2's origin did not stop"; return 1; }
	get n1 "$er"; get n1 "$er"
	t_wait $WAIT_S prom_above n2 'tandem_cache_prefetches_total{result="origin-error"}' "${e0%.*}" ||
		{ t_fail "n2's prefetch answered with a stale copy was not counted an origin error"; return 1; }
	# The copy was there to be served (nothing can have stored it since).
	cs=$(get_cs n2 "$er")
	[[ $cs == *detail=stale-if-error* ]] || { t_fail "n2 holds no stale copy of $er to serve (Cache-Status: $cs)"; return 1; }
	grep -q "the origin failed for http://127.0.0.1/c/sp/err" "$(lab_node_dir n2)/proxyd.log" ||
		{ t_fail "n2's proxyd did not log the pause"; return 1; }
	origin_start n2
	t_wait 10 lab_listening n2 "$ORIGIN_PORT" || { t_fail "origin on n2 did not restart"; return 1; }
	# A new proxyd on n2: the pause over, its counters from 0.
	lab_kill n2/proxyd TERM
	lab_start_proxyd n2
	t_wait 10 lab_listening n2 80 || { t_fail "proxyd on n2 did not restart"; return 1; }
	get n2 "$fr"
	sleep $STALE_S
	s0=$(prom n2 'tandem_cache_prefetches_total{result="stored"}')
	get n1 "$fr"; get n1 "$fr"
	t_wait $WAIT_S count_at_least n2 "$fr" 2 ||
		{ t_fail "n2 did not refresh stale $fr: its origin saw $(count n2 "$fr"); $(pf_diag)"; return 1; }
	t_wait 5 prom_above n2 'tandem_cache_prefetches_total{result="stored"}' "${s0%.*}" ||
		{ t_fail "n2's refresh of a stale key was not counted stored"; return 1; }
	[[ $(prom n2 'tandem_cache_prefetches_total{result="origin-error"}') == 0 ]] ||
		{ t_fail "n2 counted an origin error with its origin up"; return 1; }
	t_log "refresh: $(pf_diag)"
}

case_origin_down() {
	local t='/c/down?cc=max-age%3D600' e0
	setup || return 1
	e0=$(prom n2 'tandem_cache_prefetches_total{result="origin-error"}')
	lab_kill n2/origin TERM
	t_wait 5 eval '! lab_listening n2 '"$ORIGIN_PORT" || { t_fail "n2's origin did not stop"; return 1; }
	get n1 "$t"; get n1 "$t"
	t_wait $WAIT_S prom_above n2 'tandem_cache_prefetches_total{result="origin-error"}' "${e0%.*}" ||
		{ t_fail "n2 did not count an origin error for a prefetch"; return 1; }
	grep -q "prefetch: cache main: the origin failed for http://127.0.0.1/c/down" "$(lab_node_dir n2)/proxyd.log" ||
		{ t_fail "n2's proxyd did not log the pause"; return 1; }
	origin_start n2
	t_wait 10 lab_listening n2 "$ORIGIN_PORT" || { t_fail "origin on n2 did not restart"; return 1; }
}

case_attack() {
	local forge=$BUILD/tests/tools/hb_forge evil key t='/c/evil?cc=max-age%3D600' n1a n2a a0 rx
	[[ -x $forge ]] || { t_fail "missing $forge"; return 1; }
	setup || return 1
	evil=$(lab_ns evil)
	if ! ip netns list | awk '{print $1}' | grep -qx "$evil"; then
		lab_add_evil || { t_fail "cannot set up the attacker"; return 1; }
	fi
	key=$LAB_DIR/evil-digest.key
	(umask 077 && printf '1 %s\n' "$(openssl rand -hex 32)" >"$key")
	n1a=$(lab_ip n1):$HB_PORT
	n2a=$(lab_ip n2):$HB_PORT
	a0=$(t_counter n2 drop-auth-failed)
	rx=$(t_counter n2 cache-digest-rx)
	ip netns exec "$evil" "$forge" forge --key "$key" --node n1 --to "$n2a" --spoof "$n1a" \
		--body digest --url "http://127.0.0.1$t" --count 50 || { t_fail "hb_forge forge failed"; return 1; }
	t_wait 5 counter_above n2 drop-auth-failed "$a0" || { t_fail "drop-auth-failed did not move"; return 1; }
	sleep 2          # what a taken digest would have been fetched within (prefetch_rate 50/s)
	is_count n2 "$t" 0 || { t_fail "n2 fetched a forged digest's URL: origin saw $(count n2 "$t")"; return 1; }
	t_log "n2: drop-auth-failed $a0 -> $(t_counter n2 drop-auth-failed), cache-digest-rx $rx -> $(t_counter n2 cache-digest-rx) (n1's genuine digests)"
}

# replay_all NODE: the tap's recording of n1 sent again, each datagram once,
# from n1's address; on until NODE's hacd counted every one of them as a
# replay (a datagram it took would not count).
replay_all() {
	local n r0
	n=$(wc -l <"$CAP")
	r0=$(t_counter "$1" drop-replay)
	ip netns exec "$(lab_ns evil)" "$BUILD/tests/tools/hb_forge" replay --file "$CAP" --count "$n" ||
		{ t_fail "hb_forge replay failed"; return 1; }
	t_wait 5 counter_above "$1" drop-replay $((r0 + n - 1)) ||
		{ t_fail "$1's drop-replay went $r0 -> $(t_counter "$1" drop-replay) for $n replayed datagrams"; return 1; }
}
# replay_inert WHEN: replay_all n2, then n2's hacd took no digest and no
# summary (n1's proxyd is down: n1 sends neither), forwarded nothing to its
# proxyd, and n2's origin still saw the digest's URL once.
replay_inert() {
	local k prev=() next=()
	for k in cache-digest-rx cache-digest-forwarded cache-summary-rx; do prev+=("$(t_counter n2 "$k")"); done
	[[ ${prev[*]} =~ ^[0-9]+\ [0-9]+\ [0-9]+$ ]] || { t_fail "n2's hacd counters: ${prev[*]}"; return 1; }
	replay_all n2 || return 1
	for k in cache-digest-rx cache-digest-forwarded cache-summary-rx; do next+=("$(t_counter n2 "$k")"); done
	[[ ${next[*]} == "${prev[*]}" ]] ||
		{ t_fail "$1: n2's hacd took a replay (digest-rx, forwarded, summary-rx ${prev[*]} -> ${next[*]})"; return 1; }
	sleep 1          # what a forwarded digest would have been fetched within (prefetch_rate 50/s)
	is_count n2 "$RT" 1 || { t_fail "$1: n2 fetched a replayed digest's URL: origin saw $(count n2 "$RT")"; return 1; }
}

# Genuine digests and summaries, recorded on n1's switch port while a key
# turns hot on n1 and n2 prefetches it, then replayed from n1's address
# once n2 no longer holds the key (its proxyd restarted) and n1 no longer
# names it (its proxyd stopped: no digest or summary comes from n1 at
# all, so any taken would show): dropped as replays, counted, nothing
# fetched; again after n2's hacd restarted (an empty window, closed by
# n1's proof of freshness, hacd/fresh.c).
CAP=
RT='/c/replay?cc=max-age%3D600'
case_replay() {
	local tap tx0 rc=0
	[[ -x $BUILD/tests/tools/hb_forge ]] || { t_fail "missing hb_forge"; return 1; }
	setup || return 1
	if ! ip netns list | awk '{print $1}' | grep -qx "$(lab_ns evil)"; then
		lab_add_evil || { t_fail "cannot set up the attacker"; return 1; }
	fi
	CAP=$LAB_DIR/captured-digest.txt
	tx0=$(t_counter n1 cache-digest-tx)
	ip netns exec "$(lab_ns sw)" "$BUILD/tests/tools/hb_forge" capture --iface n1 --port "$HB_PORT" \
		--from "$(lab_ip n1)" --file "$CAP" --count 400 --timeout-ms 2000 2>/dev/null &
	tap=$!
	sleep 0.3
	get n1 "$RT"; get n1 "$RT"
	wait "$tap" || { t_fail "the tap captured nothing"; return 1; }
	t_wait $WAIT_S is_count n2 "$RT" 1 || { t_fail "n2 did not prefetch $RT: its origin saw $(count n2 "$RT")"; return 1; }
	counter_above n1 cache-digest-tx "$tx0" || { t_fail "n1 sent no digest while the tap ran"; return 1; }
	lab_kill n1/proxyd TERM
	lab_kill n2/proxyd TERM
	lab_start_proxyd n2
	t_wait 10 lab_listening n2 80 || { t_fail "proxyd on n2 did not restart"; rc=1; }
	((rc == 0)) && { replay_inert "replayed" || rc=1; }
	if ((rc == 0)); then
		lab_kill n2/hacd TERM
		lab_start_hacd n2
		t_wait 10 t_both_alive n2 || { t_fail "n2's hacd does not see n1 alive after its restart"; rc=1; }
	fi
	((rc == 0)) && { replay_inert "replayed after n2's hacd restarted" || rc=1; }
	((rc == 0)) && t_log "$(wc -l <"$CAP") datagrams of n1 replayed twice: n2 drop-replay $(t_counter n2 drop-replay) since its restart"
	lab_start_proxyd n1
	return $rc
}

case_metrics() {
	setup || return 1
	t_promtool_lint n2 9901 proxyd && t_promtool_lint n2 9902 hacd
}

write_conf || { echo "test_cache_cluster: cannot write the configuration" >&2; exit 1; }
t_begin "$@"

t_case "hits on n1 show in n2's hactl cache stats, with a cluster total" case_stats
t_case "keys hot on n1 are prefetched by n2 and served from its cache; a one-hit key is not" case_prefetch
t_case "TLS-only nodes: https keys hot on n1 are prefetched by n2 and served as hits" case_tls_only
t_case "prefetch ignores a listener deny-list blocking 127.0.0.1 and is not access-logged" case_deny_loopback
t_case "a prefetch the origin never answers is aborted at its deadline, and when proxyd stops" case_origin_hangs
t_case "n2's origin down: the prefetch counts an origin error and pauses" case_origin_down
t_case "a forged digest is dropped, counted, and nothing is fetched" case_attack
t_case "genuine digests and summaries replayed, also after n2's hacd restarts: dropped, counted, nothing fetched" case_replay
t_case "a key n2 holds stale: with the origin down the stale copy served counts an origin error; with it up, refreshed and stored" case_stale_prefetch
t_case "n2's /metrics pass promtool" case_metrics
t_end
