#!/usr/bin/env bash
# tests/run: alone (ownership sampled every 25 ms against dead-interval windows)
# tests/integration/test_quorum.sh — N nodes, quorum and a witness.
#
# In the lab (scripts/lab, LAB_PREFIX=tdmv, LAB_NODES=5, hacd alone: no
# proxyd), with quorum = "majority":
#   - five nodes elect one owner per VIP and each counts 5 of 5 votes;
#     state replication reaches all five; the owner's host dies, a link
#     goes down, an owner hands a VIP over (hactl failover): one owner each
#     time, on a node that counts a majority;
#   - a cut into 3+2 leaves both VIPs on the three, and the two count 2 of
#     5 (hactl status, metrics, quorum-lost); a cut into 2+2+1 leaves both
#     VIPs on nobody (no part has a majority); healed, one owner each;
#     three nodes cut 2+1: the two; four nodes cut 2+2: nobody;
#   - a pair with quorum on: its link cut, nobody owns (1 of 2 each); with
#     quorum off the same cut makes two owners (the split brain quorum
#     exists to prevent: shown, so the difference is measured, not assumed);
#   - a pair with a witness (hacd --witness on host w): the pair's link cut
#     while both reach the witness, the node the witness votes for keeps
#     (or takes) every VIP and the other holds none; a forged witness
#     heartbeat (another key) voting for the cut-off node is dropped and
#     counted and gives it nothing; a recording of the witness voting for
#     a node, replayed after that node restarted, is dropped as unproven
#     and gives it nothing.
#
# The judge is the kernel: a sampler reads every node's eth0 (ip -o addr)
# in a loop the whole time, and after each case every sample outside the
# transition windows must show at most one owner per VIP. A transition
# window opens when the test cuts, kills or hands over and closes
# T_BOUND_MS after the step returned: three dead intervals
# (dead_intervals x advert, from the configuration below): one for the
# losing side to count its peers dead, one for the winning side, one for a
# node regaining its majority to hear the cluster. Rejoins (links back,
# restarts, heals) get no window: they must never make a second owner.
# Planned failover's window also covers the linger (200 ms of deliberate
# overlap, make-before-break: hacd/node.c NODE_LINGER_MS).
#
# Run as root from the repository root. Prints one line per case and
# "N passed, N failed".

export LAB_NODES=5
export LAB_PROXYD=0
export LAB_PREFIX=${LAB_PREFIX:-tdmv}
: "${T_TIMEOUT:=240}"

Q_DIR=/tmp/${LAB_PREFIX}-qconf
export HACD_CONF=$Q_DIR/hacd.conf

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

ADVERT_MS=100
DEAD_INTERVALS=3
DEAD_MS=$((ADVERT_MS * DEAD_INTERVALS))
T_BOUND_MS=$((3 * DEAD_MS))
HB_PORT=7007
VIP1=$LAB_VIP_WEB
VIP2=$LAB_VIP_WEB2
SAMPLES=$LAB_DIR/samples
WINDOWS=()           # "start end" in ms, every transition window so far
CASE_T0=0

# ---- configurations -----------------------------------------------------------

# conf NODES_BLOCK PRIO_WEB PRIO_WEB2 QUORUM: an hacd.conf for the tests.
conf() {
	cat <<EOF
cluster = "quorum";
key_file = "hacd.key";
advert = "${ADVERT_MS}ms";
dead_intervals = $DEAD_INTERVALS;
port = $HB_PORT;
quorum = $4;
garp = { count = 2; spacing = "100ms"; };
admin = { listen = "127.0.0.1:9902"; };
nft = "";
nodes = ( $1 );
vips = (
  { name = "web"; address = "$VIP1/24"; interface = "eth0"; priority = { $2 }; preempt = false; },
  { name = "web2"; address = "$VIP2/24"; interface = "eth0"; priority = { $3 }; preempt = false; }
);
track = { proxyd = "off"; interface = true; };
EOF
}

node_entry() { echo "{ name = \"$1\"; address = \"$(lab_ip "$1")\"; $2 }"; }

write_five() {
	mkdir -p "$Q_DIR" && chmod 0755 "$Q_DIR" || return 1
	conf "$(node_entry n1), $(node_entry n2), $(node_entry n3), $(node_entry n4), $(node_entry n5)" \
		"n1 = 150; n2 = 140; n3 = 130; n4 = 120; n5 = 110;" \
		"n1 = 140; n2 = 150; n3 = 110; n4 = 120; n5 = 130;" '"majority"' >"$HACD_CONF"
}

