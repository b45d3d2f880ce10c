package affinity

import (
	"errors"
	"fmt"
	"slices"
)

// MaxAutoLoops caps the I/O loops, and the I/O cores, that Plan picks by
// itself. 32 is one whole NUMA node of the 8x32-core target host: past one
// node, extra loops would sit on another node's memory controller, and the
// single engine goroutine drains one input ring per loop every tick, so loops
// beyond what the network needs only add rings to drain. An explicit IOLoops
// or IOCores list is not capped.
const MaxAutoLoops = 32

// osCPU is the CPU the planner leaves to the OS when it can. Linux runs
// unbound kernel work, timers of the boot CPU and, by default, many device
// interrupts on CPU 0, and processes started without an affinity mask
// usually land there first, so it is the worst CPU for a latency-bound
// thread.
const osCPU = 0

// Request holds the operator's choices, usually from the --engine-cores,
// --io-cores and --io-loops flags. Zero values mean "choose for me".
type Request struct {
	// EngineCores are the CPUs the engine goroutine's thread may run on.
	EngineCores []int
	// IOCores are the CPUs the I/O event loops may run on.
	IOCores []int
	// IOLoops is the number of I/O event loops; 0 means one per physical
	// I/O core, at most MaxAutoLoops.
	IOLoops int
}

// Layout is a plan: which CPUs the engine, the I/O loops and everything else
// run on. All lists are sorted.
type Layout struct {
	Engine []int // the engine goroutine's thread, pinned with PinThread
	IO     []int // the I/O event loops' threads
	// OS lists the CPUs left to the kernel, the Go runtime's other threads
	// and other processes. It is disjoint from Engine and IO except on
	// machines too small to separate them, which Notes then says.
	OS    []int
	Node  int // NUMA node of the engine; allocate the engine's state here
	Loops int // number of I/O event loops
	// Notes explains every compromise the plan makes (shared CPUs, crossed
	// NUMA nodes, caps), one sentence each, for the start-up log.
	Notes []string
}

// Plan chooses a core layout for topo, honouring the explicit parts of req.
//
// Explicit lists must name online CPUs, must not repeat a CPU and must not
// overlap; the error names the offending CPU. Explicit lists are otherwise
// trusted: a layout that crosses NUMA nodes or shares a physical core is
// allowed (the operator may know about the NIC's node, which we do not) but
// is explained in Layout.Notes.
//
// Defaults, and why:
//
//   - Engine and I/O share one NUMA node, because every input crosses from an
//     I/O loop to the engine through a ring, and every snapshot back; on
//     another node each of those cache lines crosses the interconnect.
//     Without explicit lists that is the node with the most physical cores
//     free after reserving the OS core (ties go to the lowest node), so on the
//     8x32 target it is node 1, whose 32 cores are all free, rather than node
//     0, which gives up one core to the OS.
//   - CPU 0 and its SMT siblings stay with the OS (see osCPU) whenever the
//     node still has an engine core and at least one I/O core without it.
//   - The engine gets one whole physical core, all its hardware threads,
//     so nothing runs on its sibling thread and competes for the core's
//     execution units and L1/L2 caches during the 50 ms tick's work.
//   - I/O gets the node's remaining physical cores, whole, up to IOLoops
//     cores if set or MaxAutoLoops otherwise, and runs one loop per core.
//   - On a node with two physical cores (the 2-CPU dev boxes) the engine
//     takes the core without CPU 0 and I/O shares CPU 0's core with the OS;
//     on a single core the engine takes its higher threads and I/O the
//     lowest, and on a single CPU everything shares CPU 0.
//
// With only EngineCores given, I/O takes the free whole cores of the
// engine's node (first node of its lowest CPU) by the same rules. With only
// IOCores given, the engine takes a whole core with no I/O thread on the node
// holding most of the I/O CPUs, else on another node (cross-node beats
// sharing a core), else CPU 0's core, else a spare thread of an I/O core.
//
// The planner does not know which node the NIC hangs off; on a multi-socket
// host where that matters, pass explicit lists on the NIC's node (see
// /sys/class/net/<if>/device/numa_node).
func Plan(topo Topology, req Request) (Layout, error) {
	if len(topo.CPUs) == 0 {
		return Layout{}, errors.New("affinity: plan: topology has no CPUs")
	}
	if req.IOLoops < 0 {
		return Layout{}, fmt.Errorf("affinity: plan: I/O loop count %d is negative", req.IOLoops)
	}
	if err := checkList(topo, "engine", req.EngineCores); err != nil {
		return Layout{}, err
	}
	if err := checkList(topo, "I/O", req.IOCores); err != nil {
		return Layout{}, err
	}
	for _, c := range req.EngineCores {
		if slices.Contains(req.IOCores, c) {
			return Layout{}, fmt.Errorf("affinity: plan: CPU %d is in both the engine list (%s) and the I/O list (%s)",
				c, FormatCPUList(req.EngineCores), FormatCPUList(req.IOCores))
		}
	}

	p := planner{topo: topo}
	engine := sortedCopy(req.EngineCores)
	io := sortedCopy(req.IOCores)
	ioAuto := len(io) == 0
	switch {
	case len(engine) == 0 && len(io) == 0:
		engine, io = p.defaultSplit(p.bestNode(), req.IOLoops)
	case len(engine) == 0:
		var err error
		if engine, err = p.engineBeside(io); err != nil {
			return Layout{}, err
		}
	case len(io) == 0:
		io = p.ioBeside(engine, req.IOLoops)
	}

	l := Layout{Engine: engine, IO: io, Node: p.node(engine[0])}
	p.explain(&l, ioAuto, req.IOLoops)
	l.Loops = max(1, l.Loops) // a server has at least one loop
	return l, nil
}

