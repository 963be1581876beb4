#!/usr/bin/env bash
# tests/run: parallel-safe
# tests/integration/test_status_page.sh — the cluster status page, in a browser.
#
# In the lab (scripts/lab, LAB_PREFIX=hstatus, two nodes), headless Chromium
# (Debian's `chromium`) loads http://127.0.0.1:9901/status?refresh=300 inside
# n1's namespace — the admin listener stays on loopback — runs the page's
# script and prints the rendered DOM (--dump-dom); the cases read the live
# values there:
#   - both nodes alive, VIP web owned by n1 and web2 by n2 (the peer's part
#     can only come through hacd: proxyd has no other way to know n2), the
#     servers of upstream "app" up;
#   - `hactl drain app/app2` and `hactl maint app/app3` on n2 change n1's page
#     (cluster admin state through the hacds), `hactl enable` changes it back;
#   - n2's hacd killed: n1's page shows n2 down, then alive again;
#   - a backend stopped: n1's page shows it down, and n2's own verdict on it
#     (relayed by the hacds) in the server's "checks by node" cell;
#   - attack: a server named <script>…</script> and a rate-limit key (a
#     client's header) <img src=x onerror=…> show up as text, never as
#     elements, and the page's title is untouched;
#   - compression: requests with Accept-Encoding: gzip through VIP web to a
#     route that compresses (/echo, which the lab backends send as
#     text/plain) come back gzip-coded, and n1's page counts them in its
#     compression table (gzip responses > 0, a ratio);
#   - /status.json is valid JSON; the admin listener does not answer from
#     the client's namespace.
# A screenshot (PNG) and the dumped DOMs are kept in /tmp/${LAB_PREFIX}-artifacts.
#
# Run as root from the repository root (BUILD=dir for binaries elsewhere).
# Prints one line per case and "N passed, N failed".

export LAB_NODES=2
export LAB_PREFIX=${LAB_PREFIX:-hstatus}
: "${T_TIMEOUT:=90}"

CONF_DIR=/tmp/${LAB_PREFIX}-conf
ART=/tmp/${LAB_PREFIX}-artifacts
export PROXYD_CONF=$CONF_DIR/proxyd.conf

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

EVIL_SERVER="<script>document.title='PWNED-S'</script>"
EVIL_KEY="<img src=x onerror=document.title='PWNED-K'>"

write_conf() {
	mkdir -p "$CONF_DIR" && chmod 0755 "$CONF_DIR" || return 1
	cat >"$PROXYD_CONF" <<EOF || return 1
threads = 1;
user = "tandem-proxyd";
log = { level = "info"; access = "off"; };
admin = { listen = "127.0.0.1:9901"; };
listeners = ( { name = "http"; listen = "*:80"; } );
upstreams = (
  { name = "app"; balance = "roundrobin";
    check = { type = "http"; path = "/health"; interval = "300ms"; timeout = "250ms"; rise = 1; fall = 2; };
    servers = (
      { name = "app1"; address = "10.99.0.21:8080"; },
      { name = "app2"; address = "10.99.0.22:8080"; },
      { name = "app3"; address = "10.99.0.23:8080"; }
    ); },
  { name = "odd"; servers = ( { name = "$EVIL_SERVER"; address = "10.99.0.21:8080"; } ); }
);
ratelimits = ( { name = "hk"; key = "header:x-key"; rate = 1; period = "10s"; } );
routes = (
  { name = "hk"; match = { path_prefix = "/hk/"; }; upstream = "app"; ratelimit = "hk"; },
  { name = "gz"; match = { path = "/echo"; }; upstream = "app"; compress = { prefer = [ "gzip" ]; min_length = 0; }; },
  { name = "default"; upstream = "app"; }
);
EOF
	chmod 0644 "$PROXYD_CONF"
}

# page NAME: n1's status page as Chromium renders it, into $ART/NAME.html.
# --virtual-time-budget lets the page's polls (300 ms apart) run before
# the DOM is dumped; chromium itself is bounded by timeout(1).
page() {
	ip netns exec "$(lab_ns n1)" timeout 30 chromium --headless --no-sandbox --disable-gpu \
		--user-data-dir="$ART/chromium" --virtual-time-budget=2500 \
		--dump-dom "http://127.0.0.1:9901/status?refresh=300" >"$ART/$1.html" 2>>"$ART/chromium.log"
}

