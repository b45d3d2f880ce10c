package netio

import (
	"bytes"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	flatbuffers "github.com/google/flatbuffers/go"

	"github.com/treasured/treasured/engine"
	"github.com/treasured/treasured/schema"
	"github.com/treasured/treasured/schema/wire"
)

// loopRig is one loop driven directly through datagram, with no sockets:
// the test plays both the network and the engine's end of the ring.
type loopRig struct {
	t        testing.TB
	l        *loop
	jar      *cookieJar
	tick     atomic.Uint32
	draining atomic.Bool
	stats    LoopStats
	now      int64 // server clock, ns
	enc      *schema.Encoder
	dec      schema.Decoder
}

type rigOpts struct {
	loops, idx, slots, ring int
	regions                 int
}

func newRig(t testing.TB, o rigOpts) *loopRig {
	t.Helper()
	if o.loops == 0 {
		o.loops = 1
	}
	if o.slots == 0 {
		o.slots = 16
	}
	if o.ring == 0 {
		o.ring = 64
	}
	if o.regions == 0 {
		o.regions = 3
	}
	ecfg := engine.DefaultConfig()
	ecfg.MaxPlayers, ecfg.Regions = o.slots, o.regions
	shape, err := shapeOf(ecfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Addr: "127.0.0.1:1", Loops: o.loops, RingSize: o.ring, shape: shape, NoAuth: true}
	if _, err := cfg.normalize(); err != nil {
		t.Fatal(err)
	}
	r := &loopRig{t: t, jar: newCookieJar([32]byte{9}), enc: schema.NewEncoder(), now: int64(time.Hour)}
	l, err := newLoop(o.idx, cfg.params(1_700_000_000_000), o.slots, o.ring, r.jar, [32]byte{1}, &r.tick, &r.draining, &r.stats)
	if err != nil {
		t.Fatal(err)
	}
	r.l = l
	return r
}

// send runs one datagram through the loop and returns a copy of the reply.
func (r *loopRig) send(in []byte, from Addr) []byte {
	out := r.l.datagram(in, from, r.now)
	if out == nil {
		return nil
	}
	return bytes.Clone(out)
}

func (r *loopRig) drops(reason DropReason) uint64 { return r.stats.Drops[reason].Load() }

// drain empties the ring as the engine would, returning the entries.
func (r *loopRig) drain() []ringEntry {
	var got []ringEntry
	r.l.ring.Drain(func(e *ringEntry) { got = append(got, *e) })
	return got
}

func (r *loopRig) hello(nonce uint64) []byte {
	return bytes.Clone(r.enc.Hello(&schema.HelloFrame{Version: schema.Version, ClientNonce: nonce}))
}

func (r *loopRig) decode(b []byte) wire.Body {
	r.t.Helper()
	body, err := r.dec.Decode(b)
	if err != nil {
		r.t.Fatalf("server reply does not decode: %v", err)
	}
	return body
}

func (r *loopRig) challenge(from Addr, nonce uint64) schema.ChallengeFrame {
	r.t.Helper()
	out := r.send(r.hello(nonce), from)
	if out == nil || r.decode(out) != wire.BodyChallenge {
		r.t.Fatalf("Hello got %x", out)
	}
	var c schema.ChallengeFrame
	r.dec.ChallengeInto(&c)
	return c
}

func (r *loopRig) connectMsg(ch schema.ChallengeFrame, key uint64, region uint8) []byte {
	return bytes.Clone(r.enc.Connect(&schema.ConnectFrame{
		Version: schema.Version, Cookie: ch.Cookie, Expiry: ch.Expiry,
		ClientNonce: ch.ClientNonce, PlayerKey: key, Region: region,
	}))
}

// join performs the whole handshake and returns the Welcome.
func (r *loopRig) join(from Addr, nonce uint64) schema.WelcomeFrame {
	r.t.Helper()
	out := r.send(r.connectMsg(r.challenge(from, nonce), nonce*10, 1), from)
	if out == nil || r.decode(out) != wire.BodyWelcome {
		r.t.Fatalf("Connect got %x", out)
	}
	var w schema.WelcomeFrame
	r.dec.WelcomeInto(&w)
	return w
}

