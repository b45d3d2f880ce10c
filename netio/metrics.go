package netio

import (
	"runtime/metrics"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/treasured/treasured/netio/metricname"
	"github.com/treasured/treasured/schema/wire"
)

// Metrics are read, not pushed: the hot paths bump single-writer atomic
// counters (stats.go) and this Collector turns them into Prometheus samples
// at scrape time. Nothing on a datagram's path touches a Prometheus object,
// so nothing there allocates or takes a lock. The only Prometheus objects
// written outside a scrape are the two tick histograms, once per tick, whose
// Observe is lock-free and allocation-free.

// NewRegistry returns a registry with the server's metrics, the GC and
// runtime metrics, and the standard Go and process collectors. It installs
// the tick histograms as the server's TickObserver, so call it before Start.
func NewRegistry(s *Server) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	h := newTickHistograms()
	s.SetTickObserver(h)
	reg.MustRegister(
		&serverCollector{s: s},
		engineCollector{&s.EngineStats},
		h.work, h.jitter,
		newRuntimeCollector(),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}

// tickHistograms is the TickObserver behind treasured_tick_work_seconds and
// treasured_tick_jitter_seconds.
type tickHistograms struct {
	work, jitter prometheus.Histogram
}

func newTickHistograms() *tickHistograms {
	return &tickHistograms{
		// 20 us .. 200 ms: from an idle tick to four times the 50 ms budget.
		work: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    metricname.TickWork,
			Help:    "Time the engine spends on one tick: drain the rings, step, encode and send the snapshots.",
			Buckets: prometheus.ExponentialBucketsRange(20e-6, 0.2, 16),
		}),
		// 5 us .. 100 ms: timer wake-up latency up to two whole ticks late.
		jitter: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    metricname.TickJitter,
			Help:    "Actual tick start minus scheduled tick start (absolute 50 ms deadlines).",
			Buckets: prometheus.ExponentialBucketsRange(5e-6, 0.1, 16),
		}),
	}
}

func (h *tickHistograms) ObserveTick(_ uint64, jitter, work time.Duration, _ bool) {
	h.work.Observe(work.Seconds())
	h.jitter.Observe(jitter.Seconds())
}

// rejectNames are the label values of treasured_rejects_total.
var rejectNames = [...]string{
	wire.RejectReasonUnknown:       "unknown",
	wire.RejectReasonServerFull:    "server_full",
	wire.RejectReasonBadVersion:    "bad_version",
	wire.RejectReasonBadCookie:     "bad_cookie",
	wire.RejectReasonCookieExpired: "cookie_expired",
	wire.RejectReasonBadRegion:     "bad_region",
	wire.RejectReasonShuttingDown:  "shutting_down",
	wire.RejectReasonBadToken:      "bad_token",
	wire.RejectReasonTokenExpired:  "token_expired",
}

// A compile-time guard: the index is out of range, and the build fails,
// unless rejectNames has exactly one entry per wire.RejectReason, i.e. until
// a reason added to the schema has a label here.
var _ = [1]int{}[len(rejectNames)-numRejectReasons]

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

