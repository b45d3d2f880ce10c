package journal

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/treasured/treasured/engine"
	"github.com/treasured/treasured/schema"
	"github.com/treasured/treasured/schema/wire"
)

// players4200 is a default world with 4,200 players who each send one Input
// a tick: a Move towards a point that changes every 40 ticks, and every 200
// ticks an OpenChest of a chest of their zone (most are out of reach; the
// ones in reach make loot, events and queue entries).
type players4200 struct {
	w    *engine.World
	recs []engine.Record
}

const benchPlayers = 4200

func (p *players4200) records() []engine.Record {
	p.recs = p.recs[:0]
	t := p.w.Tick()
	for i := range int32(benchPlayers) {
		if t == 0 {
			p.recs = append(p.recs, engine.Record{Kind: engine.RecJoin, Player: i, Gen: 1, Region: uint8(i % 3), Key: uint64(i) + 1})
			continue
		}
		r := engine.Record{Kind: engine.RecInput, Player: i, Gen: 1, AckTick: t, N: 1}
		h := uint64(i)*0x9e3779b97f4a7c15 + uint64(t/40)*0xbf58476d1ce4e5b9
		r.Actions[0] = schema.Action{Seq: t, Kind: uint8(wire.ActionKindMove),
			Pos: schema.Vec2{X: int32(h % 1_024_000), Y: int32(h >> 40 % 1_024_000)}}
		if (t+uint32(i))%200 == 0 {
			ps, _ := p.w.Player(i)
			r.Actions[0] = schema.Action{Seq: t, Kind: uint8(wire.ActionKindOpenChest), Target: uint64(ps.Zone) * 4}
		}
		p.recs = append(p.recs, r)
	}
	return p.recs
}

// recoveryDir4200 writes a data directory of the default world with 4,200
// players: a checkpoint at tick 200, then 199 more ticks of journal, the
// worst case of the default 10 s checkpoint interval (a crash just before
// the next checkpoint). It returns the directory.
func recoveryDir4200(b *testing.B) string {
	b.Helper()
	dir := b.TempDir()
	d, _, err := Open(dir, engine.DefaultConfig(), DirOptions{CheckpointEvery: 200, Keep: 2})
	if err != nil {
		b.Fatal(err)
	}
	w := d.World()
	p := &players4200{w: w}
	for range 399 {
		w.Step(p.records())
		if err := d.Append(w.Tick(), w.LastOrdered(), w.Hash()); err != nil {
			b.Fatal(err)
		}
		if w.Tick() == 200 {
			for d.Stats().LastCheckpoint.Load() != 200 {
				time.Sleep(time.Millisecond)
			}
		}
	}
	if err := d.Close(); err != nil {
		b.Fatal(err)
	}
	return dir
}

func copyFiles(b *testing.B, from, to string) {
	b.Helper()
	ents, err := os.ReadDir(from)
	if err != nil {
		b.Fatal(err)
	}
	for _, e := range ents {
		data, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRecover4200: what a restart of a 4,200-player server costs
// before it can tick: Open = load the checkpoint (2.2 MB) + replay 199
// ticks of journal + end the 4,200 sessions (one journaled tick) + start a
// segment. The copy of the directory for each iteration is not timed; the
// files are in the page cache, as after a kill -9 (not after a reboot).
func BenchmarkRecover4200(b *testing.B) {
	src := recoveryDir4200(b)
	var load, replay time.Duration
	for b.Loop() {
		b.StopTimer()
		dir := b.TempDir()
		copyFiles(b, src, dir)
		b.StartTimer()
		d, rec, err := Open(dir, engine.DefaultConfig(), DirOptions{CheckpointEvery: 200})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if rec.CheckpointTick != 200 || rec.Replayed != 199 || rec.Ended != benchPlayers {
			b.Fatalf("recovery %+v", rec)
		}
		load += rec.Load
		replay += rec.Replay
		d.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(load.Milliseconds())/float64(b.N), "load-ms/op")
	b.ReportMetric(float64(replay.Milliseconds())/float64(b.N), "replay-ms/op")
}

// BenchmarkCheckpointTick4200: the tick goroutine's time in Dir.Append at
// 4,200 players, for an ordinary tick (journal: the frame, ~200 KB, written
// to the file) and for a checkpoint tick (checkpoint: the same plus the
// 2.3 MB encoding into the reused buffer and the rotation to the segment
// created ahead). The difference is what a checkpoint adds to its tick. The
// writer goroutine's file work is waited for outside the timer.
func BenchmarkCheckpointTick4200(b *testing.B) {
	for _, every := range []struct {
		name  string
		ticks uint32
	}{{"journal", 1 << 30}, {"checkpoint", 1}} {
		b.Run(every.name, func(b *testing.B) {
			d, _, err := Open(b.TempDir(), engine.DefaultConfig(), DirOptions{CheckpointEvery: every.ticks, Keep: 2, Journal: Options{SyncEvery: -1}})
			if err != nil {
				b.Fatal(err)
			}
			defer d.Close()
			w := d.World()
			p := &players4200{w: w}
			step := func() {
				if err := d.Append(w.Tick(), w.LastOrdered(), w.Hash()); err != nil {
					b.Fatal(err)
				}
			}
			for range 50 {
				w.Step(p.records())
				step()
				if every.ticks == 1 {
					waitCheckpointB(b, d, w.Tick())
				}
			}
			for b.Loop() {
				b.StopTimer()
				w.Step(p.records())
				b.StartTimer()
				step()
				b.StopTimer()
				if every.ticks == 1 {
					waitCheckpointB(b, d, w.Tick())
				}
				b.StartTimer()
			}
			if d.Stats().CheckpointSkipped.Load() != 0 || d.Stats().CheckpointErrors.Load() != 0 {
				b.Fatalf("skipped %d, errors %d", d.Stats().CheckpointSkipped.Load(), d.Stats().CheckpointErrors.Load())
			}
		})
	}
}

func waitCheckpointB(b *testing.B, d *Dir, tick uint32) {
	for d.Stats().LastCheckpoint.Load() != tick {
		time.Sleep(100 * time.Microsecond)
	}
}
