# tests/integration/loopback.sh — the harness shared by the loopback
# integration scripts (proxyd's tests that need no namespaces): a temporary
# directory, every process started through spawn() stopped by its PID in an
# EXIT trap, one "ok - / not ok -" line per case, waits bounded in time.
# The sourcing script sets T_NAME (a word for the temp and log directories)
# first. KEEP_LOGS=1 keeps a failed run's directory in /tmp/tandem-NAME-logs,
# KEEP_LOGS=always every run's.
# shellcheck shell=bash

# proxyd, started as root, drops to its default user: it must exist.
"$(dirname "${BASH_SOURCE[0]}")/../../scripts/add-users" >&2 || exit 1
T=$(mktemp -d /tmp/tandem-$T_NAME-test.XXXXXX) || exit 1
chmod 755 "$T"
PIDS=()
T_PASS=0
T_FAIL=0
T_WHY=

# shellcheck source=sanitizer.sh
. "$(dirname "${BASH_SOURCE[0]}")/sanitizer.sh"
t_san_setup "$T/san" || exit 1

# running PID: PID exists and is not a zombie (an exited child not yet
# reaped still answers kill -0).
running() {
	local st
	st=$(ps -o stat= -p "$1" 2>/dev/null) && [[ $st != Z* ]]
}

# stop_all [TICKS]: SIGTERM to every process spawn() started, each given
# TICKS x 50 ms (default 40) to exit before SIGKILL.
stop_all() {
	local p ticks=${1:-40} i
	for p in "${PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null
	done
	for p in "${PIDS[@]}"; do
		for ((i = 0; i < ticks; i++)); do
			running "$p" || break
			sleep 0.05
		done
		if running "$p"; then
			kill -KILL "$p" 2>/dev/null
			echo "# pid $p ignored SIGTERM for $((ticks / 20)) s: killed (no exit-time sanitizer check)" >&2
		fi
	done
	wait 2>/dev/null
	PIDS=()
}

cleanup() {
	local rc=$?
	stop_all
	if { ((T_FAIL > 0)) && [[ -n ${KEEP_LOGS:-} ]]; } || [[ ${KEEP_LOGS:-} == always ]]; then
		rm -rf /tmp/tandem-$T_NAME-logs && cp -r "$T" /tmp/tandem-$T_NAME-logs
		echo "# logs kept in /tmp/tandem-$T_NAME-logs" >&2
	fi
	rm -rf "$T"
	return "$rc"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

# t_case NAME FUNCTION [ARGS...]: run one case, print its line (with
# T_TIMING=1 also its seconds on stderr).
t_case() {
	local name=$1 t0=$SECONDS
	shift
	T_WHY=
	if "$@"; then
		echo "ok - $name"
		T_PASS=$((T_PASS + 1))
	else
		echo "not ok - $name (${T_WHY:-no reason given})"
		T_FAIL=$((T_FAIL + 1))
	fi
	[[ -n ${T_TIMING:-} ]] && echo "# $((SECONDS - t0))s $name" >&2
	return 0
}

t_fail() {
	[[ -z $T_WHY ]] && T_WHY=$*
	return 1
}

wait_for() {  # SECONDS CMD...: every 50 ms until CMD succeeds; 1 after SECONDS
	local secs=$1 end
	shift
	end=$((SECONDS + secs))
	while ((SECONDS <= end)); do
		"$@" && return 0
		sleep 0.05
	done
	return 1
}

# t_jq ARGS...: jq -e on stdin that fails on empty input as well. jq 1.6
# exits 0 when it read nothing, so a check on the output of a command that
# failed (printed nothing) would pass.
t_jq() {
	local in
	in=$(cat)
	[[ -n $in ]] || return 1
	jq -e "$@" <<<"$in"
}

listening() { ss -Htln "sport = :$1" | grep -q .; }

SPAWNED=
spawn() {  # LOGFILE CMD...
	local log=$1
	shift
	"$@" >"$log" 2>&1 &
	SPAWNED=$!
	PIDS+=("$SPAWNED")
}


# t_san_case: a sanitized build's last case — every process stopped by
# SIGTERM (so reports written at exit count too), then no report file
# (sanitizer.sh). Nothing with a build without sanitizers.
t_san_case() {
	[[ -n $T_SAN ]] || return 0
	t_case "every process stopped, no $T_SAN report" t_san_stop_check
}
t_san_stop_check() {
	stop_all 200
	t_san_reports
}
