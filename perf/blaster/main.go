// Command blaster measures this machine's UDP loopback ceiling with the
// same system calls treasured's fan-out uses: sendmmsg batches out,
// recvmmsg batches in. An echo thread reflects every datagram back to its
// sender; a client sends as fast as the kernel takes datagrams and counts
// what comes back. The echoed rate is an upper bound for any server on this
// machine that receives and answers one datagram per datagram, and the
// sent rate one for a server that only sends (the snapshot fan-out).
//
//	blaster -sizes 1200,64 -duration 3s -echo-cpu 0 -client-cpu 1
//
// With -mode oneway the echo thread only counts (receive ceiling).
package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

type config struct {
	sizes     []int
	duration  time.Duration
	batch     int
	echoCPU   int
	clientCPU int
	oneway    bool
	json      bool
}

// Result is one size's measurement.
type Result struct {
	Size       int     `json:"size"`
	Seconds    float64 `json:"seconds"`
	Sent       uint64  `json:"sent"`
	Echoed     uint64  `json:"echoed"`   // received back by the client (echo mode)
	Received   uint64  `json:"received"` // received by the echo thread
	SentPerSec float64 `json:"sent_per_s"`
	RecvPerSec float64 `json:"received_per_s"`
	EchoPerSec float64 `json:"echoed_per_s"`
	SendCalls  uint64  `json:"sendmmsg_calls"`
	// Totals after the queues drained, for consistency checks.
	TotalSent, TotalReceived, TotalEchoed uint64
	RecvCalls                             uint64 `json:"recvmmsg_calls"`
}

func parseSizes(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 65507 {
			return nil, fmt.Errorf("-sizes %q: each size must be 1..65507 bytes", s)
		}
		out = append(out, n)
	}
	return out, nil
}

func main() {
	var c config
	sizes := flag.String("sizes", "1200,64", "datagram sizes to measure, comma separated")
	mode := flag.String("mode", "echo", "echo (reflect every datagram) or oneway (count only)")
	flag.DurationVar(&c.duration, "duration", 3*time.Second, "measurement per size")
	flag.IntVar(&c.batch, "batch", 64, "datagrams per sendmmsg/recvmmsg call")
	flag.IntVar(&c.echoCPU, "echo-cpu", -1, "pin the echo thread to this CPU (-1: no pinning)")
	flag.IntVar(&c.clientCPU, "client-cpu", -1, "pin the client's threads to this CPU (-1: no pinning)")
	flag.BoolVar(&c.json, "json", false, "one JSON object per size")
	flag.Parse()
	var err error
	if c.sizes, err = parseSizes(*sizes); err != nil {
		fmt.Fprintln(os.Stderr, "blaster:", err)
		os.Exit(2)
	}
	switch {
	case *mode != "echo" && *mode != "oneway":
		fmt.Fprintf(os.Stderr, "blaster: -mode %q: want echo or oneway\n", *mode)
		os.Exit(2)
	case c.duration <= 0 || c.duration > time.Hour:
		fmt.Fprintf(os.Stderr, "blaster: -duration %v: want (0, 1h]\n", c.duration)
		os.Exit(2)
	case c.batch < 1 || c.batch > 1024:
		fmt.Fprintf(os.Stderr, "blaster: -batch %d: want 1..1024\n", c.batch)
		os.Exit(2)
	case flag.NArg() > 0:
		fmt.Fprintf(os.Stderr, "blaster: unexpected argument %q\n", flag.Arg(0))
		os.Exit(2)
	}
	c.oneway = *mode == "oneway"
	for _, size := range c.sizes {
		r, err := blast(&c, size)
		if err != nil {
			fmt.Fprintln(os.Stderr, "blaster:", err)
			os.Exit(1)
		}
		if c.json {
			fmt.Printf(`{"size":%d,"seconds":%.3f,"sent_per_s":%.0f,"received_per_s":%.0f,"echoed_per_s":%.0f,"sendmmsg_calls":%d,"recvmmsg_calls":%d,"mode":%q}`+"\n",
				r.Size, r.Seconds, r.SentPerSec, r.RecvPerSec, r.EchoPerSec, r.SendCalls, r.RecvCalls, *mode)
			continue
		}
		fmt.Printf("%5d B: sent %9.0f/s  received by echo %9.0f/s (%6.1f MB/s, %.1f%% of sent)", r.Size, r.SentPerSec, r.RecvPerSec,
			r.RecvPerSec*float64(r.Size)/1e6, 100*r.RecvPerSec/max(r.SentPerSec, 1))
		if !c.oneway {
			fmt.Printf("  echoed back %9.0f/s", r.EchoPerSec)
		}
		fmt.Printf("  [batch %d, %.1f datagrams/sendmmsg]\n", c.batch, float64(r.Sent)/float64(max(r.SendCalls, 1)))
	}
}
