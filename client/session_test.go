package client

import (
	"testing"
	"time"

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

// TestHandshakeRetransmitDue: the session owns the handshake's retransmit
// clock. A Hello goes at once and again only when Retransmit has passed; a
// Challenge makes the Connect due at once, then it too waits; once
// connected nothing is due. A driver that sends whatever Handshake returns
// can neither flood the server nor go silent.
func TestHandshakeRetransmitDue(t *testing.T) {
	const retx = int64(100 * time.Millisecond)
	s := NewSession(Config{Nonce: 3, Retransmit: time.Duration(retx)}, Handlers{})
	var dec schema.Decoder
	kind := func(b []byte) wire.Body {
		t.Helper()
		if b == nil {
			return wire.BodyNONE
		}
		body, err := dec.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		return body
	}
	steps := []struct {
		now  int64
		want wire.Body
	}{
		{0, wire.BodyHello}, {1, wire.BodyNONE}, {retx - 1, wire.BodyNONE}, {retx, wire.BodyHello}, {retx + 1, wire.BodyNONE},
	}
	for _, st := range steps {
		if got := kind(s.Handshake(st.now)); got != st.want {
			t.Fatalf("at %d: Handshake sent %v, want %v", st.now, got, st.want)
		}
	}
	if due, ok := s.HandshakeDue(); !ok || due != 2*retx {
		t.Fatalf("next Hello due %d %v, want %d", due, ok, 2*retx)
	}
	enc := schema.NewEncoder()
	s.Handle(enc.Challenge(&schema.ChallengeFrame{ClientNonce: 3, Expiry: 9}), retx+2)
	if due, ok := s.HandshakeDue(); !ok || due != 0 {
		t.Fatalf("after the Challenge the Connect is due %d %v, want at once", due, ok)
	}
	for _, st := range []struct {
		now  int64
		want wire.Body
	}{{retx + 2, wire.BodyConnect}, {retx + 3, wire.BodyNONE}, {2*retx + 2, wire.BodyConnect}} {
		if got := kind(s.Handshake(st.now)); got != st.want {
			t.Fatalf("at %d: Handshake sent %v, want %v", st.now, got, st.want)
		}
	}
	s.Handle(enc.Welcome(&schema.WelcomeFrame{ClientNonce: 3, SessionID: 5}), 2*retx+3)
	if b := s.Handshake(10 * retx); b != nil {
		t.Fatal("connected, yet a handshake datagram is due")
	}
	if _, ok := s.HandshakeDue(); ok {
		t.Fatal("connected, yet HandshakeDue says a handshake is on")
	}
	// A restart starts the handshake over at once with the new nonce.
	s.Restart(11)
	if got := kind(s.Handshake(10*retx + 1)); got != wire.BodyHello {
		t.Fatalf("after Restart: %v, want a Hello at once", got)
	}
}
