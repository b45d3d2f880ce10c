//go:build !linux

package main

import (
	"time"

	"github.com/treasured/treasured/netio/udp"
)

// waitReadable: the sink runs on Linux only (netio/udp's batches).
func waitReadable(int, time.Duration) error { return udp.ErrUnsupported }
