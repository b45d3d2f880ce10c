package netio

import (
	"math/rand/v2"
	"sync/atomic"

	"github.com/treasured/treasured/engine"
	"github.com/treasured/treasured/schema"
	"github.com/treasured/treasured/schema/wire"
)

// ringEntry is what an event loop hands the engine: the engine's fixed-size
// Record plus what only netio needs on the far side of the ring. The
// fan-out must know each player's address and session id, and it must learn
// them in the same order as the engine learns joins and leaves; carrying
// them in the ring gives exactly that, with the ring's happens-before, and
// leaves nothing shared between a loop and the fan-out to race on.
type ringEntry struct {
	rec     engine.Record
	addr    Addr   // RecJoin: where the player's snapshots go
	session uint64 // RecJoin: the session id, for the shutdown Bye
}

// loopParams are the settings every loop reads; never written after New.
type loopParams struct {
	loops        int
	regions      int
	tickHz       uint16
	idle         int64  // ns without a valid datagram before a session ends
	cookieTTLms  uint64 // lifetime of a Challenge's cookie
	originUnixMs int64  // unix ms at server clock 0; cookie expiries are unix ms
	sessCost     int64  // token bucket: ns of credit per datagram
	sessMax      int64  // and most credit held
	hsCost       int64  // handshake bucket, per prefix (admission.go)
	hsMax        int64
	// admit is the admission state every loop shares (its own locking).
	admit *admission
}

// loop is one event loop's state: its sessions, its ring to the engine, its
// decoder, encoder and cookie MAC. Owner: that loop's goroutine (gnet runs
// each loop's callbacks on one goroutine). datagram and sweep are the only
// entry points, and both run there; tests call them directly.
type loop struct {
	idx   int
	p     *loopParams
	ring  *spsc[ringEntry]
	part  *partition
	mac   *cookieMAC
	dec   schema.Decoder
	enc   *schema.Encoder
	rng   *rand.ChaCha8
	hs    handshakeLimiter
	stats *LoopStats

	tick     *atomic.Uint32 // engine tick, published by the tick goroutine
	draining *atomic.Bool   // shutting down: no new players
	now      int64          // server clock of the datagram or sweep being handled

	// Slots whose RecLeave did not fit in the ring; retried before each
	// datagram and at each sweep. Capacity = partition size, so no growth.
	pending []int32

	// Decoded frames and the ring entry under construction, reused per
	// datagram (on the loop's struct, not the stack, so nothing escapes).
	hello   schema.HelloFrame
	connect schema.ConnectFrame
	input   schema.InputFrame
	ping    schema.PingFrame
	bye     schema.ByeFrame
	entry   ringEntry
}

func newLoop(idx int, p *loopParams, maxSlots, ringSize int, jar *cookieJar, seed [32]byte,
	tick *atomic.Uint32, draining *atomic.Bool, stats *LoopStats) (*loop, error) {
	part, err := newPartition(idx, p.loops, maxSlots)
	if err != nil {
		return nil, err
	}
	r, err := newSPSC[ringEntry](ringSize)
	if err != nil {
		return nil, err
	}
	rng := rand.NewChaCha8(seed)
	l := &loop{
		idx: idx, p: p, ring: r, part: part,
		mac:      newCookieMAC(jar),
		enc:      schema.NewEncoder(),
		rng:      rng,
		hs:       newHandshakeLimiter(rng.Uint64()|1, p.hsMax),
		stats:    stats,
		tick:     tick,
		draining: draining,
		pending:  make([]int32, 0, len(part.sess)),
	}
	return l, nil
}

