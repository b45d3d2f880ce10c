package main

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"strings"
	"testing"
)

func TestSpectrumFormat(t *testing.T) {
	h := newHist()
	for v := int64(1); v <= 10000; v++ { // 1 µs .. 10 ms, uniform
		if err := h.RecordValue(v); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if err := WriteSpectrum(&buf, h); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(&buf)
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if f := strings.Fields(lines[0]); len(f) != 4 || f[0] != "Value" || f[3] != "1/(1-Percentile)" || lines[1] != "" {
		t.Fatalf("header %q %q", lines[0], lines[1])
	}
	var prevV, prevP float64
	var prevC int64
	var rows int
	var last []string
	for _, l := range lines[2:] {
		if strings.HasPrefix(l, "#[") {
			continue
		}
		f := strings.Fields(l)
		var v, p float64
		var c int64
		if _, err := fmt.Sscan(strings.Join(f[:3], " "), &v, &p, &c); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		if v < prevV || p < prevP || c < prevC {
			t.Fatalf("line %q not monotonic after %v %v %v", l, prevV, prevP, prevC)
		}
		if p < 1 {
			var inv float64
			fmt.Sscan(f[3], &inv)
			if math.Abs(inv-1/(1-p)) > 0.01*inv+0.01 {
				t.Fatalf("line %q: 1/(1-p) = %v, want %v", l, inv, 1/(1-p))
			}
		} else if len(f) != 3 {
			t.Fatalf("100%% line has %d columns: %q", len(f), l)
		}
		prevV, prevP, prevC = v, p, c
		rows++
		last = f
	}
	if last[1] != "1.000000" || last[2] != "10000" {
		t.Fatalf("last line %v", last)
	}
	// ticks=5 on a uniform 10,000-sample distribution: 5 lines per half
	// distance until the count runs out, about 5*log2(10000) ≈ 66.
	if rows < 50 || rows > 90 {
		t.Fatalf("%d spectrum rows", rows)
	}
	// Median of 1..10000 µs is 5 ms within HdrHistogram's 3 digits.
	s := Summarize(h)
	if p50 := s.P["50"]; math.Abs(p50-5.0) > 0.01 {
		t.Fatalf("p50 %v ms", p50)
	}
	if s.P["100"] != s.Max || math.Abs(s.Max-10.0) > 0.01 {
		t.Fatalf("max %v p100 %v", s.Max, s.P["100"])
	}
	if !strings.Contains(buf.String(), "") || !strings.Contains(strings.Join(lines, "\n"), "Total count    =        10000") {
		t.Fatalf("footer missing:\n%s", strings.Join(lines[len(lines)-2:], "\n"))
	}
}

func TestSpectrumEmpty(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteSpectrum(&buf, newHist()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "Total count    =            0") {
		t.Fatalf("%s", buf.String())
	}
}
