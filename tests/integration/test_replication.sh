#!/usr/bin/env bash
# tests/run: parallel-safe
# tests/integration/test_replication.sh — cluster-wide server admin state.
#
# The promise of cluster-wide admin state, checked in the lab (scripts/lab,
# LAB_PREFIX=tdmr): `hactl drain app/app2` on n1 reaches n2's hacd in a
# sealed state-sync datagram; n2's hacd hands it to its proxyd over the
# local channel, and n2's proxyd stops sending app2 new requests; the
# other commands (enable, weight) travel the same way in both directions;
# a restarted hacd relearns the state from its peer's bulk sync; and an
# attacker on the segment — sync datagrams sealed with a key of its own,
# sync requests, captured genuine sync datagrams replayed — changes nothing
# in either node's replicated store, while the drop counters show each kind;
# and a server name no proxyd has is ignored by proxyd, nothing more.
# On the local channel: only proxyd's user may connect, one proxyd at a
# time, and what it sends is only what proxyd may say (no admin entries,
# no ticket keys); the cases connect as root, as another user, as a second
# proxyd and as a fake proxyd, and check the counters, the store of both
# nodes and that the real proxyd stayed ready.
#
# The configuration is etc/hacd.conf with anti-entropy off (written beside
# the lab under our prefix): then every merge a node's store counts comes
# from a delta or a requested bulk sync the case caused, so "the store saw
# nothing" is a counter that must not move. Waits are bounded and generous
# (no timing thresholds); the whole file runs under timeout(1) and always
# tears its lab down.
#
# Run as root from the repository root (BUILD=dir for binaries elsewhere).
# Prints one line per case and "N passed, N failed".

export LAB_NODES=2
export LAB_PREFIX=${LAB_PREFIX:-tdmr}
: "${T_TIMEOUT:=240}"
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

SYNC_S=10            # bound on a change reaching the other node (generous)
HB_PORT=7007
REPL_CONF=/tmp/${LAB_PREFIX}-hacd-replication.conf

# ---- helpers -----------------------------------------------------------------

# counter NODE NAME: one of hacd's counters (hactl status --json --counters).
counter() { t_counter "$1" "$2"; }

# admin_field NODE UPSTREAM/SERVER FIELD: state, weight or origin of the
# entry in NODE's replicated store (hactl admin --json); empty if none.
admin_field() {
	local up=${2%%/*} srv=${2#*/}
	lab_hactl "$1" admin --json 2>/dev/null | jq -r --arg u "$up" --arg s "$srv" --arg f "$3" \
		'.admin[] | select(.upstream == $u and .server == $s) | .[$f] // empty' 2>/dev/null
}

admin_is() { [[ $(admin_field "$1" "$2" "$3") == "$4" ]]; }

# proxyd_show NODE: proxyd's admin socket, `show servers` (a unix socket in
# the node's run directory; reachable from here, it is a file).
proxyd_show() {
	timeout 10 python3 "$LAB_ROOT/tests/tools/adminsock.py" "$(lab_rundir "$1")/proxyd.sock" "show servers"
}

# proxyd_state NODE UPSTREAM/SERVER: the state column of `show servers`.
proxyd_state() { proxyd_show "$1" | awk -v k="$2" '$1 == k { print $NF }'; }
proxyd_state_is() { [[ $(proxyd_state "$1" "$2") == "$3" ]]; }

backends_seen() { t_backends_seen "$@"; }

restore() {
	local n
	t_daemons_up || return 1
	for n in n1 n2; do
		t_wait 10 t_both_alive "$n" || { t_fail "restore: hacd on $n does not see both nodes alive"; return 1; }
	done
}


# ---- cases -------------------------------------------------------------------

