// Command treasured is the treasure game-state server: gnet event loops on
// SO_REUSEPORT sockets, a 20 Hz deterministic engine, sendmmsg fan-out, and
// an admin port with /metrics, /debug/pprof and /healthz.
//
// Every flag can also be set by an environment variable: --io-cores is
// TREASURED_IO_CORES, and so on (upper case, dashes as underscores). The
// command line wins over the environment, which wins over the default.
//
// Exit status: 0 after a clean shutdown (SIGTERM or SIGINT), 2 for a bad
// flag or a setting the machine cannot honour (unknown CPU, bad size, bad
// address, port in use), 1 for a failure while running.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/automaxprocs/maxprocs"

	"github.com/treasured/treasured/affinity"
	"github.com/treasured/treasured/engine"
	"github.com/treasured/treasured/engine/journal"
	"github.com/treasured/treasured/netio"
	"github.com/treasured/treasured/netio/auth"
	"github.com/treasured/treasured/netio/metricname"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	code := run(ctx, stop, os.Args[1:], os.Getenv, os.Stderr, nil)
	stop()
	os.Exit(code)
}

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// options are the parsed flags.
type options struct {
	listen, admin          string
	engineCores, ioCores   string
	fanoutCores            string
	ioLoops, fanoutWorkers int
	pin                    bool
	maxPlayers, regions    int
	seed                   uint64
	tick, idle, grace      time.Duration
	ringSize, batch        int
	rcvbuf, sndbuf         size
	gogc                   int
	memlimit               size
	logLevel, logFormat    string
	journal                string
	dataDir                string
	checkpointEvery        time.Duration
	keepCheckpoints        int
	resumeGrace            time.Duration
	lockThreads            string
	backend                string
	kernelFilter           string
	recvPace               time.Duration
	urgentSocket           bool
	plan                   bool
	planSysfs              string
	agones, agonesRegion   string
	agonesBeat             time.Duration
	agonesBase             string // resolved from --agones and the environment

	// Admission (netio/admission.go): per IPv4 address or IPv6 /64.
	sessionsPerIP, handshakesPerIP int
	handshakeRate, hsBudget        float64

	// Identity (docs/PROTOCOL.md "Connect tokens").
	tokenKey   string
	publicAddr string
	noAuth     bool
}

// size is a byte count flag: "4194304", "4M", "4MiB", "1G", "512k".
type size int64

func (s *size) String() string { return strconv.FormatInt(int64(*s), 10) }

func (s *size) Set(v string) error {
	n, err := parseSize(v)
	if err != nil {
		return err
	}
	*s = size(n)
	return nil
}

// parseSize reads a byte count with an optional binary suffix. K, M, G mean
// KiB, MiB, GiB: buffer sizes and memory limits are powers of two by habit,
// and nobody means 10^6 bytes of socket buffer.
func parseSize(v string) (int64, error) {
	s := strings.TrimSpace(v)
	mult := int64(1)
	for _, suf := range []struct {
		s string
		m int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1 << 10}, {"MB", 1 << 20}, {"GB", 1 << 30},
		{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"B", 1}} {
		if strings.HasSuffix(s, suf.s) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, suf.s)), suf.m
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > (1<<50)/mult {
		return 0, fmt.Errorf("bad size %q: want bytes with an optional K/M/G (binary) suffix, e.g. 4MiB", v)
	}
	return n * mult, nil
}

// newFlags declares every flag, with defaults taken from getenv where set.
func newFlags(o *options, getenv func(string) string, out io.Writer) (*flag.FlagSet, *envErrors) {
	fs := flag.NewFlagSet("treasured", flag.ContinueOnError)
	fs.SetOutput(out)
	o.layoutFlags(fs)
	o.stateFlags(fs)
	o.netFlags(fs)
	o.runtimeFlags(fs)
	return fs, envOverrides(fs, getenv)
}

