package engine

import (
	"fmt"
	"runtime"
	"slices"
	"testing"

	"github.com/treasured/treasured/schema"
)

// Benchmarks of the standard action mix (driver_test.go) in the default world
// (3 regions x 32x32 zones of 32 m, 12,288 chests). One op is one tick.
//
//	go test -run=^$ -bench=. -benchmem -count=6 ./engine
//
// The world is fixed, so density grows with the player count: ~0.3, 3.3 and
// 16 players per zone; a view is 9 zones. players/snap reports how many
// player states a snapshot carries, more% how often one did not fit.

// benchWorld is a warmed world per player count, shared by the benchmarks
// and their -count repetitions: warming 50k players takes seconds, and a
// world that keeps running is exactly the steady state to measure.
type benchWorld struct {
	w  *World
	d  *mixDriver
	sc *Scratch
}

var benchWorlds = map[int]*benchWorld{}

const benchWarmTicks = 300

func getBenchWorld(b *testing.B, n int) *benchWorld {
	if bw := benchWorlds[n]; bw != nil {
		return bw
	}
	cfg := DefaultConfig()
	cfg.MaxPlayers = max(cfg.MaxPlayers, n)
	w, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	bw := &benchWorld{w: w, d: newMixDriver(w, n, 42), sc: NewScratch()}
	bw.d.churn = int32(max(1, n/2000)) // sessions of ~100 s on average
	w.Step(bw.d.joins())
	bw.snapshots()
	for range benchWarmTicks {
		bw.tick()
	}
	benchWorlds[n] = bw
	return bw
}

// snapshots builds every active player's snapshot, as the fan-out would.
func (bw *benchWorld) snapshots() int {
	total := 0
	for i := range bw.d.n {
		total += len(bw.w.Snapshot(i, bw.sc))
	}
	bw.d.ack = bw.w.Tick()
	return total
}

// untimedInputs is the next tick's inputs, made with the timer stopped.
func (bw *benchWorld) untimedInputs(b *testing.B) []Record {
	b.StopTimer()
	defer b.StartTimer()
	return bw.d.inputs()
}

func (bw *benchWorld) tick() {
	bw.w.Step(bw.d.inputs())
	bw.snapshots()
}

var benchSink int

