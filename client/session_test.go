package client

import (
	"testing"

	"github.com/treasured/treasured/schema"
	"github.com/treasured/treasured/schema/wire"
)

// TestSessionRestart: a restarted session handshakes again from Idle with
// its new nonce and an empty view, forgets the ticks of its old life (a
// power-lost server may number them again) but keeps what makes the
// reconnect seamless: the loot it has shown and the actions not yet
// acknowledged.
func TestSessionRestart(t *testing.T) {
	s := NewSession(Config{PlayerKey: 5, Nonce: 1}, Handlers{})
	s.state = StateConnected
	ev := schema.LootEvent{LootID: 77, Kind: uint8(wire.LootEventKindGenerated), Tick: 10}
	if !s.Loot().Offer(&ev) {
		t.Fatal("a new event was not offered")
	}
	s.Ticks().Add(10)
	if _, ok := s.Queue(schema.Action{Kind: uint8(wire.ActionKindOpenChest), Target: 3}, 0); !ok {
		t.Fatal("queue refused")
	}
	s.Restart(9)
	var d schema.Decoder
	if body, err := d.Decode(s.Hello()); err != nil || body != wire.BodyHello {
		t.Fatalf("after Restart: %v %v", body, err)
	}
	var h schema.HelloFrame
	d.HelloInto(&h)
	switch {
	case h.ClientNonce != 9 || s.State() != StateHello:
		t.Fatalf("nonce %d state %v", h.ClientNonce, s.State())
	case s.Loot().Offer(&ev):
		t.Fatal("the loot shown before the restart would be shown again")
	case s.Outbox().Len() != 1:
		t.Fatalf("outbox %d, want the unacknowledged action kept", s.Outbox().Len())
	case s.AckTick() != 0 || s.Ticks().Distinct != 1:
		t.Fatalf("ack tick %d, distinct %d: ticks not forgotten, or their counters lost", s.AckTick(), s.Ticks().Distinct)
	case s.View().NumChests() != 0:
		t.Fatal("view kept")
	}
}
