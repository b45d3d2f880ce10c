package netio

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/netip"
	"runtime"
	"time"

	"github.com/treasured/treasured/engine"
	"github.com/treasured/treasured/netio/auth"
	"github.com/treasured/treasured/netio/udp"
	"github.com/treasured/treasured/schema"
)

// Config is everything New needs. The zero value of a field means "the
// default below"; normalize fills defaults and checks ranges in one place,
// so every other function can trust the values.
type Config struct {
	// Addr is the UDP listen address, an IP literal and a port
	// ("127.0.0.1:7777", "[::1]:7777"). Port 0 picks a free port, the same
	// for every loop (see Server.Start). No DNS: a server binds addresses.
	Addr string

	// Loops is the number of event loops, each with its own
	// SO_REUSEPORT socket. Default: len(IOCPUs), or 1.
	Loops int
	// IOCPUs pins loop i's thread to IOCPUs[i mod len]. Empty: no pinning.
	IOCPUs []int
	// EngineCPUs pins the tick goroutine's thread. Empty: no pinning.
	EngineCPUs []int
	// FanoutWorkers splits each tick's snapshots over this many goroutines
	// (the tick goroutine is worker 0). Default 1: on a small machine extra
	// workers only compete with the loops for the same cores.
	FanoutWorkers int
	// FanoutCPUs pins extra fan-out worker w (1..W-1) to
	// FanoutCPUs[(w-1) mod len]. Empty: extra workers are not pinned. They
	// never default to the engine's CPUs: worker 0 is the tick goroutine
	// itself and runs at the same time as the others.
	FanoutCPUs []int
	// PinThread pins the calling, OS-locked thread to cpus
	// (affinity.PinThread). Nil: no pinning, whatever the CPU lists say.
	PinThread func(cpus []int) error
	// UnlockedThreads runs the event loops, the tick goroutine and the
	// fan-out workers as ordinary goroutines instead of locking each to its
	// OS thread. Pinning needs a locked thread, so PinThread is then never
	// called. The zero value (locked) is the design and the default on
	// every host: with GOMAXPROCS=1 a locked goroutine costs a futex
	// hand-off of the P at each switch (gnet's poller calls Gosched when
	// idle, which on a locked goroutine is two futex wake-ups and two
	// sleeps), but measured on one CPU, unlocked goroutines were worse:
	// tick work 1.7x longer, tick_to_wire p50 +1.4 ms. Kept for experiments,
	// and set by BackendPoll, whose layout is unlocked goroutines that wait
	// in Go's netpoller instead of in gnet's blocking epoll_wait.
	UnlockedThreads bool

	// Backend is how datagrams are received: BackendGnet (the zero value)
	// or BackendMmsg, Linux only (recv.go). Both feed the same loop.datagram.
	Backend Backend
	// InlineIO, with BackendMmsg and one loop, has the tick goroutine
	// service the socket itself between ticks instead of a loop goroutine:
	// the layout for a single CPU, where every switch between two locked
	// threads is a futex hand-off of the only P.
	InlineIO bool
	// RecvPace is how the poll layout's loops (BackendPoll) wait while
	// datagrams stream in: after a batch that emptied the socket, a loop
	// sleeps this long and then reads what came meanwhile in one batch,
	// instead of waking at each arrival. A wake-up costs the server core
	// ~8 µs in a VM guest; at 1,000 players whose datagrams arrive spread
	// out, as independent clients send them, waking at each arrival took
	// 31-35 % of the core, pacing 13-19 % (BENCHMARKS.md, "Receive pacing"). A Ping waits up to one pace
	// longer for its Pong; an Input does not, because the tick reads the
	// sockets before it drains the rings. A loop whose paced read finds
	// nothing parks until the next datagram (or its once-a-second idle
	// sweep): an idle loop costs nothing. Go's netpoller sleeps in whole milliseconds, so a pace under
	// 1 ms sleeps 1 ms. Default (0): DefaultRecvPace; negative: off (wake
	// at each arrival). At most half a tick. The other layouts ignore it.
	RecvPace time.Duration
	// SingleSocket turns off the poll layout's urgent socket. With
	// authentication on and one loop, the poll layout binds a second
	// socket to the same address and a kernel program steers each
	// datagram that carries the urgent mark (auth.UrgentBit: clients mark
	// their Pings) to it. Between the fan-out's send batches the tick
	// reads only that socket: a Ping still waits at most one send batch,
	// while the Inputs wait in the kernel until the fan-out is done. They
	// are applied in the same tick either way (the tick reads the sockets
	// before it drains the rings), and the fan-out no longer carries their
	// receive cost: at 4,200 players that was a tenth of its length
	// (BENCHMARKS.md, "The urgent socket"). The other layouts ignore it.
	SingleSocket bool
	// KernelFilter is whether each loop's socket gets the kernel filter
	// (netio/sockfilter): an eBPF program that drops, before the server
	// reads them, datagrams its first checks would drop (wrong length,
	// identifier or root offset; a sealed datagram of no live session),
	// counted under the same reasons. FilterAuto (the zero value): on
	// where the kernel loads it, else off with a warning; FilterOn: Start
	// fails without it; FilterOff: never.
	KernelFilter FilterMode

	// Journal, if not nil, gets every tick's ordered records and state hash
	// right after World.Step, on the tick goroutine (engine/journal.Writer
	// satisfies it). On its first error the server counts it, logs it once
	// and stops journaling; it keeps ticking. The server closes it after the
	// final tick, on the tick goroutine.
	Journal Journal

	// The world's size (player slots, regions) and tick rate are not set
	// here: New reads them from the World's engine.Config, their one source
	// (see worldShape).
	shape worldShape
	// layoutWhy says why BackendAuto chose what it did (logged at Start).
	layoutWhy string
	// sockOpts are how the loops' and the fan-out's batch calls enter the
	// kernel, set by the layout (layout.go).
	sockOpts []udp.SocketOption

	// RingSize is each loop's ring capacity in records, a power of two.
	// The engine drains every ring once per tick and a client sends one
	// Input per tick, so a ring must hold a loop's share of the players
	// for one tick, twice over for a tick that starts late. Default (0):
	// the next power of two >= 2 x MaxPlayers / Loops, at least
	// DefaultRingSize. A fixed 4096 dropped ~48k inputs in 10 s at 4,200
	// players on one loop (BENCHMARKS.md).
	RingSize int
	// BatchSize is the number of datagrams per sendmmsg, and per recvmmsg
	// with BackendMmsg. Default 64: past a few dozen the per-call saving is
	// gone and the batch only holds buffers (64 x 1200 bytes per worker,
	// 64 x 4 KiB per mmsg loop).
	BatchSize int

	// IdleTimeout ends a session that sent nothing valid for this long
	// (docs/PROTOCOL.md "Sessions": 10 s).
	IdleTimeout time.Duration
	// CookieTTL is how long a Challenge's cookie stays valid. Default 10 s:
	// enough for a Connect across a bad mobile link, short enough that a
	// captured cookie is soon worthless.
	CookieTTL time.Duration
	// CookieRotate is how often the cookie secret is replaced; it must be
	// at least CookieTTL, because only the current and the previous secret
	// are kept. Default 2 x CookieTTL.
	CookieRotate time.Duration

	// SessionRate and SessionBurst are a session's token bucket, in
	// datagrams per second and datagrams back to back. Defaults 120/s and
	// 40: a client sends one Input per tick (20/s), a few Pings and
	// retransmits; six times that is a generous margin before "flooder".
	SessionRate  float64
	SessionBurst int
	// HandshakeRate and HandshakeBurst limit the handshakes in flight per
	// prefix, i.e. per IPv4 address or IPv6 /64, not per address and port
	// (admission.go): a token bucket charged by every Hello and by every
	// Connect whose cookie fails. Defaults 8/s and 64: a NAT's worth of
	// players joins at once, and about HandshakeBurst cookies are
	// outstanding per cookie lifetime.
	HandshakeRate  float64
	HandshakeBurst int
	// HandshakeBudget is the global rate of handshakes (Hello and Connect,
	// every loop and prefix together) the server answers, so a flood from
	// many prefixes costs at most this many HMACs and replies per second.
	// Connects get headroom above it (admission.go). Default 10,000/s, with
	// a tenth of a second of burst.
	HandshakeBudget float64
	// SessionsPerIP caps the live sessions of one prefix (IPv4 address or
	// IPv6 /64), across all loops. Default 64, for players behind a shared
	// NAT; negative: no cap (a load generator on one host).
	SessionsPerIP int

	// RecvBuffer and SendBuffer are SO_RCVBUF / SO_SNDBUF per socket.
	// Default 4 MiB each: one tick of snapshots for 3,000 players. The kernel
	// caps them at net.core.rmem_max / wmem_max; Start warns when it does.
	RecvBuffer int
	SendBuffer int

	// Clock drives the tick goroutine. Default: the monotonic clock.
	Clock Clock
	// Logger gets start-up, warning and shutdown messages; never one per
	// datagram. Default slog.Default().
	Logger *slog.Logger

	// Restore, if set, is asked about every slot at New: what a recovered
	// world remembers (see RestoreFunc). An ended session's slot stays
	// reserved for its player key for the world's GraceTicks, so a
	// reconnect with that key gets the same slot and generation back.
	Restore RestoreFunc

	// TokenKey and TokenKeyPrevious are the connect-token keys
	// (netio/auth, a key file's current and previous lines): a Connect
	// must carry a token sealed with one of them, and every datagram after
	// it is authenticated with the token's session keys (docs/PROTOCOL.md
	// "Connect tokens"). Required unless NoAuth: there is no built-in key.
	TokenKey, TokenKeyPrevious *auth.Key
	// PublicAddrs are the addresses clients are told to reach this server
	// at; a token must name one of them. Default: the listen address after
	// Start (its port resolved), with a wildcard IP replaced by the
	// loopback address of its family, which only suits a test or a
	// development run.
	PublicAddrs []netip.AddrPort
	// ReplayCapacity is how many tokens the replay cache remembers until
	// they expire: size it for the issuing rate times the token lifetime.
	// Default 65,536.
	ReplayCapacity int
	// NoAuth turns identity off: Connects need no token, player_key is
	// taken on trust and datagrams travel unauthenticated, as in protocol
	// version 1. It exists to measure what authentication costs (the same
	// binary with and without) and for the tests of the plain datagram
	// path; it must be asked for, never a fallback.
	NoAuth bool
}

