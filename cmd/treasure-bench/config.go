package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/treasured/treasured/netio/auth"
)

// Config is everything a run is told on its command line, normalised.
type Config struct {
	// TokenKey is the connect-token key file the server got (--token-key):
	// the generator issues each player its own token with it, as a login
	// backend would. Empty: the server runs without authentication.
	TokenKey string
	tokenKey *auth.Key // loaded from TokenKey by ParseArgs

	Addr           string
	Admin          string // base URL of the server's admin port, "" = none
	Players        int
	Rate           float64 // inputs/s per player
	PingRate       float64 // pings/s per player
	Duration       time.Duration
	Warmup         time.Duration
	Drain          time.Duration
	Mix            Mix
	Loss           float64
	Dup            float64
	Reorder        float64
	Seed           uint64
	Workers        int
	Region         int // -1: players spread over regions round-robin
	Regions        int
	ConnectRate    float64
	ConnectTimeout time.Duration
	MaxLag         time.Duration
	JSON           bool
	Plot           string
	Strict         bool
	Progress       string // auto, on, off
	Quiet          bool
	Latency        bool   // the full text report with the spectra on stdout
	Results        string // directory for the full report, JSON and plot
	AuditLoot      bool
	Label          string
	CPUProfile     string

	// PlayersPerSocket is how many players share one generator socket,
	// each with its own source address from SrcRange; 1 is a socket per
	// player, 0 picks (see SocketPlan).
	PlayersPerSocket int
	SrcRange         netip.Prefix
	// SendQuantum is the least time between two passes over the due sends
	// when nothing else wakes a worker: sends are batched that long at most
	// (and their send lag grows by as much) instead of a wake-up each.
	SendQuantum time.Duration
	// BusyPoll has the workers poll their sockets without sleeping
	// during the run: on loopback a server's send then never has to wake
	// the generator (a scheduler wake-up and an interprocessor interrupt
	// charged to the server's core, which a remote client never costs
	// it). The generator's own CPU then reads 100 % of its cores.
	BusyPoll bool
}

// Mix is the weights of what a player tries to do with each input.
type Mix struct {
	Move, Open, Pickup int
}

func (m Mix) String() string {
	return fmt.Sprintf("move=%d,open=%d,pickup=%d", m.Move, m.Open, m.Pickup)
}

// ParseMix reads "move=6,open=3,pickup=1" (any order, missing names 0).
func ParseMix(s string) (Mix, error) {
	var m Mix
	seen := map[string]bool{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, val, ok := strings.Cut(part, "=")
		if !ok {
			return m, fmt.Errorf("mix %q: want name=weight, got %q", s, part)
		}
		w, err := strconv.Atoi(strings.TrimSpace(val))
		if err != nil || w < 0 || w > 1_000_000 {
			return m, fmt.Errorf("mix %q: weight of %s must be an integer in [0, 1000000]", s, name)
		}
		name = strings.TrimSpace(name)
		if seen[name] {
			return m, fmt.Errorf("mix %q: %s given twice", s, name)
		}
		seen[name] = true
		switch name {
		case "move":
			m.Move = w
		case "open":
			m.Open = w
		case "pickup":
			m.Pickup = w
		default:
			return m, fmt.Errorf("mix %q: unknown action %q (move, open, pickup)", s, name)
		}
	}
	if m.Move+m.Open+m.Pickup == 0 {
		return m, fmt.Errorf("mix %q: all weights are 0", s)
	}
	return m, nil
}

// errHelp is returned for -h: usage was printed, exit 0.
var errHelp = errors.New("help requested")

