package main

import (
	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Histograms record microseconds, from 1 µs to 60 s, with three significant
// digits: below 1 ms every microsecond is distinct, at 50 ms the resolution is
// 50 µs. Values outside are clamped and counted, never silently dropped.
const (
	histLow   = 1
	histHigh  = 60_000_000
	histSigFi = 3
)

func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(histLow, histHigh, histSigFi) }

// Latency is one measure recorded twice, as wrk2 does: corrected (from the
// time the send was scheduled; coordinated-omission free) and uncorrected
// (from the time it actually left).
type Latency struct {
	Corrected   *hdrhistogram.Histogram
	Uncorrected *hdrhistogram.Histogram
	Clamped     int64 // values below 0 or above histHigh, recorded clamped
}

// NewLatency returns an empty Latency.
func NewLatency() *Latency { return &Latency{Corrected: newHist(), Uncorrected: newHist()} }

// Record records an event that was scheduled at sched, actually sent at
// sent and completed at done (all ns on one clock). sent == 0 means the
// actual send time is unknown and only the corrected value is recorded.
func (l *Latency) Record(sched, sent, done int64) {
	l.Clamped += recordNs(l.Corrected, done-sched)
	if sent != 0 {
		l.Clamped += recordNs(l.Uncorrected, done-sent)
	}
}

// recordNs records ns as microseconds, rounding up so that a non-zero
// latency never records as 0, and clamping to the histogram's range. It
// returns 1 when it had to clamp.
func recordNs(h *hdrhistogram.Histogram, ns int64) int64 {
	var us, clamped int64
	switch {
	case ns < 0:
		us, clamped = 0, 1
	case ns > histHigh*1000:
		us, clamped = histHigh, 1
	default:
		us = (ns + 999) / 1000
	}
	if err := h.RecordValue(us); err != nil {
		return 1 // cannot happen within the range checked above
	}
	return clamped
}

// Merge adds o into l.
func (l *Latency) Merge(o *Latency) {
	l.Corrected.Merge(o.Corrected)
	l.Uncorrected.Merge(o.Uncorrected)
	l.Clamped += o.Clamped
}

// Reset empties l (end of warm-up).
func (l *Latency) Reset() {
	l.Corrected.Reset()
	l.Uncorrected.Reset()
	l.Clamped = 0
}
