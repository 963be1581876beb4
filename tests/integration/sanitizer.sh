# shellcheck shell=bash
# tests/integration/sanitizer.sh — sanitizer reports from the processes under
# test, sourced by loopback.sh and lib.sh.
#
# When the binaries under test ($BUILD/proxyd) were built with a sanitizer
# (make SAN=1: ASan+UBSan into build/san; make SAN=thread: TSan into
# build/tsan), t_san_setup exports ASAN_OPTIONS, UBSAN_OPTIONS and
# TSAN_OPTIONS whose log_path points into a directory of this run, so every
# process the script starts writes any report to a file there: whatever its
# stdout and stderr were (a daemon's log, /dev/null), and also a report
# written at exit (LeakSanitizer's, ThreadSanitizer's summary) after the
# harness stopped the daemon with SIGTERM. The directory is world-writable
# (sticky): proxyd drops to its own user and may run hacd as nobody, and a
# sanitizer opens the file only when it has something to say.
#
# Flags: halt_on_error=1 for ASan and UBSan (the build already has
# -fno-sanitize-recover=undefined: the first error ends the process, which
# the cases see too); detect_leaks=1 (the daemons return from main on
# SIGTERM, so LeakSanitizer runs at every graceful stop). ThreadSanitizer
# keeps going after a report (halt_on_error=0) so that one run lists every
# race. Ours come last in each variable: a later flag wins, so no caller's
# log_path can send a report elsewhere.
#
# The script's last case (t_san_case NAME FUNCTION) stops every process it
# started and fails on any report file; with a build without sanitizers it
# does not run at all (it could not fail).

T_SAN=
T_SAN_DIR=

# t_san_kind BINARY: "asan" (ASan and/or UBSan), "tsan", or nothing.
t_san_kind() {
	if grep -aq __tsan_init "$1" 2>/dev/null; then
		echo tsan
	elif grep -aqE '__asan_init|__ubsan_handle_' "$1" 2>/dev/null; then
		echo asan
	fi
}

# t_san_setup DIR: when $BUILD is sanitized, make DIR (emptied) the place of
# every report and export the options.
t_san_setup() {
	T_SAN=$(t_san_kind "$BUILD/proxyd")
	[[ -n $T_SAN ]] || return 0
	T_SAN_DIR=$1
	rm -rf "$T_SAN_DIR"
	mkdir -p "$T_SAN_DIR" && chmod 1777 "$T_SAN_DIR" || return 1
	export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}halt_on_error=1:detect_leaks=1:log_path=$T_SAN_DIR/asan"
	export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}print_stacktrace=1:halt_on_error=1:log_path=$T_SAN_DIR/ubsan"
	export TSAN_OPTIONS="${TSAN_OPTIONS:+$TSAN_OPTIONS:}halt_on_error=0:second_deadlock_stack=1:log_path=$T_SAN_DIR/tsan"
}

# t_san_reports: 0 when no process wrote a report; otherwise 1, every report
# on stderr for the reader, and T_WHY set to the files' SUMMARY lines.
t_san_reports() {
	local f files=() sums
	[[ -n $T_SAN_DIR && -d $T_SAN_DIR ]] || return 0
	for f in "$T_SAN_DIR"/*; do
		[[ -f $f ]] && files+=("$f")
	done
	((${#files[@]} == 0)) && return 0
	for f in "${files[@]}"; do
		printf '# ---- %s\n' "$f" >&2
		sed 's/^/# /' "$f" >&2
	done
	sums=$(grep -h '^SUMMARY:' "${files[@]}" | sort | uniq -c | sed 's/^ *//' | paste -sd';')
	t_fail "${#files[@]} sanitizer report file(s) in $T_SAN_DIR: ${sums:-no SUMMARY line}"
}
