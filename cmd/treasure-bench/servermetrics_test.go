package main

import (
	"math"
	"strings"
	"testing"
)

func mustParse(t *testing.T, s string) *Metrics {
	t.Helper()
	m, err := ParseMetrics(strings.NewReader(s))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestSummarizeServer(t *testing.T) {
	start := mustParse(t, `
treasured_drops_total{reason="ring_full"} 5
treasured_drops_total{reason="malformed"} 1
treasured_ticks_total 100
treasured_tick_overruns_total 2
# TYPE treasured_tick_work_seconds histogram
treasured_tick_work_seconds_bucket{le="0.001"} 50
treasured_tick_work_seconds_bucket{le="0.01"} 100
treasured_tick_work_seconds_bucket{le="+Inf"} 100
treasured_tick_work_seconds_sum 0.2
treasured_tick_work_seconds_count 100
treasured_alloc_bytes_total 1000
treasured_loop_wakeups_total{reason="pace"} 100
treasured_loop_wakeups_total{reason="arrival"} 7
process_cpu_seconds_total 10
`)
	end := mustParse(t, `
treasured_drops_total{reason="ring_full"} 8
treasured_drops_total{reason="malformed"} 1
treasured_ticks_total 300
treasured_tick_overruns_total 2
# TYPE treasured_tick_work_seconds histogram
treasured_tick_work_seconds_bucket{le="0.001"} 50
treasured_tick_work_seconds_bucket{le="0.01"} 299
treasured_tick_work_seconds_bucket{le="+Inf"} 300
treasured_tick_work_seconds_sum 1.2
treasured_tick_work_seconds_count 300
treasured_alloc_bytes_total 11000
treasured_heap_live_bytes 4096
treasured_loop_wakeups_total{reason="pace"} 10100
treasured_loop_wakeups_total{reason="arrival"} 7
process_cpu_seconds_total 15
`)
	r := SummarizeServer(start, end, 10)
	if r.Drops != 3 || r.DropsByReason["ring_full"] != 3 || len(r.DropsByReason) != 1 {
		t.Fatalf("drops %v %v", r.Drops, r.DropsByReason)
	}
	if r.Ticks != 200 || r.Overruns != 0 || r.AllocBytesSec != 1000 || r.HeapLiveBytes != 4096 || r.CPUPercent != 50 {
		t.Fatalf("%+v", r)
	}
	if len(r.WakeupsPerSec) != 1 || r.WakeupsPerSec["pace"] != 1000 {
		t.Fatalf("wake-ups %v: want pace 1000/s, and arrival left out (none)", r.WakeupsPerSec)
	}
	w := r.TickWork
	if w == nil || w.Count != 200 || math.Abs(w.MeanMs-5) > 1e-9 || !math.IsInf(w.MaxLE, 1) {
		t.Fatalf("tick work %+v", w)
	}
	// 199 of 200 in (1 ms, 10 ms]: p50 at rank 100 -> 1 + 9*100/199 ms.
	if math.Abs(w.P50Ms-(1+9*100.0/199)) > 1e-9 {
		t.Fatalf("p50 %v", w.P50Ms)
	}
	if r.TickJitter != nil || !strings.Contains(strings.Join(r.Missing, ","), "treasured_tick_jitter_seconds") {
		t.Fatalf("missing %v", r.Missing)
	}
}

func TestTickClockFrom(t *testing.T) {
	m, err := ParseMetrics(strings.NewReader("treasured_tick_epoch_unix_seconds 1.8000000070734568e+09\ntreasured_tick_period_seconds 0.05\n"))
	if err != nil {
		t.Fatal(err)
	}
	base := int64(1_800_000_000_000_000_000)
	epoch, period, err := tickClockFrom(m, base)
	if err != nil || period != 50_000_000 {
		t.Fatalf("%d %d %v", epoch, period, err)
	}
	// 7.0734568 s after base, to within the float64's 0.24 µs.
	if d := epoch - 7_073_456_800; d < -250 || d > 250 {
		t.Fatalf("epoch %d ns after base", epoch)
	}
	// A server without the metrics: no error, period 0 (min-filter).
	m, _ = ParseMetrics(strings.NewReader("treasured_ticks_total 5\n"))
	if _, period, err := tickClockFrom(m, base); period != 0 || err != nil {
		t.Fatalf("%d %v", period, err)
	}
}