case_usage() {
	local rc
	restore || return 1
	lab_hactl n1 drain app >/dev/null 2>&1
	rc=$?
	((rc == 2)) || { t_fail "hactl drain app: exit $rc, want 2"; return 1; }
	lab_hactl n1 weight app/app1 999 >/dev/null 2>&1
	rc=$?
	((rc == 2)) || { t_fail "hactl weight app/app1 999: exit $rc, want 2"; return 1; }
	lab_hactl n1 maint 'a/b/c' >/dev/null 2>&1
	rc=$?
	((rc == 2)) || { t_fail "hactl maint a/b/c: exit $rc, want 2"; return 1; }
	# @node/NODE is hactl drain NODE's entry: no server command sets it.
	lab_hactl n1 maint @node/n2 >/dev/null 2>&1
	rc=$?
	((rc == 2)) || { t_fail "hactl maint @node/n2: exit $rc, want 2"; return 1; }
	[[ -z $(admin_field n1 @node/n2 state) ]] || { t_fail "hactl maint @node/n2 left an entry"; return 1; }
	[[ -z $(admin_field n1 app/app1 state) ]] || { t_fail "a refused command left an entry"; return 1; }
}

case_drain_replicates() {
	restore || return 1
	lab_hactl n1 drain app/app2 >/dev/null || { t_fail "hactl drain app/app2 on n1 failed"; return 1; }
	admin_is n1 app/app2 state drain || { t_fail "n1's own store: '$(admin_field n1 app/app2 state)'"; return 1; }
	t_wait $SYNC_S admin_is n2 app/app2 state drain ||
		{ t_fail "n2's hacd: app/app2 is '$(admin_field n2 app/app2 state)', not drain"; return 1; }
	admin_is n2 app/app2 origin n1 || { t_fail "n2's entry names '$(admin_field n2 app/app2 origin)' as origin"; return 1; }
}

case_proxyd_applies() {
	local seen
	restore || return 1
	lab_hactl n1 drain app/app2 >/dev/null || { t_fail "hactl drain app/app2 on n1 failed"; return 1; }
	t_wait $SYNC_S admin_is n2 app/app2 state drain || { t_fail "precondition: app/app2 not drained on n2's hacd"; return 1; }
	t_wait $SYNC_S proxyd_state_is n2 app/app2 drain ||
		{ t_fail "n2's proxyd: app/app2 is '$(proxyd_state n2 app/app2)', not drain"; return 1; }
	proxyd_state_is n1 app/app2 drain || { t_fail "n1's proxyd: app/app2 is '$(proxyd_state n1 app/app2)'"; return 1; }
	seen=$(backends_seen n2 30)
	[[ -n $seen ]] || { t_fail "no answer from n2's proxyd"; return 1; }
	! grep -qx b2 <<<"$seen" || { t_fail "n2's proxyd still sent new requests to app2 (b2)"; return 1; }
}

case_other_way_and_weight() {
	restore || return 1
	lab_hactl n2 weight app/app3 5 >/dev/null || { t_fail "hactl weight app/app3 5 on n2 failed"; return 1; }
	t_wait $SYNC_S admin_is n1 app/app3 weight 5 ||
		{ t_fail "n1: app/app3 weight '$(admin_field n1 app/app3 weight)', not 5"; return 1; }
	admin_is n1 app/app3 state ready || { t_fail "n1: app/app3 state '$(admin_field n1 app/app3 state)'"; return 1; }
	# A state command keeps the weight; a later command wins on every node.
	lab_hactl n2 maint app/app3 >/dev/null || { t_fail "hactl maint app/app3 on n2 failed"; return 1; }
	t_wait $SYNC_S admin_is n1 app/app3 state maint || { t_fail "n1: app/app3 not maint"; return 1; }
	admin_is n1 app/app3 weight 5 || { t_fail "maint lost the weight on n1"; return 1; }
	lab_hactl n1 enable app/app3 >/dev/null || { t_fail "hactl enable app/app3 on n1 failed"; return 1; }
	t_wait $SYNC_S admin_is n2 app/app3 state ready || { t_fail "n2: app/app3 not ready after enable on n1"; return 1; }
}

