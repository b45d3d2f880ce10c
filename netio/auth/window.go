package auth

// Window is the anti-replay window of one receiving direction (RFC 4303
// §3.4.3): the highest sequence number accepted and a bitmap of the 64 below
// it. It is the uint64 twin of the engine's action window; the two are kept
// apart because the engine must not depend on the transport's cryptography.
//
// Check and Accept are separate, as the RFC says: a datagram is checked
// before its tag is verified (cheap refusal of replays) and recorded only
// after, so a forged datagram cannot advance the window and lock out the
// real ones.
//
// 64 datagrams is 1.6 s of a 20 Hz stream counted one way plus its pings: a
// datagram reordered further than that is refused as too old, which costs a
// client one Input (repeated in the next) or a snapshot (superseded by the
// next).
type Window struct {
	high uint64 // highest seq accepted
	mask uint64 // bit i set: seq high-1-i accepted
}

// NewWindow is the window of a fresh session: seq 0 is never valid.
func NewWindow() Window { return Window{mask: ^uint64(0)} }

// Check says whether seq may be new: nil, ErrReplayedDatagram or ErrTooOld.
// It does not record seq.
func (w *Window) Check(seq uint64) error {
	if seq == 0 {
		return ErrTooOld
	}
	if seq > w.high {
		return nil
	}
	if seq == w.high {
		return ErrReplayedDatagram
	}
	i := w.high - 1 - seq
	if i >= 64 {
		return ErrTooOld
	}
	if w.mask&(1<<i) != 0 {
		return ErrReplayedDatagram
	}
	return nil
}

// Accept records seq, which Check allowed and whose tag verified.
func (w *Window) Accept(seq uint64) {
	if seq > w.high {
		d := seq - w.high
		// Shifts of 64 or more give 0 in Go: the old window slid out whole.
		w.mask = w.mask<<d | 1<<(d-1)
		w.high = seq
		return
	}
	if seq < w.high && w.high-1-seq < 64 {
		w.mask |= 1 << (w.high - 1 - seq)
	}
}

// High is the highest sequence number accepted.
func (w *Window) High() uint64 { return w.high }
