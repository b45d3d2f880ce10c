#!/usr/bin/env bash
# The standard comparison (what BENCHMARKS.md tabulates): the loopback
# ceiling from perf/blaster, then every server at every player count,
# --runs times with the order of the servers rotated each round (so slow
# phases of a shared machine fall on all of them), one fresh server per run,
# each pinned to --server-cpus and the load to --bench-cpus.
#
# Prints one screen: the ceiling and, per server and player count, the
# median over the runs of each figure with its range [min-max]. The full
# Markdown tables (every run) and every run's JSON go to --results (default
# bin/compare/TIME/), whose files it names.
#
#   perf/compare.sh [--players "1000 4200 10000"] [--servers "treasured plain naive sink"]
#                   [--runs 3] [--duration 10s] [--warmup 3s] [--server-cpus 0] [--bench-cpus 1]
#                   [--listen A] [--admin A] [--results DIR] [--nice N] [-- extra treasure-bench flags]
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

players="1000 4200 10000" servers="treasured plain naive sink" runs=3 duration=10s warmup=3s
server_cpus=0 bench_cpus=1 listen=127.0.0.1:7777 admin=127.0.0.1:7778 out=""
parse_flags 2,16 \
	--players=players --servers=servers --runs=runs --duration=duration --warmup=warmup --server-cpus=server_cpus --bench-cpus=bench_cpus --listen=listen --admin=admin --nice=NICE --results=out \
	-- "$@"
