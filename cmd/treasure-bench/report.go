package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strings"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Measure is one latency measure of the report.
type Measure struct {
	Definition  string         `json:"definition"`
	Corrected   Summary        `json:"corrected"`
	Uncorrected *Summary       `json:"uncorrected,omitempty"`
	Spectrum    []SpectrumLine `json:"spectrum"`

	hist, uhist *hdrhistogram.Histogram
}

// Report is the whole result of a run; --json prints it as is.
type Report struct {
	Label        string  `json:"label,omitempty"`
	Addr         string  `json:"addr"`
	Players      int     `json:"players"`
	Connected    int     `json:"connected"`
	Failed       int     `json:"failed"`
	Rejected     int     `json:"rejected"`
	RateInputs   float64 `json:"rate_inputs_per_player"`
	RatePings    float64 `json:"rate_pings_per_player"`
	DurationSec  float64 `json:"duration_s"`
	WarmupSec    float64 `json:"warmup_s"`
	Workers      int     `json:"workers"`
	Mix          string  `json:"mix"`
	Seed         uint64  `json:"seed"`
	Impairment   string  `json:"impairment"`
	Impaired     bool    `json:"impaired"`
	TickPeriodMs float64 `json:"tick_period_ms"`

	RTT        *Measure `json:"rtt"`
	Apply      *Measure `json:"apply"`
	TickToWire *Measure `json:"tick_to_wire"`
	SendLag    Summary  `json:"send_lag"`
	// RecvDelay is how long datagrams waited in the generator's sockets
	// before it read them; the latencies above end at the kernel's receipt.
	RecvDelay Summary `json:"recv_delay"`

	Snapshots struct {
		Expected     uint64  `json:"expected"`
		Received     uint64  `json:"received"`
		Lost         int64   `json:"lost"`
		LossPct      float64 `json:"loss_pct"`
		DupArrivals  uint64  `json:"duplicate_arrivals_whole_run"`
		InjectedLoss float64 `json:"injected_loss"`
	} `json:"snapshots"`

	Loot struct {
		Received        uint64 `json:"event_instances_received"`
		Shown           uint64 `json:"shown"`
		ShownGenerated  uint64 `json:"shown_generated"`
		ShownPickedUp   uint64 `json:"shown_picked_up"`
		ShownExpired    uint64 `json:"shown_expired"`
		RepeatsFiltered uint64 `json:"repeats_filtered"`
		Stale           uint64 `json:"stale_dropped"`
		Duplicates      uint64 `json:"duplicates_shown"`
		AuditShown      uint64 `json:"audit_shown"`
		OwnExpected     uint64 `json:"own_openings"`
		LostLoot        uint64 `json:"lost_loot"`
	} `json:"loot"`

	Actions struct {
		Scheduled uint64 `json:"scheduled"`
		Applied   uint64 `json:"applied"`
		Unapplied uint64 `json:"never_applied"`
		Refused   uint64 `json:"refused_outbox_full"`
		Opens     uint64 `json:"bot_opens"`
		Pickups   uint64 `json:"bot_pickups"`
		Moves     uint64 `json:"bot_moves"`
	} `json:"actions"`

	Generator struct {
		InputsPlanned  uint64  `json:"inputs_planned"`
		InputsSent     uint64  `json:"inputs_sent"`
		PingsSent      uint64  `json:"pings_sent"`
		Pongs          uint64  `json:"pongs"`
		SkippedOffline uint64  `json:"sends_skipped_not_connected"`
		CPUUserSec     float64 `json:"cpu_user_s"`
		CPUSysSec      float64 `json:"cpu_sys_s"`
		CPUPercent     float64 `json:"cpu_percent_of_one_core"`
		CPUs           int     `json:"cpus"`
		Datagrams      uint64  `json:"datagrams_in_window"`
		CPUPerDatagram float64 `json:"cpu_us_per_datagram"`
		SendErrors     uint64  `json:"send_errors"`
		SendEAGAIN     uint64  `json:"send_eagain"`
		Refused        uint64  `json:"econnrefused"`
		BadDatagrams   uint64  `json:"bad_datagrams"`
		Unexpected     uint64  `json:"unexpected_datagrams"`
		ClientDrops    uint64  `json:"client_socket_kernel_drops"`
		DropSockets    int     `json:"client_sockets_with_drops"`
		PerSocket      int     `json:"players_per_socket"`
		BusyPoll       bool    `json:"busy_poll"`
		SleepingWaits  uint64  `json:"sleeping_waits"`
		Sockets        int     `json:"sockets"`
		WrongSource    uint64  `json:"datagrams_not_from_server"`
		Truncated      uint64  `json:"datagrams_truncated"`
		UnknownDest    uint64  `json:"datagrams_for_unknown_player"`
		AllocsPerSec   float64 `json:"allocs_per_s"`
		AllocBytesSec  float64 `json:"alloc_bytes_per_s"`
		GCs            uint32  `json:"gc_cycles"`
	} `json:"generator"`

	Kernel struct {
		Available      bool              `json:"available"`
		ServerSockets  int               `json:"server_sockets"`
		ServerDrops    uint64            `json:"server_socket_drops"`
		UDPCountersDel map[string]uint64 `json:"udp_snmp_delta,omitempty"`
	} `json:"kernel"`

	TickClock struct {
		Method        string  `json:"method"`
		Source        string  `json:"source"` // "server" or "min-filter"
		FastestUs     float64 `json:"fastest_warmup_snapshot_us,omitempty"`
		Samples       uint64  `json:"warmup_samples"`
		BelowEstimate uint64  `json:"below_estimate"`
		BelowMinUs    float64 `json:"below_estimate_min_us"`
	} `json:"tick_clock"`

	Server *ServerReport `json:"server,omitempty"`

	View struct {
		Full, Delta, Stale, NoBase uint64
	} `json:"view"`

	Valid   bool     `json:"valid"`
	Invalid []string `json:"invalid_reasons,omitempty"`
	// NextSteps says, per distinct cause of Invalid, what to do about it.
	NextSteps []string `json:"next_steps,omitempty"`
	Notes     []string `json:"notes,omitempty"`
}

