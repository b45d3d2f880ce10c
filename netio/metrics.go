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
			Name:    "treasured_tick_work_seconds",
			Help:    "Time the engine spends on one tick: drain the rings, step, encode and send the snapshots.",
			Buckets: prometheus.ExponentialBucketsRange(20e-6, 0.2, 16),
		}),
		// 5 us .. 100 ms: timer wake-up latency up to two whole ticks late.
		jitter: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "treasured_tick_jitter_seconds",
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
var rejectNames = [numRejectReasons]string{
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

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

var (
	dRecv         = desc("treasured_datagrams_received_total", "Datagrams received, per event loop.", "loop")
	dRecvBytes    = desc("treasured_received_bytes_total", "Bytes received, per event loop.", "loop")
	dSent         = desc("treasured_datagrams_sent_total", "Datagrams sent: replies from the loops, snapshots and Byes from the fan-out.", "kind")
	dSentBytes    = desc("treasured_sent_bytes_total", "Bytes sent, by kind of datagram.", "kind")
	dDrops        = desc("treasured_drops_total", "Datagrams dropped without an answer, by reason.", "reason")
	dRejects      = desc("treasured_rejects_total", "Reject answers, by reason.", "reason")
	dHandshakes   = desc("treasured_handshakes_total", "Handshake answers: challenge (to Hello), welcome (new session), welcome_repeat (repeated Connect).", "step")
	dSessions     = desc("treasured_sessions_active", "Active sessions.")
	dEnded        = desc("treasured_sessions_ended_total", "Sessions ended, by reason.", "reason")
	dRefused      = desc("treasured_admission_refused_total", "Handshakes and sessions refused by admission: ip_sessions (prefix at its session cap, Reject ServerFull), ip_handshakes (prefix's handshake bucket empty), handshake_budget (global budget spent). A prefix is an IPv4 address or an IPv6 /64.", "reason")
	dFlooders     = desc("treasured_flooders_total", "Sessions rate-limited at least once.")
	dInputs       = desc("treasured_inputs_total", "Input records queued to the engine.")
	dPongs        = desc("treasured_pongs_total", "Pings answered.")
	dReplyErr     = desc("treasured_reply_send_errors_total", "Replies from the loops that the kernel refused.")
	dLeaveRetries = desc("treasured_leave_retries_total", "Session leaves deferred because the loop's ring was full.")
	dRingDepth    = desc("treasured_ring_depth", "Records queued in each loop's ring to the engine (at scrape time).", "loop")
	dRingCap      = desc("treasured_ring_capacity", "Capacity of each loop's ring, in records.")
	dTicks        = desc("treasured_ticks_total", "Engine ticks run.")
	dOverruns     = desc("treasured_tick_overruns_total", "Ticks whose work ran past the next tick's deadline (the next tick then starts at once).")
	dTick         = desc("treasured_tick", "Engine tick after the last step.")
	dTickRecords  = desc("treasured_tick_records_total", "Records drained from the rings into the engine.")
	dMaxJitter    = desc("treasured_tick_max_jitter_seconds", "Worst tick start jitter seen since start.")
	dSendErr      = desc("treasured_snapshot_send_errors_total", "Snapshot datagrams the kernel refused (not EAGAIN).")
	dEagain       = desc("treasured_snapshot_eagain_total", "EAGAIN results from sendmmsg (socket send buffer full).")
	dSnapDropped  = desc("treasured_snapshot_dropped_total", "Snapshot datagrams given up after EAGAIN; the next tick supersedes them.")
	dPartial      = desc("treasured_snapshot_partial_sends_total", "sendmmsg calls that sent only part of their batch.")
	dSyscalls     = desc("treasured_sendmmsg_calls_total", "Send system calls made by the fan-out.")
	dEncodeErr    = desc("treasured_snapshot_encode_errors_total", "Players for whom the engine produced no valid datagram.")
	dNoAddr       = desc("treasured_snapshot_no_address_total", "Active players with no joined address (engine and netio disagree).")
	// The tick clock, for clients on the same host (treasure-bench's
	// tick_to_wire): tick T is scheduled to start at epoch + T*period, wall
	// clock (CLOCK_REALTIME). Seconds as a float64: at today's unix times
	// its resolution is 2^-22 s (0.24 µs), and the text format prints the
	// shortest decimal that reads back as the same float64, so a reader
	// gets the epoch to within 0.12 µs of the server's nanosecond value.
	dEpoch  = desc("treasured_tick_epoch_unix_seconds", "Wall-clock (unix) scheduled start of engine tick 0: tick T starts at this + T * treasured_tick_period_seconds (absolute deadlines). 0 before the first tick. Resolution 0.24 µs (float64).")
	dPeriod = desc("treasured_tick_period_seconds", "The tick period.")
	// Journal metrics, exported only when a journal is configured.
	dJournalErrors = desc("treasured_journal_errors_total", "Journal appends or closes that failed; after the first, journaling stops.")
	dJournalSynced = desc("treasured_journal_synced_tick", "Newest tick known to be on stable storage in the journal.")
	// Identity metrics (identity.go).
	dTokenRefused = desc(metricname.TokenRefusals, "Connects whose connect token was refused, by reason (missing, truncated, bad_version, malformed, unknown_key, expired, bad_signature, wrong_server, replayed, replay_cache_full).", metricname.LabelReason)
	dPathCh       = desc(metricname.PathChallenges, "PathChallenges sent to an authenticated session's new address.")
	dMigrations   = desc(metricname.Migrations, "Sessions whose stream moved to a new address after it answered the PathChallenge.")
)

// serverCollector exports the Server's atomic counters.
type serverCollector struct{ s *Server }

func (c *serverCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		dRecv, dRecvBytes, dSent, dSentBytes, dDrops, dRejects, dHandshakes, dSessions, dEnded,
		dFlooders, dRefused, dInputs, dPongs, dReplyErr, dLeaveRetries, dRingDepth, dRingCap, dTicks, dOverruns,
		dTick, dTickRecords, dMaxJitter, dSendErr, dEagain, dSnapDropped, dPartial, dSyscalls,
		dEncodeErr, dNoAddr, dEpoch, dPeriod, dTokenRefused, dPathCh, dMigrations,
	} {
		ch <- d
	}
	if c.s.cfg.Journal != nil {
		ch <- dJournalErrors
		ch <- dJournalSynced
	}
}

