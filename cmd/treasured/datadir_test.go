package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/treasured/treasured/engine"
	"github.com/treasured/treasured/engine/journal"
	"github.com/treasured/treasured/netio"
	"github.com/treasured/treasured/netio/metricname"
)

// runDataDir runs treasured in-process on dir with extra flags until ticks
// ticks have passed (or, when ticks is 0, until it listens), then stops it
// as SIGTERM does. It returns the exit code and the log.
func runDataDir(t *testing.T, dir string, ticks uint32, extra ...string) (int, string) {
	t.Helper()
	var out syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	args := append([]string{"--listen", "127.0.0.1:0", "--admin", "", "--pin=false", "--max-players", "64",
		"--log-format", "json", "--data-dir", dir, "--checkpoint-every", "100ms"}, extra...)
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, nil, args, env(nil), &out, func(s *netio.Server, _ string) {
			go func() {
				for deadline := time.Now().Add(30 * time.Second); s.Tick() < ticks && time.Now().Before(deadline); {
					time.Sleep(10 * time.Millisecond)
				}
				cancel()
			}()
		})
	}()
	select {
	case code := <-done:
		return code, out.String()
	case <-time.After(60 * time.Second):
		t.Fatalf("treasured did not stop within 60 s:\n%s", out.String())
	}
	return 0, ""
}

// TestDataDirStartup: a new directory starts a fresh world; an existing one
// is recovered (after a torn tail, which is cut and logged, and after a
// corrupt newest checkpoint, which is skipped and logged); and data that
// cannot be continued is refused with exit 2 and a message naming why:
// another world (seed, regions, max players, tick rate), a gap, a future
// format version, --journal beside --data-dir.
func TestDataDirStartup(t *testing.T) {
	base := filepath.Join(t.TempDir(), "data")
	if code, log := runDataDir(t, base, 30); code != exitOK || !strings.Contains(log, "data directory: new world") {
		t.Fatalf("new directory: exit %d\n%s", code, log)
	}
	copyDir := func(t *testing.T) string {
		dir := t.TempDir()
		ents, _ := os.ReadDir(base)
		for _, e := range ents {
			b, _ := os.ReadFile(filepath.Join(base, e.Name()))
			os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644)
		}
		return dir
	}
	newest := func(dir, prefix string) string {
		ents, _ := os.ReadDir(dir)
		name := ""
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), prefix) {
				name = e.Name() // ReadDir sorts by name: ticks are zero-padded
			}
		}
		return filepath.Join(dir, name)
	}
	for _, tc := range []struct {
		name  string
		setup func(dir string)
		flags []string
		code  int
		want  string
	}{
		{"recovered", nil, nil, exitOK, "data directory: recovered"},
		{"torn tail", func(dir string) {
			f, _ := os.OpenFile(newest(dir, "journal-"), os.O_WRONLY|os.O_APPEND, 0)
			f.Write([]byte{100, 0, 0, 0, 1, 2, 3})
			f.Close()
		}, nil, exitOK, "torn tail cut off"},
		{"corrupt checkpoint", func(dir string) {
			p := newest(dir, "checkpoint-")
			b, _ := os.ReadFile(p)
			b[len(b)-9] ^= 0xff
			os.WriteFile(p, b, 0o644)
		}, nil, exitOK, "falling back to an older one"},
		{"seed", nil, []string{"--seed", "1"}, exitUsage, "belongs to another world"},
		{"regions", nil, []string{"--regions", "2"}, exitUsage, "belongs to another world"},
		{"max players", nil, []string{"--max-players", "65"}, exitUsage, "belongs to another world"},
		{"tick rate", nil, []string{"--tick", "100ms"}, exitUsage, "belongs to another world"},
		{"gap", func(dir string) {
			os.Remove(newest(dir, "checkpoint-"))
			os.Remove(newest(dir, "journal-"))
			ents, _ := os.ReadDir(dir)
			for _, e := range ents {
				if strings.HasPrefix(e.Name(), "journal-") { // the older checkpoint's segment too
					os.Remove(filepath.Join(dir, e.Name()))
					break
				}
			}
		}, nil, exitUsage, "gap: no journal segment covers tick"},
		{"future version", func(dir string) {
			p := newest(dir, "journal-")
			b, _ := os.ReadFile(p)
			b[8] = byte(journal.Version + 1)
			os.WriteFile(p, b, 0o644)
		}, nil, exitUsage, "format version"},
		{"journal and data dir", nil, []string{"--journal", filepath.Join(t.TempDir(), "j")}, exitUsage, "exclusive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyDir(t)
			if tc.setup != nil {
				tc.setup(dir)
			}
			code, log := runDataDir(t, dir, 0, tc.flags...)
			if code != tc.code || !strings.Contains(log, tc.want) {
				t.Fatalf("exit %d (want %d), log lacks %q:\n%s", code, tc.code, tc.want, log)
			}
		})
	}
}

// TestDataDirMetricNames: the checkpointer exports every family package
// metricname names for it (the deploy tests check netio's, which has none
// of these).
func TestDataDirMetricNames(t *testing.T) {
	ecfg := engine.DefaultConfig()
	ecfg.MaxPlayers = 16
	dir, _, err := journal.Open(filepath.Join(t.TempDir(), "data"), ecfg, journal.DirOptions{CheckpointEvery: 10, Keep: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	reg := prometheus.NewRegistry()
	registerDataDir(reg, dir)
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, f := range fams {
		got[f.GetName()] = true
	}
	for _, name := range []string{metricname.Checkpoints, metricname.CheckpointsSkipped, metricname.CheckpointErrors,
		metricname.CheckpointTick, metricname.CheckpointTickSeconds} {
		if !got[name] {
			t.Errorf("the data directory does not export %s (have %v)", name, got)
		}
	}
}