// joined is a session of nonce 1 from addr, its Join already taken off the
// ring.
func (r *loopRig) joined(addr string) (Addr, schema.WelcomeFrame) {
	r.t.Helper()
	a := testAddr(addr)
	w := r.join(a, 1)
	r.drain()
	return a, w
}

func (r *loopRig) rejectReason(out []byte) wire.RejectReason {
	r.t.Helper()
	if out == nil || r.decode(out) != wire.BodyReject {
		r.t.Fatalf("want a Reject, got %x", out)
	}
	var f schema.RejectFrame
	r.dec.RejectInto(&f)
	return wire.RejectReason(f.Reason)
}

func (r *loopRig) input(session uint64, ack uint32, seqs ...uint32) []byte {
	f := schema.InputFrame{SessionID: session, AckTick: ack, N: len(seqs)}
	for i, s := range seqs {
		f.Actions[i] = schema.Action{Seq: s, Kind: uint8(wire.ActionKindMove), Pos: schema.Vec2{X: int32(s), Y: -1}}
	}
	return bytes.Clone(r.enc.Input(&f))
}

func TestHandshake(t *testing.T) {
	r := newRig(t, rigOpts{})
	r.tick.Store(77)
	a := testAddr("127.0.0.1:4000")
	hello := r.hello(5)
	ch := r.challenge(a, 5)
	if ch.ClientNonce != 5 || ch.Expiry != uint64(1_700_000_000_000+int64(time.Hour/time.Millisecond))+10_000 {
		t.Fatalf("challenge %+v", ch)
	}
	if len(r.send(hello, a)) > len(hello) {
		t.Fatal("Challenge larger than Hello")
	}
	if r.l.part.active != 0 || len(r.drain()) != 0 {
		t.Fatal("Hello created state")
	}

	conn := r.connectMsg(ch, 1234, 2)
	out := r.send(conn, a)
	if r.decode(out) != wire.BodyWelcome {
		t.Fatalf("Connect got %x", out)
	}
	var w schema.WelcomeFrame
	r.dec.WelcomeInto(&w)
	if w.PlayerID != 0 || w.Region != 2 || w.TickHz != 20 || w.ServerTick != 77 || w.ClientNonce != 5 ||
		sessionSlot(w.SessionID) != 0 || w.SessionID>>63 != 1 {
		t.Fatalf("welcome %+v", w)
	}
	// The engine learns the join, with the address and session for the fan-out.
	got := r.drain()
	if len(got) != 1 {
		t.Fatalf("ring has %d entries", len(got))
	}
	e := got[0]
	if e.rec.Kind != engine.RecJoin || e.rec.Player != 0 || e.rec.Gen != 1 || e.rec.Region != 2 ||
		e.rec.Key != 1234 || e.addr != a || e.session != w.SessionID {
		t.Fatalf("join entry %+v", e)
	}

	// The same Connect again (our Welcome was lost): same Welcome, no new slot.
	out2 := r.send(conn, a)
	var w2 schema.WelcomeFrame
	if r.decode(out2) != wire.BodyWelcome || !r.dec.WelcomeInto(&w2) || w2.SessionID != w.SessionID || w2.PlayerID != w.PlayerID {
		t.Fatalf("repeat welcome %+v vs %+v", w2, w)
	}
	if len(r.drain()) != 0 || r.l.part.active != 1 {
		t.Fatal("repeated Connect took a second slot")
	}
	if r.stats.Welcomes.Load() != 1 || r.stats.WelcomeRepeats.Load() != 1 || r.stats.Challenges.Load() != 2 {
		t.Fatalf("counters: welcomes %d repeats %d challenges %d",
			r.stats.Welcomes.Load(), r.stats.WelcomeRepeats.Load(), r.stats.Challenges.Load())
	}

	// A fresh handshake from the same address (client restarted) replaces
	// the session: leave of the old generation, join of the new.
	w3 := r.join(a, 6)
	if w3.SessionID == w.SessionID {
		t.Fatal("new handshake reused the session id")
	}
	got = r.drain()
	if len(got) != 2 || got[0].rec.Kind != engine.RecLeave || got[0].rec.Gen != 1 ||
		got[1].rec.Kind != engine.RecJoin || got[1].rec.Player != 0 || got[1].rec.Gen != 2 {
		t.Fatalf("replace: %+v", got)
	}
	if r.stats.Ended[EndReplaced].Load() != 1 {
		t.Fatal("replacement not counted")
	}
	// The old id is now stale.
	r.send(r.input(w.SessionID, 0, 1), a)
	if r.drops(DropBadSession) != 1 {
		t.Fatal("stale session accepted")
	}
}

