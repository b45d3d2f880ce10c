//go:build linux

package netio

import (
	"bytes"
	"context"
	"encoding/binary"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/treasured/treasured/netio/udp"
	"github.com/treasured/treasured/schema"
)

// BenchmarkServerGarbage is the cost of a datagram that fails verification,
// per backend and layout, over real loopback: a client sends 16 batches of
// 64 garbage datagrams with sendmmsg and waits until the server has counted
// them all as malformed. The client runs on a locked thread of its own, so
// its CPU time (the send, and on loopback the kernel's receive path, which
// runs in the sender's context) is measured apart: server-cpu-ns/datagram
// is the rest of the process, the server's receive, verify and drop
// (issue 9's garbage target: <= 1 µs of the server core per datagram).
//
// With the kernel filter (filter.go) the garbage never reaches the server:
// its root offset is one the filter refuses. The client's figure then
// includes the filter, which runs in the kernel's receive path.
//
// junk=root is garbage the filter refuses (a root offset inside the
// header); junk=deep passes it (a sound header whose root table points its
// vtable out of the datagram), the worst case: the verifier must find it.
func BenchmarkServerGarbage(b *testing.B) {
	for _, bc := range backendCases() {
		for _, mode := range []FilterMode{FilterOff, FilterOn} {
			for _, deep := range []bool{false, true} {
				name := bc.name + "/filter=" + mode.String() + "/junk=root"
				if deep {
					name = bc.name + "/filter=" + mode.String() + "/junk=deep"
				}
				b.Run(name, func(b *testing.B) { benchServerGarbage(b, bc, mode, garbageDatagram(deep)) })
			}
		}
	}
}

// garbageDatagram is a Ping that the verifier refuses as malformed: its
// root offset points into the file identifier, or (deep) the root table's
// vtable offset points far outside the datagram.
func garbageDatagram(deep bool) []byte {
	junk := bytes.Clone(schema.NewEncoder().Ping(&schema.PingFrame{SessionID: 1, T: 1}))
	if !deep {
		junk[0], junk[1], junk[2], junk[3] = 5, 0, 0, 0
		return junk
	}
	root := binary.LittleEndian.Uint32(junk)
	binary.LittleEndian.PutUint32(junk[root:], 0x7fff0000)
	return junk
}

func benchServerGarbage(b *testing.B, bc backendCase, mode FilterMode, junk []byte) {
	const batch = 64
	w, _ := newSmallWorld(b)
	s, err := New(bc.config(Config{Addr: "127.0.0.1:0", Loops: 1, Logger: discardLogger(), KernelFilter: mode}), w)
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Start(); err != nil {
		b.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	snd := loopbackSender(b)
	bufs, to := make([][]byte, batch), make([]Addr, batch)
	srv := udp.AddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), s.Addr().Port()))
	for i := range bufs {
		bufs[i], to[i] = junk, srv
	}
	var sent uint64
	wait := func() {
		deadline := time.Now().Add(10 * time.Second)
		for s.dropsOf(DropMalformed) < sent {
			if time.Now().After(deadline) {
				b.Fatalf("the server counted %d of %d garbage datagrams as malformed in 10 s (truncated %d, bad identifier %d)",
					s.dropsOf(DropMalformed), sent, s.dropsOf(DropTruncated), s.dropsOf(DropBadIdentifier))
			}
			// Sleep, not spin: the CPU time below is the point.
			time.Sleep(100 * time.Microsecond)
		}
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ReportAllocs()
	proc0, own0 := cpuTime(b, unix.RUSAGE_SELF), cpuTime(b, unix.RUSAGE_THREAD)
	for b.Loop() {
		// 16 batches, then one wait: the waiting's own wake-ups are then
		// a small part of the CPU time. 1,024 datagrams fit the server's
		// 4 MiB receive buffer.
		for range 16 {
			if r := snd.Send(bufs, to, true); r.Sent != batch {
				b.Fatalf("send: %+v", r)
			}
			sent += batch
		}
		wait()
	}
	// CPU time, not wall time: on a shared machine the wall clock says
	// more about the neighbours. The server's tick (20 Hz, a world of
	// one idle session) is in the figure too; it is small beside 1,024
	// datagrams a millisecond or so.
	own := cpuTime(b, unix.RUSAGE_THREAD) - own0
	proc := cpuTime(b, unix.RUSAGE_SELF) - proc0
	b.ReportMetric(float64((proc-own).Nanoseconds())/float64(sent), "server-cpu-ns/datagram")
	b.ReportMetric(float64(own.Nanoseconds())/float64(sent), "client-cpu-ns/datagram")
}

// cpuTime is the user + system CPU time of the process (RUSAGE_SELF) or
// of the calling thread (RUSAGE_THREAD) so far.
func cpuTime(b *testing.B, who int) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(who, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
