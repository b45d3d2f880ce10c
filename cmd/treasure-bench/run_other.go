//go:build !linux

package main

import (
	"fmt"
	"io"
)

// runBench needs epoll, epoll_pwait2 and /proc/net/udp; the pure parts of
// the bench (schedule, histograms, report, metrics parser) build and test
// everywhere.
func runBench(_ *Config, _, stderr io.Writer) int {
	fmt.Fprintln(stderr, "treasure-bench: only Linux is supported (epoll event loops)")
	return exitFail
}
