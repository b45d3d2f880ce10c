//go:build linux

package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/treasured/treasured/netio/udp"
)

// raiseNoFile lifts the soft RLIMIT_NOFILE to the hard limit and returns it:
// one socket per player needs as many descriptors as players.
func raiseNoFile() (uint64, error) {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return 0, err
	}
	if rl.Cur < rl.Max {
		rl.Cur = rl.Max
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
			return 0, err
		}
	}
	return rl.Cur, nil
}

func cpuTimes() (user, sys float64) {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return 0, 0
	}
	return float64(ru.Utime.Nano()) / 1e9, float64(ru.Stime.Nano()) / 1e9
}

// isLocalAddr reports whether a is an address of this host (a bind to it
// succeeds without IP_FREEBIND).
func isLocalAddr(a netip.Addr) bool {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	return unix.Bind(fd, &unix.SockaddrInet4{Addr: a.As4()}) == nil
}

func resolve(addr string) (netip.AddrPort, error) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return netip.AddrPort{}, err
	}
	ap := ua.AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
}

// runBench does one run and returns the exit status.
func runBench(cfg *Config, stdout, stderr io.Writer) int {
	server, perSocket, code := checkResources(cfg, stderr)
	if code != exitOK {
		return code
	}
	// One P more than workers: with a P per worker and nothing idle, the
	// runtime's sysmon takes the P from every worker blocked in
	// epoll_pwait2 for more than 20 µs and hands it to another thread: more
	// context switches per wake-up than sends (BENCHMARKS.md, generator
	// ceiling). With an idle P it leaves a syscall alone for 10 ms.
	if runtime.GOMAXPROCS(0) <= cfg.Workers {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(cfg.Workers + 1))
	}
	r := &benchRun{
		cfg: cfg, base: time.Now(), server: server, perSocket: perSocket, stderr: stderr,
		progress: cfg.Progress == "on" || (cfg.Progress == "auto" && cfg.Warmup+cfg.Duration > 5*time.Second),
	}
	if err := r.startWorkers(); err != nil {
		fmt.Fprintf(stderr, "treasure-bench: %v\n", err)
		return exitFail
	}
	r.awaitHandshakes()
	if connectedCount(r.workers) == 0 {
		r.noAnswer()
		return exitFail
	}
	info := r.measure()
	r.wg.Wait()
	if r.progress {
		fmt.Fprintf(stderr, "\r%s\r", strings.Repeat(" ", 100))
	}
	total := newWorkerResult()
	total.BelowEpochMin = 0
	for _, res := range r.results {
		total.merge(res)
	}
	return writeReport(cfg, BuildReport(cfg, total, info), stdout, stderr)
}

// checkResources resolves the server and checks that the run's sockets fit
// the descriptor limit. It returns the server, the players per socket and
// exitOK, or the exit status of a run that cannot start.
func checkResources(cfg *Config, stderr io.Writer) (netip.AddrPort, int, int) {
	server, err := resolve(cfg.Addr)
	if err != nil {
		fmt.Fprintf(stderr, "treasure-bench: --addr %s: %v\n", cfg.Addr, err)
		return server, 0, exitUsage
	}
	perSocket, err := cfg.SocketPlan(server, isLocalAddr)
	if err != nil {
		fmt.Fprintf(stderr, "treasure-bench: %v\n", err)
		return server, 0, exitUsage
	}
	limit, err := raiseNoFile()
	if err != nil {
		fmt.Fprintf(stderr, "treasure-bench: RLIMIT_NOFILE: %v\n", err)
		return server, 0, exitFail
	}
	sockets := (cfg.Players + perSocket - 1) / perSocket
	if need := uint64(sockets + 2*cfg.Workers + 64); need > limit {
		fmt.Fprintf(stderr, "treasure-bench: --players %d needs %d file descriptors (%d socket(s), %d player(s) each), the hard limit is %d: raise it (ulimit -Hn), use fewer players or more --players-per-socket\n",
			cfg.Players, need, sockets, perSocket, limit)
		return server, 0, exitUsage
	}
	return server, perSocket, exitOK
}