// Backend selects the receive path. Both backends hand every datagram to
// the same loop.datagram, so sessions, limits and replies do not depend on
// the choice; only the system calls and the threads do.
type Backend uint8

const (
	// BackendGnet receives through gnet's event loops (one read per
	// datagram; gnet allocates per datagram and yields when idle).
	BackendGnet Backend = iota
	// BackendMmsg receives with recvmmsg(2) on our own SO_REUSEPORT
	// sockets, blocking in ppoll when idle (recv.go, udp/recvmmsg_linux.go).
	BackendMmsg
	// BackendPoll is the single-CPU layout (backend_poll.go): recvmmsg
	// on our own sockets from ordinary goroutines that wait in Go's
	// netpoller, and no locked threads anywhere, so the switch between
	// receiving and ticking is a goroutine switch, not a futex. Linux only.
	BackendPoll
	// BackendAuto picks the layout from the CPUs (layout.go): BackendPoll
	// when everything runs on one CPU, else BackendGnet. normalize
	// resolves it; no server runs with it.
	BackendAuto
)

func (b Backend) String() string {
	switch b {
	case BackendGnet:
		return "gnet"
	case BackendMmsg:
		return "mmsg"
	case BackendPoll:
		return "poll"
	case BackendAuto:
		return "auto"
	}
	return fmt.Sprintf("Backend(%d)", uint8(b))
}

