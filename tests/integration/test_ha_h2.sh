#!/usr/bin/env bash
# tests/run: alone (one HTTP/2 connection across a failover: under load a request met the dead connection)
# tests/integration/test_ha_h2.sh — a planned failover with an HTTP/2 client.
#
# The same lab as test_ha.sh (scripts/lab), under LAB_PREFIX=tdmh, with
# etc/proxyd.conf plus an HTTPS listener on *:443 (certificates from
# tests/tools/mkcerts.sh), which offers h2 by ALPN. One curl keeps one
# HTTP/2 connection to the VIP "web" and sends a bounded number of requests
# on it, paced, while `hactl failover web --to n2 --wait` moves the VIP.
#
# What makes it work (docs/operations.md, "Planned failover"): the old
# owner's hacd asks its proxyd to drain, and a draining proxyd sends GOAWAY
# NO_ERROR on every HTTP/2 connection (proxyd/h2.c h2_drain, RFC 9113 §6.8),
# first with 2^31-1 and a PING, the final one on the PING's ACK: the stream
# under way, and one the client sent as the drain began, finish (curl 7.88
# fails, rather than retries, a stream a GOAWAY refuses: "000"), and the
# client's next connection lands on the new owner. Without the GOAWAY the
# connection stays on the old owner until the address moves, and the
# request then under way meets a dead connection: curl re-sends it ("Connection
# died, retrying"), which counts as a failure here, as in test_ha.sh, because
# a stricter client would have reported it (and the request may have run).
#
# The client's second connection may still reach the old owner, when its SYN
# beats hacd's hold-off rule (an nft run) after the GOAWAY: that connection
# is answered one stream, then gets its own GOAWAY (proxyd/h2.c h2_input),
# so the client opens a third, which lands on the new owner. Before that
# GOAWAY existed it stayed on the old owner through the whole drain bound and
# met the dead connection (some runs under load; every run with an
# nft slowed by 0.4 s).
#
# Checked: every request answered 200 over HTTP/2, none lost to a dead
# connection, the client opened a second connection, and both nodes served
# some of the requests (their access logs).
#
# Run as root from the repository root (BUILD=dir for binaries elsewhere).
# Prints one line per case and "N passed, N failed".

export LAB_NODES=2
export LAB_PREFIX=${LAB_PREFIX:-tdmh}
: "${T_TIMEOUT:=120}"
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

VIP1=$LAB_VIP_WEB    # "web", n1 preferred
MOVE_S=10
NREQ=300             # requests the client sends ...
RATE=30/s            # ... paced (curl --rate), so the run spans the failover
ETC_PROXYD_CONF=$PROXYD_CONF
# The lab removes its directory at `up`, so the TLS variant of proxyd.conf
# and its certificates are written beside it, under our prefix, and removed
# once the daemons have read them (the trust anchor is copied into the lab).
TLS_DIR=/tmp/${LAB_PREFIX}-h2tls

# ---- helpers -----------------------------------------------------------------

# tls_conf: certificates and etc/proxyd.conf with an HTTPS listener added.
tls_conf() {
	rm -rf "$TLS_DIR"
	mkdir -p "$TLS_DIR" || return 1
	sh "$T_ROOT/tests/tools/mkcerts.sh" "$TLS_DIR" >/dev/null || return 1
	# proxyd reads the key as its own user.
	chown -R tandem-proxyd "$TLS_DIR" && chmod 0755 "$TLS_DIR" || return 1
	awk -v crt="$TLS_DIR/a-ecdsa.crt" -v key="$TLS_DIR/a-ecdsa.key" '
		/^listeners = \(/ { inl = 1 }
		inl && /^\);/ {
			print "  , { name = \"https\"; listen = \"*:443\";"
			print "      tls = { certificates = ( { cert = \"" crt "\"; key = \"" key "\"; } ); }; }"
			inl = 0
		}
		{ print }' "$ETC_PROXYD_CONF" >"$TLS_DIR/proxyd.conf" || return 1
	grep -q '"\*:443"' "$TLS_DIR/proxyd.conf" || return 1
	chmod 0644 "$TLS_DIR/proxyd.conf"
	"$BUILD/proxyd" -t -c "$TLS_DIR/proxyd.conf" >&2 || return 1
}