case_restart_relearns() {
	local before
	restore || return 1
	# What n2 must relearn: set on n1 (again, so the case stands alone).
	lab_hactl n1 drain app/app2 >/dev/null || { t_fail "hactl drain on n1 failed"; return 1; }
	lab_hactl n1 weight app/app3 5 >/dev/null || { t_fail "hactl weight on n1 failed"; return 1; }
	t_wait $SYNC_S admin_is n2 app/app3 weight 5 || { t_fail "precondition: n2 never saw app/app3's weight"; return 1; }
	lab_kill n2/hacd KILL
	lab_start_hacd n2
	lab_wait_hacd n2 10 || { t_fail "hacd on n2 did not restart"; return 1; }
	t_wait $SYNC_S admin_is n2 app/app2 state drain ||
		{ t_fail "restarted n2: app/app2 is '$(admin_field n2 app/app2 state)', not drain"; return 1; }
	before=$(counter n2 sync-rx-bulk-complete)
	((before >= 1)) || { t_fail "n2 learnt it without a complete bulk sync (sync-rx-bulk-complete $before)"; return 1; }
	admin_is n2 app/app3 weight 5 || { t_fail "restarted n2 lost app/app3's weight"; return 1; }
}

case_restart_proxyd_told() {
	restore || return 1
	admin_is n2 app/app2 state drain || lab_hactl n1 drain app/app2 >/dev/null ||
		{ t_fail "hactl drain app/app2 on n1 failed"; return 1; }
	t_wait $SYNC_S admin_is n2 app/app2 state drain || { t_fail "precondition: app/app2 not drained on n2's hacd"; return 1; }
	# proxyd reconnects to its hacd and is sent every admin entry again.
	lab_kill n2/proxyd TERM
	lab_start_proxyd n2
	lab_wait_proxyd n2 10 || { t_fail "proxyd on n2 did not restart"; return 1; }
	t_wait $SYNC_S proxyd_state_is n2 app/app2 drain ||
		{ t_fail "restarted proxyd on n2: app/app2 is '$(proxyd_state n2 app/app2)', not drain"; return 1; }
}

# The attacker never holds the cluster key; datagrams spoof a node's source.
attacker_setup() {
	local evil
	evil=$(lab_ns evil)
	if ! ip netns list | awk '{print $1}' | grep -qx "$evil"; then
		lab_add_evil || return 1
	fi
	KEYBAD=$LAB_DIR/evil-same-id.key
	KEY99=$LAB_DIR/evil-other-id.key
	(umask 077 && printf '1 %s\n' "$(openssl rand -hex 32)" >"$KEYBAD" &&
		printf '99 %s\n' "$(openssl rand -hex 32)" >"$KEY99")
}

