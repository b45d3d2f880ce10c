package main

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/treasured/treasured/netio/metricname"
)

// HistReport summarises the part of a server histogram observed between two
// scrapes. Prometheus buckets only bound values, so quantiles are
// interpolated inside a bucket (histogram_quantile's method) and MaxLE is the
// upper bound of the highest non-empty bucket: the max is <= it.
type HistReport struct {
	Count  float64 `json:"count"`
	MeanMs float64 `json:"mean_ms"`
	P50Ms  float64 `json:"p50_ms"`
	P99Ms  float64 `json:"p99_ms"`
	P999Ms float64 `json:"p99_9_ms"`
	MaxLE  float64 `json:"max_le_ms"` // +Inf when the top bucket is hit
}

// ServerReport is what the server's /metrics said about the measurement
// window (end scrape minus start scrape; gauges from the end scrape).
type ServerReport struct {
	Scraped       bool               `json:"scraped"`
	Error         string             `json:"error,omitempty"`
	Drops         float64            `json:"drops"`
	DropsByReason map[string]float64 `json:"drops_by_reason,omitempty"`
	SnapDropped   float64            `json:"snapshots_dropped"`
	SnapEAGAIN    float64            `json:"snapshot_eagain"`
	SendErrors    float64            `json:"send_errors"`
	Ticks         float64            `json:"ticks"`
	Overruns      float64            `json:"overruns"`
	TickWork      *HistReport        `json:"tick_work,omitempty"`
	TickJitter    *HistReport        `json:"tick_jitter,omitempty"`
	MaxJitterMs   float64            `json:"max_jitter_since_start_ms"`
	GCCycles      float64            `json:"gc_cycles"`
	GCPauses      *HistReport        `json:"gc_pauses,omitempty"`
	AllocBytesSec float64            `json:"alloc_bytes_per_s"`
	AllocObjsSec  float64            `json:"alloc_objects_per_s"`
	HeapLiveBytes float64            `json:"heap_live_bytes"`
	CPUSeconds    float64            `json:"cpu_seconds"`
	CPUPercent    float64            `json:"cpu_percent_of_one_core"`
	Sessions      float64            `json:"sessions_active"`
	Inputs        float64            `json:"inputs"`
	SnapshotsSent float64            `json:"snapshots_sent"`
	// WakeupsPerSec is the poll layout's loop wake-ups per second by
	// reason (pace, arrival); absent where the server has no such loops.
	WakeupsPerSec map[string]float64 `json:"loop_wakeups_per_s,omitempty"`
	Missing       []string           `json:"missing,omitempty"` // metrics the server did not export
}

// ScrapeMetrics fetches and parses base+"/metrics".
func ScrapeMetrics(ctx context.Context, base string) (*Metrics, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(base, "/")+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s/metrics: %s", base, resp.Status)
	}
	return ParseMetrics(resp.Body)
}

// ServerTickClock reads the server's tick clock from its /metrics: tick T
// is scheduled to start at epoch + T*period, returned in ns on the clock
// time.Since(base) (the bench's). The server exports the epoch as unix
// seconds in a float64 (0.24 µs resolution); both processes read the same
// CLOCK_REALTIME, and base carries the wall reading taken with its
// monotonic one, so the conversion is exact up to that resolution and the
// clock reads. period == 0 (and a nil error) when the server does not
// export it (the baselines, an older treasured): use the min-filter.
func ServerTickClock(ctx context.Context, admin string, base time.Time) (epoch, period int64, err error) {
	m, err := ScrapeMetrics(ctx, admin)
	if err != nil {
		return 0, 0, err
	}
	return tickClockFrom(m, base.UnixNano())
}

func tickClockFrom(m *Metrics, baseUnixNs int64) (epoch, period int64, err error) {
	sec, ok1 := m.Get(metricname.TickEpoch)
	per, ok2 := m.Get(metricname.TickPeriod)
	if !ok1 || !ok2 || !(sec > 0) || !(per > 0) {
		return 0, 0, nil
	}
	if per > 10 || math.IsInf(sec, 0) || sec > 1e11 {
		return 0, 0, fmt.Errorf("implausible tick clock: epoch %v s, period %v s", sec, per)
	}
	// Whole seconds and the fraction apart: sec*1e9 in one float64 would
	// round to 256 ns at today's unix times.
	whole := math.Floor(sec)
	ns := int64(whole)*1e9 + int64(math.Round((sec-whole)*1e9))
	return ns - baseUnixNs, int64(math.Round(per * 1e9)), nil
}

