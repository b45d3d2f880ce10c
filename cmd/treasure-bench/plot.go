package main

import (
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// The percentile plot HdrHistogram's plotter draws: latency against
// percentile, with the x axis at 1/(1-p) on a log scale so that each further
// "nine" (90%, 99%, 99.9%, ...) gets the same width and the tail is as
// readable as the median. The 100% point (x infinite) is left out; the max
// is in the report.

// plotMaxX caps the x axis at 99.9999%.
const plotMaxX = 1e6

// percentileTicks labels the x axis in nines.
type percentileTicks struct{}

func (percentileTicks) Ticks(lo, hi float64) []plot.Tick {
	var ts []plot.Tick
	labels := []string{"0%", "90%", "99%", "99.9%", "99.99%", "99.999%", "99.9999%"}
	for i, l := range labels {
		v := math.Pow10(i)
		if v < lo/1.0001 || v > hi*1.0001 {
			continue
		}
		ts = append(ts, plot.Tick{Value: v, Label: l})
		for k := 2; k < 10 && i < len(labels)-1; k++ {
			if mv := v * float64(k); mv <= hi {
				ts = append(ts, plot.Tick{Value: mv})
			}
		}
	}
	return ts
}

// spectrumXY turns a spectrum into plot points (x = 1/(1-p), y = ms; y is
// floored at 10 µs for the log axis: a recorded 0 would have no place on it).
func spectrumXY(sp []SpectrumLine) plotter.XYs {
	var xy plotter.XYs
	for _, l := range sp {
		if l.Percentile >= 1 {
			continue
		}
		x := 1 / (1 - l.Percentile)
		if x > plotMaxX {
			break
		}
		xy = append(xy, plotter.XY{X: x, Y: math.Max(l.ValueMs, 0.01)})
	}
	return xy
}

// WritePlot draws the corrected spectra of rtt, apply and tick_to_wire (and
// the uncorrected ones, dashed) into a PNG, SVG or PDF by file extension.
func WritePlot(path string, rep *Report) error {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("latency by percentile: %s, %d players x %g inputs/s (coordinated omission corrected; dashed: uncorrected)",
		rep.Label, rep.Players, rep.RateInputs)
	p.X.Label.Text = "percentile"
	p.Y.Label.Text = "latency (ms)"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = percentileTicks{}
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Add(plotter.NewGrid())
	colors := []color.RGBA{{0xd6, 0x27, 0x28, 255}, {0x1f, 0x77, 0xb4, 255}, {0x2c, 0xa0, 0x2c, 255}}
	n := 0
	for i, m := range []struct {
		name string
		m    *Measure
	}{{"rtt", rep.RTT}, {"apply", rep.Apply}, {"tick_to_wire", rep.TickToWire}} {
		if m.m == nil || len(m.m.Spectrum) == 0 {
			continue
		}
		xy := spectrumXY(m.m.Spectrum)
		if len(xy) == 0 {
			continue
		}
		l, err := plotter.NewLine(xy)
		if err != nil {
			return err
		}
		l.Color = colors[i]
		l.Width = vg.Points(1.5)
		p.Add(l)
		p.Legend.Add(m.name+" (corrected)", l)
		n++
		if m.m.uhist != nil && m.m.uhist.TotalCount() > 0 {
			uxy := spectrumXY(Spectrum(m.m.uhist))
			if len(uxy) > 0 {
				ul, err := plotter.NewLine(uxy)
				if err != nil {
					return err
				}
				ul.Color = colors[i]
				ul.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
				p.Add(ul)
				p.Legend.Add(m.name+" (uncorrected)", ul)
			}
		}
	}
	if n == 0 {
		return fmt.Errorf("nothing measured to plot")
	}
	// Bottom right: the curves rise to the right, so that corner is empty.
	p.Legend.Top = false
	p.Legend.Left = false
	return p.Save(10*vg.Inch, 6*vg.Inch, path)
}