case_forged_sync() {
	local forge=$BUILD/tests/tools/hb_forge evil n1a n2a k syncs1 syncs2 b1 b2 names
	local -A before
	[[ -x $forge ]] || { t_fail "missing $forge"; return 1; }
	restore || return 1
	attacker_setup || { t_fail "cannot set up the attacker"; return 1; }
	evil=$(lab_ns evil)
	n1a=$(lab_ip n1):$HB_PORT
	n2a=$(lab_ip n2):$HB_PORT
	names=(drop-auth-failed drop-unknown-key)
	for k in "${names[@]}"; do before[$k]=$(($(counter n1 "$k") + $(counter n2 "$k"))); done
	# Admin merges, not every applied sync: the proxyds' own health
	# verdicts and counts keep arriving (a proxyd restarted by an earlier
	# case reaches its verdicts now) and are no part of the attack.
	syncs1=$(counter n1 replica-merged-admin)
	syncs2=$(counter n2 replica-merged-admin)
	b1=$(counter n1 sync-bulk-started)
	b2=$(counter n2 sync-bulk-started)
	# n1 "tells" n2 to put app1 in maintenance (stamped a minute ahead, so
	# it would win), and the reverse; then bulk-sync requests, then the
	# same under a key id the cluster does not have.
	ip netns exec "$evil" "$forge" forge --key "$KEYBAD" --node n1 --to "$n2a" --spoof "$n1a" \
		--body sync --admin app/app1 --state maint --count 500 || { t_fail "hb_forge failed"; return 1; }
	ip netns exec "$evil" "$forge" forge --key "$KEYBAD" --node n2 --to "$n1a" --spoof "$n2a" \
		--body sync --admin app/app1 --state maint --count 500 || { t_fail "hb_forge failed"; return 1; }
	# A forged node drain (hactl drain NODE's entry, @node/NODE) takes the
	# same ladder.
	ip netns exec "$evil" "$forge" forge --key "$KEYBAD" --node n1 --to "$n2a" --spoof "$n1a" \
		--body sync --admin @node/n2 --state drain --count 200 || { t_fail "hb_forge failed"; return 1; }
	ip netns exec "$evil" "$forge" forge --key "$KEYBAD" --node n1 --to "$n2a" --spoof "$n1a" \
		--body sync-request --count 200 || { t_fail "hb_forge failed"; return 1; }
	ip netns exec "$evil" "$forge" forge --key "$KEY99" --node n1 --to "$n2a" --spoof "$n1a" \
		--body sync --admin app/app1 --state maint --count 200 || { t_fail "hb_forge failed"; return 1; }
	sleep 1
	for k in "${names[@]}"; do
		(($(counter n1 "$k") + $(counter n2 "$k") > before[$k])) || { t_fail "counter $k did not move"; return 1; }
	done
	[[ -z $(admin_field n2 @node/n2 state) ]] || { t_fail "a forged node drain reached n2's store"; return 1; }
	[[ -z $(admin_field n1 app/app1 state) && -z $(admin_field n2 app/app1 state) ]] ||
		{ t_fail "a forged entry reached a store (n1 '$(admin_field n1 app/app1 state)', n2 '$(admin_field n2 app/app1 state)')"; return 1; }
	[[ $(counter n1 replica-merged-admin) == "$syncs1" && $(counter n2 replica-merged-admin) == "$syncs2" ]] ||
		{ t_fail "a store merged an admin entry during the attack"; return 1; }
	[[ $(counter n1 sync-bulk-started) == "$b1" && $(counter n2 sync-bulk-started) == "$b2" ]] ||
		{ t_fail "a forged sync request started a bulk sync"; return 1; }
	proxyd_state_is n2 app/app1 ready || { t_fail "n2's proxyd: app/app1 is '$(proxyd_state n2 app/app1)'"; return 1; }
}

case_replayed_sync() {
	local forge=$BUILD/tests/tools/hb_forge cap=$LAB_DIR/captured-sync.txt tap syncs1 syncs2 r0
	[[ -x $forge ]] || { t_fail "missing $forge"; return 1; }
	restore || return 1
	attacker_setup || { t_fail "cannot set up the attacker"; return 1; }
	# A tap on n1's switch port while n1 drains app1: the capture holds
	# heartbeats and the genuine delta that carried the drain.
	ip netns exec "$(lab_ns sw)" "$forge" capture --iface n1 --port "$HB_PORT" \
		--file "$cap" --count 64 --timeout-ms 3000 2>/dev/null &
	tap=$!
	sleep 0.3
	lab_hactl n1 drain app/app1 >/dev/null || { wait "$tap"; t_fail "hactl drain app/app1 failed"; return 1; }
	wait "$tap" || { t_fail "the tap captured nothing"; return 1; }
	t_wait $SYNC_S admin_is n2 app/app1 state drain || { t_fail "n2 never saw the drain"; return 1; }
	lab_hactl n1 enable app/app1 >/dev/null || { t_fail "hactl enable app/app1 failed"; return 1; }
	t_wait $SYNC_S admin_is n2 app/app1 state ready || { t_fail "n2 never saw the enable"; return 1; }
	syncs1=$(counter n1 replica-syncs)
	syncs2=$(counter n2 replica-syncs)
	r0=$(($(counter n1 drop-replay) + $(counter n2 drop-replay)))
	ip netns exec "$(lab_ns evil)" "$forge" replay --file "$cap" --count 640 ||
		{ t_fail "hb_forge replay failed"; return 1; }
	sleep 1
	(($(counter n1 drop-replay) + $(counter n2 drop-replay) > r0)) || { t_fail "drop-replay did not move"; return 1; }
	[[ $(counter n1 replica-syncs) == "$syncs1" && $(counter n2 replica-syncs) == "$syncs2" ]] ||
		{ t_fail "a store applied a replayed sync"; return 1; }
	admin_is n2 app/app1 state ready || { t_fail "n2: app/app1 is '$(admin_field n2 app/app1 state)' after the replay"; return 1; }
	proxyd_state_is n2 app/app1 ready || { t_fail "n2's proxyd: app/app1 is '$(proxyd_state n2 app/app1)'"; return 1; }
}