func TestRejects(t *testing.T) {
	r := newRig(t, rigOpts{slots: 1, regions: 2})
	a := testAddr("127.0.0.1:4000")

	// Bad version, in Hello and in Connect.
	bad := bytes.Clone(r.enc.Hello(&schema.HelloFrame{Version: schema.Version + 1, ClientNonce: 1}))
	if got := r.rejectReason(r.send(bad, a)); got != wire.RejectReasonBadVersion {
		t.Fatalf("hello version: %v", got)
	}
	ch := r.challenge(a, 1)
	c := schema.ConnectFrame{Version: 0, Cookie: ch.Cookie, Expiry: ch.Expiry, ClientNonce: 1}
	if got := r.rejectReason(r.send(bytes.Clone(r.enc.Connect(&c)), a)); got != wire.RejectReasonBadVersion {
		t.Fatalf("connect version: %v", got)
	}

	// Bad cookie: tampered, another address's, forged expiry.
	c.Version = schema.Version
	c.Cookie.Lo ^= 1
	if got := r.rejectReason(r.send(bytes.Clone(r.enc.Connect(&c)), a)); got != wire.RejectReasonBadCookie {
		t.Fatalf("tampered: %v", got)
	}
	if got := r.rejectReason(r.send(r.connectMsg(ch, 1, 0), testAddr("127.0.0.2:4000"))); got != wire.RejectReasonBadCookie {
		t.Fatalf("other address: %v", got)
	}
	c.Cookie.Lo ^= 1
	c.Expiry++
	if got := r.rejectReason(r.send(bytes.Clone(r.enc.Connect(&c)), a)); got != wire.RejectReasonBadCookie {
		t.Fatalf("forged expiry: %v", got)
	}

	// Expired cookie.
	r.now += int64(11 * time.Second)
	if got := r.rejectReason(r.send(r.connectMsg(ch, 1, 0), a)); got != wire.RejectReasonCookieExpired {
		t.Fatalf("expired: %v", got)
	}

	// Bad region.
	ch = r.challenge(a, 2)
	if got := r.rejectReason(r.send(r.connectMsg(ch, 1, 2), a)); got != wire.RejectReasonBadRegion {
		t.Fatalf("region: %v", got)
	}

	// Full: one slot, taken by a; b is rejected.
	r.join(a, 3)
	b := testAddr("127.0.0.1:4001")
	if got := r.rejectReason(r.send(r.connectMsg(r.challenge(b, 4), 1, 0), b)); got != wire.RejectReasonServerFull {
		t.Fatalf("full: %v", got)
	}

	// Shutting down.
	r.draining.Store(true)
	cc := testAddr("127.0.0.1:4002")
	if got := r.rejectReason(r.send(r.connectMsg(r.challenge(cc, 5), 1, 0), cc)); got != wire.RejectReasonShuttingDown {
		t.Fatalf("draining: %v", got)
	}

	for reason, want := range map[wire.RejectReason]uint64{
		wire.RejectReasonBadVersion: 2, wire.RejectReasonBadCookie: 3, wire.RejectReasonCookieExpired: 1,
		wire.RejectReasonBadRegion: 1, wire.RejectReasonServerFull: 1, wire.RejectReasonShuttingDown: 1,
	} {
		if got := r.stats.Rejects[reason].Load(); got != want {
			t.Errorf("rejects[%v] = %d, want %d", reason, got, want)
		}
	}
	// No Reject ever created state: only a's join is in the ring.
	if got := r.drain(); len(got) != 1 || r.l.part.active != 1 {
		t.Fatalf("state after rejects: %d entries, %d active", len(got), r.l.part.active)
	}
}