// benchRun is one run's state between its phases: workers started,
// handshakes, the measured window, the report.
type benchRun struct {
	cfg       *Config
	base      time.Time // the bench clock's zero
	server    netip.AddrPort
	perSocket int
	stderr    io.Writer
	progress  bool // print the progress line

	workers []*Worker
	shared  []*udp.Conn // read for their drops while the workers run
	results []*WorkerResult
	wg      sync.WaitGroup
}

// now is the bench clock.
func (r *benchRun) now() int64 { return int64(time.Since(r.base)) }

// startWorkers creates the workers, each with its share of the players and
// of their send phases, and starts them; each handshakes its players, then
// waits for its plan.
func (r *benchRun) startWorkers() error {
	cfg := r.cfg
	inputInterval := int64(float64(time.Second) / cfg.Rate)
	inputPh := SpreadPhases(cfg.Players, inputInterval, cfg.Seed)
	var pingPh []int64
	if cfg.PingRate > 0 {
		pingPh = SpreadPhases(cfg.Players, int64(float64(time.Second)/cfg.PingRate), cfg.Seed+1)
	} else {
		pingPh = make([]int64, cfg.Players)
	}
	startInterval := int64(float64(time.Second) * float64(cfg.Workers) / cfg.ConnectRate)
	r.workers = make([]*Worker, 0, cfg.Workers)
	first := 0
	for i := range cfg.Workers {
		n := cfg.Players / cfg.Workers
		if i < cfg.Players%cfg.Workers {
			n++
		}
		w, err := newWorker(i, cfg, r.base, r.server, first, n, r.perSocket, inputPh[first:first+n], pingPh[first:first+n], startInterval)
		if err != nil {
			for _, w := range r.workers {
				w.close()
			}
			return err
		}
		r.workers = append(r.workers, w)
		for _, s := range w.socks {
			r.shared = append(r.shared, s.conn)
		}
		first += n
	}
	r.results = make([]*WorkerResult, len(r.workers))
	for i, w := range r.workers {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			r.results[i] = w.Run(int64(r.cfg.ConnectTimeout))
		}()
	}
	return nil
}

// awaitHandshakes waits until every worker has every player connected or
// failed, or until the last Hello had its full timeout.
func (r *benchRun) awaitHandshakes() {
	cfg := r.cfg
	deadline := r.now() + int64(float64(cfg.Players)/cfg.ConnectRate*1e9) + int64(cfg.ConnectTimeout) + int64(time.Second)
	lastPrint := r.now()
	for {
		done := true
		for _, w := range r.workers {
			if !w.connectDone.Load() {
				done = false
			}
		}
		if done || r.now() > deadline {
			break
		}
		time.Sleep(10 * time.Millisecond)
		if r.progress && r.now()-lastPrint >= int64(time.Second) {
			lastPrint = r.now()
			fmt.Fprintf(r.stderr, "\r  connecting: %d/%d players        ", connectedCount(r.workers), cfg.Players)
		}
	}
	if r.progress {
		fmt.Fprintf(r.stderr, "\r%s\r", strings.Repeat(" ", 60))
	}
}

// noAnswer ends a run in which no player connected, and says why it may be.
func (r *benchRun) noAnswer() {
	end := r.now()
	for _, w := range r.workers {
		w.SetPlan(&Plan{Start: end, MeasureStart: end, MeasureEnd: end, DrainEnd: end})
	}
	r.wg.Wait()
	var refused uint64
	for _, res := range r.results {
		refused += res.Refused
	}
	hint := "is treasured running and reachable?"
	if refused > 0 {
		hint = fmt.Sprintf("the kernel reported the port closed %d times (ECONNREFUSED): nothing listens there", refused)
	}
	fmt.Fprintf(r.stderr, "treasure-bench: no answer to the handshake from %s within %v: %s\n", r.cfg.Addr, r.cfg.ConnectTimeout, hint)
}