// SummarizeServer compares two scrapes taken secs apart.
func SummarizeServer(start, end *Metrics, secs float64) *ServerReport {
	r := &ServerReport{Scraped: true, DropsByReason: map[string]float64{}}
	delta := func(name string, labels ...string) float64 {
		b, ok := end.Sum(name, labels...)
		if !ok {
			r.Missing = append(r.Missing, name)
			return 0
		}
		a, _ := start.Sum(name, labels...)
		return b - a
	}
	gauge := func(name string) float64 {
		v, ok := end.Sum(name)
		if !ok {
			r.Missing = append(r.Missing, name)
		}
		return v
	}
	before := start.ByLabel(metricname.Drops, metricname.LabelReason)
	for reason, v := range end.ByLabel(metricname.Drops, metricname.LabelReason) {
		if d := v - before[reason]; d != 0 {
			r.DropsByReason[reason] += d
		}
	}
	r.Drops = delta(metricname.Drops)
	r.SnapDropped = delta(metricname.SnapshotDropped)
	r.SnapEAGAIN = delta(metricname.SnapshotEAGAIN)
	r.SendErrors = delta(metricname.SnapshotSendErrors) + delta(metricname.ReplySendErrors)
	r.Ticks = delta(metricname.Ticks)
	r.Overruns = delta(metricname.TickOverruns)
	r.TickWork = histDelta(start, end, metricname.TickWork, &r.Missing)
	r.TickJitter = histDelta(start, end, metricname.TickJitter, &r.Missing)
	r.MaxJitterMs = gauge(metricname.TickMaxJitter) * 1000
	r.GCCycles = delta(metricname.GCCycles)
	r.GCPauses = histDelta(start, end, metricname.GCPauses, &r.Missing)
	if secs > 0 {
		r.AllocBytesSec = delta(metricname.AllocBytes) / secs
		r.AllocObjsSec = delta(metricname.AllocObjects) / secs
		r.CPUSeconds = delta(metricname.ProcessCPU)
		r.CPUPercent = 100 * r.CPUSeconds / secs
	}
	r.HeapLiveBytes = gauge(metricname.HeapLive)
	r.Sessions = gauge(metricname.SessionsActive)
	r.Inputs = delta(metricname.Inputs)
	r.SnapshotsSent = delta(metricname.DatagramsSent, metricname.LabelKind, metricname.KindSnapshot)
	if secs > 0 {
		// Optional: only the poll layout wakes this way.
		before := start.ByLabel(metricname.LoopWakeups, metricname.LabelReason)
		for reason, v := range end.ByLabel(metricname.LoopWakeups, metricname.LabelReason) {
			if d := v - before[reason]; d != 0 {
				if r.WakeupsPerSec == nil {
					r.WakeupsPerSec = map[string]float64{}
				}
				r.WakeupsPerSec[reason] = d / secs
			}
		}
	}
	sort.Strings(r.Missing)
	return r
}

func histDelta(start, end *Metrics, name string, missing *[]string) *HistReport {
	eb, esum, ecount, ok := end.Histogram(name)
	if !ok {
		*missing = append(*missing, name)
		return nil
	}
	sb, ssum, scount, _ := start.Histogram(name)
	bs := DiffBuckets(sb, eb)
	h := &HistReport{Count: ecount - scount}
	if h.Count <= 0 {
		return h
	}
	h.MeanMs = 1000 * (esum - ssum) / h.Count
	q := func(p float64) float64 { v, _ := BucketQuantile(p, bs); return 1000 * v }
	h.P50Ms, h.P99Ms, h.P999Ms = q(0.5), q(0.99), q(0.999)
	prev := 0.0
	for _, b := range bs {
		if b.Count > prev {
			h.MaxLE = 1000 * b.Le
		}
		prev = b.Count
	}
	if math.IsInf(h.MaxLE, 1) {
		h.MaxLE = math.Inf(1)
	}
	return h
}
