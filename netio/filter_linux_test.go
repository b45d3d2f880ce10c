package netio

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"math/rand/v2"
	"net"
	"testing"

	"github.com/treasured/treasured/netio/auth"
	"github.com/treasured/treasured/netio/sockfilter"
	"github.com/treasured/treasured/schema"
)

// kernelDrops is what the server's filter dropped, by our reasons.
func (s *Server) kernelDrops() (drops [NumDropReasons]uint64, total uint64) {
	s.filterDrops(&drops)
	for _, v := range drops {
		total += v
	}
	return drops, total
}

func (s *Server) datagramsIn() (n uint64) {
	for i := range s.LoopStats {
		n += s.LoopStats[i].DatagramsIn.Load()
	}
	return n
}

// requireFilter skips where this kernel or process cannot load the filter
// (the server then runs without it, as every other test covers).
func requireFilter(t *testing.T) {
	t.Helper()
	f, err := sockfilter.New(sockfilter.Params{MaxDatagram: schema.MaxDatagram, Slots: 1})
	if err != nil {
		t.Skipf("eBPF socket filters unavailable here: %v", err)
	}
	f.Close()
}

// garbageCorpus is n datagrams a server drops, each for its first-found
// reason: random bytes, valid plain messages with their header or length
// broken, and sealed-looking datagrams of sessions that do not exist.
// Anything the decoder accepts is left out, so that nothing is answered.
func garbageCorpus(n int, seed uint64) [][]byte {
	rng := rand.New(rand.NewPCG(seed, 1))
	enc := schema.NewEncoder()
	var dec schema.Decoder
	valid := [][]byte{
		append([]byte(nil), enc.Hello(&schema.HelloFrame{Version: schema.Version, ClientNonce: 9})...),
		append([]byte(nil), enc.Ping(&schema.PingFrame{SessionID: 1 << 63, T: 5})...),
		append([]byte(nil), enc.Input(&schema.InputFrame{SessionID: 1 << 63, AckTick: 3})...),
		append([]byte(nil), enc.Bye(&schema.ByeFrame{SessionID: 1 << 63})...),
	}
	out := make([][]byte, 0, n)
	for len(out) < n {
		var d []byte
		switch rng.IntN(4) {
		case 0: // random bytes
			d = make([]byte, rng.IntN(schema.MaxDatagram+100))
			for i := range d {
				d[i] = byte(rng.Uint32())
			}
		case 1: // a valid message with a header byte changed
			d = append([]byte(nil), valid[rng.IntN(len(valid))]...)
			d[rng.IntN(8)] = byte(rng.Uint32())
		case 2: // a valid message cut short or padded past the limit
			v := valid[rng.IntN(len(valid))]
			if rng.IntN(2) == 0 {
				d = append([]byte(nil), v[:rng.IntN(len(v))]...)
			} else {
				d = append(append([]byte(nil), v...), make([]byte, schema.MaxDatagram+1-len(v)+rng.IntN(50))...)
			}
		case 3: // sealed-looking: a session id with bit 63 set
			d = make([]byte, rng.IntN(80))
			for i := range d {
				d[i] = byte(rng.Uint32())
			}
			if len(d) >= 8 {
				d[7] |= 0x80
			}
		}
		if _, err := dec.Decode(d); err == nil && (len(d) < 8 || d[7] < 0x80) {
			continue
		}
		out = append(out, d)
	}
	return out
}

