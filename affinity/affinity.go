// Package affinity reads the machine's CPU topology from sysfs, plans which
// CPUs the engine, the I/O event loops and the OS get, and pins OS threads to
// CPU sets with sched_setaffinity.
//
// The three parts are separate on purpose: topology reading and planning are
// pure functions of files and values, so they are tested on recorded and
// generated sysfs trees of machines we do not have (the 8x32-core target
// host), while pinning is the only code that touches the kernel and lives in
// affinity_linux.go with a portable stub twin.
//
// Typical start-up:
//
//	topo, err := affinity.ReadTopology("")
//	allowed, err := affinity.CurrentCPUs() // the cpuset we were started in
//	topo = topo.Restrict(allowed)
//	layout, err := affinity.Plan(topo, affinity.Request{EngineCores: eng, IOCores: io})
//	// engine goroutine:
//	runtime.LockOSThread()
//	err = affinity.PinThread(layout.Engine)
package affinity

import (
	"errors"
	"fmt"
	"runtime"
)

// ErrUnsupported is returned by PinThread and CurrentCPUs on platforms
// without per-thread CPU affinity support in this package (anything but
// Linux). It wraps errors.ErrUnsupported so callers may test for either.
var ErrUnsupported = fmt.Errorf("affinity: per-thread CPU affinity is not supported on %s: %w",
	runtime.GOOS, errors.ErrUnsupported)

// MaxCPUs bounds CPU numbers accepted by ParseCPUList: a CPU number must be
// below it. 8192 is the largest NR_CPUS the Linux x86 kernel can be built
// with (CONFIG_MAXSMP), so no real sysfs file names a larger CPU; the bound
// also stops a typo such as "0-4000000000" from allocating gigabytes.
const MaxCPUs = 8192
