package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// goodResult is a run where nothing went wrong.
func goodResult(cfg *Config) *WorkerResult {
	r := newWorkerResult()
	r.Players, r.Connected = cfg.Players, cfg.Players
	for i := int64(1); i <= 1000; i++ {
		r.RTT.Record(0, 10, i*100)
		r.Apply.Record(0, 10, i*50_000)
		recordNs(r.TickToWire, i*1000)
		recordNs(r.SendLag, i*100) // up to 0.1 ms
	}
	r.InputsPlannedWindow, r.InputsSentWindow = 1000, 1000
	r.EpochSamples, r.TickPeriod = 500, 50e6
	r.SnapExpected, r.SnapReceived = 2000, 1998
	r.ActionsWindow, r.AppliedWindow = 1000, 1000
	return r
}

func TestReportValidRun(t *testing.T) {
	cfg, _ := ParseArgs([]string{"--players", "10", "--label", "unit"}, nil)
	rep := BuildReport(cfg, goodResult(cfg), &RunInfo{CPUs: 1, CPUUser: 1, KernelOK: true})
	if !rep.Valid || len(rep.Invalid) != 0 {
		t.Fatalf("invalid: %v", rep.Invalid)
	}
	if rep.Snapshots.Lost != 2 || rep.Snapshots.LossPct != 0.1 {
		t.Fatalf("snapshots %+v", rep.Snapshots)
	}
	var text bytes.Buffer
	rep.WriteText(&text, false)
	for _, want := range []string{"Detailed Percentile spectrum (rtt, corrected)", "1/(1-Percentile)", "verdict: VALID", "lost_loot: 0 of 0"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text report lacks %q", want)
		}
	}
	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back["valid"] != true || back["apply"].(map[string]any)["corrected"].(map[string]any)["count"].(float64) != 1000 {
		t.Fatalf("json %s", js.String()[:200])
	}
}

func TestReportInvalidWhenGeneratorLags(t *testing.T) {
	cfg, _ := ParseArgs([]string{"--players", "10", "--max-lag", "5ms"}, nil)
	r := goodResult(cfg)
	for range 100 {
		recordNs(r.SendLag, int64(20*time.Millisecond))
	}
	r.Connected = 9
	r.InputsSentWindow = 900
	rep := BuildReport(cfg, r, &RunInfo{ClientDrops: 3})
	joined := strings.Join(rep.Invalid, "\n")
	for _, want := range []string{"send lag p99", "9 of 10 players", "900 of 1000", "own sockets dropped 3"} {
		if !strings.Contains(joined, want) {
			t.Errorf("invalid reasons lack %q:\n%s", want, joined)
		}
	}
	if rep.Valid {
		t.Fatal("valid")
	}
	var text bytes.Buffer
	rep.WriteText(&text, true)
	if !strings.Contains(text.String(), "verdict: INVALID") || strings.Contains(text.String(), "Detailed Percentile") {
		t.Fatal("quiet INVALID text wrong")
	}
}

func TestReportInvalidWithoutWarmupSamples(t *testing.T) {
	cfg, _ := ParseArgs([]string{"--players", "10"}, nil)
	r := goodResult(cfg)
	r.EpochSamples = 0
	if rep := BuildReport(cfg, r, nil); rep.Valid {
		t.Fatal("a run without tick clock samples is valid")
	}
}
