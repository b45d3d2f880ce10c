// Command treasure-bench is a wrk2-style, open-loop load generator for
// treasured.
//
// It simulates --players players, each with its own source address (many
// players share a socket, see --players-per-socket), that handshake, then send --rate Inputs and --ping-rate Pings per second on a
// schedule fixed before the run, whatever the server does. Latency is
// recorded from each send's scheduled time (coordinated omission corrected)
// and from its actual send time (uncorrected) in HdrHistograms, and printed
// as wrk2's percentile spectrum:
//
//	rtt           Ping scheduled -> Pong received
//	apply         action scheduled -> first snapshot whose last_action_seq covers it
//	tick_to_wire  scheduled start of tick T -> snapshot of T received
//
// "Received" is when the kernel put the datagram in the generator's socket
// (SO_TIMESTAMPNS), not when the generator read it: a generator busy with
// a burst of snapshots would otherwise add its own queueing to the
// server's figures. That wait is reported on its own, as recv_delay.
//
// plus snapshot loss, loot duplicates and lost loot (exactly-once
// accounting), the server's drops, tick work, jitter, overruns, GC pauses
// and allocation rate from its /metrics, and the generator's own CPU and
// schedule lag. A run whose generator fell behind is marked INVALID.
//
// Exit status: 0 done, 1 the run could not be made (e.g. the server does not
// answer the handshake), 2 bad flags, 3 INVALID run with --strict.
package main

import (
	"fmt"
	"os"
)

const (
	exitOK      = 0
	exitFail    = 1 // the run could not be made (server not answering, sockets)
	exitUsage   = 2 // bad flags
	exitInvalid = 3 // --strict and the run is INVALID
)

func main() {
	cfg, err := ParseArgs(os.Args[1:], os.Stderr)
	if err == errHelp {
		os.Exit(exitOK)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "treasure-bench: %v\n", err)
		os.Exit(exitUsage)
	}
	os.Exit(runBench(cfg, os.Stdout, os.Stderr))
}