// FilterMode is Config.KernelFilter.
type FilterMode uint8

// The kernel filter's modes.
const (
	FilterAuto FilterMode = iota
	FilterOn
	FilterOff
)

var filterModeNames = [...]string{FilterAuto: "auto", FilterOn: "on", FilterOff: "off"}

func (m FilterMode) String() string { return reasonName(filterModeNames[:], m) }

// ParseFilterMode parses "auto", "on" or "off".
func ParseFilterMode(s string) (FilterMode, error) {
	for m, name := range filterModeNames {
		if s == name {
			return FilterMode(m), nil
		}
	}
	return 0, configErr("kernel filter %q: want auto, on or off", s)
}

// ParseBackend parses "gnet", "mmsg", "poll" or "auto".
func ParseBackend(s string) (Backend, error) {
	switch s {
	case "gnet":
		return BackendGnet, nil
	case "mmsg":
		return BackendMmsg, nil
	case "poll":
		return BackendPoll, nil
	case "auto":
		return BackendAuto, nil
	}
	return 0, configErr("backend %q: want gnet, mmsg, poll or auto", s)
}

// Default values; see the Config fields for why.
const (
	DefaultRingSize      = 4096 // the smallest default; see Config.RingSize
	DefaultBatchSize     = 64
	DefaultIdleTimeout   = 10 * time.Second
	DefaultCookieTTL     = 10 * time.Second
	DefaultSessionRate   = 120
	DefaultSessionBurst  = 40
	DefaultHSRate        = 8
	DefaultHSBurst       = 64
	DefaultHSBudget      = 10_000
	DefaultSessionsPerIP = 64
	DefaultSocketBuffer  = 4 << 20
	DefaultRecvPace      = time.Millisecond
)

