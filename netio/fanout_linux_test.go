//go:build linux

package netio

import (
	"net"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/treasured/treasured/netio/udp"
)

// The fan-out of 1,000 snapshots through the real sendmmsg sender, to a
// loopback socket, allocates nothing.
func TestFanoutNoAllocMmsg(t *testing.T) {
	sink, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	to := udp.AddrFromAddrPort(sink.LocalAddr().(*net.UDPAddr).AddrPort())
	f, ps := newTestFanout(t, 1000, 64, loopbackSender(t))
	for i := range ps {
		f.apply(joinEntry(int32(i), 2, to, uint64(i))) // every player at the sink
	}
	f.send(ps, false)
	st := f.workers[0].stats
	if sent, lost := st.Snapshots.Load(), st.Dropped.Load()+st.SendErrors.Load(); sent+lost != 1000 || st.Syscalls.Load() < 16 {
		t.Fatalf("1000 snapshots: %d sent, %d not, in %d calls", sent, lost, st.Syscalls.Load())
	}
	if n := testing.AllocsPerRun(20, func() { f.send(ps, false) }); n != 0 {
		t.Fatalf("fan-out of 1000 allocates %v", n)
	}
}

// loopbackSender is a real sendmmsg sender on a fresh loopback socket.
func loopbackSender(tb testing.TB) BatchSender {
	tb.Helper()
	tx, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		tb.Fatal(err)
	}
	f, err := tx.File()
	tx.Close()
	if err != nil {
		tb.Fatal(err)
	}
	fd, err := unix.Dup(int(f.Fd()))
	f.Close()
	if err != nil {
		tb.Fatal(err)
	}
	snd, err := udp.NewSocketSender(fd, DefaultBatchSize)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { snd.Close() })
	return snd
}