func newMeasure(def string, l *Latency, h *hdrhistogram.Histogram) *Measure {
	m := &Measure{Definition: def}
	if l != nil {
		m.hist, m.uhist = l.Corrected, l.Uncorrected
		u := Summarize(l.Uncorrected)
		m.Uncorrected = &u
	} else {
		m.hist = h
	}
	m.Corrected = Summarize(m.hist)
	m.Spectrum = Spectrum(m.hist)
	return m
}

// RunInfo is what the orchestration measured besides the workers.
type RunInfo struct {
	CPUUser, CPUSys float64 // seconds over the window
	CPUs            int
	Server          *ServerReport
	// ServerClock: the tick epoch came from the server's /metrics
	// (treasured_tick_epoch_unix_seconds); ServerClockErr: reading it failed.
	ServerClock    bool
	ServerClockErr string
	KernelOK       bool
	ServerSockets  int
	ServerDrops    uint64
	ClientDrops    uint64
	DropSockets    int    // generator sockets with kernel drops
	PerSocket      int    // players per generator socket
	Sockets        int    // generator sockets
	Datagrams      uint64 // sent and received by the generator in the window
	SNMPDelta      map[string]uint64
	// The generator's own heap activity over the window (the admin
	// scrapes and this report's bookkeeping included).
	Mallocs, AllocBytes uint64
	GCs                 uint32
}