# The lab runs its own copy of the file (lab_prepare_conf): later
# configurations are written there, beside the key.
write_pair() {
	local extra=$1 q=$2
	conf "$(node_entry n1), $(node_entry n2)$extra" "n1 = 150; n2 = 100;" "n1 = 100; n2 = 150;" "$q" \
		>"$LAB_DIR/hacd.conf"
}

# ---- the sampler --------------------------------------------------------------

# One line per round: "MS OWNERS_OF_WEB OWNERS_OF_WEB2", owners comma
# separated, "-" for none, about every 20 ms. No process per round: a
# sleeper pinned in each node's namespace lets /proc/PID/net/fib_trie show
# that namespace's local addresses (a VIP on eth0 is a "/32 host LOCAL"
# entry), read with bash builtins; the pause is a read timeout on a FIFO.
# Bounded (the stop file, the test's end, and 20000 rounds).
sampler() {
	local t n a b i fd x re1 re2 fifo=$LAB_DIR/sampler.fifo
	local -A pin
	for n in n1 n2 n3 n4 n5; do pin[$n]=$(lab_pid "$n/pin"); done
	mkfifo "$fifo" && exec {fd}<>"$fifo"
	re1="-- ${VIP1//./\\.}"$'\n'" */32 host LOCAL"
	re2="-- ${VIP2//./\\.}"$'\n'" */32 host LOCAL"
	for ((i = 0; i < 20000; i++)); do
		# Also ends with the test (its lab directory gone, or the
		# script itself: an interrupted run must not leave it behind).
		[[ -e $LAB_DIR/sampler.stop || ! -d $LAB_DIR ]] && break
		kill -0 "$$" 2>/dev/null || break
		t=${EPOCHREALTIME/[.,]/}
		t=$((t / 1000))
		a=
		b=
		for n in n1 n2 n3 n4 n5; do
			x=
			read -r -d '' x <"/proc/${pin[$n]}/net/fib_trie"
			[[ $x =~ $re1 ]] && a+="$n,"
			[[ $x =~ $re2 ]] && b+="$n,"
		done
		echo "$t ${a:--} ${b:--}"
		read -r -t 0.02 -u "$fd" x
	done
	exec {fd}>&-
}

# A process that lives in each node's namespace for the sampler to look
# through (stopped by lab_down with the rest).
start_pins() {
	local n
	for n in n1 n2 n3 n4 n5; do
		lab_spawn "$(lab_ns "$n")" "$n/pin" /dev/null sleep "$T_TIMEOUT"
	done
	for n in n1 n2 n3 n4 n5; do lab_wait 5 lab_alive "$n/pin" || return 1; done
}

window_open() { W_T0=$(lab_now_ms); }
window_close() { WINDOWS+=("$W_T0 $(($(lab_now_ms) + T_BOUND_MS))"); }
# Wait until the window that is open has run its course.
window_pass() { sleep "$(printf '%d.%03d' $((T_BOUND_MS / 1000)) $((T_BOUND_MS % 1000)))"; }

