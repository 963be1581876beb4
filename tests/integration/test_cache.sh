#!/usr/bin/env bash
# tests/run: parallel-safe
# tests/integration/test_cache.sh — the RFC 9111 cache end to end.
#
# Real processes on loopback (127.0.0.1:23100-23199): the counting origin
# (tests/tools/cache_origin.py: every request counted by target, response
# fields chosen by the query string) behind proxyd, from a config file with
# two caches (one small, for the flood and the object limit) and in quick
# mode with --cache. Clients: curl, and python3 for raw heads.
#
# Cases: a miss then hits (the origin saw one request; Age, Cache-Status);
# one case per storage rule (stored once, or reaching the origin each
# time): max-age, s-maxage, Expires, invalid Expires, max-age=0, no-store
# both ways, private, no-cache, Authorization (with and without public),
# Set-Cookie (and a cache configured to store it), Vary: *; Vary on a
# request field (one object per value, each served to its own); the
# request's no-cache and only-if-cached; expiry; HEAD from a stored GET;
# If-None-Match and If-Modified-Since answered 304 from the cache; an
# unsafe method invalidating; a chunked response stored and served with
# Content-Length; bodies over max_object streamed whole and not stored;
# a hit compressed per client; a flood of keys staying within the bound;
# metrics (promtool-clean) and the access log's cache field; quick mode.
#
# Run from the repository root: bash tests/integration/test_cache.sh
# (BUILD=dir for binaries built elsewhere). One line per case, then
# "N passed, N failed"; exit status 1 on failure.

set -u

if [[ -z ${T_CACHE_BOUNDED:-} ]]; then
	export T_CACHE_BOUNDED=1
	exec timeout -k 10 180 bash "$0" "$@"
fi

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
BUILD=${BUILD:-build}
BUILD=$(cd "$BUILD" 2>/dev/null && pwd) || { echo "test_cache: no build directory" >&2; exit 1; }
PROXYD=$BUILD/proxyd
[[ -x $PROXYD ]] || { echo "test_cache: $PROXYD missing (make all first)" >&2; exit 1; }
PY=${T_PYTHON:-/usr/bin/python3}
for t in curl ss timeout jq; do
	command -v "$t" >/dev/null || { echo "test_cache: $t not installed" >&2; exit 1; }
done

H=127.0.0.1
P_ORIG=23101 P_ORIG2=23102
P_CONF=23110 P_ADM=23111
P_QUICK=23120
P_H2=23121                 # quick mode --tls-listen --cache: HTTP/2 streams through the cache

T_NAME=cache
# shellcheck source=loopback.sh
. "$(dirname "$0")/loopback.sh"

spawn "$T/origin.log" "$PY" tests/tools/cache_origin.py $P_ORIG
wait_for 5 listening $P_ORIG || { echo "origin did not start" >&2; exit 1; }
# The origin of /down/: stopped by the stale-if-error case.
spawn "$T/origin2.log" "$PY" tests/tools/cache_origin.py $P_ORIG2
PID_ORIG2=$SPAWNED
wait_for 5 listening $P_ORIG2 || { echo "origin 2 did not start" >&2; exit 1; }

cat > "$T/proxyd.conf" <<EOF
threads = 2;
user = "tandem-proxyd";
admin = { listen = "$H:$P_ADM"; socket = "$T/proxyd.sock"; };
log = { access = "$T/access.log"; };
caches = ( { name = "main"; size = "8m"; max_object = "64k"; },
           { name = "sie"; size = "1m"; stale_if_error = "1h"; },
           { name = "cookies"; size = "1m"; store_set_cookie = true; },
           { name = "small"; size = "256k"; max_object = "16k"; } );
listeners = ( { name = "t"; listen = "$H:$P_CONF"; } );
upstreams = ( { name = "o"; servers = ( { name = "o1"; address = "$H:$P_ORIG"; } ); },
              { name = "o2"; retries = 0; servers = ( { name = "o2"; address = "$H:$P_ORIG2"; } ); } );
routes = (
  { name = "cookies"; match = { path_prefix = "/ck/"; }; upstream = "o"; cache = "cookies"; },
  { name = "small"; match = { path_prefix = "/sm/"; }; upstream = "o"; cache = "small"; },
  { name = "sie"; match = { path_prefix = "/sie/"; }; upstream = "o"; cache = "sie"; },
  { name = "down"; match = { path_prefix = "/down/"; }; upstream = "o2"; cache = "sie"; },
  { name = "gz"; match = { path_prefix = "/gz/"; }; upstream = "o"; cache = "main"; compress = true; },
  { name = "nocache"; match = { path_prefix = "/_"; }; upstream = "o"; },
  { name = "main"; upstream = "o"; cache = "main"; }
);
EOF
spawn "$T/conf.log" "$PROXYD" -c "$T/proxyd.conf" -R "$T"
wait_for 5 listening $P_CONF || { echo "proxyd -c did not start" >&2; cat "$T/conf.log" >&2; exit 1; }
spawn "$T/quick.log" "$PROXYD" --listen $H:$P_QUICK --to $H:$P_ORIG --threads 1 --cache 1m
wait_for 5 listening $P_QUICK || { echo "proxyd --cache did not start" >&2; cat "$T/quick.log" >&2; exit 1; }