// BuildReport turns merged worker results into the report and decides
// whether the run is valid.
func BuildReport(cfg *Config, r *WorkerResult, info *RunInfo) *Report {
	rep := &Report{
		Label: cfg.Label, Addr: cfg.Addr, Players: cfg.Players, Connected: r.Connected, Failed: r.Failed, Rejected: r.Rejected,
		RateInputs: cfg.Rate, RatePings: cfg.PingRate, DurationSec: cfg.Duration.Seconds(), WarmupSec: cfg.Warmup.Seconds(),
		Workers: cfg.Workers, Mix: cfg.Mix.String(), Seed: cfg.Seed,
		Impairment:   fmt.Sprintf("loss=%g dup=%g reorder=%g (each direction, client side)", cfg.Loss, cfg.Dup, cfg.Reorder),
		TickPeriodMs: float64(r.TickPeriod) / 1e6, Impaired: cfg.Loss > 0 || cfg.Dup > 0 || cfg.Reorder > 0,
	}
	rep.RTT = newMeasure("Ping scheduled -> its Pong received (kernel receipt)", r.RTT, nil)
	rep.Apply = newMeasure("action scheduled -> first snapshot whose last_action_seq covers it", r.Apply, nil)
	rep.TickToWire = newMeasure("scheduled start of tick T (estimated, see tick_clock) -> snapshot of T received (kernel receipt)", nil, r.TickToWire)
	rep.SendLag = Summarize(r.SendLag)
	rep.RecvDelay = Summarize(r.RecvDelay)

	s := &rep.Snapshots
	s.Expected, s.Received = r.SnapExpected, r.SnapReceived
	s.Lost = int64(s.Expected) - int64(s.Received)
	if s.Expected > 0 {
		s.LossPct = 100 * float64(s.Lost) / float64(s.Expected)
	}
	s.DupArrivals = r.SnapDups
	s.InjectedLoss = cfg.Loss

	l := &rep.Loot
	l.Received = r.Loot.Received
	l.Shown = r.Loot.TotalShown()
	l.ShownGenerated, l.ShownPickedUp, l.ShownExpired = r.Loot.Shown[0], r.Loot.Shown[1], r.Loot.Shown[2]
	l.RepeatsFiltered = r.Loot.Repeats
	l.Stale = r.Loot.Stale
	l.Duplicates = r.AuditTwice
	l.AuditShown = r.AuditShown
	l.OwnExpected = r.Loot.Expected
	l.LostLoot = r.LootOwnLost

	a := &rep.Actions
	a.Scheduled, a.Applied, a.Unapplied, a.Refused = r.ActionsWindow, r.AppliedWindow, r.UnappliedWindow, r.ActionsRefused
	a.Opens, a.Pickups, a.Moves = r.BotOpens, r.BotPickups, r.BotMoves

	rep.fillGenerator(cfg, r, info)
	rep.fillTickClock(r, info)
	rep.View.Full, rep.View.Delta, rep.View.Stale, rep.View.NoBase = r.ViewFull, r.ViewDelta, r.ViewStale, r.ViewNoBase

	rep.judge(cfg, r)
	return rep
}

// fillGenerator sets what the generator did and cost, and what the kernel
// and the server said (info is nil in tests of the report alone).
func (rep *Report) fillGenerator(cfg *Config, r *WorkerResult, info *RunInfo) {
	g := &rep.Generator
	g.InputsPlanned, g.InputsSent, g.PingsSent, g.Pongs = r.InputsPlannedWindow, r.InputsSentWindow, r.PingsSentWindow, r.PongsWindow
	g.SkippedOffline = r.SkippedNotConnected
	g.SendErrors, g.SendEAGAIN, g.Refused = r.SendErrors, r.SendWouldBlck, r.Refused
	g.BadDatagrams, g.Unexpected = r.BadDatagrams, r.Unexpected
	g.SleepingWaits = r.SleepingWaits
	g.WrongSource, g.Truncated, g.UnknownDest = r.WrongSource, r.Truncated, r.UnknownDest
	if info != nil {
		g.CPUUserSec, g.CPUSysSec, g.CPUs = info.CPUUser, info.CPUSys, info.CPUs
		if sec := cfg.Duration.Seconds(); sec > 0 {
			g.CPUPercent = 100 * (info.CPUUser + info.CPUSys) / sec
		}
		g.ClientDrops, g.DropSockets = info.ClientDrops, info.DropSockets
		if g.Datagrams = info.Datagrams; g.Datagrams > 0 {
			g.CPUPerDatagram = (info.CPUUser + info.CPUSys) / float64(g.Datagrams) * 1e6
		}
		g.PerSocket, g.Sockets = info.PerSocket, info.Sockets
		g.BusyPoll = cfg.BusyPoll
		if sec := cfg.Duration.Seconds(); sec > 0 {
			g.AllocsPerSec, g.AllocBytesSec = float64(info.Mallocs)/sec, float64(info.AllocBytes)/sec
		}
		g.GCs = info.GCs
		rep.Kernel.Available = info.KernelOK
		rep.Kernel.ServerSockets, rep.Kernel.ServerDrops = info.ServerSockets, info.ServerDrops
		rep.Kernel.UDPCountersDel = info.SNMPDelta
		rep.Server = info.Server
	}

}