var (
	dRecv         = desc(metricname.DatagramsReceived, "Datagrams received, per event loop.", metricname.LabelLoop)
	dRecvBytes    = desc(metricname.ReceivedBytes, "Bytes received, per event loop.", metricname.LabelLoop)
	dSent         = desc(metricname.DatagramsSent, "Datagrams sent: replies from the loops, snapshots and Byes from the fan-out.", metricname.LabelKind)
	dSentBytes    = desc(metricname.SentBytes, "Bytes sent, by kind of datagram.", metricname.LabelKind)
	dDrops        = desc(metricname.Drops, "Datagrams dropped without an answer, by reason.", metricname.LabelReason)
	dRejects      = desc(metricname.Rejects, "Reject answers, by reason.", metricname.LabelReason)
	dHandshakes   = desc(metricname.Handshakes, "Handshake answers: challenge (to Hello), welcome (new session), welcome_repeat (repeated Connect).", metricname.LabelStep)
	dSessions     = desc(metricname.SessionsActive, "Active sessions.")
	dEnded        = desc(metricname.SessionsEnded, "Sessions ended, by reason.", metricname.LabelReason)
	dRefused      = desc(metricname.AdmissionRefused, "Handshakes and sessions refused by admission: ip_sessions (prefix at its session cap, Reject ServerFull), ip_handshakes (prefix's handshake bucket empty), handshake_budget (global budget spent). A prefix is an IPv4 address or an IPv6 /64.", metricname.LabelReason)
	dFlooders     = desc(metricname.Flooders, "Sessions rate-limited at least once.")
	dInputs       = desc(metricname.Inputs, "Input records queued to the engine.")
	dPongs        = desc(metricname.Pongs, "Pings answered.")
	dReplyErr     = desc(metricname.ReplySendErrors, "Replies from the loops that the kernel refused.")
	dLeaveRetries = desc(metricname.LeaveRetries, "Session leaves deferred because the loop's ring was full.")
	dRingDepth    = desc(metricname.RingDepth, "Records queued in each loop's ring to the engine (at scrape time).", metricname.LabelLoop)
	dRingCap      = desc(metricname.RingCapacity, "Capacity of each loop's ring, in records.")
	dTicks        = desc(metricname.Ticks, "Engine ticks run.")
	dOverruns     = desc(metricname.TickOverruns, "Ticks whose work ran past the next tick's deadline (the next tick then starts at once).")
	dTick         = desc(metricname.Tick, "Engine tick after the last step.")
	dTickRecords  = desc(metricname.TickRecords, "Records drained from the rings into the engine.")
	dMaxJitter    = desc(metricname.TickMaxJitter, "Worst tick start jitter seen since start.")
	dSendErr      = desc(metricname.SnapshotSendErrors, "Snapshot datagrams the kernel refused (not EAGAIN).")
	dEagain       = desc(metricname.SnapshotEAGAIN, "EAGAIN results from sendmmsg (socket send buffer full).")
	dSnapDropped  = desc(metricname.SnapshotDropped, "Snapshot datagrams given up after EAGAIN; the next tick supersedes them.")
	dPartial      = desc(metricname.SnapshotPartialSends, "sendmmsg calls that sent only part of their batch.")
	dSyscalls     = desc(metricname.SendmmsgCalls, "Send system calls made by the fan-out.")
	dEncodeErr    = desc(metricname.SnapshotEncodeErrors, "Players for whom the engine produced no valid datagram.")
	dNoAddr       = desc(metricname.SnapshotNoAddress, "Active players with no joined address (engine and netio disagree).")
	// The tick clock, for clients on the same host (treasure-bench's
	// tick_to_wire): tick T is scheduled to start at epoch + T*period, wall
	// clock (CLOCK_REALTIME). Seconds as a float64: at today's unix times
	// its resolution is 2^-22 s (0.24 µs), and the text format prints the
	// shortest decimal that reads back as the same float64, so a reader
	// gets the epoch to within 0.12 µs of the server's nanosecond value.
	dEpoch  = desc(metricname.TickEpoch, "Wall-clock (unix) scheduled start of engine tick 0: tick T starts at this + T * treasured_tick_period_seconds (absolute deadlines). 0 before the first tick. Resolution 0.24 µs (float64).")
	dPeriod = desc(metricname.TickPeriod, "The tick period.")
	// Journal metrics, exported only when a journal is configured.
	dJournalErrors = desc(metricname.JournalErrors, "Journal appends or closes that failed; after the first, journaling stops.")
	dJournalSynced = desc(metricname.JournalSyncedTick, "Newest tick known to be on stable storage in the journal.")
	// Identity metrics (identity.go).
	dTokenRefused = desc(metricname.TokenRefusals, "Connects whose connect token was refused, by reason (missing, truncated, bad_version, malformed, unknown_key, expired, bad_signature, wrong_server, replayed, replay_cache_full).", metricname.LabelReason)
	dPathCh       = desc(metricname.PathChallenges, "PathChallenges sent to an authenticated session's new address.")
	dMigrations   = desc(metricname.Migrations, "Sessions whose stream moved to a new address after it answered the PathChallenge.")
	// Kernel filter (filter.go).
	dFilter    = desc(metricname.KernelFilter, "1 when the loops' sockets drop garbage in the kernel (eBPF socket filter; its drops are in treasured_drops_total), 0 without it.")
	dFilterErr = desc(metricname.KernelFilterErrors, "Updates of the kernel filter's session table that failed.")
	// The poll layout (backend_poll.go): its urgent socket and its wake-ups.
	dUrgent  = desc(metricname.UrgentDatagrams, "Datagrams the poll layout read from its urgent socket: those clients marked urgent (Pings), which the fan-out reads between its send batches (Config.SingleSocket). 0 in the other layouts and with one socket.")
	dWakeups = desc(metricname.LoopWakeups, "Wake-ups of the poll layout's loops: pace (a paced sleep ended; Config.RecvPace) or arrival (a datagram woke a parked loop). 0 in the other layouts.", metricname.LabelReason)
)

