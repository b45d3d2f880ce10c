package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The default report fits one screen and carries the table, the
// exactly-once figures, the server's health and the verdict.
func TestSummaryOneScreen(t *testing.T) {
	cfg, _ := ParseArgs([]string{"--players", "10", "--label", "unit"}, nil)
	rep := BuildReport(cfg, goodResult(cfg), &RunInfo{CPUs: 1, CPUUser: 1, KernelOK: true, PerSocket: 5, Sockets: 2,
		Server: &ServerReport{Scraped: true, Overruns: 0, CPUPercent: 12, GCPauses: &HistReport{Count: 3, MaxLE: 0.25}}})
	var out bytes.Buffer
	rep.WriteSummary(&out, []string{"r/report.txt", "r/report.json", "r/latency.png"})
	text := out.String()
	if n := strings.Count(text, "\n"); n > 24 {
		t.Errorf("%d lines, want one screen (<= 24):\n%s", n, text)
	}
	for _, want := range []string{"p50", "p99.9", "rtt", "apply", "tick_to_wire", "duplicates shown 0", "lost_loot 0",
		"overruns 0", "pause max <= 0.250 ms", "verdict: VALID", "results: r/report.txt, r/report.json, r/latency.png"} {
		if !strings.Contains(text, want) {
			t.Errorf("summary lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "Detailed Percentile spectrum") {
		t.Error("summary prints a spectrum")
	}
}

// An INVALID run says why and what to do next, each cause once.
func TestSummaryInvalidNextStep(t *testing.T) {
	cfg, _ := ParseArgs([]string{"--players", "10", "--max-lag", "1ms"}, nil)
	r := goodResult(cfg)
	for range 100 {
		recordNs(r.SendLag, 50e6)
	}
	r.InputsSentWindow = 10 // also: too few sent, same cause
	rep := BuildReport(cfg, r, &RunInfo{CPUs: 1})
	var out bytes.Buffer
	rep.WriteSummary(&out, nil)
	text := out.String()
	if !strings.Contains(text, "verdict: INVALID") || !strings.Contains(text, "because generator fell behind") ||
		strings.Count(text, "next: ") != 1 || !strings.Contains(text, "--bench-cpus") {
		t.Fatalf("%s", text)
	}
}

// --results writes the full report with its spectra, the JSON and the plot.
func TestWriteResults(t *testing.T) {
	cfg, _ := ParseArgs([]string{"--players", "10"}, nil)
	rep := BuildReport(cfg, goodResult(cfg), &RunInfo{CPUs: 1})
	dir := filepath.Join(t.TempDir(), "run")
	files, err := writeResults(dir, rep)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 3 {
		t.Fatalf("files %v", files)
	}
	txt, _ := os.ReadFile(filepath.Join(dir, resultText))
	if !bytes.Contains(txt, []byte("Detailed Percentile spectrum (tick_to_wire")) {
		t.Error("report.txt has no spectrum")
	}
	js, _ := os.ReadFile(filepath.Join(dir, resultJSON))
	var back Report
	if err := json.Unmarshal(js, &back); err != nil || back.Players != 10 {
		t.Errorf("report.json: %v", err)
	}
	if png, err := os.ReadFile(filepath.Join(dir, resultPlot)); err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Errorf("latency.png: %v", err)
	}
}
