package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/treasured/treasured/engine"
	"github.com/treasured/treasured/engine/journal"
	"github.com/treasured/treasured/schema"
	"github.com/treasured/treasured/schema/wire"
)

const ticks = 50

// walkers are the records of the next tick of the test worlds: 10 players
// join at tick 1, then each walks towards x = dx*(player+1).
func walkers(w *engine.World, dx int32) []engine.Record {
	var recs []engine.Record
	for p := range int32(10) {
		if w.Tick() == 0 {
			recs = append(recs, engine.Record{Kind: engine.RecJoin, Player: p, Gen: 1, Key: uint64(p) + 1})
			continue
		}
		r := engine.Record{Kind: engine.RecInput, Player: p, Gen: 1, N: 1, AckTick: w.Tick()}
		r.Actions[0] = schema.Action{Seq: w.Tick(), Kind: uint8(wire.ActionKindMove), Pos: schema.Vec2{X: dx * (p + 1), Y: 70_000}}
		recs = append(recs, r)
	}
	return recs
}

// walkersWorld is the small fresh world the walkers scenario runs in.
func walkersWorld(t *testing.T) *engine.World {
	t.Helper()
	cfg := engine.DefaultConfig()
	cfg.Regions, cfg.ZonesX, cfg.ZonesY, cfg.MaxPlayers = 1, 4, 4, 16
	w, err := engine.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// writeJournal runs a small world for 50 ticks (10 players join, then walk
// around) with a journal file, as the server does, and returns the file's
// bytes and the live hash after each tick.
func writeJournal(t *testing.T) ([]byte, []uint64) {
	t.Helper()
	w := walkersWorld(t)
	path := filepath.Join(t.TempDir(), "j")
	jw, err := journal.Create(path, w.Config(), w.Tick(), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var hashes []uint64
	for range ticks {
		w.Step(walkers(w, 1000))
		if err := jw.Append(w.Tick(), w.LastOrdered(), w.Hash()); err != nil {
			t.Fatal(err)
		}
		hashes = append(hashes, w.Hash())
	}
	if err := jw.Close(); err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return file, hashes
}

// tickFrames is frames of a journal of the scenario's ticks, which it
// checks has one frame per tick.
func tickFrames(t *testing.T, file []byte) []int {
	t.Helper()
	offs := frames(file)
	if len(offs) != ticks {
		t.Fatalf("%d frames", len(offs))
	}
	return offs
}

// diverge is a copy of file whose recorded hash of the frame at off is
// wrong and whose CRC is right: a replay that diverges there, not a
// corrupt file.
func diverge(file []byte, off int) []byte {
	d := bytes.Clone(file)
	d[off+12] ^= 1
	refix(d, off)
	return d
}

// frames returns each frame's offset, from the documented layout: a
// HeaderSize header, then frames that start with their size.
func frames(file []byte) []int {
	var offs []int
	for off := journal.HeaderSize; off+4 <= len(file); off += int(binary.LittleEndian.Uint32(file[off:])) {
		offs = append(offs, off)
	}
	return offs
}

// refix recomputes the CRC-32C of the frame at off, as engine/journal's doc.go lays it out.
func refix(file []byte, off int) {
	size := int(binary.LittleEndian.Uint32(file[off:]))
	sum := crc32.Checksum(file[off:off+size-4], crc32.MakeTable(crc32.Castagnoli))
	binary.LittleEndian.PutUint32(file[off+size-4:], sum)
}

func runWith(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return code, o.String(), e.String()
}

func save(t *testing.T, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "journal")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestExitCodes(t *testing.T) {
	file, hashes := writeJournal(t)
	offs := tickFrames(t, file)

	diverged := diverge(file, offs[29]) // the recorded hash of tick 30
	corrupt := bytes.Clone(file)
	corrupt[offs[9]+20] ^= 0xff

	good := save(t, file)
	var seg bytes.Buffer // a segment a restarted server began at tick 300
	jw, err := journal.NewWriter(&seg, engine.DefaultConfig(), 300, journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := jw.Append(301, nil, 1); err != nil {
		t.Fatal(err)
	}
	jw.Close()
	for _, tc := range []runCase{
		{
			name: "ok", args: []string{good}, code: 0,
			out: []string{
				fmt.Sprintf("format v%d, starts after tick 0", journal.Version),
				fmt.Sprintf("replayed %d ticks (1..%d); final tick %d, hash %#016x", ticks, ticks, ticks, hashes[ticks-1]),
				fmt.Sprintf("OK: all %d hashes match", ticks),
			},
			lineCount: 3,
		},
		{
			name: "verbose", args: []string{"--verbose", good}, code: 0,
			out:       []string{fmt.Sprintf("tick 7: journal %#016x replay %#016x ok", hashes[6], hashes[6])},
			lineCount: 3 + ticks, prefix: fmt.Sprintf("journal %s: format v%d", good, journal.Version),
		},
		{
			name: "header only", args: []string{save(t, file[:journal.HeaderSize])}, code: 0,
			out: []string{"replayed 0 ticks", "OK: all 0 hashes match"},
		},
		{
			name: "segment after a checkpoint", args: []string{save(t, seg.Bytes())}, code: 2,
			out: []string{"starts after tick 300"}, err: []string{"needs the checkpoint of that tick"}, noOut: []string{"OK"},
		},
		{
			name: "until", args: []string{"--until", "20", good}, code: 0,
			out: []string{fmt.Sprintf("final tick 20, hash %#016x", hashes[19]), "OK: all 20 hashes match"},
		},
		{
			name: "until past the end", args: []string{"-until=80", good}, code: 0,
			out: []string{"OK: all 50 hashes match"}, err: []string{"ends at tick 50, before --until 80"},
		},
		{
			name: "diverged", args: []string{"--verbose", save(t, diverged)}, code: 1,
			out: []string{
				fmt.Sprintf("DIVERGED at tick 30: journal hash %#016x, replay hash %#016x", hashes[29]^1, hashes[29]),
				"tick 30: journal", "DIFFERS", "replayed 30 ticks",
			},
			noOut: []string{"tick 31:", "OK"},
		},
		{
			name: "truncated tail", args: []string{save(t, file[:len(file)-5])}, code: 0,
			out: []string{"OK: all 49 hashes match"},
			err: []string{fmt.Sprintf("warning: journal: truncated tail at offset %d (tick 50)", offs[49]), "49 complete ticks"},
		},
		{
			name: "corrupt middle", args: []string{save(t, corrupt)}, code: 2,
			out: []string{"replayed 9 ticks"}, noOut: []string{"OK", "DIVERGED"},
			err: []string{fmt.Sprintf("corrupt frame at offset %d (tick 10)", offs[9])},
		},
		{
			name: "not a journal", args: []string{save(t, []byte(strings.Repeat("hello ", 40)))}, code: 2,
			err: []string{"bad header", "not a journal file"}, noOut: []string{"OK"},
		},
		{name: "missing file", args: []string{filepath.Join(t.TempDir(), "nope")}, code: 2, err: []string{"no such file"}},
		{name: "no file", args: nil, code: 2, err: []string{"want one journal file, got 0", "usage:"}},
		{name: "two files", args: []string{good, good}, code: 2, err: []string{"got 2 arguments"}},
		{name: "bad until", args: []string{"--until", "soon", good}, code: 2, err: []string{`invalid value "soon" for flag -until`}},
		{name: "huge until", args: []string{"--until", "5000000000", good}, code: 2, err: []string{"beyond the last possible tick"}},
		{name: "unknown flag", args: []string{"--fast", good}, code: 2, err: []string{"flag provided but not defined: -fast"}},
		{name: "help", args: []string{"-h"}, code: 0, err: []string{"usage: treasure-replay"}},
	} {
		tc.check(t)
	}
}

// runCase is one command line of treasure-replay and what it must do.
type runCase struct {
	name      string
	args      []string
	code      int
	out, err  []string // substrings of stdout and stderr
	noOut     []string
	lineCount int    // lines of stdout, if not 0
	prefix    string // stdout starts with it
}

// check runs the command line and reports every way it fell short.
func (tc runCase) check(t *testing.T) {
	t.Helper()
	code, out, errOut := runWith(t, tc.args...)
	if code != tc.code {
		t.Errorf("%s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", tc.name, code, tc.code, out, errOut)
		return
	}
	for _, s := range tc.out {
		if !strings.Contains(out, s) {
			t.Errorf("%s: stdout lacks %q:\n%s", tc.name, s, out)
		}
	}
	for _, s := range tc.noOut {
		if strings.Contains(out, s) {
			t.Errorf("%s: stdout has %q:\n%s", tc.name, s, out)
		}
	}
	for _, s := range tc.err {
		if !strings.Contains(errOut, s) {
			t.Errorf("%s: stderr lacks %q:\n%s", tc.name, s, errOut)
		}
	}
	if !strings.HasPrefix(out, tc.prefix) {
		t.Errorf("%s: stdout does not start with %q:\n%s", tc.name, tc.prefix, out)
	}
	if n := strings.Count(out, "\n"); tc.lineCount != 0 && n != tc.lineCount {
		t.Errorf("%s: %d lines of stdout, want %d:\n%s", tc.name, n, tc.lineCount, out)
	}
}
