package client

import "testing"

func TestTickSet(t *testing.T) {
	var s TickSet
	for _, tk := range []uint32{100, 101, 103, 102, 101, 103} {
		s.Add(tk)
	}
	if s.Distinct != 4 || s.Dups != 2 {
		t.Fatalf("distinct %d dups %d", s.Distinct, s.Dups)
	}
	// Jump far ahead: the old bits must not make new ticks look duplicated.
	if !s.Add(100 + tickWindow) {
		t.Fatal("tick 100+window looked like a dup")
	}
	if !s.Add(101 + tickWindow + 5000) {
		t.Fatal("far jump looked like a dup")
	}
	if s.Add(100) || s.TooOld != 1 {
		t.Fatalf("tick 100 after the window: TooOld %d", s.TooOld)
	}
	// Bits cleared while advancing tick by tick.
	var r TickSet
	for tk := uint32(1); tk < 3*tickWindow; tk++ {
		if !r.Add(tk) {
			t.Fatalf("tick %d not first", tk)
		}
	}
	if r.Dups != 0 || r.Distinct != 3*tickWindow-1 {
		t.Fatalf("%+v", r.Distinct)
	}
}

func TestPingTracker(t *testing.T) {
	var p PingTracker
	p.Record(10, 12)
	p.Record(20, 25)
	sched, sent, ok := p.Match(20)
	if !ok || sched != 20 || sent != 25 {
		t.Fatalf("match 20: %d %d %v", sched, sent, ok)
	}
	if _, _, ok := p.Match(20); ok {
		t.Fatal("duplicate pong matched twice")
	}
	for i := range pingSlots {
		p.Record(int64(100+i), 0)
	}
	if _, _, ok := p.Match(10); ok {
		t.Fatal("overwritten ping matched")
	}
	if p.Matched != 1 || p.Unmatched != 2 {
		t.Fatalf("matched %d unmatched %d", p.Matched, p.Unmatched)
	}
}
