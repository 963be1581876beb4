#!/usr/bin/env bash
# tests/run: parallel-safe
# tests/integration/test_purge.sh — hactl cache purge, cluster-wide.
#
# In the lab (scripts/lab, LAB_PREFIX=tdmp), two nodes; each node's proxyd
# caches /c/ from its own counting origin (tests/tools/cache_origin.py on
# 127.0.0.1 inside the node's namespace), so an origin's count says what
# that node's cache did.
#   - hactl cache purge on n1: n2's proxyd refetches the URL (its origin
#     counts 2); the time it took is printed in sync intervals (no
#     threshold: the wait is bounded, the figure is reported).
#   - --prefix likewise; --tag purges the objects whose Surrogate-Key
#     (the caches' default tag_header) lists the tag, and no other.
#   - n2's hacd down while n1 purges (n2's proxyd, and its cache, stay):
#     when n2's hacd comes back it gets n1's purge log and n2 refetches.
#   - The same with more purges than the log holds (64): n2 cannot tell
#     which it missed and purges its whole cache (an object no purge named
#     is refetched; counter purge-gap).
#   - An attacker on the segment (tests/tools/hb_forge, no cluster key):
#     a purge sealed with a key of its own, spoofing n1, is dropped and
#     counted (drop-auth-failed) and purges nothing; n1's genuine purge
#     datagrams, captured off the switch and replayed once n2 has stored
#     the object again, are dropped (drop-replay) and purge nothing.
#
# Run as root from the repository root. Prints one line per case and
# "N passed, N failed".

export LAB_NODES=2
export LAB_PREFIX=${LAB_PREFIX:-tdmp}
: "${T_TIMEOUT:=120}"

PG_DIR=/tmp/${LAB_PREFIX}-conf
export PROXYD_CONF=$PG_DIR/proxyd.conf
ORIGIN_PORT=23180
HB_PORT=7007
SYNC_MS=20           # etc/hacd.conf sync_interval
WAIT_S=10            # bound on a purge reaching the other node (generous)

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=cache_lab.sh
. "$(dirname "$0")/cache_lab.sh"

write_conf() { cache_lab_conf 'size = "8m";'; }

# refetched NODE TARGET N: a request through NODE makes the origin's count N.
refetched() { get "$1" "$2"; [[ $(count "$1" "$2") == "$3" ]]; }

# warm T: T stored on both nodes (each origin saw it once).
warm() {
	local n
	for n in n1 n2; do
		get "$n" "$1"; get "$n" "$1"
		[[ $(count "$n" "$1") == 1 ]] || { t_fail "$n: origin saw $(count "$n" "$1") for $1, want 1"; return 1; }
	done
}

# ms NODE FILE PATTERN: the log timestamp (ms of the day) of the first line
# of NODE's FILE matching PATTERN (fixed string), or empty.
log_ms() {
	grep -F -m1 "$3" "$(lab_node_dir "$1")/$2" | sed -n 's/^[0-9-]*T\([0-9]*\):\([0-9]*\):\([0-9]*\)\.\([0-9]*\)Z.*/\1 \2 \3 \4/p' |
		awk '{ printf "%d\n", (($1 * 60 + $2) * 60 + $3) * 1000 + $4 }'
}

# purge_lag TARGET: from n1's hacd taking the purge to n2's proxyd applying
# it, by their logs (one host, one clock), in ms and sync intervals.
purge_lag() {
	local a b
	a=$(log_ms n1 hacd.log "operator purged http://127.0.0.1$1")
	b=$(log_ms n2 proxyd.log "for http://127.0.0.1$1 (hactl")
	[[ -n $a && -n $b ]] || { t_log "purge lag: log lines not found"; return 0; }
	t_log "purge lag n1 hacd -> n2 proxyd: $((b - a)) ms = $(((b - a) * 100 / SYNC_MS))/100 of a sync interval ($SYNC_MS ms)"
}

case_purge_url() {
	local t='/c/one?cc=max-age%3D600' t0 t1
	setup && warm "$t" || return 1
	t0=$(lab_now_ms)
	lab_hactl n1 cache purge "http://127.0.0.1$t" >/dev/null || { t_fail "hactl cache purge failed"; return 1; }
	t_wait $WAIT_S refetched n2 "$t" 2 || { t_fail "n2 still serves the purged object"; return 1; }
	t1=$(lab_now_ms)
	t_log "purge on n1 seen in force on n2 by a client within $((t1 - t0)) ms of hactl starting (hactl, curl and the 50 ms poll included)"
	purge_lag "$t"
	refetched n1 "$t" 2 || { t_fail "n1 did not purge: origin saw $(count n1 "$t")"; return 1; }
	[[ $(t_counter n2 purge-rx) -ge 1 ]] || { t_fail "n2's hacd counted no purge"; return 1; }
}