func TestInputToRing(t *testing.T) {
	r := newRig(t, rigOpts{loops: 2, idx: 1, slots: 8})
	a := testAddr("[::1]:5000")
	w := r.join(a, 1)
	if w.PlayerID != 1 {
		t.Fatalf("loop 1 of 2 handed out slot %d", w.PlayerID)
	}
	r.drain()
	r.send(r.input(w.SessionID, 9, 4, 5, 6), a)
	got := r.drain()
	if len(got) != 1 {
		t.Fatalf("%d entries", len(got))
	}
	rec := got[0].rec
	if rec.Kind != engine.RecInput || rec.Player != 1 || rec.Gen != 1 || rec.AckTick != 9 || rec.N != 3 ||
		rec.Actions[0].Seq != 4 || rec.Actions[2].Seq != 6 || rec.Actions[2].Pos.X != 6 || rec.Actions[3] != (schema.Action{}) {
		t.Fatalf("record %+v", rec)
	}
	if r.stats.Inputs.Load() != 1 {
		t.Fatal("input not counted")
	}
}

func TestPing(t *testing.T) {
	r := newRig(t, rigOpts{})
	a := testAddr("127.0.0.1:6000")
	w := r.join(a, 1)
	r.tick.Store(5)
	ping := bytes.Clone(r.enc.Ping(&schema.PingFrame{SessionID: w.SessionID, T: 0xabcdef}))
	out := r.send(ping, a)
	var p schema.PongFrame
	if out == nil || r.decode(out) != wire.BodyPong || !r.dec.PongInto(&p) || p.T != 0xabcdef || p.ServerTick != 5 {
		t.Fatalf("pong %x %+v", out, p)
	}
	if len(out) > len(ping) {
		t.Fatalf("Pong %d > Ping %d bytes", len(out), len(ping))
	}
	// No Pong for a wrong session or a wrong address.
	if r.send(bytes.Clone(r.enc.Ping(&schema.PingFrame{SessionID: w.SessionID ^ 1<<40, T: 1})), a) != nil {
		t.Fatal("pong for a bad session")
	}
	if r.send(ping, testAddr("127.0.0.1:6001")) != nil {
		t.Fatal("pong to another address")
	}
	if r.drops(DropBadSession) != 1 || r.drops(DropWrongAddress) != 1 {
		t.Fatal("drops not counted")
	}
}

func TestBye(t *testing.T) {
	r := newRig(t, rigOpts{})
	a, w := r.joined("127.0.0.1:7000")
	bye := bytes.Clone(r.enc.Bye(&schema.ByeFrame{SessionID: w.SessionID}))
	// From another address: ignored.
	if r.send(bye, testAddr("127.0.0.1:7001")); r.l.part.active != 1 || r.drops(DropWrongAddress) != 1 {
		t.Fatal("bye from a wrong address ended the session")
	}
	r.send(bye, a)
	got := r.drain()
	if len(got) != 1 || got[0].rec.Kind != engine.RecLeave || got[0].rec.Player != 0 || got[0].rec.Gen != 1 {
		t.Fatalf("leave %+v", got)
	}
	if r.l.part.active != 0 || r.stats.Ended[EndBye].Load() != 1 || r.stats.Sessions.Load() != 0 {
		t.Fatal("session not ended")
	}
	// The slot is free again and comes back with a new generation.
	w2 := r.join(a, 2)
	if w2.PlayerID != 0 || w2.SessionID == w.SessionID || r.drain()[0].rec.Gen != 2 {
		t.Fatal("slot not reused with a new generation")
	}
	// A second Bye with the old id does nothing.
	r.send(bye, a)
	if r.l.part.active != 1 || r.drops(DropBadSession) != 1 {
		t.Fatal("stale Bye")
	}
}

func TestIdleTimeout(t *testing.T) {
	r := newRig(t, rigOpts{})
	a, b := testAddr("127.0.0.1:1"), testAddr("127.0.0.1:2")
	wa := r.join(a, 1)
	r.join(b, 2)
	r.drain()
	r.now += int64(6 * time.Second)
	r.send(r.input(wa.SessionID, 0, 1), a) // a stays alive
	r.now += int64(5 * time.Second)        // b silent for 11 s
	r.l.sweep(r.now)
	got := r.drain()
	if len(got) != 2 || got[0].rec.Kind != engine.RecInput || got[1].rec.Kind != engine.RecLeave || got[1].rec.Player != 1 {
		t.Fatalf("after sweep: %+v", got)
	}
	if r.stats.Ended[EndTimeout].Load() != 1 || r.l.part.active != 1 {
		t.Fatal("timeout not counted")
	}
	r.now += int64(10*time.Second) + 1
	r.l.sweep(r.now)
	if r.l.part.active != 0 {
		t.Fatal("a not timed out")
	}
}

