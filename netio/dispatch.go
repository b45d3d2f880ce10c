package netio

import (
	"math/rand/v2"
	"sync/atomic"

	"github.com/treasured/treasured/engine"
	"github.com/treasured/treasured/netio/auth"
	"github.com/treasured/treasured/netio/sockfilter"
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
	addr    Addr   // RecJoin, move: where the player's snapshots go
	session uint64 // RecJoin: the session id, for the shutdown Bye
	// seal, with RecJoin, seals the player's snapshots and Bye (nil
	// without authentication).
	seal *auth.Sealer
	// move is netio's own entry, never the engine's: the session of
	// rec.Player and rec.Gen proved a new address (identity.go); the
	// fan-out streams there from now on.
	move bool
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
	// auth checks connect tokens (identity.go); nil with Config.NoAuth.
	// Set by Start, before any loop runs.
	auth *serverAuth
	// filter is the kernel filter on the loops' sockets (filter.go); nil
	// without one. Set by Start, before any loop runs.
	filter *sockfilter.Filter
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

	// Identity (identity.go): each session's keys, indexed like part.sess;
	// the token being checked; the buffer replies are sealed in and the
	// sealing nonce's scratch.
	crypt    []slotCrypto
	tok      auth.Token
	sealBuf  []byte
	nonce    [12]byte
	pathResp schema.PathResponseFrame
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
		crypt:    make([]slotCrypto, len(part.sess)),
		sealBuf:  make([]byte, schema.MaxDatagram),
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
	if a := l.p.auth; a != nil && len(a.kicks[l.idx]) > 0 {
		l.takeKicks()
	}
	if len(in) > schema.MaxDatagram {
		// gnet's read buffer (readBufferCap) is larger than MaxDatagram, so
		// a longer datagram arrives here longer (truncated to the buffer at
		// worst) and cannot pass for a legal one. Decode would refuse it
		// too; this keeps the policy visible where the limits are.
		l.drop(DropOversized)
		return nil
	}
	if l.p.auth != nil && len(in) >= 8 && in[7] >= 0x80 {
		// Byte 7 is ASCII in a plain datagram (its file identifier) and
		// the session id's top byte, >= 0x80, in a sealed one.
		return l.sealed(in, src, now)
	}
	body, err := l.dec.Decode(in)
	if err != nil {
		l.drop(decodeDrop(schema.Reason(err)))
		return nil
	}
	switch body {
	case wire.BodyHello:
		return l.onHello(in, src, now)
	case wire.BodyConnect:
		return l.onConnect(in, src, now)
	}
	if l.p.auth != nil {
		// Everything after the handshake must be sealed: a plain Input,
		// Ping or Bye is what an injector without the keys can send.
		l.drop(DropUnauthenticated)
		return nil
	}
	switch body {
	case wire.BodyInput:
		l.onInput(src, now)
		return nil
	case wire.BodyPing:
		return l.onPing(in, src, now)
	case wire.BodyBye:
		l.onBye(src)
		return nil
	default:
		// Challenge, Welcome, Reject, Pong, Snapshot, PathChallenge:
		// server-to-client only; PathResponse: sealed only.
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
	// Not charged to the prefix's bucket unless the cookie or the token
	// fails: a client holding a valid cookie must not wait behind its NAT
	// neighbours' Hellos, and it gets the budget's headroom (admission.go).
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
	key := c.PlayerKey
	if l.p.auth != nil {
		// And from here, that a backend vouched for it: the token's
		// user is the player (docs/PROTOCOL.md "One session per user").
		user, reply, ok := l.checkToken(in, src, c, now)
		if !ok {
			return reply
		}
		key = user
	}

	p := l.part
	if local, ok := p.byAddr[src]; ok {
		s := &p.sess[local]
		// With tokens the connection attempt is (address, nonce), as for
		// the replay cache: a retransmit may carry a newer cookie (the
		// client got a second Challenge) and is still the same attempt.
		sameCookie := s.cookie == c.Cookie || l.p.auth != nil && s.key == key
		if s.nonce == c.ClientNonce && sameCookie {
			// The same Connect again: our Welcome was lost. Same answer,
			// no second slot (docs/PROTOCOL.md "Handshake").
			s.lastSeen = now
			l.stats.WelcomeRepeats.inc()
			return l.welcome(in, local)
		}
		if l.p.auth != nil && s.key == key {
			// The same user again from the same address (a client that
			// lost its session and logged in anew): a second login, so
			// the state moves to the new session (relogin).
			return l.relogin(in, src, local, now)
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
	if l.p.auth != nil {
		if local, ok := p.live[key]; ok {
			return l.relogin(in, src, local, now)
		}
		if l.reloginElsewhere(key) {
			return nil
		}
	}
	return l.admit(in, src, key, now)
}

// admit gives a checked Connect a slot (its key's parked one if any), queues
// its RecJoin and answers Welcome.
func (l *loop) admit(in []byte, src Addr, key uint64, now int64) []byte {
	c, p := &l.connect, l.part
	pfx := prefixOf(src)
	if !l.p.admit.acquire(pfx) {
		l.refuse(RefuseIPSessions)
		return l.reject(in, wire.RejectReasonServerFull, c.ClientNonce)
	}
	local, resumed, ok := p.alloc(key)
	if !ok {
		l.p.admit.release(pfx)
		return l.reject(in, wire.RejectReasonServerFull, c.ClientNonce)
	}
	s := &p.sess[local]
	// A resumed slot moves on to the next generation too: the RecLeave that
	// parked it may still be in this tick's records, and the engine orders
	// a slot's records by generation, so the leave of the old one comes
	// first and the join then finds the player parked. With the same
	// generation the join would come first, count as a duplicate of the
	// live session, and the leave would park the player under the new one.
	if !l.join(local, src, key, s.gen+1, now) {
		p.unalloc(local, resumed)
		l.p.admit.release(pfx)
		return nil
	}
	if resumed {
		l.stats.Resumes.inc()
	}
	p.active++
	l.stats.Sessions.set(int64(p.active))
	return l.welcome(in, local)
}

// relogin is a second login of a user whose session is live on this loop:
// the new one replaces it (docs/PROTOCOL.md "One session per user"). The
// slot stays the user's and its generation moves on, so the engine reads
// the RecJoin as "the old session left, a new one joined" and, with a grace
// period, hands the parked state straight to the new session: position,
// items and undelivered loot move with the user. The old session's address
// gets nothing more.
func (l *loop) relogin(in []byte, src Addr, local int32, now int64) []byte {
	c, p := &l.connect, l.part
	s := &p.sess[local]
	oldPfx, newPfx := prefixOf(s.addr), prefixOf(src)
	if oldPfx != newPfx && !l.p.admit.acquire(newPfx) {
		l.refuse(RefuseIPSessions)
		return l.reject(in, wire.RejectReasonServerFull, c.ClientNonce)
	}
	old := s.addr
	if !l.join(local, src, s.key, s.gen+1, now) {
		if oldPfx != newPfx {
			l.p.admit.release(newPfx)
		}
		return nil
	}
	if oldPfx != newPfx {
		l.p.admit.release(oldPfx)
	}
	if cur, ok := p.byAddr[old]; ok && cur == local {
		delete(p.byAddr, old)
	}
	p.byAddr[src] = local
	l.stats.Ended[EndRelogin].inc()
	l.stats.Resumes.inc()
	return l.welcome(in, local)
}

// join queues local's RecJoin for key and generation gen from src and
// fills its session; false (counted) when the ring is full: the engine must
// learn of every join, so there is no Welcome without a queued RecJoin, and
// the client's repeated Connect gets in once the ring has room.
func (l *loop) join(local int32, src Addr, key uint64, gen uint32, now int64) bool {
	c, p := &l.connect, l.part
	slot := p.slotOf(local)
	id := makeSessionID(slot, gen, uint32(l.rng.Uint64()))
	var seal *auth.Sealer
	if l.p.auth != nil {
		if err := l.newCrypto(local, id); err != nil {
			l.drop(DropBadSession) // cannot happen: ids have bit 63, keys 32 bytes
			return false
		}
		seal = l.crypt[local].seal
	}
	if err := l.filterSession(local, id); err != nil {
		l.stats.FilterErrors.inc()
		l.drop(DropBadSession) // the kernel would drop the session's datagrams
		return false
	}
	l.entry = ringEntry{
		rec:     engine.Record{Kind: engine.RecJoin, Region: c.Region, Player: slot, Gen: gen, Key: key},
		addr:    src,
		session: id,
		seal:    seal,
	}
	if !l.ring.Push(&l.entry) {
		l.forgetSession(local)
		l.drop(DropRingFull)
		return false
	}
	s := &p.sess[local]
	*s = session{
		id: id, addr: src, gen: gen, state: slotActive, region: c.Region,
		nonce: c.ClientNonce, cookie: c.Cookie, key: key,
		lastSeen: now,
	}
	s.bucket.reset(now, l.p.sessMax)
	p.byAddr[src] = local
	if l.p.auth != nil {
		p.live[key] = local
		l.p.auth.users.live(key, l.idx, local, gen)
	}
	l.stats.Welcomes.inc()
	return true
}

// welcome answers local's Connect: sealed with the session keys when there
// are any, so the client learns the server holds the token key too.
func (l *loop) welcome(in []byte, local int32) []byte {
	s := &l.part.sess[local]
	msg := l.enc.Welcome(&schema.WelcomeFrame{
		SessionID:   s.id,
		PlayerID:    uint32(l.part.slotOf(local)),
		TickHz:      l.p.tickHz,
		ServerTick:  l.tick.Load(),
		Region:      s.region,
		ClientNonce: s.nonce,
	})
	if l.p.auth != nil {
		msg = l.seal(local, msg)
	}
	return l.reply(msg, in)
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
	l.dec.InputInto(&l.input)
	local := l.session(l.input.SessionID, src, now)
	if local < 0 {
		return
	}
	l.pushInput(&l.part.sess[local])
}

// pushInput queues the decoded l.input of session s to the engine.
func (l *loop) pushInput(s *session) {
	in := &l.input
	e := &l.entry
	e.rec = engine.Record{
		Kind:    engine.RecInput,
		N:       uint8(in.N), // <= MaxActions: Decode refuses more
		Player:  sessionSlot(s.id),
		Gen:     s.gen,
		AckTick: in.AckTick,
		Actions: in.Actions,
	}
	// l.entry is reused: clear what a join or a move left in it, or this
	// input would reach the fan-out as a move to address zero.
	e.addr, e.session, e.seal, e.move = Addr{}, 0, nil, false
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
	l.forgetSession(local)
	l.part.end(local)
	l.stats.Sessions.set(int64(l.part.active))
	l.stats.Ended[why].inc()
	if !l.pushLeave(local) {
		l.stats.LeaveRetries.inc()
		l.pending = append(l.pending, local)
	}
}

// forgetSession takes local's session out of the kernel filter.
func (l *loop) forgetSession(local int32) {
	if err := l.filterSession(local, 0); err != nil {
		l.stats.FilterErrors.inc()
	}
}

func (l *loop) pushLeave(local int32) bool {
	s := &l.part.sess[local]
	l.entry = ringEntry{rec: engine.Record{Kind: engine.RecLeave, Player: l.part.slotOf(local), Gen: s.gen}}
	if !l.ring.Push(&l.entry) {
		return false
	}
	if a := l.p.auth; a != nil {
		a.users.leave(s.key, l.idx, local, s.gen, l.tick.Load())
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
	if a := l.p.auth; a != nil {
		l.takeKicks()
		a.users.prune(l.tick.Load())
	}
	l.part.expireParked(now)
	for i := range l.part.sess {
		s := &l.part.sess[i]
		if s.state == slotActive && now-s.lastSeen > l.p.idle {
			l.endSession(int32(i), EndTimeout)
		}
	}
}