// benchSizes runs body as one sub-benchmark per world size, on a locked
// thread (threadCPU reads this thread's CPU clock), with allocations
// reported and the thread CPU time body measured as cpu-ns/op.
func benchSizes(b *testing.B, sizes []int, body func(b *testing.B, bw *benchWorld) (cpuNs int64)) {
	for _, n := range sizes {
		b.Run(fmt.Sprintf("players=%d", n), func(b *testing.B) {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			bw := getBenchWorld(b, n)
			b.ReportAllocs()
			cpu := body(b, bw)
			b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}

func BenchmarkStep(b *testing.B) {
	benchSizes(b, []int{1000, 10_000, 50_000}, func(b *testing.B, bw *benchWorld) (cpu int64) {
		for b.Loop() {
			recs := bw.untimedInputs(b)
			c0 := threadCPU()
			bw.w.Step(recs)
			cpu += threadCPU() - c0
			b.StopTimer()
			benchSink += bw.snapshots()
			b.StartTimer()
		}
		return cpu
	})
}

func BenchmarkTick(b *testing.B) {
	benchSizes(b, []int{1000, 10_000, 50_000}, func(b *testing.B, bw *benchWorld) (cpu int64) {
		st0 := bw.sc.Stats
		for b.Loop() {
			recs := bw.untimedInputs(b)
			c0 := threadCPU()
			bw.w.Step(recs)
			benchSink += bw.snapshots()
			cpu += threadCPU() - c0
		}
		st := bw.sc.Stats
		snaps := float64(st.Snapshots - st0.Snapshots)
		b.ReportMetric(float64(st.Bytes-st0.Bytes)/snaps, "B/snap")
		b.ReportMetric(float64(st.Players-st0.Players)/snaps, "players/snap")
		b.ReportMetric(100*float64(st.More-st0.More)/snaps, "more%")
		return cpu
	})
}

// BenchmarkSnapshots: building and encoding every player's snapshot, per
// tick (Step excluded).
func BenchmarkSnapshots(b *testing.B) {
	benchSizes(b, []int{10_000}, func(b *testing.B, bw *benchWorld) (cpu int64) {
		for b.Loop() {
			b.StopTimer()
			bw.w.Step(bw.d.inputs())
			b.StartTimer()
			c0 := threadCPU()
			benchSink += bw.snapshots()
			cpu += threadCPU() - c0
		}
		return cpu
	})
}

// BenchmarkEncode: the schema encoder alone on one tick's 10,000 snapshot
// frames (copied after a real tick). BenchmarkSnapshots minus this is the
// engine's own share (interest scan, packing, delivery bookkeeping).
func BenchmarkEncode(b *testing.B) {
	bw := getBenchWorld(b, 10_000)
	bw.w.Step(bw.d.inputs())
	frames := make([]schema.SnapshotFrame, 0, bw.d.n)
	for i := range bw.d.n {
		if bw.w.Snapshot(i, bw.sc) == nil {
			continue
		}
		f := bw.sc.frame
		f.Chests, f.Players = slices.Clone(f.Chests), slices.Clone(f.Players)
		f.Gone, f.Events = slices.Clone(f.Gone), slices.Clone(f.Events)
		frames = append(frames, f)
	}
	bw.d.ack = bw.w.Tick()
	enc := schema.NewEncoder()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ReportAllocs()
	c0 := threadCPU()
	for b.Loop() {
		for i := range frames {
			benchSink += len(enc.Snapshot(&frames[i]))
		}
	}
	b.ReportMetric(float64(threadCPU()-c0)/float64(b.N), "cpu-ns/op")
}

// BenchmarkHash: the state hash recomputed from scratch over the 10,000
// player world (what a non-incremental hash would cost every tick), and the
// incremental hash's unit of work, one entity (Step rehashes only the
// entities a tick changed: Stats.DirtyRehashed).
func BenchmarkHash(b *testing.B) {
	bw := getBenchWorld(b, 10_000)
	b.Run("full", func(b *testing.B) {
		for b.Loop() {
			benchSink += int(bw.w.fullHash() & 1)
		}
	})
	b.Run("player", func(b *testing.B) {
		i := int32(0)
		for b.Loop() {
			benchSink += int(bw.w.hashPlayer(i) & 1)
			i = (i + 1) % bw.d.n
		}
	})
}

// BenchmarkActivePlayers: the fan-out's list of whom to send to, once per
// tick, at 1,000 players in the default 16,384 slots. "scan" is the loop
// over every slot's active field that activeBits replaced, kept here as
// the same-run reference. In the server the list is built once per tick
// after everything else has run, so the cold variants first evict the
// caches (a 64 MiB walk, untimed), as a tick's other work does; give them
// a fixed count, or the untimed walks run for hours:
//
//	go test -run='^$' -bench=ActivePlayers -benchtime=300x -count=6 ./engine
func BenchmarkActivePlayers(b *testing.B) {
	bw := getBenchWorld(b, 1000)
	dst := make([]int32, 0, bw.w.cfg.MaxPlayers)
	scan := func() { dst = activeByScan(bw.w, dst[:0]) }
	bits := func() { dst = bw.w.ActivePlayers(dst[:0]) }
	evict := make([]byte, 64<<20)
	for _, c := range []struct {
		name string
		f    func()
		cold bool
	}{{"bits", bits, false}, {"scan", scan, false}, {"bits-cold", bits, true}, {"scan-cold", scan, true}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if c.cold {
					b.StopTimer()
					for i := 0; i < len(evict); i += 64 {
						evict[i]++
					}
					b.StartTimer()
				}
				c.f()
			}
			if len(dst) != 1000 {
				b.Fatalf("%d active players, want 1000", len(dst))
			}
		})
	}
}