// The filter drops only what the loops would, and counts it under the
// loops' reason: the same garbage sent to a server with the filter and to
// one without gives the same drops by reason, with and without
// authentication, for every backend (gnet's sockets get it at their first
// datagram).
func TestKernelFilterAgreesWithLoops(t *testing.T) {
	requireFilter(t)
	corpus := garbageCorpus(3000, 0x5eed)
	key, err := auth.GenerateKey(1, crand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, sealed := range []bool{false, true} {
		name := "plain"
		if sealed {
			name = "sealed"
		}
		t.Run(name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, bc backendCase) {
				var got [2][NumDropReasons]uint64
				for i, mode := range []FilterMode{FilterOn, FilterOff} {
					w, _ := newSmallWorld(t)
					cfg := Config{Loops: 1, KernelFilter: mode}
					if sealed {
						cfg.TokenKey = key
					}
					srv := startServer(t, bc.config(cfg), w)
					sendAll(t, srv, corpus)
					for r := range got[i] {
						got[i][r] = srv.dropsOf(DropReason(r))
					}
					kernel, total := srv.kernelDrops()
					switch {
					case mode == FilterOn && total < uint64(len(corpus))/2:
						t.Errorf("the filter dropped %d of %d garbage datagrams (%v)", total, len(corpus), kernel)
					case mode == FilterOff && total != 0:
						t.Errorf("a server without the filter counted kernel drops: %v", kernel)
					}
					srv.Shutdown(context.Background())
				}
				if got[0] != got[1] {
					for r := range got[0] {
						if got[0][r] != got[1][r] {
							t.Errorf("%v: %d with the filter, %d without", DropReason(r), got[0][r], got[1][r])
						}
					}
				}
			})
		})
	}
}

// sendAll sends the corpus to srv and waits until every datagram was
// either dropped by the kernel filter or read by a loop.
func sendAll(t *testing.T, srv *Server, corpus [][]byte) {
	t.Helper()
	conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(srv.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	want := uint64(len(corpus))
	for i, d := range corpus {
		if _, err := conn.Write(d); err != nil {
			t.Fatal(err)
		}
		if i%256 == 255 {
			// Pace, so that the server's receive buffer never fills.
			waitFor(t, "the server to take the corpus", func() bool {
				_, k := srv.kernelDrops()
				return k+srv.datagramsIn() > uint64(i)-128
			})
		}
	}
	waitFor(t, "the server to take the corpus", func() bool {
		_, k := srv.kernelDrops()
		return k+srv.datagramsIn() == want
	})
}

// A session's datagrams pass the filter while it lives and are dropped in
// the kernel once it ends: a forged datagram with the live session's id
// reaches the loop (and fails its tag there), the same datagram after the
// Bye never reaches it.
func TestKernelFilterFollowsSessions(t *testing.T) {
	requireFilter(t)
	forEachBackend(t, func(t *testing.T, bc backendCase) {
		key, err := auth.GenerateKey(1, crand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		w, _ := newSmallWorld(t)
		srv := startServer(t, bc.config(Config{Loops: 1, TokenKey: key, KernelFilter: FilterOn}), w)
		defer srv.Shutdown(context.Background())
		c := loggedInClient(t, srv, 0x77, 42)
		forged := make([]byte, 64)
		binary.LittleEndian.PutUint64(forged, c.w.SessionID)
		binary.LittleEndian.PutUint64(forged[8:], 1<<40)

		if _, err := c.conn.Write(forged); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the forged datagram to reach the loop", func() bool {
			return srv.dropsOf(DropForged) == 1
		})
		if k, _ := srv.kernelDrops(); k[DropBadSession] != 0 {
			t.Fatalf("the kernel dropped a live session's datagram: %v", k)
		}

		if _, err := c.conn.Write(c.s.Bye()); err != nil { // Bye is sealed already
			t.Fatal(err)
		}
		waitFor(t, "the Bye to end the session", func() bool { return srv.Sessions() == 0 })
		in := srv.datagramsIn()
		if _, err := c.conn.Write(forged); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the kernel to drop the ended session's datagram", func() bool {
			k, _ := srv.kernelDrops()
			return k[DropBadSession] == 1
		})
		if got := srv.datagramsIn(); got != in {
			t.Errorf("the loop read %d datagrams after the session ended", got-in)
		}
	})
}

func TestFilterModeParse(t *testing.T) {
	for _, s := range []string{"auto", "on", "off"} {
		m, err := ParseFilterMode(s)
		if err != nil || m.String() != s {
			t.Errorf("ParseFilterMode(%q) = %v, %v", s, m, err)
		}
	}
	if _, err := ParseFilterMode("yes"); err == nil {
		t.Error("ParseFilterMode accepted yes")
	}
	w, _ := newSmallWorld(t)
	if _, err := New(Config{Addr: "127.0.0.1:0", KernelFilter: 9}, w); err == nil {
		t.Error("New accepted kernel filter mode 9")
	}
}