// Every bad-input case is dropped without an answer, counted under its
// reason, creates no state and does not panic.
func TestBadInput(t *testing.T) {
	r := newRig(t, rigOpts{})
	a, w := r.joined("127.0.0.1:8000")
	valid := r.input(w.SessionID, 0, 1)
	hello := r.hello(3)

	// A Hello without padding: a well-formed message under 256 bytes.
	unpadded := flatHello(schema.Version, 3)
	cases := []struct {
		name   string
		in     []byte
		from   Addr
		reason DropReason
	}{
		{"empty", nil, a, DropTruncated},
		{"shorter than a header", valid[:7], a, DropTruncated},
		{"truncated input", valid[:len(valid)-9], a, DropMalformed},
		{"truncated hello", hello[:200], a, DropMalformed},
		{"oversized", make([]byte, schema.MaxDatagram+1), a, DropOversized},
		{"jumbo", make([]byte, 4000), a, DropOversized},
		{"wrong identifier", append(append([]byte{}, valid[:4]...), append([]byte("XXXX"), valid[8:]...)...), a, DropBadIdentifier},
		{"unpadded hello", unpadded, a, DropUnpadded},
		{"server-only message", bytes.Clone(r.enc.Pong(&schema.PongFrame{T: 1})), a, DropUnexpected},
		{"snapshot from a client", bytes.Clone(r.enc.Snapshot(&schema.SnapshotFrame{Tick: 1})), a, DropUnexpected},
		{"unknown session", r.input(12345, 0, 1), a, DropBadSession},
		{"stale generation", r.input(makeSessionID(0, 0, uint32(w.SessionID>>32)), 0, 1), a, DropBadSession},
		{"right session, wrong address", valid, testAddr("127.0.0.1:8001"), DropWrongAddress},
		{"right session, wrong ip", valid, testAddr("127.0.0.2:8000"), DropWrongAddress},
	}
	for _, tc := range cases {
		before := r.drops(tc.reason)
		if out := r.send(tc.in, tc.from); out != nil {
			t.Errorf("%s: answered %x", tc.name, out)
		}
		if r.drops(tc.reason) != before+1 {
			t.Errorf("%s: drops[%v] %d -> %d", tc.name, tc.reason, before, r.drops(tc.reason))
		}
	}
	if n := len(r.drain()); n != 0 || r.l.part.active != 1 {
		t.Fatalf("bad input reached the ring (%d) or changed sessions (%d)", n, r.l.part.active)
	}

	// Random bytes: all dropped, none answered, nothing queued.
	rng := rand.New(rand.NewPCG(1, 2))
	totalDrops := func() (n uint64) {
		for i := range NumDropReasons {
			n += r.drops(i)
		}
		return n
	}
	before := totalDrops()
	const n = 2000
	for i := range n {
		b := make([]byte, rng.IntN(1300))
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
		if i%2 == 0 && len(b) >= 8 {
			copy(b[4:], schema.Identifier) // get past the identifier check
		}
		if out := r.send(b, a); out != nil {
			t.Fatalf("random datagram answered")
		}
	}
	if got := totalDrops() - before; got != n {
		t.Fatalf("random: %d drops for %d datagrams", got, n)
	}
	if len(r.drain()) != 0 {
		t.Fatal("random bytes reached the ring")
	}
	if r.stats.DatagramsIn.Load() < n {
		t.Fatal("datagrams not counted")
	}
}