// checkList validates one explicit CPU list from a request.
func checkList(topo Topology, what string, cpus []int) error {
	for i, c := range cpus {
		if _, ok := topo.CPU(c); !ok {
			return fmt.Errorf("affinity: plan: %s CPU %d is not online or not allowed (usable CPUs: %s)",
				what, c, FormatCPUList(topo.IDs()))
		}
		if slices.Contains(cpus[:i], c) {
			return fmt.Errorf("affinity: plan: %s CPU %d is listed more than once", what, c)
		}
	}
	return nil
}

type planner struct {
	topo  Topology
	notes []string
}

func (p *planner) note(format string, args ...any) {
	p.notes = append(p.notes, fmt.Sprintf(format, args...))
}

func (p *planner) node(cpu int) int {
	c, _ := p.topo.CPU(cpu)
	return c.Node
}

// isOSCore reports whether a physical core holds the OS CPU. A topology
// restricted to a cpuset without CPU 0 has no OS core, and then nothing needs
// reserving: the OS's CPU is not ours to take anyway.
func isOSCore(core []int) bool { return slices.Contains(core, osCPU) }

// bestNode is the node with the most physical cores besides the OS core;
// ties go to the lowest node number, for a stable plan.
func (p *planner) bestNode() int {
	best, bestFree := -1, -1
	for _, n := range p.topo.Nodes() {
		free := 0
		for _, core := range p.topo.CoresOnNode(n) {
			if !isOSCore(core) {
				free++
			}
		}
		if free > bestFree {
			best, bestFree = n, free
		}
	}
	return best
}

// defaultSplit plans engine and I/O on one node when neither is given.
func (p *planner) defaultSplit(node, loops int) (engine, io []int) {
	var osCore []int
	var others [][]int
	for _, core := range p.topo.CoresOnNode(node) {
		if isOSCore(core) {
			osCore = core
		} else {
			others = append(others, core)
		}
	}
	switch {
	case len(others) >= 2:
		// Enough room: OS core reserved (if on this node), one engine core,
		// the rest for I/O.
		return others[0], flatten(takeCores(others[1:], loops))
	case len(others) == 1 && osCore != nil:
		// Two physical cores: a core of its own matters more to the engine,
		// whose tick has a deadline, than to the I/O loop, which only adds
		// latency when it shares with the OS.
		return others[0], osCore
	}
	// One physical core on the node: split its hardware threads, leaving the
	// lowest, which is CPU 0 if the OS core is here, to I/O; with one thread
	// everything shares it.
	core := osCore
	if core == nil {
		core = others[0]
	}
	if len(core) == 1 {
		return core, slices.Clone(core)
	}
	// Clone both halves so that no caller append to one can write the other.
	return slices.Clone(core[1:]), slices.Clone(core[:1])
}