// ParseArgs parses the command line. Errors are meant for the user as they
// are (exit status 2).
func ParseArgs(args []string, out io.Writer) (*Config, error) {
	c := &Config{}
	fs := flag.NewFlagSet("treasure-bench", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprintf(out, "usage: treasure-bench [flags]\n\n"+
			"wrk2-style open-loop load generator for treasured: every send is scheduled in\n"+
			"advance and latency is measured from the scheduled time (coordinated omission\n"+
			"corrected) as well as from the actual send time.\n\nflags:\n")
		fs.PrintDefaults()
	}
	mix := "move=6,open=3,pickup=1"
	fs.StringVar(&c.Addr, "addr", "127.0.0.1:7777", "server UDP address")
	fs.StringVar(&c.Admin, "admin", "http://127.0.0.1:7778", "server admin base URL for /metrics (\"\" to skip)")
	fs.IntVar(&c.Players, "players", 1000, "simulated players (see --players-per-socket)")
	fs.Float64Var(&c.Rate, "rate", 20, "inputs per second per player")
	fs.Float64Var(&c.PingRate, "ping-rate", 1, "pings per second per player (0 = none)")
	fs.DurationVar(&c.Duration, "duration", 10*time.Second, "measured duration")
	fs.DurationVar(&c.Warmup, "warmup", 3*time.Second, "load before measuring (also learns the server's tick clock)")
	fs.DurationVar(&c.Drain, "drain", time.Second, "after the last send, keep receiving and acknowledging this long")
	fs.StringVar(&mix, "mix", mix, "action weights: move=N,open=N,pickup=N")
	fs.Float64Var(&c.Loss, "loss", 0, "injected loss probability, each direction (e.g. 0.22)")
	fs.Float64Var(&c.Dup, "dup", 0, "injected duplication probability, each direction")
	fs.Float64Var(&c.Reorder, "reorder", 0, "injected reordering probability, each direction")
	fs.Uint64Var(&c.Seed, "seed", 1, "seed of every random choice (phases, actions, impairment)")
	fs.IntVar(&c.Workers, "workers", runtime.NumCPU(), "event-loop goroutines driving the players (default: CPUs in this process's affinity mask)")
	fs.IntVar(&c.Region, "region", -1, "region every player asks for (-1 = round-robin over --regions)")
	fs.IntVar(&c.Regions, "regions", 3, "number of regions for round-robin")
	fs.Float64Var(&c.ConnectRate, "connect-rate", 2000, "handshakes started per second")
	fs.DurationVar(&c.ConnectTimeout, "connect-timeout", 5*time.Second, "a player not connected after this long has failed; no player connected means the server is not answering")
	fs.DurationVar(&c.MaxLag, "max-lag", 10*time.Millisecond, "send lag p99 above this marks the run INVALID (the generator fell behind)")
	fs.BoolVar(&c.JSON, "json", false, "print the report as JSON")
	fs.StringVar(&c.Plot, "plot", "", "write a percentile plot (PNG) to this file")
	fs.BoolVar(&c.Strict, "strict", false, "exit 3 when the run is INVALID")
	fs.StringVar(&c.Progress, "progress", "auto", "progress line on stderr: auto (runs > 5 s), on, off")
	fs.BoolVar(&c.Quiet, "quiet", false, "the full text report without the percentile spectra (instead of the one-screen summary)")
	fs.BoolVar(&c.Latency, "latency", false, "the full text report with wrk2's detailed percentile spectra (instead of the one-screen summary)")
	fs.StringVar(&c.Results, "results", "", "write the full report (report.txt), report.json and latency.png into this directory and name them in the summary")
	fs.BoolVar(&c.AuditLoot, "audit-loot", true, "check independently of the client library that no loot event is shown twice (memory: ~100 B per shown event)")
	fs.StringVar(&c.Label, "label", "", "free text copied into the report (e.g. which server)")
	fs.StringVar(&c.CPUProfile, "cpuprofile", "", "write the generator's own CPU profile over the measured window to this file")
	fs.IntVar(&c.PlayersPerSocket, "players-per-socket", 0, fmt.Sprintf("players sharing one socket, each sending from its own address of --src-range (1 = a socket per player, as behind distinct NATs; 0 = %d for an IPv4 loopback server, else 1)", defaultPlayersPerSocket))
	fs.DurationVar(&c.SendQuantum, "send-quantum", 200*time.Microsecond, "least time between two passes over the due sends: wake-ups are batched this long at most (0 = a wake-up per send)")
	fs.BoolVar(&c.BusyPoll, "busy-poll", false, "poll the sockets without sleeping once the run is planned, so that on loopback the server never spends its core waking the generator (the generator then uses all of its cores)")
	fs.StringVar(&c.TokenKey, "token-key", "", "connect-token key `file` of the server (the bench issues every player a token with it); empty: the server runs with --insecure-no-auth")
	srcRange := fs.String("src-range", "127.1.0.0/16", "IPv4 addresses the players of shared sockets send from, one per player; must be local (loopback: 127.0.0.0/8)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, errHelp
		}
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (all options are flags)", fs.Arg(0))
	}
	m, err := ParseMix(mix)
	if err != nil {
		return nil, err
	}
	c.Mix = m
	if c.SrcRange, err = netip.ParsePrefix(*srcRange); err != nil || !c.SrcRange.Addr().Is4() {
		return nil, fmt.Errorf("--src-range %q: want an IPv4 prefix like 127.1.0.0/16", *srcRange)
	}
	c.SrcRange = c.SrcRange.Masked()
	if c.TokenKey != "" {
		if c.tokenKey, _, err = auth.LoadKeyFile(c.TokenKey); err != nil {
			return nil, fmt.Errorf("--token-key: %w", err)
		}
	}
	return c, c.validate()
}

