package common

import (
	"errors"
	"fmt"
	"io"
	"log"
	"math"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime/metrics"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/treasured/treasured/netio/metricname"
)

// Hist is a fixed-bucket histogram with one writer and concurrent readers.
type Hist struct {
	bounds []float64 // seconds
	counts []atomic.Uint64
	sumNs  atomic.Int64
	n      atomic.Uint64
}

// NewHist returns a histogram over bounds (seconds, ascending).
func NewHist(bounds []float64) *Hist {
	return &Hist{bounds: bounds, counts: make([]atomic.Uint64, len(bounds)+1)}
}

// Observe records d.
func (h *Hist) Observe(d time.Duration) {
	s := d.Seconds()
	i := 0
	for i < len(h.bounds) && s > h.bounds[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sumNs.Add(int64(d))
	h.n.Add(1)
}

func (h *Hist) write(w io.Writer, name, help string) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name)
	var cum uint64
	for i, b := range h.bounds {
		cum += h.counts[i].Load()
		fmt.Fprintf(w, "%s_bucket{le=\"%g\"} %d\n", name, b, cum)
	}
	cum += h.counts[len(h.bounds)].Load()
	fmt.Fprintf(w, "%s_bucket{le=\"+Inf\"} %d\n%s_sum %g\n%s_count %d\n", name, cum, name, float64(h.sumNs.Load())/1e9, name, h.n.Load())
}

// exponential returns n bounds from lo to hi, geometrically spaced (what
// prometheus.ExponentialBucketsRange gives treasured).
func exponential(lo, hi float64, n int) []float64 {
	b := make([]float64, n)
	f := math.Pow(hi/lo, 1/float64(n-1))
	for i := range b {
		b[i] = lo * math.Pow(f, float64(i))
	}
	return b
}

// Metrics are a baseline server's counters, named as treasured names its own.
type Metrics struct {
	Ticks, Overruns, Inputs, SnapshotsSent, Pongs atomic.Uint64
	SendErrors                                    atomic.Uint64
	Drops                                         [NumDrops]atomic.Uint64
	Sessions                                      atomic.Int64
	TickWork, TickJitter                          *Hist
	maxJitter                                     atomic.Int64
	// The tick clock, exported as treasured exports it so that the bench
	// measures tick_to_wire from the scheduled tick start (absolute) for
	// every server alike, not from its min-filter estimate.
	tickEpochNs, tickPeriodNs atomic.Int64
}

// SetTickClock says that tick T is scheduled to start at epoch + T*period
// (absolute deadlines).
func (m *Metrics) SetTickClock(epoch time.Time, period time.Duration) {
	m.tickEpochNs.Store(epoch.UnixNano())
	m.tickPeriodNs.Store(int64(period))
}

// Drop reasons of a baseline.
const (
	DropMalformed = iota
	DropBadSession
	DropQueueFull // a player's channel was full: the studio's design drops here
	DropUnexpected
	NumDrops
)

var dropNames = [NumDrops]string{"malformed", "bad_session", "queue_full", "unexpected_type"}

// NewMetrics returns zeroed metrics with treasured's tick buckets.
func NewMetrics() *Metrics {
	return &Metrics{
		TickWork:   NewHist(exponential(20e-6, 0.2, 16)),
		TickJitter: NewHist(exponential(5e-6, 0.1, 16)),
	}
}

// ObserveTick records one tick's start jitter and work.
func (m *Metrics) ObserveTick(jitter, work time.Duration, overrun bool) {
	m.Ticks.Add(1)
	if overrun {
		m.Overruns.Add(1)
	}
	m.TickWork.Observe(work)
	m.TickJitter.Observe(jitter)
	if int64(jitter) > m.maxJitter.Load() {
		m.maxJitter.Store(int64(jitter))
	}
}

var pauseBounds = []float64{1e-6, 5e-6, 10e-6, 25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3}

