package affinity

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// DefaultSysfsRoot is where ReadTopology looks when given an empty root.
const DefaultSysfsRoot = "/sys"

// CPU is one logical CPU (a hardware thread) as the kernel numbers it.
type CPU struct {
	ID     int // logical CPU number, as in sched_setaffinity masks and cpu lists
	Socket int // physical_package_id
	Core   int // core_id: unique within its Socket only, so compare (Socket, Core)
	Node   int // NUMA node whose cpulist names this CPU
}

// Topology is the set of online CPUs. CPUs is sorted by ID; the helper
// methods do not rely on that order, so a literal Topology works too.
//
// Everything here runs once at start-up over at most a few hundred CPUs, so
// the helpers scan the slice rather than keep indexes that a literal or a
// Restrict'ed Topology would have to keep in step.
type Topology struct {
	CPUs []CPU
}

// ReadTopology reads the online CPUs and their socket, core and NUMA node from
// a sysfs tree rooted at root ("" means DefaultSysfsRoot). It reads only:
//
//	devices/system/cpu/online
//	devices/system/cpu/cpuN/topology/physical_package_id
//	devices/system/cpu/cpuN/topology/core_id
//	devices/system/node/nodeN/cpulist
//
// A kernel built without CONFIG_NUMA has no devices/system/node directory;
// then every CPU is on node 0. If the directory exists, every online CPU must
// appear in exactly one node's cpulist, since otherwise the NUMA placement the
// planner promises would rest on a guess.
//
// Errors name the file and wrap the underlying error, so errors.Is(err,
// fs.ErrNotExist) works for missing files.
func ReadTopology(root string) (Topology, error) {
	if root == "" {
		root = DefaultSysfsRoot
	}
	cpuDir := filepath.Join(root, "devices", "system", "cpu")
	online, err := readCPUListFile(filepath.Join(cpuDir, "online"))
	if err != nil {
		return Topology{}, err
	}
	if len(online) == 0 {
		return Topology{}, fmt.Errorf("affinity: %s lists no CPUs", filepath.Join(cpuDir, "online"))
	}
	nodeOf, err := readNodes(filepath.Join(root, "devices", "system", "node"))
	if err != nil {
		return Topology{}, err
	}
	topo := Topology{CPUs: make([]CPU, 0, len(online))}
	for _, id := range online {
		dir := filepath.Join(cpuDir, "cpu"+strconv.Itoa(id), "topology")
		socket, err := readIntFile(filepath.Join(dir, "physical_package_id"))
		if err != nil {
			return Topology{}, err
		}
		core, err := readIntFile(filepath.Join(dir, "core_id"))
		if err != nil {
			return Topology{}, err
		}
		node := 0
		if nodeOf != nil {
			n, ok := nodeOf[id]
			if !ok {
				return Topology{}, fmt.Errorf("affinity: online CPU %d is in no NUMA node cpulist under %s",
					id, filepath.Join(root, "devices", "system", "node"))
			}
			node = n
		}
		topo.CPUs = append(topo.CPUs, CPU{ID: id, Socket: socket, Core: core, Node: node})
	}
	return topo, nil
}

// readNodes maps CPU number to NUMA node from nodeN/cpulist files. It returns
// a nil map when dir does not exist (kernel without NUMA support).
func readNodes(dir string) (map[int]int, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("affinity: read NUMA nodes: %w", err)
	}
	nodeOf := make(map[int]int)
	for _, e := range entries {
		// The directory also holds files such as "online" and "possible",
		// and "power"; only nodeN directories describe nodes.
		num, ok := strings.CutPrefix(e.Name(), "node")
		if !ok || !e.IsDir() {
			continue
		}
		node, err := strconv.Atoi(num)
		if err != nil || node < 0 {
			continue
		}
		cpus, err := readCPUListFile(filepath.Join(dir, e.Name(), "cpulist"))
		if err != nil {
			return nil, err
		}
		for _, c := range cpus {
			if prev, dup := nodeOf[c]; dup {
				return nil, fmt.Errorf("affinity: CPU %d is in the cpulist of both node %d and node %d", c, prev, node)
			}
			nodeOf[c] = node
		}
	}
	return nodeOf, nil
}

func readCPUListFile(path string) ([]int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("affinity: read topology: %w", err)
	}
	cpus, err := ParseCPUList(string(b))
	if err != nil {
		return nil, fmt.Errorf("affinity: %s: %w", path, err)
	}
	return cpus, nil
}

