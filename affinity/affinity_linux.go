package affinity

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// maxMaskCPU is the number of CPUs a unix.CPUSet can name (glibc's
// CPU_SETSIZE, 1024). CPUSet.Set silently ignores larger numbers, which would
// turn a pin to CPU 1500 into a pin to nothing, so PinThread rejects them
// instead. The 256-CPU target host is well inside the limit.
const maxMaskCPU = len(unix.CPUSet{}) * 64

// PinThread restricts the calling OS thread to cpus with sched_setaffinity.
//
// The caller must have called runtime.LockOSThread first and keep the
// goroutine locked for as long as the pin should hold: affinity belongs to
// the thread, not the goroutine, so without the lock the goroutine may move
// to an unpinned thread at its next scheduling point while the pinned thread
// goes on to run other goroutines. Only the calling thread changes (pid 0 in
// sched_setaffinity(2) means the calling thread), never the whole process.
// New threads inherit their creator's mask, but the Go runtime starts threads
// it needs while a goroutine is locked from its template thread, so the pin
// does not leak into the rest of the runtime.
//
// The kernel intersects the mask with the cpuset the process is confined to
// and fails with EINVAL if nothing is left, so plan over a topology
// Restrict'ed to CurrentCPUs.
func PinThread(cpus []int) error {
	if len(cpus) == 0 {
		return errors.New("affinity: pin thread: empty CPU list")
	}
	var set unix.CPUSet
	for _, c := range cpus {
		if c < 0 || c >= maxMaskCPU {
			return fmt.Errorf("affinity: pin thread: CPU %d is outside the affinity mask (0-%d)", c, maxMaskCPU-1)
		}
		set.Set(c)
	}
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return fmt.Errorf("affinity: pin thread to CPUs %s: %w", FormatCPUList(cpus), err)
	}
	return nil
}

// CurrentCPUs returns the CPUs the calling OS thread may run on, sorted. On a
// thread nobody has pinned that is the process's allowed set (its cpuset,
// taskset or container limit), the set to Restrict a topology to. Call it
// from a goroutine locked with runtime.LockOSThread if the answer must be
// about one specific pinned thread.
func CurrentCPUs() ([]int, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil, fmt.Errorf("affinity: get thread affinity: %w", err)
	}
	cpus := make([]int, 0, set.Count())
	for c := range maxMaskCPU {
		if set.IsSet(c) {
			cpus = append(cpus, c)
		}
	}
	return cpus, nil
}
