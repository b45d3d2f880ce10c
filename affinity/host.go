package affinity

import "fmt"

// HostTopology is this host's topology restricted to the CPUs the process
// may use (its cpuset or taskset mask): the CPUs a thread can be pinned to.
func HostTopology() (Topology, error) {
	topo, err := ReadTopology("")
	if err != nil {
		return topo, err
	}
	if allowed, aerr := CurrentCPUs(); aerr == nil {
		topo = topo.Restrict(allowed)
	}
	return topo, nil
}

// PlanHost is Plan on HostTopology, with the fallback for a host whose
// topology cannot be read (not Linux, no /sys): the threads then run
// unpinned, on a Layout with no CPU lists and req.IOLoops loops (at least
// one), and a note says why; the returned Topology is empty. A request that
// names CPUs cannot be checked on such a host and is an error instead:
// silently ignoring an operator's core list would hide a mistake.
func PlanHost(req Request) (Layout, Topology, error) {
	topo, err := HostTopology()
	return planOrUnpinned(topo, err, req)
}

// planOrUnpinned is PlanHost past reading the topology (topoErr is why it
// could not be read, if it could not).
func planOrUnpinned(topo Topology, topoErr error, req Request) (Layout, Topology, error) {
	if topoErr != nil {
		if len(req.EngineCores) > 0 || len(req.IOCores) > 0 {
			return Layout{}, Topology{}, fmt.Errorf("affinity: core lists given but the CPU topology is unreadable: %w", topoErr)
		}
		if req.IOLoops < 0 {
			return Layout{}, Topology{}, fmt.Errorf("affinity: plan: I/O loop count %d is negative", req.IOLoops)
		}
		return Layout{Loops: max(1, req.IOLoops), Notes: []string{
			fmt.Sprintf("CPU topology unavailable (%v): threads are not pinned", topoErr),
		}}, Topology{}, nil
	}
	l, err := Plan(topo, req)
	return l, topo, err
}
