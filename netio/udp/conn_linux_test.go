//go:build linux

package udp

import (
	"bytes"
	"net"
	"net/netip"
	"reflect"
	"testing"
	"time"
)

func listen(t *testing.T, local string, opt Options) *Conn {
	t.Helper()
	c, err := Listen(netip.MustParseAddrPort(local), opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func plainListener(t *testing.T) *net.UDPConn {
	t.Helper()
	pc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc
}

// readAll waits (generously: the box may be busy) until want datagrams are
// in msgs.
func readAll(t *testing.T, c *Conn, msgs []Message, want int) int {
	t.Helper()
	got := 0
	deadline := time.Now().Add(10 * time.Second)
	for got < want && time.Now().Before(deadline) {
		n, err := c.ReadBatch(msgs[got:])
		if err != nil {
			t.Fatal(err)
		}
		got += n
		if n == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	if got != want {
		t.Fatalf("received %d datagrams, want %d", got, want)
	}
	return got
}

// One wildcard-bound socket sends each datagram from the source address
// its Message names: the receiver sees one address per datagram.
func TestWriteBatchFromChosenSource(t *testing.T) {
	c := listen(t, "0.0.0.0:0", Options{})
	dst := plainListener(t)
	to := dst.LocalAddr().(*net.UDPAddr).AddrPort()
	var msgs []Message
	for i := range 5 {
		msgs = append(msgs, Message{Buf: []byte{byte(i)}, Addr: to, Local: netip.AddrFrom4([4]byte{127, 1, 0, byte(10 + i)})})
	}
	if res := c.WriteBatch(msgs); res.Sent != 5 || res.Failed != 0 || res.WouldBlock != 0 {
		t.Fatalf("%+v", res)
	}
	dst.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 16)
	for range 5 {
		n, from, err := dst.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatal(err)
		}
		want := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 1, 0, byte(10 + buf[0])}), c.LocalAddr().Port())
		if n != 1 || from != want {
			t.Fatalf("datagram %d from %v, want %v", buf[0], from, want)
		}
	}
}

// ReadBatch reports each datagram's source and the local address it was
// sent to, and marks one too long for its buffer.
func TestReadBatchPacketInfo(t *testing.T) {
	c := listen(t, "0.0.0.0:0", Options{PacketInfo: true, Batch: 8})
	src := plainListener(t)
	port := c.LocalAddr().Port()
	for i := range 3 {
		to := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 2, 0, byte(1 + i)}), port)
		if _, err := src.WriteToUDPAddrPort(bytes.Repeat([]byte{byte(i)}, 10+i*20), to); err != nil {
			t.Fatal(err)
		}
	}
	msgs := make([]Message, 8)
	for i := range msgs {
		msgs[i].Buf = make([]byte, 32)
	}
	readAll(t, c, msgs, 3)
	from := src.LocalAddr().(*net.UDPAddr).AddrPort()
	for i, m := range msgs[:3] {
		wantLocal := netip.AddrFrom4([4]byte{127, 2, 0, byte(1 + i)})
		if m.Addr != from || m.Local != wantLocal {
			t.Errorf("datagram %d: from %v to %v, want %v to %v", i, m.Addr, m.Local, from, wantLocal)
		}
		wantN, wantTrunc := 10+i*20, 10+i*20 > 32
		if wantTrunc {
			wantN = 32
		}
		if m.N != wantN || m.Truncated != wantTrunc || m.Buf[0] != byte(i) {
			t.Errorf("datagram %d: N %d truncated %v, want %d %v", i, m.N, m.Truncated, wantN, wantTrunc)
		}
	}
}

// A message the socket cannot send is counted and skipped; the rest go.
func TestWriteBatchSkipsRefused(t *testing.T) {
	c := listen(t, "0.0.0.0:0", Options{})
	dst := plainListener(t)
	to := dst.LocalAddr().(*net.UDPAddr).AddrPort()
	msgs := []Message{
		{Buf: []byte{1}, Addr: to},
		{Buf: []byte{2}, Addr: netip.MustParseAddrPort("[::1]:9")}, // IPv6 on an IPv4 socket
		{Buf: []byte{3}, Addr: to, Local: netip.MustParseAddr("::1")},
		{Buf: []byte{4}, Addr: to},
	}
	res := c.WriteBatch(msgs)
	if res.Sent != 2 || res.Failed != 2 || res.Err == nil {
		t.Fatalf("%+v", res)
	}
	dst.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 4)
	for _, want := range []byte{1, 4} {
		if _, err := dst.Read(buf); err != nil || buf[0] != want {
			t.Fatalf("got %d (%v), want %d", buf[0], err, want)
		}
	}
	if res := c.WriteBatch(make([]Message, c.BatchSize()+1)); res.Failed != c.BatchSize()+1 {
		t.Fatalf("oversized batch: %+v", res)
	}
}

func TestListenBadBatch(t *testing.T) {
	if _, err := Listen(netip.MustParseAddrPort("127.0.0.1:0"), Options{Batch: 5000}); err == nil {
		t.Fatal("batch 5000 accepted")
	}
}

// Drops counts what the kernel discarded for a full receive buffer.
func TestDrops(t *testing.T) {
	c := listen(t, "127.0.0.1:0", Options{RecvBuffer: 4096})
	src := plainListener(t)
	to := c.LocalAddr()
	for range 200 {
		src.WriteToUDPAddrPort(make([]byte, 1000), to)
	}
	d, err := c.Drops()
	if err != nil || d == 0 {
		t.Fatalf("drops %d, %v", d, err)
	}
}

