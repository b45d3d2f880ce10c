package netio

import (
	"math"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/treasured/treasured/engine"
)

// fakeClock is a Clock whose time moves only when the test says: SleepUntil
// jumps straight to the deadline, and work inside a tick is simulated by
// advancing it from the tick function.
type fakeClock struct {
	now    time.Duration
	sleeps []time.Duration                 // deadlines slept to
	late   map[time.Duration]time.Duration // oversleep when sleeping to a deadline
}

func (c *fakeClock) Now() time.Duration { return c.now }
func (c *fakeClock) SleepUntil(t time.Duration) {
	if t > c.now {
		c.sleeps = append(c.sleeps, t)
		c.now = t + c.late[t]
	}
}

type tickRec struct {
	k            uint64
	jitter, work time.Duration
	overrun      bool
}

type recorder struct{ got []tickRec }

func (r *recorder) ObserveTick(k uint64, jitter, work time.Duration, overrun bool) {
	r.got = append(r.got, tickRec{k: k, jitter: jitter, work: work, overrun: overrun})
}

func TestTickerAbsoluteDeadlines(t *testing.T) {
	const period = 50 * time.Millisecond
	// An arbitrary origin, and a late wake-up for tick 3: neither may shift
	// the schedule of later ticks.
	clk := &fakeClock{now: 7 * time.Millisecond,
		late: map[time.Duration]time.Duration{157 * time.Millisecond: 3 * time.Millisecond}}
	work := []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 49 * time.Millisecond,
		5 * time.Millisecond, 0, 30 * time.Millisecond}
	var stop atomic.Bool
	var starts []time.Duration
	rec := &recorder{}
	tk := ticker{clock: clk, period: period, obs: rec, stats: &TickStats{}}
	tk.fn = func(k uint64) {
		starts = append(starts, clk.now)
		clk.now += work[k]
		if k == uint64(len(work)-1) {
			stop.Store(true)
		}
	}
	n := tk.run(&stop)
	if n != uint64(len(work)) {
		t.Fatalf("ran %d ticks, want %d", n, len(work))
	}
	origin := 7 * time.Millisecond
	for k, s := range starts {
		want := origin + time.Duration(k)*period
		if k == 3 {
			want += 3 * time.Millisecond
		}
		if s != want {
			t.Errorf("tick %d started at %v, want %v", k, s, want)
		}
	}
	for i, d := range clk.sleeps {
		if want := origin + time.Duration(i+1)*period; d != want {
			t.Errorf("sleep %d to %v, want the absolute deadline %v", i, d, want)
		}
	}
	if rec.got[3].jitter != 3*time.Millisecond || rec.got[1].jitter != 0 {
		t.Errorf("jitter %v / %v", rec.got[3].jitter, rec.got[1].jitter)
	}
	if rec.got[2].work != 49*time.Millisecond {
		t.Errorf("work %v", rec.got[2].work)
	}
	if tk.stats.Overruns.Load() != 0 || tk.stats.Ticks.Load() != uint64(len(work)) {
		t.Errorf("overruns %d ticks %d", tk.stats.Overruns.Load(), tk.stats.Ticks.Load())
	}
	if time.Duration(tk.stats.MaxLate.Load()) != 3*time.Millisecond {
		t.Errorf("max late %v", time.Duration(tk.stats.MaxLate.Load()))
	}
}

// An overrun is counted, the next tick starts at once (late, and measured
// as late), no tick is skipped, and the schedule after catching up is still
// the original one.
func TestTickerOverrun(t *testing.T) {
	const period = 50 * time.Millisecond
	clk := &fakeClock{}
	var stop atomic.Bool
	var starts []time.Duration
	var ks []uint64
	rec := &recorder{}
	tk := ticker{clock: clk, period: period, obs: rec, stats: &TickStats{}}
	tk.fn = func(k uint64) {
		starts = append(starts, clk.now)
		ks = append(ks, k)
		if k == 1 {
			clk.now += 120 * time.Millisecond // runs past ticks 2's and 3's deadlines
		} else {
			clk.now += time.Millisecond
		}
		if k == 5 {
			stop.Store(true)
		}
	}
	tk.run(&stop)
	wantStarts := []time.Duration{0, 50, 170, 171, 200, 250}
	for i, w := range wantStarts {
		if starts[i] != w*time.Millisecond {
			t.Errorf("tick %d started at %v, want %v", i, starts[i], w*time.Millisecond)
		}
	}
	for i, k := range ks {
		if k != uint64(i) {
			t.Fatalf("tick numbers %v: skipped or repeated", ks)
		}
	}
	if tk.stats.Overruns.Load() != 2 {
		t.Errorf("overruns %d, want 2", tk.stats.Overruns.Load())
	}
	if rec.got[2].jitter != 70*time.Millisecond || rec.got[3].jitter != 21*time.Millisecond {
		t.Errorf("catch-up jitter %v %v", rec.got[2].jitter, rec.got[3].jitter)
	}
	// Tick 1 (due 50) ends at 170, past tick 2's deadline (100). Tick 2 (due
	// 100) starts at once and ends at 171, past tick 3's deadline (150): it
	// overran too, through no work of its own. Tick 3 (due 150) ends at 172,
	// before 200: caught up.
	for i, r := range rec.got {
		want := i == 1 || i == 2
		if r.overrun != want {
			t.Errorf("tick %d overrun=%v, want %v", i, r.overrun, want)
		}
	}
}

