package main

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
)

// The server's /metrics is the Prometheus text exposition format (0.0.4).
// prometheus/common/expfmt would parse it, but it is not a dependency of this
// module, and the bench needs only samples and types: a small parser, tested
// on the format's corner cases (escaped label values, NaN and Inf,
// timestamps, histogram and summary series), is enough.

// Label is one name="value" pair.
type Label struct{ Name, Value string }

// Sample is one line of the exposition.
type Sample struct {
	Name   string
	Labels []Label // sorted by name
	Value  float64
}

// Key is the sample's name and labels in canonical form, for diffs.
func (s *Sample) Key() string {
	if len(s.Labels) == 0 {
		return s.Name
	}
	var b strings.Builder
	b.WriteString(s.Name)
	b.WriteByte('{')
	for i, l := range s.Labels {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%q", l.Name, l.Value)
	}
	b.WriteByte('}')
	return b.String()
}

// Label returns the value of label name, "" if absent.
func (s *Sample) Label(name string) string {
	for _, l := range s.Labels {
		if l.Name == name {
			return l.Value
		}
	}
	return ""
}

// Metrics is a parsed exposition.
type Metrics struct {
	Samples []Sample
	Types   map[string]string // metric family -> counter, gauge, histogram, summary, untyped
}

// ParseMetrics parses the text format. A malformed line is an error naming
// its line number: a bench report must not silently miss a counter.
func ParseMetrics(r io.Reader) (*Metrics, error) {
	m := &Metrics{Types: map[string]string{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, "#") {
			f := strings.Fields(line)
			if len(f) >= 4 && f[1] == "TYPE" {
				m.Types[f[2]] = f[3]
			}
			continue
		}
		s, err := parseSample(line)
		if err != nil {
			return nil, fmt.Errorf("metrics line %d: %v: %q", n, err, line)
		}
		m.Samples = append(m.Samples, s)
	}
	return m, sc.Err()
}

func parseSample(line string) (Sample, error) {
	var s Sample
	i := strings.IndexAny(line, "{ \t")
	if i <= 0 {
		return s, fmt.Errorf("no value")
	}
	s.Name = line[:i]
	rest := line[i:]
	if rest[0] == '{' {
		var err error
		s.Labels, rest, err = parseLabels(rest[1:])
		if err != nil {
			return s, err
		}
	}
	f := strings.Fields(rest)
	if len(f) < 1 || len(f) > 2 {
		return s, fmt.Errorf("want value [timestamp]")
	}
	v, err := parseValue(f[0])
	if err != nil {
		return s, err
	}
	s.Value = v
	sort.Slice(s.Labels, func(i, j int) bool { return s.Labels[i].Name < s.Labels[j].Name })
	return s, nil
}

// parseLabels reads `a="x",b="y"}` and returns the text after the brace.
func parseLabels(s string) ([]Label, string, error) {
	var out []Label
	for {
		s = strings.TrimLeft(s, " \t")
		if strings.HasPrefix(s, "}") {
			return out, s[1:], nil
		}
		eq := strings.IndexByte(s, '=')
		if eq <= 0 {
			return nil, "", fmt.Errorf("bad label")
		}
		name := strings.TrimSpace(s[:eq])
		s = strings.TrimLeft(s[eq+1:], " \t")
		if !strings.HasPrefix(s, `"`) {
			return nil, "", fmt.Errorf("label %s: value not quoted", name)
		}
		var val strings.Builder
		j := 1
		for ; j < len(s) && s[j] != '"'; j++ {
			if s[j] == '\\' && j+1 < len(s) {
				j++
				switch s[j] {
				case 'n':
					val.WriteByte('\n')
				default: // \\ and \"
					val.WriteByte(s[j])
				}
				continue
			}
			val.WriteByte(s[j])
		}
		if j >= len(s) {
			return nil, "", fmt.Errorf("label %s: unterminated value", name)
		}
		out = append(out, Label{name, val.String()})
		s = strings.TrimLeft(s[j+1:], " \t")
		s = strings.TrimPrefix(s, ",")
	}
}

func parseValue(s string) (float64, error) {
	switch s {
	case "+Inf", "Inf":
		return math.Inf(1), nil
	case "-Inf":
		return math.Inf(-1), nil
	case "NaN":
		return math.NaN(), nil
	}
	return strconv.ParseFloat(s, 64)
}

// Family returns the family name a sample belongs to: histogram and summary
// series carry _bucket, _sum, _count suffixes.
func (m *Metrics) Family(name string) string {
	if _, ok := m.Types[name]; ok {
		return name
	}
	for _, suf := range []string{"_bucket", "_sum", "_count", "_total"} {
		if f, ok := strings.CutSuffix(name, suf); ok {
			if _, ok := m.Types[f]; ok {
				return f
			}
		}
	}
	return name
}

// Get returns the value of the sample with exactly this name and labels
// (labels given as alternating name, value).
func (m *Metrics) Get(name string, labels ...string) (float64, bool) {
	for i := range m.Samples {
		s := &m.Samples[i]
		if s.Name == name && matchLabels(s, labels) && len(s.Labels) == len(labels)/2 {
			return s.Value, true
		}
	}
	return 0, false
}

// Sum adds the samples named name whose labels include the given ones.
func (m *Metrics) Sum(name string, labels ...string) (float64, bool) {
	sum, ok := 0.0, false
	for i := range m.Samples {
		s := &m.Samples[i]
		if s.Name == name && matchLabels(s, labels) {
			sum += s.Value
			ok = true
		}
	}
	return sum, ok
}

func matchLabels(s *Sample, kv []string) bool {
	for i := 0; i+1 < len(kv); i += 2 {
		if s.Label(kv[i]) != kv[i+1] {
			return false
		}
	}
	return true
}

// Bucket is one cumulative histogram bucket.
type Bucket struct {
	Le    float64
	Count float64
}

// Histogram collects the buckets of histogram family name (all label sets
// other than le added together), sorted by le, with its _sum and _count.
func (m *Metrics) Histogram(name string) (bs []Bucket, sum, count float64, ok bool) {
	byLe := map[float64]float64{}
	for i := range m.Samples {
		s := &m.Samples[i]
		switch s.Name {
		case name + "_bucket":
			le, err := parseValue(s.Label("le"))
			if err != nil {
				continue
			}
			byLe[le] += s.Value
			ok = true
		case name + "_sum":
			sum += s.Value
		case name + "_count":
			count += s.Value
		}
	}
	for le, c := range byLe {
		bs = append(bs, Bucket{le, c})
	}
	sort.Slice(bs, func(i, j int) bool { return bs[i].Le < bs[j].Le })
	return bs, sum, count, ok
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
