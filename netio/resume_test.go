package netio

import (
	"bytes"
	"testing"
	"time"

	"github.com/treasured/treasured/engine"
	"github.com/treasured/treasured/schema"
)

// joinRec is the RecJoin a handshake queued.
func joinRec(t *testing.T, r *loopRig) engine.Record {
	t.Helper()
	for _, e := range r.drain() {
		if e.rec.Kind == engine.RecJoin {
			return e.rec
		}
	}
	t.Fatal("no RecJoin in the ring")
	return engine.Record{}
}

// TestResumeSameSlot: with a grace period, the slot of an ended session is
// kept for its player key: another player who connects meanwhile gets
// another slot (without the grace, the freed slot is the first one handed
// out), and the key's reconnect, from a new address, gets the same slot
// with the next generation (the engine resumes its parked player there).
// After the grace the slot is free for anyone.
func TestResumeSameSlot(t *testing.T) {
	const grace = 5 * time.Second
	r := newRig(t, rigOpts{slots: 4})
	r.l.part.restore(nil, int64(grace))
	w := r.join(testAddr("127.0.0.1:7000"), 1) // key 10
	first := joinRec(t, r)
	r.send(bytes.Clone(r.enc.Bye(&schema.ByeFrame{SessionID: w.SessionID})), testAddr("127.0.0.1:7000"))
	r.drain()

	other := r.join(testAddr("127.0.0.1:7001"), 2) // key 20
	if other.PlayerID == w.PlayerID {
		t.Fatalf("another key got the parked slot %d", w.PlayerID)
	}
	r.drain()
	again := r.join(testAddr("127.0.0.1:7002"), 1) // key 10 again
	rec := joinRec(t, r)
	if again.PlayerID != w.PlayerID || rec.Player != first.Player || rec.Gen != first.Gen+1 || rec.Key != 10 {
		t.Fatalf("reconnect got slot %d gen %d, want slot %d gen %d", again.PlayerID, rec.Gen, w.PlayerID, first.Gen+1)
	}
	if again.SessionID == w.SessionID || r.stats.Resumes.Load() != 1 {
		t.Fatalf("session id reused or resume not counted (%d)", r.stats.Resumes.Load())
	}

	// Park it again, let the grace pass: the slot is anybody's, with the
	// next generation.
	r.send(bytes.Clone(r.enc.Bye(&schema.ByeFrame{SessionID: again.SessionID})), testAddr("127.0.0.1:7002"))
	r.drain()
	r.now += int64(grace) + 1
	r.l.sweep(r.now)
	third := r.join(testAddr("127.0.0.1:7003"), 3)
	if rec := joinRec(t, r); third.PlayerID != w.PlayerID || rec.Gen != first.Gen+2 {
		t.Fatalf("after the grace: slot %d gen %d, want the freed slot %d with gen %d", third.PlayerID, rec.Gen, w.PlayerID, first.Gen+2)
	}
}

// TestResumeRestore: a server started on a recovered world reserves the
// slots of its parked players for their keys and continues every slot's
// generations, so no (slot, generation) names two players across the
// restart.
func TestResumeRestore(t *testing.T) {
	r := newRig(t, rigOpts{slots: 4})
	r.l.part.restore(func(slot int32) (uint32, uint64, bool) {
		if slot == 0 {
			return 7, 30, true // key 30 parked in slot 0 at generation 7
		}
		return 3 + uint32(slot), 0, false
	}, int64(time.Minute))
	r.join(testAddr("127.0.0.1:7000"), 1)
	if rec := joinRec(t, r); rec.Player != 1 || rec.Gen != 5 {
		t.Fatalf("new key got slot %d gen %d, want slot 1 (0 is parked) gen 5", rec.Player, rec.Gen)
	}
	r.join(testAddr("127.0.0.1:7001"), 3) // key 30
	if rec := joinRec(t, r); rec.Player != 0 || rec.Gen != 8 {
		t.Fatalf("parked key got slot %d gen %d, want slot 0 gen 8", rec.Player, rec.Gen)
	}
}