// Stop requested while the ticker sleeps: the pending tick still runs (it
// is the final one), and nothing after it.
func TestTickerStopRunsFinalTick(t *testing.T) {
	clk := &fakeClock{}
	var stop atomic.Bool
	var ran []uint64
	tk := ticker{clock: clk, period: time.Second, stats: &TickStats{}}
	tk.fn = func(k uint64) {
		ran = append(ran, k)
		if k == 0 {
			stop.Store(true)
		}
	}
	if n := tk.run(&stop); n != 1 || len(ran) != 1 {
		t.Fatalf("ran %v", ran)
	}
}

// The exported epoch is the wall-clock scheduled start of engine tick 0:
// the ticker's iteration k (deadline start + k*period) produces tick t0+k+1,
// so tick T's scheduled start is epoch + T*period.
func TestTickEpoch(t *testing.T) {
	origin := time.Unix(1_800_000_000, 123_456_789)
	// A 10 Hz world: the period is the world's, not a default.
	const period = 100 * time.Millisecond
	ecfg := engine.DefaultConfig()
	ecfg.MaxPlayers, ecfg.TickHz = 4, 10
	for _, t0 := range []uint32{0, 41} {
		w := &tickWorld{tick: t0, cfg: &ecfg}
		s, err := New(Config{NoAuth: true, Addr: "127.0.0.1:0",
			Clock: monoClock{origin: origin}, Logger: discardLogger()}, w)
		if err != nil {
			t.Fatal(err)
		}
		start := 7*time.Second + 5
		s.setEpoch(start)
		// Tick t0+1 is the first, scheduled at the ticker's start.
		want := origin.Add(start).UnixNano() - int64(t0+1)*int64(period)
		got := s.TickStats.EpochUnixNs.Load()
		if got != want || got+int64(t0+1)*int64(period) != origin.Add(start).UnixNano() {
			t.Fatalf("t0 %d: epoch %d, want %d", t0, got, want)
		}
		// The exported float64 seconds are within 0.25 µs of it.
		// (sec - whole seconds is exact, so the comparison is in ns.)
		sec := unixSeconds(got)
		whole := math.Floor(sec)
		d := float64(int64(whole)-got/1e9)*1e9 + (sec-whole)*1e9 - float64(got%1e9)
		if d > 250 || d < -250 {
			t.Fatalf("unixSeconds(%d) = %.9f: off by %.0f ns", got, sec, d)
		}
	}
}

// A fake clock maps to wall time by a paired reading.
func TestWallTimeFake(t *testing.T) {
	c := &fakeClock{now: 10 * time.Second}
	before := time.Now()
	got := WallTime(c, 11*time.Second)
	if d := got.Sub(before); d < time.Second || d > time.Second+time.Minute {
		t.Fatalf("wall %v, %v after now", got, d)
	}
}

// tickWorld is a World with nothing in it but a tick counter, in a
// 4-player world at 20 Hz (a 50 ms tick) or cfg when set.
type tickWorld struct {
	tick uint32
	cfg  *engine.Config
}

func (w *tickWorld) Config() engine.Config {
	if w.cfg != nil {
		return *w.cfg
	}
	c := engine.DefaultConfig()
	c.MaxPlayers = 4
	return c
}

func (w *tickWorld) Step([]engine.Record)              { w.tick++ }
func (w *tickWorld) Tick() uint32                      { return w.tick }
func (w *tickWorld) Hash() uint64                      { return uint64(w.tick) }
func (w *tickWorld) LastOrdered() []engine.Record      { return nil }
func (w *tickWorld) ActivePlayers(dst []int32) []int32 { return dst }
func (w *tickWorld) NewSnapshotter() Snapshotter       { return &stampSnapshotter{buf: make([]byte, 8)} }

// The real clock never wakes before the deadline, though its last
// millisecond is an exact sleep that signals cut short: here the runtime's
// preemption signals of a goroutine forcing garbage collections meanwhile.
// Only the lower bound is checked; how late it wakes is the jitter
// histogram's business.
func TestMonoClockNeverEarly(t *testing.T) {
	c := NewMonoClock()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
				runtime.GC()
			}
		}
	}()
	defer func() { close(stop); <-done }()
	for i := range 200 {
		d := time.Duration(i%7) * 400 * time.Microsecond // 0 to 2.4 ms: timer, exact sleep or both
		at := c.Now() + d
		c.SleepUntil(at)
		if now := c.Now(); now < at {
			t.Fatalf("woke %v before the deadline (sleep of %v)", at-now, d)
		}
	}
}