# hacd does not know proxyd's configuration: a server no proxyd has is stored
# and replicated, and each proxyd ignores it (logged, counted), nothing else.
case_unknown_server() {
	restore || return 1
	lab_hactl n1 drain app/nosuch >/dev/null || { t_fail "hactl drain app/nosuch failed"; return 1; }
	t_wait $SYNC_S admin_is n2 app/nosuch state drain || { t_fail "n2's hacd never got app/nosuch"; return 1; }
	t_wait $SYNC_S grep -q 'unknown server app/nosuch ignored' "$LAB_DIR/n2/proxyd.log" ||
		{ t_fail "n2's proxyd did not report the unknown server"; return 1; }
	lab_alive n2/proxyd || { t_fail "proxyd on n2 died"; return 1; }
	[[ -n $(backends_seen n2 3) ]] || { t_fail "n2's proxyd stopped answering"; return 1; }
}

# ---- the local channel: who may be proxyd, and what proxyd may say ----------

FAKE=$T_ROOT/tests/tools/fake_proxyd.py
# The system's python3: one under root's home (pyenv) is not for other users.
PY=/usr/bin/python3
[[ -x $PY ]] || PY=$(command -v python3)

# The user proxyd drops to (the lab's proxyd.conf), whom hacd admits.
PD_USER=$(sed -n 's/^user[[:space:]]*=[[:space:]]*"\([^"]*\)".*/\1/p' "$PROXYD_CONF")
PD_USER=${PD_USER:-tandem-proxyd}

# proxyd_ready NODE: "true" when NODE's hacd counts its proxyd ready.
proxyd_ready() { lab_hactl "$1" status --json 2>/dev/null | jq -r '.proxyd_ready' 2>/dev/null; }
proxyd_ready_is() { [[ $(proxyd_ready "$1") == "$2" ]]; }
disconnects() { grep -c 'channel: proxyd disconnected' "$LAB_DIR/$1/hacd.log" 2>/dev/null; }

# fake_as USER NODE ARGS...: tests/tools/fake_proxyd.py on NODE's hacd.chan
# as USER (root: as this script).
fake_as() {
	local user=$1 sock
	sock=$(lab_rundir "$2")/hacd.chan
	shift 2
	if [[ $user == root ]]; then
		timeout 20 "$PY" "$FAKE" "$sock" "$@"
	else
		timeout 20 setpriv --reuid "$user" --regid "$(id -g "$user")" --clear-groups \
			"$PY" "$FAKE" "$sock" "$@"
	fi
}