# dom_has NAME REGEX: page NAME rendered now holds REGEX (ERE).
dom_has() { page "$1" && grep -Eq -- "$2" "$ART/$1.html"; }

# A server's row: <tr class="..." data-server="app/app2" data-state="drain">
srv_state() { dom_has "$1" "data-server=\"$2\" data-state=\"$3\""; }

case_cluster_view() {
	t_wait 15 dom_has view 'data-polls="[0-9]+"' || { t_fail "the page never drew /status.json"; return 1; }
	t_wait 10 dom_has view 'data-node="n2" data-alive="true"' || { t_fail "n2 not alive on n1's page"; return 1; }
	grep -q 'data-node="n1" data-alive="true"' "$ART/view.html" || { t_fail "n1 not alive on its own page"; return 1; }
	grep -q 'data-vip="web" data-owner="n1"' "$ART/view.html" || { t_fail "VIP web not owned by n1 on the page"; return 1; }
	grep -q 'data-vip="web2" data-owner="n2"' "$ART/view.html" || { t_fail "VIP web2 not owned by n2 on the page"; return 1; }
	t_wait 10 srv_state view app/app1 up || { t_fail "app/app1 not up on the page"; return 1; }
	grep -q 'data-server="app/app2" data-state="up"' "$ART/view.html" || { t_fail "app/app2 not up"; return 1; }
}

case_drain_maint() {
	lab_hactl n2 drain app/app2 >/dev/null || { t_fail "hactl drain failed"; return 1; }
	t_wait 15 srv_state drain app/app2 drain || { t_fail "app/app2 not shown draining on n1"; return 1; }
	lab_hactl n2 maint app/app3 >/dev/null || { t_fail "hactl maint failed"; return 1; }
	t_wait 15 srv_state maint app/app3 maint || { t_fail "app/app3 not shown in maintenance on n1"; return 1; }
	grep -q 'data-server="app/app2" data-state="drain"' "$ART/maint.html" || { t_fail "app/app2 no longer draining"; return 1; }
	# The screenshot shows a drained and a maintained server.
	ip netns exec "$(lab_ns n1)" timeout 30 chromium --headless --no-sandbox --disable-gpu \
		--user-data-dir="$ART/chromium" --virtual-time-budget=2500 --window-size=1280,1400 \
		--screenshot="$ART/status.png" "http://127.0.0.1:9901/status?refresh=300" 2>>"$ART/chromium.log" >/dev/null
	[[ $(head -c 8 "$ART/status.png" 2>/dev/null | od -An -tx1 | tr -d ' \n') == 89504e470d0a1a0a ]] ||
		{ t_fail "no PNG screenshot in $ART/status.png"; return 1; }
	t_log "screenshot: $ART/status.png"
	if ! lab_hactl n2 enable app/app2 >/dev/null || ! lab_hactl n2 enable app/app3 >/dev/null; then
		t_fail "hactl enable failed"
		return 1
	fi
	t_wait 15 srv_state enabled app/app3 up || { t_fail "app/app3 not back up on the page"; return 1; }
	grep -q 'data-server="app/app2" data-state="up"' "$ART/enabled.html" || { t_fail "app/app2 not back up"; return 1; }
}

case_peer_down() {
	lab_kill n2/hacd KILL
	t_wait 15 dom_has peerdown 'data-node="n2" data-alive="false"' || { t_fail "n2's death not on n1's page"; return 1; }
	lab_start_hacd n2
	t_wait 15 dom_has peerback 'data-node="n2" data-alive="true"' || { t_fail "n2 not alive again on n1's page"; return 1; }
}

# A backend stops: n2's own checks find it down, and n1's page says so in
# the server's "checks by node" cell, which only hacd's replicated store
# can tell n1's proxyd.
case_backend_down() {
	lab_kill b3/backend TERM
	t_wait 15 dom_has b3down 'data-server="app/app3" data-state="down"' ||
		{ lab_start_backend b3; t_fail "app/app3 not down on n1's page"; return 1; }
	t_wait 15 dom_has b3down 'data-by-node="[^"]*n2:down' ||
		{ lab_start_backend b3; t_fail "n2's verdict on app/app3 not on n1's page"; return 1; }
	lab_start_backend b3
	t_wait 15 srv_state b3up app/app3 up || { t_fail "app/app3 not up again on n1's page"; return 1; }
}