# count TARGET: how many GET/HEAD requests for TARGET reached the origin.
count() { curl -s --max-time 5 -G --data-urlencode "t=$1" "http://$H:$P_ORIG/_count"; }
# get TARGET [CURL ARGS...]: the response head and body through proxyd.
get() { local t=$1; shift; curl -s --max-time 10 -i "$@" "http://$H:$P_CONF$t"; }
hdr() { tr -d '\r' | sed -n "s/^$1: //Ip" | head -n 1; }
status_of() { head -n 1 | cut -d' ' -f2; }
metric() {  # NAME_WITH_LABELS
	curl -s --max-time 3 "http://$H:$P_ADM/metrics" | awk -v k="$1" 'index($0, k" ") == 1 { print $2 }'
}

# twice TARGET WANT [CURL ARGS...]: two GETs; the origin must have seen WANT requests.
twice() {
	local t=$1 want=$2 n
	shift 2
	get "$t" "$@" >/dev/null
	get "$t" "$@" >"$T/last"
	n=$(count "$t")
	[[ $n == "$want" ]] || t_fail "origin saw $n requests for $t, want $want; $(hdr cache-status <"$T/last")"
}

miss_then_hit() {
	local t='/a?cc=max-age%3D60' out
	out=$(get "$t")
	[[ $(hdr cache-status <<<"$out") == 'tandem; fwd=uri-miss; fwd-status=200; stored' ]] || { t_fail "first: $(hdr cache-status <<<"$out")"; return 1; }
	for _ in 1 2 3; do out=$(get "$t"); done
	[[ $(count "$t") == 1 ]] || { t_fail "origin saw $(count "$t")"; return 1; }
	[[ $(hdr cache-status <<<"$out") == 'tandem; hit; ttl='* ]] || { t_fail "hit: $(hdr cache-status <<<"$out")"; return 1; }
	[[ -n $(hdr age <<<"$out") ]] || { t_fail "no Age"; return 1; }
	[[ $out == *'#1'* ]] || t_fail "not the stored body: $out"
}
t_case "a miss, then hits from the cache (origin saw 1 request, Age, Cache-Status)" miss_then_hit

t_case "max-age: stored" twice '/r1?cc=max-age%3D60' 1
t_case "s-maxage: stored (and wins over max-age=0)" twice '/r2?cc=max-age%3D0,s-maxage%3D60' 1
t_case "Expires in the future: stored" twice '/r3?expires=60' 1
t_case "invalid Expires: not stored (§5.3)" twice '/r4?expires=bad' 2
t_case "no freshness at all: not stored" twice '/r5' 2
t_case "max-age=0: not stored" twice '/r6?cc=max-age%3D0' 2
t_case "response no-store: not stored (§5.2.2.5)" twice '/r7?cc=no-store,max-age%3D60' 2
t_case "request no-store: not stored (§5.2.1.5)" twice '/r8?cc=max-age%3D60' 2 -H 'Cache-Control: no-store'
t_case "private: not stored (§5.2.2.7)" twice '/r9?cc=private,max-age%3D60' 2
t_case "no-cache: not stored (§5.2.2.4)" twice '/r10?cc=no-cache,max-age%3D60' 2
t_case "Authorization: not stored (§3.5)" twice '/r11?cc=max-age%3D60' 2 -H 'Authorization: Basic eDp5'
t_case "Authorization with public: stored (§3.5)" twice '/r12?cc=public,max-age%3D60' 1 -H 'Authorization: Basic eDp5'
t_case "Set-Cookie: not stored by default" twice '/r13?cc=max-age%3D60&cookie=1' 2
t_case "Set-Cookie: stored by a cache configured to" twice '/ck/r14?cc=max-age%3D60&cookie=1' 1
t_case "Vary: * never stored (§4.1)" twice '/r15?cc=max-age%3D60&vary=*' 2
t_case "a 404 with max-age: stored" twice '/r16?cc=max-age%3D60&status=404' 1