// fillTickClock says how the tick clock behind tick_to_wire was estimated.
func (rep *Report) fillTickClock(r *WorkerResult, info *RunInfo) {
	tc := &rep.TickClock
	tc.Source = "min-filter"
	tc.Method = "min-filter: epoch = min over warm-up snapshots of (receipt - tick*period); tick_to_wire = excess over the fastest warm-up snapshot (understates by that minimum)"
	if info != nil && info.ServerClock {
		tc.Source = "server"
		tc.Method = "server: tick T scheduled at treasured_tick_epoch_unix_seconds + T*treasured_tick_period_seconds (same host, CLOCK_REALTIME, exact to ~1 µs); tick_to_wire = receipt - scheduled tick start"
		if r.EpochSamples > 0 {
			tc.FastestUs = float64(r.MinFilter-r.Epoch) / 1e3
		}
	} else if info != nil && info.ServerClockErr != "" {
		tc.Method += " (server tick clock unreadable: " + info.ServerClockErr + ")"
	}
	tc.Samples, tc.BelowEstimate, tc.BelowMinUs = r.EpochSamples, r.BelowEpoch, float64(r.BelowEpochMin)/1e3

}

// What to do about an INVALID run, by cause.
const (
	nextLag = "the generator was descheduled or saturated (another process on its CPU?): rerun on a quiet machine, " +
		"give it a CPU of its own (perf/run.sh --bench-cpus), or accept more lag with --max-lag"
	nextConnect = "the server refused or did not answer some handshakes: read its log (reject reasons above), " +
		"lower --connect-rate or raise --connect-timeout"
	nextDrops = "the generator's socket buffers overflowed while it was descheduled: rerun on a quiet machine, " +
		"or use fewer --players-per-socket (smaller bursts per socket)"
	nextNoData = "nothing was measured: keep --warmup above 0 and check that the server sends snapshots and applies actions (its log)"
)

