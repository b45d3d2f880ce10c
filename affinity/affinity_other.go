//go:build !linux

package affinity

// PinThread would restrict the calling OS thread to cpus; only Linux is
// supported (see affinity_linux.go), so it returns ErrUnsupported. Callers
// should log that and run unpinned: pinning is a latency optimisation, not a
// correctness requirement.
func PinThread(cpus []int) error { return ErrUnsupported }

// CurrentCPUs returns ErrUnsupported on platforms other than Linux.
func CurrentCPUs() ([]int, error) { return nil, ErrUnsupported }
