package netio

import (
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// sleepExact sleeps d in the calling thread, to the kernel's hrtimer
// precision: a raw clock_nanosleep, which keeps the P (no hand-off to
// another thread, no netpoller). A signal (the runtime's preemption, so
// a stop-the-world never waits for it) ends it early; the caller loops.
// Only for waits under a millisecond: nothing else runs on this P meanwhile.
func sleepExact(d time.Duration) {
	ts := unix.NsecToTimespec(int64(d))
	_, _, _ = unix.RawSyscall6(unix.SYS_CLOCK_NANOSLEEP, unix.CLOCK_MONOTONIC, 0,
		uintptr(unsafe.Pointer(&ts)), 0, 0, 0)
}
