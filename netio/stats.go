package netio

import (
	"sync/atomic"

	"golang.org/x/sys/cpu"

	"github.com/treasured/treasured/schema"
)

// counter is a monotonically increasing count with exactly one writer (an
// event loop, a fan-out worker or the tick goroutine) and any number of
// readers (the metrics scrape, tests).
//
// add is a Load and a Store, not an atomic Add: with one writer nothing can
// be lost between them, and on x86 this avoids a LOCK-prefixed instruction
// per datagram. The atomic Store still publishes the value to the scraper
// without a data race. Nothing here allocates, which is why the hot paths
// count with these and the Prometheus side reads them only at scrape time
// (metrics.go).
type counter struct{ v atomic.Uint64 }

func (c *counter) add(n uint64) { c.v.Store(c.v.Load() + n) }
func (c *counter) inc()         { c.v.Store(c.v.Load() + 1) }

// Load returns the current count.
func (c *counter) Load() uint64 { return c.v.Load() }

// gauge is a single-writer level (same rules as counter).
type gauge struct{ v atomic.Int64 }

func (g *gauge) set(n int64) { g.v.Store(n) }

// Load returns the current level.
func (g *gauge) Load() int64 { return g.v.Load() }

// DropReason says why a datagram was dropped without an answer. Each reason
// is its own label value of treasured_drops_total.
type DropReason uint8

// Drop reasons. Order is the exported label order; append only.
const (
	DropOversized        DropReason = iota // longer than schema.MaxDatagram
	DropTruncated                          // shorter than its own structure says (or than any message)
	DropMalformed                          // failed the FlatBuffers verifier
	DropBadIdentifier                      // not a treasured datagram (file identifier)
	DropUnexpected                         // a message only the server sends, or an unknown body
	DropUnpadded                           // Hello/Connect shorter than the anti-amplification minimum
	DropBadSession                         // unknown, stale or ended session id
	DropWrongAddress                       // right session id from another source address
	DropRateLimited                        // session over its token bucket
	DropHandshakeLimited                   // Hello over its prefix's handshake bucket (admission.go)
	DropRingFull                           // loop's ring to the engine was full: the newest input is dropped
	DropAmplification                      // the answer would have been larger than the request
	DropBadSource                          // source address gnet could not give as UDP
	DropHandshakeBudget                    // Hello/Connect over the global handshake budget
	DropUnauthenticated                    // a plain Input, Ping or Bye where tokens are on: must be sealed
	DropForged                             // a sealed datagram whose tag does not verify
	DropReplayed                           // a sealed datagram's sequence number seen before or below the window
	DropBadPath                            // a PathResponse to no outstanding challenge, or from elsewhere
	DropReloginWait                        // a Connect held back while the user's session on another loop ends
	NumDropReasons
)

var dropReasonNames = [...]string{
	DropOversized:        "oversized",
	DropTruncated:        "truncated",
	DropMalformed:        "malformed",
	DropBadIdentifier:    "bad_identifier",
	DropUnexpected:       "unexpected_type",
	DropUnpadded:         "unpadded",
	DropBadSession:       "bad_session",
	DropWrongAddress:     "wrong_address",
	DropRateLimited:      "rate_limited",
	DropHandshakeLimited: "handshake_rate_limited",
	DropRingFull:         "ring_full",
	DropAmplification:    "amplification",
	DropBadSource:        "bad_source",
	DropHandshakeBudget:  "handshake_budget",
	DropUnauthenticated:  "unauthenticated",
	DropForged:           "forged",
	DropReplayed:         "replayed",
	DropBadPath:          "bad_path_response",
	DropReloginWait:      "relogin_wait",
}

// Compile-time guard: one name per drop reason, so a value added to the enum
// fails the build until it is named.
var _ = [1]int{}[len(dropReasonNames)-int(NumDropReasons)]

// reasonName is the metric label of r in names, "unknown" past its end.
func reasonName[R ~uint8](names []string, r R) string {
	if int(r) < len(names) {
		return names[r]
	}
	return "unknown"
}

func (r DropReason) String() string { return reasonName(dropReasonNames[:], r) }

// EndReason says why a session ended (treasured_sessions_ended_total).
type EndReason uint8