vary_lang() {
	local t='/v?cc=max-age%3D60&vary=Accept-Language&echo=Accept-Language' a b
	get "$t" -H 'Accept-Language: de' >/dev/null
	get "$t" -H 'Accept-Language: fr' >/dev/null
	a=$(get "$t" -H 'Accept-Language:   de ')
	b=$(get "$t" -H 'Accept-Language: fr')
	[[ $(count "$t") == 2 ]] || { t_fail "origin saw $(count "$t"), want 2"; return 1; }
	[[ $(tail -n 1 <<<"$a") == de && $(tail -n 1 <<<"$b") == fr ]] || { t_fail "bodies: $a / $b"; return 1; }
	[[ $(hdr cache-status <<<"$a") == *hit* ]] || t_fail "de (spaces normalised) not a hit: $(hdr cache-status <<<"$a")"
}
t_case "Vary: Accept-Language: one object per value, each served to its own" vary_lang

req_no_cache() {
	local t='/nc?cc=max-age%3D60' out
	get "$t" >/dev/null
	out=$(get "$t" -H 'Cache-Control: no-cache')
	[[ $(count "$t") == 2 ]] || { t_fail "no-cache request not forwarded: $(count "$t")"; return 1; }
	[[ $(hdr cache-status <<<"$out") == *'fwd=request'*stored* ]] || { t_fail "$(hdr cache-status <<<"$out")"; return 1; }
	out=$(get "$t")
	[[ $out == *'#2'* && $(count "$t") == 2 ]] || t_fail "the forwarded answer did not replace the stored one: $out"
}
t_case "request no-cache: forwarded, and its answer stored (§5.2.1.4)" req_no_cache

only_if_cached() {
	local out
	out=$(get '/oic?cc=max-age%3D60' -H 'Cache-Control: only-if-cached')
	[[ $(status_of <<<"$out") == 504 && $(count '/oic?cc=max-age%3D60') == 0 ]] || t_fail "$(head -n 1 <<<"$out")"
}
t_case "only-if-cached on a miss: 504, origin not asked (§5.2.1.7)" only_if_cached

expiry() {
	local t='/exp?cc=max-age%3D1' out
	get "$t" >/dev/null
	# Wait for freshness to run out (2 s), not a timing assertion.
	sleep 2.2
	out=$(get "$t")
	[[ $(count "$t") == 2 ]] || { t_fail "expired object served: $(hdr cache-status <<<"$out")"; return 1; }
	[[ $(hdr cache-status <<<"$out") == *fwd=stale* ]] || t_fail "$(hdr cache-status <<<"$out")"
}
t_case "an expired object goes back to the origin (fwd=stale)" expiry

revalidate() {
	# The 304 says max-age=600: the next request is a hit however slow the
	# machine, and the 304's Cache-Control is shown to replace the stored one.
	local t='/rv?cc=max-age%3D1&cc304=max-age%3D600&etag=v1&xc=1' out
	get "$t" >/dev/null
	sleep 2.2     # past its freshness (not a timing assertion)
	out=$(get "$t")
	[[ $(count "$t") == 2 ]] || { t_fail "origin saw $(count "$t")"; return 1; }
	[[ $(status_of <<<"$out") == 200 && $out == *'#1'* ]] || { t_fail "not the stored body: $out"; return 1; }
	[[ $(hdr cache-status <<<"$out") == *'fwd=stale; fwd-status=304'* ]] || { t_fail "$(hdr cache-status <<<"$out")"; return 1; }
	# §4.3.4: the 304's fields replace the stored ones.
	[[ $(hdr x-count <<<"$out") == 2 ]] || { t_fail "X-Count $(hdr x-count <<<"$out"), want 2 (from the 304)"; return 1; }
	out=$(get "$t")
	[[ $(hdr cache-status <<<"$out") == *'hit'* && $(hdr x-count <<<"$out") == 2 && $(count "$t") == 2 ]] ||
		t_fail "freshened object not stored: $(hdr cache-status <<<"$out")"
}
t_case "a stale object revalidated with If-None-Match; the 304 freshens it and updates its fields" revalidate

no_cache_etag() {
	local t='/nce?cc=no-cache&etag=n1' out
	for _ in 1 2 3; do out=$(get "$t"); done
	[[ $(count "$t") == 3 ]] || { t_fail "origin saw $(count "$t"), want 3 (every use revalidates)"; return 1; }
	[[ $out == *'#1'* && $(hdr cache-status <<<"$out") == *'fwd-status=304'* ]] || t_fail "$(hdr cache-status <<<"$out")"
}
t_case "no-cache with an ETag: stored, revalidated on every use (§5.2.2.4)" no_cache_etag

