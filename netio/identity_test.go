package netio

import (
	"bytes"
	crand "crypto/rand"
	"encoding/binary"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/treasured/treasured/engine"
	"github.com/treasured/treasured/netio/auth"
	"github.com/treasured/treasured/schema"
	"github.com/treasured/treasured/schema/wire"
)

// The rig's wall clock: origin 1_700_000_000_000 ms plus r.now (one hour).
var rigWall = time.UnixMilli(1_700_000_000_000).Add(time.Hour)

var rigPublic = netip.MustParseAddrPort("127.0.0.1:7777")

// authRig is a loop rig with connect tokens on, keyed by key.
func authRig(t testing.TB, key *auth.Key) *loopRig {
	t.Helper()
	r := newRig(t, rigOpts{})
	a, err := newServerAuth(&Config{TokenKey: key, ReplayCapacity: 1024, PublicAddrs: []netip.AddrPort{rigPublic}}, rigPublic)
	if err != nil {
		t.Fatal(err)
	}
	r.l.p.auth = a
	return r
}

// loggedInRig is an authRig with one client (user 1) logged in, its join
// drained and no rate limit in the way.
func loggedInRig(t testing.TB) (*loopRig, *tokenClient) {
	t.Helper()
	key := testKey(t, 1)
	r := authRig(t, key)
	r.l.p.sessCost = 1
	c := newTokenClient(t, key, 1, "127.0.0.1:5000", 1)
	r.login(c)
	r.drain()
	return r, c
}