// serverCollector exports the Server's atomic counters.
type serverCollector struct{ s *Server }

func (c *serverCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		dRecv, dRecvBytes, dSent, dSentBytes, dDrops, dRejects, dHandshakes, dSessions, dEnded,
		dFlooders, dRefused, dInputs, dPongs, dReplyErr, dLeaveRetries, dRingDepth, dRingCap, dTicks, dOverruns,
		dTick, dTickRecords, dMaxJitter, dSendErr, dEagain, dSnapDropped, dPartial, dSyscalls,
		dEncodeErr, dNoAddr, dEpoch, dPeriod, dTokenRefused, dPathCh, dMigrations, dFilter, dFilterErr,
		dWakeups,
		dUrgent,
	} {
		ch <- d
	}
	if c.s.cfg.Journal != nil {
		ch <- dJournalErrors
		ch <- dJournalSynced
	}
}

func (c *serverCollector) Collect(ch chan<- prometheus.Metric) {
	c.collectLoops(ch)
	c.collectFanout(ch)
	c.collectTick(ch)
	c.collectIdentity(ch)
}

func emitCounter(ch chan<- prometheus.Metric, d *prometheus.Desc, v uint64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
}

func emitGauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

// loopTotals is every event loop's counters summed: the families that are
// not per loop.
type loopTotals struct {
	replies, replyBytes, replyErr          uint64
	challenges, welcomes, repeats, resumes uint64
	inputs, pongs, flooders, retries       uint64
	filterErr, pacedWake, arrivalWake      uint64
	urgentIn                               uint64
	drops                                  [NumDropReasons]uint64
	rejects                                [numRejectReasons]uint64
	ended                                  [NumEndReasons]uint64
	refused                                [NumRefuseReasons]uint64
}

func (t *loopTotals) add(ls *LoopStats) {
	t.replies += ls.DatagramsOut.Load()
	t.replyBytes += ls.BytesOut.Load()
	t.replyErr += ls.SendErrors.Load()
	t.challenges += ls.Challenges.Load()
	t.welcomes += ls.Welcomes.Load()
	t.repeats += ls.WelcomeRepeats.Load()
	t.resumes += ls.Resumes.Load()
	t.inputs += ls.Inputs.Load()
	t.pongs += ls.Pongs.Load()
	t.flooders += ls.Flooders.Load()
	t.retries += ls.LeaveRetries.Load()
	t.filterErr += ls.FilterErrors.Load()
	t.pacedWake += ls.PacedWakeups.Load()
	t.arrivalWake += ls.ArrivalWakeups.Load()
	t.urgentIn += ls.UrgentIn.Load()
	for r := range t.drops {
		t.drops[r] += ls.Drops[r].Load()
	}
	for r := range t.rejects {
		t.rejects[r] += ls.Rejects[r].Load()
	}
	for r := range t.ended {
		t.ended[r] += ls.Ended[r].Load()
	}
	for r := range t.refused {
		t.refused[r] += ls.Refused[r].Load()
	}
}