stale_if_error() {
	local t1='/sie/a?cc=max-age%3D1' t2='/sie/b?cc=max-age%3D1,must-revalidate' t3='/down/c?cc=max-age%3D1' out fails=0
	get "$t1" >/dev/null
	get "$t2" >/dev/null
	get "$t3" >/dev/null
	sleep 2.2     # all three stale
	curl -s --max-time 3 -o /dev/null "http://$H:$P_ORIG/_fail?on=1"
	out=$(get "$t1")
	curl -s --max-time 3 -o /dev/null "http://$H:$P_ORIG/_fail?on=0"
	[[ $(status_of <<<"$out") == 200 && $out == *'#1'* ]] || { t_fail "origin 500: $(head -n 1 <<<"$out")"; return 1; }
	[[ $(hdr cache-status <<<"$out") == *'fwd-status=500'*'stale-if-error'* ]] || { t_fail "$(hdr cache-status <<<"$out")"; return 1; }
	curl -s --max-time 3 -o /dev/null "http://$H:$P_ORIG/_fail?on=1"
	out=$(get "$t2")
	curl -s --max-time 3 -o /dev/null "http://$H:$P_ORIG/_fail?on=0"
	[[ $(status_of <<<"$out") == 500 ]] || { t_fail "must-revalidate served stale: $(head -n 1 <<<"$out")"; return 1; }
	# Every server of the upstream down: 20 requests, none fails.
	kill -TERM "$PID_ORIG2"
	wait_for 5 bash -c "! ss -Htln 'sport = :$P_ORIG2' | grep -q ." || { t_fail "origin 2 still up"; return 1; }
	for _ in $(seq 20); do
		out=$(get "$t3")
		[[ $(status_of <<<"$out") == 200 && $out == *'#1'* ]] || fails=$((fails + 1))
	done
	[[ $fails == 0 ]] || { t_fail "$fails of 20 failed with the upstream down: $(head -n 1 <<<"$out")"; return 1; }
	[[ $(hdr cache-status <<<"$out") == *'stale-if-error'* ]] || { t_fail "$(hdr cache-status <<<"$out")"; return 1; }
	[[ $(metric 'tandem_cache_stale_served_total{cache="sie",reason="error"}') -ge 21 ]] ||
		t_fail "stale_served $(metric 'tandem_cache_stale_served_total{cache="sie",reason="error"}')"
}
t_case "stale-if-error: a 500, and every server down, answered stale; not under must-revalidate" stale_if_error

# concurrently N TARGET: N curl clients at once; their bodies in $T/co.1..N.
concurrently() {
	local n=$1 t=$2 i pids=()
	for ((i = 1; i <= n; i++)); do
		curl -s --max-time 20 -o "$T/co.$i" -D "$T/co.$i.h" -w '%{http_code}\n' "http://$H:$P_CONF$t" >"$T/co.$i.st" &
		pids+=($!)
	done
	wait "${pids[@]}"
}

coalesce() {
	local t='/co?cc=max-age%3D60&delay=700' i bad=0
	concurrently 20 "$t"
	[[ $(count "$t") == 1 ]] || { t_fail "20 concurrent misses made $(count "$t") origin requests, want 1"; return 1; }
	for ((i = 1; i <= 20; i++)); do
		[[ $(cat "$T/co.$i.st") == 200 && $(cat "$T/co.$i") == *'#1'* ]] || bad=$((bad + 1))
	done
	[[ $bad == 0 ]] || { t_fail "$bad of 20 answers wrong"; return 1; }
	[[ $(metric 'tandem_cache_coalesced_total{cache="main",result="answered"}') -ge 1 ]] || t_fail "coalesced not counted"
}
t_case "coalescing: 20 concurrent misses for one key make exactly 1 origin request" coalesce

coalesce_uncacheable() {
	local t='/co2?delay=400' i bad=0 fw
	concurrently 8 "$t"
	[[ $(count "$t") == 8 ]] || { t_fail "origin saw $(count "$t"), want 8 (each goes itself when not storable)"; return 1; }
	for ((i = 1; i <= 8; i++)); do
		[[ $(cat "$T/co.$i.st") == 200 ]] || bad=$((bad + 1))
	done
	[[ $bad == 0 ]] || { t_fail "$bad of 8 failed"; return 1; }
	# The key is now marked pass: the next burst neither waits nor leads.
	fw=$(metric 'tandem_cache_coalesced_total{cache="main",result="forwarded"}')
	concurrently 8 "$t"
	[[ $(count "$t") == 16 ]] || { t_fail "second burst: origin saw $(count "$t"), want 16"; return 1; }
	[[ $(metric 'tandem_cache_coalesced_total{cache="main",result="forwarded"}') == "$fw" ]] || { t_fail "second burst waited"; return 1; }
	[[ $(get "$t" | hdr cache-status) == *'fwd=bypass; fwd-status=200; detail=pass' ]] || t_fail "$(get "$t" | hdr cache-status)"
}
t_case "coalescing: an unstorable answer sends the waiters to the origin, then marks the key pass" coalesce_uncacheable