// A flood from one session is cut to its token bucket and the session is
// counted once as a flooder; a flood of handshakes from one address is cut
// to the handshake budget.
func TestFlood(t *testing.T) {
	r := newRig(t, rigOpts{})
	a, w := r.joined("127.0.0.1:9000")
	in := r.input(w.SessionID, 0, 1)
	const n = 1000
	for range n {
		r.send(in, a) // all at the same instant
	}
	passed := uint64(len(r.drain()))
	if passed != DefaultSessionBurst || r.drops(DropRateLimited) != n-passed {
		t.Fatalf("flood: %d passed, %d limited", passed, r.drops(DropRateLimited))
	}
	if r.stats.Flooders.Load() != 1 {
		t.Fatalf("flooders %d", r.stats.Flooders.Load())
	}
	// Over one more second of flooding, evenly spread, the session gets its
	// rate's worth through (the bucket starts empty after the burst).
	passed = 0
	for range n {
		r.now += int64(time.Second) / n
		r.send(in, a)
		passed += uint64(len(r.drain()))
	}
	if passed < DefaultSessionRate-1 || passed > DefaultSessionRate+1 {
		t.Fatalf("1 s of flood: %d passed, want about %d", passed, DefaultSessionRate)
	}
	if r.stats.Flooders.Load() != 1 {
		t.Fatal("flooder counted twice")
	}

	b := testAddr("127.0.0.1:9001")
	hello := r.hello(2)
	answered := 0
	for range n {
		if r.send(hello, b) != nil {
			answered++
		}
	}
	if answered != DefaultHSBurst || r.drops(DropHandshakeLimited) != n-DefaultHSBurst {
		t.Fatalf("hello flood: %d answered, %d limited", answered, r.drops(DropHandshakeLimited))
	}
	// Another port of the same host is the same prefix: limited too.
	if r.send(hello, testAddr("127.0.0.1:9002")) != nil {
		t.Fatal("another port of the flooding host got a Challenge")
	}
	// Another host is not affected.
	if r.send(hello, testAddr("127.0.0.2:9002")) == nil {
		t.Fatal("innocent address limited")
	}
}

// For every packet a sender can send before proving its address, the answer
// is never larger than the request (docs/PROTOCOL.md "Handshake": no amplification).
func TestAmplification(t *testing.T) {
	r := newRig(t, rigOpts{slots: 1})
	a := testAddr("127.0.0.1:10000")
	var in, out int
	check := func(name string, req []byte, from Addr) {
		t.Helper()
		resp := r.send(req, from)
		if len(resp) > len(req) {
			t.Errorf("%s: %d bytes answered %d", name, len(req), len(resp))
		}
		in += len(req)
		out += len(resp)
	}
	ch := r.challenge(a, 1)
	check("hello", r.hello(1), a)
	check("hello bad version", bytes.Clone(r.enc.Hello(&schema.HelloFrame{Version: 99})), a)
	check("connect", r.connectMsg(ch, 1, 0), a)        // Welcome
	check("connect repeat", r.connectMsg(ch, 1, 0), a) // same Welcome
	other := testAddr("127.0.0.1:10001")
	check("connect full", r.connectMsg(r.challenge(other, 2), 1, 0), other)                       // Reject full
	check("connect bad cookie", r.connectMsg(schema.ChallengeFrame{ClientNonce: 3}, 1, 0), other) // Reject
	check("connect bad region", r.connectMsg(r.challenge(other, 4), 1, 9), other)
	check("connect bad version", bytes.Clone(r.enc.Connect(&schema.ConnectFrame{Version: 99})), other)
	check("ping no session", bytes.Clone(r.enc.Ping(&schema.PingFrame{SessionID: 1})), other)
	check("input no session", r.input(1, 0, 1), other)
	check("bye no session", bytes.Clone(r.enc.Bye(&schema.ByeFrame{SessionID: 1})), other)
	r.draining.Store(true)
	check("connect draining", r.connectMsg(r.challenge(other, 5), 1, 0), other)
	if out > in {
		t.Fatalf("total %d bytes in, %d out", in, out)
	}
	if r.drops(DropAmplification) != 0 {
		t.Fatal("an answer had to be suppressed: some encoder grew past its request")
	}
}

