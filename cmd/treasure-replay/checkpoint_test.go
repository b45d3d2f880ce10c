package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/treasured/treasured/engine"
	"github.com/treasured/treasured/engine/journal"
)

const ckptTick = 20

// checkpointJournal runs the scenario of writeJournal (players walking to
// x = dx*(p+1)) for 50 ticks, checkpointing to a file at tick 20, and
// returns the journal from tick 0, the segment a server restarted from the
// checkpoint would have written (ticks 21..50), the checkpoint's path and
// the live hash of every tick.
func checkpointJournal(t *testing.T, dx int32) (full, seg []byte, ckpt string, hashes []uint64) {
	t.Helper()
	w := walkersWorld(t)
	var fb, sb bytes.Buffer
	jw, err := journal.NewWriter(&fb, w.Config(), 0, journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var sw *journal.Writer
	ckpt = filepath.Join(t.TempDir(), "ckpt")
	for range ticks {
		w.Step(walkers(w, dx))
		for _, j := range []*journal.Writer{jw, sw} {
			if j == nil {
				continue
			}
			if err := j.Append(w.Tick(), w.LastOrdered(), w.Hash()); err != nil {
				t.Fatal(err)
			}
		}
		hashes = append(hashes, w.Hash())
		if w.Tick() == ckptTick {
			if err := w.WriteCheckpointFile(ckpt); err != nil {
				t.Fatal(err)
			}
			if sw, err = journal.NewWriter(&sb, w.Config(), w.Tick(), journal.Options{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	jw.Close()
	sw.Close()
	return fb.Bytes(), sb.Bytes(), ckpt, hashes
}

func TestCheckpointRecovery(t *testing.T) {
	full, seg, ckpt, hashes := checkpointJournal(t, 1000)
	_, _, foreign, _ := checkpointJournal(t, 1500)
	offs := tickFrames(t, full)
	diverged := diverge(full, offs[34]) // the recorded hash of tick 35
	img, err := os.ReadFile(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	badCkpt := bytes.Clone(img)
	badCkpt[len(badCkpt)/2] ^= 1
	otherCfg := engine.DefaultConfig()
	otherCfg.Regions, otherCfg.ZonesX, otherCfg.ZonesY, otherCfg.MaxPlayers = 1, 4, 4, 17
	var ob bytes.Buffer
	jw, err := journal.NewWriter(&ob, otherCfg, 0, journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	jw.Close()

	good, segment := save(t, full), save(t, seg)
	after := ticks - ckptTick
	for _, tc := range []runCase{
		{
			name: "full journal", args: []string{"--checkpoint", ckpt, good}, code: 0,
			out: []string{
				fmt.Sprintf("checkpoint %s: tick %d, hash %#016x", ckpt, ckptTick, hashes[ckptTick-1]),
				fmt.Sprintf("format v%d, starts after tick 0", journal.Version),
				fmt.Sprintf("checkpoint matches the journal's hash of tick %d", ckptTick),
				fmt.Sprintf("replayed %d ticks (%d..%d); final tick %d, hash %#016x", after, ckptTick+1, ticks, ticks, hashes[ticks-1]),
				fmt.Sprintf("OK: all %d hashes match", after),
			},
		},
		{
			name: "segment", args: []string{"-checkpoint=" + ckpt, segment}, code: 0,
			out: []string{
				fmt.Sprintf("starts after tick %d", ckptTick),
				fmt.Sprintf("replayed %d ticks (%d..%d)", after, ckptTick+1, ticks),
				fmt.Sprintf("OK: all %d hashes match", after),
			},
			noOut: []string{"checkpoint matches"},
		},
		{
			name: "segment without its checkpoint", args: []string{segment}, code: 2,
			err: []string{"needs the checkpoint of that tick"},
		},
		{
			name: "verbose", args: []string{"--verbose", "--checkpoint", ckpt, good}, code: 0,
			out:   []string{fmt.Sprintf("tick %d: journal %#016x replay %#016x ok", ckptTick+1, hashes[ckptTick], hashes[ckptTick])},
			noOut: []string{fmt.Sprintf("tick %d:", ckptTick)},
		},
		{
			name: "until", args: []string{"--until", "30", "--checkpoint", ckpt, good}, code: 0,
			out: []string{fmt.Sprintf("final tick 30, hash %#016x", hashes[29]), "OK: all 10 hashes match"},
		},
		{
			name: "until before the checkpoint", args: []string{"--until", "20", "--checkpoint", ckpt, good}, code: 2,
			err: []string{"--until 20 is not after the checkpoint's tick 20"},
		},
		{
			name: "diverged", args: []string{"--checkpoint", ckpt, save(t, diverged)}, code: 1,
			out: []string{fmt.Sprintf("DIVERGED at tick 35: journal hash %#016x, replay hash %#016x", hashes[34]^1, hashes[34]), "replayed 15 ticks"},
		},
		{
			name: "checkpoint of another run", args: []string{"--checkpoint", foreign, good}, code: 1,
			out:   []string{fmt.Sprintf("DIVERGED at tick %d: journal hash %#016x", ckptTick, hashes[ckptTick-1]), "replayed 0 ticks after the checkpoint's tick 20"},
			noOut: []string{"OK", "checkpoint matches"},
		},
		{
			name: "journal ends before the checkpoint", args: []string{"--checkpoint", ckpt, save(t, full[:offs[15]])}, code: 2,
			err: []string{"ends before the checkpoint's tick 20"}, noOut: []string{"OK"},
		},
		{
			name: "journal of another world", args: []string{"--checkpoint", ckpt, save(t, ob.Bytes())}, code: 2,
			err: []string{"config differs"}, noOut: []string{"OK"},
		},
		{
			name: "corrupt checkpoint", args: []string{"--checkpoint", save(t, badCkpt), good}, code: 2,
			err: []string{"bad checkpoint", "checksum"}, noOut: []string{"OK", "journal "},
		},
		{
			name: "journal as checkpoint", args: []string{"--checkpoint", good, good}, code: 2,
			err: []string{"not a checkpoint"},
		},
		{
			name: "missing checkpoint", args: []string{"--checkpoint", filepath.Join(t.TempDir(), "nope"), good}, code: 2,
			err: []string{"no such file"},
		},
	} {
		tc.check(t)
	}
}