ranges() {
	local t='/rg?cc=max-age%3D60&size=1000' u="http://$H:$P_CONF/rg?cc=max-age%3D60&size=1000" full out
	full=$(curl -s --max-time 5 "$u")
	out=$(curl -s --max-time 5 -i -r 10-19 "$u")
	[[ $(status_of <<<"$out") == 206 && $(hdr content-range <<<"$out") == 'bytes 10-19/1000' ]] || { t_fail "10-19: $out"; return 1; }
	[[ $(curl -s --max-time 5 -r 10-19 "$u") == "${full:10:10}" ]] || { t_fail "10-19 bytes differ"; return 1; }
	[[ $(curl -s --max-time 5 -r -5 "$u") == "${full:995:5}" ]] || { t_fail "suffix -5"; return 1; }
	[[ $(curl -s --max-time 5 -r 990- "$u") == "${full:990}" ]] || { t_fail "990-"; return 1; }
	out=$(curl -s --max-time 5 -i -r 5000- "$u")
	[[ $(status_of <<<"$out") == 200 ]] || { t_fail "unsatisfiable: $(head -n 1 <<<"$out")"; return 1; }
	out=$(curl -s --max-time 5 -i -r 0-1,5-6 "$u")
	[[ $(status_of <<<"$out") == 200 ]] || { t_fail "two ranges: $(head -n 1 <<<"$out")"; return 1; }
	[[ $(count "$t") == 1 ]] || t_fail "origin saw $(count "$t")"
}
t_case "one byte range served 206 from a stored 200 (several, or none satisfiable: the whole)" ranges

swr() {
	local t='/swr?cc=max-age%3D1,stale-while-revalidate%3D60&etag=s1&delay=1500' i bad=0 n
	get "$t" >/dev/null
	sleep 2.2     # stale, within stale-while-revalidate
	concurrently 6 "$t"
	[[ $(count "$t") == 2 ]] || { t_fail "origin saw $(count "$t"), want 2 (one revalidation)"; return 1; }
	for ((i = 1; i <= 6; i++)); do
		[[ $(cat "$T/co.$i.st") == 200 && $(cat "$T/co.$i") == *'#1'* ]] || bad=$((bad + 1))
	done
	[[ $bad == 0 ]] || { t_fail "$bad of 6 answers wrong"; return 1; }
	n=$(cat "$T"/co.[1-6].h | tr -d '\r' | grep -c 'detail=stale-while-revalidate$')
	[[ $n -ge 1 ]] || { t_fail "none answered stale while the revalidation ran"; return 1; }
	[[ $(metric 'tandem_cache_stale_served_total{cache="main",reason="revalidating"}') -ge 1 ]] || t_fail "not counted"
}
t_case "stale-while-revalidate: while one request revalidates, the others get the stale object at once" swr

http10() {
	local t='/h10?cc=max-age%3D60&size=3000' a b
	a=$(curl -s --max-time 5 --http1.0 "http://$H:$P_CONF$t" | md5sum)
	b=$(curl -s --max-time 5 --http1.0 -i "http://$H:$P_CONF$t")
	[[ $(count "$t") == 1 && $(hdr cache-status <<<"$b") == *hit* ]] || { t_fail "not a hit: $(hdr cache-status <<<"$b")"; return 1; }
	[[ $(hdr content-length <<<"$b") == 3000 ]] || { t_fail "no Content-Length for HTTP/1.0"; return 1; }
	[[ $(curl -s --max-time 5 --http1.0 "http://$H:$P_CONF$t" | md5sum) == "$a" ]] || { t_fail "body differs"; return 1; }
	# Coded for an HTTP/1.0 client: delimited by the close, whole.
	t='/gz/h10?cc=max-age%3D60&size=5000'
	a=$(curl -s --max-time 5 --http1.0 "http://$H:$P_CONF$t" | md5sum)
	[[ $(curl -s --max-time 5 --http1.0 --compressed "http://$H:$P_CONF$t" | md5sum) == "$a" ]] || t_fail "coded HTTP/1.0 hit differs"
}
t_case "HTTP/1.0 clients: hits with Content-Length, or coded and delimited by the close" http10

head_from_get() {
	local t='/hd?cc=max-age%3D60' out len
	len=$(get "$t" | hdr content-length)
	out=$(curl -s --max-time 5 -I "http://$H:$P_CONF$t")
	[[ $(count "$t") == 1 ]] || { t_fail "HEAD reached the origin"; return 1; }
	[[ $(status_of <<<"$out") == 200 && -n $len && $(hdr content-length <<<"$out") == "$len" ]] || t_fail "$out"
}
t_case "HEAD answered from a stored GET, with its Content-Length" head_from_get

