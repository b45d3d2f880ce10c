#!/usr/bin/env bash
# The standard comparison (what BENCHMARKS.md tabulates): the loopback
# ceiling from perf/blaster, then every server at every player count,
# --runs times with the order of the servers rotated each round (so slow
# phases of a shared machine fall on all of them), one fresh server per run,
# each pinned to --server-cpus and the load to --bench-cpus.
#
# Prints one screen: the ceiling and, per server and player count, the
# median over the runs of each figure with its range [min-max]; with
# --format markdown, the same as one Markdown table (what BENCHMARKS.md
# quotes; `make bench-table` runs the whole table that way). The full
# Markdown tables (every run), the summary table (summary.md) and every
# run's JSON go to --results (default bin/compare/TIME/), whose files it
# names. --sink-players limits the sink (the generator alone) to some of
# the player counts (default: all of them).
#
#   perf/compare.sh [--players "1000 4200 10000"] [--servers "treasured plain naive sink"]
#                   [--sink-players "10000"] [--format screen|markdown]
#                   [--runs 3] [--duration 10s] [--warmup 3s] [--server-cpus 0] [--bench-cpus 1]
#                   [--listen A] [--admin A] [--results DIR] [--nice N] [-- extra treasure-bench flags]
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

players="1000 4200 10000" servers="treasured plain naive sink" runs=3 duration=10s warmup=3s
server_cpus=0 bench_cpus=1 listen=127.0.0.1:7777 admin=127.0.0.1:7778 out="" sink_players="" format=screen
parse_flags 2,21 \
	--players=players --servers=servers --sink-players=sink_players --format=format --runs=runs --duration=duration --warmup=warmup --server-cpus=server_cpus --bench-cpus=bench_cpus --listen=listen --admin=admin --nice=NICE --results=out \
	-- "$@"
[[ $runs =~ ^[1-9][0-9]*$ ]] || die "--runs $runs: want a number >= 1"
[[ $format == screen || $format == markdown ]] || die "--format $format: want screen or markdown"
sink_players=${sink_players:-$players}
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
# servers_at N : the servers that run with N players (the sink only at
# --sink-players), into the array at.
servers_at() {
	at=()
	local s
	for s in "${srv[@]}"; do
		[[ $s == sink && " $sink_players " != *" $1 "* ]] || at+=("$s")
	done
}