# check_samples: the samples since the case began, outside every window,
# show at most one owner per VIP; there are some (a sampler that stopped
# would otherwise pass everything).
# With "raw": no window excluded, and print "SAMPLES BAD" only (the
# quorum-off case uses it to show the check does see two owners).
check_samples() {
	local now res n bad w="${WINDOWS[*]}"
	now=$(lab_now_ms)
	[[ ${1:-} == raw ]] && w=
	res=$(awk -v from="$CASE_T0" -v to="$now" -v w="$w" '
		BEGIN { k = split(w, ws, " ") }
		$1 >= from && $1 <= to {
			for (i = 1; i < k; i += 2) if ($1 >= ws[i] && $1 <= ws[i + 1]) next
			n++
			if (gsub(",", ",", $2) > 1 || gsub(",", ",", $3) > 1) { bad++; if (!first) first = $0 }
		}
		END { printf "%d %d %s\n", n, bad, first }' "$SAMPLES")
	n=${res%% *}
	res=${res#* }
	bad=${res%% *}
	[[ ${1:-} == raw ]] && { echo "$n $bad"; return 0; }
	((n >= 3)) || { t_fail "only $n samples outside the transition windows: is the sampler running?"; return 1; }
	((bad == 0)) || { t_fail "$bad of $n samples show two owners outside the transition windows, first: ${res#* }"; return 1; }
	t_log "$n samples outside the transition windows, none with two owners"
}

begin_case() { CASE_T0=$(lab_now_ms); }

# ---- helpers -------------------------------------------------------------------

# The owners of a VIP as the sampler writes them: "n1," "n1,n2," or "-".
owner_of() { local o; o=$(lab_owners "$1"); [[ -z $o ]] && echo - || echo "${o// /,},"; }
owners_are() { [[ $(owner_of "$VIP1") == "$1" && $(owner_of "$VIP2") == "$2" ]]; }
# Exactly one owner for each VIP, among the nodes in $1.
one_owner_among() {
	local v o
	for v in "$VIP1" "$VIP2"; do
		o=$(lab_owners "$v")
		[[ -n $o && $o != *" "* && " $1 " == *" $o "* ]] || return 1
	done
}

qjson() { lab_hactl "$1" status --json 2>/dev/null | jq -r "$2" 2>/dev/null; }
quorate_is() { [[ $(qjson "$1" .quorum.quorate) == "$2" ]]; }
votes_are() { [[ $(qjson "$1" '"\(.quorum.votes_seen)/\(.quorum.votes_needed)"') == "$2" ]]; }
metric() {
	ip netns exec "$(lab_ns "$1")" curl -s -m 3 http://127.0.0.1:9902/metrics 2>/dev/null |
		awk -v k="$2" '$1 == k { print $2; exit }'
}

# Host death: no goodbye, its addresses die with it.
host_dies() {
	ip -n "$(lab_ns sw)" link set "$1" down
	lab_kill "$1/hacd" KILL
	ip -n "$(lab_ns "$1")" addr del "$VIP1/24" dev eth0 2>/dev/null
	ip -n "$(lab_ns "$1")" addr del "$VIP2/24" dev eth0 2>/dev/null
	true
}

host_returns() {
	lab_start_hacd "$1"
	lab_wait_hacd "$1" 10 || return 1
	ip -n "$(lab_ns sw)" link set "$1" up
}

# nft_cut A B: drop everything between hosts A and B in A's namespace
# (both directions), so each still reaches every other host.
nft_cut() {
	ip netns exec "$(lab_ns "$1")" nft -f - <<EOF
table inet tdmv_cut {
  chain in { type filter hook input priority 0; ip saddr $(lab_ip "$2") drop; }
  chain out { type filter hook output priority 0; ip daddr $(lab_ip "$2") drop; }
}
EOF
}
nft_heal() { ip netns exec "$(lab_ns "$1")" nft delete table inet tdmv_cut 2>/dev/null; true; }

# ---- five nodes ------------------------------------------------------------------

# settle WHAT: after a restart inside an open window, web on n1 and web2
# on n2; the window closes and runs its course.
settle() {
	t_wait 10 owners_are n1, n2, || { window_close; t_fail "$1: web '$(owner_of "$VIP1")' web2 '$(owner_of "$VIP2")'"; return 1; }
	window_close
	window_pass
}

# cut_to WEB WEB2 WHAT GROUP...: a new case's samples begin; the switch is
# cut into the GROUPs (lab_partition) inside a window, and the VIPs must
# end on WEB and WEB2; the window runs its course.
cut_to() {
	local w1=$1 w2=$2 what=$3
	shift 3
	begin_case
	window_open
	lab_partition "$@" || { window_close; t_fail "cannot cut the switch"; return 1; }
	window_close
	t_wait 10 owners_are "$w1" "$w2" || { t_fail "$what: web '$(owner_of "$VIP1")' web2 '$(owner_of "$VIP2")', want $w1 $w2"; return 1; }
	window_pass
}

case_five_up() {
	local n
	begin_case
	t_wait 15 owners_are n1, n2, || { t_fail "owners web '$(owner_of "$VIP1")' web2 '$(owner_of "$VIP2")', want n1 and n2"; return 1; }
	for n in n1 n2 n3 n4 n5; do
		t_wait 5 votes_are "$n" 5/3 || { t_fail "$n counts $(qjson "$n" '.quorum') , want 5 of 5 (3 needed)"; return 1; }
	done
	lab_hactl n3 status | grep -q "^quorum yes: 5 of 5 votes, 3 needed" ||
		{ t_fail "hactl status on n3 does not say 'quorum yes: 5 of 5 votes, 3 needed'"; return 1; }
	[[ $(metric n4 tandem_hacd_quorate) == 1 && $(metric n4 'tandem_hacd_quorum_votes{kind="needed"}') == 3 ]] ||
		{ t_fail "n4's metrics: quorate '$(metric n4 tandem_hacd_quorate)'"; return 1; }
	[[ $(qjson n5 '.vips[] | select(.name == "web") | .owner') == n1 ]] ||
		{ t_fail "n5 does not see n1 as web's owner"; return 1; }
	check_samples
}

admin_state() {
	lab_hactl "$1" admin --json 2>/dev/null |
		jq -r '.admin[] | select(.upstream == "app" and .server == "app1") | .state // empty' 2>/dev/null
}
all_drain() { local n; for n in n1 n2 n3 n4 n5; do [[ $(admin_state "$n") == drain ]] || return 1; done; }
all_ready() { local n s; for n in n1 n2 n3 n4 n5; do s=$(admin_state "$n"); [[ -z $s || $s == ready ]] || return 1; done; }

case_five_replication() {
	lab_hactl n4 drain app/app1 >/dev/null || { t_fail "hactl drain app/app1 on n4 failed"; return 1; }
	t_wait 10 all_drain || { t_fail "the drain did not reach every node (n1 '$(admin_state n1)', n5 '$(admin_state n5)')"; return 1; }
	lab_hactl n2 enable app/app1 >/dev/null || { t_fail "hactl enable on n2 failed"; return 1; }
	t_wait 10 all_ready || { t_fail "enable did not reach every node"; return 1; }
}

# move_and_back DOWN UP NODE WEB WEB2 WHAT: "DOWN NODE" inside a window;
# the VIPs must end on WEB and WEB2; "UP NODE" (no window: a rejoin must
# never make a second owner) must leave them there (preempt is off).
move_and_back() {
	local down=$1 up=$2 n=$3 w1=$4 w2=$5 what=$6
	begin_case
	window_open
	"$down" "$n"
	window_close
	t_wait 10 owners_are "$w1" "$w2" || { t_fail "web '$(owner_of "$VIP1")' web2 '$(owner_of "$VIP2")' after $what, want $w1 $w2"; return 1; }
	window_pass
	"$up" "$n" || { t_fail "$n did not come back"; return 1; }
	t_wait 10 votes_are "$n" 5/3 || { t_fail "$n back counts $(qjson "$n" .quorum)"; return 1; }
	sleep 0.5
	owners_are "$w1" "$w2" || { t_fail "after $n came back: web '$(owner_of "$VIP1")' web2 '$(owner_of "$VIP2")'"; return 1; }
	check_samples
}

link_down() { ip -n "$(lab_ns sw)" link set "$1" down; }
link_up() { ip -n "$(lab_ns sw)" link set "$1" up; }

case_owner_dies() { move_and_back host_dies host_returns n1 n2, n2, "n1 died"; }
case_link_loss() { move_and_back link_down link_up n2 n1, n1, "n2's link went down"; }

case_planned() {
	begin_case
	window_open
	lab_hactl n1 failover web --to n3 --wait >/dev/null || { window_close; t_fail "hactl failover web --to n3 failed"; return 1; }
	t_wait 10 owners_are n3, n1, || { window_close; t_fail "web '$(owner_of "$VIP1")' after the failover, want n3"; return 1; }
	window_close
	[[ $(qjson n5 '.vips[] | select(.name == "web") | .owner') == n3 ]] ||
		{ t_fail "n5 does not see n3 as web's owner"; return 1; }
	window_pass
	# Sampled at rest after the handover: a dead interval more.
	sleep "0.$DEAD_MS"
	check_samples
}

case_three_two() {
	local lost0
	lost0=$(t_counter n1 quorum-lost 0)
	# web on n3, web2 on n1: both owners on the smaller side; n2 is the
	# three's best.
	cut_to n2, n2, "3+2" "n2 n4 n5" "n1 n3" || return 1
	{ quorate_is n1 false && quorate_is n3 false && votes_are n3 2/3; } ||
		{ t_fail "the two: n1 $(qjson n1 .quorum), n3 $(qjson n3 .quorum)"; return 1; }
	lab_hactl n1 status | grep -q "^quorum NO: 2 of 5 votes, 3 needed" ||
		{ t_fail "hactl status on n1 does not say 'quorum NO: 2 of 5 votes, 3 needed'"; return 1; }
	[[ $(metric n1 tandem_hacd_quorate) == 0 ]] || { t_fail "n1's tandem_hacd_quorate is not 0"; return 1; }
	(($(t_counter n1 quorum-lost 0) > lost0)) || { t_fail "quorum-lost did not move on n1"; return 1; }
	grep -q "quorum lost: 2 of 5 votes" "$LAB_DIR/n1/hacd.log" || { t_fail "n1 did not log the loss"; return 1; }
	quorate_is n4 true || { t_fail "n4 on the three: $(qjson n4 .quorum)"; return 1; }
	lab_heal || { t_fail "cannot heal the switch"; return 1; }
	t_wait 10 votes_are n1 5/3 || { t_fail "healed, n1 counts $(qjson n1 .quorum)"; return 1; }
	t_wait 10 votes_are n3 5/3 || { t_fail "healed, n3 counts $(qjson n3 .quorum)"; return 1; }
	sleep 0.5
	owners_are n2, n2, || { t_fail "healed: web '$(owner_of "$VIP1")' web2 '$(owner_of "$VIP2")'"; return 1; }
	check_samples
}

case_two_two_one() {
	cut_to - - "2+2+1" "n1 n2" "n3 n4" "n5" || return 1
	# Nobody may claim later either: a whole dead interval more, sampled.
	sleep "0.$DEAD_MS"
	owners_are - - || { t_fail "2+2+1: web '$(owner_of "$VIP1")' web2 '$(owner_of "$VIP2")' later"; return 1; }
	{ quorate_is n5 false && votes_are n5 1/3; } || { t_fail "n5 alone: $(qjson n5 .quorum)"; return 1; }
	# Healed: a majority everywhere, one owner each (no window: nobody
	# held anything, so a second owner here would be a fault).
	lab_heal || { t_fail "cannot heal the switch"; return 1; }
	t_wait 10 one_owner_among "n1 n2 n3 n4 n5" || { t_fail "healed: web '$(owner_of "$VIP1")' web2 '$(owner_of "$VIP2")'"; return 1; }
	check_samples
}

# ---- a pair, with and without quorum, then with a witness -------------------------

stop_all() {
	local n
	for n in "$@"; do lab_kill "$n/hacd" KILL; done
	for n in n1 n2 n3 n4 n5; do
		ip -n "$(lab_ns "$n")" addr del "$VIP1/24" dev eth0 2>/dev/null
		ip -n "$(lab_ns "$n")" addr del "$VIP2/24" dev eth0 2>/dev/null
	done
	true
}

# restart_with NODES...: every hacd stopped (VIPs removed with them), the
# lab's hacd.conf rewritten for NODES (quorum on, the five-node
# priorities), those started; inside a window.
restart_with() {
	local -A p1=([n1]=150 [n2]=140 [n3]=130 [n4]=120 [n5]=110) p2=([n1]=140 [n2]=150 [n3]=110 [n4]=120 [n5]=130)
	local n nodes='' w1='' w2=''
	stop_all n1 n2 n3 n4 n5
	for n in "$@"; do
		nodes+="${nodes:+, }$(node_entry "$n")"
		w1+="$n = ${p1[$n]}; "
		w2+="$n = ${p2[$n]}; "
	done
	conf "$nodes" "$w1" "$w2" '"majority"' >"$LAB_DIR/hacd.conf" || return 1
	for n in "$@"; do lab_start_hacd "$n"; done
	for n in "$@"; do lab_wait_hacd "$n" 10 || return 1; done
}

# Three nodes cut 2+1 with the owner of web alone: the two own both.
case_three_nodes() {
	window_open
	restart_with n1 n2 n3 || { window_close; t_fail "cannot restart three nodes"; return 1; }
	settle "three nodes" || return 1
	votes_are n3 3/2 || { t_fail "n3 counts $(qjson n3 .quorum), want 3 of 3"; return 1; }
	cut_to n2, n2, "2+1" "n2 n3" "n1" || return 1
	{ votes_are n1 1/2 && quorate_is n1 false; } || { t_fail "n1 alone: $(qjson n1 .quorum)"; return 1; }
	lab_heal
	t_wait 10 votes_are n1 3/2 || { t_fail "healed, n1 counts $(qjson n1 .quorum)"; return 1; }
	sleep 0.5
	owners_are n2, n2, || { t_fail "healed: web '$(owner_of "$VIP1")' web2 '$(owner_of "$VIP2")'"; return 1; }
	check_samples
}

# Four nodes cut 2+2: neither half has 3 of 4, nobody owns.
case_four_nodes() {
	window_open
	restart_with n1 n2 n3 n4 || { window_close; t_fail "cannot restart four nodes"; return 1; }
	settle "four nodes" || return 1
	cut_to - - "2+2" "n1 n3" "n2 n4" || return 1
	{ votes_are n1 2/3 && votes_are n4 2/3; } || { t_fail "2+2: n1 $(qjson n1 .quorum) n4 $(qjson n4 .quorum)"; return 1; }
	lab_heal
	t_wait 10 one_owner_among "n1 n2 n3 n4" || { t_fail "healed: web '$(owner_of "$VIP1")' web2 '$(owner_of "$VIP2")'"; return 1; }
	check_samples
}

case_pair_quorum() {
	window_open
	stop_all n1 n2 n3 n4 n5
	write_pair "" true || { t_fail "cannot write the pair's configuration"; return 1; }
	lab_start_hacd n1
	lab_start_hacd n2
	settle "pair" || return 1
	cut_to - - "pair cut, quorum on" "n1" "n2" || return 1
	{ votes_are n1 1/2 && votes_are n2 1/2; } || { t_fail "pair cut: n1 $(qjson n1 .quorum)"; return 1; }
	lab_heal
	t_wait 10 owners_are n1, n2, || { t_fail "pair healed: web '$(owner_of "$VIP1")' web2 '$(owner_of "$VIP2")'"; return 1; }
	check_samples
}

# Quorum off: the same cut gives two owners of each VIP. This is the
# failure quorum prevents; the case shows it happens without quorum, so
# the case above measures a difference.
case_pair_no_quorum() {
	local n res
	sed -i 's/^quorum = .*/quorum = false;/' "$LAB_DIR/hacd.conf"
	for n in n1 n2; do lab_hactl "$n" reload >/dev/null || { t_fail "reload on $n failed"; return 1; }; done
	t_wait 5 quorate_is n1 true || { t_fail "quorum off: n1 $(qjson n1 .quorum)"; return 1; }
	[[ $(qjson n1 .quorum.enabled) == false ]] || { t_fail "quorum still enabled on n1 after the reload"; return 1; }
	begin_case
	window_open
	lab_partition "n1" "n2" || { t_fail "cannot cut the switch"; return 1; }
	t_wait 10 owners_are n1,n2, n1,n2, || { window_close; t_fail "pair cut, quorum off: web '$(owner_of "$VIP1")' web2 '$(owner_of "$VIP2")', want both on both (split brain)"; return 1; }
	lab_heal
	t_wait 10 owners_are n1, n2, || { window_close; t_fail "split brain did not heal: web '$(owner_of "$VIP1")' web2 '$(owner_of "$VIP2")'"; return 1; }
	window_close
	# The sampler saw it too: the check that passes everywhere else
	# would have failed here.
	res=$(check_samples raw)
	((${res#* } > 0)) || { t_fail "the sampler saw no two owners in the split brain ($res)"; return 1; }
}

witness_votes() { [[ $(qjson w .vote_for) == "$1" ]]; }

case_witness_cut() {
	window_open
	stop_all n1 n2 n3 n4 n5
	lab_attach w || { window_close; t_fail "cannot attach host w"; return 1; }
	write_pair ", $(node_entry w 'witness = true;')" '"majority"' || { t_fail "cannot write the witness configuration"; return 1; }
	lab_start_hacd n1
	lab_start_hacd n2
	lab_start_hacd w --witness
	lab_wait_hacd w 10 || { window_close; t_fail "hacd --witness did not start"; return 1; }
	t_wait 10 owners_are n1, n2, || { window_close; t_fail "pair+witness: web '$(owner_of "$VIP1")' web2 '$(owner_of "$VIP2")'"; return 1; }
	t_wait 10 witness_votes n1 || { window_close; t_fail "the witness votes for '$(qjson w .vote_for)', want n1 (a tie: the first name)"; return 1; }
	window_close
	window_pass
	lab_hactl w status | grep -q "^witness: a vote only, votes for n1" || { t_fail "hactl status on w"; return 1; }
	lab_hactl n2 status | grep -q "^witness w votes for n1" || { t_fail "hactl status on n2 does not show the witness's vote"; return 1; }
	{ votes_are n1 3/2 && votes_are n2 2/2; } || { t_fail "votes: n1 $(qjson n1 .quorum) n2 $(qjson n2 .quorum)"; return 1; }
	begin_case
	window_open
	nft_cut n1 n2 || { t_fail "nft cut failed"; return 1; }
	window_close
	t_wait 10 owners_are n1, n1, || { t_fail "pair cut, witness votes n1: web '$(owner_of "$VIP1")' web2 '$(owner_of "$VIP2")', want n1 for both"; return 1; }
	window_pass
	{ votes_are n1 2/2 && votes_are n2 1/2 && quorate_is n2 false; } ||
		{ t_fail "cut: n1 $(qjson n1 .quorum) n2 $(qjson n2 .quorum)"; return 1; }
	witness_votes n1 || { t_fail "the witness's vote moved to '$(qjson w .vote_for)'"; return 1; }
	check_samples
}

case_witness_forged() {
	local forge=$BUILD/tests/tools/hb_forge bad=$LAB_DIR/wrong.key a0 a1
	begin_case
	(umask 077 && printf '1 %s\n' "$(openssl rand -hex 32)" >"$bad") || return 1
	a0=$(t_counter n2 drop-auth-failed 0)
	# The cut is still in place: n2 has 1 of 3. The lie: the witness votes n2.
	ip netns exec "$(lab_ns w)" "$forge" forge --key "$bad" --cluster quorum --node w --vote-for n2 \
		--to "$(lab_ip n2):$HB_PORT" --spoof "$(lab_ip w):$HB_PORT" --count 100 --interval-ms 10 ||
		{ t_fail "hb_forge failed"; return 1; }
	a1=$(t_counter n2 drop-auth-failed 0)
	((a1 >= a0 + 100)) || { t_fail "drop-auth-failed on n2 went $a0 -> $a1, want +100"; return 1; }
	quorate_is n2 false || { t_fail "n2 counts $(qjson n2 .quorum) after the forgery"; return 1; }
	owners_are n1, n1, || { t_fail "after the forgery: web '$(owner_of "$VIP1")' web2 '$(owner_of "$VIP2")'"; return 1; }
	check_samples
}

# n2 is down and the witness restarts: it hears only n1, so it stays
# undecided for its start-up wait (the dead interval), and n1 must keep
# the vote it last heard from it meanwhile, so the owner keeps its
# majority throughout (no window: nothing may move).
case_witness_restart() {
	local lost0
	begin_case
	lost0=$(t_counter n1 quorum-lost 0)
	lab_kill n2/hacd KILL
	lab_kill w/hacd KILL
	lab_start_hacd w --witness
	lab_wait_hacd w 10 || { t_fail "hacd --witness did not restart"; return 1; }
	t_wait 10 witness_votes n1 || { t_fail "the restarted witness votes '$(qjson w .vote_for)', want n1"; return 1; }
	sleep "0.$DEAD_MS"
	owners_are n1, n1, || { t_fail "after the witness restarted: web '$(owner_of "$VIP1")' web2 '$(owner_of "$VIP2")'"; return 1; }
	(($(t_counter n1 quorum-lost 0) == lost0)) || { t_fail "n1 lost its majority while the witness restarted"; return 1; }
	lab_start_hacd n2
	lab_wait_hacd n2 10 || { t_fail "hacd on n2 did not restart"; return 1; }
	nft_heal n1
	t_wait 10 votes_are n2 2/2 || { t_fail "healed, n2 counts $(qjson n2 .quorum)"; return 1; }
	sleep 0.5
	owners_are n1, n1, || { t_fail "healed: web '$(owner_of "$VIP1")' web2 '$(owner_of "$VIP2")'"; return 1; }
	check_samples
}

# A recording of the witness voting for n2, replayed once n2 restarted
# (its replay windows empty) and the witness is dead, with the pair's link
# cut: n2 must count the witness as unproven, never as a vote.
case_witness_replay() {
	local forge=$BUILD/tests/tools/hb_forge cap=$LAB_DIR/witness.rec capid rp hbs u0 owned=0
	window_open
	lab_hactl n1 failover --to n2 --wait >/dev/null || { window_close; t_fail "hactl failover --to n2 failed"; return 1; }
	t_wait 10 owners_are n2, n2, || { window_close; t_fail "after failover to n2: web '$(owner_of "$VIP1")'"; return 1; }
	t_wait 10 witness_votes n2 || { window_close; t_fail "the witness votes '$(qjson w .vote_for)', want n2 (it holds both)"; return 1; }
	window_close
	ip netns exec "$(lab_ns sw)" "$forge" capture --iface w --port "$HB_PORT" --from "$(lab_ip w)" \
		--file "$cap" --count 4000 --timeout-ms 2000 2>/dev/null &
	capid=$!
	wait "$capid" || { t_fail "captured none of the witness's datagrams"; return 1; }
	hbs=$(wc -l <"$cap")
	((hbs >= 10)) || { t_fail "recorded only $hbs datagrams of the witness"; return 1; }
	window_open
	lab_hactl n2 failover --to n1 --wait >/dev/null || { window_close; t_fail "hactl failover --to n1 failed"; return 1; }
	t_wait 10 owners_are n1, n1, || { window_close; t_fail "after failover to n1: web '$(owner_of "$VIP1")'"; return 1; }
	t_wait 10 witness_votes n1 || { window_close; t_fail "the witness votes '$(qjson w .vote_for)', want n1"; return 1; }
	window_close
	window_pass
	begin_case
	window_open
	lab_kill w/hacd KILL
	lab_kill n2/hacd KILL
	nft_cut n1 n2 || { window_close; t_fail "nft cut failed"; return 1; }
	lab_start_hacd n2
	ip netns exec "$(lab_ns w)" "$forge" replay --file "$cap" --pace recorded --count 4000 2>/dev/null &
	rp=$!
	lab_wait_hacd n2 10 || { kill "$rp" 2>/dev/null; wait "$rp"; window_close; t_fail "hacd on n2 did not restart"; return 1; }
	window_close
	# n1 lost the witness and n2: it gives the VIPs up (that transition is
	# in the window); n2 must own nothing while the replay runs.
	while kill -0 "$rp" 2>/dev/null; do
		[[ $(lab_owners "$VIP1") == *n2* || $(lab_owners "$VIP2") == *n2* ]] && owned=1
		sleep 0.05
	done
	wait "$rp"
	((owned == 0)) || { t_fail "n2 took a VIP during the replay of the witness's vote"; return 1; }
	u0=$(t_counter n2 drop-hb-unproven 0)
	((u0 > 0)) || { t_fail "drop-hb-unproven did not move on n2"; return 1; }
	quorate_is n2 false || { t_fail "n2 counts $(qjson n2 .quorum) after the replay"; return 1; }
	owners_are - - || { t_fail "no witness, pair cut: web '$(owner_of "$VIP1")' web2 '$(owner_of "$VIP2")', want nobody"; return 1; }
	nft_heal n1
	check_samples
}

write_five || { echo "not ok - cannot write the configuration"; exit 1; }
t_begin "$@"
rm -f "$LAB_DIR/sampler.stop"
start_pins || { echo "not ok - cannot start the sampler's pins"; exit 1; }
sampler >"$SAMPLES" &
SAMPLER_PID=$!
T_Q0=$(lab_now_ms)

t_case "five nodes: one owner per VIP, every node counts 5 of 5 (hactl, metrics)" case_five_up
t_case "five nodes: replication reaches every node" case_five_replication
t_case "five nodes: the owner's host dies, the VIPs move once" case_owner_dies
t_case "five nodes: the owner's link goes down, the VIPs move once" case_link_loss
t_case "five nodes: planned failover with hactl failover --to" case_planned
t_case "partition 3+2: both VIPs on the three, the two count 2 of 5" case_three_two
t_case "partition 2+2+1: no part has a majority, nobody owns" case_two_two_one
t_case "three nodes cut 2+1: the two own both VIPs, the one counts 1 of 3" case_three_nodes
t_case "four nodes cut 2+2: nobody owns" case_four_nodes
t_case "pair, quorum on, link cut: nobody owns" case_pair_quorum
t_case "pair, quorum off, link cut: two owners (what quorum prevents)" case_pair_no_quorum
t_case "pair + witness, the pair's link cut: the witness's choice owns everything" case_witness_cut
t_case "forged witness heartbeat (another key): dropped, counted, no vote" case_witness_forged
t_case "n2 down, the witness restarts: the owner keeps its majority" case_witness_restart
t_case "witness recording replayed after a restart: unproven, no vote" case_witness_replay

touch "$LAB_DIR/sampler.stop"
wait "$SAMPLER_PID"
t_log "$(wc -l <"$SAMPLES") ownership samples over $((($(lab_now_ms) - T_Q0) / 1000)) s"
t_end