// datagram handles one received datagram from src at server clock now (ns)
// and returns the reply to send to src, or nil. The reply aliases the
// loop's encoder and is valid until the next call. Nothing of in is kept.
func (l *loop) datagram(in []byte, src Addr, now int64) []byte {
	l.now = now
	l.stats.DatagramsIn.inc()
	l.stats.BytesIn.add(uint64(len(in)))
	if len(l.pending) > 0 {
		l.retryLeaves()
	}
	if len(in) > schema.MaxDatagram {
		// gnet's read buffer (readBufferCap) is larger than MaxDatagram, so
		// a longer datagram arrives here longer (truncated to the buffer at
		// worst) and cannot pass for a legal one. Decode would refuse it
		// too; this keeps the policy visible where the limits are.
		l.drop(DropOversized)
		return nil
	}
	body, err := l.dec.Decode(in)
	if err != nil {
		l.drop(decodeDrop(schema.Reason(err)))
		return nil
	}
	switch body {
	case wire.BodyInput:
		l.onInput(src, now)
		return nil
	case wire.BodyPing:
		return l.onPing(in, src, now)
	case wire.BodyHello:
		return l.onHello(in, src, now)
	case wire.BodyConnect:
		return l.onConnect(in, src, now)
	case wire.BodyBye:
		l.onBye(src)
		return nil
	default:
		// Challenge, Welcome, Reject, Pong, Snapshot: server-to-client only.
		l.drop(DropUnexpected)
		return nil
	}
}

func (l *loop) drop(r DropReason) { l.stats.Drops[r].inc() }

// decodeDrop maps the verifier's reason to ours. Only the reasons a sender
// can tell apart by what it did get their own label; the rest of the
// verifier's findings (bad offsets, vtables, unions...) are "malformed".
func decodeDrop(e schema.Error) DropReason {
	switch e {
	case schema.ErrTooLarge:
		return DropOversized
	case schema.ErrTooShort:
		return DropTruncated
	case schema.ErrIdentifier:
		return DropBadIdentifier
	case schema.ErrShortHandshake:
		return DropUnpadded
	default:
		return DropMalformed
	}
}

// reply returns out if it is no larger than in, else drops it. Every answer
// to a datagram whose sender has not proved its address (Hello, Connect) or
// that costs the server nothing to fake (Ping) goes through here, so the
// server can never amplify a spoofed flood (docs/PROTOCOL.md "Handshake").
func (l *loop) reply(out, in []byte) []byte {
	if len(out) > len(in) {
		l.drop(DropAmplification)
		return nil
	}
	return out
}

func (l *loop) reject(in []byte, reason wire.RejectReason, nonce uint64) []byte {
	l.stats.Rejects[reason].inc()
	return l.reply(l.enc.Reject(&schema.RejectFrame{Reason: uint8(reason), ClientNonce: nonce}), in)
}

func (l *loop) nowUnixMs(now int64) uint64 { return uint64(l.p.originUnixMs + now/1e6) }

func (l *loop) refuse(r RefuseReason) { l.stats.Refused[r].inc() }

func (l *loop) onHello(in []byte, src Addr, now int64) []byte {
	// The prefix's own bucket first: one host's flood then never reaches
	// the budget everybody shares.
	if !l.hs.allow(prefixOf(src), now, l.p.hsCost, l.p.hsMax) {
		l.drop(DropHandshakeLimited)
		l.refuse(RefuseIPHandshakes)
		return nil
	}
	if !l.p.admit.budget.allow(now, l.p.admit.budget.helloTol) {
		l.drop(DropHandshakeBudget)
		l.refuse(RefuseGlobalBudget)
		return nil
	}
	l.dec.HelloInto(&l.hello)
	if l.hello.Version != schema.Version {
		return l.reject(in, wire.RejectReasonBadVersion, l.hello.ClientNonce)
	}
	expiry := l.nowUnixMs(now) + l.p.cookieTTLms
	c := l.mac.mint(src, l.hello.ClientNonce, expiry)
	l.stats.Challenges.inc()
	return l.reply(l.enc.Challenge(&schema.ChallengeFrame{Cookie: c, Expiry: expiry, ClientNonce: l.hello.ClientNonce}), in)
}