// layoutFlags declares the listeners, the CPU layout and the receive path.
func (o *options) layoutFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.listen, "listen", "127.0.0.1:7777", "UDP `address` for players (IP:port; [::1]:7777 for IPv6)")
	fs.StringVar(&o.admin, "admin", "127.0.0.1:7778", "TCP `address` for /metrics, /debug/pprof and /healthz; empty disables")
	fs.StringVar(&o.engineCores, "engine-cores", "", "CPU `list` for the engine thread, e.g. 2 (default: from the topology)")
	fs.StringVar(&o.ioCores, "io-cores", "", "CPU `list` for the I/O event loops, e.g. 3-34 (default: from the topology)")
	fs.IntVar(&o.ioLoops, "io-loops", 0, "number of I/O event loops (default: one per I/O core)")
	fs.IntVar(&o.fanoutWorkers, "fanout-workers", 1, "goroutines that send the snapshots each tick (the engine thread is one of them)")
	fs.StringVar(&o.fanoutCores, "fanout-cores", "", "CPU `list` for the extra fan-out workers (default: not pinned)")
	fs.BoolVar(&o.pin, "pin", true, "pin the engine and I/O threads to their CPUs")
	// Measured on a 1-CPU server (perf/run.sh, 1,000 players, 13 vs 9
	// valid runs): unlocked goroutines made the tick work 1.7x longer
	// (median mean 9.9 vs 5.8 ms) and tick_to_wire p50 1.4 ms later, so
	// locked is the default everywhere; "off" stays for experiments.
	fs.StringVar(&o.lockThreads, "lock-threads", "on", "lock the event loops, the engine and the fan-out workers to their own OS threads: on or off (off also disables pinning)")
	// Measured on one CPU (perf/run.sh, alternating A/B runs): mmsg cuts the server's allocations from
	// ~105k objects/s to ~200/s at 1,000 players and removes gnet's futex
	// hand-offs, but tick_to_wire, rtt and apply were within the noise of
	// gnet, so gnet stays the default. With mmsg on one CPU the engine
	// thread serves the socket itself (InlineIO). GOMAXPROCS=2 in the
	// environment lowered mmsg's CPU at 1,000 players (sysmon stops
	// retaking the only P from every ppoll) but lengthened tick work at
	// 2,000, so it is not set automatically. The default, auto, leaves the
	// choice to netio (layout.go): the poll layout when the engine and the
	// I/O share one CPU, where it measured fastest (BENCHMARKS.md "Issue 9:
	// the single-CPU layout"), gnet otherwise.
	fs.StringVar(&o.backend, "backend", "auto", "receive path: auto (poll when the engine and the I/O share one CPU, else gnet; netio decides and logs why), gnet (gnet event loops), mmsg (recvmmsg on our own SO_REUSEPORT sockets, Linux; with one CPU the engine thread serves the socket between ticks) or poll (the single-CPU layout: recvmmsg from unlocked goroutines that pace their reads (--recv-pace) and wait in Go's netpoller, Linux)")
	fs.StringVar(&o.kernelFilter, "kernel-filter", "auto", "drop garbage in the kernel with an eBPF socket filter before the loops read it: auto (where the kernel allows it: root or CAP_BPF; else a warning), on (refuse to start without it) or off")
}

// stateFlags declares persistence and the world's shape.
func (o *options) stateFlags(fs *flag.FlagSet) {
	def := engine.DefaultConfig()
	fs.StringVar(&o.journal, "journal", "", "append every tick's ordered inputs and state hash to a new journal `file` (it must not exist); empty: no journal")
	fs.StringVar(&o.dataDir, "data-dir", "", "`directory` of journal segments and checkpoints: a new or empty one starts a fresh world, an existing one is recovered (newest checkpoint + journal); empty: no persistence")
	fs.DurationVar(&o.checkpointEvery, "checkpoint-every", 10*time.Second, "checkpoint interval with --data-dir; the journal rotates to a new segment at each")
	fs.IntVar(&o.keepCheckpoints, "keep-checkpoints", 2, "checkpoints kept in --data-dir (older ones and the segments only they need are deleted)")
	fs.DurationVar(&o.resumeGrace, "resume-grace", time.Minute, "keep a disconnected player's position, items and unacknowledged loot this long for a reconnect with the same player key (0: forget at once)")
	fs.IntVar(&o.maxPlayers, "max-players", def.MaxPlayers, "player slots")
	fs.IntVar(&o.regions, "regions", def.Regions, "regions (independent maps)")
	fs.Uint64Var(&o.seed, "seed", def.Seed, "world seed: chest placement and loot")
	fs.DurationVar(&o.tick, "tick", def.TickPeriod(), "tick period; must divide one second: it sets the world's tick rate, which its journal and checkpoints record")
}

