package main

import (
	"fmt"
	"io"
	"math"
	"sort"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Metrics is one scrape of a server's /metrics (the Prometheus text
// exposition format), by metric family.
type Metrics struct {
	families map[string]*dto.MetricFamily
}

// ParseMetrics parses the text format. A malformed exposition is an error:
// a bench report must not silently miss a counter.
func ParseMetrics(r io.Reader) (*Metrics, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parse /metrics: %w", err)
	}
	return &Metrics{families: fams}, nil
}

// value is the value of a counter, gauge or untyped sample.
func value(m *dto.Metric) (float64, bool) {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue(), true
	case m.Gauge != nil:
		return m.Gauge.GetValue(), true
	case m.Untyped != nil:
		return m.Untyped.GetValue(), true
	}
	return 0, false
}

// label is the value of m's label name, "" if absent.
func label(m *dto.Metric, name string) string {
	for _, l := range m.Label {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// matchLabels reports whether m has every label of kv (alternating name,
// value).
func matchLabels(m *dto.Metric, kv []string) bool {
	for i := 0; i+1 < len(kv); i += 2 {
		if label(m, kv[i]) != kv[i+1] {
			return false
		}
	}
	return true
}

// Get returns the value of the sample of family name with exactly these
// labels (given as alternating name, value).
func (m *Metrics) Get(name string, labels ...string) (float64, bool) {
	f := m.families[name]
	if f == nil {
		return 0, false
	}
	for _, s := range f.Metric {
		if len(s.Label) == len(labels)/2 && matchLabels(s, labels) {
			return value(s)
		}
	}
	return 0, false
}

// Sum adds the samples of family name whose labels include the given ones.
func (m *Metrics) Sum(name string, labels ...string) (float64, bool) {
	f := m.families[name]
	if f == nil {
		return 0, false
	}
	sum, ok := 0.0, false
	for _, s := range f.Metric {
		if v, isValue := value(s); isValue && matchLabels(s, labels) {
			sum += v
			ok = true
		}
	}
	return sum, ok
}

// ByLabel adds the samples of family name by the value of their label lbl.
func (m *Metrics) ByLabel(name, lbl string) map[string]float64 {
	out := map[string]float64{}
	if f := m.families[name]; f != nil {
		for _, s := range f.Metric {
			if v, ok := value(s); ok {
				out[label(s, lbl)] += v
			}
		}
	}
	return out
}

// Bucket is one cumulative histogram bucket.
type Bucket struct {
	Le    float64
	Count float64
}

// Histogram collects the buckets of histogram family name (all label sets
// added together), sorted by le and ending with +Inf, with its sum and count.
func (m *Metrics) Histogram(name string) (bs []Bucket, sum, count float64, ok bool) {
	f := m.families[name]
	if f == nil || f.GetType() != dto.MetricType_HISTOGRAM {
		return nil, 0, 0, false
	}
	byLe := map[float64]float64{}
	for _, s := range f.Metric {
		h := s.Histogram
		for _, b := range h.Bucket {
			byLe[b.GetUpperBound()] += float64(b.GetCumulativeCount()) + b.GetCumulativeCountFloat()
		}
		// The text format's +Inf bucket is the count; keep it even if a
		// parser leaves it implicit.
		// expfmt keeps one of the integer and float forms of a count.
		n := float64(h.GetSampleCount()) + h.GetSampleCountFloat()
		if k := len(h.Bucket); k == 0 || !math.IsInf(h.Bucket[k-1].GetUpperBound(), 1) {
			byLe[math.Inf(1)] += n
		}
		sum += h.GetSampleSum()
		count += n
	}
	for le, c := range byLe {
		bs = append(bs, Bucket{le, c})
	}
	sort.Slice(bs, func(i, j int) bool { return bs[i].Le < bs[j].Le })
	return bs, sum, count, true
}

// DiffBuckets returns end - start bucket by bucket (both sorted, same les):
// the histogram of what happened between two scrapes.
func DiffBuckets(start, end []Bucket) []Bucket {
	out := make([]Bucket, len(end))
	for i, b := range end {
		out[i] = b
		for _, a := range start {
			if a.Le == b.Le {
				out[i].Count -= a.Count
				break
			}
		}
	}
	return out
}

// BucketQuantile estimates quantile q (0..1) of cumulative buckets the way
// Prometheus' histogram_quantile does: find the bucket the rank falls in and
// interpolate linearly inside it. When the rank falls in the +Inf bucket it
// returns the largest finite bound (the true value is only known to be
// larger); ok is false without observations.
func BucketQuantile(q float64, bs []Bucket) (v float64, ok bool) {
	if len(bs) == 0 {
		return 0, false
	}
	total := bs[len(bs)-1].Count
	if total <= 0 {
		return 0, false
	}
	rank := q * total
	prevLe, prevCount := 0.0, 0.0
	for _, b := range bs {
		if b.Count >= rank {
			if math.IsInf(b.Le, 1) {
				return prevLe, true
			}
			if b.Count == prevCount {
				return b.Le, true
			}
			return prevLe + (b.Le-prevLe)*(rank-prevCount)/(b.Count-prevCount), true
		}
		prevLe, prevCount = b.Le, b.Count
	}
	return prevLe, true
}
