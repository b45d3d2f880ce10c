#!/usr/bin/env bash
# Crash recovery under load: treasured with a data directory on one CPU,
# treasure-bench players on another, and --kills times: SIGKILL the server
# at a random moment of a bench run, start it again on the same directory
# and port, and report what the restart recovered and how long it took.
# At the end the whole directory is verified from tick 0 with
# treasure-replay --from-start.
#
#   perf/crash.sh [--players 1000] [--kills 3] [--interval 15s]
#                 [--checkpoint-every 10s] [--server-cpus 0] [--bench-cpus 1]
#                 [--listen 127.0.0.1:7777] [--admin 127.0.0.1:7778]
#                 [--dir DIR]
#
# Per kill it prints: the server's tick just before the kill (from /metrics),
# the tick the restart recovered to (the last one journaled), ticks lost
# (before - recovered, 0 when nothing written was lost), the checkpoint it
# loaded, the journal ticks it replayed, the time it took to load and to
# replay (from its log), the time the killed process took to be gone, the
# time from the new process's start until /metrics answered, the overruns during the run, and the tick goroutine's time for
# the last checkpoint. Every run is bounded: --kills runs of --interval.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

players=1000 kills=3 interval=15 every=10s
server_cpus=0 bench_cpus=1 listen=127.0.0.1:7777 admin=127.0.0.1:7778 dir=""
parse_flags 2,20 \
	--players=players --kills=kills --interval=interval --checkpoint-every=every --server-cpus=server_cpus --bench-cpus=bench_cpus --listen=listen --admin=admin --dir=dir \
	-- "$@"
interval=${interval%s}
((${#EXTRA[@]} == 0)) || die "takes no treasure-bench flags"
[[ $players =~ ^[0-9]+$ ]] || die "--players $players: want a number"
[[ $kills =~ ^[0-9]+$ && $kills -ge 1 && $kills -le 50 ]] || die "--kills $kills: want 1..50"
[[ $interval =~ ^[0-9]+$ && $interval -ge 5 && $interval -le 600 ]] || die "--interval $interval: want 5s..600s"
if [[ -z $dir ]]; then
	dir=$(mktemp -d "${TMPDIR:-/tmp}/treasured-crash.XXXXXX")
fi
[[ -z $(ls -A "$dir" 2>/dev/null) ]] || die "--dir $dir is not empty: the run needs a fresh data directory"

build treasured treasure-bench
(cd "$ROOT" && "$GO" build -o "$BIN/treasure-replay" ./cmd/treasure-replay)
# Every checkpoint is kept so that the final replay can start from tick 0.
SERVER_ARGS=(--data-dir "$dir" --checkpoint-every "$every" --keep-checkpoints 100000 --log-format json)

# restart starts the built server again (start_server would build first,
# which is not part of a restart) and waits until /metrics answers.
restart() {
	taskset -c "$server_cpus" "$BIN/treasured" --listen "$listen" --admin "$admin" ${SERVER_AUTH[@]+"${SERVER_AUTH[@]}"} "${SERVER_ARGS[@]}" \
		>"$BIN/treasured.log" 2>&1 &
	SERVER_PID=$!
	local i
	for ((i = 0; i < 3000; i++)); do
		curl -sf -o /dev/null --max-time 1 "http://$admin/metrics" && return 0
		kill -0 "$SERVER_PID" 2>/dev/null || { cat "$BIN/treasured.log" >&2; die "treasured exited during the restart"; }
		sleep 0.01
	done
	die "treasured did not answer within 30 s of the restart (log: $BIN/treasured.log)"
}

metric() { curl -sf --max-time 2 "http://$admin/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
# field NAME LINE: a JSON number field of a log line (0 when absent).
field() { grep -o "\"$1\":[0-9.e+]*" <<<"$2" | head -1 | cut -d: -f2 || echo 0; }
ms() { awk -v ns="${1:-0}" 'BEGIN { printf "%.1f", ns / 1e6 }'; }

echo "data directory: $dir; $players players; $kills kills, one per ${interval}s run; checkpoint every $every"
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'); server on CPU $server_cpus, bench on CPU $bench_cpus"
printf '| kill | tick before | recovered tick | ticks lost | checkpoint | replayed ticks | load ms | replay ms | kill -9 to exit ms | start to answering ms | overruns in run | checkpoint on tick ms |\n'
printf '|---|---|---|---|---|---|---|---|---|---|---|---|\n'
start_server treasured "$server_cpus" "$listen" "$admin"
for ((k = 1; k <= kills; k++)); do
	over0=$(metric treasured_tick_overruns_total)
	taskset -c "$bench_cpus" "$BIN/treasure-bench" ${AUTH[@]+"${AUTH[@]}"} --addr "$listen" --admin "" --players "$players" \
		--duration "$((interval + 5))s" --warmup 2s --workers "$(ncpus "$bench_cpus")" --quiet --progress off \
		>"$BIN/crash-bench-$k.txt" 2>&1 &
	bench=$!
	# Kill somewhere in the middle 50 % of the run.
	sleep "$((interval / 4 + RANDOM % (interval / 2 + 1)))"
	before=$(metric treasured_tick)
	over1=$(metric treasured_tick_overruns_total)
	cktick=$(metric treasured_checkpoint_tick_seconds)
	t0=$(date +%s%N)
	kill -9 "$SERVER_PID"
	wait "$SERVER_PID" 2>/dev/null || true
	SERVER_PID=""
	tg=$(date +%s%N)
	restart
	t1=$(date +%s%N)
	cp "$BIN/treasured.log" "$BIN/crash-restart-$k.log"
	line=$(grep '"msg":"data directory: recovered"' "$BIN/treasured.log" || true)
	[[ -n $line ]] || die "restart $k: no recovery line in $BIN/crash-restart-$k.log"
	rtick=$(field recovered_tick "$line")
	printf '| %d | %s | %s | %d | %s | %s | %s | %s | %s | %s | %.0f | %s |\n' "$k" "$before" "$rtick" \
		"$((before > rtick ? before - rtick : 0))" "$(field checkpoint_tick "$line")" "$(field replayed_ticks "$line")" \
		"$(ms "$(field load "$line")")" "$(ms "$(field replay "$line")")" "$(ms $((tg - t0)))" "$(ms $((t1 - tg)))" \
		"$(awk -v a="${over0:-0}" -v b="${over1:-0}" 'BEGIN { print b - a }')" \
		"$(awk -v s="${cktick:-0}" 'BEGIN { printf "%.2f", s * 1000 }')"
	wait "$bench" || true
done
stop_server
echo
echo "treasure-replay --from-start $dir:"
"$BIN/treasure-replay" --from-start "$dir" | tail -3