// collectLoops exports the event loops' counters: per loop where the family
// has a loop label, summed otherwise. The replies' sent datagrams and bytes
// are one kind of dSent and dSentBytes.
func (c *serverCollector) collectLoops(ch chan<- prometheus.Metric) {
	s := c.s
	var t loopTotals
	for i := range s.LoopStats {
		ls := &s.LoopStats[i]
		loop := strconv.Itoa(i)
		emitCounter(ch, dRecv, ls.DatagramsIn.Load(), loop)
		emitCounter(ch, dRecvBytes, ls.BytesIn.Load(), loop)
		emitGauge(ch, dRingDepth, float64(s.RingDepth(i)), loop)
		t.add(ls)
	}
	s.filterDrops(&t.drops)
	filter := 0.0
	if s.params.filter != nil {
		filter = 1
	}
	emitGauge(ch, dFilter, filter)
	emitCounter(ch, dFilterErr, t.filterErr)
	emitCounter(ch, dWakeups, t.pacedWake, "pace")
	emitCounter(ch, dWakeups, t.arrivalWake, "arrival")
	emitCounter(ch, dUrgent, t.urgentIn)
	for r, v := range t.refused {
		emitCounter(ch, dRefused, v, RefuseReason(r).String())
	}
	for r, v := range t.drops {
		emitCounter(ch, dDrops, v, DropReason(r).String())
	}
	for r, v := range t.rejects {
		emitCounter(ch, dRejects, v, rejectNames[r])
	}
	for r, v := range t.ended {
		emitCounter(ch, dEnded, v, EndReason(r).String())
	}
	emitCounter(ch, dHandshakes, t.challenges, "challenge")
	emitCounter(ch, dHandshakes, t.welcomes, "welcome")
	emitCounter(ch, dHandshakes, t.repeats, "welcome_repeat")
	emitCounter(ch, dHandshakes, t.resumes, "resume") // a subset of "welcome"
	emitGauge(ch, dSessions, float64(s.Sessions()))
	emitCounter(ch, dFlooders, t.flooders)
	emitCounter(ch, dInputs, t.inputs)
	emitCounter(ch, dPongs, t.pongs)
	emitCounter(ch, dReplyErr, t.replyErr)
	emitCounter(ch, dLeaveRetries, t.retries)
	emitGauge(ch, dRingCap, float64(s.RingCap()))
	emitCounter(ch, dSent, t.replies, "reply")
	emitCounter(ch, dSentBytes, t.replyBytes, "reply")
}

// collectFanout exports the fan-out workers' counters, summed.
func (c *serverCollector) collectFanout(ch chan<- prometheus.Metric) {
	var snaps, snapBytes, byes, sendErr, eagain, dropped, partial, calls, encErr, noAddr uint64
	for i := range c.s.FanoutStats {
		fs := &c.s.FanoutStats[i]
		snaps += fs.Snapshots.Load()
		byes += fs.Byes.Load()
		snapBytes += fs.Bytes.Load()
		sendErr += fs.SendErrors.Load()
		eagain += fs.WouldBlock.Load()
		dropped += fs.Dropped.Load()
		partial += fs.PartialSends.Load()
		calls += fs.Syscalls.Load()
		encErr += fs.EncodeErrors.Load()
		noAddr += fs.NoAddress.Load()
	}
	emitCounter(ch, dSent, snaps, metricname.KindSnapshot)
	emitCounter(ch, dSent, byes, "bye")
	emitCounter(ch, dSentBytes, snapBytes, "fanout") // snapshots and Byes share a byte counter
	emitCounter(ch, dSendErr, sendErr)
	emitCounter(ch, dEagain, eagain)
	emitCounter(ch, dSnapDropped, dropped)
	emitCounter(ch, dPartial, partial)
	emitCounter(ch, dSyscalls, calls)
	emitCounter(ch, dEncodeErr, encErr)
	emitCounter(ch, dNoAddr, noAddr)
}

// collectTick exports the tick goroutine's counters and the tick clock.
func (c *serverCollector) collectTick(ch chan<- prometheus.Metric) {
	s := c.s
	ts := &s.TickStats
	emitCounter(ch, dTicks, ts.Ticks.Load())
	emitCounter(ch, dOverruns, ts.Overruns.Load())
	emitGauge(ch, dTick, float64(ts.Tick.Load()))
	emitCounter(ch, dTickRecords, ts.Records.Load())
	emitGauge(ch, dMaxJitter, time.Duration(ts.MaxLate.Load()).Seconds())
	emitGauge(ch, dEpoch, unixSeconds(ts.EpochUnixNs.Load()))
	emitGauge(ch, dPeriod, s.cfg.shape.period.Seconds())
	if j := s.cfg.Journal; j != nil {
		emitCounter(ch, dJournalErrors, ts.JournalErrors.Load())
		emitGauge(ch, dJournalSynced, float64(j.SyncedTick()))
	}
}

// collectIdentity exports the identity counters (identity.go).
func (c *serverCollector) collectIdentity(ch chan<- prometheus.Metric) {
	var refused [NumTokenRefusals]uint64
	var challenges, migrations uint64
	for i := range c.s.LoopStats {
		ls := &c.s.LoopStats[i]
		for r := range refused {
			refused[r] += ls.TokenRefused[r].Load()
		}
		challenges += ls.PathChallenges.Load()
		migrations += ls.Migrations.Load()
	}
	for r, v := range refused {
		emitCounter(ch, dTokenRefused, v, TokenRefusal(r).String())
	}
	emitCounter(ch, dPathCh, challenges)
	emitCounter(ch, dMigrations, migrations)
}

