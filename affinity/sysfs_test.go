package affinity

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// machine describes a synthetic x86 machine for fakeSysfs.
type machine struct {
	sockets        int
	coresPerSocket int
	threadsPerCore int
	// nodesPerSocket splits each socket's cores evenly into NUMA nodes (as
	// sub-NUMA clustering does); 0 writes no devices/system/node directory,
	// like a kernel built without CONFIG_NUMA.
	nodesPerSocket int
}

// cpuID numbers threads the way Linux does on Intel and AMD x86: all first
// threads of every core of every socket, then all second threads, so CPU i
// and CPU i+cores are SMT siblings.
func (m machine) cpuID(socket, core, thread int) int {
	return thread*m.sockets*m.coresPerSocket + socket*m.coresPerSocket + core
}

func (m machine) node(socket, core int) int {
	return socket*m.nodesPerSocket + core/(m.coresPerSocket/m.nodesPerSocket)
}

func (m machine) numCPUs() int { return m.sockets * m.coresPerSocket * m.threadsPerCore }

// sysfsFiles returns the files ReadTopology reads for m, keyed by path below
// the sysfs root, plus some files it must ignore, as a real tree has them.
// Tests edit the map to break a tree before writing it.
func (m machine) sysfsFiles() map[string]string {
	all := make([]int, 0, m.numCPUs())
	nodeCPUs := make(map[int][]int)
	files := map[string]string{
		"devices/system/cpu/possible":      "0-" + strconv.Itoa(m.numCPUs()-1) + "\n",
		"devices/system/cpu/cpufreq/boost": "1\n",
		"devices/system/cpu/kernel_max":    "8191\n",
		"devices/system/cpu/smt/active":    "1\n",
	}
	for s := range m.sockets {
		for c := range m.coresPerSocket {
			for th := range m.threadsPerCore {
				id := m.cpuID(s, c, th)
				all = append(all, id)
				dir := "devices/system/cpu/cpu" + strconv.Itoa(id) + "/topology/"
				files[dir+"physical_package_id"] = strconv.Itoa(s) + "\n"
				// core_id restarts in each socket, as on real machines, so a
				// test catches code that compares Core without Socket.
				files[dir+"core_id"] = strconv.Itoa(c) + "\n"
				if m.nodesPerSocket > 0 {
					n := m.node(s, c)
					nodeCPUs[n] = append(nodeCPUs[n], id)
				}
			}
		}
	}
	files["devices/system/cpu/online"] = FormatCPUList(all) + "\n"
	if m.nodesPerSocket > 0 {
		nodes := make([]int, 0, len(nodeCPUs))
		for n, cpus := range nodeCPUs {
			files["devices/system/node/node"+strconv.Itoa(n)+"/cpulist"] = FormatCPUList(cpus) + "\n"
			files["devices/system/node/node"+strconv.Itoa(n)+"/meminfo"] = "ignored\n"
			nodes = append(nodes, n)
		}
		files["devices/system/node/online"] = FormatCPUList(nodes) + "\n"
		files["devices/system/node/possible"] = FormatCPUList(nodes) + "\n"
		files["devices/system/node/power/async"] = "disabled\n"
	}
	return files
}

// topology is the Topology that ReadTopology must return for m's tree.
// Planner tests use it directly, because writing a 256-CPU tree costs about
// a second on these machines; TestReadTopologyGenerated checks that the two
// agree.
func (m machine) topology() Topology {
	topo := Topology{CPUs: make([]CPU, m.numCPUs())}
	for s := range m.sockets {
		for c := range m.coresPerSocket {
			for th := range m.threadsPerCore {
				cpu := CPU{ID: m.cpuID(s, c, th), Socket: s, Core: c}
				if m.nodesPerSocket > 0 {
					cpu.Node = m.node(s, c)
				}
				topo.CPUs[cpu.ID] = cpu // IDs are 0..numCPUs-1, so this sorts
			}
		}
	}
	return topo
}

// writeSysfs writes files into a fresh directory and returns it as a root
// for ReadTopology.
func writeSysfs(t testing.TB, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for rel, content := range files {
		path := filepath.Join(root, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// fakeTopology writes m's tree and reads it back, so planner tests go
// through the same parsing as production.
func fakeTopology(t testing.TB, m machine) Topology {
	t.Helper()
	topo, err := ReadTopology(writeSysfs(t, m.sysfsFiles()))
	if err != nil {
		t.Fatalf("ReadTopology(%+v): %v", m, err)
	}
	return topo
}

var (
	// box16: 1 socket, 8 cores x 2 SMT threads, 1 NUMA node; siblings are
	// (i, i+8).
	box16 = machine{sockets: 1, coresPerSocket: 8, threadsPerCore: 2, nodesPerSocket: 1}
	// host256: the 8-socket x 32-core target host with SMT off, one NUMA
	// node per socket: CPUs 32n..32n+31 are node n. SMT off because that is
	// how the DESIGN counts it (8x32 = 256 CPUs); SMT cases are covered by
	// box16 and box4smt.
	host256 = machine{sockets: 8, coresPerSocket: 32, threadsPerCore: 1, nodesPerSocket: 1}
	// box1: a single CPU.
	box1 = machine{sockets: 1, coresPerSocket: 1, threadsPerCore: 1, nodesPerSocket: 1}
	// box1smt: one core with two threads (CPUs 0 and 1).
	box1smt = machine{sockets: 1, coresPerSocket: 1, threadsPerCore: 2, nodesPerSocket: 1}
	// box4smt: two cores with two threads each; siblings (0,2) and (1,3).
	box4smt = machine{sockets: 1, coresPerSocket: 2, threadsPerCore: 2, nodesPerSocket: 1}
)

// recordedBox2 is the 2-CPU development machine (KVM guest on AMD EPYC, one
// socket, two cores without SMT, one NUMA node), recorded from its /sys into
// testdata/box2: only the files ReadTopology reads.
const recordedBox2 = "testdata/box2"

func box2(t testing.TB) Topology {
	t.Helper()
	topo, err := ReadTopology(recordedBox2)
	if err != nil {
		t.Fatal(err)
	}
	return topo
}