// defaultRingSize is the smallest power of two that holds two ticks of one
// Input from each of a loop's share of the players (see Config.RingSize).
func defaultRingSize(maxPlayers, loops int) int {
	want := 2 * ((maxPlayers + loops - 1) / loops)
	n := DefaultRingSize
	for n < want && n < 1<<20 {
		n <<= 1
	}
	return n
}

// ErrConfig wraps every error normalize returns, so a caller (cmd/treasured)
// can tell a bad setting (exit code 2) from a run-time failure.
var ErrConfig = errors.New("netio: bad configuration")

func configErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrConfig}, args...)...)
}

// worldShape is what netio takes from its World's engine.Config: the world
// size and tick rate have one source, the engine's config (validated by the
// engine), which is journaled and checkpointed.
type worldShape struct {
	maxPlayers int
	regions    int
	tickHz     uint16        // the Welcome's tick_hz (engine bound: <= 1000)
	period     time.Duration // the tick scheduler's period
	grace      time.Duration // GraceTicks as wall time: slot reservation
}

// shapeOf reads the world's shape from its config, refusing one the engine
// would refuse.
func shapeOf(ec engine.Config) (worldShape, error) {
	if err := ec.Validate(); err != nil {
		return worldShape{}, configErr("world config: %v", err)
	}
	return worldShape{
		maxPlayers: ec.MaxPlayers,
		regions:    ec.Regions,
		tickHz:     uint16(ec.TickHz),
		period:     ec.TickPeriod(),
		grace:      time.Duration(ec.GraceTicks) * ec.TickPeriod(),
	}, nil
}

