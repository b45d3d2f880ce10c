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
	server, err := resolve(cfg.Addr)
	if err != nil {
		fmt.Fprintf(stderr, "treasure-bench: --addr %s: %v\n", cfg.Addr, err)
		return exitUsage
	}
	perSocket, err := cfg.SocketPlan(server, isLocalAddr)
	if err != nil {
		fmt.Fprintf(stderr, "treasure-bench: %v\n", err)
		return exitUsage
	}
	limit, err := raiseNoFile()
	if err != nil {
		fmt.Fprintf(stderr, "treasure-bench: RLIMIT_NOFILE: %v\n", err)
		return exitFail
	}
	sockets := (cfg.Players + perSocket - 1) / perSocket
	if need := uint64(sockets + 2*cfg.Workers + 64); need > limit {
		fmt.Fprintf(stderr, "treasure-bench: --players %d needs %d file descriptors (%d socket(s), %d player(s) each), the hard limit is %d: raise it (ulimit -Hn), use fewer players or more --players-per-socket\n",
			cfg.Players, need, sockets, perSocket, limit)
		return exitUsage
	}

	// One P more than workers: with a P per worker and nothing idle, the
	// runtime's sysmon takes the P from every worker blocked in
	// epoll_pwait2 for more than 20 µs and hands it to another thread: more
	// context switches per wake-up than sends (BENCHMARKS.md, generator
	// ceiling). With an idle P it leaves a syscall alone for 10 ms.
	if runtime.GOMAXPROCS(0) <= cfg.Workers {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(cfg.Workers + 1))
	}
	base := time.Now()
	inputInterval := int64(float64(time.Second) / cfg.Rate)
	inputPh := SpreadPhases(cfg.Players, inputInterval, cfg.Seed)
	var pingPh []int64
	if cfg.PingRate > 0 {
		pingPh = SpreadPhases(cfg.Players, int64(float64(time.Second)/cfg.PingRate), cfg.Seed+1)
	} else {
		pingPh = make([]int64, cfg.Players)
	}
	startInterval := int64(float64(time.Second) * float64(cfg.Workers) / cfg.ConnectRate)

	workers := make([]*Worker, 0, cfg.Workers)
	var shared []*udp.Conn // read for their drops while the workers run
	first := 0
	for i := range cfg.Workers {
		n := cfg.Players / cfg.Workers
		if i < cfg.Players%cfg.Workers {
			n++
		}
		w, err := newWorker(i, cfg, base, server, first, n, perSocket, inputPh[first:first+n], pingPh[first:first+n], startInterval)
		if err != nil {
			for _, w := range workers {
				w.close()
			}
			fmt.Fprintf(stderr, "treasure-bench: %v\n", err)
			return exitFail
		}
		workers = append(workers, w)
		for _, s := range w.socks {
			shared = append(shared, s.conn)
		}
		first += n
	}

	results := make([]*WorkerResult, len(workers))
	var wg sync.WaitGroup
	for i, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = w.Run(int64(cfg.ConnectTimeout))
		}()
	}
	now := func() int64 { return int64(time.Since(base)) }
	progress := cfg.Progress == "on" || (cfg.Progress == "auto" && cfg.Warmup+cfg.Duration > 5*time.Second)

	// Handshakes: wait until every worker has every player connected or
	// failed, or until the last Hello had its full timeout.
	connectDeadline := now() + int64(float64(cfg.Players)/cfg.ConnectRate*1e9) + int64(cfg.ConnectTimeout) + int64(time.Second)
	lastPrint := now()
	for {
		done := true
		for _, w := range workers {
			if !w.connectDone.Load() {
				done = false
			}
		}
		if done || now() > connectDeadline {
			break
		}
		time.Sleep(10 * time.Millisecond)
		if progress && now()-lastPrint >= int64(time.Second) {
			lastPrint = now()
			fmt.Fprintf(stderr, "\r  connecting: %d/%d players        ", connectedCount(workers), cfg.Players)
		}
	}
	if progress {
		fmt.Fprintf(stderr, "\r%s\r", strings.Repeat(" ", 60))
	}
	connected := connectedCount(workers)
	if connected == 0 {
		end := now()
		for _, w := range workers {
			w.SetPlan(&Plan{Start: end, MeasureStart: end, MeasureEnd: end, DrainEnd: end})
		}
		wg.Wait()
		var refused uint64
		for _, r := range results {
			refused += r.Refused
		}
		hint := "is treasured running and reachable?"
		if refused > 0 {
			hint = fmt.Sprintf("the kernel reported the port closed %d times (ECONNREFUSED): nothing listens there", refused)
		}
		fmt.Fprintf(stderr, "treasure-bench: no answer to the handshake from %s within %v: %s\n", cfg.Addr, cfg.ConnectTimeout, hint)
		return exitFail
	}

	var srvEpoch, srvPeriod int64
	var clockErr error
	if cfg.Admin != "" {
		srvEpoch, srvPeriod, clockErr = ServerTickClock(context.Background(), cfg.Admin, base)
	}
	start := now() + int64(20*time.Millisecond)
	plan := &Plan{Start: start, MeasureStart: start + int64(cfg.Warmup), ServerEpoch: srvEpoch, ServerPeriod: srvPeriod}
	plan.MeasureEnd = plan.MeasureStart + int64(cfg.Duration)
	plan.DrainEnd = plan.MeasureEnd + int64(cfg.Drain)
	for _, w := range workers {
		w.SetPlan(plan)
	}

	info := &RunInfo{CPUs: runtime.NumCPU(), ServerClock: srvPeriod > 0, PerSocket: perSocket, Sockets: sockets}
	if clockErr != nil {
		info.ServerClockErr = clockErr.Error()
	}
	ctx := context.Background()
	var m0 *Metrics
	var mErr error
	pp := &progressLine{base: base, on: progress, w: stderr, ws: workers, plan: plan, cfg: cfg}
	pp.sleepUntil(plan.MeasureStart)
	var prof *os.File
	if cfg.CPUProfile != "" {
		if prof, err = os.Create(cfg.CPUProfile); err == nil {
			err = pprof.StartCPUProfile(prof)
		}
		if err != nil {
			fmt.Fprintf(stderr, "treasure-bench: --cpuprofile: %v\n", err)
			prof = nil
		}
	}
	u0, s0 := cpuTimes()
	dg0 := datagrams(workers)
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	srv0, _, ok0 := ReadUDPDrops(int(server.Port()), 0)
	snmp0 := ReadUDPSNMP()
	if cfg.Admin != "" {
		m0, mErr = ScrapeMetrics(ctx, cfg.Admin)
	}
	pp.sleepUntil(plan.MeasureEnd)
	u1, s1 := cpuTimes()
	info.Datagrams = datagrams(workers) - dg0
	if prof != nil {
		pprof.StopCPUProfile()
		prof.Close()
	}
	runtime.ReadMemStats(&ms1)
	info.Mallocs, info.AllocBytes, info.GCs = ms1.Mallocs-ms0.Mallocs, ms1.TotalAlloc-ms0.TotalAlloc, ms1.NumGC-ms0.NumGC
	srv1, _, ok1 := ReadUDPDrops(int(server.Port()), 0)
	snmp1 := ReadUDPSNMP()
	if cfg.Admin != "" {
		if mErr == nil {
			m1, err := ScrapeMetrics(ctx, cfg.Admin)
			if err != nil {
				mErr = err
			} else {
				info.Server = SummarizeServer(m0, m1, cfg.Duration.Seconds())
			}
		}
		if mErr != nil {
			info.Server = &ServerReport{Error: mErr.Error()}
		}
	}
	// Our own sockets' kernel drops, read before the workers close them.
	_, cli, _ := ReadUDPDrops(0, int(server.Port()))
	info.ClientDrops = cli.Drops
	info.DropSockets = cli.DropSockets
	d, n := sharedDrops(shared)
	info.ClientDrops += d
	info.DropSockets += n
	info.CPUUser, info.CPUSys = u1-u0, s1-s0
	info.KernelOK = ok0 && ok1
	info.ServerSockets = srv1.Sockets
	if srv1.Drops >= srv0.Drops {
		info.ServerDrops = srv1.Drops - srv0.Drops
	}
	if snmp0 != nil && snmp1 != nil {
		info.SNMPDelta = map[string]uint64{}
		for _, k := range []string{"InErrors", "RcvbufErrors", "SndbufErrors"} {
			info.SNMPDelta[k] = snmp1[k] - snmp0[k]
		}
	}
	pp.sleepUntil(plan.DrainEnd)
	wg.Wait()
	if progress {
		fmt.Fprintf(stderr, "\r%s\r", strings.Repeat(" ", 100))
	}

	total := newWorkerResult()
	total.BelowEpochMin = 0
	for _, r := range results {
		total.merge(r)
	}
	rep := BuildReport(cfg, total, info)
	var files []string
	if cfg.Results != "" {
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