// Session end reasons.
const (
	EndBye      EndReason = iota // client said Bye
	EndTimeout                   // idle longer than the idle timeout
	EndReplaced                  // a new Connect from the same address
	EndRelogin                   // a second login of the same user (tokens on)
	NumEndReasons
)

var endReasonNames = [...]string{EndBye: "bye", EndTimeout: "timeout", EndReplaced: "replaced", EndRelogin: "relogin"}

// Compile-time guard: one name per end reason, so a value added to the enum
// fails the build until it is named.
var _ = [1]int{}[len(endReasonNames)-int(NumEndReasons)]

func (r EndReason) String() string { return reasonName(endReasonNames[:], r) }

// numRejectReasons sizes the arrays indexed by wire.RejectReason: the
// schema's count, so they grow with the enum (and rejectNames, below the
// compile-time guard in metrics.go, must then name the new reason).
const numRejectReasons = schema.RejectReasonCount

// LoopStats are one event loop's counters. The loop's goroutine is the only
// writer. Padding on both sides keeps two loops' counters off one cache line:
// they are written on every datagram, from different cores.
type LoopStats struct {
	_ cpu.CacheLinePad

	DatagramsIn  counter
	BytesIn      counter
	DatagramsOut counter // replies sent from the loop (Challenge, Welcome, Reject, Pong)
	BytesOut     counter
	SendErrors   counter // replies the kernel refused

	Drops   [NumDropReasons]counter
	Rejects [numRejectReasons]counter // by wire.RejectReason

	Challenges     counter // Hello answered
	Welcomes       counter // new sessions
	WelcomeRepeats counter // repeated Connect answered with the same Welcome
	Resumes        counter // new sessions that got their key's parked slot back
	Ended          [NumEndReasons]counter
	Inputs         counter // RecInput pushed
	Pongs          counter
	Flooders       counter // sessions rate-limited at least once
	LeaveRetries   counter // RecLeave deferred because the ring was full
	FilterErrors   counter // kernel filter's session table refused an update (filter.go)
	// Wake-ups of a poll-layout loop (backend_poll.go): at the end of a
	// paced sleep, and from a park because its socket became readable.
	PacedWakeups   counter
	ArrivalWakeups counter
	// Datagrams read from the poll layout's urgent socket
	// (Config.SingleSocket): those the clients marked urgent.
	UrgentIn counter

	Sessions gauge // active sessions of this loop

	Refused [NumRefuseReasons]counter // admission refusals (admission.go)

	TokenRefused   [NumTokenRefusals]counter // Connects whose token was refused (identity.go)
	PathChallenges counter                   // PathChallenges sent to a session's new address
	Migrations     counter                   // sessions moved to a new address after its answer

	_ cpu.CacheLinePad
}

// FanoutStats are one fan-out worker's counters; the worker is the only
// writer.
type FanoutStats struct {
	_ cpu.CacheLinePad

	Snapshots    counter // datagrams the kernel accepted
	Bytes        counter
	EncodeErrors counter // engine returned no datagram or one over MaxDatagram
	NoAddress    counter // active player without a joined address (engine/netio disagree)
	SendErrors   counter // datagrams the kernel refused (not EAGAIN)
	WouldBlock   counter // EAGAIN seen (each one costs a bounded poll)
	Dropped      counter // datagrams given up on after EAGAIN; the next tick supersedes them
	PartialSends counter // sendmmsg calls that took only part of a batch
	Syscalls     counter
	Byes         counter // Bye datagrams at shutdown
	_            cpu.CacheLinePad
}

// TickStats are the tick goroutine's counters (single writer).
type TickStats struct {
	_ cpu.CacheLinePad

	Ticks    counter
	Overruns counter // ticks whose work ran past the next tick's deadline
	Records  counter // records drained from the rings
	Joins    counter
	Leaves   counter
	Tick     gauge // engine tick after the last Step
	LastWork gauge // ns, last tick's work
	MaxLate  gauge // ns, worst start jitter seen
	LastAt   gauge // server clock (ns) at the end of the last tick, for /healthz
	// EpochUnixNs is the wall-clock (unix ns) scheduled start of engine
	// tick 0: tick T is scheduled at EpochUnixNs + T*period. 0 until the
	// tick goroutine starts.
	EpochUnixNs   gauge
	JournalErrors counter // journal appends (or the final close) that failed
	_             cpu.CacheLinePad
}
