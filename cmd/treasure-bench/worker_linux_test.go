//go:build linux

package main

import (
	"testing"
	"time"

	"github.com/treasured/treasured/client"
	"github.com/treasured/treasured/schema"
)

func TestCeilDiv(t *testing.T) {
	for _, c := range [][3]int64{{10, 5, 2}, {11, 5, 3}, {0, 5, 0}, {-11, 5, -2}, {-10, 5, -2}, {1, 50, 1}} {
		if got := ceilDiv(c[0], c[1]); got != c[2] {
			t.Errorf("ceilDiv(%d, %d) = %d, want %d", c[0], c[1], got, c[2])
		}
	}
}

// The tick clock: the warm-up's fastest snapshot fixes the epoch, measured
// snapshots record their delay beyond it, the loss window covers exactly
// the ticks scheduled inside the measurement window.
func TestTickClockEstimate(t *testing.T) {
	const ms = int64(1e6)
	const period = 50 * ms
	w := &Worker{res: newWorkerResult(), period: period}
	w.plan = &Plan{Start: 0, MeasureStart: 1000 * ms, MeasureEnd: 2000 * ms, DrainEnd: 2500 * ms}
	w.epochMin = 1<<63 - 1
	p := &player{}
	// Server epoch (scheduled start of tick 0) at 7 ms on our clock;
	// snapshots arrive 3..7 ms after their tick's start.
	const epoch = 7 * ms
	snap := func(tick uint32, delay int64) {
		f := &schema.SnapshotFrame{Tick: tick}
		w.onSnapshot(p, f, epoch+int64(tick)*period+delay)
	}
	for k := uint32(0); k < 20; k++ {
		snap(k, 3*ms+int64(k%5)*ms)
	}
	w.freezeEpoch()
	if w.res.Epoch != epoch+3*ms || w.res.EpochSamples != 20 {
		t.Fatalf("epoch %d (want %d), samples %d", w.res.Epoch, epoch+3*ms, w.res.EpochSamples)
	}
	// Ticks whose estimated start (epoch + 3 ms + k*50 ms) lies in [1 s, 2 s).
	if w.tStart != 20 || w.tEnd != 39 {
		t.Fatalf("window ticks [%d, %d], want [20, 39]", w.tStart, w.tEnd)
	}
	snap(19, 30*ms) // before the window: not counted
	snap(20, 5*ms)  // 2 ms beyond the fastest
	snap(39, 13*ms) // 10 ms beyond
	snap(40, 3*ms)  // after the window
	snap(30, 1*ms)  // faster than the warm-up's fastest: recorded as 0, counted
	if p.winTicks != 3 || w.res.TickToWire.TotalCount() != 3 {
		t.Fatalf("window ticks %d, recorded %d", p.winTicks, w.res.TickToWire.TotalCount())
	}
	if w.res.BelowEpoch != 1 || w.res.BelowEpochMin != -2*ms {
		t.Fatalf("below %d min %d", w.res.BelowEpoch, w.res.BelowEpochMin)
	}
	h := w.res.TickToWire
	if h.Min() != 0 || !h.ValuesAreEquivalent(h.Max(), 10_000) {
		t.Fatalf("t2w min %d max %d µs", h.Min(), h.Max())
	}
}

// A player whose handshake timed out stays failed when its Welcome comes
// late: it is not counted connected as well, and it sends nothing.
func TestLateWelcomeAfterFailure(t *testing.T) {
	w, _ := sharedWorker(t, 1, 2)
	p := w.players[0]
	w.connectStep(0, int64(time.Hour)) // Hello
	w.flushAll()
	if p.sess.State() != client.StateHello {
		t.Fatalf("state %v", p.sess.State())
	}
	w.hs[w.hsHead].due = 0
	w.connectStep(1, 1) // timed out
	if !p.failed || w.res.Failed != 1 {
		t.Fatalf("failed %v (%d)", p.failed, w.res.Failed)
	}
	enc := schema.NewEncoder()
	nonce := playerNonce(w.cfg.Seed, p.idx)
	w.handle(p, enc.Challenge(&schema.ChallengeFrame{ClientNonce: nonce, Expiry: 1}))
	w.handle(p, enc.Welcome(&schema.WelcomeFrame{SessionID: 1 << 63, TickHz: 20, ClientNonce: nonce}))
	if w.res.Connected != 0 {
		t.Fatalf("a failed player counted connected (state %v)", p.sess.State())
	}
	w.plan = &Plan{MeasureStart: 0, MeasureEnd: 10}
	w.sendPing(p, 1)
	if w.res.SkippedNotConnected != 1 || len(p.s.out) != 0 {
		t.Fatalf("a failed player sent: skipped %d, queued %d", w.res.SkippedNotConnected, len(p.s.out))
	}
}