// ioBeside picks I/O CPUs on the node of an explicit engine list.
func (p *planner) ioBeside(engine []int, loops int) []int {
	var free, osCore [][]int
	for _, core := range p.topo.CoresOnNode(p.node(engine[0])) {
		switch {
		case slices.ContainsFunc(core, func(c int) bool { return slices.Contains(engine, c) }):
		case isOSCore(core):
			osCore = append(osCore, core)
		default:
			free = append(free, core)
		}
	}
	if len(free) > 0 {
		return flatten(takeCores(free, loops))
	}
	if len(osCore) > 0 {
		return osCore[0]
	}
	// The engine holds every core on its node: fall back to the engine's
	// spare SMT threads, and failing those to the engine's own CPUs, rather
	// than leave the node (which would defeat the point of the request).
	var spare []int
	for _, c := range engine {
		for _, s := range p.topo.Siblings(c) {
			if !slices.Contains(engine, s) && !slices.Contains(spare, s) {
				spare = append(spare, s)
			}
		}
	}
	if len(spare) > 0 {
		slices.Sort(spare)
		return spare
	}
	return slices.Clone(engine)
}

// engineBeside picks an engine core for an explicit I/O list: on the node
// holding most of the I/O CPUs if it can, else on another node, preferring
// in turn a whole core that is not the OS core, the OS core, and a spare
// thread of a core shared with I/O.
func (p *planner) engineBeside(io []int) ([]int, error) {
	home := p.majorityNode(io)
	nodes := []int{home}
	for _, n := range p.topo.Nodes() {
		if n != home {
			nodes = append(nodes, n)
		}
	}
	inIO := func(c int) bool { return slices.Contains(io, c) }
	for _, wantOS := range []bool{false, true} {
		for _, n := range nodes {
			for _, core := range p.topo.CoresOnNode(n) {
				if isOSCore(core) == wantOS && !slices.ContainsFunc(core, inIO) {
					return core, nil
				}
			}
		}
	}
	for _, n := range nodes {
		for _, c := range p.topo.CPUsOnNode(n) {
			if !inIO(c) {
				return []int{c}, nil
			}
		}
	}
	return nil, fmt.Errorf("affinity: plan: no CPU left for the engine: the I/O list %s takes every online CPU",
		FormatCPUList(io))
}

// majorityNode is the node holding most of cpus, ties to the lowest node.
func (p *planner) majorityNode(cpus []int) int {
	count := make(map[int]int)
	for _, c := range cpus {
		count[p.node(c)]++
	}
	best := -1
	for _, n := range p.topo.Nodes() {
		if best < 0 || count[n] > count[best] {
			best = n
		}
	}
	return best
}

// explain fills in OS, Loops and Notes once Engine, IO and Node are final,
// so that explicit and chosen layouts are described by the same rules.
func (p *planner) explain(l *Layout, ioAuto bool, loops int) {
	p.notePlacement(l)
	p.placeOS(l)
	p.placeLoops(l, ioAuto, loops)
	l.Notes = p.notes
}

// notePlacement notes where the engine and I/O CPUs compete or are far
// apart: across NUMA nodes, on shared CPUs, on SMT siblings.
func (p *planner) notePlacement(l *Layout) {
	var engineNodes []int
	for _, c := range l.Engine {
		if n := p.node(c); !slices.Contains(engineNodes, n) {
			engineNodes = append(engineNodes, n)
		}
	}
	if len(engineNodes) > 1 {
		slices.Sort(engineNodes)
		p.note("engine CPUs %s span NUMA nodes %v: the engine's memory is local to only one of them",
			FormatCPUList(l.Engine), engineNodes)
	}

	var offNode, shared, siblings []int
	for _, c := range l.IO {
		switch {
		case p.node(c) != l.Node:
			offNode = append(offNode, c)
		case slices.Contains(l.Engine, c):
			shared = append(shared, c)
		case slices.ContainsFunc(p.topo.Siblings(c), func(s int) bool { return slices.Contains(l.Engine, s) }):
			siblings = append(siblings, c)
		}
	}
	if len(offNode) > 0 {
		p.note("I/O CPUs %s are not on the engine's NUMA node %d: every input and snapshot crosses the interconnect",
			FormatCPUList(offNode), l.Node)
	}
	if len(shared) > 0 {
		p.note("engine and I/O share CPUs %s: there are not enough CPUs to separate them", FormatCPUList(shared))
	}
	if len(siblings) > 0 {
		p.note("I/O CPUs %s are SMT siblings of the engine's CPUs and compete with it for one physical core",
			FormatCPUList(siblings))
	}
}