// Expose writes the Prometheus text exposition.
func (m *Metrics) Expose(w io.Writer) {
	c := func(name string, v uint64) { fmt.Fprintf(w, "# TYPE %s counter\n%s %d\n", name, name, v) }
	g := func(name string, v float64) { fmt.Fprintf(w, "# TYPE %s gauge\n%s %g\n", name, name, v) }
	c(metricname.Ticks, m.Ticks.Load())
	c(metricname.TickOverruns, m.Overruns.Load())
	c(metricname.Inputs, m.Inputs.Load())
	c(metricname.Pongs, m.Pongs.Load())
	c(metricname.SnapshotSendErrors, m.SendErrors.Load())
	fmt.Fprintf(w, "# TYPE %[1]s counter\n%[1]s{%[2]s=%[3]q} %[4]d\n", metricname.DatagramsSent, metricname.LabelKind, metricname.KindSnapshot, m.SnapshotsSent.Load())
	fmt.Fprintf(w, "# TYPE %s counter\n", metricname.Drops)
	for i, n := range dropNames {
		fmt.Fprintf(w, "%s{%s=%q} %d\n", metricname.Drops, metricname.LabelReason, n, m.Drops[i].Load())
	}
	g(metricname.SessionsActive, float64(m.Sessions.Load()))
	g(metricname.TickMaxJitter, float64(m.maxJitter.Load())/1e9)
	if per := m.tickPeriodNs.Load(); per > 0 {
		// %g prints the shortest form that reads back exactly: the epoch
		// keeps its float64 resolution (~0.24 µs).
		g(metricname.TickEpoch, float64(m.tickEpochNs.Load())/1e9)
		g(metricname.TickPeriod, float64(per)/1e9)
	}
	m.TickWork.write(w, metricname.TickWork, "Time spent on one tick.")
	m.TickJitter.write(w, metricname.TickJitter, "Actual minus scheduled tick start.")

	s := []metrics.Sample{
		{Name: "/sched/pauses/total/gc:seconds"},
		{Name: "/gc/cycles/total:gc-cycles"},
		{Name: "/gc/heap/allocs:bytes"},
		{Name: "/gc/heap/allocs:objects"},
		{Name: "/gc/heap/live:bytes"},
	}
	metrics.Read(s)
	if s[0].Value.Kind() == metrics.KindFloat64Histogram {
		h := s[0].Value.Float64Histogram()
		per := make([]uint64, len(pauseBounds)+1)
		var n uint64
		var sum float64
		for i, k := range h.Counts {
			if k == 0 {
				continue
			}
			hi := h.Buckets[i+1]
			j := 0
			for j < len(pauseBounds) && hi > pauseBounds[j] {
				j++
			}
			per[j] += k
			n += k
			if !math.IsInf(hi, 1) {
				sum += hi * float64(k)
			}
		}
		fmt.Fprintf(w, "# TYPE %s histogram\n", metricname.GCPauses)
		var cum uint64
		for j, b := range pauseBounds {
			cum += per[j]
			fmt.Fprintf(w, "%s_bucket{le=\"%g\"} %d\n", metricname.GCPauses, b, cum)
		}
		fmt.Fprintf(w, "%[1]s_bucket{le=\"+Inf\"} %[2]d\n%[1]s_sum %[3]g\n%[1]s_count %[2]d\n", metricname.GCPauses, n, sum)
	}
	c(metricname.GCCycles, s[1].Value.Uint64())
	c(metricname.AllocBytes, s[2].Value.Uint64())
	c(metricname.AllocObjects, s[3].Value.Uint64())
	g(metricname.HeapLive, float64(s[4].Value.Uint64()))
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		cpu := float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
		fmt.Fprintf(w, "# TYPE %[1]s counter\n%[1]s %[2]g\n", metricname.ProcessCPU, cpu)
	}
}

// ServeAdmin binds addr and serves /metrics and /debug/pprof/ there in the
// background for what (a name for the log). Binding first means a taken or
// bad address is an error the caller can exit on, not a line logged later
// while the server runs without its metrics.
func ServeAdmin(what, addr string, m *Metrics) error {
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		m.Expose(w)
	})
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--admin %s: %w", addr, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, net.ErrClosed) {
			log.Printf("%s: admin: %v", what, err)
		}
	}()
	return nil
}
