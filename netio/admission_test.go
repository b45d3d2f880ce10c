package netio

import (
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/treasured/treasured/netio/udp"
	"github.com/treasured/treasured/schema"
	"github.com/treasured/treasured/schema/wire"
)

// v4 is 127.a.b.c:port, loopback addresses standing in for distinct hosts.
func v4(a, b, c byte, port uint16) Addr {
	return udp.AddrFromAddrPort(netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, a, b, c}), port))
}

// tryJoin runs a handshake from src and returns the body of the answer to
// its Connect (BodyNONE when the Hello or the Connect went unanswered).
func (r *loopRig) tryJoin(src Addr, nonce uint64) wire.Body {
	r.t.Helper()
	out := r.send(r.hello(nonce), src)
	if out == nil || r.decode(out) != wire.BodyChallenge {
		return wire.BodyNONE
	}
	var c schema.ChallengeFrame
	r.dec.ChallengeInto(&c)
	out = r.send(r.connectMsg(c, nonce, 1), src)
	if out == nil {
		return wire.BodyNONE
	}
	return r.decode(out)
}

// 512 ports of one host hold the slots of at most SessionsPerIP sessions;
// the rest get Reject ServerFull, counted, and an unrelated host still joins.
// An IPv6 /64 is one prefix the same way.
func TestSessionsPerIPCap(t *testing.T) {
	for _, tc := range []struct {
		name string
		addr func(i int) Addr
	}{
		{"ipv4", func(i int) Addr { return v4(0, 0, 5, uint16(10_000+i)) }},
		{"ipv6/64", func(i int) Addr {
			// Every one from a different interface id of one /64.
			ip := [16]byte{0xfd, 0, 0, 1, 0, 2, 0, 3, 8: 0x10, 14: byte(i >> 8), 15: byte(i)}
			return Addr{IP: ip, Port: 7000}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, rigOpts{slots: 1024, ring: 2048})
			welcomed := 0
			for i := range 512 {
				r.now += int64(time.Second) / 8 // the prefix's handshake rate
				switch body := r.tryJoin(tc.addr(i), uint64(i+1)); body {
				case wire.BodyWelcome:
					welcomed++
				case wire.BodyReject:
					if r.dec.Reject().Reason() != wire.RejectReasonServerFull {
						t.Fatalf("join %d: reject %v", i, r.dec.Reject().Reason())
					}
				default:
					t.Fatalf("join %d: answer %v", i, body)
				}
			}
			if welcomed != DefaultSessionsPerIP || r.stats.Refused[RefuseIPSessions].Load() != 512-DefaultSessionsPerIP {
				t.Fatalf("%d of 512 ports welcomed, %d refused; want %d welcomed",
					welcomed, r.stats.Refused[RefuseIPSessions].Load(), DefaultSessionsPerIP)
			}
			if body := r.tryJoin(v4(0, 0, 6, 1), 9999); body != wire.BodyWelcome {
				t.Fatalf("unrelated host: %v", body)
			}
			// A session of the full prefix ends: one more port gets in.
			r.drain()
			r.l.endSession(0, EndBye)
			if body := r.tryJoin(tc.addr(600), 10_000); body != wire.BodyWelcome {
				t.Fatalf("after a Bye: %v", body)
			}
		})
	}
}

// A Hello spray from 20,000 ports of one host at 20,000/s: the host's own
// handshake bucket absorbs it, and 100 unrelated clients handshaking during
// the spray all get their Challenge at once.
func TestHelloSprayOneHost(t *testing.T) {
	r := newRig(t, rigOpts{slots: 256})
	hello := r.hello(1)
	innocent := 0
	for i := range 20_000 {
		r.now += int64(time.Second) / 20_000
		r.send(hello, v4(0, 0, 9, uint16(1024+i%60_000)))
		if i%200 == 0 {
			k := i / 200
			out := r.send(r.hello(uint64(k+2)), v4(1, byte(k>>8), byte(k), 5000))
			if out != nil && r.decode(out) == wire.BodyChallenge {
				innocent++
			}
		}
	}
	if innocent != 100 {
		t.Fatalf("%d of 100 unrelated clients got a Challenge during the spray", innocent)
	}
	if got := r.stats.Challenges.Load() - 100; got > DefaultHSBurst+DefaultHSRate+1 {
		t.Fatalf("the spraying host got %d Challenges in 1 s, want at most %d", got, DefaultHSBurst+DefaultHSRate+1)
	}
}

// A Hello spray from many hosts (one Hello each) for 3 s, at the global
// handshake budget and at twice it, while 40 fresh clients join,
// retransmitting every 200 ms like client.Dial. The server never answers
// more Hellos than the budget. At the budget every client joins within 3 s;
// at twice it (the budget saturated) at least 39 of 40 do, the issue's
// target. Either way their Connects are answered the first time: a client
// holding a cookie has headroom above the Hellos' share of the budget.
func TestHelloSprayManyHostsAtBudget(t *testing.T) {
	for _, tc := range []struct {
		rate      int
		minJoined int
	}{{DefaultHSBudget, 40}, {2 * DefaultHSBudget, 39}} {
		t.Run(strconv.Itoa(tc.rate), func(t *testing.T) { helloSprayManyHosts(t, tc.rate, tc.minJoined) })
	}
}