// measure sets the workers' plan (warm-up, measured window, drain), and
// reads the process's, the kernel's and the server's counters at both ends
// of the measured window. It returns when the drain ends.
func (r *benchRun) measure() *RunInfo {
	cfg := r.cfg
	var srvEpoch, srvPeriod int64
	var clockErr error
	if cfg.Admin != "" {
		srvEpoch, srvPeriod, clockErr = ServerTickClock(context.Background(), cfg.Admin, r.base)
	}
	start := r.now() + int64(20*time.Millisecond)
	plan := &Plan{Start: start, MeasureStart: start + int64(cfg.Warmup), ServerEpoch: srvEpoch, ServerPeriod: srvPeriod}
	plan.MeasureEnd = plan.MeasureStart + int64(cfg.Duration)
	plan.DrainEnd = plan.MeasureEnd + int64(cfg.Drain)
	for _, w := range r.workers {
		w.SetPlan(plan)
	}
	info := &RunInfo{CPUs: runtime.NumCPU(), ServerClock: srvPeriod > 0, PerSocket: r.perSocket,
		Sockets: (cfg.Players + r.perSocket - 1) / r.perSocket}
	if clockErr != nil {
		info.ServerClockErr = clockErr.Error()
	}
	pp := &progressLine{base: r.base, on: r.progress, w: r.stderr, ws: r.workers, plan: plan, cfg: cfg}
	pp.sleepUntil(plan.MeasureStart)
	prof := startProfile(cfg.CPUProfile, r.stderr)
	c0 := r.readCounters(nil)
	pp.sleepUntil(plan.MeasureEnd)
	c1 := r.readCounters(c0)
	if prof != nil {
		pprof.StopCPUProfile()
		prof.Close()
	}
	c1.fill(info, cfg)
	// Our own sockets' kernel drops, read before the workers close them.
	_, cli, _ := ReadUDPDrops(0, int(r.server.Port()))
	info.ClientDrops = cli.Drops
	info.DropSockets = cli.DropSockets
	d, n := sharedDrops(r.shared)
	info.ClientDrops += d
	info.DropSockets += n
	pp.sleepUntil(plan.DrainEnd)
	return info
}

// startProfile starts the --cpuprofile of the measured window, or returns
// nil (after saying why) if it cannot.
func startProfile(path string, stderr io.Writer) *os.File {
	if path == "" {
		return nil
	}
	prof, err := os.Create(path)
	if err == nil {
		if err = pprof.StartCPUProfile(prof); err != nil {
			prof.Close()
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "treasure-bench: --cpuprofile: %v\n", err)
		return nil
	}
	return prof
}

// counters is one end of the measured window: the process's CPU time,
// datagrams and allocations, the kernel's UDP drops and counters, and the
// server's /metrics.
type counters struct {
	user, sys float64
	datagrams uint64
	mem       runtime.MemStats
	srvDrops  UDPDrops
	kernelOK  bool
	snmp      map[string]uint64
	metrics   *Metrics
	err       error // of the /metrics scrape (this one's or the start's)
	start     *counters
}

// readCounters reads the counters; start is the window's start, nil when
// this is it. The process's CPU time and datagrams are read first, the
// allocations next, so that the other reads count as little as possible.
func (r *benchRun) readCounters(start *counters) *counters {
	c := &counters{start: start}
	c.user, c.sys = cpuTimes()
	c.datagrams = datagrams(r.workers)
	runtime.ReadMemStats(&c.mem)
	c.srvDrops, _, c.kernelOK = ReadUDPDrops(int(r.server.Port()), 0)
	c.snmp = ReadUDPSNMP()
	if r.cfg.Admin != "" && (start == nil || start.err == nil) {
		c.metrics, c.err = ScrapeMetrics(context.Background(), r.cfg.Admin)
	} else if start != nil {
		c.err = start.err
	}
	return c
}

// fill sets info's figures of the window from c.start to c.
func (c *counters) fill(info *RunInfo, cfg *Config) {
	c0 := c.start
	info.Datagrams = c.datagrams - c0.datagrams
	info.CPUUser, info.CPUSys = c.user-c0.user, c.sys-c0.sys
	info.Mallocs = c.mem.Mallocs - c0.mem.Mallocs
	info.AllocBytes = c.mem.TotalAlloc - c0.mem.TotalAlloc
	info.GCs = c.mem.NumGC - c0.mem.NumGC
	info.KernelOK = c0.kernelOK && c.kernelOK
	info.ServerSockets = c.srvDrops.Sockets
	if c.srvDrops.Drops >= c0.srvDrops.Drops {
		info.ServerDrops = c.srvDrops.Drops - c0.srvDrops.Drops
	}
	if c0.snmp != nil && c.snmp != nil {
		info.SNMPDelta = map[string]uint64{}
		for _, k := range []string{"InErrors", "RcvbufErrors", "SndbufErrors"} {
			info.SNMPDelta[k] = c.snmp[k] - c0.snmp[k]
		}
	}
	switch {
	case cfg.Admin == "":
	case c.err != nil:
		info.Server = &ServerReport{Error: c.err.Error()}
	default:
		info.Server = SummarizeServer(c0.metrics, c.metrics, cfg.Duration.Seconds())
	}
}

