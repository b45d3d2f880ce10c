package netio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"net/netip"
	"sync"
	"time"

	"github.com/treasured/treasured/engine"
	"github.com/treasured/treasured/netio/auth"
	"github.com/treasured/treasured/schema"
	"github.com/treasured/treasured/schema/wire"
)

// Identity (docs/PROTOCOL.md "Connect tokens", "Authenticated datagrams",
// "Address migration", "One session per user"): the Connect carries a token
// a backend issued, the token's user id is the player's key, and every
// datagram after the handshake is sealed with the token's session keys.
// This file holds the loop's side of it; the formats are netio/auth's.

// maxSealedBody is the largest message that still fits a datagram once
// sealed: the authentication's 32 bytes come out of the snapshot budget.
const maxSealedBody = schema.MaxDatagram - auth.Overhead

// TokenRefusal says why a Connect's token was refused
// (treasured_token_refusals_total). One reason per netio/auth error.
type TokenRefusal uint8

// Token refusal reasons. Order is the exported label order; append only.
const (
	TokenMissing         TokenRefusal = iota // a Connect without a token
	TokenTruncated                           // not exactly 208 bytes
	TokenBadVersion                          // a token version this server does not know
	TokenMalformed                           // reserved bytes, address list or padding wrong
	TokenUnknownKey                          // sealed with a retired or unknown key
	TokenExpired                             // past its expiry
	TokenBadSignature                        // the seal does not open (forged or altered)
	TokenWrongServer                         // names none of this server's public addresses
	TokenReplayed                            // used before by another connection attempt
	TokenReplayCacheFull                     // the replay cache had no room: refused, fail closed
	NumTokenRefusals
)

var tokenRefusalNames = [NumTokenRefusals]string{
	TokenMissing:         "missing",
	TokenTruncated:       "truncated",
	TokenBadVersion:      "bad_version",
	TokenMalformed:       "malformed",
	TokenUnknownKey:      "unknown_key",
	TokenExpired:         "expired",
	TokenBadSignature:    "bad_signature",
	TokenWrongServer:     "wrong_server",
	TokenReplayed:        "replayed",
	TokenReplayCacheFull: "replay_cache_full",
}

func (r TokenRefusal) String() string {
	if r < NumTokenRefusals {
		return tokenRefusalNames[r]
	}
	return "unknown"
}

// tokenRefusalOf maps netio/auth's errors, one to one.
func tokenRefusalOf(err error) TokenRefusal {
	switch {
	case errors.Is(err, auth.ErrTruncated):
		return TokenTruncated
	case errors.Is(err, auth.ErrVersion):
		return TokenBadVersion
	case errors.Is(err, auth.ErrUnknownKey):
		return TokenUnknownKey
	case errors.Is(err, auth.ErrExpired):
		return TokenExpired
	case errors.Is(err, auth.ErrBadSignature):
		return TokenBadSignature
	case errors.Is(err, auth.ErrWrongServer):
		return TokenWrongServer
	case errors.Is(err, auth.ErrReplayed):
		return TokenReplayed
	case errors.Is(err, auth.ErrReplayCache):
		return TokenReplayCacheFull
	}
	return TokenMalformed
}

// serverAuth is what every loop shares to check tokens: the stateless
// verifier (read-only) and the replay cache (locked per shard).
type serverAuth struct {
	verifier *auth.Verifier
	replay   *auth.ReplayCache
	seed     maphash.Seed // replay-cache owner hash
	users    userDir
	// kicks[i] asks loop i to end a session whose user logged in on
	// another loop; buffered, never blocking the sender.
	kicks []chan kickReq
}

// newServerAuth builds the token check for the server's public addresses.
func newServerAuth(c *Config, listen netip.AddrPort) (*serverAuth, error) {
	self := c.PublicAddrs
	if len(self) == 0 {
		self = []netip.AddrPort{defaultPublic(listen)}
	}
	v, err := auth.NewVerifier(c.TokenKey, c.TokenKeyPrevious, self)
	if err != nil {
		return nil, fmt.Errorf("netio: token verifier: %w", err)
	}
	if c.Logger != nil {
		c.Logger.Info("connect tokens required", "public_addrs", fmt.Sprint(self), "replay_cache", c.ReplayCapacity)
	}
	rc, err := auth.NewReplayCache(c.ReplayCapacity, 16)
	if err != nil {
		return nil, fmt.Errorf("netio: replay cache: %w", err)
	}
	a := &serverAuth{verifier: v, replay: rc, seed: maphash.MakeSeed(), users: userDir{users: map[uint64]userSlot{}}}
	a.kicks = make([]chan kickReq, max(1, c.Loops))
	for i := range a.kicks {
		a.kicks[i] = make(chan kickReq, kickQueue)
	}
	return a, nil
}