func helloSprayManyHosts(t *testing.T, rate, minJoined int) {
	r := newRig(t, rigOpts{slots: 256, ring: 1024})
	const seconds = 3
	hello := r.hello(1)
	type player struct {
		first, next int64 // when it sent its first datagram, its next
		ch          schema.ChallengeFrame
		state       int // 0 Hello, 1 Connect, 2 joined
		connects    int
		took        int64
	}
	players := make([]player, 40)
	start := r.now
	for i := range players {
		players[i].next = start + int64(i)*int64(50*time.Millisecond) // arrive over 2 s
	}
	for i := range players {
		players[i].first = players[i].next
	}
	// Spray arrivals are uniformly jittered around the mean rate: evenly
	// spaced ones would leave the budget in lockstep with them.
	rng := rand.New(rand.NewPCG(1, 2))
	step := int64(time.Second) / int64(rate)
	sprayed, answered := 0, uint64(0)
	for r.now < start+seconds*int64(time.Second)+int64(time.Second) {
		r.now += 1 + rng.Int64N(2*step)
		if r.now < start+seconds*int64(time.Second) {
			before := r.stats.Challenges.Load()
			r.send(hello, v4(byte(10+sprayed>>16), byte(sprayed>>8), byte(sprayed), 1000))
			answered += r.stats.Challenges.Load() - before
			sprayed++
		}
		for i := range players {
			p := &players[i]
			if p.state == 2 || r.now < p.next {
				continue
			}
			src := v4(3, 0, byte(i), 4000)
			p.next = r.now + int64(200*time.Millisecond)
			switch p.state {
			case 0:
				if out := r.send(r.hello(uint64(100+i)), src); out != nil && r.decode(out) == wire.BodyChallenge {
					r.dec.ChallengeInto(&p.ch)
					p.state = 1
					p.next = r.now
				}
			case 1:
				p.connects++
				if out := r.send(r.connectMsg(p.ch, uint64(i+1), 1), src); out != nil && r.decode(out) == wire.BodyWelcome {
					p.state = 2
					p.took = r.now - p.first
				}
			}
		}
		r.drain()
	}
	joined, retried := 0, 0
	var slowest time.Duration
	for i := range players {
		if players[i].state == 2 && players[i].took <= int64(3*time.Second) {
			joined++
			slowest = max(slowest, time.Duration(players[i].took))
		}
		if players[i].connects > 1 {
			retried++
		}
	}
	budget := uint64(seconds*DefaultHSBudget + DefaultHSBudget/10)
	t.Logf("spray: %d Hellos from %d hosts, %d answered (budget %d); %d/40 joined within 3 s (slowest %v), %d Connects retried",
		sprayed, sprayed, answered, budget, joined, slowest, retried)
	if answered > budget {
		t.Fatalf("answered %d spray Hellos in %d s, over the budget %d", answered, seconds, budget)
	}
	if joined < minJoined || retried != 0 {
		t.Fatalf("%d/40 joined within 3 s (want >= %d), %d needed a second Connect", joined, minJoined, retried)
	}
}

// TestServerSessionsPerIP: the same cap over real loopback sockets and two
// loops. SO_REUSEPORT spreads one host's ports over both loops, so only a
// count shared by the loops can hold it: 20 ports of 127.0.0.77 get
// SessionsPerIP (8) sessions and Reject ServerFull for the rest, and another
// host, 127.0.0.78, still joins.
func TestServerSessionsPerIP(t *testing.T) { forEachBackend(t, testServerSessionsPerIP) }

func testServerSessionsPerIP(t *testing.T, bc backendCase) {
	w, _ := newSmallWorld(t)
	const perIP = 8
	srv := startServer(t, bc.config(Config{Loops: 2, SessionsPerIP: perIP}), w)
	defer shutdown(t, srv)
	join := func(host netip.Addr, nonce uint64) error {
		c, err := newTestClientFrom(srv.Addr(), host, nonce)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.close) // the session stays live until the test ends
		// Generous: a loaded 2-core box, and nothing here is timed.
		return c.handshake(0, nonce, time.Now().Add(20*time.Second))
	}
	host := netip.MustParseAddr("127.0.0.77")
	welcomed, full := 0, 0
	for i := range 20 {
		switch err := join(host, uint64(i+1)); {
		case err == nil:
			welcomed++
		case strings.Contains(err.Error(), "ServerFull"):
			full++
		default:
			t.Fatalf("port %d: %v", i, err)
		}
	}
	if welcomed != perIP || full != 20-perIP {
		t.Fatalf("20 ports of one host: %d welcomed, %d ServerFull; want %d and %d", welcomed, full, perIP, 20-perIP)
	}
	if err := join(netip.MustParseAddr("127.0.0.78"), 99); err != nil {
		t.Fatalf("another host: %v", err)
	}
	var refused uint64
	for i := range srv.LoopStats {
		refused += srv.LoopStats[i].Refused[RefuseIPSessions].Load()
	}
	if refused != 20-perIP {
		t.Fatalf("refusals counted %d, want %d", refused, 20-perIP)
	}
}
