package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/treasured/treasured/engine"
	"github.com/treasured/treasured/engine/journal"
)

// dataDir runs a small world for 70 ticks in a data directory with a
// checkpoint every 20 ticks and returns the directory.
func dataDir(t *testing.T) string {
	t.Helper()
	cfg := engine.DefaultConfig()
	cfg.Regions, cfg.ZonesX, cfg.ZonesY, cfg.MaxPlayers = 1, 4, 4, 16
	dir := t.TempDir()
	d, _, err := journal.Open(dir, cfg, journal.DirOptions{CheckpointEvery: 20, Keep: 10})
	if err != nil {
		t.Fatal(err)
	}
	w := d.World()
	for range 70 {
		w.Step(walkers(w, 5_000))
		if err := d.Append(w.Tick(), w.LastOrdered(), w.Hash()); err != nil {
			t.Fatal(err)
		}
		if w.Tick()%20 == 0 {
			for d.Stats().LastCheckpoint.Load() != w.Tick() {
				time.Sleep(time.Millisecond) // the next one would be skipped
			}
		}
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestDataDir: a data directory replays from its newest checkpoint (60),
// from a chosen one, or from tick 0 across all its segments, each ending
// at the last tick with every hash matching.
func TestDataDir(t *testing.T) {
	dir := dataDir(t)
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{dir}, []string{"replay from tick 60", "replayed 10 ticks (61..70)", "OK: all 10 hashes match"}},
		{[]string{"--from-checkpoint", filepath.Join(dir, journal.CheckpointName(20)), dir}, []string{"replay from tick 20", "(21..70)", "OK: all 50"}},
		{[]string{"--from-start", dir}, []string{"replay from tick 0", "(1..70)", "OK: all 70"}},
		{[]string{"--until", "65", dir}, []string{"(61..65)", "OK: all 5"}},
	} {
		var out, errb bytes.Buffer
		if code := run(tc.args, &out, &errb); code != exitOK {
			t.Fatalf("%v: exit %d\n%s%s", tc.args, code, out.String(), errb.String())
		}
		for _, w := range tc.want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("%v: stdout lacks %q:\n%s", tc.args, w, out.String())
			}
		}
	}
	var out, errb bytes.Buffer
	if code := run([]string{"--from-start", filepath.Join(dir, journal.SegmentName(0))}, &out, &errb); code != exitError ||
		!strings.Contains(errb.String(), "needs a data directory") {
		t.Fatalf("--from-start on a file: exit %d %s", code, errb.String())
	}
}