// judge marks the run INVALID when the generator, not the server, decided
// the numbers: it fell behind its schedule, could not connect everyone,
// lost datagrams in its own sockets, or had no data to measure.
func (rep *Report) judge(cfg *Config, r *WorkerResult) {
	bad := func(next, format string, args ...any) {
		rep.Invalid = append(rep.Invalid, fmt.Sprintf(format, args...))
		if !slices.Contains(rep.NextSteps, next) {
			rep.NextSteps = append(rep.NextSteps, next)
		}
	}
	if r.Connected < cfg.Players {
		bad(nextConnect, "%d of %d players connected (failed %d, rejected %d): the load is smaller than asked", r.Connected, cfg.Players, r.Failed, r.Rejected)
	}
	if p99 := rep.SendLag.P["99"]; rep.SendLag.Count > 0 && p99 > float64(cfg.MaxLag)/1e6 {
		bad(nextLag, "generator fell behind: send lag p99 %.3f ms > --max-lag %v (max %.3f ms)", p99, cfg.MaxLag, rep.SendLag.Max)
	}
	if g := rep.Generator; g.InputsPlanned > 0 && float64(g.InputsSent) < 0.99*float64(g.InputsPlanned) {
		bad(nextLag, "only %d of %d scheduled inputs were sent", g.InputsSent, g.InputsPlanned)
	}
	if rep.Generator.ClientDrops > 0 {
		bad(nextDrops, "the generator's own sockets dropped %d datagrams in the kernel (receive buffers full, %d socket(s)): loss would be blamed on the server", rep.Generator.ClientDrops, rep.Generator.DropSockets)
	}
	if rep.Generator.SendEAGAIN > 0 {
		bad(nextDrops, "%d sends hit EAGAIN in the generator", rep.Generator.SendEAGAIN)
	}
	if r.EpochSamples == 0 {
		bad(nextNoData, "no snapshot arrived during the warm-up: tick_to_wire and loss cannot be measured (is --warmup 0?)")
	}
	if rep.Apply.Corrected.Count == 0 {
		bad(nextNoData, "no action was seen applied: nothing measured")
	}
	if cpu := rep.Generator.CPUPercent; rep.Generator.CPUs > 0 && cpu > 90*float64(rep.Generator.CPUs) && !cfg.BusyPoll {
		rep.Notes = append(rep.Notes, fmt.Sprintf("generator CPU %.0f%% of %d core(s): close to saturation, check send lag", cpu, rep.Generator.CPUs))
	}
	if r.BelowEpoch > 0 && rep.TickClock.Source == "server" {
		rep.Notes = append(rep.Notes, fmt.Sprintf("%d snapshots arrived before their tick's scheduled start (by up to %.1f µs): the server's and the bench's clocks disagree; recorded as 0", r.BelowEpoch, -float64(r.BelowEpochMin)/1e3))
	} else if r.BelowEpoch > 0 {
		rep.Notes = append(rep.Notes, fmt.Sprintf("%d snapshots arrived earlier than the warm-up's fastest (by up to %.1f µs): recorded as 0", r.BelowEpoch, -float64(r.BelowEpochMin)/1e3))
	}
	rep.Valid = len(rep.Invalid) == 0
}

// WriteJSON prints the report as indented JSON.
func (rep *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(jsonSafe(rep))
}

// jsonSafe replaces infinities (a histogram's top bucket) that
// encoding/json refuses with a large sentinel: marshal a copy.
func jsonSafe(rep *Report) *Report {
	if rep.Server == nil {
		return rep
	}
	cp := *rep
	srv := *rep.Server
	for _, h := range []**HistReport{&srv.TickWork, &srv.TickJitter, &srv.GCPauses} {
		if *h != nil && math.IsInf((*h).MaxLE, 0) {
			c := **h
			c.MaxLE = -1 // "above the largest bucket"
			*h = &c
		}
	}
	cp.Server = &srv
	return &cp
}

