package main

import (
	"math"
	"strings"
	"testing"
)

const exposition = `# HELP treasured_drops_total Datagrams dropped, by reason.
# TYPE treasured_drops_total counter
treasured_drops_total{reason="too_large"} 3
treasured_drops_total{reason="bad \"quoted\" \\ value, {x}",loop="1"} 4 1700000000000
# TYPE treasured_tick_work_seconds histogram
treasured_tick_work_seconds_bucket{le="0.001"} 10
treasured_tick_work_seconds_bucket{le="0.005"} 90
treasured_tick_work_seconds_bucket{le="0.01"} 100
treasured_tick_work_seconds_bucket{le="+Inf"} 100
treasured_tick_work_seconds_sum 0.25
treasured_tick_work_seconds_count 100
# TYPE go_gc_duration_seconds summary
go_gc_duration_seconds{quantile="0"} 1.5e-05
go_gc_duration_seconds{quantile="1"} 0.00042
go_gc_duration_seconds_sum 0.001
go_gc_duration_seconds_count 7
weird_gauge NaN
inf_gauge +Inf
spaced_gauge   12.5
`

func TestParseMetrics(t *testing.T) {
	m, err := ParseMetrics(strings.NewReader(exposition))
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := m.Sum("treasured_drops_total"); !ok || v != 7 {
		t.Fatalf("drops sum %v %v", v, ok)
	}
	if v, ok := m.Get("treasured_drops_total", "loop", "1", "reason", `bad "quoted" \ value, {x}`); !ok || v != 4 {
		t.Fatalf("escaped label lookup: %v %v", v, ok)
	}
	if _, ok := m.Get("treasured_drops_total", "reason", "too_large", "loop", "1"); ok {
		t.Fatal("Get matched a sample with other labels")
	}
	if v, _ := m.Get("weird_gauge"); !math.IsNaN(v) {
		t.Fatalf("NaN parsed as %v", v)
	}
	if v, _ := m.Get("inf_gauge"); !math.IsInf(v, 1) {
		t.Fatalf("+Inf parsed as %v", v)
	}
	if v, _ := m.Get("spaced_gauge"); v != 12.5 {
		t.Fatalf("spaced %v", v)
	}
	bs, sum, count, ok := m.Histogram("treasured_tick_work_seconds")
	if !ok || len(bs) != 4 || sum != 0.25 || count != 100 || !math.IsInf(bs[3].Le, 1) {
		t.Fatalf("histogram %v %v %v %v", bs, sum, count, ok)
	}
	// rank 50 lies in (0.001, 0.005] holding 80: 0.001 + 0.004*40/80.
	if q, _ := BucketQuantile(0.5, bs); math.Abs(q-0.003) > 1e-12 {
		t.Fatalf("p50 %v", q)
	}
	if q, _ := BucketQuantile(0.99, bs); math.Abs(q-0.0095) > 1e-12 {
		t.Fatalf("p99 %v", q)
	}
	if by := m.ByLabel("treasured_drops_total", "reason"); len(by) != 2 || by["too_large"] != 3 {
		t.Fatalf("by reason %v", by)
	}
	if _, _, _, ok := m.Histogram("go_gc_duration_seconds"); ok {
		t.Fatal("a summary read as a histogram")
	}
}

func TestParseMetricsErrors(t *testing.T) {
	for _, bad := range []string{
		"name{a=\"x\" 1\n",
		"name{a=x} 1\n",
		"name 1 2 3\n",
		"name abc\n",
		"justaname\n",
	} {
		if _, err := ParseMetrics(strings.NewReader(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestBucketQuantileEdges(t *testing.T) {
	if _, ok := BucketQuantile(0.5, nil); ok {
		t.Fatal("empty")
	}
	inf := math.Inf(1)
	bs := []Bucket{{0.01, 0}, {0.05, 0}, {inf, 5}}
	if q, ok := BucketQuantile(0.99, bs); !ok || q != 0.05 {
		t.Fatalf("beyond the last finite bucket: %v", q)
	}
	d := DiffBuckets([]Bucket{{0.01, 3}, {inf, 4}}, []Bucket{{0.01, 5}, {inf, 10}})
	if d[0].Count != 2 || d[1].Count != 6 {
		t.Fatalf("diff %v", d)
	}
}
