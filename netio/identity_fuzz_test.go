package netio

import (
	"bytes"
	"testing"

	"github.com/treasured/treasured/netio/auth"
	"github.com/treasured/treasured/schema"
)

// FuzzSealedDatagram drives the server's receive path with a live
// authenticated session: whatever arrives (a valid sealed datagram of its
// session, a mutation of one, garbage with bit 63 set) must never panic,
// never be answered with more bytes than it had, and may reach the engine
// only as that session's own input.
//
//	go test -run '^$' -fuzz FuzzSealedDatagram -fuzztime 5m ./netio
func FuzzSealedDatagram(f *testing.F) {
	key := testKey(f, 1)
	seedRig := authRig(f, key)
	c := newTokenClient(f, key, 1, "127.0.0.1:5000", 1)
	seedRig.login(c)
	id := c.w.SessionID
	for _, msg := range [][]byte{
		seedRig.input(id, 3, 1, 2),
		seedRig.enc.Ping(&schema.PingFrame{SessionID: id, T: 9}),
		seedRig.enc.PathResponse(&schema.PathResponseFrame{Data: 5}),
		seedRig.enc.Bye(&schema.ByeFrame{SessionID: id}),
	} {
		f.Add(c.seal(f, msg))
	}
	f.Add(bytes.Repeat([]byte{0xff}, auth.Overhead))
	f.Fuzz(func(t *testing.T, d []byte) {
		// A fresh rig per input: every input meets the same session
		// (same keys: the rig's loop and the client are rebuilt alike).
		r := authRig(t, key)
		r.l.p.sessCost = 1
		cl := &tokenClient{addr: c.addr, nonce: 1, tok: c.tok, keys: c.keys}
		r.login(cl)
		r.drain()
		in := bytes.Clone(d)
		out := r.l.datagram(in, cl.addr, r.now)
		if len(out) > len(d) {
			t.Fatalf("answered %d bytes to %d", len(out), len(d))
		}
		for _, e := range r.drain() {
			if e.rec.Player != sessionSlot(cl.w.SessionID) {
				t.Fatalf("an entry for slot %d", e.rec.Player)
			}
		}
	})
}

// FuzzConnectToken puts arbitrary bytes in a Connect's token: refused and
// counted, or (a valid token) admitted; never a panic, never an answer
// larger than the Connect.
//
//	go test -run '^$' -fuzz FuzzConnectToken -fuzztime 5m ./netio
func FuzzConnectToken(f *testing.F) {
	key := testKey(f, 1)
	good, _ := issue(f, key, 7, auth.Claims{})
	f.Add(good)
	f.Add(good[:auth.TokenSize-1])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, tok []byte) {
		r := authRig(t, key)
		cl := &tokenClient{addr: testAddr("127.0.0.1:5000"), nonce: 3, tok: tok}
		conn := r.tokenConnect(cl)
		out := r.l.datagram(conn, cl.addr, r.now)
		if len(out) > len(conn) {
			t.Fatalf("answered %d bytes to %d", len(out), len(conn))
		}
		if len(conn) > schema.MaxDatagram {
			// A token too long for a datagram: dropped before anything.
			if out != nil || r.drops(DropOversized) != 1 {
				t.Fatalf("an oversized Connect was answered: %x", out)
			}
			return
		}
		// Every Connect past its cookie is answered: a sealed Welcome or
		// a Reject (the token's refusal, counted).
		var refused uint64
		for i := range r.stats.TokenRefused {
			refused += r.stats.TokenRefused[i].Load()
		}
		if out == nil || refused+r.stats.Welcomes.Load() != 1 {
			t.Fatalf("answer %x, %d refusals, %d welcomes", out, refused, r.stats.Welcomes.Load())
		}
	})
}