// WriteText prints the report the way wrk2 does: per measure a latency
// distribution and, unless quiet, the detailed percentile spectrum.
func (rep *Report) WriteText(w io.Writer, quiet bool) {
	fmt.Fprintf(w, "treasure-bench %s -> %s\n", rep.Label, rep.Addr)
	fmt.Fprintf(w, "  %d players x %g inputs/s + %g pings/s, %gs measured after %gs warm-up, %d worker(s), mix %s, seed %d\n",
		rep.Players, rep.RateInputs, rep.RatePings, rep.DurationSec, rep.WarmupSec, rep.Workers, rep.Mix, rep.Seed)
	fmt.Fprintf(w, "  impairment %s; tick %.1f ms\n", rep.Impairment, rep.TickPeriodMs)
	fmt.Fprintf(w, "  connected %d/%d (failed %d, rejected %d)\n\n", rep.Connected, rep.Players, rep.Failed, rep.Rejected)

	for _, m := range []struct {
		name string
		m    *Measure
	}{{"rtt", rep.RTT}, {"apply", rep.Apply}, {"tick_to_wire", rep.TickToWire}} {
		fmt.Fprintf(w, "%s: %s\n", m.name, m.m.Definition)
		if m.m.uhist != nil {
			fmt.Fprintf(w, "  Latency Distribution (HdrHistogram - Recorded Latency, corrected)   (uncorrected)\n")
			for _, q := range Quantiles {
				k := quantileKey(q)
				fmt.Fprintf(w, "  %8.3f%% %10.3fms %14.3fms\n", q, m.m.Corrected.P[k], m.m.Uncorrected.P[k])
			}
		} else {
			fmt.Fprintf(w, "  Latency Distribution (HdrHistogram - Recorded Latency)\n")
			WriteSummaryLines(w, m.m.Corrected)
		}
		fmt.Fprintf(w, "  count %d, mean %.3f ms\n", m.m.Corrected.Count, m.m.Corrected.Mean)
		if !quiet {
			fmt.Fprintf(w, "\n  Detailed Percentile spectrum (%s, corrected):\n", m.name)
			_ = WriteSpectrum(w, m.m.hist)
		}
		fmt.Fprintln(w)
	}

	s := rep.Snapshots
	fmt.Fprintf(w, "snapshots: expected %d, received %d, lost %d (%.3f%%; injected loss %g), duplicate arrivals %d\n",
		s.Expected, s.Received, s.Lost, s.LossPct, s.InjectedLoss, s.DupArrivals)
	l := rep.Loot
	fmt.Fprintf(w, "loot: %d event instances received; shown %d (generated %d, picked up %d, expired %d); repeats filtered %d; stale dropped %d\n",
		l.Received, l.Shown, l.ShownGenerated, l.ShownPickedUp, l.ShownExpired, l.RepeatsFiltered, l.Stale)
	fmt.Fprintf(w, "  duplicates shown: %d (independent audit of %d shown events)\n", l.Duplicates, l.AuditShown)
	fmt.Fprintf(w, "  lost_loot: %d of %d own openings (LootGenerated of chests the client itself opened, known from chest state opened_by == me)\n",
		l.LostLoot, l.OwnExpected)
	a := rep.Actions
	fmt.Fprintf(w, "actions: %d scheduled in the window, %d applied, %d never applied, %d refused (outbox full); bots: %d opens, %d pickups, %d moves (whole run)\n",
		a.Scheduled, a.Applied, a.Unapplied, a.Refused, a.Opens, a.Pickups, a.Moves)
	g := rep.Generator
	fmt.Fprintf(w, "generator: inputs sent %d of %d scheduled, pings %d (pongs %d); send lag p50 %.3f ms p99 %.3f ms max %.3f ms\n",
		g.InputsSent, g.InputsPlanned, g.PingsSent, g.Pongs, rep.SendLag.P["50"], rep.SendLag.P["99"], rep.SendLag.Max)
	fmt.Fprintf(w, "  receive delay (kernel receipt -> read, not in the latencies) p50 %.3f ms p99 %.3f ms max %.3f ms\n",
		rep.RecvDelay.P["50"], rep.RecvDelay.P["99"], rep.RecvDelay.Max)
	fmt.Fprintf(w, "  cpu user %.2fs sys %.2fs = %.1f%% of one core (%d cpu(s)), %.2f µs per datagram; errors: send %d, EAGAIN %d, ECONNREFUSED %d, bad datagrams %d, unexpected %d; own socket drops %d\n",
		g.CPUUserSec, g.CPUSysSec, g.CPUPercent, g.CPUs, g.CPUPerDatagram, g.SendErrors, g.SendEAGAIN, g.Refused, g.BadDatagrams, g.Unexpected, g.ClientDrops)
	fmt.Fprintf(w, "  sockets: %d, %d player(s) each; datagrams not from the server %d, truncated %d, for no player's address %d\n",
		g.Sockets, g.PerSocket, g.WrongSource, g.Truncated, g.UnknownDest)
	fmt.Fprintf(w, "  heap: %.0f allocations/s, %.0f B/s, %d GC cycles in the window (admin scrapes included)\n",
		g.AllocsPerSec, g.AllocBytesSec, g.GCs)
	fmt.Fprintf(w, "  view: %d full, %d delta, %d stale (reordered) snapshots, %d deltas before a full one\n",
		rep.View.Full, rep.View.Delta, rep.View.Stale, rep.View.NoBase)
	tc := rep.TickClock
	fmt.Fprintf(w, "tick clock: %s; %d warm-up samples; %d below estimate\n", tc.Method, tc.Samples, tc.BelowEstimate)
	if tc.Source == "server" {
		fmt.Fprintf(w, "  fastest warm-up snapshot: %.1f µs after its scheduled tick start (what the min-filter would subtract)\n", tc.FastestUs)
	}
	if rep.Kernel.Available {
		fmt.Fprintf(w, "kernel (/proc/net/udp): server sockets %d, drops in the window %d", rep.Kernel.ServerSockets, rep.Kernel.ServerDrops)
		if len(rep.Kernel.UDPCountersDel) > 0 {
			keys := make([]string, 0, len(rep.Kernel.UDPCountersDel))
			for k := range rep.Kernel.UDPCountersDel {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			var parts []string
			for _, k := range keys {
				parts = append(parts, fmt.Sprintf("%s %d", k, rep.Kernel.UDPCountersDel[k]))
			}
			fmt.Fprintf(w, "; system-wide UDP deltas: %s", strings.Join(parts, ", "))
		}
		fmt.Fprintln(w)
	}
	if srv := rep.Server; srv != nil {
		writeServer(w, srv)
	}
	rep.writeVerdict(w)
}

func writeServer(w io.Writer, srv *ServerReport) {
	if !srv.Scraped {
		fmt.Fprintf(w, "server /metrics: not scraped (%s)\n", srv.Error)
		return
	}
	fmt.Fprintf(w, "server (/metrics, window deltas): drops %.0f", srv.Drops)
	if len(srv.DropsByReason) > 0 {
		keys := make([]string, 0, len(srv.DropsByReason))
		for k := range srv.DropsByReason {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(w, " %s=%.0f", k, srv.DropsByReason[k])
		}
	}
	fmt.Fprintf(w, "; snapshots sent %.0f, dropped after EAGAIN %.0f, send errors %.0f; inputs %.0f; sessions %.0f\n",
		srv.SnapshotsSent, srv.SnapDropped, srv.SendErrors, srv.Inputs, srv.Sessions)
	hist := func(name string, h *HistReport) {
		if h == nil {
			return
		}
		maxs := fmt.Sprintf("<= %.3f ms", h.MaxLE)
		if math.IsInf(h.MaxLE, 1) {
			maxs = "above the top bucket"
		}
		fmt.Fprintf(w, "  %s: n %.0f, mean %.3f ms, p50 %.3f ms, p99 %.3f ms, p99.9 %.3f ms, max %s (bucket bound)\n",
			name, h.Count, h.MeanMs, h.P50Ms, h.P99Ms, h.P999Ms, maxs)
	}
	fmt.Fprintf(w, "  ticks %.0f, overruns %.0f, worst jitter since start %.3f ms\n", srv.Ticks, srv.Overruns, srv.MaxJitterMs)
	hist("tick_work", srv.TickWork)
	hist("tick_jitter", srv.TickJitter)
	fmt.Fprintf(w, "  gc: %.0f cycles in the window\n", srv.GCCycles)
	hist("gc pauses", srv.GCPauses)
	fmt.Fprintf(w, "  alloc %.0f B/s (%.1f objects/s), live heap %.0f B, cpu %.2fs = %.1f%% of one core\n",
		srv.AllocBytesSec, srv.AllocObjsSec, srv.HeapLiveBytes, srv.CPUSeconds, srv.CPUPercent)
	if len(srv.Missing) > 0 {
		fmt.Fprintf(w, "  not exported by this server: %s\n", strings.Join(srv.Missing, ", "))
	}
}
