#!/usr/bin/env bash
# Profile a server under load: Go CPU and heap profiles from its
# /debug/pprof, a `perf record -e cpu-clock -g` profile of the process (the
# software clock event works where hardware counters are missing, as in
# VMs), and pictures of both: a call graph (go tool pprof -svg, needs
# graphviz) and a flame graph of the perf samples (perf/flame).
#
#   perf/profile.sh [--server treasured|naive|plain] [--players N]
#                   [--seconds 10] [--out bin/profile] [--server-cpus 0]
#                   [--bench-cpus 1] [--listen A] [--admin A]
#                   [--server-args "FLAGS"] [-- extra treasure-bench flags]
#
# Writes to --out: cpu.pprof heap.pprof cpu-top.txt heap-top.txt cpu.svg
# perf.data perf.script flame.svg report.txt (the bench's report).
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

server=treasured players=4200 seconds=10 out=$ROOT/bin/profile
server_cpus=0 bench_cpus=1 listen=127.0.0.1:7777 admin=127.0.0.1:7778 warmup=3
parse_flags 2,14 \
	--server=server --players=players --seconds=seconds --out=out --server-cpus=server_cpus --bench-cpus=bench_cpus --listen=listen --admin=admin --server-args=SERVER_ARGS \
	-- "$@"
case $server in treasured | naive | plain) ;; *) die "--server $server: want treasured, naive or plain" ;; esac
[[ $seconds =~ ^[0-9]+$ ]] || die "--seconds $seconds: want whole seconds"
command -v perf >/dev/null || die "perf not installed (apt-get install linux-perf)"
mkdir -p "$out"

build treasure-bench flame
start_server "$server" "$server_cpus" "$listen" "$admin"

# The load runs through warm-up, the profiles and a margin.
taskset -c "$bench_cpus" "$BIN/treasure-bench" ${AUTH[@]+"${AUTH[@]}"} --addr "$listen" --admin "http://$admin" \
	--players "$players" --warmup "${warmup}s" --duration "$((seconds + 2))s" \
	--workers "$(ncpus "$bench_cpus")" --label "$server (profiled)" --progress off \
	"${EXTRA[@]}" >"$out/report.txt" 2>&1 &
bench=$!
sleep "$((warmup + 1))"

curl -sf -o "$out/cpu.pprof" "http://$admin/debug/pprof/profile?seconds=$seconds" &
cpu=$!
perf record -e cpu-clock -g -p "$SERVER_PID" -o "$out/perf.data" -- sleep "$seconds" >"$out/perf-record.log" 2>&1 &
perfrec=$!
wait "$cpu" || die "CPU profile failed: is /debug/pprof served on $admin?"
wait "$perfrec" || echo "profile.sh: perf record failed, see $out/perf-record.log" >&2
curl -sf -o "$out/heap.pprof" "http://$admin/debug/pprof/heap"
wait "$bench" || true

(cd "$ROOT" && "$GO" tool pprof -top -nodecount=40 "$BIN/$server" "$out/cpu.pprof") >"$out/cpu-top.txt" 2>/dev/null
(cd "$ROOT" && "$GO" tool pprof -top -sample_index=inuse_space -nodecount=30 "$BIN/$server" "$out/heap.pprof") >"$out/heap-top.txt" 2>/dev/null
if command -v dot >/dev/null; then
	(cd "$ROOT" && "$GO" tool pprof -svg "$BIN/$server" "$out/cpu.pprof") >"$out/cpu.svg" 2>/dev/null
else
	echo "profile.sh: graphviz (dot) missing: no cpu.svg (apt-get install graphviz)" >&2
fi
if [[ -s $out/perf.data ]]; then
	perf script -i "$out/perf.data" >"$out/perf.script" 2>/dev/null
	"$BIN/flame" -title "$server, $players players, perf cpu-clock" <"$out/perf.script" >"$out/flame.svg"
fi
echo "profiles of $server with $players players in $out:"
ls -l "$out"
echo
sed -n '1,25p' "$out/cpu-top.txt"