func (c *Config) validate() error {
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("--addr %q: %v", c.Addr, err)
	}
	if c.Admin != "" {
		u, err := url.Parse(c.Admin)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("--admin %q: want a URL like http://127.0.0.1:7778", c.Admin)
		}
	}
	prob := func(name string, p float64) error {
		if !(p >= 0 && p < 1) {
			return fmt.Errorf("--%s %v: want a probability in [0, 1)", name, p)
		}
		return nil
	}
	switch {
	case c.Players < 1 || c.Players > 1_000_000:
		return fmt.Errorf("--players %d: want 1..1000000", c.Players)
	case !(c.Rate > 0 && c.Rate <= 1000):
		return fmt.Errorf("--rate %v: want inputs/s per player in (0, 1000]", c.Rate)
	case !(c.PingRate >= 0 && c.PingRate <= 1000):
		return fmt.Errorf("--ping-rate %v: want pings/s per player in [0, 1000]", c.PingRate)
	case c.Duration <= 0:
		return fmt.Errorf("--duration %v: must be > 0", c.Duration)
	case c.Warmup < 0 || c.Drain < 0:
		return errors.New("--warmup and --drain must be >= 0")
	case c.Workers < 1 || c.Workers > 1024:
		return fmt.Errorf("--workers %d: want 1..1024", c.Workers)
	case c.Region < -1 || c.Region > 255:
		return fmt.Errorf("--region %d: want -1 or 0..255", c.Region)
	case c.Regions < 1 || c.Regions > 256:
		return fmt.Errorf("--regions %d: want 1..256", c.Regions)
	case !(c.ConnectRate > 0):
		return fmt.Errorf("--connect-rate %v: must be > 0", c.ConnectRate)
	case c.ConnectTimeout <= 0:
		return fmt.Errorf("--connect-timeout %v: must be > 0", c.ConnectTimeout)
	case c.MaxLag <= 0:
		return fmt.Errorf("--max-lag %v: must be > 0", c.MaxLag)
	case c.SendQuantum < 0 || c.SendQuantum >= c.MaxLag:
		return fmt.Errorf("--send-quantum %v: want >= 0 and below --max-lag %v", c.SendQuantum, c.MaxLag)
	case c.PlayersPerSocket < 0 || c.PlayersPerSocket > 65536:
		return fmt.Errorf("--players-per-socket %d: want 0 (pick) or 1..65536", c.PlayersPerSocket)
	case c.Progress != "auto" && c.Progress != "on" && c.Progress != "off":
		return fmt.Errorf("--progress %q: want auto, on or off", c.Progress)
	}
	if err := prob("loss", c.Loss); err != nil {
		return err
	}
	if err := prob("dup", c.Dup); err != nil {
		return err
	}
	if err := prob("reorder", c.Reorder); err != nil {
		return err
	}
	if c.Workers > c.Players {
		c.Workers = c.Players
	}
	return nil
}

// defaultPlayersPerSocket is what --players-per-socket 0 means for an IPv4
// loopback server: the fastest setting measured (BENCHMARKS.md, generator
// ceiling).
const defaultPlayersPerSocket = 256

// SocketPlan decides how many players share a socket for a run against
// server, and checks that the source addresses can work: a shared socket
// sends from addresses of --src-range, which must be local to this host
// (isLocal tells). On loopback all of 127.0.0.0/8 is, so an IPv4 loopback
// server shares sockets by default; elsewhere the range must be configured
// on an interface (e.g. ip route add local 10.89.0.0/16 dev lo) and
// --players-per-socket given explicitly.
func (c *Config) SocketPlan(server netip.AddrPort, isLocal func(netip.Addr) bool) (int, error) {
	n := c.PlayersPerSocket
	loopback := server.Addr().Is4() && server.Addr().IsLoopback()
	if n == 0 {
		if !loopback {
			return 1, nil
		}
		n = defaultPlayersPerSocket
	}
	if n == 1 {
		return 1, nil
	}
	if !server.Addr().Is4() {
		return 0, fmt.Errorf("--players-per-socket %d needs an IPv4 server (players send from --src-range %v); use --players-per-socket 1 (a socket per player)", n, c.SrcRange)
	}
	loop := netip.MustParsePrefix("127.0.0.0/8")
	inLoop := loop.Contains(c.SrcRange.Addr()) && c.SrcRange.Bits() >= loop.Bits()
	if loopback && !inLoop {
		return 0, fmt.Errorf("--src-range %v: a loopback server needs source addresses inside 127.0.0.0/8", c.SrcRange)
	}
	if !loopback && (inLoop || !isLocal(c.PlayerAddr(0)) || !isLocal(c.PlayerAddr(c.Players-1))) {
		return 0, fmt.Errorf("--players-per-socket %d with the server %v: players sharing a socket send from their own addresses "+
			"of --src-range %v, which must be configured on an interface of this host (e.g. ip route add local %v dev lo) "+
			"and routed from the server; they are not. Use --players-per-socket 1 (a socket per player)", n, server, c.SrcRange, c.SrcRange)
	}
	if size := uint64(1) << (32 - c.SrcRange.Bits()); uint64(c.Players) > size-2 {
		return 0, fmt.Errorf("--src-range %v holds %d player addresses, --players is %d: widen it (e.g. 127.64.0.0/10)", c.SrcRange, size-2, c.Players)
	}
	if c.SrcRange.Contains(server.Addr()) {
		return 0, fmt.Errorf("--src-range %v contains the server's address %v: choose a range without it", c.SrcRange, server.Addr())
	}
	return n, nil
}

// PlayerAddr is the source address of player g in a shared-socket run:
// the range's addresses in order, skipping its network address (.0).
func (c *Config) PlayerAddr(g int) netip.Addr {
	a := c.SrcRange.Addr().As4()
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	v += uint32(g) + 1
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}
