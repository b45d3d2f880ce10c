package netio

import (
	"cmp"
	"fmt"
	"runtime"
	"slices"
	"time"

	"github.com/treasured/treasured/netio/udp"
)

// The choice of layout: which backend serves the sockets, given the CPUs
// the server has. On several CPUs each gnet loop owns a core, locked and
// pinned, and the tick goroutine owns another. On one CPU every hand-off
// between two locked threads is a futex wake-up and a sleep for the only
// P, so there the poll layout runs every goroutine unlocked on the one P
// and waits in Go's netpoller (BENCHMARKS.md "Issue 9: the single-CPU
// layout" has the measurements that chose it).

// autoBackend resolves BackendAuto from the loops, the CPU lists and the
// runtime's number of Ps, and says why in words for the start-up log.
func autoBackend(c *Config, gomaxprocs int) (Backend, string) {
	switch cpus := cpuSet(c.IOCPUs, c.EngineCPUs); {
	case c.Loops > 1:
		return BackendGnet, fmt.Sprintf("%d event loops: gnet, one locked loop thread per I/O CPU", c.Loops)
	case !mmsgSupported:
		return BackendGnet, "the single-CPU poll layout needs Linux (recvmmsg): gnet"
	case gomaxprocs == 1:
		return BackendPoll, "one P (GOMAXPROCS=1): the single-CPU poll layout, unlocked goroutines on Go's netpoller"
	case len(cpus) == 1:
		return BackendPoll, fmt.Sprintf("engine and I/O share CPU %d: the single-CPU poll layout, unlocked goroutines on Go's netpoller", cpus[0])
	default:
		return BackendGnet, "engine and I/O on different CPUs: gnet, locked and pinned threads"
	}
}

// cpuSet is the sorted union of CPU lists.
func cpuSet(lists ...[]int) []int {
	var all []int
	for _, l := range lists {
		all = append(all, l...)
	}
	slices.Sort(all)
	return slices.Compact(all)
}

// pollLayout checks and completes a configuration for BackendPoll.
func (c *Config) pollLayout() error {
	if !mmsgSupported {
		return configErr("the poll backend needs Linux (recvmmsg)")
	}
	if c.InlineIO {
		return configErr("inline I/O is the mmsg backend's; the poll backend serves the socket from its own goroutine")
	}
	// The layout is unlocked goroutines: a locked one would bring back
	// the futex hand-off of the P that it exists to avoid. Pinning needs
	// a locked thread, so nothing is pinned (taskset pins the process).
	c.UnlockedThreads = true
	// Every batch call is non-blocking; made as a scheduled system call,
	// one longer than 20 µs has sysmon hand the only P to another thread
	// and back, the very hand-off this layout avoids (udp.RawSyscalls).
	c.sockOpts = []udp.SocketOption{udp.RawSyscalls}
	c.RecvPace = cmp.Or(c.RecvPace, DefaultRecvPace)
	if c.RecvPace > c.shape.period/2 {
		return configErr("receive pace %v: want at most half a tick (%v); a Ping would wait most of a tick", c.RecvPace, c.shape.period/2)
	}
	return nil
}

// recvPace is the receive pace in force (Config.RecvPace), 0 when the
// loops wake at each arrival.
func (s *Server) recvPace() time.Duration {
	if s.cfg.Backend != BackendPoll {
		return 0
	}
	return max(s.cfg.RecvPace, 0)
}

// urgentSocket reports whether the poll layout's loop gets an urgent socket
// (Config.SingleSocket): only with one loop does the fan-out read between
// its send batches, and only sealed datagrams carry the mark.
func (s *Server) urgentSocket() bool {
	c := &s.cfg
	return c.Backend == BackendPoll && !c.SingleSocket && !c.NoAuth && c.Loops == 1
}

// InlineIOFits reports whether InlineIO is the layout for c: the mmsg
// backend, one loop, and one CPU for everything (one P, or engine and I/O
// lists that name the same single CPU). The tick goroutine then serves the
// one socket itself between ticks, so no thread ever hands the only P to
// another; with more CPUs a loop goroutine of its own receives while the
// tick works.
func InlineIOFits(c *Config) bool {
	return c.Backend == BackendMmsg && c.Loops == 1 && oneCPU(c, runtime.GOMAXPROCS(0))
}

// oneCPU reports whether c's threads all share one CPU: gomaxprocs is 1,
// or the engine and I/O lists name the same single CPU.
func oneCPU(c *Config, gomaxprocs int) bool {
	return gomaxprocs == 1 || len(cpuSet(c.IOCPUs, c.EngineCPUs)) == 1
}
