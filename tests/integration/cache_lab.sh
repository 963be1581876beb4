# shellcheck shell=bash
# tests/integration/cache_lab.sh — what the cache's lab tests share
# (test_purge.sh, test_cache_cluster.sh): two nodes, each proxyd caching /c/
# from its own counting origin (tests/tools/cache_origin.py on 127.0.0.1
# inside the node's namespace), so an origin's count says what that node's
# cache did. Sourced after lib.sh; the test sets PG_DIR, PROXYD_CONF and
# ORIGIN_PORT first.

# cache_lab_conf CACHE_OPTIONS: proxyd.conf for both nodes, the cache "main"
# with CACHE_OPTIONS (e.g. 'size = "8m";').
cache_lab_conf() {
	mkdir -p "$PG_DIR" && chmod 0755 "$PG_DIR" || return 1
	cat >"$PROXYD_CONF" <<EOC || return 1
threads = 2;
user = "tandem-proxyd";
log = { level = "info"; access = "off"; };
admin = { listen = "127.0.0.1:9901"; };
listeners = ( { name = "http"; listen = "*:80"; } );
caches = ( { name = "main"; $1 } );
upstreams = (
  { name = "org"; servers = ( { name = "o1"; address = "127.0.0.1:$ORIGIN_PORT"; } ); }
);
routes = ( { name = "c"; match = { path_prefix = "/c/"; }; upstream = "org"; cache = "main"; } );
EOC
	chmod 0644 "$PROXYD_CONF"
}

origin_start() {
	lab_spawn "$(lab_ns "$1")" "$1/origin" "$(lab_node_dir "$1")/origin.log" \
		python3 "${T_ROOT:-$PWD}/tests/tools/cache_origin.py" "$ORIGIN_PORT"
}

# count NODE TARGET: requests for TARGET that reached NODE's origin.
count() {
	ip netns exec "$(lab_ns "$1")" curl -s --max-time 5 -G --data-urlencode "t=$2" \
		"http://127.0.0.1:$ORIGIN_PORT/_count"
}
# get NODE TARGET: one request through NODE's proxyd.
get() { ip netns exec "$(lab_ns "$1")" curl -s -o /dev/null --max-time 5 "http://127.0.0.1$2"; }

counter_above() { local v; v=$(t_counter "$1" "$2"); [[ $v =~ ^[0-9]+$ ]] && ((v > $3)); }

# setup: both origins, both nodes' daemons, each hacd seeing both alive.
setup() {
	local n
	for n in n1 n2; do
		lab_alive "$n/origin" || origin_start "$n"
		t_wait 10 lab_listening "$n" "$ORIGIN_PORT" || { t_fail "origin on $n did not start"; return 1; }
	done
	t_daemons_up || return 1
	for n in n1 n2; do
		t_wait 10 t_both_alive "$n" || { t_fail "hacd on $n does not see both nodes alive"; return 1; }
	done
}
