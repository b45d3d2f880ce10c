package main

import (
	"testing"
	"time"

	"github.com/treasured/treasured/perf/internal/playtest"
)

func TestNaivePlays(t *testing.T) {
	s, err := newServer("127.0.0.1:0", 1)
	if err != nil {
		t.Fatal(err)
	}
	s.tick = 5 * time.Millisecond
	s.start()
	defer s.conn.Close()
	playtest.Play(t, s.conn.LocalAddr().String(), 5*time.Millisecond, 2000)
	if n := s.m.Inputs.Load(); n == 0 {
		t.Fatal("no inputs counted")
	}
	playtest.TickClock(t, s.conn.LocalAddr().String(), s.m.Expose, s.tick)
	playtest.RejectsRegion(t, s.conn.LocalAddr().String(), uint8(regions))
}