// One session per user across loops (docs/PROTOCOL.md "One session per
// user"). The kernel may hash a user's new address to another loop's
// socket, which cannot touch the first loop's sessions; so the new loop
// asks the old one to end the session (a kick), drops the Connect while it
// waits, and admits the client's retransmitted Connect once the old
// session's leave has been through the engine: the engine then finds the
// user's parked player and moves its state into the new slot. A join and
// a leave of the same user in one tick would be applied in slot order, a
// join first finding nothing parked, hence the wait of leaveTicks.

// kickQueue bounds the kicks waiting for one loop; a full queue drops the
// kick and the client's next Connect asks again.
const kickQueue = 256

// leaveTicks is how many ticks after a leave is queued the engine has
// surely applied it: the tick whose drain may have just missed it, and the
// next.
const leaveTicks = 2

type kickReq struct {
	local int32
	gen   uint32
}

// userDir maps each user with a session to its loop and slot. Touched per
// Connect and per session end, never per datagram: a mutex is enough.
type userDir struct {
	mu    sync.Mutex
	users map[uint64]userSlot
}

type userSlot struct {
	loop   int
	local  int32
	gen    uint32
	left   bool   // the session's leave is queued
	leftAt uint32 // engine tick when it was
}

func (d *userDir) live(user uint64, loop int, local int32, gen uint32) {
	d.mu.Lock()
	d.users[user] = userSlot{loop: loop, local: local, gen: gen}
	d.mu.Unlock()
}

// leave records that the session (loop, local, gen) of user queued its
// leave at tick; a newer session of the user is left alone.
func (d *userDir) leave(user uint64, loop int, local int32, gen uint32, tick uint32) {
	d.mu.Lock()
	if e, ok := d.users[user]; ok && e.loop == loop && e.local == local && e.gen == gen && !e.left {
		e.left, e.leftAt = true, tick
		d.users[user] = e
	}
	d.mu.Unlock()
}

// elsewhere says whether loop must hold back a Connect of user: the user
// has a live session on another loop (then the returned kick is for that
// loop), or one whose leave the engine may not have applied yet.
func (d *userDir) elsewhere(user uint64, loop int, tick uint32) (wait bool, kickLoop int, k kickReq) {
	d.mu.Lock()
	defer d.mu.Unlock()
	e, ok := d.users[user]
	switch {
	case !ok:
		return false, 0, k
	case !e.left:
		if e.loop == loop {
			return false, 0, k // this loop's own session: relogin handles it
		}
		return true, e.loop, kickReq{local: e.local, gen: e.gen}
	case e.loop != loop && tick < e.leftAt+leaveTicks:
		return true, -1, k
	}
	delete(d.users, user)
	return false, 0, k
}

// prune forgets users whose session left long enough ago; each loop's
// sweep calls it, so the map holds live users and recent leavers only.
func (d *userDir) prune(tick uint32) {
	d.mu.Lock()
	for u, e := range d.users {
		if e.left && tick >= e.leftAt+leaveTicks {
			delete(d.users, u)
		}
	}
	d.mu.Unlock()
}

// reloginElsewhere holds back a Connect of user while its session on
// another loop ends; true when the Connect was held back (and counted).
func (l *loop) reloginElsewhere(user uint64) bool {
	a := l.p.auth
	wait, other, k := a.users.elsewhere(user, l.idx, l.tick.Load())
	if !wait {
		return false
	}
	if other >= 0 {
		select {
		case a.kicks[other] <- k:
		default: // full: the client's next Connect kicks again
		}
	}
	l.drop(DropReloginWait)
	return true
}

// takeKicks ends the sessions other loops asked to end (their users logged
// in there). A kick for a session that already ended or was replaced is
// stale and ignored.
func (l *loop) takeKicks() {
	ch := l.p.auth.kicks[l.idx]
	for {
		select {
		case k := <-ch:
			if k.local < 0 || int(k.local) >= len(l.part.sess) {
				continue
			}
			if s := &l.part.sess[k.local]; s.state == slotActive && s.gen == k.gen {
				l.endSession(k.local, EndRelogin)
			}
		default:
			return
		}
	}
}

// defaultPublic is the address a token must name when none is configured:
// the listen address, a wildcard replaced by its family's loopback.
func defaultPublic(listen netip.AddrPort) netip.AddrPort {
	a := listen.Addr()
	switch {
	case a.IsUnspecified() && a.Is4():
		a = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	case a.IsUnspecified():
		a = netip.IPv6Loopback()
	}
	return netip.AddrPortFrom(a, listen.Port())
}

