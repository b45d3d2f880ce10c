package sockfilter

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"testing"
	"time"
)

var testParams = Params{MaxDatagram: 1200, Identifier: [4]byte{'T', 'R', 'S', 'R'}, Sealed: true, Overhead: 32, Slots: 64}

// newFilter loads the filter, or skips where this kernel or process may
// not load eBPF (the server then runs without it, which its own tests
// cover).
func newFilter(t *testing.T, p Params) *Filter {
	t.Helper()
	f, err := New(p)
	if err != nil {
		t.Skipf("eBPF socket filters unavailable here: %v", err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// plain is a datagram the filter must pass: identifier in place and a
// 4-aligned root inside it (the rest is not the filter's business).
func plain(n int) []byte {
	b := make([]byte, n)
	binary.LittleEndian.PutUint32(b, 8)
	copy(b[4:], "TRSR")
	return b
}

func sealed(id uint64, n int) []byte {
	b := make([]byte, n)
	binary.LittleEndian.PutUint64(b, id)
	return b
}

// pair is a receiving socket with f attached and a sender to it.
type pair struct {
	rx, tx *net.UDPConn
}

func newPair(t *testing.T, f *Filter) pair {
	t.Helper()
	rx, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rx.Close() })
	raw, err := rx.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var aerr error
	if err := raw.Control(func(fd uintptr) { aerr = f.Attach(int(fd)) }); err != nil {
		t.Fatal(err)
	}
	if aerr != nil {
		t.Fatal(aerr)
	}
	tx, err := net.DialUDP("udp4", nil, rx.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tx.Close() })
	return pair{rx, tx}
}

// passes sends d, then a marker the filter passes, and reads until the
// marker: loopback keeps order, so d passed iff it came first.
func (p pair) passes(t *testing.T, d []byte) bool {
	t.Helper()
	marker := plain(64)
	marker[63] = 0xee
	for _, b := range [][]byte{d, marker} {
		if _, err := p.tx.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, 2048)
	got := false
	for {
		if err := p.rx.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
			t.Fatal(err)
		}
		n, err := p.rx.Read(buf)
		if err != nil {
			t.Fatalf("the marker never came: %v", err)
		}
		if bytes.Equal(buf[:n], marker) {
			return got
		}
		if !bytes.Equal(buf[:n], d) {
			t.Fatalf("read %d bytes that were not sent", n)
		}
		got = true
	}
}

func counts(t *testing.T, f *Filter) [NumReasons]uint64 {
	t.Helper()
	var c [NumReasons]uint64
	if err := f.Counts(&c); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestDecisions(t *testing.T) {
	f := newFilter(t, testParams)
	p := newPair(t, f)
	const live = 1<<63 | 0x1234<<32 | 7<<24 | 5 // slot 5, generation 7
	if err := f.SetSession(5, live); err != nil {
		t.Fatal(err)
	}
	rootAt := func(root uint32, n int) []byte {
		b := plain(n)
		binary.LittleEndian.PutUint32(b, root)
		return b
	}
	identifier := plain(40)
	copy(identifier[4:], "TRSX")
	cases := []struct {
		name string
		d    []byte
		drop Reason // NumReasons: passes
	}{
		{"plain", plain(40), NumReasons},
		{"plain at the limit", plain(1200), NumReasons},
		{"longest root", rootAt(36, 40), NumReasons},
		{"oversized", plain(1201), Oversized},
		{"seven bytes", plain(8)[:7], Truncated},
		{"empty", nil, Truncated},
		{"bad identifier", identifier, BadIdentifier},
		{"root in the header", rootAt(4, 40), Malformed},
		{"root misaligned", rootAt(5, 40), Malformed},
		{"root at the end", rootAt(40, 40), Malformed},
		{"root past the end", rootAt(1<<31, 40), Malformed},
		{"live session", sealed(live, 32), NumReasons},
		{"live session, too short", sealed(live, 31), Truncated},
		{"other generation", sealed(live^1<<24, 64), BadSession},
		{"other random bits", sealed(live^1<<40, 64), BadSession},
		{"empty slot", sealed(live+1, 64), BadSession},
		{"slot past the table", sealed(1<<63|0xffffff, 64), BadSession},
	}
	for _, c := range cases {
		before := counts(t, f)
		got := p.passes(t, c.d)
		after := counts(t, f)
		if want := c.drop == NumReasons; got != want {
			t.Errorf("%s: passed %v, want %v", c.name, got, want)
		}
		for r := range NumReasons {
			want := uint64(0)
			if r == c.drop {
				want = 1
			}
			if d := after[r] - before[r]; d != want {
				t.Errorf("%s: %v counted %d, want %d", c.name, r, d, want)
			}
		}
	}
	// A session that ends stops passing at once.
	if err := f.SetSession(5, 0); err != nil {
		t.Fatal(err)
	}
	if p.passes(t, sealed(live, 64)) {
		t.Error("an ended session's datagram passed")
	}
	if err := f.SetSession(64, live); err == nil {
		t.Error("SetSession accepted a slot past the table")
	}

	// Closed, it still reports what it dropped.
	open := counts(t, f)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if got := counts(t, f); got != open {
		t.Errorf("counts after Close %v, before %v", got, open)
	}
}

// Without authentication nothing is sealed: byte 7 is part of the
// identifier like any other.
func TestPlainOnly(t *testing.T) {
	p := testParams
	p.Sealed = false
	f := newFilter(t, p)
	pr := newPair(t, f)
	if pr.passes(t, sealed(1<<63|5, 64)) {
		t.Error("a sealed-looking datagram passed without authentication")
	}
	if c := counts(t, f); c[BadIdentifier] != 1 {
		t.Errorf("counts %v, want one bad identifier", c)
	}
	if !pr.passes(t, plain(300)) {
		t.Error("a plain datagram was dropped")
	}
}

func TestParamsRefused(t *testing.T) {
	for _, p := range []Params{
		{MaxDatagram: 4, Slots: 1},
		{MaxDatagram: 1200, Slots: 0},
		{MaxDatagram: 1200, Slots: 1 << 25},
		{MaxDatagram: 1200, Slots: 1, Sealed: true, Overhead: 2},
	} {
		if _, err := New(p); err == nil || errors.Is(err, ErrUnsupported) {
			t.Errorf("New(%+v) = %v, want a parameter error", p, err)
		}
	}
}