// netFlags declares session, admission and socket limits.
func (o *options) netFlags(fs *flag.FlagSet) {
	fs.DurationVar(&o.recvPace, "recv-pace", netio.DefaultRecvPace, "poll layout: while datagrams stream in, a loop that emptied its socket sleeps this long before it reads again, instead of waking at each arrival (0: wake at each arrival; at most half a tick; Go sleeps whole milliseconds)")
	fs.BoolVar(&o.urgentSocket, "urgent-socket", true, "poll layout, one loop, authentication on: a second socket on the listen address receives the datagrams clients mark urgent (Pings), and the fan-out reads only it between its send batches, leaving the Inputs in the kernel until it is done (false: one socket, everything read between send batches)")
	fs.DurationVar(&o.idle, "idle-timeout", netio.DefaultIdleTimeout, "end a silent session after this long")
	fs.DurationVar(&o.grace, "shutdown-timeout", 10*time.Second, "bound on the graceful shutdown")
	fs.IntVar(&o.ringSize, "ring-size", 0, "records per loop-to-engine ring (power of two; 0: two ticks of each loop's share of --max-players)")
	fs.IntVar(&o.batch, "batch", netio.DefaultBatchSize, "datagrams per sendmmsg call")
	// Sized for players behind one shared NAT; a load generator on one
	// host needs --sessions-per-ip 0 and a --handshakes-per-ip of its
	// player count.
	fs.IntVar(&o.sessionsPerIP, "sessions-per-ip", netio.DefaultSessionsPerIP, "live sessions per IPv4 address or IPv6 /64 (0: no cap)")
	fs.IntVar(&o.handshakesPerIP, "handshakes-per-ip", netio.DefaultHSBurst, "handshakes in flight per IPv4 address or IPv6 /64 (token bucket burst)")
	fs.Float64Var(&o.handshakeRate, "handshake-rate-per-ip", netio.DefaultHSRate, "handshakes per second per IPv4 address or IPv6 /64 (token bucket refill)")
	fs.Float64Var(&o.hsBudget, "handshake-budget", netio.DefaultHSBudget, "handshakes per second answered in all (Hello and Connect, every address); Connects get headroom above it")
	o.rcvbuf, o.sndbuf, o.memlimit = netio.DefaultSocketBuffer, netio.DefaultSocketBuffer, 1<<30
	fs.Var(&o.rcvbuf, "rcvbuf", "SO_RCVBUF per socket (`size`, e.g. 4MiB)")
	fs.Var(&o.sndbuf, "sndbuf", "SO_SNDBUF per socket (`size`)")
}

// runtimeFlags declares the Go runtime, logging, planning, Agones and identity flags.
func (o *options) runtimeFlags(fs *flag.FlagSet) {
	// The live heap is small and pointer-free, so GC work per cycle is
	// tiny; a high GOGC makes cycles rare, and the memory limit is the
	// backstop that makes the GC work harder only if the heap ever grows.
	fs.IntVar(&o.gogc, "gogc", 400, "GOGC percentage (-1 turns the proportional GC off; the memory limit still applies)")
	fs.Var(&o.memlimit, "memlimit", "soft memory limit for the Go runtime (`size`, e.g. 1GiB)")
	fs.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&o.logFormat, "log-format", "text", "text or json")
	fs.BoolVar(&o.plan, "plan", false, "print the core layout the server would use with these flags, and exit")
	fs.StringVar(&o.planSysfs, "plan-sysfs", "", "with --plan: read the CPU topology from this recorded sysfs `dir` (a copy of another machine's /sys) instead of this host's")
	fs.StringVar(&o.agones, "agones", "auto", "Agones SDK sidecar: auto (on when AGONES_SDK_HTTP_PORT is set), off, or its base `URL`")
	fs.StringVar(&o.agonesRegion, "agones-region", "", "value of the treasured-region label for Agones allocation (empty: not set)")
	fs.DurationVar(&o.agonesBeat, "agones-health-every", 2*time.Second, "Agones health ping period, while the tick is on time")
	fs.StringVar(&o.tokenKey, "token-key", "", "connect-token key `file` (treasure-token genkey; mode 0600): required, there is no built-in key")
	fs.StringVar(&o.publicAddr, "public-addr", "", "comma-separated `addresses` (IP:port) clients reach this server at, which a token must name (default: --listen, a wildcard IP read as loopback)")
	fs.BoolVar(&o.noAuth, "insecure-no-auth", false, "serve without connect tokens or authenticated datagrams (protocol 2 without identity): for measuring what authentication costs, never for players")
}

