# shellcheck shell=bash
# Helpers sourced by the perf scripts: parse their flags, build the
# binaries, start a server pinned to chosen CPUs, wait until it answers,
# stop it (by its PID, nothing else) when the script exits.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${BIN:-$ROOT/bin}
GO=${GO:-go}
SERVER_PID=""
# Extra flags for the server (run.sh --server-args), e.g. (--lock-threads off).
SERVER_ARGS=()
# Scheduling priority of the server and the bench (--nice): on a machine
# shared with other jobs, a negative value (root) keeps them from being
# descheduled so often that the generator falls behind. Say so beside the
# figures when used.
NICE=0

# Extra treasure-bench flags: what follows "--" on a script's command line.
EXTRA=()

# Identity: TOKEN_KEY is the connect-token key file treasured and
# treasure-bench share (the bench issues each player a token with it).
# Unset, a DEVELOPMENT key is created in $BIN at start and the script says
# so; NO_AUTH=1 runs treasured with --insecure-no-auth instead, to measure
# what authentication costs. start_server fills AUTH with the bench's flags.
TOKEN_KEY=${TOKEN_KEY:-}
NO_AUTH=${NO_AUTH:-0}
AUTH=()
SERVER_AUTH=()

# auth_setup KIND : the identity flags of server KIND and of its bench.
auth_setup() {
	AUTH=() SERVER_AUTH=()
	[[ $1 == treasured || $1 == sink ]] || return 0
	if [[ $NO_AUTH == 1 ]]; then
		# The sink authenticates only when given a key.
		[[ $1 == treasured ]] && SERVER_AUTH=(--insecure-no-auth)
		echo "$(basename "$0"): NO_AUTH=1: treasured runs WITHOUT authentication (measurement only)" >&2
		return 0
	fi
	if [[ -z $TOKEN_KEY ]]; then
		TOKEN_KEY=$BIN/dev-token.key
		if [[ ! -f $TOKEN_KEY ]]; then
			build treasure-token
			"$BIN/treasure-token" genkey --out "$TOKEN_KEY" >/dev/null || die "cannot create $TOKEN_KEY"
		fi
		echo "$(basename "$0"): DEVELOPMENT connect-token key $TOKEN_KEY (created by the script, not for production), shared by $1 and treasure-bench" >&2
	fi
	SERVER_AUTH=(--token-key "$TOKEN_KEY")
	# shellcheck disable=SC2034 # read by the scripts that source this file
	AUTH=(--token-key "$TOKEN_KEY")
}

die() { echo "$(basename "$0"): $*" >&2; exit 2; }

# parse_flags HELP SPEC... -- ARGS... : the scripts' one flag parser. Each
# SPEC is --flag=VARIABLE: "--flag VALUE" in ARGS sets VARIABLE, which the
# script declared with its default. SERVER_ARGS is split on whitespace (the
# server's extra flags); what follows a "--" in ARGS goes to EXTRA. -h and
# --help print the lines HELP (a sed range such as 2,16) of the script, its
# usage comment. Anything else is an error (exit 2).
parse_flags() {
	local help=$1 var
	shift
	local -A vars=()
	while (($#)) && [[ $1 != -- ]]; do
		vars[${1%%=*}]=${1#*=}
		shift
	done
	(($#)) && shift
	while (($#)); do
		# shellcheck disable=SC2034 # EXTRA is read by the sourcing script
		case $1 in
		--) shift; EXTRA=("$@"); return 0 ;;
		-h | --help) sed -n "${help}p" "$0"; exit 0 ;;
		esac
		var=${vars[$1]-}
		[[ -n $var ]] || die "unknown option $1 (see --help)"
		(($# >= 2)) || die "$1 needs a value (see --help)"
		if [[ $var == SERVER_ARGS ]]; then
			read -ra SERVER_ARGS <<<"$2"
		else
			printf -v "$var" '%s' "$2"
		fi
		shift 2
	done
}

# build NAME... : go build the named commands into $BIN.
build() {
	mkdir -p "$BIN"
	local name pkg
	for name in "$@"; do
		case $name in
		treasured) pkg=./cmd/treasured ;;
		treasure-bench) pkg=./cmd/treasure-bench ;;
		treasure-token) pkg=./cmd/treasure-token ;;
		naive) pkg=./perf/baseline/naive ;;
		plain) pkg=./perf/baseline/plain ;;
		sink) pkg=./perf/sink ;;
		blaster) pkg=./perf/blaster ;;
		flame) pkg=./perf/flame ;;
		*) die "build: unknown command $name" ;;
		esac
		(cd "$ROOT" && "$GO" build -o "$BIN/$name" "$pkg")
	done
}