[[ $runs =~ ^[1-9][0-9]*$ ]] || die "--runs $runs: want a number >= 1"
command -v jq >/dev/null || die "jq is needed (apt-get install jq)"
out=${out:-$BIN/compare/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out"
build treasure-bench blaster
read -ra srv <<<"$servers"
echo "perf/compare.sh: servers on CPU $server_cpus, treasure-bench on CPU $bench_cpus, nice $NICE, $runs run(s) each, ${duration} measured; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"

# blast RUN: the loopback ceiling, before the first and after the last round.
blast() {
	nice -n "$NICE" taskset -c "$server_cpus,$bench_cpus" "$BIN/blaster" -sizes 1200,256,64 -duration 3s \
		-echo-cpu "${server_cpus%%[,-]*}" -client-cpu "${bench_cpus%%[,-]*}" -json >"$out/blaster-$1.json"
}
blast first
for ((r = 1; r <= runs; r++)); do
	for n in $players; do
		for ((k = 0; k < ${#srv[@]}; k++)); do
			s=${srv[$(((k + r - 1) % ${#srv[@]}))]}
			f=$out/$s-$n-r$r
			start_server "$s" "$server_cpus" "$listen" "$admin"
			nice -n "$NICE" taskset -c "$bench_cpus" "$BIN/treasure-bench" ${AUTH[@]+"${AUTH[@]}"} --addr "$listen" --admin "http://$admin" \
				--players "$n" --duration "$duration" --warmup "$warmup" --json --progress off \
				--workers "$(ncpus "$bench_cpus")" --label "$s" ${EXTRA[@]+"${EXTRA[@]}"} >"$f.json" 2>"$f.err" || true
			stop_server
			echo "  round $r: $s with $n players: $(jq -r 'if .valid then "valid" else "INVALID: \(.invalid_reasons|join("; "))" end' "$f.json" 2>/dev/null || echo "failed: $(tail -1 "$f.err")")" >&2
		done
	done
done
blast last

# The full tables, every run, for the record.
{
	echo "## Loopback ceiling (perf/blaster, echo thread on CPU $server_cpus, client on CPU $bench_cpus; before and after)"
	echo
	echo "| when | size | sent/s | received by echo/s | echoed back/s |"
	echo "|---|---:|---:|---:|---:|"
	for w in first last; do
		jq -r --arg w "$w" '"| \($w) | \(.size) B | \(.sent_per_s|floor) | \(.received_per_s|floor) | \(.echoed_per_s|floor) |"' "$out/blaster-$w.json"
	done
	echo
	echo "## Every run (ms, coordinated-omission corrected)"
	echo
	echo "| server | players | run | rtt p50 | rtt p99 | apply p50 | apply p99 | t2w p50 | t2w p99 | t2w max | loss % | dup loot | lost loot | overruns | server CPU % | bench CPU % | bench µs/datagram | send lag p99 | valid |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
	for n in $players; do
		for s in "${srv[@]}"; do
			for ((r = 1; r <= runs; r++)); do
				f=$out/$s-$n-r$r.json
				jq -e . "$f" >/dev/null 2>&1 || { echo "| $s | $n | $r | run failed: $(tail -1 "${f%.json}.err") |"; continue; }
				jq -r --arg r "$r" '"| \(.label) | \(.players) | \($r) | \(.rtt.corrected.p_ms["50"]) | \(.rtt.corrected.p_ms["99"]) | \(.apply.corrected.p_ms["50"]) | \(.apply.corrected.p_ms["99"]) | \(.tick_to_wire.corrected.p_ms["50"]) | \(.tick_to_wire.corrected.p_ms["99"]) | \(.tick_to_wire.corrected.max_ms) | \(.snapshots.loss_pct*1000|round/1000) | \(.loot.duplicates_shown) | \(.loot.lost_loot) of \(.loot.own_openings) | \(.server.overruns // "-") | \(.server.cpu_percent_of_one_core // "-" | if type == "number" then floor else . end) | \(.generator.cpu_percent_of_one_core|floor) | \(.generator.cpu_us_per_datagram // "-" | if type == "number" then (.*100|round/100) else . end) | \(.send_lag.p_ms["99"]) | \(if .valid then "yes" else "INVALID: " + (.invalid_reasons|join("; ")) end) |"' "$f"
			done
		done
	done
} >"$out/tables.md"

# The screen: medians [min-max] over the runs that produced a report.
med='def med(f): [.[] | f | select(type == "number")] | sort | if length == 0 then "-" else
	"\(.[(length/2|floor)]*100|round/100) [\(.[0]*100|round/100)-\(.[-1]*100|round/100)]" end;'
echo
jq -r '"loopback ceiling (blaster echo, 1200 B): \(.echoed_per_s|floor) datagrams/s = \(.echoed_per_s/20|floor) players at 20 Hz"' <(jq -c 'select(.size == 1200)' "$out/blaster-first.json")
echo
printf '%-10s %7s  %-22s %-22s %-22s %-18s %-16s %-16s %-16s %s\n' server players "rtt p99 ms" "apply p99 ms" "t2w p99 ms" "loss %" "server CPU %" "bench µs/dgram" "send lag p99" "valid runs"
for n in $players; do
	for s in "${srv[@]}"; do
		files=()
		for ((r = 1; r <= runs; r++)); do
			f=$out/$s-$n-r$r.json
			jq -e . "$f" >/dev/null 2>&1 && files+=("$f")
		done
		((${#files[@]})) || { printf '%-10s %7s  no run produced a report (see %s)\n' "$s" "$n" "$out"; continue; }
		jq -rs "$med"' [med(.rtt.corrected.p_ms["99"]), med(.apply.corrected.p_ms["99"]), med(.tick_to_wire.corrected.p_ms["99"]), med(.snapshots.loss_pct), med(.server.cpu_percent_of_one_core), med(.generator.cpu_us_per_datagram), med(.send_lag.p_ms["99"]), "\([.[] | select(.valid)] | length)/\(length)"] | @tsv' "${files[@]}" |
			while IFS=$'\t' read -r a b c d e f g h; do
				printf '%-10s %7s  %-22s %-22s %-22s %-18s %-16s %-16s %-16s %s\n' "$s" "$n" "$a" "$b" "$c" "$d" "$e" "$f" "$g" "$h"
			done
	done
done
echo
echo "duplicated loot (sum over runs): $(cat "$out"/*-r*.json 2>/dev/null | jq -s '[.[].loot.duplicates_shown] | add // 0'), lost loot: $(cat "$out"/*-r*.json 2>/dev/null | jq -s '[.[].loot.lost_loot] | add // 0')"
echo "results: $out/tables.md (every run), $out/*.json (every report), $out/blaster-*.json"
