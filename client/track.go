package client

// tickWindow is how many recent ticks TickSet remembers: 2048 ticks is 102 s
// at 20 Hz, far beyond any reordering a datagram survives.
const tickWindow = 2048

// TickSet records which snapshot ticks arrived, to count duplicates and,
// against the ticks the server produced, loss. It is a bitmap over the
// newest tickWindow ticks. Owned by one goroutine.
type TickSet struct {
	bits   [tickWindow / 64]uint64
	newest uint32
	any    bool

	Distinct uint64 // ticks received at least once
	Dups     uint64 // arrivals of a tick already received
	TooOld   uint64 // arrivals older than the window (cannot be classified)
}

// Add records an arrival of tick t and reports whether it is the first.
func (s *TickSet) Add(t uint32) (first bool) {
	switch {
	case !s.any:
		s.any = true
		s.newest = t
	case t > s.newest:
		// Clear the bits of the ticks skipped over: they now stand for
		// ticks a window later.
		if d := t - s.newest; d >= tickWindow {
			s.bits = [tickWindow / 64]uint64{}
		} else {
			for u := s.newest + 1; u != t; u++ {
				s.clear(u)
			}
		}
		s.clear(t)
		s.newest = t
	case s.newest-t >= tickWindow:
		s.TooOld++
		return false
	}
	i := t % tickWindow
	if s.bits[i/64]&(1<<(i%64)) != 0 {
		s.Dups++
		return false
	}
	s.bits[i/64] |= 1 << (i % 64)
	s.Distinct++
	return true
}

func (s *TickSet) clear(t uint32) {
	i := t % tickWindow
	s.bits[i/64] &^= 1 << (i % 64)
}

// Newest is the newest tick added; ok is false before the first Add.
func (s *TickSet) Newest() (t uint32, ok bool) { return s.newest, s.any }

// pingSlots is how many Pings may be in flight per client; older entries are
// overwritten (their Pongs then count as unmatched).
const pingSlots = 32

type pingSlot struct {
	sched, sent int64
	used        bool
}

// PingTracker matches Pongs to Pings. A Ping carries its scheduled time as t
// (echoed back untouched), which is both the key and the corrected start; the
// actual send time is kept here for the uncorrected round trip.
type PingTracker struct {
	slots [pingSlots]pingSlot
	next  int

	Sent, Matched, Unmatched uint64
}

// Record records a Ping scheduled at sched and sent at sent; t = sched goes on
// the wire.
func (p *PingTracker) Record(sched, sent int64) {
	p.slots[p.next] = pingSlot{sched: sched, sent: sent, used: true}
	p.next = (p.next + 1) % pingSlots
	p.Sent++
}

// Match looks up the Ping whose t came back in a Pong and forgets it, so a
// duplicated Pong is counted once. ok is false for an unknown or repeated t.
func (p *PingTracker) Match(t int64) (sched, sent int64, ok bool) {
	for i := range p.slots {
		s := &p.slots[i]
		if s.used && s.sched == t {
			s.used = false
			p.Matched++
			return s.sched, s.sent, true
		}
	}
	p.Unmatched++
	return 0, 0, false
}