case_purge_prefix() {
	local a='/c/p/a?cc=max-age%3D600' b='/c/p/b?cc=max-age%3D600' k='/c/q?cc=max-age%3D600'
	setup && warm "$a" && warm "$b" && warm "$k" || return 1
	lab_hactl n2 cache purge --prefix "http://127.0.0.1/c/p/" >/dev/null || { t_fail "hactl cache purge --prefix failed"; return 1; }
	t_wait $WAIT_S refetched n1 "$a" 2 || { t_fail "n1 still serves $a"; return 1; }
	refetched n1 "$b" 2 || { t_fail "n1 still serves $b"; return 1; }
	refetched n1 "$k" 1 || { t_fail "n1 purged $k, outside the prefix"; return 1; }
}

case_purge_tag() {
	local a='/c/t/a?cc=max-age%3D600&sk=red%20blue' b='/c/t/b?cc=max-age%3D600&sk=blue' k='/c/t/k?cc=max-age%3D600&sk=green%20blues'
	setup && warm "$a" && warm "$b" && warm "$k" || return 1
	lab_hactl n1 cache purge --tag blue >/dev/null || { t_fail "hactl cache purge --tag failed"; return 1; }
	t_wait $WAIT_S refetched n2 "$a" 2 || { t_fail "n2 still serves $a"; return 1; }
	refetched n2 "$b" 2 || { t_fail "n2 still serves $b"; return 1; }
	refetched n2 "$k" 1 || { t_fail "n2 purged $k, not tagged blue"; return 1; }
	refetched n1 "$a" 2 && refetched n1 "$b" 2 && refetched n1 "$k" 1 ||
		{ t_fail "n1: origin saw $(count n1 "$a") $(count n1 "$b") $(count n1 "$k"), want 2 2 1"; return 1; }
}

case_rejoin() {
	local t='/c/rejoin?cc=max-age%3D600'
	setup && warm "$t" || return 1
	lab_kill n2/hacd TERM
	lab_hactl n1 cache purge "http://127.0.0.1$t" >/dev/null || { t_fail "hactl cache purge failed"; return 1; }
	sleep 1
	refetched n2 "$t" 1 || { t_fail "n2 refetched with its hacd down: origin saw $(count n2 "$t")"; return 1; }
	lab_start_hacd n2
	lab_wait_hacd n2 10 || { t_fail "hacd on n2 did not restart"; return 1; }
	t_wait $WAIT_S refetched n2 "$t" 2 || { t_fail "n2 did not purge on rejoin: origin saw $(count n2 "$t")"; return 1; }
}

case_rejoin_overflow() {
	local t='/c/keep?cc=max-age%3D600' g0 i
	setup && warm "$t" || return 1
	g0=$(t_counter n2 purge-gap)
	lab_kill n2/hacd TERM
	for ((i = 0; i < 70; i++)); do
		lab_hactl n1 cache purge "http://127.0.0.1/c/gone/$i" >/dev/null || { t_fail "hactl cache purge $i failed"; return 1; }
	done
	refetched n2 "$t" 1 || { t_fail "n2 refetched with its hacd down: origin saw $(count n2 "$t")"; return 1; }
	lab_start_hacd n2
	lab_wait_hacd n2 10 || { t_fail "hacd on n2 did not restart"; return 1; }
	t_wait $WAIT_S refetched n2 "$t" 2 || { t_fail "n2 kept an object after missing more purges than the log holds"; return 1; }
	t_wait 5 counter_above n2 purge-gap "$g0" || { t_fail "purge-gap did not move on n2"; return 1; }
	grep -q 'purging the whole cache' "$(lab_node_dir n2)/hacd.log" || { t_fail "n2's hacd did not log the whole-cache purge"; return 1; }
}

