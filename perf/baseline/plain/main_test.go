package main

import (
	"testing"
	"time"

	"github.com/treasured/treasured/engine"
	"github.com/treasured/treasured/perf/internal/playtest"
)

func TestPlainPlays(t *testing.T) {
	cfg := engine.DefaultConfig()
	cfg.MaxPlayers = 64
	s, err := newServer("127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.tick = 5 * time.Millisecond
	go s.tickLoop()
	go s.read()
	defer s.conn.Close()
	playtest.Play(t, s.conn.LocalAddr().String(), 5*time.Millisecond, 2000)
	if n := s.m.SnapshotsSent.Load(); n == 0 {
		t.Fatal("no snapshots counted")
	}
	playtest.TickClock(t, s.conn.LocalAddr().String(), s.m.Expose, s.tick)
	playtest.RejectsRegion(t, s.conn.LocalAddr().String(), uint8(cfg.Regions))
}