// readIntFile reads a one-number sysfs file. Negative values are accepted:
// some platforms report physical_package_id -1 when firmware does not say.
func readIntFile(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("affinity: read topology: %w", err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("affinity: %s: %w", path, err)
	}
	return n, nil
}

// CPU returns the CPU with the given ID, if it is in the topology.
func (t Topology) CPU(id int) (CPU, bool) {
	for _, c := range t.CPUs {
		if c.ID == id {
			return c, true
		}
	}
	return CPU{}, false
}

// IDs returns every CPU number, sorted.
func (t Topology) IDs() []int {
	ids := make([]int, 0, len(t.CPUs))
	for _, c := range t.CPUs {
		ids = append(ids, c.ID)
	}
	slices.Sort(ids)
	return ids
}

// Nodes returns the NUMA nodes that have at least one CPU, sorted.
func (t Topology) Nodes() []int { return t.distinct(func(c CPU) int { return c.Node }) }

// Sockets returns the physical packages that have at least one CPU, sorted.
func (t Topology) Sockets() []int { return t.distinct(func(c CPU) int { return c.Socket }) }

// distinct returns the distinct values of field over the CPUs, sorted.
func (t Topology) distinct(field func(CPU) int) []int {
	var vs []int
	for _, c := range t.CPUs {
		vs = append(vs, field(c))
	}
	slices.Sort(vs)
	return slices.Compact(vs)
}

// CPUsOnNode returns the CPUs of a NUMA node, sorted; nil for an unknown node.
func (t Topology) CPUsOnNode(node int) []int {
	var ids []int
	for _, c := range t.CPUs {
		if c.Node == node {
			ids = append(ids, c.ID)
		}
	}
	slices.Sort(ids)
	return ids
}

// Siblings returns the hardware threads sharing a physical core with cpu,
// including cpu itself, sorted; nil if cpu is not in the topology. Threads of
// one core share its execution units and L1/L2 caches, which is why the
// planner keeps the engine's core to itself.
func (t Topology) Siblings(cpu int) []int {
	self, ok := t.CPU(cpu)
	if !ok {
		return nil
	}
	var ids []int
	for _, c := range t.CPUs {
		if c.Socket == self.Socket && c.Core == self.Core {
			ids = append(ids, c.ID)
		}
	}
	slices.Sort(ids)
	return ids
}

// CoresOnNode returns the physical cores of a NUMA node, each as its sorted
// hardware threads, ordered by their lowest CPU number.
func (t Topology) CoresOnNode(node int) [][]int {
	var cores [][]int
	seen := make(map[[2]int]int) // (Socket, Core) -> index in cores
	for _, id := range t.CPUsOnNode(node) {
		c, _ := t.CPU(id)
		key := [2]int{c.Socket, c.Core}
		if i, ok := seen[key]; ok {
			cores[i] = append(cores[i], id)
			continue
		}
		seen[key] = len(cores)
		cores = append(cores, []int{id})
	}
	// CPUsOnNode is sorted, so each core's threads are appended in order and
	// the cores are already ordered by their first thread.
	return cores
}

// Check returns an error naming the first CPU in cpus that is not in the
// topology, or nil if all are.
func (t Topology) Check(cpus []int) error {
	for _, c := range cpus {
		if _, ok := t.CPU(c); !ok {
			return fmt.Errorf("affinity: CPU %d is not online or not allowed (usable CPUs: %s)", c, FormatCPUList(t.IDs()))
		}
	}
	return nil
}

// Restrict returns the topology reduced to the CPUs in allowed, typically
// CurrentCPUs() at start-up: in a container or under taskset the process may
// use fewer CPUs than are online, and a plan over the others would fail at
// PinThread (sched_setaffinity returns EINVAL when a mask has no permitted
// CPU) or, worse, silently lose them.
func (t Topology) Restrict(allowed []int) Topology {
	out := Topology{CPUs: make([]CPU, 0, len(t.CPUs))}
	for _, c := range t.CPUs {
		if slices.Contains(allowed, c.ID) {
			out.CPUs = append(out.CPUs, c)
		}
	}
	return out
}

// String summarises the topology for a start-up log line.
func (t Topology) String() string {
	cores := 0
	for _, n := range t.Nodes() {
		cores += len(t.CoresOnNode(n))
	}
	return fmt.Sprintf("%d CPUs (%s), %d physical cores, %d sockets, %d NUMA nodes",
		len(t.CPUs), FormatCPUList(t.IDs()), cores, len(t.Sockets()), len(t.Nodes()))
}