case_attack() {
	local forge=$BUILD/tests/tools/hb_forge evil key cap=$LAB_DIR/captured-purge.txt tap
	local t='/c/atk?cc=max-age%3D600' n1a n2a a0 r0 rx
	[[ -x $forge ]] || { t_fail "missing $forge"; return 1; }
	setup && warm "$t" || return 1
	evil=$(lab_ns evil)
	if ! ip netns list | awk '{print $1}' | grep -qx "$evil"; then
		lab_add_evil || { t_fail "cannot set up the attacker"; return 1; }
	fi
	key=$LAB_DIR/evil-same-id.key
	(umask 077 && printf '1 %s\n' "$(openssl rand -hex 32)" >"$key")
	n1a=$(lab_ip n1):$HB_PORT
	n2a=$(lab_ip n2):$HB_PORT
	# Forged: "n1" purges everything under /c/, sealed with the wrong key.
	a0=$(t_counter n2 drop-auth-failed)
	rx=$(t_counter n2 purge-rx)
	ip netns exec "$evil" "$forge" forge --key "$key" --node n1 --to "$n2a" --spoof "$n1a" \
		--body purge --url "http://127.0.0.1/c/" --count 50 || { t_fail "hb_forge forge failed"; return 1; }
	t_wait 5 counter_above n2 drop-auth-failed "$a0" || { t_fail "drop-auth-failed did not move"; return 1; }
	[[ $(t_counter n2 purge-rx) == "$rx" ]] || { t_fail "n2's hacd took a forged purge"; return 1; }
	refetched n2 "$t" 1 || { t_fail "a forged purge purged n2's cache: origin saw $(count n2 "$t")"; return 1; }
	# Replayed: a tap on n1's switch port while n1 purges the URL.
	ip netns exec "$(lab_ns sw)" "$forge" capture --iface n1 --port "$HB_PORT" \
		--file "$cap" --count 400 --timeout-ms 1500 2>/dev/null &
	tap=$!
	sleep 0.3
	lab_hactl n1 cache purge "http://127.0.0.1$t" >/dev/null || { wait "$tap"; t_fail "hactl cache purge failed"; return 1; }
	wait "$tap"
	[[ -s $cap ]] || { t_fail "the tap captured nothing"; return 1; }
	t_wait $WAIT_S refetched n2 "$t" 2 || { t_fail "n2 never saw the genuine purge"; return 1; }
	r0=$(t_counter n2 drop-replay)
	rx=$(t_counter n2 purge-rx)
	ip netns exec "$evil" "$forge" replay --file "$cap" --count 640 || { t_fail "hb_forge replay failed"; return 1; }
	t_wait 5 counter_above n2 drop-replay "$r0" || { t_fail "drop-replay did not move"; return 1; }
	[[ $(t_counter n2 purge-rx) == "$rx" ]] || { t_fail "n2's hacd took a replayed purge"; return 1; }
	refetched n2 "$t" 2 || { t_fail "a replayed purge purged n2's cache: origin saw $(count n2 "$t")"; return 1; }
}

# Last: both daemons' /metrics on n2 pass promtool and counted the purges.
case_metrics() {
	local v
	setup || return 1
	t_promtool_lint n2 9901 proxyd && t_promtool_lint n2 9902 hacd || return 1
	v=$(t_scrape n2 9902 | awk '$1 == "tandem_hacd_cache_purges_total{result=\"new\"}" { print $2 }')
	[[ -n $v ]] && ((v > 0)) || { t_fail "hacd on n2: cache_purges_total{new} is '$v'"; return 1; }
	v=$(t_scrape n2 9901 | awk '$1 == "tandem_cluster_rx_entries_total{kind=\"purge\",result=\"merged\"}" { print $2 }')
	[[ -n $v ]] && ((v > 0)) || { t_fail "proxyd on n2: cluster_rx_entries_total{purge,merged} is '$v'"; return 1; }
}


write_conf || { echo "test_purge: cannot write the configuration" >&2; exit 1; }
t_begin "$@"

t_case "hactl cache purge on n1: n2's proxyd refetches" case_purge_url
t_case "hactl cache purge --prefix on n2: n1 refetches the prefix only" case_purge_prefix
t_case "hactl cache purge --tag on n1: tagged objects refetched on both nodes, others kept" case_purge_tag
t_case "n2's hacd down at purge time: n2 purges when it rejoins" case_rejoin
t_case "more purges than the log holds while n2 was away: n2 purges its whole cache" case_rejoin_overflow
t_case "a forged purge and replayed genuine purges are dropped, counted, purge nothing" case_attack
t_case "n2's /metrics pass promtool; hacd and proxyd counted the purges" case_metrics
t_end
