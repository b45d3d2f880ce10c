package affinity

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// ParseCPUList parses the kernel's "cpu list" format, as found in
// /sys/devices/system/cpu/online and node cpulist files and as accepted by
// our --engine-cores and --io-cores flags: comma-separated CPU numbers and
// inclusive ranges, e.g. "2", "3-34", "0,2-5", "0-3,8,10-11".
//
// The result is sorted ascending, whatever order the items came in, because
// a CPU list names a set. Surrounding white space is ignored (sysfs files end
// in a newline), and an empty or blank string yields an empty list: sysfs
// writes an empty line for a NUMA node without CPUs, and an unset flag is
// empty.
//
// It rejects malformed numbers, reversed ranges ("5-3"), CPUs at or above
// MaxCPUs, a CPU named twice (directly or by overlapping ranges, which in a
// flag is nearly always a typo), and the kernel's stride syntax ("0-7:2"),
// which sysfs never writes and our flags do not need. It does not know the
// machine: Topology.Check reports CPUs that are not online.
func ParseCPUList(s string) ([]int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	var cpus []int
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if strings.ContainsAny(item, ":/") {
			return nil, fmt.Errorf("affinity: cpu list %q: item %q: stride syntax is not supported", s, item)
		}
		lo, hi, isRange := strings.Cut(item, "-")
		first, err := parseCPUNumber(lo)
		if err != nil {
			return nil, fmt.Errorf("affinity: cpu list %q: item %q: %w", s, item, err)
		}
		last := first
		if isRange {
			if last, err = parseCPUNumber(hi); err != nil {
				return nil, fmt.Errorf("affinity: cpu list %q: item %q: %w", s, item, err)
			}
			if last < first {
				return nil, fmt.Errorf("affinity: cpu list %q: range %q is reversed", s, item)
			}
		}
		for c := first; c <= last; c++ {
			cpus = append(cpus, c)
		}
	}
	slices.Sort(cpus)
	for i := 1; i < len(cpus); i++ {
		if cpus[i] == cpus[i-1] {
			return nil, fmt.Errorf("affinity: cpu list %q: CPU %d is listed more than once", s, cpus[i])
		}
	}
	return cpus, nil
}

// parseCPUNumber accepts decimal digits only: strconv.Atoi would also take a
// sign, and "+3" or "-3" in a CPU list is a mistake, not a CPU.
func parseCPUNumber(s string) (int, error) {
	if s == "" {
		return 0, fmt.Errorf("missing CPU number")
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return 0, fmt.Errorf("%q is not a CPU number", s)
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || n >= MaxCPUs {
		// Atoi fails here only on overflow, which is also out of range.
		return 0, fmt.Errorf("CPU %s is out of range (must be below %d)", s, MaxCPUs)
	}
	return n, nil
}

// FormatCPUList is the inverse of ParseCPUList: it writes cpus as a sorted
// list with runs collapsed into ranges ("0-3,8,10-11"), the form the kernel
// uses, so layouts are logged in the same notation the flags take. Duplicates
// are written once; cpus is not modified. CPU numbers are assumed to be
// non-negative, as every CPU number from this package is.
func FormatCPUList(cpus []int) string {
	if len(cpus) == 0 {
		return ""
	}
	sorted := slices.Clone(cpus)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	var b strings.Builder
	for i := 0; i < len(sorted); {
		j := i
		for j+1 < len(sorted) && sorted[j+1] == sorted[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(sorted[i]))
		if j > i {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(sorted[j]))
		}
		i = j + 1
	}
	return b.String()
}
