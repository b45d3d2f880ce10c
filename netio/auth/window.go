package auth

import "github.com/treasured/treasured/engine/seqwin"

// Window is the anti-replay window of one receiving direction, the uint64
// instance of the window the engine keeps for action_seq, whose verdicts it
// turns into this package's errors.
//
// Check and Accept are separate, as RFC 4303 §3.4.3 says: a datagram is
// checked before its tag is verified (cheap refusal of replays) and recorded
// only after, so a forged datagram cannot advance the window and lock out the
// real ones.
//
// 64 datagrams is 1.6 s of a 20 Hz stream counted one way plus its pings: a
// datagram reordered further than that is refused as too old, which costs a
// client one Input (repeated in the next) or a snapshot (superseded by the
// next).
type Window struct{ w seqwin.Window[uint64] }

// NewWindow is the window of a fresh session: seq 0 is never valid.
func NewWindow() Window { return Window{seqwin.New[uint64]()} }

// Check says whether seq may be new: nil, ErrReplayedDatagram or ErrTooOld.
// It does not record seq.
func (w *Window) Check(seq uint64) error {
	switch w.w.Check(seq) {
	case seqwin.Fresh:
		return nil
	case seqwin.Dup:
		return ErrReplayedDatagram
	default: // Stale, or Zero (below every window)
		return ErrTooOld
	}
}

// Accept records seq, which Check allowed and whose tag verified.
func (w *Window) Accept(seq uint64) { w.w.Accept(seq) }

// High is the highest sequence number accepted.
func (w *Window) High() uint64 { return w.w.High() }
