// Command hellospray measures fresh joins under a Hello flood (issue 10's
// target): it sprays Hellos at a fixed rate from many loopback source hosts
// (127.H.x.y, one socket per host and port) and meanwhile makes fresh joins,
// each from a host of its own, counting those that complete the handshake
// within the client's 3 s timeout.
//
//	go run ./perf/hellospray --addr 127.0.0.1:7777 --rate 20000 --hosts 1000 --duration 20s --joins 40
//	go run ./perf/hellospray --rate 20000 --hosts 1 --ports 1000   # one host, many ports
//
// --payload garbage sprays datagrams that fail verification instead (a
// Hello whose root table offset points into its own file identifier), for
// issue 9's garbage-beside-players measurement.
//
// Everything is bounded: --duration (at most 5 minutes), --rate (at most
// 200,000/s), hosts x ports (at most 20,000 sockets, each with a small
// receive buffer; replies to the spray are never read). Loopback only.
package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/treasured/treasured/client"
	"github.com/treasured/treasured/schema"
)

type config struct {
	addr                netip.AddrPort
	rate                int
	hosts, ports, joins int
	duration            time.Duration
	garbage             bool // spray datagrams that fail verification, not Hellos
}

func main() {
	cfg, err := parse(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "hellospray:", err)
		os.Exit(2)
	}
	if err := run(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "hellospray:", err)
		os.Exit(1)
	}
}

func parse(args []string) (config, error) {
	fs := flag.NewFlagSet("hellospray", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:7777", "server UDP address (loopback)")
	var c config
	fs.IntVar(&c.rate, "rate", 20_000, "Hellos per second, all sockets together")
	fs.IntVar(&c.hosts, "hosts", 1000, "spraying source hosts (127.20.x.y)")
	fs.IntVar(&c.ports, "ports", 1, "sockets (source ports) per spraying host")
	fs.IntVar(&c.joins, "joins", 40, "fresh joins, spread over the duration, each from its own host (127.30.0.y)")
	fs.DurationVar(&c.duration, "duration", 20*time.Second, "how long to spray")
	payload := fs.String("payload", "hello", "what to spray: hello (valid Hellos) or garbage (datagrams that fail verification)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	switch *payload {
	case "hello":
	case "garbage":
		c.garbage = true
	default:
		return c, fmt.Errorf("--payload %q: want hello or garbage", *payload)
	}
	ap, err := netip.ParseAddrPort(*addr)
	switch {
	case err != nil || !ap.Addr().Is4() || !ap.Addr().IsLoopback():
		return c, fmt.Errorf("--addr %q: want an IPv4 loopback IP:port", *addr)
	case c.rate < 1 || c.rate > 200_000:
		return c, fmt.Errorf("--rate %d: want 1..200000", c.rate)
	case c.hosts < 1 || c.ports < 1 || c.hosts*c.ports > 20_000 || c.hosts > 65_000:
		return c, fmt.Errorf("--hosts %d x --ports %d: want at most 20000 sockets", c.hosts, c.ports)
	case c.joins < 0 || c.joins > 250:
		return c, fmt.Errorf("--joins %d: want 0..250", c.joins)
	case c.duration <= 0 || c.duration > 5*time.Minute:
		return c, fmt.Errorf("--duration %v: want up to 5m", c.duration)
	}
	c.addr = ap
	return c, nil
}

func run(c config) error {
	socks, err := spraySockets(c)
	if err != nil {
		return err
	}
	defer func() {
		for _, s := range socks {
			s.Close()
		}
	}()
	var sent int
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sent = spray(c, socks)
	}()

	took := make([]time.Duration, c.joins)
	errs := make([]error, c.joins)
	var jw sync.WaitGroup
	every := c.duration / time.Duration(c.joins+1)
	for i := range c.joins {
		time.Sleep(every)
		jw.Add(1)
		go func() {
			defer jw.Done()
			took[i], errs[i] = join(c.addr, i)
		}()
	}
	jw.Wait()
	// The spray lasts its --duration whatever the joins did: with --joins
	// 0 it used to stop at once.
	wg.Wait()

	var ok []time.Duration
	for i := range took {
		if errs[i] == nil && took[i] <= 3*time.Second {
			ok = append(ok, took[i])
		}
	}
	slices.Sort(ok)
	what := "Hellos"
	if c.garbage {
		what = "garbage datagrams"
	}
	fmt.Printf("spray: %d %s in %v from %d hosts x %d ports (%.0f/s)\n",
		sent, what, c.duration, c.hosts, c.ports, float64(sent)/c.duration.Seconds())
	fmt.Printf("fresh joins within 3 s: %d/%d", len(ok), c.joins)
	if len(ok) > 0 {
		fmt.Printf(" (p50 %v, max %v)", ok[len(ok)/2].Round(time.Millisecond), ok[len(ok)-1].Round(time.Millisecond))
	}
	fmt.Println()
	for i, e := range errs {
		if e != nil {
			fmt.Printf("  join %d: %v\n", i, e)
		}
	}
	return nil
}