// writeReport writes the report in the form cfg asks for (and the result
// files and plot) and returns the exit status.
func writeReport(cfg *Config, rep *Report, stdout, stderr io.Writer) int {
	var files []string
	if cfg.Results != "" {
		var err error
		if files, err = writeResults(cfg.Results, rep); err != nil {
			fmt.Fprintf(stderr, "treasure-bench: %v\n", err)
			return exitFail
		}
	}
	switch {
	case cfg.JSON:
		if err := rep.WriteJSON(stdout); err != nil {
			fmt.Fprintf(stderr, "treasure-bench: %v\n", err)
			return exitFail
		}
	case cfg.Latency || cfg.Quiet:
		rep.WriteText(stdout, !cfg.Latency)
	default:
		rep.WriteSummary(stdout, files)
	}
	if cfg.Plot != "" {
		if err := WritePlot(cfg.Plot, rep); err != nil {
			fmt.Fprintf(stderr, "treasure-bench: plot: %v\n", err)
			return exitFail
		}
	}
	if !rep.Valid {
		if cfg.JSON || cfg.Latency || cfg.Quiet { // the summary says it already
			fmt.Fprintf(stderr, "treasure-bench: *** run INVALID: %s ***\n", strings.Join(rep.Invalid, "; "))
		}
		if cfg.Strict {
			return exitInvalid
		}
	}
	return exitOK
}

func datagrams(ws []*Worker) uint64 {
	var n uint64
	for _, w := range ws {
		n += w.progDatagrams.Load()
	}
	return n
}

func connectedCount(ws []*Worker) uint64 {
	var n uint64
	for _, w := range ws {
		n += w.progConnected.Load()
	}
	return n
}

// progressLine prints, about once a second, how far the run is and the
// rates actually achieved (stderr, one rewritten line).
type progressLine struct {
	base             time.Time
	on               bool
	w                io.Writer
	ws               []*Worker
	plan             *Plan
	cfg              *Config
	lastSent, lastSn uint64
	last             time.Duration
}

// sleepUntil waits for bench-clock time t.
func (p *progressLine) sleepUntil(t int64) {
	for {
		now := time.Since(p.base)
		left := time.Duration(t) - now
		if left <= 0 {
			return
		}
		if !p.on {
			time.Sleep(left)
			return
		}
		time.Sleep(min(left, time.Second))
		now = time.Since(p.base)
		if p.last == 0 {
			p.last = time.Duration(p.plan.Start)
		}
		dt := (now - p.last).Seconds()
		if dt < 0.5 {
			continue
		}
		var sent, snaps uint64
		for _, w := range p.ws {
			sent += w.progSent.Load()
			snaps += w.progSnaps.Load()
		}
		phase := "warm-up"
		switch {
		case int64(now) >= p.plan.MeasureEnd:
			phase = "drain"
		case int64(now) >= p.plan.MeasureStart:
			phase = "measure"
		}
		done := float64(int64(now)-p.plan.Start) / float64(p.plan.DrainEnd-p.plan.Start)
		done = max(0, min(1, done))
		bar := strings.Repeat("=", int(done*30)) + strings.Repeat(" ", 30-int(done*30))
		fmt.Fprintf(p.w, "\r  [%s] %3.0f%% %-7s inputs %7.0f/s (target %.0f/s)  snapshots %7.0f/s  ",
			bar, 100*done, phase, float64(sent-p.lastSent)/dt, p.cfg.Rate*float64(p.cfg.Players), float64(snaps-p.lastSn)/dt)
		p.lastSent, p.lastSn, p.last = sent, snaps, now
	}
}