// unixSeconds turns unix nanoseconds into float64 seconds, whole seconds
// and the fraction converted apart (float64(ns) alone is exact too, but
// dividing it by 1e9 would round twice as far from the ns value): the
// result is within one float64 ulp (0.24 µs) of ns.
func unixSeconds(ns int64) float64 {
	return float64(ns/1e9) + float64(ns%1e9)/1e9
}

// runtimeCollector exports stop-the-world pauses and allocation from
// runtime/metrics, the numbers BENCHMARKS.md reports as "gc".
// The pause histogram is re-bucketed onto fixed bounds: the runtime's own
// has over a hundred buckets.
type runtimeCollector struct {
	samples []metrics.Sample
	pauses  *prometheus.Desc
	cycles  *prometheus.Desc
	allocB  *prometheus.Desc
	allocN  *prometheus.Desc
	live    *prometheus.Desc
}

var pauseBounds = []float64{1e-6, 5e-6, 10e-6, 25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3}

func newRuntimeCollector() *runtimeCollector {
	return &runtimeCollector{
		samples: []metrics.Sample{
			{Name: "/sched/pauses/total/gc:seconds"},
			{Name: "/gc/cycles/total:gc-cycles"},
			{Name: "/gc/heap/allocs:bytes"},
			{Name: "/gc/heap/allocs:objects"},
			{Name: "/gc/heap/live:bytes"},
		},
		pauses: desc(metricname.GCPauses, "Stop-the-world pause latencies due to GC (runtime/metrics /sched/pauses/total/gc:seconds); sum is estimated from bucket midpoints."),
		cycles: desc(metricname.GCCycles, "Completed GC cycles."),
		allocB: desc(metricname.AllocBytes, "Bytes allocated on the heap since start."),
		allocN: desc(metricname.AllocObjects, "Heap objects allocated since start."),
		live:   desc(metricname.HeapLive, "Heap bytes marked live by the last GC."),
	}
}

func (c *runtimeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.pauses
	ch <- c.cycles
	ch <- c.allocB
	ch <- c.allocN
	ch <- c.live
}

func (c *runtimeCollector) Collect(ch chan<- prometheus.Metric) {
	metrics.Read(c.samples)
	if c.samples[0].Value.Kind() == metrics.KindFloat64Histogram {
		count, sum, buckets := rebucket(c.samples[0].Value.Float64Histogram(), pauseBounds)
		ch <- prometheus.MustNewConstHistogram(c.pauses, count, sum, buckets)
	}
	u := func(d *prometheus.Desc, s metrics.Sample, t prometheus.ValueType) {
		if s.Value.Kind() == metrics.KindUint64 {
			ch <- prometheus.MustNewConstMetric(d, t, float64(s.Value.Uint64()))
		}
	}
	u(c.cycles, c.samples[1], prometheus.CounterValue)
	u(c.allocB, c.samples[2], prometheus.CounterValue)
	u(c.allocN, c.samples[3], prometheus.CounterValue)
	u(c.live, c.samples[4], prometheus.GaugeValue)
}

// rebucket folds a runtime histogram into cumulative counts at bounds. A
// runtime bucket is counted under the first bound >= its upper edge, so a
// pause is never reported as shorter than it was.
func rebucket(h *metrics.Float64Histogram, bounds []float64) (count uint64, sum float64, cum map[float64]uint64) {
	cum = make(map[float64]uint64, len(bounds))
	per := make([]uint64, len(bounds))
	for i, n := range h.Counts {
		if n == 0 {
			continue
		}
		lo, hi := h.Buckets[i], h.Buckets[i+1]
		count += n
		mid := hi
		switch {
		case lo > -1e300 && hi < 1e300:
			mid = (lo + hi) / 2
		case hi >= 1e300:
			mid = lo
		}
		sum += mid * float64(n)
		for j, b := range bounds {
			if hi <= b {
				per[j] += n
				break
			}
		}
	}
	var run uint64
	for j, b := range bounds {
		run += per[j]
		cum[b] = run
	}
	return count, sum, cum
}