// Steady-state batches allocate nothing.
func TestBatchAllocs(t *testing.T) {
	c := listen(t, "0.0.0.0:0", Options{PacketInfo: true, Batch: 8})
	to := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 3, 0, 1}), c.LocalAddr().Port())
	out := make([]Message, 8)
	in := make([]Message, 8)
	for i := range out {
		out[i] = Message{Buf: make([]byte, 100), Addr: to, Local: netip.AddrFrom4([4]byte{127, 3, 0, byte(2 + i)})}
		in[i].Buf = make([]byte, 200)
	}
	allocs := testing.AllocsPerRun(100, func() {
		c.WriteBatch(out)
		for n := 0; n < len(in); {
			k, _ := c.ReadBatch(in[n:])
			n += k
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per batch", allocs)
	}
}

func BenchmarkWriteReadBatch(b *testing.B) {
	c, err := Listen(netip.MustParseAddrPort("0.0.0.0:0"), Options{PacketInfo: true, Batch: 32, RecvBuffer: 1 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	to := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 3, 0, 1}), c.LocalAddr().Port())
	out := make([]Message, 32)
	in := make([]Message, 32)
	for i := range out {
		out[i] = Message{Buf: make([]byte, 100), Addr: to, Local: netip.AddrFrom4([4]byte{127, 3, 1, byte(i)})}
		in[i].Buf = make([]byte, 200)
	}
	b.ReportAllocs()
	for b.Loop() {
		c.WriteBatch(out)
		for n := 0; n < len(in); {
			k, _ := c.ReadBatch(in[n:])
			n += k
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*32), "ns/datagram")
}

// With Timestamps, a datagram's Stamp is when the kernel received it, not
// when it was read: one that waited in the socket shows the wait. Without,
// Stamp stays 0. Both bounds hold on any machine, however busy.
//
// The kernel turns receive stamping on for the host asynchronously (a
// static key flipped from a work queue) when the first socket asks, and
// until then stamps a datagram when it is read; so the check is repeated
// until the stamps are the kernel's, within a generous bound.
func TestReadBatchTimestamps(t *testing.T) {
	c := listen(t, "127.0.0.1:0", Options{Timestamps: true, PacketInfo: true})
	tx := plainListener(t)
	var m Message
	var before, after, read int64
	for end := time.Now().Add(10 * time.Second); ; {
		before = time.Now().UnixNano()
		if _, err := tx.WriteToUDPAddrPort([]byte("x"), c.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		after = time.Now().UnixNano()
		time.Sleep(50 * time.Millisecond) // the datagram waits, queued
		msgs := []Message{{Buf: make([]byte, 16)}}
		readAll(t, c, msgs, 1)
		read = time.Now().UnixNano()
		m = msgs[0]
		if read-m.Stamp >= int64(50*time.Millisecond) || time.Now().After(end) {
			break
		}
	}
	if !m.Local.IsValid() {
		t.Fatalf("packet info lost beside the stamps: %+v", m)
	}
	if read-m.Stamp < int64(50*time.Millisecond) {
		t.Fatalf("stamp %d is the read time %d, not the arrival, for 10 s", m.Stamp, read)
	}
	if m.Stamp < before || m.Stamp > after {
		t.Fatalf("stamp %d outside the send [%d, %d]", m.Stamp, before, after)
	}

	plain := listen(t, "127.0.0.1:0", Options{PacketInfo: true})
	if _, err := tx.WriteToUDPAddrPort([]byte("x"), plain.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	msgs := []Message{{Buf: make([]byte, 16)}}
	readAll(t, plain, msgs, 1)
	if msgs[0].Stamp != 0 || !msgs[0].Local.IsValid() {
		t.Fatalf("without Timestamps: %+v", msgs[0])
	}
}

// With RawSyscalls a Conn makes its batch calls raw, and a round trip
// between two of them still carries every datagram, addresses included.
func TestConnRawSyscalls(t *testing.T) {
	for _, raw := range []bool{false, true} {
		a := listen(t, "127.0.0.1:0", Options{RawSyscalls: raw, PacketInfo: true})
		b := listen(t, "127.0.0.1:0", Options{RawSyscalls: raw, PacketInfo: true})
		wantSend, wantRecv := reflect.ValueOf(Sendmmsg).Pointer(), reflect.ValueOf(Recvmmsg).Pointer()
		if raw {
			wantSend, wantRecv = reflect.ValueOf(rawSendmmsg).Pointer(), reflect.ValueOf(rawRecvmmsg).Pointer()
		}
		if reflect.ValueOf(a.sendmmsg).Pointer() != wantSend || reflect.ValueOf(a.recvmmsg).Pointer() != wantRecv {
			t.Fatalf("raw %v: the Conn's batch calls are not the ones asked for", raw)
		}
		out := make([]Message, 8)
		for i := range out {
			out[i] = Message{Buf: []byte{byte(i)}, Addr: b.LocalAddr()}
		}
		if res := a.WriteBatch(out); res.Sent != len(out) {
			t.Fatalf("raw %v: %+v", raw, res)
		}
		in := make([]Message, 8)
		for i := range in {
			in[i].Buf = make([]byte, 16)
		}
		readAll(t, b, in, len(in))
		for i, m := range in {
			if m.N != 1 || m.Buf[0] != byte(i) || m.Addr != a.LocalAddr() || m.Local != b.LocalAddr().Addr() {
				t.Fatalf("raw %v: datagram %d: %+v", raw, i, m)
			}
		}
	}
}