// spraySockets opens hosts x ports sockets on 127.20.x.y, with small receive
// buffers: nothing reads the Challenges.
func spraySockets(c config) ([]*net.UDPConn, error) {
	var socks []*net.UDPConn
	for h := range c.hosts {
		ip := netip.AddrFrom4([4]byte{127, 20, byte(h / 250), byte(h%250 + 1)})
		for range c.ports {
			s, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, 0)))
			if err != nil {
				for _, o := range socks {
					o.Close()
				}
				return nil, fmt.Errorf("spray socket on %v: %w", ip, err)
			}
			_ = s.SetReadBuffer(4096)
			socks = append(socks, s)
		}
	}
	return socks, nil
}

// spray sends its payload round-robin over socks at c.rate until the
// duration ends, in 1 ms batches, and returns how many it sent.
func spray(c config, socks []*net.UDPConn) int {
	hello := sprayPayload(c.garbage)
	to := net.UDPAddrFromAddrPort(c.addr)
	start := time.Now()
	end := start.Add(c.duration)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	sent, k := 0, 0
	for now := range tick.C {
		if now.After(end) {
			break
		}
		due := int(now.Sub(start).Seconds() * float64(c.rate))
		for ; sent < due; sent++ {
			_, _ = socks[k].WriteToUDP(hello, to)
			k = (k + 1) % len(socks)
		}
	}
	return sent
}

// sprayPayload is the datagram sprayed: a Hello, or with garbage a Hello
// whose root table offset points into its own file identifier, which the
// server's verifier refuses.
func sprayPayload(garbage bool) []byte {
	b := append([]byte(nil), schema.NewEncoder().Hello(&schema.HelloFrame{Version: schema.Version, ClientNonce: 0x5bad})...)
	if garbage {
		b[0], b[1], b[2], b[3] = 5, 0, 0, 0
	}
	return b
}

// join handshakes as client.Dial does (Hello/Connect repeated every 200 ms,
// 3 s timeout) from its own host 127.30.0.i+1 and returns how long it took.
func join(server netip.AddrPort, i int) (time.Duration, error) {
	local := netip.AddrFrom4([4]byte{127, 30, 0, byte(i + 1)})
	conn, err := net.DialUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(local, 0)), net.UDPAddrFromAddrPort(server))
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	s := client.NewSession(client.Config{Nonce: uint64(i)<<8 | 0x77, PlayerKey: uint64(i) + 1}, client.Handlers{})
	start := time.Now()
	deadline := start.Add(3 * time.Second)
	buf := make([]byte, schema.MaxDatagram+1)
	for time.Now().Before(deadline) {
		switch s.State() {
		case client.StateConnected:
			took := time.Since(start)
			_, _ = conn.Write(s.Bye())
			return took, nil
		case client.StateRejected:
			return 0, fmt.Errorf("rejected: %v", s.RejectReason())
		case client.StateChallenged:
			_, _ = conn.Write(s.Connect())
		default:
			_, _ = conn.Write(s.Hello())
		}
		before := s.State()
		wait := time.Now().Add(200 * time.Millisecond)
		for s.State() == before && time.Now().Before(wait) {
			_ = conn.SetReadDeadline(wait)
			n, err := conn.Read(buf)
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					break
				}
				continue // ECONNREFUSED before the server is up
			}
			_, _ = s.Handle(buf[:n], 0)
		}
	}
	return 0, fmt.Errorf("no Welcome within 3 s (state %v)", s.State())
}