// A full ring drops the newest input and counts it; a leave that does not
// fit is kept and pushed once there is room, never lost.
func TestRingFull(t *testing.T) {
	r := newRig(t, rigOpts{ring: 4})
	a, b := testAddr("127.0.0.1:1"), testAddr("127.0.0.1:2")
	wa := r.join(a, 1)
	r.join(b, 2)
	r.drain()
	for i := range 6 {
		r.send(r.input(wa.SessionID, 0, uint32(i+1)), a)
	}
	if r.drops(DropRingFull) != 2 || r.stats.Inputs.Load() != 4 {
		t.Fatalf("ring_full %d inputs %d", r.drops(DropRingFull), r.stats.Inputs.Load())
	}
	got := r.drain()
	if len(got) != 4 || got[3].rec.Actions[0].Seq != 4 {
		t.Fatal("oldest inputs not kept")
	}
	// Fill the ring, then b leaves: its RecLeave waits.
	for i := range 4 {
		r.send(r.input(wa.SessionID, 0, uint32(i+10)), a)
	}
	r.now += int64(11 * time.Second)
	r.send(r.input(wa.SessionID, 0, 20), a) // a stays fresh; ring still full
	r.l.sweep(r.now)                        // b times out; ring full
	if r.stats.LeaveRetries.Load() != 1 || len(r.l.pending) != 1 {
		t.Fatalf("leave not deferred: retries %d pending %d", r.stats.LeaveRetries.Load(), len(r.l.pending))
	}
	// A Connect while the ring is full is dropped, not welcomed without a join.
	c := testAddr("127.0.0.1:3")
	if out := r.send(r.connectMsg(r.challenge(c, 3), 1, 0), c); out != nil {
		t.Fatal("welcomed without a queued join")
	}
	r.drain()
	r.l.sweep(r.now) // room again: the leave goes in
	got = r.drain()
	if len(got) != 1 || got[0].rec.Kind != engine.RecLeave || got[0].rec.Player != 1 {
		t.Fatalf("deferred leave: %+v", got)
	}
	// b's slot is free only now.
	if w := r.join(c, 4); w.PlayerID != 1 {
		t.Fatalf("slot %d", w.PlayerID)
	}
}

// The decode -> ring path allocates nothing, and neither do Ping -> Pong
// and Hello -> Challenge.
func TestLoopNoAlloc(t *testing.T) {
	r := newRig(t, rigOpts{ring: 1 << 12})
	a, w := r.joined("127.0.0.1:11000")
	r.l.p.sessCost = 1 // no rate limit in the way
	in := r.input(w.SessionID, 3, 1, 2, 3, 4, 5, 6, 7, 8)
	ping := bytes.Clone(r.enc.Ping(&schema.PingFrame{SessionID: w.SessionID, T: 1}))
	hello := r.hello(9)
	drain := func(*ringEntry) {}
	b := testAddr("127.0.0.1:11001")
	r.l.p.hsCost = 1
	cases := map[string]func(){
		"input": func() { r.l.datagram(in, a, r.now); r.l.ring.Drain(drain) },
		"ping":  func() { r.l.datagram(ping, a, r.now) },
		"hello": func() { r.l.datagram(hello, b, r.now) },
		"bad":   func() { r.l.datagram(in[:20], a, r.now) },
	}
	for name, f := range cases {
		f()
		if n := testing.AllocsPerRun(1000, f); n != 0 {
			t.Errorf("%s: %v allocations per datagram", name, n)
		}
	}
	if r.stats.Inputs.Load() < 1000 {
		t.Fatal("inputs did not reach the ring")
	}
}

func BenchmarkLoopInput(b *testing.B) {
	r := newRig(b, rigOpts{ring: 1 << 12})
	a, w := r.joined("127.0.0.1:11000")
	r.l.p.sessCost = 1
	in := r.input(w.SessionID, 3, 1, 2, 3, 4, 5, 6, 7, 8)
	drain := func(*ringEntry) {}
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	i := 0
	for b.Loop() {
		r.l.datagram(in, a, r.now)
		if i++; i&1023 == 0 {
			r.l.ring.Drain(drain)
		}
	}
}

// flatHello builds a Hello with the FlatBuffers builder directly, without the
// padding schema's encoder always adds.
func flatHello(version uint16, nonce uint64) []byte {
	b := flatbuffers.NewBuilder(64)
	wire.HelloStart(b)
	wire.HelloAddVersion(b, version)
	wire.HelloAddClientNonce(b, nonce)
	h := wire.HelloEnd(b)
	wire.MessageStart(b)
	wire.MessageAddBodyType(b, wire.BodyHello)
	wire.MessageAddBody(b, h)
	m := wire.MessageEnd(b)
	b.FinishWithFileIdentifier(m, []byte(schema.Identifier))
	return b.FinishedBytes()
}