# served NODE: how many of this run's requests NODE's proxyd logged as HTTP/2.
served() { grep -c '"GET /h2ha?[0-9]* HTTP/2.0" 200' "$LAB_DIR/$1/proxyd.log"; }
# served_n1 N: has n1 served N yet? served_all: have both nodes' logs all NREQ?
served_n1() { (($(served n1) >= $1)); }
served_all() { (($(served n1) + $(served n2) >= NREQ)); }

# ---- cases -------------------------------------------------------------------

case_planned_h2() {
	local args=() i pid rc out err n1 n2 codes bad conns died refused goaway
	out=$LAB_DIR/h2client.out
	err=$LAB_DIR/h2client.err
	lab_wait_owner "$VIP1" n1 $MOVE_S || { T_WHY="web on '$(lab_owners "$VIP1")', not n1"; return 1; }
	for ((i = 1; i <= NREQ; i++)); do args+=(-o /dev/null "https://a.test/h2ha?$i"); done
	# Connect timeout 4 s, as in t_planned_roundtrip (lib.sh): the new
	# connection's SYN may be held off by the old owner for up to 2.5 s
	# and is retransmitted 1 s and 3 s after the first.
	ip netns exec "$(lab_ns client)" curl -sv --http2 --cacert "$LAB_DIR/root.crt" \
		--resolve "a.test:443:$VIP1" --rate "$RATE" --connect-timeout 4 -m 8 \
		-w '%{http_code} %{http_version} %{num_connects}\n' "${args[@]}" >"$out" 2>"$err" &
	pid=$!
	if ! t_wait 10 served_n1 20; then
		kill "$pid" 2>/dev/null; wait "$pid"
		T_WHY="the client got no 20 requests through n1: $(tail -n 3 "$err" | tr '\n' ' ')"
		return 1
	fi
	if ! lab_hactl n1 failover web --to n2 --wait >/dev/null 2>&1; then
		kill "$pid" 2>/dev/null; wait "$pid"
		T_WHY="hactl failover web --to n2 failed"
		return 1
	fi
	# curl ends by itself after NREQ requests (--rate: about 10 s);
	# T_TIMEOUT bounds the whole file.
	wait "$pid"
	rc=$?
	# A stream's access-log line may follow its answer by a moment.
	t_wait 5 served_all
	n1=$(served n1)
	n2=$(served n2)
	codes=$(wc -l <"$out")
	bad=$(grep -vc '^200 2 ' "$out")
	conns=$(awk '{ s += $3 } END { print s + 0 }' "$out")
	died=$(grep -c 'Connection died, retrying' "$err")
	refused=$(grep -c 'REFUSED_STREAM' "$err")
	t_log "h2 client: rc $rc, $codes answers, $bad not 200 over h2, $conns connections opened," \
		"$refused refused-stream lines (retried), served by n1 $n1, n2 $n2"
	((rc == 0)) || { T_WHY="curl exit $rc: $(grep -v '^[*<>{}]' "$err" | tail -n 2 | tr '\n' ' ')"; return 1; }
	((codes == NREQ && bad == 0)) ||
		{ T_WHY="$bad of $codes answers not 200 over HTTP/2 ($NREQ sent): $(grep -v '^200 2 ' "$out" | head -n 3 | tr '\n' ' ')"; return 1; }
	((died == 0)) || { T_WHY="$died requests hit a dead connection (curl re-sent them)"; return 1; }
	((conns >= 2)) || { T_WHY="the client never opened a second connection"; return 1; }
	((n1 > 0 && n2 > 0 && n1 + n2 == NREQ)) ||
		{ T_WHY="served by n1 $n1, n2 $n2 of $NREQ: not both nodes, or not all"; return 1; }
	goaway=$(t_scrape n1 9901 | awk '$1 == "tandem_h2_goaway_sent_total" { print $2 }')
	((${goaway:-0} >= 1)) || { T_WHY="n1's proxyd counted no GOAWAY sent (${goaway:-none})"; return 1; }
	[[ $(lab_owners "$VIP1") == n2 ]] || { T_WHY="web on '$(lab_owners "$VIP1")' after the failover"; return 1; }
}

# ---- run -----------------------------------------------------------------------

t_bound "$@"
tls_conf || { echo "cannot write the TLS proxyd.conf"; exit 1; }
PROXYD_CONF=$TLS_DIR/proxyd.conf
t_begin "$@"
cp "$TLS_DIR/root.crt" "$LAB_DIR/root.crt"
rm -rf "$TLS_DIR"
t_case "planned failover with an HTTP/2 client: GOAWAY, 0 failed requests, both nodes served" case_planned_h2
t_end
