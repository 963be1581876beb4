#!/usr/bin/env bash
# tests/integration/test_deb.sh — the Debian package in a clean Debian 12 tree.
#
# Builds the package (make deb: debhelper, then lintian), makes a clean
# bookworm tree with mmdebstrap (variant minbase plus the package's run-time
# dependencies, so that the install itself needs no network), and inside it,
# through chroot and apt:
#   - installs the .deb; checks the system user tandem-proxyd (sysusers.d),
#     the conffiles, and runs `proxyd -t` and `hacd -t` on the shipped
#     examples (hacd's with a key made by hactl keygen, as an operator would);
#   - checks both units with systemd-analyze: verify, and security exposure
#     (--offline, no systemd running here): proxyd <= 2.0, hacd <= 2.1;
#   - boots systemd in the tree (an overlay of it, as PID 1 of new
#     namespaces) and starts both units with a one-node hacd.conf: proxyd
#     runs as tandem-proxyd with CAP_NET_BIND_SERVICE alone and answers on
#     :80, hacd has CAP_NET_ADMIN and CAP_NET_RAW alone and takes the VIP,
#     hacd.chan admits proxyd and refuses another uid (the directory's
#     permissions, or SO_PEERCRED past them), systemctl reload passes a
#     good file and refuses a bad one;
#   - upgrades it over itself to a higher version (the same .deb repacked
#     as VERSION+t1), keeping a local change to a conffile;
#   - purges it and compares the tree with its listing from before the
#     install: nothing of the package may remain. What Debian policy leaves
#     is named: the system user tandem-proxyd (and its group) stay in
#     /etc/passwd and /etc/group, since files of that uid may remain.
#
# The tree is cached as a tarball under $DEB_CACHE (default
# /var/cache/tandem-test), named by the dependency list, so a rerun needs
# neither the mirror nor mmdebstrap (about 75 s the first time).
# Needs root, mmdebstrap, debhelper, lintian (scripts/install-deps) and, the
# first time, Debian's mirror ($DEB_MIRROR, default http://deb.debian.org/debian).
# Prints one line per case and "N passed, N failed".

export LAB_PREFIX=${LAB_PREFIX:-tdmd}
: "${T_TIMEOUT:=900}"
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
t_bound "$@"