conditional() {
	local t='/cond?cc=max-age%3D60&etag=v1&lm=3600' out
	get "$t" >/dev/null
	out=$(get "$t" -H 'If-None-Match: "v0", W/"v1"')
	[[ $(status_of <<<"$out") == 304 ]] || { t_fail "If-None-Match: $(head -n 1 <<<"$out")"; return 1; }
	[[ $(hdr etag <<<"$out") == '"v1"' && -z $(hdr content-type <<<"$out") ]] || { t_fail "304 fields: $out"; return 1; }
	out=$(get "$t" -H 'If-None-Match: "v2"')
	[[ $(status_of <<<"$out") == 200 ]] || { t_fail "a non-matching tag: $(head -n 1 <<<"$out")"; return 1; }
	out=$(get "$t" -H "If-Modified-Since: $(date -u -d '+1 min' '+%a, %d %b %Y %H:%M:%S GMT')")
	[[ $(status_of <<<"$out") == 304 ]] || { t_fail "If-Modified-Since: $(head -n 1 <<<"$out")"; return 1; }
	out=$(get "$t" -H "If-Modified-Since: $(date -u -d '-2 hours' '+%a, %d %b %Y %H:%M:%S GMT')")
	[[ $(status_of <<<"$out") == 200 ]] || { t_fail "older If-Modified-Since: $(head -n 1 <<<"$out")"; return 1; }
	[[ $(count "$t") == 1 ]] || t_fail "origin saw $(count "$t")"
}
t_case "If-None-Match / If-Modified-Since answered 304 from the cache" conditional

invalidate() {
	local t='/inv?cc=max-age%3D60'
	get "$t" >/dev/null
	curl -s --max-time 5 -o /dev/null -X POST -d x "http://$H:$P_CONF$t"
	get "$t" >/dev/null
	[[ $(count "POST $t") == 1 ]] || { t_fail "POST not forwarded"; return 1; }
	[[ $(count "$t") == 2 ]] || t_fail "origin saw $(count "$t") GETs, want 2 (POST did not invalidate)"
}
t_case "a POST's success invalidates the stored object (§4.4)" invalidate

invalidate_locations() {
	local a='/iva?cc=max-age%3D60' b='/ivb?cc=max-age%3D60' c='/ivc?cc=max-age%3D60'
	get "$a" >/dev/null
	get "$b" >/dev/null
	get "$c" >/dev/null
	# Location a path, Content-Location absolute on this origin; a
	# Location on another origin invalidates nothing.
	curl -s --max-time 5 -o /dev/null -X PUT -d x \
		"http://$H:$P_CONF/put1?status=201&loc=%2Fiva%3Fcc%3Dmax-age%253D60&cloc=http%3A%2F%2F$H%3A$P_CONF%2Fivb%3Fcc%3Dmax-age%253D60"
	curl -s --max-time 5 -o /dev/null -X PUT -d x "http://$H:$P_CONF/put2?loc=http%3A%2F%2Felsewhere%2Fivc%3Fcc%3Dmax-age%253D60"
	get "$a" >/dev/null
	get "$b" >/dev/null
	get "$c" >/dev/null
	[[ $(count "$a") == 2 && $(count "$b") == 2 ]] || { t_fail "Location/Content-Location not invalidated: $(count "$a") $(count "$b")"; return 1; }
	[[ $(count "$c") == 1 ]] || t_fail "another origin's Location invalidated"
}
t_case "... and the same-origin Location and Content-Location URIs (§4.4)" invalidate_locations

chunked() {
	local t='/ch?cc=max-age%3D60&chunked=1&size=3000' a b
	a=$(curl -s --max-time 5 "http://$H:$P_CONF$t" | md5sum)
	b=$(get "$t")
	[[ $(count "$t") == 1 ]] || { t_fail "origin saw $(count "$t")"; return 1; }
	[[ $(hdr content-length <<<"$b") == 3000 ]] || { t_fail "no Content-Length on the hit"; return 1; }
	[[ $(curl -s --max-time 5 "http://$H:$P_CONF$t" | md5sum) == "$a" ]] || t_fail "hit body differs"
}
t_case "a chunked response stored, served whole with Content-Length" chunked

