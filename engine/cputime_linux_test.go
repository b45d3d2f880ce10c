package engine

import (
	"syscall"
	"unsafe"
)

// threadCPU is the CPU time of the calling OS thread in ns
// (clock_gettime(CLOCK_THREAD_CPUTIME_ID): exact, unlike getrusage, which is
// sampled at the timer tick). Benchmarks lock their goroutine to its thread
// and report it beside wall time: on a shared machine wall time also counts
// the time other processes held the core. No allocation.
func threadCPU() int64 {
	const clockThreadCPUTimeID = 3
	var ts syscall.Timespec
	if _, _, e := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTimeID, uintptr(unsafe.Pointer(&ts)), 0); e != 0 {
		return 0
	}
	return ts.Nano()
}