// normalize fills defaults and validates. It returns the listen address.
// c.shape must be set (New: from the World). Each step below fills the
// defaults of one group of fields and checks them; later steps may read what
// earlier ones filled (the ring size needs the loop count).
func (c *Config) normalize() (netip.AddrPort, error) {
	ap, err := c.listenAddr()
	if err != nil {
		return ap, err
	}
	for _, step := range []func() error{
		c.normalizeLoops,
		c.normalizeBuffers,
		c.normalizeTimeouts,
		c.normalizeLimits,
		c.normalizeSockets,
	} {
		if err := step(); err != nil {
			return ap, err
		}
	}
	if err := c.normalizeAuth(); err != nil {
		return ap, err
	}
	if c.Clock == nil {
		c.Clock = NewMonoClock()
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return ap, nil
}

// listenAddr parses Addr: an IP literal and a port, no zone.
func (c *Config) listenAddr() (netip.AddrPort, error) {
	ap, err := netip.ParseAddrPort(c.Addr)
	if err != nil {
		return ap, configErr("listen address %q: want IP:port, e.g. 127.0.0.1:7777 or [::1]:7777", c.Addr)
	}
	if ap.Addr().Zone() != "" {
		return ap, configErr("listen address %q: IPv6 zones are not supported", c.Addr)
	}
	return ap, nil
}

// normalizeLoops settles the threads: the event loops, the receive backend
// and the fan-out workers.
func (c *Config) normalizeLoops() error {
	c.Loops = cmp.Or(c.Loops, max(1, len(c.IOCPUs)))
	if c.Loops < 1 || c.Loops > 256 {
		return configErr("%d event loops: want 1..256", c.Loops)
	}
	if c.Backend == BackendAuto {
		c.Backend, c.layoutWhy = autoBackend(c, runtime.GOMAXPROCS(0))
	} else {
		c.layoutWhy = "the backend was named in the configuration"
	}
	switch c.Backend {
	case BackendGnet:
		if c.InlineIO {
			return configErr("inline I/O needs the mmsg backend")
		}
	case BackendMmsg:
		if !mmsgSupported {
			return configErr("the mmsg backend needs Linux (recvmmsg)")
		}
		if c.InlineIO && c.Loops != 1 {
			return configErr("inline I/O serves one socket from the tick goroutine: want 1 loop, have %d", c.Loops)
		}
	case BackendPoll:
		if err := c.pollLayout(); err != nil {
			return err
		}
	default:
		return configErr("backend %d: want gnet, mmsg or poll", c.Backend)
	}
	if c.KernelFilter > FilterOff {
		return configErr("kernel filter %d: want auto, on or off", c.KernelFilter)
	}
	if c.UnlockedThreads {
		// Pinning needs a locked thread: nothing is pinned, whatever
		// the CPU lists say.
		c.PinThread = nil
	}
	c.FanoutWorkers = cmp.Or(c.FanoutWorkers, 1)
	if c.FanoutWorkers < 1 || c.FanoutWorkers > 64 {
		return configErr("%d fan-out workers: want 1..64", c.FanoutWorkers)
	}
	return nil
}

// normalizeBuffers sizes the rings (from the world's player slots and the
// loop count) and the send/receive batches.
func (c *Config) normalizeBuffers() error {
	if c.shape.maxPlayers < 1 || c.shape.maxPlayers > MaxSlots {
		return configErr("world of %d player slots: netio serves 1..%d", c.shape.maxPlayers, MaxSlots)
	}
	c.RingSize = cmp.Or(c.RingSize, defaultRingSize(c.shape.maxPlayers, c.Loops))
	if c.RingSize < 2 || c.RingSize&(c.RingSize-1) != 0 || c.RingSize > 1<<20 {
		return configErr("ring size %d: want a power of two in 2..%d", c.RingSize, 1<<20)
	}
	c.BatchSize = cmp.Or(c.BatchSize, DefaultBatchSize)
	if c.BatchSize < 1 || c.BatchSize > 1024 {
		// UIO_MAXIOV (1024) is the most messages one sendmmsg takes.
		return configErr("batch size %d: want 1..1024", c.BatchSize)
	}
	return nil
}

// normalizeTimeouts settles the session idle timeout and the cookie
// lifetimes.
func (c *Config) normalizeTimeouts() error {
	c.IdleTimeout = cmp.Or(c.IdleTimeout, DefaultIdleTimeout)
	c.CookieTTL = cmp.Or(c.CookieTTL, DefaultCookieTTL)
	c.CookieRotate = cmp.Or(c.CookieRotate, 2*c.CookieTTL)
	if c.IdleTimeout < c.shape.period || c.CookieTTL < time.Second {
		return configErr("idle timeout %v must be >= a tick and cookie TTL %v >= 1s", c.IdleTimeout, c.CookieTTL)
	}
	if c.CookieRotate < c.CookieTTL {
		return configErr("cookie rotation %v is shorter than the cookie TTL %v: a cookie would outlive both secrets that can check it", c.CookieRotate, c.CookieTTL)
	}
	return nil
}

// normalizeLimits settles the token buckets and the per-prefix session cap.
func (c *Config) normalizeLimits() error {
	c.SessionRate = cmp.Or(c.SessionRate, DefaultSessionRate)
	c.SessionBurst = cmp.Or(c.SessionBurst, DefaultSessionBurst)
	c.HandshakeRate = cmp.Or(c.HandshakeRate, DefaultHSRate)
	c.HandshakeBurst = cmp.Or(c.HandshakeBurst, DefaultHSBurst)
	c.HandshakeBudget = cmp.Or(c.HandshakeBudget, DefaultHSBudget)
	switch {
	case c.SessionsPerIP == 0:
		c.SessionsPerIP = DefaultSessionsPerIP
	case c.SessionsPerIP < 0:
		c.SessionsPerIP = -1
	}
	for _, r := range []float64{c.SessionRate, c.HandshakeRate, c.HandshakeBudget} {
		if !(r >= 0.01 && r <= 1e6) { // also rejects NaN
			return configErr("rate %v/s: want 0.01..1e6", r)
		}
	}
	if c.SessionBurst < 1 || c.HandshakeBurst < 1 {
		return configErr("bursts must be >= 1")
	}
	return nil
}

// normalizeSockets settles SO_RCVBUF and SO_SNDBUF.
func (c *Config) normalizeSockets() error {
	c.RecvBuffer = cmp.Or(c.RecvBuffer, DefaultSocketBuffer)
	c.SendBuffer = cmp.Or(c.SendBuffer, DefaultSocketBuffer)
	if c.RecvBuffer < 0 || c.SendBuffer < 0 || c.RecvBuffer > 1<<30 || c.SendBuffer > 1<<30 {
		return configErr("socket buffers %d/%d: want 0..1GiB", c.RecvBuffer, c.SendBuffer)
	}
	return nil
}

// params derives the loops' read-only settings.
func (c *Config) params(originUnixMs int64) *loopParams {
	cost := func(rate float64) int64 { return int64(math.Round(1e9 / rate)) }
	p := &loopParams{
		loops:        c.Loops,
		regions:      c.shape.regions,
		tickHz:       c.shape.tickHz,
		idle:         int64(c.IdleTimeout),
		cookieTTLms:  uint64(c.CookieTTL / time.Millisecond),
		originUnixMs: originUnixMs,
		sessCost:     cost(c.SessionRate),
		hsCost:       cost(c.HandshakeRate),
	}
	p.sessMax = p.sessCost * int64(c.SessionBurst)
	p.hsMax = p.hsCost * int64(c.HandshakeBurst)
	p.admit = newAdmission(c.shape.maxPlayers, c.SessionsPerIP, cost(c.HandshakeBudget), max(1, int64(c.HandshakeBudget/10)))
	return p
}

// Datagram size is part of the contract with the read buffer: gnet and
// recvmmsg must hand us more than MaxDatagram bytes of an oversized datagram,
// or we could not tell it from a legal one (recvfrom and recvmmsg truncate
// silently without MSG_TRUNC).
const readBufferCap = 4096

// A compile-time check: the array length goes negative if readBufferCap is
// not larger than MaxDatagram.
var _ [readBufferCap - schema.MaxDatagram - 1]struct{}

// DefaultReplayCapacity is Config.ReplayCapacity's default.
const DefaultReplayCapacity = 1 << 16

// normalizeAuth checks the identity settings: a key, or NoAuth said aloud.
func (c *Config) normalizeAuth() error {
	if c.NoAuth {
		if c.TokenKey != nil {
			return configErr("a token key and NoAuth: pick one")
		}
		return nil
	}
	if c.TokenKey == nil {
		return configErr("no connect-token key: give the key file (--token-key), or turn authentication off explicitly (NoAuth)")
	}
	if c.TokenKeyPrevious != nil && c.TokenKeyPrevious.ID == c.TokenKey.ID {
		return configErr("current and previous token keys share id %d", c.TokenKey.ID)
	}
	for _, ap := range c.PublicAddrs {
		if !ap.IsValid() || ap.Port() == 0 || ap.Addr().IsUnspecified() {
			return configErr("public address %v: want an IP:port clients can reach", ap)
		}
	}
	if c.ReplayCapacity == 0 {
		c.ReplayCapacity = DefaultReplayCapacity
	}
	if c.ReplayCapacity < 1 || c.ReplayCapacity > 1<<26 {
		return configErr("replay cache of %d tokens: want 1..%d", c.ReplayCapacity, 1<<26)
	}
	return nil
}
