package netio

import (
	"sync"
	"sync/atomic"

	"golang.org/x/sys/cpu"
)

// Admission: who may start a handshake, and who may hold a session.
//
// The cookie binds (IP, port), so every source port of one host is a
// separately validated address; limits keyed by address would let one host
// take every slot (one session per port) or drain every handshake bucket
// (one Hello per port). So the limits are keyed by the *prefix* a host
// controls: the IPv4 address, or the IPv6 /64 (one subscriber's allocation).
//
//   - Live sessions per prefix (Config.SessionsPerIP, shared by all loops):
//     a Connect with a valid cookie from a prefix at its cap gets Reject
//     ServerFull (a Connect is padded, so the Reject is never larger).
//   - Handshakes in flight per prefix (Config.HandshakeBurst, refilled at
//     HandshakeRate): a token bucket per prefix in each loop, charged by
//     every Hello and by every Connect whose cookie fails. Each loop keeps
//     its own table (no shared write per Hello), so a host whose ports the
//     kernel spreads over k loops gets up to k buckets' worth. A Hello
//     beyond it is dropped unanswered: the sender proved nothing, and a
//     Reject would turn the server into a reflector at the flood's rate.
//   - A global handshake budget (Config.HandshakeBudget, shared by all
//     loops): what the server spends on HMACs and replies for senders that
//     have proved nothing, whatever the number of prefixes a flood comes
//     from.
//   - Headroom: a Connect may use the budget up to a larger tolerance than a
//     Hello (connectHeadroom), so when Hellos exhaust it, clients that already
//     hold a cookie are still served, and first.
//
// Defaults are sized for players behind one shared NAT (a household, a LAN
// party, a campus or carrier-grade NAT): 64 sessions and 64 handshakes in
// flight per prefix, so a NAT's worth of players can all join at once.

// prefix is the key of the per-prefix limits: the IPv4-mapped address for
// IPv4, the first 64 bits for IPv6 (the rest zero).
type prefix [16]byte

func prefixOf(a Addr) prefix {
	p := prefix(a.IP)
	if !a.Is4() {
		clear(p[8:])
	}
	return p
}

// RefuseReason says why a handshake or a session was refused by admission
// (treasured_admission_refused_total).
type RefuseReason uint8

// Refusal reasons.
const (
	RefuseIPSessions   RefuseReason = iota // prefix at SessionsPerIP: Reject ServerFull
	RefuseIPHandshakes                     // prefix's handshake bucket empty: Hello dropped
	RefuseGlobalBudget                     // global handshake budget spent: dropped
	NumRefuseReasons
)

var refuseReasonNames = [...]string{
	RefuseIPSessions:   "ip_sessions",
	RefuseIPHandshakes: "ip_handshakes",
	RefuseGlobalBudget: "handshake_budget",
}

// Compile-time guard: one name per refuse reason, so a value added to the enum
// fails the build until it is named.
var _ = [1]int{}[len(refuseReasonNames)-int(NumRefuseReasons)]

func (r RefuseReason) String() string { return reasonName(refuseReasonNames[:], r) }

// connectHeadroom: a Connect may push the global budget this many times
// further into the future than a Hello may (see Admission above).
const connectHeadroom = 2

// admission is the state every loop shares: the global budget and the live
// session count per prefix.
type admission struct {
	budget handshakeBudget

	mu       sync.Mutex
	sessions map[prefix]int32 // live sessions per prefix (absent: 0)
	perIP    int32            // cap; 0: no cap
}

func newAdmission(maxSlots, perIP int, budgetCost, budgetBurst int64) *admission {
	a := &admission{perIP: int32(max(perIP, 0))}
	if a.perIP > 0 {
		// Sized for every slot held by a distinct prefix, so inserts do
		// not grow it while the server runs.
		a.sessions = make(map[prefix]int32, maxSlots)
	}
	a.budget.cost = budgetCost
	a.budget.helloTol = budgetBurst * budgetCost
	a.budget.connectTol = connectHeadroom * a.budget.helloTol
	return a
}

// acquire counts one more live session for p; false when p is at its cap.
func (a *admission) acquire(p prefix) bool {
	if a.perIP == 0 {
		return true
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	n := a.sessions[p]
	if n >= a.perIP {
		return false
	}
	a.sessions[p] = n + 1
	return true
}

// release counts one live session of p fewer.
func (a *admission) release(p prefix) {
	if a.perIP == 0 {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if n := a.sessions[p]; n > 1 {
		a.sessions[p] = n - 1
	} else {
		delete(a.sessions, p)
	}
}

// handshakeBudget is the global handshake budget as a GCRA (generic cell
// rate algorithm): one atomic "theoretical arrival time" shared by every
// loop, advanced by cost per handshake. A handshake passes if that time
// stays within its tolerance of now: helloTol for a Hello, the larger
// connectTol for a Connect (headroom). One CAS per handshake, no lock.
type handshakeBudget struct {
	_   cpu.CacheLinePad
	tat atomic.Int64
	_   cpu.CacheLinePad

	cost, helloTol, connectTol int64
}

func (b *handshakeBudget) allow(now, tol int64) bool {
	for {
		old := b.tat.Load()
		next := max(old, now) + b.cost
		if next-now > tol {
			return false
		}
		if b.tat.CompareAndSwap(old, next) {
			return true
		}
	}
}

// handshakeLimiter limits handshakes per prefix before any state exists for
// it: a fixed table of token buckets indexed by a keyed hash of the prefix.
// The table never grows, so a flood from many spoofed prefixes costs no
// memory, and it is large enough (hsBuckets) that a flood from thousands of
// prefixes leaves most buckets, and so most other prefixes, untouched. The
// hash is keyed with a per-loop random seed so that nobody can aim
// collisions at a victim. Owned by one loop.
type handshakeLimiter struct {
	seed    uint64
	buckets []tokenBucket
}

// hsBuckets per loop: 20,000 flooding prefixes touch under a third of them.
const hsBuckets = 1 << 16

func newHandshakeLimiter(seed uint64, full int64) handshakeLimiter {
	h := handshakeLimiter{seed: seed, buckets: make([]tokenBucket, hsBuckets)}
	// Every prefix starts with a full handshake budget, from clock 0.
	for i := range h.buckets {
		h.buckets[i].credit = full
	}
	return h
}

func (h *handshakeLimiter) allow(p prefix, now, cost, max int64) bool {
	ok, _ := h.buckets[h.index(p)].allow(now, cost, max)
	return ok
}

func (h *handshakeLimiter) index(p prefix) int {
	// Two rounds of a multiply-xorshift mix over the 16 prefix bytes:
	// not cryptographic, but with a secret seed an outsider cannot predict
	// which prefixes share a bucket.
	x := h.seed
	for i := 0; i < 16; i += 8 {
		w := uint64(p[i]) | uint64(p[i+1])<<8 | uint64(p[i+2])<<16 | uint64(p[i+3])<<24 |
			uint64(p[i+4])<<32 | uint64(p[i+5])<<40 | uint64(p[i+6])<<48 | uint64(p[i+7])<<56
		x = (x ^ w) * 0x9e3779b97f4a7c15
		x ^= x >> 29
	}
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 32
	return int(x & uint64(len(h.buckets)-1))
}
