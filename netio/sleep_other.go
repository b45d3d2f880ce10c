//go:build !linux

package netio

import "time"

// sleepExact sleeps d; elsewhere with the runtime's timers.
func sleepExact(d time.Duration) { time.Sleep(d) }
