package main

import (
	"fmt"
	"io"
	"math"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// spectrumTicks is the number of reporting steps per halving of the distance
// to 100%, the value wrk2 passes to its percentile printer: 5 lines between
// p0 and p50, 5 more up to p75, and so on into the high nines.
const spectrumTicks = 5

// SpectrumLine is one line of a percentile spectrum.
type SpectrumLine struct {
	ValueMs    float64 `json:"value_ms"`
	Percentile float64 `json:"percentile"` // 0..1
	TotalCount int64   `json:"total_count"`
}

// Spectrum walks h (microseconds) the way HdrHistogram's percentile
// iterator does and returns the lines, values in milliseconds.
func Spectrum(h *hdrhistogram.Histogram) []SpectrumLine {
	if h.TotalCount() == 0 {
		return nil
	}
	br := h.CumulativeDistributionWithTicks(spectrumTicks)
	out := make([]SpectrumLine, 0, len(br))
	for _, b := range br {
		out = append(out, SpectrumLine{ValueMs: float64(b.ValueAt) / 1000, Percentile: b.Quantile / 100, TotalCount: b.Count})
	}
	return out
}

// WriteSpectrum prints h as wrk2's "Detailed Percentile spectrum" (the
// HdrHistogram classic text format): value in ms, percentile as a fraction,
// cumulative count, and 1/(1-percentile), which is the x axis of the usual
// percentile plot; the 100% line has no last column, since it is infinite.
// A footer gives mean, standard deviation, max and count.
func WriteSpectrum(w io.Writer, h *hdrhistogram.Histogram) error {
	if _, err := fmt.Fprintf(w, "%12s %12s %12s %16s\n\n", "Value", "Percentile", "TotalCount", "1/(1-Percentile)"); err != nil {
		return err
	}
	for _, l := range Spectrum(h) {
		var err error
		if l.Percentile >= 1 {
			_, err = fmt.Fprintf(w, "%12.3f %12.6f %12d\n", l.ValueMs, l.Percentile, l.TotalCount)
		} else {
			_, err = fmt.Fprintf(w, "%12.3f %12.6f %12d %16.2f\n", l.ValueMs, l.Percentile, l.TotalCount, 1/(1-l.Percentile))
		}
		if err != nil {
			return err
		}
	}
	mean, sd := h.Mean()/1000, h.StdDev()/1000
	if math.IsNaN(mean) {
		mean, sd = 0, 0
	}
	_, err := fmt.Fprintf(w, "#[Mean    = %12.3f, StdDeviation   = %12.3f]\n#[Max     = %12.3f, Total count    = %12d]\n",
		mean, sd, float64(h.Max())/1000, h.TotalCount())
	return err
}

// Quantiles are the summary percentiles of the report.
var Quantiles = []float64{50, 75, 90, 95, 99, 99.9, 99.99, 100}

// Summary is a measure's headline numbers in milliseconds.
type Summary struct {
	Count int64              `json:"count"`
	Mean  float64            `json:"mean_ms"`
	Max   float64            `json:"max_ms"`
	P     map[string]float64 `json:"p_ms"` // "50", "99.9", "100"
}

// Summarize reads the Quantiles of h (microseconds) in milliseconds.
func Summarize(h *hdrhistogram.Histogram) Summary {
	s := Summary{Count: h.TotalCount(), P: make(map[string]float64, len(Quantiles))}
	if s.Count == 0 {
		return s
	}
	s.Mean = h.Mean() / 1000
	s.Max = float64(h.Max()) / 1000
	for _, q := range Quantiles {
		s.P[quantileKey(q)] = float64(h.ValueAtQuantile(q)) / 1000
	}
	return s
}

func quantileKey(q float64) string { return fmt.Sprintf("%g", q) }

// WriteSummaryLines prints the wrk2-style "Latency Distribution" lines.
func WriteSummaryLines(w io.Writer, s Summary) {
	for _, q := range Quantiles {
		fmt.Fprintf(w, "  %8.3f%% %10.3fms\n", q, s.P[quantileKey(q)])
	}
}