# start_server KIND CPUS LISTEN ADMIN : run server KIND (treasured, naive,
# plain, sink) pinned to CPUS with taskset, log to $BIN/KIND.log, and wait until
# its /metrics answers. KIND "external" starts nothing (a server is already
# running at LISTEN/ADMIN).
start_server() {
	local kind=$1 cpus=$2 listen=$3 admin=$4
	[[ $kind == external ]] && return 0
	if curl -sf -o /dev/null --max-time 1 "http://$admin/metrics"; then
		die "something already serves http://$admin: stop it or choose --listen/--admin"
	fi
	build "$kind"
	auth_setup "$kind"
	# treasured plans its engine and I/O cores from the CPUs it is allowed
	# (the taskset mask), so no core flags are needed; with one CPU it
	# shares it between engine and I/O and says so in its log.
	local args=(--listen "$listen" --admin "$admin")
	# treasure-bench may run every player from one host (127.0.0.1 with
	# --players-per-socket 1); treasured's per-IP admission limits are sized
	# for a NAT, so lift them here.
	[[ $kind == treasured ]] && args+=(--sessions-per-ip 0 --handshakes-per-ip 100000 --handshake-rate-per-ip 100000)
	args+=(${SERVER_AUTH[@]+"${SERVER_AUTH[@]}"})
	args+=(${SERVER_ARGS[@]+"${SERVER_ARGS[@]}"})
	nice -n "$NICE" taskset -c "$cpus" "$BIN/$kind" "${args[@]}" >"$BIN/$kind.log" 2>&1 &
	SERVER_PID=$!
	local i
	for ((i = 0; i < 100; i++)); do
		if curl -sf -o /dev/null --max-time 1 "http://$admin/metrics"; then
			kill -0 "$SERVER_PID" 2>/dev/null || die "$kind exited during start-up (log: $BIN/$kind.log)"
			return 0
		fi
		if ! kill -0 "$SERVER_PID" 2>/dev/null; then
			cat "$BIN/$kind.log" >&2
			die "$kind exited during start-up (log above)"
		fi
		sleep 0.1
	done
	die "$kind did not answer on http://$admin/metrics within 10 s (log: $BIN/$kind.log)"
}

stop_server() {
	if [[ -n $SERVER_PID ]]; then
		kill "$SERVER_PID" 2>/dev/null || true
		wait "$SERVER_PID" 2>/dev/null || true
		SERVER_PID=""
	fi
}

# halt_poll NS : in a VM guest with the cpuidle-haltpoll driver, let an idle
# vCPU poll up to NS nanoseconds before it halts (guest_halt_poll_ns), for
# this run; the value before is put back at exit. A halted vCPU costs an
# exit to the hypervisor and a slower start after it (BENCHMARKS.md, "The
# kernel filter; busy polling tried", part 9). Needs root.
HALT_POLL_KNOB=/sys/module/haltpoll/parameters/guest_halt_poll_ns
HALT_POLL_WAS=""
halt_poll() {
	[[ $1 =~ ^[0-9]+$ ]] || die "--halt-poll-ns $1: want nanoseconds"
	[[ -w $HALT_POLL_KNOB ]] || die "--halt-poll-ns: $HALT_POLL_KNOB is not writable (not a VM guest with cpuidle-haltpoll, or not root)"
	HALT_POLL_WAS=$(<"$HALT_POLL_KNOB")
	echo "$1" >"$HALT_POLL_KNOB"
}

cleanup() {
	stop_server
	if [[ -n $HALT_POLL_WAS ]]; then
		echo "$HALT_POLL_WAS" >"$HALT_POLL_KNOB"
		HALT_POLL_WAS=""
	fi
}

trap cleanup EXIT

# ncpus LIST : number of CPUs in a taskset list like 0,2-3.
ncpus() {
	local n=0 part a b
	IFS=, read -ra parts <<<"$1"
	for part in "${parts[@]}"; do
		if [[ $part == *-* ]]; then
			a=${part%-*} b=${part#*-}
			n=$((n + b - a + 1))
		else
			n=$((n + 1))
		fi
	done
	echo "$n"
}