func (l *loop) onConnect(in []byte, src Addr, now int64) []byte {
	// Not charged to the prefix's bucket unless the cookie fails: a client
	// holding a valid cookie must not wait behind its NAT neighbours'
	// Hellos, and it gets the budget's headroom (admission.go).
	if !l.p.admit.budget.allow(now, l.p.admit.budget.connectTol) {
		l.drop(DropHandshakeBudget)
		l.refuse(RefuseGlobalBudget)
		return nil
	}
	c := &l.connect
	l.dec.ConnectInto(c)
	if c.Version != schema.Version {
		return l.reject(in, wire.RejectReasonBadVersion, c.ClientNonce)
	}
	switch l.mac.check(src, c.ClientNonce, c.Expiry, c.Cookie, l.nowUnixMs(now), l.p.cookieTTLms) {
	case cookieExpired:
		l.hs.allow(prefixOf(src), now, l.p.hsCost, l.p.hsMax)
		return l.reject(in, wire.RejectReasonCookieExpired, c.ClientNonce)
	case cookieBad:
		l.hs.allow(prefixOf(src), now, l.p.hsCost, l.p.hsMax)
		return l.reject(in, wire.RejectReasonBadCookie, c.ClientNonce)
	}
	// From here the sender has proved it receives at src.

	p := l.part
	if local, ok := p.byAddr[src]; ok {
		s := &p.sess[local]
		if s.nonce == c.ClientNonce && s.cookie == c.Cookie {
			// The same Connect again: our Welcome was lost. Same answer,
			// no second slot (docs/PROTOCOL.md "Handshake").
			s.lastSeen = now
			l.stats.WelcomeRepeats.inc()
			return l.welcome(in, s, p.slotOf(local))
		}
		// A new handshake from an address that has a session: the client
		// restarted on the same port. The old session is over.
		l.endSession(local, EndReplaced)
	}
	if l.draining.Load() {
		return l.reject(in, wire.RejectReasonShuttingDown, c.ClientNonce)
	}
	if int(c.Region) >= l.p.regions {
		return l.reject(in, wire.RejectReasonBadRegion, c.ClientNonce)
	}
	pfx := prefixOf(src)
	if !l.p.admit.acquire(pfx) {
		l.refuse(RefuseIPSessions)
		return l.reject(in, wire.RejectReasonServerFull, c.ClientNonce)
	}
	local, resumed, ok := p.alloc(c.PlayerKey)
	if !ok {
		l.p.admit.release(pfx)
		return l.reject(in, wire.RejectReasonServerFull, c.ClientNonce)
	}
	slot := p.slotOf(local)
	s := &p.sess[local]
	gen := s.gen + 1
	if resumed {
		// The engine's parked player of this key: same slot, same
		// generation, so the player's identity survives the reconnect.
		gen = s.gen
		l.stats.Resumes.inc()
	}
	id := makeSessionID(slot, gen, uint32(l.rng.Uint64()))
	l.entry = ringEntry{
		rec:     engine.Record{Kind: engine.RecJoin, Region: c.Region, Player: slot, Gen: gen, Key: c.PlayerKey},
		addr:    src,
		session: id,
	}
	if !l.ring.Push(&l.entry) {
		// The engine must learn of every join, so no Welcome without a
		// queued RecJoin. The client repeats its Connect (the cookie is
		// still good) and gets in once the ring has room.
		p.unalloc(local, resumed)
		l.p.admit.release(pfx)
		l.drop(DropRingFull)
		return nil
	}
	*s = session{
		id: id, addr: src, gen: gen, state: slotActive, region: c.Region,
		nonce: c.ClientNonce, cookie: c.Cookie, key: c.PlayerKey,
		lastSeen: now,
	}
	s.bucket.reset(now, l.p.sessMax)
	p.byAddr[src] = local
	p.active++
	l.stats.Sessions.set(int64(p.active))
	l.stats.Welcomes.inc()
	return l.welcome(in, s, slot)
}

func (l *loop) welcome(in []byte, s *session, slot int32) []byte {
	return l.reply(l.enc.Welcome(&schema.WelcomeFrame{
		SessionID:   s.id,
		PlayerID:    uint32(slot),
		TickHz:      l.p.tickHz,
		ServerTick:  l.tick.Load(),
		Region:      s.region,
		ClientNonce: s.nonce,
	}), in)
}

