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
treasured_tick_work_seconds_bucket{le="0.001"} 50
treasured_tick_work_seconds_bucket{le="0.01"} 100
treasured_tick_work_seconds_bucket{le="+Inf"} 100
treasured_tick_work_seconds_sum 0.2
treasured_tick_work_seconds_count 100
treasured_alloc_bytes_total 1000
process_cpu_seconds_total 10
`)
	end := mustParse(t, `
treasured_drops_total{reason="ring_full"} 8
treasured_drops_total{reason="malformed"} 1
treasured_ticks_total 300
treasured_tick_overruns_total 2
treasured_tick_work_seconds_bucket{le="0.001"} 50
treasured_tick_work_seconds_bucket{le="0.01"} 299
treasured_tick_work_seconds_bucket{le="+Inf"} 300
treasured_tick_work_seconds_sum 1.2
treasured_tick_work_seconds_count 300
treasured_alloc_bytes_total 11000
treasured_heap_live_bytes 4096
process_cpu_seconds_total 15
`)
	r := SummarizeServer(start, end, 10)
	if r.Drops != 3 || r.DropsByReason["ring_full"] != 3 || len(r.DropsByReason) != 1 {
		t.Fatalf("drops %v %v", r.Drops, r.DropsByReason)
	}
	if r.Ticks != 200 || r.Overruns != 0 || r.AllocBytesSec != 1000 || r.HeapLiveBytes != 4096 || r.CPUPercent != 50 {
		t.Fatalf("%+v", r)
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
