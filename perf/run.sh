#!/usr/bin/env bash
# Run a server pinned to chosen CPUs and a treasure-bench load of a given
# size pinned to others, and print the bench's report.
#
#   perf/run.sh [--server treasured|naive|plain|sink|external] [--players N]
#               [--layout auto|gnet|mmsg|poll]
#               [--duration 10s] [--warmup 3s] [--server-cpus 0]
#               [--bench-cpus 1] [--listen 127.0.0.1:7777]
#               [--admin 127.0.0.1:7778] [--server-args "FLAGS"]
#               [--results DIR] [--nice N] [--halt-poll-ns NS]
#               [-- extra treasure-bench flags]
#
# Prints one screen (what ran, latency table, loss, exactly-once, server
# health, verdict); the full report with the percentile spectra, the JSON
# and a plot go to --results (default bin/results/SERVER-PLAYERS-TIME/),
# whose files the screen names. "-- --latency" prints the spectra too.
#
# --server-args passes whitespace-separated flags to the server, e.g.
# --server-args "--lock-threads off --io-loops 2". --layout L is treasured's
# --backend L: auto (its default: poll on one CPU, else gnet), or one named.
# --halt-poll-ns NS, in a VM guest (root), lets idle vCPUs poll NS ns
# before halting, for this run only (lib.sh halt_poll).
# Example: perf/run.sh --server treasured --players 4200 -- --plot bin/p.png
# The exit status is the bench's (3 = INVALID run, with --strict).
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

server=treasured layout="" players=1000 duration=10s warmup=3s results="" halt_poll_ns=""
server_cpus=0 bench_cpus=1 listen=127.0.0.1:7777 admin=127.0.0.1:7778
parse_flags 2,24 \
	--server=server --layout=layout --players=players --duration=duration --warmup=warmup --server-cpus=server_cpus --bench-cpus=bench_cpus --listen=listen --admin=admin --nice=NICE --server-args=SERVER_ARGS --results=results --halt-poll-ns=halt_poll_ns \
	-- "$@"
[[ -z $halt_poll_ns ]] || halt_poll "$halt_poll_ns"
case $server in treasured | naive | plain | sink | external) ;; *) die "--server $server: want treasured, naive, plain, sink or external" ;; esac
[[ $players =~ ^[0-9]+$ ]] || die "--players $players: want a number"
if [[ -n $layout ]]; then
	[[ $server == treasured ]] || die "--layout is treasured's"
	SERVER_ARGS+=(--backend "$layout")
fi

results=${results:-$BIN/results/$server-$players-$(date +%Y%m%d-%H%M%S)}
build treasure-bench
start_server "$server" "$server_cpus" "$listen" "$admin"
echo "perf/run.sh: $server on CPU $server_cpus (log $BIN/$server.log), treasure-bench on CPU $bench_cpus"
set +e
nice -n "$NICE" taskset -c "$bench_cpus" "$BIN/treasure-bench" ${AUTH[@]+"${AUTH[@]}"} --addr "$listen" --admin "http://$admin" \
	--players "$players" --duration "$duration" --warmup "$warmup" --results "$results" \
	--workers "$(ncpus "$bench_cpus")" --label "$server" ${EXTRA[@]+"${EXTRA[@]}"}
status=$?
set -e
exit "$status"
