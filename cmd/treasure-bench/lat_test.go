package main

import "testing"

// A server that stalls for 1 s while a client sends every 10 ms: the
// uncorrected histogram, measured from when each request actually left,
// sees one slow request; the corrected one, from when each was scheduled,
// sees the hundred requests the stall delayed.
func TestCoordinatedOmissionCorrection(t *testing.T) {
	l := NewLatency()
	const ms = int64(1e6)
	now := int64(0)
	for k := int64(0); k < 1000; k++ {
		sched := k * 10 * ms
		if k == 500 {
			// request 500 leaves on time and its answer takes 1 s; the
			// generator (closed loop) could not send 501..599 until then.
			now = sched + 1000*ms
			l.Record(sched, sched, now)
			continue
		}
		sent := max(sched, now)
		l.Record(sched, sent, sent+1*ms)
		now = sent + 1*ms
	}
	u99 := l.Uncorrected.ValueAtQuantile(99)
	c99 := l.Corrected.ValueAtQuantile(99)
	if u99 > 1100 { // µs
		t.Fatalf("uncorrected p99 %d µs, want ~1 ms", u99)
	}
	if c99 < 500_000 {
		t.Fatalf("corrected p99 %d µs, want hundreds of ms", c99)
	}
	if l.Uncorrected.Max() < 990_000 || l.Corrected.Max() < 990_000 {
		t.Fatalf("max u %d c %d", l.Uncorrected.Max(), l.Corrected.Max())
	}
	if l.Corrected.TotalCount() != 1000 || l.Clamped != 0 {
		t.Fatalf("count %d clamped %d", l.Corrected.TotalCount(), l.Clamped)
	}
}

func TestLatencyClampAndRounding(t *testing.T) {
	l := NewLatency()
	l.Record(100, 0, 50)    // negative: clamped to 0
	l.Record(0, 0, 1)       // 1 ns rounds up to 1 µs; sent unknown
	l.Record(0, 0, 100*1e9) // 100 s: clamped to 60 s
	if l.Clamped != 2 || l.Corrected.TotalCount() != 3 || l.Uncorrected.TotalCount() != 0 {
		t.Fatalf("clamped %d counts %d/%d", l.Clamped, l.Corrected.TotalCount(), l.Uncorrected.TotalCount())
	}
	if l.Corrected.Min() != 0 || !l.Corrected.ValuesAreEquivalent(l.Corrected.Max(), histHigh) {
		t.Fatalf("min %d max %d", l.Corrected.Min(), l.Corrected.Max())
	}
	o := NewLatency()
	o.Record(0, 0, 5e6)
	l.Merge(o)
	if l.Corrected.TotalCount() != 4 || l.Clamped != 2 {
		t.Fatal("merge")
	}
}