# Root and another service's user ("nobody") try to be proxyd while the
# real one is connected: root gets past the socket's permissions and is
# refused by SO_PEERCRED, nobody not even that far; hacd's own user, when
# hacd is not root (LAB_HACD_USER=unit), is refused by SO_PEERCRED too; the
# real proxyd stays connected and ready, and no VIP moves.
case_channel_other_uid() {
	local u0 u1 d0 owner out pid hu
	restore || return 1
	t_wait 10 proxyd_ready_is n1 true || { t_fail "precondition: n1's proxyd not ready"; return 1; }
	t_wait 15 lab_owner_is $LAB_VIP_WEB n1 || { t_fail "precondition: web not on n1"; return 1; }
	u0=$(counter n1 channel-rejected-uid)
	d0=$(disconnects n1)
	out=$(fake_as root n1 --ready --admin app/chan-evil --hold 1)
	[[ $out == closed* ]] || { t_fail "a root process on hacd.chan: '$out', not closed"; return 1; }
	if [[ $PD_USER != nobody ]]; then
		out=$(fake_as nobody n1 --ready --hold 1)
		[[ $out == refused* ]] || { t_fail "a process of nobody on hacd.chan: '$out', not refused"; return 1; }
	fi
	# hacd's own user when that is not root (LAB_HACD_USER=unit runs it as
	# tandem-hacd, as hacd.service does; its notify scripts run as it): it
	# owns hacd.chan, so the file system lets it through, and hacd closes it.
	pid=$(lab_pid n1/hacd)
	[[ -n $pid ]] || { t_fail "no hacd on n1"; return 1; }
	hu=$(stat -c %U "/proc/$pid")
	if [[ $hu != root && $hu != "$PD_USER" && $(stat -c %U "$(lab_rundir n1)/hacd.chan") == "$hu" ]]; then
		u1=$(counter n1 channel-rejected-uid)
		out=$(fake_as "$hu" n1 --ready --hold 1)
		[[ $out == closed* ]] || { t_fail "hacd's own user $hu on hacd.chan: '$out', not closed"; return 1; }
		(($(counter n1 channel-rejected-uid) > u1)) || { t_fail "$hu: channel-rejected-uid did not move"; return 1; }
		t_log "hacd runs as $hu: its own user refused on hacd.chan"
	fi
	(($(counter n1 channel-rejected-uid) > u0)) || { t_fail "channel-rejected-uid did not move"; return 1; }
	[[ $(disconnects n1) == "$d0" ]] || { t_fail "the real proxyd was disconnected"; return 1; }
	proxyd_ready_is n1 true || { t_fail "n1's proxyd no longer ready"; return 1; }
	owner=$(lab_owners $LAB_VIP_WEB)
	[[ $owner == n1 ]] || { t_fail "web moved to '$owner'"; return 1; }
	[[ -z $(admin_field n1 app/chan-evil state) ]] || { t_fail "the root process set app/chan-evil"; return 1; }
}

# A process of proxyd's own user connects while proxyd is: refused (takeover
# "refuse"), proxyd stays connected and ready, no VIP moves.
case_channel_second_proxyd() {
	local b0 d0 out
	restore || return 1
	t_wait 10 proxyd_ready_is n1 true || { t_fail "precondition: n1's proxyd not ready"; return 1; }
	t_wait 15 lab_owner_is $LAB_VIP_WEB n1 || { t_fail "precondition: web not on n1"; return 1; }
	b0=$(counter n1 channel-rejected-busy)
	d0=$(disconnects n1)
	out=$(fake_as "$PD_USER" n1 --hold 1)
	[[ $out == closed* ]] || { t_fail "a second proxyd: '$out', not closed"; return 1; }
	(($(counter n1 channel-rejected-busy) > b0)) || { t_fail "channel-rejected-busy did not move"; return 1; }
	[[ $(disconnects n1) == "$d0" ]] || { t_fail "the real proxyd was displaced"; return 1; }
	proxyd_ready_is n1 true || { t_fail "n1's proxyd no longer ready"; return 1; }
	lab_owner_is $LAB_VIP_WEB n1 || { t_fail "web moved to '$(lab_owners $LAB_VIP_WEB)'"; return 1; }
}