func testKey(t testing.TB, id uint32) *auth.Key {
	t.Helper()
	k, err := auth.GenerateKey(id, crand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// tokenClient is the client side of one authenticated session, by hand.
type tokenClient struct {
	addr  Addr
	nonce uint64
	tok   []byte
	keys  auth.SessionKeys
	ch    *auth.Channel
	w     schema.WelcomeFrame
	buf   [schema.MaxDatagram]byte
}

func issue(t testing.TB, k *auth.Key, user uint64, c auth.Claims) ([]byte, auth.SessionKeys) {
	t.Helper()
	c.UserID = user
	if len(c.Servers) == 0 {
		c.Servers = []netip.AddrPort{rigPublic}
	}
	if c.Expires.IsZero() {
		c.Expires = rigWall.Add(time.Hour)
	}
	tok, keys, err := k.Issue(nil, c, crand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return tok, keys
}

func newTokenClient(t testing.TB, k *auth.Key, user uint64, from string, nonce uint64) *tokenClient {
	tok, keys := issue(t, k, user, auth.Claims{})
	return &tokenClient{addr: testAddr(from), nonce: nonce, tok: tok, keys: keys}
}

func (r *loopRig) tokenConnect(c *tokenClient) []byte {
	ch := r.challenge(c.addr, c.nonce)
	return bytes.Clone(r.enc.Connect(&schema.ConnectFrame{
		Version: schema.Version, Cookie: ch.Cookie, Expiry: ch.Expiry,
		ClientNonce: c.nonce, Region: 1, Token: c.tok,
	}))
}

// login runs the handshake and opens the sealed Welcome.
func (r *loopRig) login(c *tokenClient) {
	r.t.Helper()
	conn := r.tokenConnect(c)
	out := r.send(conn, c.addr)
	if len(out) > len(conn) {
		r.t.Fatalf("Welcome %d bytes for a Connect of %d", len(out), len(conn))
	}
	if r.openAs(c, out) != wire.BodyWelcome {
		r.t.Fatalf("Connect got %x", out)
	}
	r.dec.WelcomeInto(&c.w)
	if c.w.SessionID != c.ch.Session() || c.w.ClientNonce != c.nonce {
		r.t.Fatalf("welcome %+v", c.w)
	}
}

// openAs opens a sealed datagram as client c (a channel from its first one).
func (r *loopRig) openAs(c *tokenClient, b []byte) wire.Body {
	r.t.Helper()
	if b == nil || b[7] < 0x80 {
		r.t.Fatalf("not sealed: %x", b)
	}
	if c.ch == nil {
		id, _ := auth.PeekSession(b)
		ch, err := auth.NewChannel(id, &c.keys, auth.RoleClient)
		if err != nil {
			r.t.Fatal(err)
		}
		c.ch = ch
	}
	body, err := c.ch.Open(b)
	if err != nil {
		r.t.Fatalf("open: %v", err)
	}
	return r.decode(body)
}

func (c *tokenClient) seal(t testing.TB, msg []byte) []byte {
	t.Helper()
	n := copy(c.buf[auth.HeaderSize:], msg)
	out, err := c.ch.Seal(c.buf[:], n)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Clone(out)
}

// Every token refusal the issue names is refused with a Reject no larger
// than the Connect, counted under its own reason, and leaves no session.
func TestTokenRefusals(t *testing.T) {
	key, other := testKey(t, 7), testKey(t, 3)
	r := authRig(t, key)
	good, _ := issue(t, key, 1, auth.Claims{})
	expired, _ := issue(t, key, 1, auth.Claims{Expires: rigWall.Add(-time.Second)})
	wrongServer, _ := issue(t, key, 1, auth.Claims{Servers: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:7778")}})
	retired, _ := issue(t, other, 1, auth.Claims{})
	forged := bytes.Clone(good)
	forged[100] ^= 1
	badVersion := bytes.Clone(good)
	badVersion[0] = 9
	replay, _ := issue(t, key, 2, auth.Claims{})
	cases := []struct {
		name string
		tok  []byte
		want TokenRefusal
		rej  wire.RejectReason
	}{
		{"missing", nil, TokenMissing, wire.RejectReasonBadToken},
		{"truncated", good[:100], TokenTruncated, wire.RejectReasonBadToken},
		{"garbage", bytes.Repeat([]byte{0xa5}, auth.TokenSize), TokenBadVersion, wire.RejectReasonBadToken},
		{"bad version", badVersion, TokenBadVersion, wire.RejectReasonBadToken},
		{"expired", expired, TokenExpired, wire.RejectReasonTokenExpired},
		{"another server", wrongServer, TokenWrongServer, wire.RejectReasonBadToken},
		{"bad signature", forged, TokenBadSignature, wire.RejectReasonBadToken},
		{"retired key", retired, TokenUnknownKey, wire.RejectReasonBadToken},
	}
	for i, tc := range cases {
		c := &tokenClient{addr: testAddr("127.0.0.1:5000"), nonce: uint64(100 + i), tok: tc.tok}
		conn := r.tokenConnect(c)
		before := r.stats.TokenRefused[tc.want].Load()
		out := r.send(conn, c.addr)
		if len(out) > len(conn) {
			t.Errorf("%s: answer of %d bytes to %d", tc.name, len(out), len(conn))
		}
		if got := r.rejectReason(out); got != tc.rej {
			t.Errorf("%s: Reject %v, want %v", tc.name, got, tc.rej)
		}
		if n := r.stats.TokenRefused[tc.want].Load() - before; n != 1 {
			t.Errorf("%s: %v counted %d times", tc.name, tc.want, n)
		}
	}
	if r.l.part.active != 0 || len(r.drain()) != 0 {
		t.Fatal("a refused token got a session")
	}
	// Replayed: the first use wins, the same token from another
	// connection attempt (address, nonce) is refused, and the first
	// attempt's retransmit is not a replay.
	first := &tokenClient{addr: testAddr("127.0.0.1:5001"), nonce: 900, tok: replay}
	conn := r.tokenConnect(first)
	if out := r.send(conn, first.addr); out == nil || out[7] < 0x80 {
		t.Fatalf("first use: %x", out)
	}
	if out := r.send(conn, first.addr); out == nil || out[7] < 0x80 || r.stats.WelcomeRepeats.Load() != 1 {
		t.Fatalf("retransmitted Connect: %x", out)
	}
	thief := &tokenClient{addr: testAddr("127.0.0.1:5002"), nonce: 901, tok: replay}
	if got := r.rejectReason(r.send(r.tokenConnect(thief), thief.addr)); got != wire.RejectReasonBadToken {
		t.Fatalf("replay: %v", got)
	}
	if r.stats.TokenRefused[TokenReplayed].Load() != 1 {
		t.Fatal("replay not counted")
	}
}

// The token's user id is the engine's player key; the Connect's player_key
// field is not believed.
func TestTokenUserIsPlayerKey(t *testing.T) {
	key := testKey(t, 1)
	r := authRig(t, key)
	c := newTokenClient(t, key, 4242, "127.0.0.1:5000", 1)
	r.login(c)
	got := r.drain()
	if len(got) != 1 || got[0].rec.Kind != engine.RecJoin || got[0].rec.Key != 4242 || got[0].seal == nil {
		t.Fatalf("join %+v", got)
	}
}

// Injection: with a sniffed session id, a plain Input, Ping or Bye from the
// right or a wrong address, a forged sealed one and a replayed sealed one
// are all dropped and counted; none reaches the engine, none is answered,
// the session neither ends nor moves (so no snapshot goes to the spoofed
// address: the fan-out only learns addresses from join and move entries).
func TestInjectedDatagramsDropped(t *testing.T) {
	r, c := loggedInRig(t)
	id := c.w.SessionID
	spoof := testAddr("10.9.9.9:666")

	in := c.seal(t, r.input(id, 0, 1))
	if out := r.send(bytes.Clone(in), c.addr); out != nil {
		t.Fatalf("Input answered %x", out)
	}
	if got := r.drain(); len(got) != 1 || got[0].rec.Kind != engine.RecInput {
		t.Fatalf("sealed Input: %+v", got)
	}

	plainInput := r.input(id, 0, 2)
	plainPing := bytes.Clone(r.enc.Ping(&schema.PingFrame{SessionID: id, T: 1}))
	plainBye := bytes.Clone(r.enc.Bye(&schema.ByeFrame{SessionID: id}))
	forged := c.seal(t, r.input(id, 0, 3))
	forged[len(forged)-1] ^= 1
	for _, from := range []Addr{c.addr, spoof} {
		for _, d := range [][]byte{plainInput, plainPing, plainBye} {
			if out := r.send(bytes.Clone(d), from); out != nil {
				t.Fatalf("plain datagram answered: %x", out)
			}
		}
		if out := r.send(bytes.Clone(forged), from); out != nil {
			t.Fatal("forged answered")
		}
		if out := r.send(bytes.Clone(in), from); out != nil {
			t.Fatal("replay answered")
		}
	}
	if n := r.drops(DropUnauthenticated); n != 6 {
		t.Errorf("unauthenticated drops %d, want 6", n)
	}
	if n := r.drops(DropForged); n != 2 {
		t.Errorf("forged drops %d, want 2", n)
	}
	if n := r.drops(DropReplayed); n != 2 {
		t.Errorf("replayed drops %d, want 2", n)
	}
	if got := r.drain(); len(got) != 0 {
		t.Fatalf("injection reached the ring: %+v", got)
	}
	s := r.l.part.lookup(id)
	if s == nil || s.addr != c.addr || r.stats.PathChallenges.Load() != 0 {
		t.Fatal("the session ended or moved")
	}
	// The real client still gets its Pong, sealed, no larger than its Ping.
	ping := c.seal(t, r.enc.Ping(&schema.PingFrame{SessionID: id, T: 77}))
	out := r.send(bytes.Clone(ping), c.addr)
	if len(out) > len(ping) || r.openAs(c, out) != wire.BodyPong {
		t.Fatalf("Pong %x", out)
	}
}

// Address migration: an authenticated datagram from a new address is acted
// on, but the stream moves only after the new address answers a sealed
// PathChallenge; a wrong or misplaced answer moves nothing.
func TestMigrationNeedsPathAnswer(t *testing.T) {
	r, c := loggedInRig(t)
	id := c.w.SessionID
	moved := testAddr("127.0.0.1:6000")

	in := c.seal(t, r.input(id, 0, 1))
	out := r.send(in, moved)
	if out == nil || len(out) > len(in) || r.openAs(c, out) != wire.BodyPathChallenge {
		t.Fatalf("no PathChallenge: %x", out)
	}
	var pc schema.PathChallengeFrame
	r.dec.PathChallengeInto(&pc)
	got := r.drain()
	if len(got) != 1 || got[0].rec.Kind != engine.RecInput || got[0].move {
		t.Fatalf("the input was not taken, or the stream moved early: %+v", got)
	}
	if r.l.part.lookup(id).addr != c.addr {
		t.Fatal("moved before the answer")
	}
	// A second datagram within probeEvery asks no second challenge.
	if out := r.send(c.seal(t, r.input(id, 0, 2)), moved); out != nil {
		t.Fatal("second challenge at once")
	}
	r.drain()
	answer := func(data uint64) []byte {
		return c.seal(t, r.enc.PathResponse(&schema.PathResponseFrame{Data: data}))
	}
	r.send(answer(pc.Data+2), moved)                    // wrong data
	r.send(answer(pc.Data), testAddr("127.0.0.1:6001")) // right data, elsewhere
	if r.drops(DropBadPath) != 2 || r.l.part.lookup(id).addr != c.addr || len(r.drain()) != 0 {
		t.Fatal("a bad answer moved the stream")
	}
	r.send(answer(pc.Data), moved)
	got = r.drain()
	if len(got) != 1 || !got[0].move || got[0].addr != moved || got[0].rec.Player != sessionSlot(id) {
		t.Fatalf("move entry %+v", got)
	}
	if r.l.part.lookup(id).addr != moved || r.stats.Migrations.Load() != 1 {
		t.Fatal("not moved")
	}
	// Later inputs are inputs again (the loop's reused ring entry keeps
	// nothing of the move).
	r.send(c.seal(t, r.input(id, 0, 3)), moved)
	if got := r.drain(); len(got) != 1 || got[0].move || got[0].rec.Kind != engine.RecInput {
		t.Fatalf("input after the move: %+v", got)
	}
	// Pongs now answer at the new address.
	if out := r.send(c.seal(t, r.enc.Ping(&schema.PingFrame{SessionID: id, T: 1})), moved); out == nil || r.openAs(c, out) != wire.BodyPong {
		t.Fatal("no Pong at the new address")
	}
}

// A second login of the same user replaces the first: same slot, next
// generation (the engine moves the player's state), the old session id is
// dead, and it is counted.
func TestSecondLoginReplacesFirst(t *testing.T) {
	key := testKey(t, 1)
	r := authRig(t, key)
	r.l.p.sessCost = 1
	a := newTokenClient(t, key, 55, "127.0.0.1:5000", 1)
	r.login(a)
	first := r.drain()[0]
	b := newTokenClient(t, key, 55, "127.0.0.1:6000", 2)
	r.login(b)
	got := r.drain()
	if len(got) != 1 || got[0].rec.Kind != engine.RecJoin || got[0].rec.Player != first.rec.Player ||
		got[0].rec.Gen != first.rec.Gen+1 || got[0].rec.Key != 55 || got[0].addr != b.addr {
		t.Fatalf("relogin join %+v after %+v", got, first)
	}
	if r.l.part.active != 1 || r.stats.Ended[EndRelogin].Load() != 1 {
		t.Fatalf("active %d, relogins %d", r.l.part.active, r.stats.Ended[EndRelogin].Load())
	}
	if r.send(a.seal(t, r.input(a.w.SessionID, 0, 1)), a.addr); r.drops(DropBadSession) != 1 {
		t.Fatal("the replaced session still accepted input")
	}
	if r.send(b.seal(t, r.input(b.w.SessionID, 0, 1)), b.addr); len(r.drain()) != 1 {
		t.Fatal("the new session's input was not taken")
	}
}

// The sealed receive path allocates nothing per datagram.
func TestSealedLoopNoAlloc(t *testing.T) {
	r, c := loggedInRig(t)
	msg := r.input(c.w.SessionID, 3, 1, 2, 3, 4, 5, 6, 7, 8)
	n := copy(c.buf[auth.HeaderSize:], msg)
	buf := make([]byte, schema.MaxDatagram)
	drain := func(*ringEntry) {}
	f := func() {
		copy(buf[auth.HeaderSize:], msg)
		d, _ := c.ch.Seal(buf, n)
		r.l.datagram(d, c.addr, r.now)
		r.l.ring.Drain(drain)
	}
	f()
	before := r.stats.Inputs.Load()
	if a := testing.AllocsPerRun(1000, f); a != 0 {
		t.Errorf("%v allocations per sealed datagram (client seal included)", a)
	}
	if r.stats.Inputs.Load()-before < 1000 {
		t.Fatal("inputs did not reach the ring")
	}
}

// sealedFanout is newTestFanout with every peer keyed: players get sealed
// snapshots of size bytes; it returns the client channels to open them.
func sealedFanout(t testing.TB, players, size int, snd BatchSender) (*fanout, []int32, []*auth.Channel) {
	t.Helper()
	w := newFanWorker(&stampSnapshotter{buf: make([]byte, size)}, snd, &FanoutStats{})
	f, err := newFanout(players, []*fanWorker{w}, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	ps := make([]int32, players)
	chans := make([]*auth.Channel, players)
	for i := range ps {
		ps[i] = int32(i)
		var keys auth.SessionKeys
		keys.ServerToClient[0], keys.ServerToClient[1] = byte(i), byte(i>>8)
		id := makeSessionID(int32(i), 1, 7)
		seal, err := auth.NewSealer(id, &keys.ServerToClient)
		if err != nil {
			t.Fatal(err)
		}
		if chans[i], err = auth.NewChannel(id, &keys, auth.RoleClient); err != nil {
			t.Fatal(err)
		}
		e := joinEntry(int32(i), 1, fanAddr(i), id)
		e.seal = seal
		f.apply(e)
	}
	return f, ps, chans
}

// Sealed snapshots: each player's opens with its own keys only, the 32
// bytes come out of the budget (a largest allowed body is sent at exactly
// 1200 bytes, a larger one is refused and counted), and a move entry
// redirects the stream without touching the keys.
func TestFanoutSealed(t *testing.T) {
	snd := &memSender{batch: 8, keep: true}
	f, ps, chans := sealedFanout(t, 3, maxSealedBody, snd)
	f.send(ps, false)
	if len(snd.sent) != 3 {
		t.Fatalf("sent %d", len(snd.sent))
	}
	for i, d := range snd.sent {
		if len(d.data) != schema.MaxDatagram {
			t.Fatalf("sealed snapshot of %d bytes", len(d.data))
		}
		if _, err := chans[(i+1)%3].Open(bytes.Clone(d.data)); err == nil {
			t.Fatal("another player's keys opened it")
		}
		body, err := chans[i].Open(d.data)
		if err != nil || binary.LittleEndian.Uint32(body) != uint32(i) {
			t.Fatalf("player %d: %v", i, err)
		}
	}
	moved := testAddr("127.0.0.9:999")
	f.apply(&ringEntry{move: true, addr: moved, rec: engine.Record{Player: 1, Gen: 1}})
	f.apply(&ringEntry{move: true, addr: moved, rec: engine.Record{Player: 2, Gen: 9}}) // stale generation
	snd.sent = snd.sent[:0]
	f.send(ps, false)
	if snd.sent[1].addr != moved || snd.sent[2].addr == moved {
		t.Fatalf("move: %v %v", snd.sent[1].addr, snd.sent[2].addr)
	}
	if _, err := chans[1].Open(snd.sent[1].data); err != nil {
		t.Fatal("moved stream lost its keys")
	}

	over := &memSender{batch: 8, keep: true}
	f2, ps2, _ := sealedFanout(t, 2, maxSealedBody+1, over)
	f2.send(ps2, false)
	if len(over.sent) != 0 || f2.workers[0].stats.EncodeErrors.Load() != 2 {
		t.Fatal("a body that cannot be sealed within 1200 bytes was sent")
	}
}

// A sealed fan-out of 1,000 snapshots allocates nothing.
func TestSealedFanoutNoAlloc(t *testing.T) {
	f, ps, _ := sealedFanout(t, 1000, 1000, &memSender{batch: 64})
	f.send(ps, false)
	if n := testing.AllocsPerRun(20, func() { f.send(ps, false) }); n != 0 {
		t.Fatalf("sealed fan-out of 1000 allocates %v", n)
	}
}

// BenchmarkFanoutSeal is the fan-out's cost per snapshot with and without
// sealing (in-memory sender: the syscall is not in it), for the share of
// the tick authentication takes.
func BenchmarkFanoutSeal(b *testing.B) {
	for _, size := range []int{200, 1000} {
		for _, sealed := range []bool{false, true} {
			name := fmt.Sprintf("bytes=%d/sealed=%v", size, sealed)
			b.Run(name, func(b *testing.B) {
				var f *fanout
				var ps []int32
				if sealed {
					f, ps, _ = sealedFanout(b, 1000, size, &memSender{batch: 64})
				} else {
					w := newFanWorker(&stampSnapshotter{buf: make([]byte, size)}, &memSender{batch: 64}, &FanoutStats{})
					var err error
					if f, err = newFanout(1000, []*fanWorker{w}, true, nil); err != nil {
						b.Fatal(err)
					}
					ps = make([]int32, 1000)
					for i := range ps {
						ps[i] = int32(i)
						f.apply(joinEntry(int32(i), 1, fanAddr(i), uint64(i)))
					}
				}
				b.ReportAllocs()
				b.SetBytes(int64(size) * int64(len(ps)))
				for b.Loop() {
					f.send(ps, false)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(ps)), "ns/snapshot")
			})
		}
	}
}

// BenchmarkLoopInputSealed is BenchmarkLoopInput's datagram sealed: the
// receive path's cost with authentication (the client's Seal is outside
// the timer: a copy of pre-sealed datagrams, one per sequence number).
func BenchmarkLoopInputSealed(b *testing.B) {
	r, c := loggedInRig(b)
	msg := r.input(c.w.SessionID, 3, 1, 2, 3, 4, 5, 6, 7, 8)
	const n = 4096
	sealed := make([][]byte, n)
	for i := range sealed {
		sealed[i] = c.seal(b, msg)
	}
	buf := make([]byte, schema.MaxDatagram)
	drain := func(*ringEntry) {}
	b.ReportAllocs()
	b.SetBytes(int64(len(sealed[0])))
	i := 0
	for b.Loop() {
		if i == n {
			// Fresh sequence numbers: reseal the batch outside the timer.
			b.StopTimer()
			for j := range sealed {
				sealed[j] = c.seal(b, msg)
			}
			i = 0
			b.StartTimer()
		}
		d := buf[:copy(buf, sealed[i])]
		r.l.datagram(d, c.addr, r.now)
		if i++; i&1023 == 0 {
			r.l.ring.Drain(drain)
		}
	}
}

// A second login that reaches another event loop (the kernel hashed the
// user's new address to another socket): the new loop holds the Connect
// back and asks the old loop to end the session; once the old session's
// leave has been through the engine, the retransmitted Connect is admitted
// with the user as player key, so the engine moves the parked player's
// state into the new slot. Never two live sessions of one user.
func TestSecondLoginOnAnotherLoop(t *testing.T) {
	key := testKey(t, 1)
	a := newRig(t, rigOpts{loops: 2, idx: 0})
	sa, err := newServerAuth(&Config{TokenKey: key, Loops: 2, ReplayCapacity: 1024, PublicAddrs: []netip.AddrPort{rigPublic}}, rigPublic)
	if err != nil {
		t.Fatal(err)
	}
	a.l.p.auth = sa
	// Loop 1 shares loop 0's parameters (auth, admission), its tick and
	// its cookie secrets, as the loops of one server do.
	bl, err := newLoop(1, a.l.p, 16, 64, a.jar, [32]byte{2}, &a.tick, &a.draining, &LoopStats{})
	if err != nil {
		t.Fatal(err)
	}
	b := &loopRig{t: t, l: bl, jar: a.jar, enc: schema.NewEncoder(), now: a.now}
	a.tick.Store(100)

	first := newTokenClient(t, key, 9, "127.0.0.1:5000", 1)
	a.login(first)
	a.drain()
	second := newTokenClient(t, key, 9, "127.0.0.1:6000", 2)
	conn := b.tokenConnect(second)
	if out := b.send(conn, second.addr); out != nil {
		t.Fatalf("admitted while the user is live on loop 0: %x", out)
	}
	if bl.stats.Drops[DropReloginWait].Load() != 1 {
		t.Fatal("the wait was not counted")
	}
	// Loop 0 ends its session at its next datagram (or sweep).
	a.l.sweep(a.now)
	if got := a.drain(); len(got) != 1 || got[0].rec.Kind != engine.RecLeave || a.stats.Ended[EndRelogin].Load() != 1 {
		t.Fatalf("loop 0 after the kick: %+v", got)
	}
	// Until the engine has surely applied that leave, still held back.
	if out := b.send(conn, second.addr); out != nil {
		t.Fatal("admitted in the tick of the leave")
	}
	a.tick.Store(100 + leaveTicks)
	out := b.send(conn, second.addr)
	if out == nil || b.openAs(second, out) != wire.BodyWelcome {
		t.Fatalf("not admitted after the leave: %x", out)
	}
	got := b.drain()
	if len(got) != 1 || got[0].rec.Kind != engine.RecJoin || got[0].rec.Key != 9 {
		t.Fatalf("join on loop 1: %+v", got)
	}
	// The first session's datagrams are dead.
	a.send(first.seal(t, a.input(first.w.SessionID, 0, 1)), first.addr)
	if a.drops(DropBadSession) != 1 || len(a.drain()) != 0 {
		t.Fatal("the first session still takes input")
	}
}

// Without --public-addr a token must name the listen address; a wildcard
// stands for the loopback address of its family (a development run).
func TestDefaultPublicAddr(t *testing.T) {
	for in, want := range map[string]string{
		"0.0.0.0:7777": "127.0.0.1:7777", "[::]:7777": "[::1]:7777", "10.1.2.3:7000": "10.1.2.3:7000",
	} {
		if got := defaultPublic(netip.MustParseAddrPort(in)); got.String() != want {
			t.Errorf("%s: %v, want %s", in, got, want)
		}
	}
}
