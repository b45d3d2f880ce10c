package main

import (
	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/treasured/treasured/client"
)

// Plan is the timeline of the run after the handshakes, on the bench clock
// (ns since the bench started). It is fixed before the first send.
type Plan struct {
	Start        int64 // first scheduled send
	MeasureStart int64 // sends scheduled from here on are measured
	MeasureEnd   int64 // no new actions or pings scheduled from here on
	DrainEnd     int64 // acknowledging stops, Bye

	// The server's own tick clock, from its /metrics when it exports it
	// (treasured_tick_epoch_unix_seconds, treasured_tick_period_seconds):
	// tick T is scheduled to start at ServerEpoch + T*ServerPeriod, on this
	// bench's clock. ServerPeriod == 0: not available, use the min-filter.
	ServerEpoch  int64
	ServerPeriod int64
}

// inWindow reports whether an event scheduled at t is measured.
func (p *Plan) inWindow(t int64) bool { return t >= p.MeasureStart && t < p.MeasureEnd }

// WorkerResult is what one worker measured. Counters named *Window count
// events scheduled inside the measurement window only.
type WorkerResult struct {
	RTT        *Latency
	Apply      *Latency
	TickToWire *hdrhistogram.Histogram
	SendLag    *hdrhistogram.Histogram // actual send - scheduled, every measured send
	RecvDelay  *hdrhistogram.Histogram // read by the worker - received by the kernel, every datagram in the window

	Players, Connected, Failed, Rejected, Closed int

	InputsPlannedWindow uint64 // sends the schedule held in the window
	InputsSentWindow    uint64
	PingsSentWindow     uint64
	PongsWindow         uint64
	ActionsWindow       uint64 // actions queued in the window
	AppliedWindow       uint64 // of those, seen applied
	UnappliedWindow     uint64 // of those, still unacknowledged at the end
	ActionsRefused      uint64 // outbox full: the action was never sent
	SkippedNotConnected uint64 // sends due for players that are not connected

	SnapExpected uint64 // ticks in the window x connected players
	SnapReceived uint64 // distinct ticks in the window received
	SnapDups     uint64 // duplicate snapshot arrivals, whole run
	Snapshots    uint64 // distinct snapshots, whole run

	Loot          client.LootStats // summed over players, whole run
	LootOwnLost   uint64
	AuditShown    uint64 // shown events the audit saw
	AuditTwice    uint64 // shown twice according to the audit (must be 0)
	ViewFull      uint64
	ViewDelta     uint64
	ViewStale     uint64
	ViewNoBase    uint64
	BadDatagrams  uint64
	Unexpected    uint64
	SendErrors    uint64
	SendWouldBlck uint64
	RecvErrors    uint64
	// SleepingWaits counts the run's socket waits that could sleep (a
	// timeout above 0): none with Config.BusyPoll.
	SleepingWaits uint64
	Refused       uint64 // ECONNREFUSED: nobody listening at the server address
	// Shared sockets (not connected, so the kernel filters nothing):
	// datagrams not from the server, cut short, or for no player's address.
	WrongSource, Truncated, UnknownDest uint64

	ImpairSend, ImpairRecv client.ImpairStats

	// Tick clock estimate (see Worker.onSnapshot).
	TickPeriod    int64
	Epoch         int64 // scheduled start of tick 0, bench clock (the server's, or the min-filter estimate)
	MinFilter     int64 // the min-filter's estimate of it (min over warm-up snapshots of receipt - T*period)
	EpochSamples  uint64
	BelowEpoch    uint64 // measured snapshots that arrived earlier than the estimate allows
	BelowEpochMin int64  // the earliest of those, ns before the estimate (<= 0)

	BotOpens, BotPickups, BotMoves, BotFallbacks uint64
	RejectReasons                                map[string]int
}

func newWorkerResult() *WorkerResult {
	return &WorkerResult{
		RTT: NewLatency(), Apply: NewLatency(), TickToWire: newHist(), SendLag: newHist(), RecvDelay: newHist(),
		RejectReasons: map[string]int{},
	}
}

// merge adds o into r.
func (r *WorkerResult) merge(o *WorkerResult) {
	r.RTT.Merge(o.RTT)
	r.Apply.Merge(o.Apply)
	r.TickToWire.Merge(o.TickToWire)
	r.SendLag.Merge(o.SendLag)
	r.RecvDelay.Merge(o.RecvDelay)
	r.Players += o.Players
	r.Connected += o.Connected
	r.Failed += o.Failed
	r.Rejected += o.Rejected
	r.Closed += o.Closed
	r.InputsPlannedWindow += o.InputsPlannedWindow
	r.InputsSentWindow += o.InputsSentWindow
	r.PingsSentWindow += o.PingsSentWindow
	r.PongsWindow += o.PongsWindow
	r.ActionsWindow += o.ActionsWindow
	r.AppliedWindow += o.AppliedWindow
	r.UnappliedWindow += o.UnappliedWindow
	r.ActionsRefused += o.ActionsRefused
	r.SkippedNotConnected += o.SkippedNotConnected
	r.SnapExpected += o.SnapExpected
	r.SnapReceived += o.SnapReceived
	r.SnapDups += o.SnapDups
	r.Snapshots += o.Snapshots
	addLoot(&r.Loot, &o.Loot)
	r.LootOwnLost += o.LootOwnLost
	r.AuditShown += o.AuditShown
	r.AuditTwice += o.AuditTwice
	r.ViewFull += o.ViewFull
	r.ViewDelta += o.ViewDelta
	r.ViewStale += o.ViewStale
	r.ViewNoBase += o.ViewNoBase
	r.BadDatagrams += o.BadDatagrams
	r.Unexpected += o.Unexpected
	r.SendErrors += o.SendErrors
	r.SendWouldBlck += o.SendWouldBlck
	r.RecvErrors += o.RecvErrors
	r.SleepingWaits += o.SleepingWaits
	r.Refused += o.Refused
	r.WrongSource += o.WrongSource
	r.Truncated += o.Truncated
	r.UnknownDest += o.UnknownDest
	addImpair(&r.ImpairSend, &o.ImpairSend)
	addImpair(&r.ImpairRecv, &o.ImpairRecv)
	if r.TickPeriod == 0 {
		r.TickPeriod = o.TickPeriod
	}
	if o.EpochSamples > 0 {
		if r.EpochSamples == 0 {
			r.Epoch, r.MinFilter = o.Epoch, o.MinFilter
		} else {
			r.MinFilter = min(r.MinFilter, o.MinFilter)
			if r.Epoch != o.Epoch { // min-filter: each worker froze its own
				r.Epoch = min(r.Epoch, o.Epoch)
			}
		}
	}
	r.EpochSamples += o.EpochSamples
	r.BelowEpoch += o.BelowEpoch
	r.BelowEpochMin = min(r.BelowEpochMin, o.BelowEpochMin)
	r.BotOpens += o.BotOpens
	r.BotPickups += o.BotPickups
	r.BotMoves += o.BotMoves
	r.BotFallbacks += o.BotFallbacks
	for k, v := range o.RejectReasons {
		r.RejectReasons[k] += v
	}
}

func addLoot(a, b *client.LootStats) {
	a.Received += b.Received
	for i := range a.Shown {
		a.Shown[i] += b.Shown[i]
	}
	a.Repeats += b.Repeats
	a.Stale += b.Stale
	a.Expected += b.Expected
	a.Met += b.Met
}

func addImpair(a, b *client.ImpairStats) {
	a.In += b.In
	a.Dropped += b.Dropped
	a.Duplicated += b.Duplicated
	a.Reordered += b.Reordered
}