# With proxyd stopped, a process of its user is let in, and says what
# proxyd never says: an admin entry, a TLS ticket key and a drain command.
# hacd refuses them and counts them; neither reaches its store nor the peer. Then the real
# proxyd starts again and is let in: restarts still work.
case_channel_refuses_entries() {
	local a0 t0 u0 m1 e1 out
	restore || return 1
	u0=$(counter n2 channel-unexpected-message)
	a0=$(counter n2 channel-refused-admin)
	t0=$(counter n2 channel-refused-ticket)
	m1=$(counter n1 replica-merged-admin)
	e1=$(counter n1 replica-merged-ticket)
	lab_kill n2/proxyd TERM
	t_wait 10 proxyd_ready_is n2 false || { t_fail "n2's hacd still counts a stopped proxyd ready"; return 1; }
	out=$(fake_as "$PD_USER" n2 --ready --admin app/chan-evil --ticket --drain --hold 2)
	[[ $out == open* ]] || { t_fail "the fake proxyd was not let in: '$out'"; return 1; }
	(($(counter n2 channel-refused-admin) > a0)) || { t_fail "channel-refused-admin did not move"; return 1; }
	(($(counter n2 channel-refused-ticket) > t0)) || { t_fail "channel-refused-ticket did not move"; return 1; }
	(($(counter n2 channel-unexpected-message) > u0)) || { t_fail "channel-unexpected-message did not move"; return 1; }
	[[ -z $(admin_field n2 app/chan-evil state) ]] || { t_fail "n2's store took the admin entry"; return 1; }
	sleep 1         # several sync intervals: a delta would have gone out
	[[ -z $(admin_field n1 app/chan-evil state) ]] || { t_fail "the admin entry reached n1"; return 1; }
	[[ $(counter n1 replica-merged-admin) == "$m1" ]] || { t_fail "n1 merged an admin entry"; return 1; }
	[[ $(counter n1 replica-merged-ticket) == "$e1" ]] || { t_fail "n1 merged a ticket key"; return 1; }
	lab_start_proxyd n2
	lab_wait_proxyd n2 10 || { t_fail "proxyd on n2 did not restart"; return 1; }
	t_wait 10 proxyd_ready_is n2 true || { t_fail "the restarted proxyd is not ready on n2"; return 1; }
	# And a proxyd restart while connected (TERM, start at once) is let in.
	lab_kill n2/proxyd TERM
	lab_start_proxyd n2
	lab_wait_proxyd n2 10 || { t_fail "proxyd on n2 did not restart (2)"; return 1; }
	t_wait 10 proxyd_ready_is n2 true || { t_fail "proxyd restarted again is not ready on n2"; return 1; }
}

# ---- run -----------------------------------------------------------------------

# Through a temporary file: HACD_CONF may already name REPL_CONF (an
# exported variable, seen again after t_begin re-executes this script).
sed 's/^\([[:space:]]*anti_entropy[[:space:]]*=\).*/\1 "0";/' "$HACD_CONF" >"$REPL_CONF.tmp" &&
	mv -f "$REPL_CONF.tmp" "$REPL_CONF" || exit 1
grep -q 'anti_entropy = "0";' "$REPL_CONF" || { echo "no anti_entropy line in $HACD_CONF" >&2; exit 1; }
HACD_CONF=$REPL_CONF
t_begin "$@"
rm -f "$REPL_CONF"
t_case "hactl refuses malformed admin commands (exit 2)" case_usage
t_case "hactl drain app/app2 on n1 reaches n2's hacd" case_drain_replicates
t_case "n2's proxyd drains app2 and sends it no new request" case_proxyd_applies
t_case "weight and state from n2 reach n1; the later command wins" case_other_way_and_weight
t_case "a restarted hacd relearns the admin state by bulk sync" case_restart_relearns
t_case "a restarted proxyd is told the admin state again" case_restart_proxyd_told
t_case "forged sync datagrams and sync requests change nothing" case_forged_sync
t_case "replayed genuine sync datagrams change nothing" case_replayed_sync
t_case "a server proxyd does not have is ignored there, nothing else" case_unknown_server
t_case "root, another user and hacd's own on hacd.chan are refused; proxyd stays, no failover" case_channel_other_uid
t_case "a second proxyd-user connection is refused; the real proxyd stays" case_channel_second_proxyd
t_case "admin entries, ticket keys and drains from the channel are refused, not replicated" case_channel_refuses_entries
t_end
