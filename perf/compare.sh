#!/usr/bin/env bash
# The standard comparison (what BENCHMARKS.md tabulates): the loopback
# ceiling from perf/blaster, then treasured and both baselines at each
# player count, each server pinned to --server-cpus and the load to
# --bench-cpus, one fresh server per run. Prints Markdown tables; the JSON
# reports stay in bin/compare/.
#
#   perf/compare.sh [--players "1000 4200 10000"] [--servers "treasured plain naive"]
#                   [--duration 10s] [--warmup 3s] [--server-cpus 0] [--bench-cpus 1]
#                   [-- extra treasure-bench flags]
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

players="1000 4200 10000" servers="treasured plain naive" duration=10s warmup=3s
server_cpus=0 bench_cpus=1 listen=127.0.0.1:7777 admin=127.0.0.1:7778
extra=()
while (($#)); do
	case $1 in
	--players) players=$2; shift 2 ;;
	--servers) servers=$2; shift 2 ;;
	--duration) duration=$2; shift 2 ;;
	--warmup) warmup=$2; shift 2 ;;
	--server-cpus) server_cpus=$2; shift 2 ;;
	--bench-cpus) bench_cpus=$2; shift 2 ;;
	--listen) listen=$2; shift 2 ;;
	--admin) admin=$2; shift 2 ;;
	--) shift; extra=("$@"); break ;;
	-h | --help) sed -n '2,10p' "$0"; exit 0 ;;
	*) die "unknown option $1 (see --help)" ;;
	esac
done
command -v jq >/dev/null || die "jq is needed (apt-get install jq)"
out=$BIN/compare
mkdir -p "$out"
build treasure-bench blaster

echo "## Loopback ceiling (perf/blaster, echo thread on CPU $server_cpus, client on CPU $bench_cpus)"
echo
taskset -c "$server_cpus,$bench_cpus" "$BIN/blaster" -sizes 1200,64 -duration 3s \
	-echo-cpu "${server_cpus%%[,-]*}" -client-cpu "${bench_cpus%%[,-]*}" -json >"$out/blaster.json"
echo "| size | sent/s | received by echo/s | echoed back/s |"
echo "|---:|---:|---:|---:|"
jq -r '"| \(.size) B | \(.sent_per_s|floor) | \(.received_per_s|floor) | \(.echoed_per_s|floor) |"' "$out/blaster.json"
echo

for n in $players; do
	for s in $servers; do
		start_server "$s" "$server_cpus" "$listen" "$admin"
		taskset -c "$bench_cpus" "$BIN/treasure-bench" --addr "$listen" --admin "http://$admin" \
			--players "$n" --duration "$duration" --warmup "$warmup" --json --progress off \
			--workers "$(ncpus "$bench_cpus")" --label "$s" "${extra[@]}" >"$out/$s-$n.json" 2>"$out/$s-$n.err" || true
		stop_server
		echo "ran $s with $n players: $(jq -r 'if .valid then "valid" else "INVALID: \(.invalid_reasons|join("; "))" end' "$out/$s-$n.json" 2>/dev/null || echo failed)" >&2
	done
done

q='.corrected.p_ms'
row='"| \(.label) | \(.players) | \(.connected) | "'
for m in rtt apply tick_to_wire; do
	echo "## $m (ms, coordinated-omission corrected: p50 / p95 / p99 / p99.9 / max)"
	echo
	echo "| server | players | connected | p50 | p95 | p99 | p99.9 | max | uncorrected p99 |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
	for n in $players; do
		for s in $servers; do
			f=$out/$s-$n.json
			jq -e . "$f" >/dev/null 2>&1 || { echo "| $s | $n | run failed: $(tail -1 "$out/$s-$n.err") |"; continue; }
			jq -r "$row"' + "\(.'"$m$q"'["50"]) | \(.'"$m$q"'["95"]) | \(.'"$m$q"'["99"]) | \(.'"$m$q"'["99.9"]) | \(.'"$m"'.corrected.max_ms) | \(.'"$m"'.uncorrected.p_ms["99"] // "-") |"' "$f"
		done
	done
	echo
done

echo "## Loss, exactly-once, server health"
echo
echo "| server | players | snapshot loss % | server drops | kernel drops | dup loot | lost loot (own openings) | overruns | tick_work p99 ms | GC cycles | GC pause max <= ms | alloc B/s | server CPU % | bench CPU % | valid |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
for n in $players; do
	for s in $servers; do
		f=$out/$s-$n.json
		jq -e . "$f" >/dev/null 2>&1 || continue
		jq -r '"| \(.label) | \(.players) | \(.snapshots.loss_pct*1000|round/1000) | \(.server.drops // "-") | \(.kernel.server_socket_drops) | \(.loot.duplicates_shown) | \(.loot.lost_loot) of \(.loot.own_openings) | \(.server.overruns // "-") | \(.server.tick_work.p99_ms // "-" | if type == "number" then (.*1000|round/1000) else . end) | \(.server.gc_cycles // "-") | \(.server.gc_pauses.max_le_ms // "-") | \(.server.alloc_bytes_per_s // "-" | if type == "number" then floor else . end) | \(.server.cpu_percent_of_one_core // "-" | if type == "number" then floor else . end) | \(.generator.cpu_percent_of_one_core|floor) | \(.valid) |"' "$f"
	done
done