// owner is a connection attempt for the replay cache: a retransmitted
// Connect (same address, same nonce) may present its token again, anyone
// else may not.
func (a *serverAuth) owner(src Addr, nonce uint64) uint64 {
	var b [26]byte
	copy(b[:16], src.IP[:])
	binary.LittleEndian.PutUint16(b[16:], src.Port)
	binary.LittleEndian.PutUint64(b[18:], nonce)
	return maphash.Bytes(a.seed, b[:])
}

// slotCrypto is a session's authentication state, in a side table of the
// loop indexed like its sessions (the session table stays pointer-free).
// Owner: the loop, except that the Sealer is also handed to the fan-out
// (through the ring, with the RecJoin), which may seal with it at the same
// time: Sealer is safe for that.
type slotCrypto struct {
	open *auth.Opener
	seal *auth.Sealer
	// Path validation: the address a PathChallenge went to, its data and
	// when it was sent (server clock, ns). Zero data: none outstanding.
	probe     Addr
	probeData uint64
	probeAt   int64
}

// probeEvery bounds PathChallenges per session: an authenticated datagram
// from a new address asks for one, a client sends 20 a second.
const probeEvery = int64(200 * time.Millisecond)

// checkToken verifies a Connect's token and admits it to the replay cache.
// It returns the user id, or the answer to send (a Reject, or nil) with ok
// false after counting the refusal. A refusal charges the prefix's
// handshake bucket, like a bad cookie: it is work a sender made us do.
func (l *loop) checkToken(in []byte, src Addr, c *schema.ConnectFrame, now int64) (user uint64, reply []byte, ok bool) {
	a := l.p.auth
	var err error
	if len(c.Token) == 0 {
		l.tokenRefused(TokenMissing, src, now)
		return 0, l.reject(in, wire.RejectReasonBadToken, c.ClientNonce), false
	}
	unix := int64(l.nowUnixMs(now) / 1000)
	err = a.verifier.Verify(c.Token, time.Unix(unix, 0), &l.tok)
	if err == nil {
		err = a.replay.Admit(l.tok.ID(), a.owner(src, c.ClientNonce), l.tok.Expires, uint64(unix))
	}
	if err != nil {
		r := tokenRefusalOf(err)
		l.tokenRefused(r, src, now)
		if r == TokenExpired {
			return 0, l.reject(in, wire.RejectReasonTokenExpired, c.ClientNonce), false
		}
		return 0, l.reject(in, wire.RejectReasonBadToken, c.ClientNonce), false
	}
	return l.tok.UserID, nil, true
}

func (l *loop) tokenRefused(r TokenRefusal, src Addr, now int64) {
	l.stats.TokenRefused[r].inc()
	l.hs.allow(prefixOf(src), now, l.p.hsCost, l.p.hsMax)
}

// newCrypto sets up local's session keys for session id from the token
// just verified. Once per Connect: the two ciphers are the handshake's only
// allocations.
func (l *loop) newCrypto(local int32, id uint64) error {
	o, err := auth.NewOpener(id, &l.tok.Keys.ClientToServer)
	if err != nil {
		return err
	}
	s, err := auth.NewSealer(id, &l.tok.Keys.ServerToClient)
	if err != nil {
		return err
	}
	l.crypt[local] = slotCrypto{open: o, seal: s}
	return nil
}

// seal seals msg (an encoded message) for local into the loop's seal
// buffer and returns the datagram, or nil after counting why not.
func (l *loop) seal(local int32, msg []byte) []byte {
	sc := &l.crypt[local]
	if sc.seal == nil || len(msg) > maxSealedBody {
		l.drop(DropAmplification)
		return nil
	}
	n := copy(l.sealBuf[auth.HeaderSize:], msg)
	out, err := sc.seal.Seal(l.sealBuf, n, &l.nonce)
	if err != nil {
		return nil // sequence numbers exhausted: the session will time out
	}
	return out
}

