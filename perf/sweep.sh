#!/usr/bin/env bash
# Sweep players upward until the server saturates: apply p99 above one tick
# plus 5 ms, or snapshot loss above 0.1 %. Prints one table row per step and
# the saturation point. A step whose generator fell behind (INVALID) is
# reported as such: the limit then is the generator's, not the server's.
#
#   perf/sweep.sh [--server treasured|naive|plain|external] [--start 1000]
#                 [--step 1000] [--max 16000] [--duration 10s]
#                 [--warmup 3s] [--server-cpus 0] [--bench-cpus 1] [--listen A] [--admin A]
#                 [-- extra treasure-bench flags]
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

server=treasured start=1000 step=1000 max=16000 duration=10s warmup=3s
server_cpus=0 bench_cpus=1 listen=127.0.0.1:7777 admin=127.0.0.1:7778
parse_flags 2,11 \
	--server=server --start=start --step=step --max=max --duration=duration --warmup=warmup --server-cpus=server_cpus --bench-cpus=bench_cpus --listen=listen --admin=admin \
	-- "$@"
for v in "$start" "$step" "$max"; do [[ $v =~ ^[0-9]+$ ]] || die "--start/--step/--max: want numbers"; done
((step > 0)) || die "--step must be > 0"
command -v jq >/dev/null || die "jq is needed to read the bench's JSON (apt-get install jq)"

build treasure-bench
mkdir -p "$BIN/sweep"
printf '%-8s %10s %10s %10s %10s %9s %9s %8s %s\n' players apply_p50 apply_p99 t2w_p99 rtt_p99 loss_% srv_cpu% valid verdict
saturated="" last_ok=""
for ((n = start; n <= max; n += step)); do
	# A fresh server per step: no sessions or heap left over from the last.
	start_server "$server" "$server_cpus" "$listen" "$admin"
	json=$BIN/sweep/$server-$n.json
	taskset -c "$bench_cpus" "$BIN/treasure-bench" ${AUTH[@]+"${AUTH[@]}"} --addr "$listen" --admin "http://$admin" \
		--players "$n" --duration "$duration" --warmup "$warmup" --json --progress off \
		--workers "$(ncpus "$bench_cpus")" --label "$server sweep" "${EXTRA[@]}" >"$json" 2>"$json.err" || true
	stop_server
	if ! jq -e . "$json" >/dev/null 2>&1; then
		printf '%-8s run failed: %s\n' "$n" "$(tail -1 "$json.err")"
		saturated=$n
		break
	fi
	read -r p50 p99 t2w rtt loss cpu valid tick < <(jq -r '[(.apply.corrected.p_ms["50"] // -1), (.apply.corrected.p_ms["99"] // -1),
		(.tick_to_wire.corrected.p_ms["99"] // -1), (.rtt.corrected.p_ms["99"] // -1), .snapshots.loss_pct,
		(.server.cpu_percent_of_one_core // 0), .valid, .tick_period_ms] | @tsv' "$json")
	limit=$(jq -n "$tick + 5")
	verdict=ok
	if [[ $valid != true ]]; then
		verdict="generator-bound (INVALID: $(jq -r '.invalid_reasons[0]' "$json"))"
	elif jq -e -n "$p99 > $limit" >/dev/null; then
		verdict="saturated: apply p99 > ${limit} ms"
	elif jq -e -n "$loss > 0.1" >/dev/null; then
		verdict="saturated: loss > 0.1 %"
	fi
	printf '%-8s %10.2f %10.2f %10.2f %10.2f %9.3f %9.1f %8s %s\n' "$n" "$p50" "$p99" "$t2w" "$rtt" "$loss" "$cpu" "$valid" "$verdict"
	if [[ $verdict != ok ]]; then
		saturated=$n
		break
	fi
	last_ok=$n
done
echo
if [[ -n $saturated ]]; then
	echo "saturation point ($server): last passing step ${last_ok:-none}, first failing $saturated players (JSON in $BIN/sweep)"
else
	echo "no saturation up to $max players ($server); JSON in $BIN/sweep"
fi