// envOverrides applies TREASURED_<FLAG> environment variables as flag
// defaults: through Set, so they are parsed and checked exactly like the flag.
func envOverrides(fs *flag.FlagSet, getenv func(string) string) *envErrors {
	envErr := &envErrors{}
	fs.VisitAll(func(f *flag.Flag) {
		name := "TREASURED_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := getenv(name); v != "" {
			if err := f.Value.Set(v); err != nil {
				envErr.errs = append(envErr.errs, fmt.Errorf("%s=%q: %w", name, v, err))
			}
		}
	})
	return envErr
}

type envErrors struct{ errs []error }

// usageError marks errors that exit with status 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usage(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// run is main without the process: testable with its own arguments,
// environment and context. stopSignals, if not nil, is called once the
// first signal has been taken, so that a second one kills the process.
func run(ctx context.Context, stopSignals func(), args []string, getenv func(string) string, stderr io.Writer, ready func(*netio.Server, string)) int {
	var o options
	fs, envErr := newFlags(&o, getenv, stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage // flag already printed the error and the usage
	}
	if len(envErr.errs) > 0 {
		fmt.Fprintln(stderr, "treasured:", errors.Join(envErr.errs...))
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "treasured: unexpected arguments %q\n", fs.Args())
		return exitUsage
	}
	log, err := newLogger(o.logLevel, o.logFormat, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "treasured:", err)
		return exitUsage
	}
	if o.plan || o.planSysfs != "" {
		return printPlan(&o, stderr)
	}
	if err := checkAgones(&o, getenv); err != nil {
		fmt.Fprintln(stderr, "treasured:", err)
		return exitUsage
	}
	if err := serve(ctx, stopSignals, &o, log, ready); err != nil {
		log.Error("treasured stopped", "err", err)
		var ue usageError
		if errors.As(err, &ue) || errors.Is(err, netio.ErrConfig) || errors.Is(err, netio.ErrAddrInUse) {
			return exitUsage
		}
		return exitFailure
	}
	return exitOK
}

func newLogger(level, format string, w io.Writer) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("bad --log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("bad --log-format %q: want text or json", format)
}

// serve wires the server together from the flags and runs it until a
// signal or a failure. Each step's decisions live in the step's function,
// or in netio and affinity.
func serve(ctx context.Context, stopSignals func(), o *options, log *slog.Logger, ready func(*netio.Server, string)) error {
	tuneRuntime(o, log)
	layout, err := planCores(o, log)
	if err != nil {
		return err
	}
	ecfg, err := engineConfig(o)
	if err != nil {
		return err
	}
	world, dir, err := openWorld(o, ecfg, log)
	if err != nil {
		return err
	}
	if dir != nil {
		// After Shutdown the tick goroutine has closed it (this is then a
		// no-op); after a failed start nobody has.
		defer dir.Close()
	}
	cfg, err := netConfig(o, layout, world, log)
	if err != nil {
		return err
	}

	// The journal is created last before the server, and removed again if
	// the server cannot start: it holds only a header then, and leaving it
	// would make the retry fail on "file exists".
	jw, err := openJournal(o, dir, world, &cfg, log)
	if err != nil {
		return err
	}
	srv, err := netio.New(cfg, netio.EngineWorld(world))
	if err != nil {
		jw.discard()
		return err
	}
	reg := netio.NewRegistry(srv)
	if dir != nil {
		registerDataDir(reg, dir)
	}
	// The admin listener is bound before the game port, so a bad --admin
	// fails before any player could connect.
	admin, err := startAdmin(o.admin, srv, reg, log)
	if err != nil {
		jw.discard()
		return err
	}
	if err := srv.Start(); err != nil {
		admin.close()
		jw.discard()
		return err
	}
	if ready != nil {
		ready(srv, admin.addr)
	}
	stopAgones := startAgones(o, srv, log)
	runErr := runUntilStopped(ctx, stopSignals, srv, o.grace, log)
	stopAgones(runErr)
	admin.close()
	return runErr
}

