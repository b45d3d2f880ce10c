package engine

import "math/bits"

// seqWindow makes each action_seq of a player take effect once, whatever the
// duplication and reordering on the path (docs/PROTOCOL.md "Inputs"). It is the
// classic anti-replay window (RFC 4303 §3.4.3): the highest seq handled plus
// a bitmap of the 64 below it.
//
// A client repeats at most its last 8 unacknowledged actions, so a seq more
// than 64 below the highest can only be a copy of one handled long ago.
type seqWindow struct {
	high uint32 // highest seq handled
	mask uint64 // bit i set: seq high-1-i handled
}

// newSeqWindow is the window of a fresh session: seq 0 is reserved (never
// valid) and everything below 1 counts as handled.
func newSeqWindow() seqWindow { return seqWindow{mask: ^uint64(0)} }

type seqVerdict uint8

const (
	seqNew   seqVerdict = iota // apply it
	seqDup                     // handled before
	seqStale                   // below the window: handled before or abandoned
	seqZero                    // 0 is not a valid seq
)

// admit records seq as handled and returns seqNew, or says why not.
func (w *seqWindow) admit(seq uint32) seqVerdict {
	switch {
	case seq == 0:
		return seqZero
	case seq > w.high:
		d := seq - w.high
		// Shifts of 64 or more give 0 in Go, which is exactly "the old
		// window slid out entirely".
		w.mask = w.mask<<d | 1<<(d-1)
		w.high = seq
		return seqNew
	case seq == w.high:
		return seqDup
	}
	i := w.high - 1 - seq
	if i >= 64 {
		return seqStale
	}
	if w.mask&(1<<i) != 0 {
		return seqDup
	}
	w.mask |= 1 << i
	return seqNew
}

// contiguous is the highest seq L such that every seq <= L has been handled
// (or fell out of the window). Snapshots report it as last_action_seq: a
// client stops repeating actions <= it, so reporting the highest seq instead
// would make it abandon an action still lost in a hole below.
func (w *seqWindow) contiguous() uint32 {
	holes := ^w.mask
	if holes == 0 {
		return w.high
	}
	j := uint32(63 - bits.LeadingZeros64(holes)) // oldest missing: high-1-j
	return w.high - 2 - j
}