func (c *serverCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gaugeOf := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}

	var replies, replyBytes, replyErr, challenges, welcomes, repeats, inputs, pongs, flooders, retries, resumes uint64
	var drops [NumDropReasons]uint64
	var rejects [numRejectReasons]uint64
	var ended [NumEndReasons]uint64
	var refused [NumRefuseReasons]uint64
	for i := range s.LoopStats {
		ls := &s.LoopStats[i]
		loop := strconv.Itoa(i)
		counter(dRecv, ls.DatagramsIn.Load(), loop)
		counter(dRecvBytes, ls.BytesIn.Load(), loop)
		gaugeOf(dRingDepth, float64(s.RingDepth(i)), loop)
		replies += ls.DatagramsOut.Load()
		replyBytes += ls.BytesOut.Load()
		replyErr += ls.SendErrors.Load()
		challenges += ls.Challenges.Load()
		welcomes += ls.Welcomes.Load()
		repeats += ls.WelcomeRepeats.Load()
		resumes += ls.Resumes.Load()
		inputs += ls.Inputs.Load()
		pongs += ls.Pongs.Load()
		flooders += ls.Flooders.Load()
		retries += ls.LeaveRetries.Load()
		for r := range drops {
			drops[r] += ls.Drops[r].Load()
		}
		for r := range rejects {
			rejects[r] += ls.Rejects[r].Load()
		}
		for r := range ended {
			ended[r] += ls.Ended[r].Load()
		}
		for r := range refused {
			refused[r] += ls.Refused[r].Load()
		}
	}
	for r, v := range refused {
		counter(dRefused, v, RefuseReason(r).String())
	}
	for r, v := range drops {
		counter(dDrops, v, DropReason(r).String())
	}
	for r, v := range rejects {
		counter(dRejects, v, rejectNames[r])
	}
	for r, v := range ended {
		counter(dEnded, v, EndReason(r).String())
	}
	counter(dHandshakes, challenges, "challenge")
	counter(dHandshakes, welcomes, "welcome")
	counter(dHandshakes, repeats, "welcome_repeat")
	counter(dHandshakes, resumes, "resume") // a subset of "welcome"
	gaugeOf(dSessions, float64(s.Sessions()))
	counter(dFlooders, flooders)
	counter(dInputs, inputs)
	counter(dPongs, pongs)
	counter(dReplyErr, replyErr)
	counter(dLeaveRetries, retries)
	gaugeOf(dRingCap, float64(s.RingCap()))

	var snaps, snapBytes, byes, sendErr, eagain, dropped, partial, calls, encErr, noAddr uint64
	for i := range s.FanoutStats {
		fs := &s.FanoutStats[i]
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
	counter(dSent, replies, "reply")
	counter(dSent, snaps, "snapshot")
	counter(dSent, byes, "bye")
	counter(dSentBytes, replyBytes, "reply")
	counter(dSentBytes, snapBytes, "fanout") // snapshots and Byes share a byte counter
	counter(dSendErr, sendErr)
	counter(dEagain, eagain)
	counter(dSnapDropped, dropped)
	counter(dPartial, partial)
	counter(dSyscalls, calls)
	counter(dEncodeErr, encErr)
	counter(dNoAddr, noAddr)

	ts := &s.TickStats
	counter(dTicks, ts.Ticks.Load())
	counter(dOverruns, ts.Overruns.Load())
	gaugeOf(dTick, float64(ts.Tick.Load()))
	counter(dTickRecords, ts.Records.Load())
	gaugeOf(dMaxJitter, time.Duration(ts.MaxLate.Load()).Seconds())
	gaugeOf(dEpoch, unixSeconds(ts.EpochUnixNs.Load()))
	gaugeOf(dPeriod, s.cfg.shape.period.Seconds())
	if j := s.cfg.Journal; j != nil {
		counter(dJournalErrors, ts.JournalErrors.Load())
		gaugeOf(dJournalSynced, float64(j.SyncedTick()))
	}
	c.collectIdentity(counter)
}

// collectIdentity exports the identity counters (identity.go).
func (c *serverCollector) collectIdentity(counter func(d *prometheus.Desc, v uint64, labels ...string)) {
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
		counter(dTokenRefused, v, TokenRefusal(r).String())
	}
	counter(dPathCh, challenges)
	counter(dMigrations, migrations)
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
		pauses: desc("treasured_gc_pauses_seconds", "Stop-the-world pause latencies due to GC (runtime/metrics /sched/pauses/total/gc:seconds); sum is estimated from bucket midpoints."),
		cycles: desc("treasured_gc_cycles_total", "Completed GC cycles."),
		allocB: desc("treasured_alloc_bytes_total", "Bytes allocated on the heap since start."),
		allocN: desc("treasured_alloc_objects_total", "Heap objects allocated since start."),
		live:   desc("treasured_heap_live_bytes", "Heap bytes marked live by the last GC."),
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