// tuneRuntime sets GOMAXPROCS, the GC target and the memory limit.
func tuneRuntime(o *options, log *slog.Logger) {
	// automaxprocs: GOMAXPROCS from the cgroup CPU quota, not the host's
	// CPU count, or a container would run more Ps than it may use and be
	// throttled mid-tick.
	if _, err := maxprocs.Set(maxprocs.Logger(func(f string, a ...any) { log.Info(fmt.Sprintf(f, a...)) })); err != nil {
		log.Warn("automaxprocs", "err", err)
	}
	debug.SetGCPercent(o.gogc)
	debug.SetMemoryLimit(int64(o.memlimit))
	log.Info("runtime", "gogc", o.gogc, "memlimit", int64(o.memlimit))
}

// netConfig is the netio.Config the flags and the core layout describe.
// netio checks the ranges (ErrConfig: exit 2); here are only the flags
// whose zero means something other than netio's zero (its default).
func netConfig(o *options, layout coreLayout, world *engine.World, log *slog.Logger) (netio.Config, error) {
	if o.sessionsPerIP < 0 {
		return netio.Config{}, usage("--sessions-per-ip %d: want >= 0 (0: no cap)", o.sessionsPerIP)
	}
	if !(o.hsBudget > 0) || !(o.handshakeRate > 0) || o.handshakesPerIP < 1 {
		return netio.Config{}, usage("--handshake-budget %v, --handshake-rate-per-ip %v, --handshakes-per-ip %d: want > 0",
			o.hsBudget, o.handshakeRate, o.handshakesPerIP)
	}
	sessionsPerIP := o.sessionsPerIP
	if sessionsPerIP == 0 {
		sessionsPerIP = -1 // netio.Config: negative means no cap
	}
	if o.recvPace < 0 {
		return netio.Config{}, usage("--recv-pace %v: want >= 0 (0: wake at each arrival)", o.recvPace)
	}
	locked, err := lockThreads(o.lockThreads)
	if err != nil {
		return netio.Config{}, err
	}
	backend, err := netio.ParseBackend(o.backend)
	if err != nil {
		return netio.Config{}, usage("--backend %q: want auto, gnet, mmsg or poll", o.backend)
	}
	filter, err := netio.ParseFilterMode(o.kernelFilter)
	if err != nil {
		return netio.Config{}, usage("--kernel-filter %q: want auto, on or off", o.kernelFilter)
	}
	cfg := netio.Config{
		Addr:            o.listen,
		Loops:           layout.Loops,
		IOCPUs:          layout.IO,
		EngineCPUs:      layout.Engine,
		FanoutWorkers:   o.fanoutWorkers,
		FanoutCPUs:      layout.fanout,
		UnlockedThreads: !locked,
		Backend:         backend,
		KernelFilter:    filter,
		Restore:         world.SlotState,
		RingSize:        o.ringSize,
		BatchSize:       o.batch,
		RecvPace:        recvPace(o.recvPace),
		SingleSocket:    !o.urgentSocket,
		IdleTimeout:     o.idle,

		SessionsPerIP:   sessionsPerIP,
		HandshakeBurst:  o.handshakesPerIP,
		HandshakeRate:   o.handshakeRate,
		HandshakeBudget: o.hsBudget,
		RecvBuffer:      int(o.rcvbuf),
		SendBuffer:      int(o.sndbuf),
		Logger:          log,
	}
	if err := identityConfig(o, &cfg, log); err != nil {
		return netio.Config{}, err
	}
	cfg.InlineIO = netio.InlineIOFits(&cfg)
	if o.pin {
		cfg.PinThread = affinity.PinThread
	}
	// The backend, inline I/O and locking are settled by netio (auto,
	// poll unlocks the threads): its "treasured listening" line says what
	// they became. This one says only what was asked for here.
	log.Info("threads", "backend_flag", o.backend, "lock_threads_flag", o.lockThreads,
		"pin_requested", o.pin && locked, "gomaxprocs", runtime.GOMAXPROCS(0))
	return cfg, nil
}