// session validates a datagram's session id and source: the id must name a
// live session of this loop, the source must be the session's address and
// the session must be within its rate. It returns the local index, or -1
// after counting the drop.
func (l *loop) session(id uint64, src Addr, now int64) int32 {
	s := l.part.lookup(id)
	if s == nil {
		l.drop(DropBadSession)
		return -1
	}
	if s.addr != src {
		l.drop(DropWrongAddress)
		return -1
	}
	ok, first := s.bucket.allow(now, l.p.sessCost, l.p.sessMax)
	if first {
		l.stats.Flooders.inc()
	}
	if !ok {
		l.drop(DropRateLimited)
		return -1
	}
	s.lastSeen = now
	return int32(int(sessionSlot(id)) / l.p.loops)
}

func (l *loop) onInput(src Addr, now int64) {
	in := &l.input
	l.dec.InputInto(in)
	local := l.session(in.SessionID, src, now)
	if local < 0 {
		return
	}
	s := &l.part.sess[local]
	e := &l.entry
	e.rec = engine.Record{
		Kind:    engine.RecInput,
		N:       uint8(in.N), // <= MaxActions: Decode refuses more
		Player:  sessionSlot(s.id),
		Gen:     s.gen,
		AckTick: in.AckTick,
		Actions: in.Actions,
	}
	e.addr, e.session = Addr{}, 0
	if !l.ring.Push(e) {
		l.drop(DropRingFull)
		return
	}
	l.stats.Inputs.inc()
}

func (l *loop) onPing(in []byte, src Addr, now int64) []byte {
	l.dec.PingInto(&l.ping)
	if l.session(l.ping.SessionID, src, now) < 0 {
		return nil
	}
	l.stats.Pongs.inc()
	return l.reply(l.enc.Pong(&schema.PongFrame{T: l.ping.T, ServerTick: l.tick.Load()}), in)
}

func (l *loop) onBye(src Addr) {
	l.dec.ByeInto(&l.bye)
	s := l.part.lookup(l.bye.SessionID)
	if s == nil {
		l.drop(DropBadSession)
		return
	}
	if s.addr != src {
		l.drop(DropWrongAddress)
		return
	}
	// No rate limit: a Bye can only end the sender's own session, once.
	l.endSession(int32(int(sessionSlot(l.bye.SessionID))/l.p.loops), EndBye)
}

// endSession ends an active session and queues its RecLeave, or remembers
// to queue it when the ring has room again: a leave is never dropped, or the
// engine would keep a player that netio has forgotten.
func (l *loop) endSession(local int32, why EndReason) {
	l.p.admit.release(prefixOf(l.part.sess[local].addr))
	l.part.end(local)
	l.stats.Sessions.set(int64(l.part.active))
	l.stats.Ended[why].inc()
	if !l.pushLeave(local) {
		l.stats.LeaveRetries.inc()
		l.pending = append(l.pending, local)
	}
}

func (l *loop) pushLeave(local int32) bool {
	s := &l.part.sess[local]
	l.entry = ringEntry{rec: engine.Record{Kind: engine.RecLeave, Player: l.part.slotOf(local), Gen: s.gen}}
	if !l.ring.Push(&l.entry) {
		return false
	}
	l.part.release(local, l.now)
	return true
}

// retryLeaves queues deferred leaves, oldest first, until the ring is full.
func (l *loop) retryLeaves() {
	n := 0
	for n < len(l.pending) && l.pushLeave(l.pending[n]) {
		n++
	}
	l.pending = append(l.pending[:0], l.pending[n:]...)
}

// sweep ends sessions idle for longer than the idle timeout and retries
// deferred leaves. It runs on the loop's goroutine about once a second
// (Server schedules it with gnet's EventLoop.Execute), so it needs no lock.
func (l *loop) sweep(now int64) {
	l.now = now
	l.retryLeaves()
	l.part.expireParked(now)
	for i := range l.part.sess {
		s := &l.part.sess[i]
		if s.state == slotActive && now-s.lastSeen > l.p.idle {
			l.endSession(int32(i), EndTimeout)
		}
	}
}