// sealed handles an authenticated datagram (byte 7 >= 0x80): find the
// session, open it in place, then act on the message inside. The address
// check comes after the tag: a datagram that opens came from the key
// holder, wherever it came from (migration).
func (l *loop) sealed(in []byte, src Addr, now int64) []byte {
	id, _ := auth.PeekSession(in)
	if len(in) < auth.Overhead {
		l.drop(DropTruncated)
		return nil
	}
	s := l.part.lookup(id)
	if s == nil || l.crypt[l.localOf(id)].open == nil {
		l.drop(DropBadSession)
		return nil
	}
	local := l.localOf(id)
	body, err := l.crypt[local].open.Open(in)
	if err != nil {
		l.drop(openDrop(err))
		return nil
	}
	kind, err := l.dec.Decode(body)
	if err != nil {
		l.drop(decodeDrop(schema.Reason(err)))
		return nil
	}
	ok, first := s.bucket.allow(now, l.p.sessCost, l.p.sessMax)
	if first {
		l.stats.Flooders.inc()
	}
	if !ok {
		l.drop(DropRateLimited)
		return nil
	}
	s.lastSeen = now
	switch kind {
	case wire.BodyInput:
		l.dec.InputInto(&l.input)
		if l.input.SessionID != id {
			l.drop(DropBadSession)
			return nil
		}
		l.pushInput(s)
	case wire.BodyPing:
		l.dec.PingInto(&l.ping)
		if l.ping.SessionID != id {
			l.drop(DropBadSession)
			return nil
		}
		if src == s.addr {
			l.stats.Pongs.inc()
			return l.reply(l.seal(local, l.enc.Pong(&schema.PongFrame{T: l.ping.T, ServerTick: l.tick.Load()})), in)
		}
	case wire.BodyBye:
		l.dec.ByeInto(&l.bye)
		if l.bye.SessionID != id {
			l.drop(DropBadSession)
			return nil
		}
		l.endSession(local, EndBye)
		return nil
	case wire.BodyPathResponse:
		l.dec.PathResponseInto(&l.pathResp)
		l.onPathResponse(local, src)
		return nil
	default:
		l.drop(DropUnexpected)
		return nil
	}
	if src != s.addr {
		return l.challengePath(local, src, in, now)
	}
	return nil
}

// openDrop maps a refused authenticated datagram to its drop reason.
func openDrop(err error) DropReason {
	switch {
	case errors.Is(err, auth.ErrForged):
		return DropForged
	case errors.Is(err, auth.ErrReplayedDatagram), errors.Is(err, auth.ErrTooOld):
		return DropReplayed
	case errors.Is(err, auth.ErrShortDatagram):
		return DropTruncated
	}
	return DropBadSession
}

func (l *loop) localOf(id uint64) int32 { return int32(int(sessionSlot(id)) / l.p.loops) }

// challengePath answers an authenticated datagram from an address that is
// not the session's: the stream stays where it is, and the new address gets
// a sealed PathChallenge (at most one per probeEvery) that only a client
// holding the keys and receiving there can answer (docs/PROTOCOL.md
// "Address migration"). The challenge is no larger than what provoked it.
func (l *loop) challengePath(local int32, src Addr, in []byte, now int64) []byte {
	sc := &l.crypt[local]
	if sc.probe == src && sc.probeData != 0 && now-sc.probeAt < probeEvery {
		return nil
	}
	sc.probe, sc.probeAt = src, now
	sc.probeData = l.rng.Uint64() | 1
	l.stats.PathChallenges.inc()
	return l.reply(l.seal(local, l.enc.PathChallenge(&schema.PathChallengeFrame{Data: sc.probeData})), in)
}

// onPathResponse moves local's stream to src when src answered the
// outstanding challenge; anything else is a stale or stray answer.
func (l *loop) onPathResponse(local int32, src Addr) {
	sc := &l.crypt[local]
	if sc.probeData == 0 || src != sc.probe || l.pathResp.Data != sc.probeData {
		l.drop(DropBadPath)
		return
	}
	s := &l.part.sess[local]
	if src == s.addr {
		sc.probeData = 0
		return
	}
	// The new prefix must have room under its session cap before the
	// old one gives its place back.
	oldPfx, newPfx := prefixOf(s.addr), prefixOf(src)
	if oldPfx != newPfx && !l.p.admit.acquire(newPfx) {
		l.refuse(RefuseIPSessions)
		return
	}
	e := &l.entry
	*e = ringEntry{move: true, addr: src, rec: engine.Record{Player: l.part.slotOf(local), Gen: s.gen}}
	if !l.ring.Push(e) {
		if oldPfx != newPfx {
			l.p.admit.release(newPfx)
		}
		l.drop(DropRingFull) // the client answers the next challenge
		return
	}
	if oldPfx != newPfx {
		l.p.admit.release(oldPfx)
	}
	if cur, ok := l.part.byAddr[s.addr]; ok && cur == local {
		delete(l.part.byAddr, s.addr)
	}
	if other, ok := l.part.byAddr[src]; ok && other != local {
		// A stale session of another client still names the address
		// (the NAT reused it): it can no longer be reached there.
		l.endSession(other, EndReplaced)
	}
	l.part.byAddr[src] = local
	s.addr = src
	sc.probeData = 0
	l.stats.Migrations.inc()
}