ROOT=$T_ROOT
DEB_CACHE=${DEB_CACHE:-/var/cache/tandem-test}
DEB_MIRROR=${DEB_MIRROR:-http://deb.debian.org/debian}
DIR=/tmp/${LAB_PREFIX}-deb
R=$DIR/root
DEB=
MOUNTED=()

in_root() { chroot "$R" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
	DEBIAN_FRONTEND=noninteractive "$@"; }

teardown() {
	local rc=$? i
	boot_stop
	for ((i = ${#MOUNTED[@]} - 1; i >= 0; i--)); do umount -l "${MOUNTED[i]}" 2>/dev/null; done
	if ((rc != 0)) || ((T_FAIL > 0)); then
		rm -rf "/tmp/${LAB_PREFIX}-logs"
		mkdir -p "/tmp/${LAB_PREFIX}-logs"
		cp "$DIR"/*.log "$DIR"/*.txt "/tmp/${LAB_PREFIX}-logs/" 2>/dev/null
		t_log "logs kept in /tmp/${LAB_PREFIX}-logs"
	fi
	# Only after every mount is gone: rm must never reach the host's /proc.
	for i in "${MOUNTED[@]}"; do mountpoint -q "$i" && { t_log "$i still mounted: $DIR kept"; return "$rc"; }; done
	rm -rf "$DIR"
	return "$rc"
}

# tree_list: every path of the tree with its type, minus what apt and dpkg
# keep for themselves (their logs and caches, dpkg's database but for the
# package's files in /var/lib/dpkg/info), the backups of the user database
# (/etc/passwd- and friends, made when the user was added), and the
# transient mount points.
tree_list() {
	(cd "$R" && find . -xdev \( -path ./proc -o -path ./dev -o -path ./tmp -o -path ./run \
		-o -path ./var/lib/apt -o -path ./var/cache/apt -o -path ./var/cache/debconf \
		-o -path ./var/cache/ldconfig -o -path ./var/log/apt \) -prune \
		-o \( -path ./var/lib/dpkg -o -path './var/lib/dpkg/*' \) ! -path './var/lib/dpkg/info*' -prune \
		-o \( -path ./var/log/dpkg.log -o -path ./var/log/alternatives.log \
		-o -name 'passwd-' -o -name 'group-' -o -name 'shadow-' -o -name 'gshadow-' \) -prune \
		-o -printf '%y %p\n') | sort
}

setup() {
	local t0
	[[ $(id -u) == 0 ]] || { echo "needs root (chroot)" >&2; exit 1; }
	for c in mmdebstrap dpkg-buildpackage lintian dh; do
		command -v "$c" >/dev/null || { echo "needs $c (scripts/install-deps)" >&2; exit 1; }
	done
	rm -rf "$DIR"
	mkdir -p "$DIR" "$DEB_CACHE" || exit 1
	trap teardown EXIT
	trap 'exit 143' TERM
	trap 'exit 130' INT
	t0=$SECONDS
	if ! make -C "$ROOT" deb >"$DIR/build.log" 2>&1; then
		echo "make deb failed (see the log)" >&2
		tail -20 "$DIR/build.log" >&2
		exit 1
	fi
	t_log "make deb: $((SECONDS - t0)) s"
	DEB=$(ls "$ROOT"/build/deb/tandem_*.deb | head -n 1)
	[[ -f $DEB ]] || { echo "make deb made no tandem_*.deb" >&2; exit 1; }
}

# ---- the cases ----------------------------------------------------------------

case_lintian_clean() {
	# make deb already failed on errors and warnings; here: nothing at all
	# but the informational tags named in docs/operations.md.
	local out
	out=$(lintian --fail-on error,warning "$ROOT"/build/deb/*.changes 2>&1 | grep -v 'running with root privileges')
	printf '%s\n' "$out" >"$DIR/lintian.txt"
	[[ -z $out ]] || t_fail "lintian: $(head -n 3 <<<"$out" | tr '\n' ' ')"
}

# The clean tree: minbase plus the package's dependencies (the first of
# each set of alternatives), cached by that list.
case_clean_tree() {
	local deps key tar t0
	deps=$(dpkg-deb -f "$DEB" Depends | tr ',' '\n' | sed 's/|.*//; s/(.*)//; s/ //g' | grep . | sort -u | paste -sd, -)
	key=$(printf '%s %s' "$deps" "$DEB_MIRROR" | sha256sum | cut -c1-16)
	tar=$DEB_CACHE/bookworm-minbase-$key.tar
	if [[ ! -s $tar ]]; then
		t0=$SECONDS
		# mmdebstrap picks its output format by the name's extension: .tar.
		mmdebstrap --variant=minbase --include="$deps" --components=main bookworm \
			"${tar%.tar}.partial.tar" "$DEB_MIRROR" >"$DIR/mmdebstrap.log" 2>&1 ||
			{ rm -f "${tar%.tar}.partial.tar"; t_fail "mmdebstrap failed: $(tail -n 1 "$DIR/mmdebstrap.log")"; return 1; }
		mv "${tar%.tar}.partial.tar" "$tar"
		t_log "mmdebstrap: $((SECONDS - t0)) s, $(du -h "$tar" | cut -f1) cached as $tar"
	else
		t_log "clean tree from the cache: $tar"
	fi
	mkdir -p "$R" && tar -C "$R" -xf "$tar" || { t_fail "cannot unpack $tar"; return 1; }
	mount -t proc proc "$R/proc" && MOUNTED+=("$R/proc") || { t_fail "cannot mount proc"; return 1; }
	mount --bind /dev "$R/dev" && MOUNTED+=("$R/dev") || { t_fail "cannot bind /dev"; return 1; }
	mount --bind /dev/pts "$R/dev/pts" && MOUNTED+=("$R/dev/pts") || { t_fail "cannot bind /dev/pts"; return 1; }
	in_root dpkg-query -W tandem >/dev/null 2>&1 && { t_fail "the clean tree has tandem already"; return 1; }
	tree_list >"$DIR/before.txt"
	grep -q '^d ./etc/tandem$' "$DIR/before.txt" && { t_fail "/etc/tandem exists before the install"; return 1; }
	return 0
}

case_install() {
	[[ -d $R/usr ]] || { t_fail "no tree"; return 1; }
	cp "$DEB" "$R/tmp/" || return 1
	# apt resolves the dependencies (all in the tree already: no network).
	in_root apt-get install -y "/tmp/$(basename "$DEB")" >"$DIR/install.log" 2>&1 ||
		{ t_fail "apt-get install failed: $(tail -n 2 "$DIR/install.log" | tr '\n' ' ')"; return 1; }
	[[ $(in_root dpkg-query -W -f='${Status}' tandem) == "install ok installed" ]] ||
		{ t_fail "tandem not installed after apt"; return 1; }
	local f
	for f in /usr/sbin/proxyd /usr/sbin/hacd /usr/bin/hactl /etc/tandem/proxyd.conf /etc/tandem/hacd.conf \
		/lib/systemd/system/proxyd.service /lib/systemd/system/hacd.service /usr/lib/sysusers.d/tandem.conf \
		/usr/share/man/man8/proxyd.8.gz /usr/share/man/man5/hacd.conf.5.gz \
		/usr/share/bash-completion/completions/hactl; do
		[[ -e $R$f ]] || { t_fail "$f missing"; return 1; }
	done
	grep -q /usr/local "$R/lib/systemd/system/proxyd.service" && { t_fail "proxyd.service still points at /usr/local"; return 1; }
	return 0
}

case_user() {
	# postinst ran systemd-sysusers: the user exists, a system uid, no shell.
	local ent uid
	ent=$(in_root getent passwd tandem-proxyd) || { t_fail "no user tandem-proxyd"; return 1; }
	uid=$(cut -d: -f3 <<<"$ent")
	((uid > 0 && uid < 1000)) || { t_fail "tandem-proxyd uid $uid is not a system uid"; return 1; }
	[[ $(cut -d: -f7 <<<"$ent") == */nologin ]] || { t_fail "tandem-proxyd has a login shell: $ent"; return 1; }
	in_root getent group tandem-proxyd >/dev/null || { t_fail "no group tandem-proxyd"; return 1; }
}

case_conffiles() {
	local c
	c=$(in_root dpkg-query -W -f='${Conffiles}' tandem)
	grep -q '/etc/tandem/proxyd.conf' <<<"$c" && grep -q '/etc/tandem/hacd.conf' <<<"$c" ||
		{ t_fail "conffiles: $c"; return 1; }
}

case_proxyd_check() {
	in_root proxyd -t -c /etc/tandem/proxyd.conf >"$DIR/proxyd-t.log" 2>&1 ||
		{ t_fail "proxyd -t: $(tail -n 1 "$DIR/proxyd-t.log")"; return 1; }
	grep -q "configuration ok" "$DIR/proxyd-t.log" || { t_fail "proxyd -t said: $(cat "$DIR/proxyd-t.log")"; return 1; }
}

case_hacd_check() {
	# Without a key file hacd -t must refuse (the example names hacd.key) ...
	in_root hacd -t -c /etc/tandem/hacd.conf >"$DIR/hacd-t.log" 2>&1 &&
		{ t_fail "hacd -t passed without a key file"; return 1; }
	# ... and with one made as hacd.conf(5) says, accept.
	in_root sh -c 'umask 077 && hactl keygen > /etc/tandem/hacd.key' || { t_fail "hactl keygen failed"; return 1; }
	in_root hacd -t -c /etc/tandem/hacd.conf >"$DIR/hacd-t.log" 2>&1 ||
		{ t_fail "hacd -t: $(tail -n 1 "$DIR/hacd-t.log")"; return 1; }
	grep -q ": ok (cluster" "$DIR/hacd-t.log" || { t_fail "hacd -t said: $(cat "$DIR/hacd-t.log")"; return 1; }
}

case_units_verify() {
	# No systemd runs here; verify loads the units and checks their
	# executables and directives in the installed tree.
	in_root systemd-analyze verify --man=no /lib/systemd/system/proxyd.service /lib/systemd/system/hacd.service \
		>"$DIR/verify.log" 2>&1 || { t_fail "systemd-analyze verify: $(head -n 2 "$DIR/verify.log" | tr '\n' ' ')"; return 1; }
	# Anything printed is a complaint (unknown directive, missing binary...).
	[[ ! -s $DIR/verify.log ]] || { t_fail "systemd-analyze verify: $(head -n 2 "$DIR/verify.log" | tr '\n' ' ')"; return 1; }
}

# exposure UNIT: the overall exposure systemd-analyze gives the installed unit.
exposure() {
	in_root systemd-analyze security --offline=yes "/lib/systemd/system/$1" 2>/dev/null |
		sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p'
}

# The bar is 2.0. hacd.service is at 2.1: without CAP_CHOWN and with
# @privileged refused (hacd.chan goes to proxyd by group, capset is not
# called), what remains is what a root daemon with raw, netlink and IP
# sockets in the host's network is; the last 0.1 is hacd's uid 0
# (docs/operations.md, "Hardened units"). The limit keeps it from growing.
case_exposure() {
	local u e max bad=
	for u in proxyd.service:2.0 hacd.service:2.1; do
		max=${u#*:}
		u=${u%%:*}
		e=$(exposure "$u")
		[[ -n $e ]] || { t_fail "no exposure for $u"; return 1; }
		t_log "$u: exposure $e (at most $max)"
		awk -v e="$e" -v m="$max" 'BEGIN { exit !(e <= m) }' || bad+="$u $e > $max "
	done
	[[ -z $bad ]] || t_fail "exposure too high: $bad"
}

# ---- the units under a real systemd ------------------------------------------
#
# No systemd runs as PID 1 here, so one is booted for the purpose: the
# installed tree through an overlay (its changes land in a scratch layer
# and vanish, so the purge check below still compares the tree itself), as
# PID 1 of new PID, mount, network, UTS and IPC namespaces, with a veth
# pair for hacd's VIP. hacd.conf there is a one-node cluster named after the
# host name (the unit runs hacd -n %H).

BOOT_PID=
UNSHARE_PID=
OVL=$DIR/ovl

# in_boot CMD...: CMD inside the booted tree (its namespaces, its root).
in_boot() {
	nsenter -t "$BOOT_PID" -m -p -n -u chroot "$OVL/merged" env -i \
		PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"
}

boot_stop() {
	[[ -n $BOOT_PID ]] && in_boot journalctl --no-pager -u proxyd -u hacd >"$DIR/journal.log" 2>&1
	[[ -n $BOOT_PID ]] && kill -KILL "$BOOT_PID" 2>/dev/null
	[[ -n $UNSHARE_PID ]] && wait "$UNSHARE_PID" 2>/dev/null
	BOOT_PID=
	UNSHARE_PID=
}

boot_running() {
	local s
	s=$(in_boot systemctl is-system-running 2>/dev/null)
	[[ $s == running || $s == degraded ]]
}

# write_boot_script FILE: what runs as PID 1 of the new namespaces until it
# execs systemd.
write_boot_script() {
	{
		echo '#!/bin/bash'
		echo 'set -e'
		echo 'mount --make-rprivate /'
		echo "mount -t overlay overlay -o lowerdir=$R,upperdir=$OVL/upper,workdir=$OVL/work $OVL/merged"
		echo "M=$OVL/merged"
		echo 'ip link set lo up'
		echo 'ip link add eth0 type veth peer name eth1'
		echo 'ip addr add 10.99.7.1/24 dev eth0'
		echo 'ip link set eth0 up'
		echo 'ip link set eth1 up'
		echo 'hostname n1'
		echo 'echo n1 >$M/etc/hostname   # systemd sets the host name from it'
		echo 'mount -t proc proc $M/proc'
		echo 'mount -t sysfs sysfs $M/sys'
		echo 'mount -t cgroup2 cgroup2 $M/sys/fs/cgroup'
		echo 'mount -t tmpfs -o mode=755 tmpfs $M/run'
		echo 'mount --bind /dev $M/dev'
		echo "cp $OVL/hacd.conf \$M/etc/tandem/hacd.conf"
		echo 'chroot $M systemctl enable proxyd.service hacd.service >/dev/null 2>&1'
		echo 'exec chroot $M env container=tandem-test /lib/systemd/systemd --system --unit=multi-user.target'
	} >"$1"
	chmod +x "$1"
}

case_units_boot() {
	[[ -x $R/usr/sbin/proxyd ]] || { t_fail "not installed"; return 1; }
	mkdir -p "$OVL/upper" "$OVL/work" "$OVL/merged"
	printf '%s\n' 'cluster = "boot";' 'key_file = "hacd.key";' 'advert = "100ms";' \
		'proxyd_user = "tandem-proxyd";' \
		'nodes = ( { name = "n1"; address = "10.99.7.1"; } );' \
		'vips = ( { name = "web"; address = "10.99.7.100/24"; interface = "eth0"; priority = { n1 = 100; }; } );' \
		>"$OVL/hacd.conf"
	write_boot_script "$OVL/boot.sh"
	unshare --pid --fork --mount --net --uts --ipc "$OVL/boot.sh" >"$DIR/boot.log" 2>&1 &
	UNSHARE_PID=$!
	t_wait 10 pgrep -P "$UNSHARE_PID" || { t_fail "no PID 1 in the new namespaces: $(tail -n 2 "$DIR/boot.log")"; return 1; }
	BOOT_PID=$(pgrep -P "$UNSHARE_PID" | head -n 1)
	t_wait 60 boot_running || { t_fail "systemd did not finish booting in 60 s: $(in_boot systemctl is-system-running 2>&1)"; return 1; }
	if ! t_wait 20 in_boot systemctl is-active --quiet proxyd.service hacd.service; then
		in_boot systemctl status proxyd hacd --no-pager >"$DIR/units.log" 2>&1
		t_fail "units not active: $(in_boot systemctl is-active proxyd hacd | tr '\n' ' ')"
		return 1
	fi
}

# proc_field UNIT FIELD: the first value of FIELD in the /proc status of the
# unit's main process.
proc_field() {
	local pid
	pid=$(in_boot systemctl show -p MainPID --value "$1") || return 1
	in_boot sed -n "s/^$2:[[:space:]]*//p" "/proc/$pid/status" | awk '{ print $1 }'
}

hacd_master() { in_boot hactl status 2>/dev/null | grep -Eq '^web +[^ ]+ +eth0 +n1 +master'; }

case_units_serve() {
	[[ -n $BOOT_PID ]] || { t_fail "no booted tree"; return 1; }
	local uid code
	# proxyd: its own user, CAP_NET_BIND_SERVICE (bit 10) alone, on :80.
	uid=$(proc_field proxyd.service Uid)
	[[ $uid == "$(in_boot id -u tandem-proxyd)" ]] || { t_fail "proxyd runs as uid $uid"; return 1; }
	[[ $(proc_field proxyd.service CapEff) == 0000000000000400 ]] ||
		{ t_fail "proxyd CapEff $(proc_field proxyd.service CapEff)"; return 1; }
	code=$(nsenter -t "$BOOT_PID" -n curl -s -o /dev/null -w '%{http_code}' -m 3 http://127.0.0.1/lb-health)
	[[ $code == 200 ]] || { t_fail "GET :80/lb-health: $code"; return 1; }
	# hacd: CAP_NET_ADMIN and CAP_NET_RAW (bits 12, 13) and nothing else
	# once started; it owns the VIP, and proxyd reached it through the link.
	local f
	for f in CapEff CapPrm CapBnd; do
		[[ $(proc_field hacd.service $f) == 0000000000003000 ]] ||
			{ t_fail "hacd $f $(proc_field hacd.service $f)"; return 1; }
	done
	[[ $(proc_field hacd.service CapInh) == 0000000000000000 ]] ||
		{ t_fail "hacd CapInh $(proc_field hacd.service CapInh)"; return 1; }
	# Nothing to drop at start: no capset (refused by the unit) was tried.
	in_boot journalctl -u hacd --no-pager | grep -q 'capset' &&
		{ t_fail "hacd tried capset: $(in_boot journalctl -u hacd --no-pager | grep capset | head -n 1)"; return 1; }
	t_wait 10 hacd_master || { t_fail "hacd is not master of web: $(in_boot hactl status 2>&1 | tail -n 1)"; return 1; }
	nsenter -t "$BOOT_PID" -n ip -br addr show eth0 | grep -q '10.99.7.100/24' || { t_fail "VIP not on eth0"; return 1; }
	t_wait 5 sh -c "nsenter -t $BOOT_PID -m -p -n -u chroot $OVL/merged hactl status | grep -q 'proxyd ready'" ||
		{ t_fail "hacd does not see proxyd ready"; return 1; }
	# Neither was restarted (hacd has Restart=always: active alone proves little).
	[[ $(in_boot systemctl show -p NRestarts --value proxyd) == 0 &&
		$(in_boot systemctl show -p NRestarts --value hacd) == 0 ]] ||
		{ t_fail "restarts: proxyd $(in_boot systemctl show -p NRestarts --value proxyd), hacd $(in_boot systemctl show -p NRestarts --value hacd)"; return 1; }
	# Both watchdogs armed.
	[[ $(in_boot systemctl show -p WatchdogUSec --value proxyd) == 30s &&
		$(in_boot systemctl show -p WatchdogUSec --value hacd) == 10s ]] || { t_fail "watchdog not set"; return 1; }
}

# chan_counter: hacd's channel-rejected-uid counter in the booted tree.
chan_counter() {
	in_boot hactl status --json --counters 2>/dev/null | jq -r '.counters["channel-rejected-uid"] // empty'
}

# chan_try UID GID: tests/tools/fake_proxyd.py (this host's python3, in the
# booted tree's namespaces) on its hacd.chan as UID:GID (no other groups):
# "refused" (the file system said no), "closed" (hacd did) or "open".
chan_try() {
	nsenter -t "$BOOT_PID" -m -n timeout 20 setpriv --reuid "$1" --regid "$2" --clear-groups \
		/usr/bin/python3 "$ROOT/tests/tools/fake_proxyd.py" "$OVL/merged/run/tandem/hacd.chan" --ready --hold 1 |
		head -n 1 | awk '{ print $1 }'
}

# hacd.chan under the unit: handed to proxyd by group, no chown. The
# directory keeps out every uid outside root and proxyd's group (refused
# before hacd sees it, not counted); a process past it that is not proxyd's
# uid (root, or another uid with proxyd's group) is closed by hacd and
# counted; the real proxyd stays connected and ready throughout.
case_units_channel() {
	[[ -n $BOOT_PID ]] || { t_fail "no booted tree"; return 1; }
	local gid mode c0 c1 out
	gid=$(in_boot id -g tandem-proxyd)
	mode=$(in_boot stat -c '%a %U:%G' /run/tandem)
	[[ $mode == "710 root:tandem-proxyd" ]] || { t_fail "/run/tandem is $mode"; return 1; }
	mode=$(in_boot stat -c '%a %U:%G' /run/tandem/hacd.chan)
	[[ $mode == "660 root:tandem-proxyd" ]] || { t_fail "hacd.chan is $mode"; return 1; }
	c0=$(chan_counter)
	[[ $c0 =~ ^[0-9]+$ ]] || { t_fail "no channel-rejected-uid counter: '$c0'"; return 1; }
	out=$(chan_try 65534 65534)
	[[ $out == refused ]] || { t_fail "nobody on hacd.chan: '$out', not refused"; return 1; }
	[[ $(chan_counter) == "$c0" ]] || { t_fail "a refused connect reached hacd"; return 1; }
	out=$(chan_try 65534 "$gid")
	[[ $out == closed ]] || { t_fail "nobody with proxyd's group on hacd.chan: '$out', not closed"; return 1; }
	out=$(chan_try 0 0)
	[[ $out == closed ]] || { t_fail "root on hacd.chan: '$out', not closed"; return 1; }
	c1=$(chan_counter)
	((c1 == c0 + 2)) || { t_fail "channel-rejected-uid went from $c0 to $c1, wanted +2"; return 1; }
	in_boot hactl status | grep -q 'proxyd ready' || { t_fail "proxyd no longer ready"; return 1; }
	in_boot journalctl -u hacd --no-pager | grep -q 'channel: proxyd disconnected' &&
		{ t_fail "the real proxyd was disconnected"; return 1; }
	# Upgraded from a unit that left /run/tandem 0755 root:root behind
	# (RuntimeDirectoryPreserve=): systemd sets the mode and group again
	# when hacd starts, and proxyd finds its way back in.
	in_boot sh -c 'chmod 0755 /run/tandem && chgrp root /run/tandem' || { t_fail "cannot loosen /run/tandem"; return 1; }
	in_boot systemctl restart hacd || { t_fail "systemctl restart hacd failed"; return 1; }
	mode=$(in_boot stat -c '%a %U:%G' /run/tandem)
	[[ $mode == "710 root:tandem-proxyd" ]] || { t_fail "after a restart over a 0755 root:root /run/tandem: $mode"; return 1; }
	t_wait 10 sh -c "nsenter -t $BOOT_PID -m -p -n -u chroot $OVL/merged hactl status | grep -q 'proxyd ready'" ||
		{ t_fail "proxyd not back on hacd.chan after hacd's restart"; return 1; }
}

case_units_reload() {
	[[ -n $BOOT_PID ]] || { t_fail "no booted tree"; return 1; }
	local u conf n
	for u in proxyd hacd; do
		conf=/etc/tandem/$u.conf
		in_boot systemctl reload "$u" || { t_fail "systemctl reload $u failed on a good file"; return 1; }
		# The overlay is mounted in the booted tree's namespace only: edit there.
		in_boot sh -c "cp $conf $conf.good && echo 'no_such_setting = 1;' >>$conf" ||
			{ t_fail "cannot edit $conf"; return 1; }
		in_boot systemctl reload "$u" >/dev/null 2>&1 && { t_fail "systemctl reload $u passed with a bad file"; return 1; }
		in_boot mv "$conf.good" "$conf"
		in_boot systemctl is-active --quiet "$u" || { t_fail "$u not active after a refused reload"; return 1; }
	done
	# The bad file never reached proxyd: it logged one reload, the good one.
	n=$(in_boot journalctl -u proxyd --no-pager | grep -c 'reloading /etc/tandem/proxyd.conf')
	((n == 1)) || { t_fail "proxyd logged $n reloads, wanted 1"; return 1; }
	boot_stop
}

case_upgrade() {
	local v v2 w
	v=$(dpkg-deb -f "$DEB" Version)
	v2=$v+t1
	# The same package at a higher version: what dpkg runs on an upgrade
	# (prerm upgrade, postinst configure OLD) and the conffile handling.
	rm -rf "$DIR/repack"
	dpkg-deb -R "$DEB" "$DIR/repack" && sed -i "s/^Version: .*/Version: $v2/" "$DIR/repack/DEBIAN/control" &&
		dpkg-deb -b "$DIR/repack" "$R/tmp/tandem_${v2}.deb" >/dev/null || { t_fail "cannot repack as $v2"; return 1; }
	# An operator's change to a conffile must survive the upgrade.
	echo '# local change (test_deb)' >>"$R/etc/tandem/proxyd.conf"
	in_root apt-get install -y -o Dpkg::Options::=--force-confold "/tmp/tandem_${v2}.deb" \
		>"$DIR/upgrade.log" 2>&1 || { t_fail "upgrade failed: $(tail -n 2 "$DIR/upgrade.log" | tr '\n' ' ')"; return 1; }
	w=$(in_root dpkg-query -W -f='${Version}' tandem)
	[[ $w == "$v2" ]] || { t_fail "version after the upgrade: $w, wanted $v2"; return 1; }
	grep -q 'local change (test_deb)' "$R/etc/tandem/proxyd.conf" || { t_fail "the local conffile change was lost"; return 1; }
	[[ -s $R/etc/tandem/hacd.key ]] || { t_fail "the upgrade removed hacd.key"; return 1; }
	in_root proxyd -t -c /etc/tandem/proxyd.conf >/dev/null 2>&1 || { t_fail "proxyd -t fails after the upgrade"; return 1; }
	in_root hacd -t -c /etc/tandem/hacd.conf >/dev/null 2>&1 || { t_fail "hacd -t fails after the upgrade"; return 1; }
}

case_purge() {
	in_root dpkg-query -W tandem >/dev/null 2>&1 || { t_fail "not installed"; return 1; }
	# What the daemons would have made at run time, so that purge has it to
	# remove (no systemd here to make it).
	mkdir -p "$R/var/lib/tandem" "$R/var/log/tandem" && echo 1 >"$R/var/lib/tandem/hacd.epoch"
	# An operator enabled the units: purge must take the symlinks away too.
	in_root systemctl enable proxyd.service hacd.service >/dev/null 2>&1 ||
		{ t_fail "systemctl enable failed in the tree"; return 1; }
	in_root apt-get purge -y tandem >"$DIR/purge.log" 2>&1 ||
		{ t_fail "apt-get purge failed: $(tail -n 2 "$DIR/purge.log" | tr '\n' ' ')"; return 1; }
	in_root dpkg-query -W -f='${Status}' tandem 2>/dev/null | grep -q installed &&
		{ t_fail "dpkg still lists tandem"; return 1; }
	rm -f "$R"/tmp/tandem_*.deb
	tree_list >"$DIR/after.txt"
	diff "$DIR/before.txt" "$DIR/after.txt" >"$DIR/left.txt"
	[[ ! -s $DIR/left.txt ]] || { t_fail "left behind: $(grep '^[<>]' "$DIR/left.txt" | head -n 5 | tr '\n' ' ')"; return 1; }
	# What policy keeps: the user and group (files of that uid may remain).
	in_root getent passwd tandem-proxyd >/dev/null && t_log "kept by policy: user and group tandem-proxyd"
	return 0
}

setup
t_case "lintian: no tags" case_lintian_clean
t_case "clean bookworm tree (mmdebstrap, cached)" case_clean_tree
t_case "apt installs the .deb" case_install
t_case "system user tandem-proxyd from sysusers.d" case_user
t_case "example configurations are conffiles" case_conffiles
t_case "proxyd -t on the shipped proxyd.conf" case_proxyd_check
t_case "hacd -t on the shipped hacd.conf (refused without a key)" case_hacd_check
t_case "systemd-analyze verify: both units" case_units_verify
t_case "systemd-analyze security: exposure proxyd <= 2.0, hacd <= 2.1" case_exposure
t_case "systemd boots the tree, both units start hardened" case_units_boot
t_case "proxyd as tandem-proxyd on :80, hacd owns the VIP, watchdogs set" case_units_serve
t_case "hacd.chan: by group, not chown; other uids refused (directory, SO_PEERCRED)" case_units_channel
t_case "systemctl reload checks the file first (both units)" case_units_reload
t_case "upgrade over itself keeps a local conffile change" case_upgrade
t_case "purge leaves nothing behind" case_purge
t_end
