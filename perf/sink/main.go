// Command sink is the least a server can do for treasure-bench: it completes
// the handshake, acknowledges every action exactly once, answers Pings, and
// at every tick sends each player one snapshot of a fixed size. It has no
// game, no engine and no deltas, so a load run against it measures the
// generator itself: the player count at which the generator's send lag
// passes 1 ms is the generator's ceiling on its core.
//
//	sink --listen 127.0.0.1:7777 --admin 127.0.0.1:7778 --snapshot-bytes 256
//
// The default size is about treasured's mean snapshot (delta snapshots:
// 229 B at 1,000 players, treasured_sent_bytes_total{kind="fanout"} over
// treasured_datagrams_sent_total{kind="snapshot"}); --snapshot-bytes 1200
// is the largest a snapshot may be.
//
// With --token-key FILE (the key treasure-bench gets too) the sink speaks
// the authenticated protocol as treasured does: the Connect's token is
// verified (its server address must be --listen) and admitted once, and
// every datagram after it is sealed and opened with the token's session
// keys; the snapshot size then counts the 32 bytes of authentication.
// Without it, the sink answers a Connect without a token, as treasured
// --insecure-no-auth.
//
// One goroutine does everything, with batched I/O (netio/udp): recvmmsg
// for what arrives, sendmmsg for replies and each tick's snapshots. It
// exports treasured's metric names (ticks, overruns, tick work and jitter,
// the tick epoch and period, inputs, pongs, snapshots sent, drops) on
// /metrics, with /debug/pprof beside it.
package main

import (
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/treasured/treasured/netio/auth"
	"github.com/treasured/treasured/perf/internal/common"
	"github.com/treasured/treasured/schema"
)

type config struct {
	listen        netip.AddrPort
	admin         string
	tick          time.Duration
	snapshotBytes int
	regions       int
	maxPlayers    int
	tokenKey      *auth.Key // nil: no authentication
}

func parseFlags(args []string) (*config, error) {
	fs := flag.NewFlagSet("sink", flag.ContinueOnError)
	c := &config{}
	listen := fs.String("listen", "127.0.0.1:7777", "UDP `address` for players")
	fs.StringVar(&c.admin, "admin", "127.0.0.1:7778", "TCP `address` for /metrics and /debug/pprof (\"\" for none)")
	fs.DurationVar(&c.tick, "tick", 50*time.Millisecond, "tick period")
	fs.IntVar(&c.snapshotBytes, "snapshot-bytes", 256, fmt.Sprintf("size of every snapshot datagram, filled with chests (at most %d)", schema.MaxDatagram))
	fs.IntVar(&c.regions, "regions", 3, "regions a Connect may ask for; others are rejected (BadRegion) as treasured does")
	fs.IntVar(&c.maxPlayers, "max-players", 100_000, "sessions at most; further Connects are rejected (ServerFull)")
	tokenKey := fs.String("token-key", "", "connect-token key `file`: require tokens and authenticate every datagram, as treasured does (empty: no authentication)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	ua, err := net.ResolveUDPAddr("udp", *listen)
	if err != nil {
		return nil, fmt.Errorf("--listen %q: %w", *listen, err)
	}
	ap := ua.AddrPort()
	c.listen = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	if *tokenKey != "" {
		if c.tokenKey, _, err = auth.LoadKeyFile(*tokenKey); err != nil {
			return nil, fmt.Errorf("--token-key: %w", err)
		}
	}
	min := schema.SnapshotSize(0, 0, 0, 0)
	switch {
	case c.tick < time.Millisecond || c.tick > time.Second:
		return nil, fmt.Errorf("--tick %v: want 1ms..1s", c.tick)
	case c.snapshotBytes < min || c.snapshotBytes > schema.MaxDatagram:
		return nil, fmt.Errorf("--snapshot-bytes %d: want %d..%d", c.snapshotBytes, min, schema.MaxDatagram)
	case c.tokenKey != nil && c.snapshotBytes < min+auth.Overhead:
		return nil, fmt.Errorf("--snapshot-bytes %d: with --token-key want at least %d (the 32 bytes of authentication count)", c.snapshotBytes, min+auth.Overhead)
	case c.regions < 1 || c.regions > 256:
		return nil, fmt.Errorf("--regions %d: want 1..256", c.regions)
	case c.maxPlayers < 1 || c.maxPlayers > 1_000_000:
		return nil, fmt.Errorf("--max-players %d: want 1..1000000", c.maxPlayers)
	}
	return c, nil
}

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "sink: %v\n", err)
		os.Exit(2)
	}
	s, err := newSink(cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "sink: %v\n", err)
		os.Exit(2)
	}
	if cfg.admin != "" {
		if err := common.ServeAdmin("sink", cfg.admin, s.m); err != nil {
			fmt.Fprintf(os.Stderr, "sink: %v\n", err)
			os.Exit(2)
		}
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() { <-sig; s.Stop() }()
	log.Printf("sink listening on %v, admin %s, %v ticks, %d-byte snapshots", s.conn.LocalAddr(), cfg.admin, cfg.tick, cfg.snapshotBytes)
	if err := s.Run(); err != nil {
		log.Fatalf("sink: %v", err)
	}
}
