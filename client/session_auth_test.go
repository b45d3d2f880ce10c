package client

import (
	"bytes"
	crand "crypto/rand"
	"net/netip"
	"testing"
	"time"

	"github.com/treasured/treasured/netio/auth"
	"github.com/treasured/treasured/schema"
	"github.com/treasured/treasured/schema/wire"
)

// TestSessionSealed drives a Session with credentials against a hand-made
// server side (auth.Channel): the Connect carries the token, the Welcome
// opens only under the token's keys, everything after it is sealed both
// ways, a plain datagram where a sealed one is due is refused, a network
// duplicate is dropped by the replay window without being an error, a
// forged one is counted, and a PathChallenge is answered exactly once.
func TestSessionSealed(t *testing.T) {
	key, err := auth.GenerateKey(1, crand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tok, keys, err := key.Issue(nil, auth.Claims{UserID: 5, Servers: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:7777")}, Expires: time.Now().Add(time.Minute)}, crand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s := NewSession(Config{Credentials: Credentials{Token: tok, Keys: keys}, Nonce: 1}, Handlers{})
	enc := schema.NewEncoder()
	var dec schema.Decoder
	s.Hello()
	if _, err := s.Handle(bytes.Clone(enc.Challenge(&schema.ChallengeFrame{Expiry: 9, ClientNonce: 1})), 0); err != nil || s.State() != StateChallenged {
		t.Fatalf("plain Challenge: %v %v", err, s.State())
	}
	var cf schema.ConnectFrame
	if body, err := dec.Decode(s.Connect()); err != nil || body != wire.BodyConnect || !dec.ConnectInto(&cf) || !bytes.Equal(cf.Token, tok) {
		t.Fatalf("Connect without its token: %v %v", body, err)
	}

	const id = 0x8000_0001_0000_0003
	srv, err := auth.NewChannel(id, &keys, auth.RoleServer)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, schema.MaxDatagram)
	seal := func(msg []byte) []byte {
		n := copy(buf[auth.HeaderSize:], msg)
		out, err := srv.Seal(buf, n)
		if err != nil {
			t.Fatal(err)
		}
		return bytes.Clone(out)
	}
	welcome := enc.Welcome(&schema.WelcomeFrame{SessionID: id, PlayerID: 3, TickHz: 20, ClientNonce: 1})
	if _, err := s.Handle(bytes.Clone(welcome), 0); err == nil || s.State() != StateChallenged || s.Stats.Unsealed != 1 {
		t.Fatalf("a plain Welcome was taken: %v %v", err, s.State())
	}
	if _, err := s.Handle(seal(welcome), 0); err != nil || s.State() != StateConnected || s.Welcome().SessionID != id {
		t.Fatalf("sealed Welcome: %v %v", err, s.State())
	}

	// Outgoing: sealed, opened by the server side.
	in := s.Input(0)
	if len(in) < auth.Overhead || in[7] < 0x80 {
		t.Fatalf("Input not sealed: %x", in)
	}
	body, err := srv.Open(bytes.Clone(in))
	var inf schema.InputFrame
	if err != nil {
		t.Fatal(err)
	}
	if b, err := dec.Decode(body); err != nil || b != wire.BodyInput || !dec.InputInto(&inf) || inf.SessionID != id {
		t.Fatalf("Input inside: %v %v %+v", b, err, inf)
	}
	// Pings, and only Pings, carry the urgent mark (the server reads them
	// ahead of the Inputs).
	inUrgent := auth.Urgent(in) // in is the session's buffer, which Ping reuses
	ping := s.Ping(42, 42)
	if inUrgent || !auth.Urgent(ping) {
		t.Fatalf("urgent mark: Input %v, Ping %v", inUrgent, auth.Urgent(ping))
	}
	if body, err := srv.Open(bytes.Clone(ping)); err != nil {
		t.Fatal(err)
	} else if b, err := dec.Decode(body); err != nil || b != wire.BodyPing {
		t.Fatalf("Ping inside: %v %v", b, err)
	}

	// Incoming: a plain snapshot is refused, a sealed one applied, its
	// duplicate dropped quietly, a forged one counted.
	snap := enc.Snapshot(&schema.SnapshotFrame{Tick: 7, You: schema.PlayerState{ID: 3}})
	if _, err := s.Handle(bytes.Clone(snap), 0); err == nil || s.Stats.Snapshots != 0 {
		t.Fatal("a plain snapshot was applied")
	}
	sealed := seal(snap)
	if _, err := s.Handle(bytes.Clone(sealed), 0); err != nil || s.Stats.Snapshots != 1 {
		t.Fatalf("sealed snapshot: %v", err)
	}
	if b, err := s.Handle(bytes.Clone(sealed), 0); err != nil || b != wire.BodyNONE || s.Stats.Replayed != 1 {
		t.Fatalf("duplicate: %v %v, replayed %d", b, err, s.Stats.Replayed)
	}
	forged := seal(enc.Snapshot(&schema.SnapshotFrame{Tick: 8}))
	forged[20] ^= 1
	if _, err := s.Handle(forged, 0); err == nil || s.Stats.Unopened != 1 || s.Stats.Snapshots != 1 {
		t.Fatalf("forged: %v, unopened %d", err, s.Stats.Unopened)
	}

	// A PathChallenge is answered once, sealed, with its data.
	if s.PathResponse() != nil {
		t.Fatal("an answer before any challenge")
	}
	if b, err := s.Handle(seal(enc.PathChallenge(&schema.PathChallengeFrame{Data: 0xabc})), 0); err != nil || b != wire.BodyPathChallenge {
		t.Fatalf("PathChallenge: %v %v", b, err)
	}
	resp := s.PathResponse()
	if resp == nil || s.PathResponse() != nil {
		t.Fatal("not answered exactly once")
	}
	body, err = srv.Open(bytes.Clone(resp))
	var pr schema.PathResponseFrame
	if err != nil {
		t.Fatal(err)
	}
	if b, err := dec.Decode(body); err != nil || b != wire.BodyPathResponse || !dec.PathResponseInto(&pr) || pr.Data != 0xabc {
		t.Fatalf("PathResponse inside: %v %v %+v", b, err, pr)
	}
}