// recvPace maps --recv-pace to netio.Config.RecvPace, where 0 is the
// default and a negative pace is off.
func recvPace(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// newJournal is the --journal file serve created, if any: discard removes
// it again when the server does not start.
type newJournal struct {
	w    *journal.Writer
	path string
}

func (j newJournal) discard() {
	if j.w != nil {
		_ = j.w.Close()
		_ = os.Remove(j.path)
	}
}

// openJournal sets cfg.Journal: the data directory, which journals itself,
// or a new --journal file, which is never overwritten.
func openJournal(o *options, dir *journal.Dir, world *engine.World, cfg *netio.Config, log *slog.Logger) (newJournal, error) {
	switch {
	case dir != nil:
		cfg.Journal = dir
	case o.journal != "":
		if _, err := os.Lstat(o.journal); err == nil {
			return newJournal{}, usage("--journal %s: file exists; a journal is never overwritten (move it away or name a new file)", o.journal)
		}
		jw, err := journal.Create(o.journal, world.Config(), world.Tick(), journal.Options{})
		if err != nil {
			return newJournal{}, usage("--journal %s: %w", o.journal, err)
		}
		cfg.Journal = jw
		log.Info("journal", "path", o.journal, "start_tick", world.Tick())
		return newJournal{w: jw, path: o.journal}, nil
	}
	return newJournal{}, nil
}

// adminServer is the admin HTTP listener (/metrics, pprof, /healthz), or
// nothing with --admin="".
type adminServer struct {
	srv  *http.Server
	addr string
}

func startAdmin(addr string, srv *netio.Server, reg *prometheus.Registry, log *slog.Logger) (adminServer, error) {
	if addr == "" {
		return adminServer{}, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return adminServer{}, usage("admin listener %s: %w", addr, err)
	}
	a := adminServer{
		srv:  &http.Server{Handler: netio.AdminHandler(srv, reg), ReadHeaderTimeout: 5 * time.Second},
		addr: ln.Addr().String(),
	}
	go func() {
		if err := a.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("admin server", "err", err)
		}
	}()
	log.Info("admin listening", "addr", a.addr, "paths", "/metrics /debug/pprof/ /healthz")
	return a, nil
}

func (a adminServer) close() {
	if a.srv != nil {
		c, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = a.srv.Shutdown(c)
	}
}

// runUntilStopped waits for a signal or for the event loops to stop, then
// shuts the server down within grace. The error is the loops' failure, the
// shutdown's, or both.
func runUntilStopped(ctx context.Context, stopSignals func(), srv *netio.Server, grace time.Duration, log *slog.Logger) error {
	var runErr error
	select {
	case <-ctx.Done():
		log.Info("signal received; shutting down (a second signal kills)")
	case <-srv.Done():
		runErr = fmt.Errorf("event loops stopped: %w", srv.Err())
	}
	if stopSignals != nil {
		stopSignals()
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		runErr = errors.Join(runErr, fmt.Errorf("shutdown: %w", err))
	}
	return runErr
}

// coreLayout is the affinity plan plus the CPUs of the extra fan-out workers.
type coreLayout struct {
	affinity.Layout
	fanout []int
}

// lockThreads decides --lock-threads: "on" or "off".
//
// An "auto" (off when GOMAXPROCS is 1) was tried and measured: with one P,
// unlocked goroutines made every tick slower (see the flag), so it is not
// offered.
func lockThreads(mode string) (bool, error) {
	switch mode {
	case "on":
		return true, nil
	case "off":
		return false, nil
	}
	return false, usage("--lock-threads %q: want on or off", mode)
}