// placeOS gives the OS the CPUs our threads do not use, or, when none is
// left, the one whose sharing costs least.
func (p *planner) placeOS(l *Layout) {
	for _, c := range p.topo.IDs() {
		if !slices.Contains(l.Engine, c) && !slices.Contains(l.IO, c) {
			l.OS = append(l.OS, c)
		}
	}
	if len(l.OS) == 0 {
		// Every CPU runs our threads; the kernel still needs somewhere to
		// run. That is CPU 0's core if we have CPU 0, since the kernel will
		// use it anyway; otherwise (a restricted cpuset) the first I/O core,
		// because a delayed I/O loop costs less than a late tick.
		first := osCPU
		if _, ok := p.topo.CPU(osCPU); !ok {
			first = l.IO[0]
		}
		l.OS = p.topo.Siblings(first)
		// Keep the engine out of it where the core has other threads.
		if rest := slices.DeleteFunc(slices.Clone(l.OS), func(c int) bool { return slices.Contains(l.Engine, c) }); len(rest) > 0 {
			l.OS = rest
		}
		p.note("no CPU is left for the OS: it shares CPUs %s with the %s", FormatCPUList(l.OS), users(l, l.OS))
	} else if who := users(l, []int{osCPU}); who != "" {
		p.note("CPU %d is given to the %s: the kernel's unbound work and many interrupts land there", osCPU, who)
	}
}

// placeLoops sets the number of I/O loops: loops if given, else one per
// physical I/O core up to MaxAutoLoops.
func (p *planner) placeLoops(l *Layout, ioAuto bool, loops int) {
	cores := p.physicalCores(l.IO)
	switch {
	case loops > 0:
		l.Loops = loops
	case cores > MaxAutoLoops:
		l.Loops = MaxAutoLoops
		p.note("I/O loops capped at %d although the I/O CPUs span %d physical cores", MaxAutoLoops, cores)
	default:
		l.Loops = cores
	}
	if l.Loops > len(l.IO) {
		p.note("%d I/O loops on %d CPUs: loops will time-share", l.Loops, len(l.IO))
	}
	if ioAuto && loops == 0 && len(l.IO) > 0 {
		// Say when the cap, rather than the machine, limited the I/O cores.
		free := 0
		for _, core := range p.topo.CoresOnNode(l.Node) {
			if !isOSCore(core) && !slices.ContainsFunc(core, func(c int) bool { return slices.Contains(l.Engine, c) }) {
				free++
			}
		}
		if free > cores {
			p.note("I/O uses %d of the %d free physical cores on node %d (MaxAutoLoops); the rest are left to the OS",
				cores, free, l.Node)
		}
	}
}

// physicalCores counts the distinct physical cores among cpus.
func (p *planner) physicalCores(cpus []int) int {
	seen := make(map[[2]int]bool)
	for _, id := range cpus {
		c, _ := p.topo.CPU(id)
		seen[[2]int{c.Socket, c.Core}] = true
	}
	return len(seen)
}

// users names which of the engine and I/O lists contain any of cpus.
func users(l *Layout, cpus []int) string {
	has := func(list []int) bool {
		return slices.ContainsFunc(cpus, func(c int) bool { return slices.Contains(list, c) })
	}
	switch e, i := has(l.Engine), has(l.IO); {
	case e && i:
		return "engine and the I/O loops"
	case e:
		return "engine"
	case i:
		return "I/O loops"
	}
	return ""
}

// takeCores returns the first n cores, or up to MaxAutoLoops when n is 0.
func takeCores(cores [][]int, n int) [][]int {
	if n == 0 {
		n = MaxAutoLoops
	}
	return cores[:min(n, len(cores))]
}

func flatten(cores [][]int) []int {
	var out []int
	for _, core := range cores {
		out = append(out, core...)
	}
	slices.Sort(out)
	return out
}

func sortedCopy(cpus []int) []int {
	if len(cpus) == 0 {
		return nil
	}
	out := slices.Clone(cpus)
	slices.Sort(out)
	return out
}
