#!/usr/bin/env bash
# Sweep players upward until the server saturates, beside this machine's
# loopback ceiling measured in the same run. A step passes when the run is
# VALID and: 0 tick overruns, snapshot loss < 0.1 %, tick_to_wire p99
# <= 25 ms, apply p99 <= 75 ms, rtt p99 <= 5 ms (the saturation criteria of
# issue 9; --apply-only restores the older "apply p99 <= tick + 5 ms" rule).
# The ceiling is perf/blaster's echo on the server's CPU at the first step's
# mean snapshot size: players_ceiling = echoed pairs/s / 20 (one Input in and
# one snapshot out per player per tick). Prints one row per step, then the
# saturation point, the ceiling and their ratio. A step whose generator fell
# behind (INVALID) ends the sweep: the limit then is the generator's.
#
#   perf/sweep.sh [--server treasured|naive|plain|external] [--layout auto|gnet|mmsg|poll]
#                 [--start 1000] [--step 1000] [--max 16000] [--duration 10s]
#                 [--warmup 3s] [--server-cpus 0] [--bench-cpus 1] [--listen A] [--admin A]
#                 [--server-args "FLAGS"] [--apply-only 1] [-- extra treasure-bench flags]
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

server=treasured layout="" start=1000 step=1000 max=16000 duration=10s warmup=3s apply_only=0
server_cpus=0 bench_cpus=1 listen=127.0.0.1:7777 admin=127.0.0.1:7778
parse_flags 2,16 \
	--server=server --layout=layout --start=start --step=step --max=max --duration=duration --warmup=warmup --server-cpus=server_cpus --bench-cpus=bench_cpus --listen=listen --admin=admin --server-args=SERVER_ARGS --apply-only=apply_only \
	-- "$@"
for v in "$start" "$step" "$max"; do [[ $v =~ ^[0-9]+$ ]] || die "--start/--step/--max: want numbers"; done
((step > 0)) || die "--step must be > 0"
command -v jq >/dev/null || die "jq is needed to read the bench's JSON (apt-get install jq)"
if [[ -n $layout ]]; then
	[[ $server == treasured ]] || die "--layout is treasured's"
	SERVER_ARGS+=(--backend "$layout")
fi

build treasure-bench blaster
mkdir -p "$BIN/sweep"
tag=$server${layout:+-$layout}

# mean_snapshot_bytes ADMIN : fan-out bytes / snapshots sent so far, from the
# server's /metrics (treasured's names; 256, the sink's default, if either is
# absent: the plain baseline counts snapshots but not their bytes).
mean_snapshot_bytes() {
	curl -sf --max-time 2 "http://$1/metrics" | awk '
		/^treasured_sent_bytes_total\{kind="fanout"\}/ { b = $2 }
		/^treasured_datagrams_sent_total\{kind="snapshot"\}/ { n = $2 }
		END { if (n > 0 && b > 0) printf "%d\n", b / n; else print 256 }'
}

# ceiling SIZE : players_ceiling from the blaster's echo at SIZE bytes.
ceiling() {
	local json=$BIN/sweep/$tag-blaster.json
	taskset -c "$server_cpus,$bench_cpus" "$BIN/blaster" -sizes "$1" -duration 3s \
		-echo-cpu "${server_cpus%%[,-]*}" -client-cpu "${bench_cpus%%[,-]*}" -json >"$json"
	jq -r '.echoed_per_s / 20 | floor' "$json"
}

printf '%-8s %10s %10s %10s %10s %9s %9s %9s %8s %s\n' players apply_p50 apply_p99 t2w_p99 rtt_p99 overruns loss_% srv_cpu% valid verdict
saturated="" last_ok="" size=""
for ((n = start; n <= max; n += step)); do
	# A fresh server per step: no sessions or heap left over from the last.
	start_server "$server" "$server_cpus" "$listen" "$admin"
	json=$BIN/sweep/$tag-$n.json
	taskset -c "$bench_cpus" "$BIN/treasure-bench" ${AUTH[@]+"${AUTH[@]}"} --addr "$listen" --admin "http://$admin" \
		--players "$n" --duration "$duration" --warmup "$warmup" --json --progress off \
		--workers "$(ncpus "$bench_cpus")" --label "$tag sweep" ${EXTRA[@]+"${EXTRA[@]}"} >"$json" 2>"$json.err" || true
	[[ -n $size ]] || size=$(mean_snapshot_bytes "$admin")
	stop_server
	if ! jq -e . "$json" >/dev/null 2>&1; then
		printf '%-8s run failed: %s\n' "$n" "$(tail -1 "$json.err")"
		saturated=$n
		break
	fi
	read -r p50 p99 t2w rtt over loss cpu valid tick < <(jq -r '[(.apply.corrected.p_ms["50"] // -1), (.apply.corrected.p_ms["99"] // -1),
		(.tick_to_wire.corrected.p_ms["99"] // -1), (.rtt.corrected.p_ms["99"] // -1), (.server.overruns // 0), .snapshots.loss_pct,
		(.server.cpu_percent_of_one_core // 0), .valid, .tick_period_ms] | @tsv' "$json")
	verdict=ok
	if [[ $valid != true ]]; then
		verdict="generator-bound (INVALID: $(jq -r '.invalid_reasons[0]' "$json"))"
	elif ((apply_only)); then
		limit=$(jq -n "$tick + 5")
		if jq -e -n "$p99 > $limit" >/dev/null; then verdict="saturated: apply p99 > ${limit} ms"; fi
	elif ((over > 0)); then
		verdict="saturated: $over overruns"
	elif jq -e -n "$t2w > 25" >/dev/null; then
		verdict="saturated: tick_to_wire p99 > 25 ms"
	elif jq -e -n "$p99 > 75" >/dev/null; then
		verdict="saturated: apply p99 > 75 ms"
	elif jq -e -n "$rtt > 5" >/dev/null; then
		verdict="saturated: rtt p99 > 5 ms"
	fi
	if [[ $verdict == ok ]] && jq -e -n "$loss >= 0.1" >/dev/null; then
		verdict="saturated: loss >= 0.1 %"
	fi
	printf '%-8s %10.2f %10.2f %10.2f %10.2f %9d %9.3f %9.1f %8s %s\n' "$n" "$p50" "$p99" "$t2w" "$rtt" "$over" "$loss" "$cpu" "$valid" "$verdict"
	if [[ $verdict != ok ]]; then
		saturated=$n
		break
	fi
	last_ok=$n
done
echo
if [[ -n $saturated ]]; then
	echo "saturation point ($tag): last passing step ${last_ok:-none}, first failing $saturated players (JSON in $BIN/sweep)"
else
	echo "no saturation up to $max players ($tag); JSON in $BIN/sweep"
fi
size=${size:-256}
players_ceiling=$(ceiling "$size")
echo "ceiling: perf/blaster echo at ${size} B (the mean snapshot) on CPU $server_cpus = $players_ceiling players at 20 Hz"
if [[ -n $last_ok ]] && ((players_ceiling > 0)); then
	echo "ratio: $(jq -n "$last_ok / $players_ceiling * 1000 | floor / 1000") (saturation point / players_ceiling; issue 9's target >= 0.8)"
fi