// planCores turns --engine-cores/--io-cores/--io-loops/--fanout-cores into
// a layout over the CPUs this process may use (affinity.PlanHost, which
// also decides what happens on a host whose topology cannot be read). A CPU
// that does not exist or is not ours is a usage error (exit 2), named in
// the message.
func planCores(o *options, log *slog.Logger) (coreLayout, error) {
	eng, io, err := coreFlags(o)
	if err != nil {
		return coreLayout{}, err
	}
	layout, topo, err := affinity.PlanHost(affinity.Request{EngineCores: eng, IOCores: io, IOLoops: o.ioLoops})
	if err != nil {
		return coreLayout{}, usage("%w", err)
	}
	fan, err := fanoutCores(topo, o)
	if err != nil {
		return coreLayout{}, err
	}
	log.Info("core layout", "topology", topo.String(),
		"engine", affinity.FormatCPUList(layout.Engine), "io", affinity.FormatCPUList(layout.IO),
		"os", affinity.FormatCPUList(layout.OS), "loops", layout.Loops, "numa_node", layout.Node, "pin", o.pin)
	for _, n := range layout.Notes {
		log.Info("core layout note", "note", n)
	}
	return coreLayout{Layout: layout, fanout: fan}, nil
}

// coreFlags parses --engine-cores and --io-cores and checks --io-loops.
func coreFlags(o *options) (eng, io []int, err error) {
	if eng, err = affinity.ParseCPUList(o.engineCores); err != nil {
		return nil, nil, usage("--engine-cores: %w", err)
	}
	if io, err = affinity.ParseCPUList(o.ioCores); err != nil {
		return nil, nil, usage("--io-cores: %w", err)
	}
	if o.ioLoops < 0 {
		return nil, nil, usage("--io-loops %d: must be >= 0", o.ioLoops)
	}
	return eng, io, nil
}

// layoutFor plans the layout on topo from the parsed --engine-cores and
// --io-cores and the rest of o: what --plan prints for a recorded topology.
func layoutFor(topo affinity.Topology, eng, io []int, o *options) (coreLayout, error) {
	layout, err := affinity.Plan(topo, affinity.Request{EngineCores: eng, IOCores: io, IOLoops: o.ioLoops})
	if err != nil {
		return coreLayout{}, usage("%w", err)
	}
	fan, err := fanoutCores(topo, o)
	if err != nil {
		return coreLayout{}, err
	}
	return coreLayout{Layout: layout, fanout: fan}, nil
}

// fanoutCores parses --fanout-cores and checks them against topo (on a host
// without a readable topology, topo is empty and any list is refused).
func fanoutCores(topo affinity.Topology, o *options) ([]int, error) {
	fan, err := affinity.ParseCPUList(o.fanoutCores)
	if err == nil {
		err = topo.Check(fan)
	}
	if err != nil {
		return nil, usage("--fanout-cores: %w", err)
	}
	return fan, nil
}

// engineConfig is the world the flags describe. The tick rate is part of it
// (journaled and checkpointed), so --tick must be a whole number of ticks
// per second.
func engineConfig(o *options) (engine.Config, error) {
	c := engine.DefaultConfig()
	c.MaxPlayers, c.Regions, c.Seed = o.maxPlayers, o.regions, o.seed
	hz, err := engine.TickHzOf(o.tick)
	if err != nil {
		return c, usage("--tick: %w", err)
	}
	c.TickHz = hz
	if o.resumeGrace < 0 || o.checkpointEvery < 0 {
		return c, usage("--resume-grace and --checkpoint-every must be >= 0")
	}
	c.GraceTicks = min(c.Ticks(o.resumeGrace), 1<<25)
	if err := c.Validate(); err != nil {
		return c, usage("%w", err)
	}
	return c, nil
}