case_escaping() {
	local c i
	# The key limit admits one per 10 s: the second request is limited
	# and the key is counted in the top list either way.
	for i in 1 2; do
		ip netns exec "$(lab_ns client)" curl -s -o /dev/null -m 3 -H "X-Key: $EVIL_KEY" \
			"http://$(lab_ip n1)/hk/x" || true
	done
	t_wait 10 dom_has attack 'data-limit="hk"' || { t_fail "no rate-limit table on the page"; return 1; }
	c=$(<"$ART/attack.html")
	[[ $c == *"&lt;script&gt;document.title='PWNED-S'&lt;/script&gt;"* ]] ||
		{ t_fail "the <script> server name is not shown as text"; return 1; }
	[[ $c == *"&lt;img src=x onerror=document.title='PWNED-K'&gt;"* ]] ||
		{ t_fail "the <img> rate-limit key is not shown as text"; return 1; }
	[[ $c != *"<script>document.title"* && $c != *"<img src=x"* ]] ||
		{ t_fail "a value from config or the network became markup"; return 1; }
	[[ $c == *"<title>tandem status</title>"* && $c != *PWNED-?"</title>"* ]] ||
		{ t_fail "the page's title changed: an injected script ran"; return 1; }
}

# Through VIP web (n1's): each response gzip-coded, and n1's page counts
# them. Only n1's proxyd answers on web, so its counters must move.
case_compression() {
	local i h n=0
	for i in 1 2 3; do
		h=$(ip netns exec "$(lab_ns client)" curl -s -o /dev/null -D - -m 3 -H "Accept-Encoding: gzip" \
			"http://$LAB_VIP_WEB/echo") || continue
		grep -qi '^content-encoding: gzip' <<<"$h" && n=$((n + 1))
	done
	((n == 3)) || { t_fail "$n of 3 responses through the VIP were gzip-coded"; return 1; }
	t_wait 10 dom_has gzip 'data-coding="gzip" data-responses="[1-9][0-9]*"' ||
		{ t_fail "n1's page shows no gzip responses"; return 1; }
	grep -Eq '[0-9]+\.[0-9]{2}x' "$ART/gzip.html" || { t_fail "no compression ratio on the page"; return 1; }
}

case_json_and_loopback() {
	ip netns exec "$(lab_ns n1)" curl -sf -m 3 http://127.0.0.1:9901/status.json | python3 -c '
import json, sys
d = json.load(sys.stdin)
alive = {n["name"]: n["alive"] for n in d["nodes"]}
assert alive.get("n1") and alive.get("n2") and not alive.get("n3", False), alive  # n3: configured, never started
assert d["hacd"]["seen"] and d["hacd"]["node"] == "n1"
gz = [c for c in d["compression"]["codings"] if c["coding"] == "gzip"][0]
assert gz["responses"] >= 3 and gz["bytes_in"] > 0 and gz["ratio"] is not None, gz
' || { t_fail "/status.json is not the expected JSON"; return 1; }
	ip netns exec "$(lab_ns client)" curl -s -o /dev/null -m 2 "http://$(lab_ip n1):9901/status" &&
		{ t_fail "the admin listener answers from the client's namespace"; return 1; }
	return 0
}

# ---- run -----------------------------------------------------------------------

command -v chromium >/dev/null || { echo "test_status_page: chromium is not installed (scripts/install-deps)" >&2; exit 1; }
write_conf || { echo "test_status_page: cannot write the configuration" >&2; exit 1; }
rm -rf "$ART"
mkdir -p "$ART"
t_begin "$@"

t_case "n1's page shows both nodes, the VIP owners and app's servers up" case_cluster_view
t_case "hactl drain / maint / enable on n2 change n1's page; screenshot kept" case_drain_maint
t_case "n2's hacd killed and restarted: n1's page follows" case_peer_down
t_case "a backend stopped: n1's page shows it down, with n2's verdict" case_backend_down
t_case "a <script> server name and an <img> rate-limit key render as text" case_escaping
t_case "gzip responses through the VIP show in n1's compression table" case_compression
t_case "/status.json is JSON with both nodes alive; the admin listener stays on loopback" case_json_and_loopback
t_end