blast first
for ((r = 1; r <= runs; r++)); do
	for n in $players; do
		servers_at "$n"
		for ((k = 0; k < ${#at[@]}; k++)); do
			s=${at[$(((k + r - 1) % ${#at[@]}))]}
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
		servers_at "$n"
		for s in "${at[@]}"; do
			for ((r = 1; r <= runs; r++)); do
				f=$out/$s-$n-r$r.json
				jq -e . "$f" >/dev/null 2>&1 || { echo "| $s | $n | $r | run failed: $(tail -1 "${f%.json}.err") |"; continue; }
				jq -r --arg r "$r" '"| \(.label) | \(.players) | \($r) | \(.rtt.corrected.p_ms["50"]) | \(.rtt.corrected.p_ms["99"]) | \(.apply.corrected.p_ms["50"]) | \(.apply.corrected.p_ms["99"]) | \(.tick_to_wire.corrected.p_ms["50"]) | \(.tick_to_wire.corrected.p_ms["99"]) | \(.tick_to_wire.corrected.max_ms) | \(.snapshots.loss_pct*1000|round/1000) | \(.loot.duplicates_shown) | \(.loot.lost_loot) of \(.loot.own_openings) | \(.server.overruns // "-") | \(.server.cpu_percent_of_one_core // "-" | if type == "number" then floor else . end) | \(.generator.cpu_percent_of_one_core|floor) | \(.generator.cpu_us_per_datagram // "-" | if type == "number" then (.*100|round/100) else . end) | \(.send_lag.p_ms["99"]) | \(if .valid then "yes" else "INVALID: " + (.invalid_reasons|join("; ")) end) |"' "$f"
			done
		done
	done
} >"$out/tables.md"

# reports S N : the JSON reports of server S at N players, into files.
reports() {
	files=()
	local r f
	for ((r = 1; r <= runs; r++)); do
		f=$out/$1-$2-r$r.json
		jq -e . "$f" >/dev/null 2>&1 && files+=("$f")
	done
	return 0
}

# The summary as one Markdown table: medians [min-max] over the runs that
# produced a report. A row stays when the server failed (its figures say
# so); "valid" counts the runs the generator kept up in (the bench's
# verdict), and a row's figures are the generator's when it did not.
summary() {
	local med='def r2: . * 100 | round / 100;
	def med(f): [.[] | f | select(type == "number")] | sort | if length == 0 then "-" else
		"\(.[(length/2|floor)]|r2) [\(.[0]|r2)-\(.[-1]|r2)]" end;'
	echo "Loopback ceiling (perf/blaster echo, echo thread on CPU $server_cpus, client on CPU $bench_cpus; before / after the runs):"
	echo
	echo "| size | echoed datagrams/s before | after | players per core at 20 Hz (before / after) |"
	echo "|---:|---:|---:|---|"
	local size
	for size in 1200 256; do
		jq -rs --arg size "$size" 'map(select(.size == ($size|tonumber))) | if length < 2 then "| \($size) B | - | - | - |" else
			"| \($size) B | \(.[0].echoed_per_s|floor) | \(.[1].echoed_per_s|floor) | \(.[0].echoed_per_s/20|floor) / \(.[1].echoed_per_s/20|floor) |" end' \
			<(jq -c . "$out/blaster-first.json" "$out/blaster-last.json" 2>/dev/null)
	done
	echo
	echo "Servers on CPU $server_cpus, treasure-bench on CPU $bench_cpus; $runs run(s) each in rotated order, ${warmup} warm-up, ${duration} measured; median [min-max] over the runs with a report (ms, coordinated-omission corrected):"
	echo
	echo "| server | players | valid runs | rtt p99 | apply p99 | t2w p50 | t2w p99 | snapshot loss % | loot shown twice / lost | overruns | server CPU % | bench CPU % | bench µs/datagram | send lag p99 |"
	echo "|---|---:|---|---|---|---|---|---|---|---|---|---|---|---|"
	local n s
	for n in $players; do
		servers_at "$n"
		for s in "${srv[@]}"; do
			[[ " ${at[*]} " == *" $s "* ]] || continue
			reports "$s" "$n"
			if ((${#files[@]} == 0)); then
				echo "| $s | $n | 0/$runs: no run produced a report (see $out/$s-$n-r*.err) | | | | | | | | | | | |"
				continue
			fi
			jq -rs --arg s "$s" --arg n "$n" --arg runs "$runs" "$med"' "| \($s) | \($n) | \([.[] | select(.valid)] | length)/\($runs)\(if length < ($runs|tonumber) then " (\(($runs|tonumber) - length) without a report)" else "" end) | \(med(.rtt.corrected.p_ms["99"])) | \(med(.apply.corrected.p_ms["99"])) | \(med(.tick_to_wire.corrected.p_ms["50"])) | \(med(.tick_to_wire.corrected.p_ms["99"])) | \(med(.snapshots.loss_pct)) | \([.[].loot.duplicates_shown] | add) / \([.[].loot.lost_loot] | add) | \(med(.server.overruns)) | \(med(.server.cpu_percent_of_one_core)) | \(med(.generator.cpu_percent_of_one_core)) | \(med(.generator.cpu_us_per_datagram)) | \(med(.send_lag.p_ms["99"])) |"' "${files[@]}"
		done
	done
	echo
	echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) CPUs; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg). Every run: $out/tables.md"
}
summary >"$out/summary.md"
if [[ $format == markdown ]]; then
	echo
	cat "$out/summary.md"
	exit 0
fi

# The screen: medians [min-max] over the runs that produced a report.
med='def med(f): [.[] | f | select(type == "number")] | sort | if length == 0 then "-" else
	"\(.[(length/2|floor)]*100|round/100) [\(.[0]*100|round/100)-\(.[-1]*100|round/100)]" end;'
echo
jq -r '"loopback ceiling (blaster echo, 1200 B): \(.echoed_per_s|floor) datagrams/s = \(.echoed_per_s/20|floor) players at 20 Hz"' <(jq -c 'select(.size == 1200)' "$out/blaster-first.json")
echo
printf '%-10s %7s  %-22s %-22s %-22s %-18s %-16s %-16s %-16s %s\n' server players "rtt p99 ms" "apply p99 ms" "t2w p99 ms" "loss %" "server CPU %" "bench µs/dgram" "send lag p99" "valid runs"
for n in $players; do
	servers_at "$n"
	for s in "${at[@]}"; do
		reports "$s" "$n"
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
