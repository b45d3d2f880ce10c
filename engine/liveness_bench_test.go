package engine

import (
	"fmt"
	"runtime"
	"testing"
)

// BenchmarkStepPlayers is Step alone (snapshots built outside the timer) at
// 4,200 players, all acknowledging ("honest") or with 400 of them never
// acknowledging ("silent=400"): the per-tick cost of the liveness check is
// the difference against a build without it (BENCHMARKS.md, issue 10).
//
//	go test -run='^$' -bench=StepPlayers -benchmem -count=6 ./engine
func BenchmarkStepPlayers(b *testing.B) {
	for _, silent := range []int{0, 400} {
		b.Run(fmt.Sprintf("players=4200/silent=%d", silent), func(b *testing.B) {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			w, err := New(DefaultConfig())
			if err != nil {
				b.Fatal(err)
			}
			d := newMixDriver(w, 4200, 42)
			sc := NewScratch()
			honest := int32(4200 - silent)
			inputs := func() []Record {
				recs := d.inputs()
				for k := range recs {
					if recs[k].Player >= honest {
						recs[k].AckTick = 0
					}
				}
				return recs
			}
			snaps := func() {
				for i := range d.n {
					w.Snapshot(i, sc)
				}
				d.ack = w.Tick()
			}
			w.Step(d.joins())
			// Past the liveness horizon, so the silent players' events age.
			for range 400 {
				w.Step(inputs())
				snaps()
			}
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				recs := inputs()
				b.StartTimer()
				w.Step(recs)
				b.StopTimer()
				snaps()
				b.StartTimer()
			}
		})
	}
}