// openWorld builds the world: fresh, or from --data-dir (recovered when it
// holds one). A directory that cannot be trusted is refused with exit 2 and
// left as it is.
func openWorld(o *options, c engine.Config, log *slog.Logger) (*engine.World, *journal.Dir, error) {
	if o.dataDir == "" {
		w, err := engine.New(c)
		if err != nil {
			return nil, nil, usage("%w", err)
		}
		return w, nil, nil
	}
	if o.journal != "" {
		return nil, nil, usage("--journal and --data-dir are exclusive: the data directory holds the journal")
	}
	if o.keepCheckpoints < 1 {
		return nil, nil, usage("--keep-checkpoints %d: want >= 1", o.keepCheckpoints)
	}
	every := max(1, c.Ticks(o.checkpointEvery))
	dir, rec, err := journal.Open(o.dataDir, c, journal.DirOptions{CheckpointEvery: every, Keep: o.keepCheckpoints, Logger: log})
	if err != nil {
		return nil, nil, usage("--data-dir %s: %w", o.dataDir, err)
	}
	if rec.Fresh {
		log.Info("data directory: new world", "dir", o.dataDir, "checkpoint_every_ticks", every)
	} else {
		log.Info("data directory: recovered", "dir", o.dataDir, "checkpoint", rec.Checkpoint,
			"checkpoint_tick", rec.CheckpointTick, "segments", rec.Segments, "replayed_ticks", rec.Replayed,
			"recovered_tick", rec.RecoveredTick, "recovered_hash", fmt.Sprintf("%#016x", rec.RecoveredHash),
			"tick", rec.Tick, "sessions_ended", rec.Ended, "load", rec.Load, "replay", rec.Replay,
			"skipped_checkpoints", len(rec.Skipped), "torn_tail_cut", rec.Truncated != "")
	}
	return dir.World(), dir, nil
}

// registerDataDir exports the data directory's checkpoint counters.
func registerDataDir(reg *prometheus.Registry, dir *journal.Dir) {
	st := dir.Stats()
	for _, m := range []struct {
		name, help string
		gauge      bool
		value      func() float64
	}{
		{metricname.Checkpoints, "Checkpoints written, fsynced and renamed into the data directory.", false,
			func() float64 { return float64(st.Checkpoints.Load()) }},
		{metricname.CheckpointsSkipped, "Checkpoints not taken because the previous one was still being written.", false,
			func() float64 { return float64(st.CheckpointSkipped.Load()) }},
		{metricname.CheckpointErrors, "Failed checkpoint writes, segment rotations and prunes.", false,
			func() float64 { return float64(st.CheckpointErrors.Load()) }},
		{metricname.CheckpointTick, "Tick of the newest durable checkpoint.", true,
			func() float64 { return float64(st.LastCheckpoint.Load()) }},
		{metricname.CheckpointTickSeconds, "Time the last checkpoint took on the tick goroutine (encoding and segment rotation).", true,
			func() float64 { return float64(st.EncodeNanos.Load()) / 1e9 }},
	} {
		if m.gauge {
			reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: m.name, Help: m.help}, m.value))
		} else {
			reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: m.name, Help: m.help}, m.value))
		}
	}
}

// identityConfig loads the token key file and the public addresses into
// cfg. A missing key is a usage error: the server never picks a key of its
// own (make run creates a development key and passes it).
func identityConfig(o *options, cfg *netio.Config, log *slog.Logger) error {
	if o.noAuth {
		if o.tokenKey != "" {
			return usage("--token-key and --insecure-no-auth: pick one")
		}
		cfg.NoAuth = true
		return nil
	}
	if o.tokenKey == "" {
		return usage("no --token-key (or TREASURED_TOKEN_KEY): create one with `treasure-token genkey --out FILE`; players need tokens issued with the same key")
	}
	cur, prev, err := auth.LoadKeyFile(o.tokenKey)
	if err != nil {
		return usage("--token-key: %v", err)
	}
	cfg.TokenKey, cfg.TokenKeyPrevious = cur, prev
	for _, s := range strings.Split(o.publicAddr, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		ap, err := netip.ParseAddrPort(s)
		if err != nil {
			return usage("--public-addr %q: want IP:port", s)
		}
		cfg.PublicAddrs = append(cfg.PublicAddrs, ap)
	}
	log.Info("connect tokens", "key_file", o.tokenKey, "key_id", cur.ID, "previous_key", prev != nil, "public_addrs", o.publicAddr)
	return nil
}