too_large() {
	local t1='/big?cc=max-age%3D60&size=100000' t2='/bigc?cc=max-age%3D60&size=100000&chunked=1' n
	for t in "$t1" "$t2"; do
		for _ in 1 2; do
			n=$(curl -s --max-time 5 "http://$H:$P_CONF$t" | wc -c)
			[[ $n == 100000 ]] || { t_fail "$t: body $n bytes"; return 1; }
		done
		[[ $(count "$t") == 2 ]] || { t_fail "$t stored (over max_object)"; return 1; }
	done
	n=$(metric 'tandem_cache_not_stored_total{cache="main",reason="too-large"}')
	[[ $n -ge 2 ]] || t_fail "too-large count $n"
}
t_case "over max_object (length and chunked): streamed whole, not stored" too_large

compressed_hit() {
	local t='/gz/page?cc=max-age%3D60&size=5000' a b c
	a=$(curl -s --max-time 5 "http://$H:$P_CONF$t" | md5sum)
	b=$(curl -s --max-time 5 --compressed -D "$T/gzh" "http://$H:$P_CONF$t" | md5sum)
	c=$(curl -s --max-time 5 "http://$H:$P_CONF$t" | md5sum)
	[[ $(count "$t") == 1 ]] || { t_fail "origin saw $(count "$t")"; return 1; }
	[[ $(hdr content-encoding <"$T/gzh") =~ ^(gzip|br|zstd)$ ]] || { t_fail "hit not coded: $(cat "$T/gzh")"; return 1; }
	[[ $a == "$b" && $b == "$c" ]] || t_fail "bodies differ"
}
t_case "one stored identity object, coded per client on hits" compressed_hit

flood() {
	local bytes size ev
	"$PY" - "$H" "$P_CONF" <<'PYEOF' || { t_fail "flood client failed"; return 1; }
import socket, sys
h, p = sys.argv[1], int(sys.argv[2])
s = socket.create_connection((h, p), timeout=20)
f = s.makefile("rb")
for i in range(1500):
    s.sendall(b"GET /sm/k%d?cc=max-age%%3D600&size=2000 HTTP/1.1\r\nHost: t\r\n\r\n" % i)
    n = None
    while True:
        line = f.readline()
        if line.lower().startswith(b"content-length:"): n = int(line.split(b":")[1])
        if line in (b"\r\n", b""): break
    f.read(n)
PYEOF
	size=$(metric 'tandem_cache_size_bytes{cache="small"}')
	bytes=$(metric 'tandem_cache_bytes{cache="small"}')
	ev=$(metric 'tandem_cache_evicted_total{cache="small"}')
	[[ -n $bytes && $bytes -le $size && $bytes -gt 0 ]] || { t_fail "bytes $bytes of $size"; return 1; }
	[[ $ev -gt 1000 ]] || t_fail "evicted $ev"
}
t_case "a flood of 1500 keys stays within the cache's size (evicting)" flood

# admin LINE: one command on proxyd's admin socket, its answer.
admin() { timeout 10 "$PY" tests/tools/adminsock.py "$T/proxyd.sock" "$*"; }

purge() {
	local a='/pg/a?cc=max-age%3D60' b='/pg/b?cc=max-age%3D60' c='/pg2/c?cc=max-age%3D60' out u="http://$H:$P_CONF"
	for t in "$a" "$b" "$c"; do get "$t" >/dev/null; done
	out=$(admin cache purge main "$u/pg/%61?cc=max-age%3D60")     # %61: the same normalised path as /pg/a
	[[ $out == 'ok: 1 purged'* ]] || { t_fail "URL: $out"; return 1; }
	out=$(admin cache purge main --prefix "$u/pg/")
	[[ $out == 'ok: 1 purged'* ]] || { t_fail "prefix: $out"; return 1; }
	for t in "$a" "$b" "$c"; do get "$t" >/dev/null; done
	[[ $(count "$a") == 2 && $(count "$b") == 2 && $(count "$c") == 1 ]] ||
		{ t_fail "origin saw $(count "$a") $(count "$b") $(count "$c"), want 2 2 1"; return 1; }
	out=$(admin cache purge nope "$u/x")
	[[ $out == 'error: cache purge: no cache named nope'* ]] || { t_fail "unknown cache: $out"; return 1; }
	out=$(admin cache purge main "ftp://x/y")
	[[ $out == error:* ]] || { t_fail "bad URL: $out"; return 1; }
	out=$(admin show cache)
	[[ $out == *'main objects='*' hits='* ]] || t_fail "show cache: $out"
}
t_case "admin socket: cache purge URL and --prefix on this node, show cache" purge

