//go:build linux

package main

import (
	"fmt"

	"golang.org/x/sys/unix"
	"time"
)

// waitReadable sleeps until fd has a datagram or d has passed. ppoll takes
// a timespec: poll's millisecond timeout would round a tick deadline.
func waitReadable(fd int, d time.Duration) error {
	fds := [1]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	ts := unix.NsecToTimespec(int64(max(d, 0)))
	if _, err := unix.Ppoll(fds[:], &ts, nil); err != nil && err != unix.EINTR {
		return fmt.Errorf("ppoll: %w", err)
	}
	return nil
}