metrics() {
	local h m
	h=$(metric 'tandem_cache_requests_total{cache="main",result="hit"}')
	m=$(metric 'tandem_cache_requests_total{cache="main",result="miss"}')
	[[ $h -ge 10 && $m -ge 10 ]] || { t_fail "hits $h misses $m"; return 1; }
	[[ $(metric 'tandem_cache_not_stored_total{cache="main",reason="private"}') -ge 1 ]] || { t_fail "private not counted"; return 1; }
	[[ $(metric 'tandem_cache_requests_total{cache="main",result="pass"}') -ge 10 ]] || { t_fail "passes not counted"; return 1; }
	command -v promtool >/dev/null || { echo "# promtool not installed: lint skipped"; return 0; }
	m=$(curl -s --max-time 3 "http://$H:$P_ADM/metrics" | promtool check metrics 2>&1 | grep tandem_cache)
	[[ -z $m ]] || t_fail "$m"
}
t_case "metrics: hits, misses, not stored by reason (promtool-clean)" metrics

access_log() {
	get '/alog?cc=max-age%3D60' >/dev/null
	get '/alog?cc=max-age%3D60' >/dev/null
	get '/_count?t=x' >/dev/null
	wait_for 3 grep -q '_count?t=x' "$T/access.log" || { t_fail "no log line"; return 1; }
	# Each worker flushes its own log lines (every 200 ms): the other
	# worker's may come after the _count line.
	wait_for 3 grep -q '"GET /alog?cc=max-age%3D60 .* cache=uri-miss$' "$T/access.log" || { t_fail "miss line"; return 1; }
	wait_for 3 grep -q '"GET /alog?cc=max-age%3D60 .* cache=hit$' "$T/access.log" || { t_fail "hit line"; return 1; }
	# A key marked pass (the coalescing case's) is logged as bypass.
	grep -q '"GET /co2?delay=400 .* cache=bypass$' "$T/access.log" || { t_fail "pass line"; return 1; }
	grep -q '"GET /rv?cc=max-age%3D1&cc304=max-age%3D600&etag=v1&xc=1 .* cache=revalidated$' "$T/access.log" || { t_fail "revalidated line"; return 1; }
	grep -q '"GET /down/c?cc=max-age%3D1 .* cache=stale-if-error$' "$T/access.log" || { t_fail "stale-if-error line"; return 1; }
	grep '_count?t=x' "$T/access.log" | grep -qv 'cache=' || t_fail "cache= on a route without a cache"
}
t_case "access log: cache= on routes with a cache only (hit, miss, bypass, revalidated, stale-if-error)" access_log

quick() {
	local t='/q?cc=max-age%3D60' out
	curl -s --max-time 5 -o /dev/null "http://$H:$P_QUICK$t"
	out=$(curl -s --max-time 5 -i "http://$H:$P_QUICK$t")
	[[ $(count "$t") == 1 && $(hdr cache-status <<<"$out") == *hit* ]] || t_fail "$(hdr cache-status <<<"$out"), origin saw $(count "$t")"
}
t_case "quick mode --cache: stored and hit" quick

# The cache behind the HTTP/2 front: a stream's miss is stored, the next
# stream (and an HTTP/1.1 request over the same listener) is a hit, and the
# origin saw one request; a hit is coded per client there too.
over_h2() {
	local t='/h2?cc=max-age%3D60&size=4000' out v
	mkdir -p "$T/pki"
	sh tests/tools/mkcerts.sh "$T/pki" >/dev/null || { t_fail "mkcerts failed"; return 1; }
	spawn "$T/h2.log" "$PROXYD" --tls-listen $H:$P_H2 --cert "$T/pki/a-rsa.crt" --key "$T/pki/a-rsa.key" \
		--to $H:$P_ORIG --threads 1 --cache 1m --compress
	wait_for 5 listening $P_H2 || { t_fail "proxyd --tls-listen --cache did not start: $(tail -1 "$T/h2.log")"; return 1; }
	v=$(curl -sk --max-time 5 --http2 -o /dev/null -w '%{http_version}' "https://$H:$P_H2$t")
	[[ $v == 2 ]] || { t_fail "not HTTP/2: $v"; return 1; }
	out=$(curl -sk --max-time 5 --http2 --compressed -D - -o /dev/null "https://$H:$P_H2$t")
	[[ $(hdr cache-status <<<"$out") == *hit* && $(hdr content-encoding <<<"$out") == zstd ]] ||
		{ t_fail "second stream: $out"; return 1; }
	out=$(curl -sk --max-time 5 --http1.1 -D - -o /dev/null "https://$H:$P_H2$t")
	[[ $(hdr cache-status <<<"$out") == *hit* && $(count "$t") == 1 ]] ||
		t_fail "HTTP/1.1 after the streams: $(hdr cache-status <<<"$out"), origin saw $(count "$t")"
}
t_case "HTTP/2 streams: stored, then hits (coded per client), origin asked once" over_h2

t_san_case
echo "$T_PASS passed, $T_FAIL failed"
((T_FAIL == 0))
