package affinity

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func cpus(t testing.TB, s string) []int {
	t.Helper()
	c, err := ParseCPUList(s)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestPlan(t *testing.T) {
	topos := map[string]Topology{
		"box1":    box1.topology(),
		"box1smt": box1smt.topology(),
		"box2":    box2(t),
		"box4smt": box4smt.topology(),
		"box16":   box16.topology(),
		"host256": host256.topology(),
		// One 40-core node: more free cores than MaxAutoLoops.
		"box40": machine{sockets: 1, coresPerSocket: 40, threadsPerCore: 1, nodesPerSocket: 1}.topology(),
	}
	tests := []struct {
		name               string
		topo               string
		engine, io         string // flags, cpu list format; "" = auto
		loops              int
		wantEngine, wantIO string
		wantOS             string
		wantNode           int
		wantLoops          int
		wantNotes          []string // one substring per note, in order
		wantErr            string
	}{
		// Defaults.
		{
			name: "1 CPU: everything on CPU 0", topo: "box1",
			wantEngine: "0", wantIO: "0", wantOS: "0", wantLoops: 1,
			wantNotes: []string{"engine and I/O share CPUs 0", "no CPU is left for the OS: it shares CPUs 0 with the engine and the I/O loops"},
		},
		{
			name: "1 core 2 threads: engine on 1, I/O on 0 with the OS", topo: "box1smt",
			wantEngine: "1", wantIO: "0", wantOS: "0", wantLoops: 1,
			wantNotes: []string{"I/O CPUs 0 are SMT siblings of the engine", "no CPU is left for the OS: it shares CPUs 0 with the I/O loops"},
		},
		{
			name: "recorded 2-CPU box: engine on 1, I/O shares 0 with the OS", topo: "box2",
			wantEngine: "1", wantIO: "0", wantOS: "0", wantLoops: 1,
			wantNotes: []string{"no CPU is left for the OS: it shares CPUs 0 with the I/O loops"},
		},
		{
			name: "2 cores x 2 threads: engine gets the whole non-OS core", topo: "box4smt",
			wantEngine: "1,3", wantIO: "0,2", wantOS: "0,2", wantLoops: 1,
			wantNotes: []string{"no CPU is left for the OS: it shares CPUs 0,2 with the I/O loops"},
		},
		{
			name: "16 CPUs: OS core reserved, engine core whole, I/O the rest", topo: "box16",
			wantEngine: "1,9", wantIO: "2-7,10-15", wantOS: "0,8", wantLoops: 6,
		},
		{
			name: "target host: one free node, engine and I/O on it", topo: "host256",
			wantEngine: "32", wantIO: "33-63", wantOS: "0-31,64-255", wantNode: 1, wantLoops: 31,
		},

		// Loop counts.
		{
			name: "40-core node: automatic I/O stops at MaxAutoLoops cores", topo: "box40",
			wantEngine: "1", wantIO: "2-33", wantOS: "0,34-39", wantLoops: 32,
			wantNotes: []string{"I/O uses 32 of the 38 free physical cores on node 0 (MaxAutoLoops)"},
		},
		{
			name: "40-core node, 36 loops asked: no cap", topo: "box40", loops: 36,
			wantEngine: "1", wantIO: "2-37", wantOS: "0,38-39", wantLoops: 36,
		},
		{
			name: "16 CPUs, 3 loops: 3 I/O cores", topo: "box16", loops: 3,
			wantEngine: "1,9", wantIO: "2-4,10-12", wantOS: "0,5-8,13-15", wantLoops: 3,
		},
		{
			name: "target host, 40 loops: more loops than the node has CPUs", topo: "host256", loops: 40,
			wantEngine: "32", wantIO: "33-63", wantOS: "0-31,64-255", wantNode: 1, wantLoops: 40,
			wantNotes: []string{"40 I/O loops on 31 CPUs"},
		},
		{
			name: "2-CPU box, explicit I/O and 2 loops", topo: "box2", io: "0", loops: 2,
			wantEngine: "1", wantIO: "0", wantOS: "0", wantLoops: 2,
			wantNotes: []string{"no CPU is left for the OS", "2 I/O loops on 1 CPUs"},
		},
		{
			name: "explicit I/O past the cap: loops capped at 32", topo: "host256", io: "33-255",
			wantEngine: "1", wantIO: "33-255", wantOS: "0,2-32", wantNode: 0, wantLoops: 32,
			wantNotes: []string{"I/O CPUs 33-255 are not on the engine's NUMA node 0", "I/O loops capped at 32 although the I/O CPUs span 223 physical cores"},
		},

		// Explicit engine, I/O chosen on the engine's node.
		{
			name: "DESIGN example engine alone", topo: "host256", engine: "2",
			wantEngine: "2", wantIO: "1,3-31", wantOS: "0,32-255", wantLoops: 30,
		},
		{
			name: "engine on node 3: I/O follows it", topo: "host256", engine: "100",
			wantEngine: "100", wantIO: "96-99,101-127", wantOS: "0-95,128-255", wantNode: 3, wantLoops: 31,
		},
		{
			name: "engine thread on 16 CPUs: its sibling is left idle, not given to I/O", topo: "box16", engine: "5",
			wantEngine: "5", wantIO: "1-4,6-7,9-12,14-15", wantOS: "0,8,13", wantLoops: 6,
		},
		{
			name: "engine on CPU 0 of the 2-CPU box", topo: "box2", engine: "0",
			wantEngine: "0", wantIO: "1", wantOS: "0", wantLoops: 1,
			wantNotes: []string{"no CPU is left for the OS: it shares CPUs 0 with the engine"},
		},
		{
			name: "engine on both CPUs: I/O has to share", topo: "box2", engine: "0-1",
			wantEngine: "0-1", wantIO: "0-1", wantOS: "0", wantLoops: 2,
			wantNotes: []string{"engine and I/O share CPUs 0-1", "no CPU is left for the OS"},
		},
		{
			name: "engine on one thread of 2x2 threads: I/O takes the OS core, the OS the engine's sibling", topo: "box4smt", engine: "1",
			wantEngine: "1", wantIO: "0,2", wantOS: "3", wantLoops: 1,
			wantNotes: []string{"CPU 0 is given to the I/O loops"},
		},
		{
			name: "engine spanning nodes", topo: "host256", engine: "31-32",
			wantEngine: "31-32", wantIO: "1-30", wantOS: "0,33-255", wantLoops: 30,
			wantNotes: []string{"engine CPUs 31-32 span NUMA nodes [0 1]"},
		},

		// Explicit I/O, engine chosen.
		{
			name: "I/O on 0 of the 2-CPU box", topo: "box2", io: "0",
			wantEngine: "1", wantIO: "0", wantOS: "0", wantLoops: 1,
			wantNotes: []string{"no CPU is left for the OS: it shares CPUs 0 with the I/O loops"},
		},
		{
			name: "I/O on 1 of the 2-CPU box: engine falls back to CPU 0", topo: "box2", io: "1",
			wantEngine: "0", wantIO: "1", wantOS: "0", wantLoops: 1,
			wantNotes: []string{"no CPU is left for the OS: it shares CPUs 0 with the engine"},
		},
		{
			name: "I/O on the first threads of 16 CPUs: engine takes a whole free core", topo: "box16", io: "2-7",
			wantEngine: "1,9", wantIO: "2-7", wantOS: "0,8,10-15", wantLoops: 6,
		},
		{
			name: "I/O on every non-OS core: engine takes the OS core", topo: "box16", io: "1-7",
			wantEngine: "0,8", wantIO: "1-7", wantOS: "9-15", wantLoops: 7,
			wantNotes: []string{"CPU 0 is given to the engine"},
		},
		{
			name: "I/O on all but one thread: engine gets the spare thread", topo: "box16", io: "0-14",
			wantEngine: "15", wantIO: "0-14", wantOS: "0,8", wantLoops: 8,
			wantNotes: []string{"I/O CPUs 7 are SMT siblings", "no CPU is left for the OS: it shares CPUs 0,8 with the I/O loops"},
		},
		{
			name: "I/O on a whole node: engine on the next node, noted", topo: "host256", io: "64-95",
			wantEngine: "1", wantIO: "64-95", wantOS: "0,2-63,96-255", wantNode: 0, wantLoops: 32,
			wantNotes: []string{"I/O CPUs 64-95 are not on the engine's NUMA node 0"},
		},
		{
			name: "I/O mostly on node 1: engine joins node 1", topo: "host256", io: "30-40",
			wantEngine: "41", wantIO: "30-40", wantOS: "0-29,42-255", wantNode: 1, wantLoops: 11,
			wantNotes: []string{"I/O CPUs 30-31 are not on the engine's NUMA node 1"},
		},

		// Both explicit.
		{
			name: "DESIGN example --engine-cores 2 --io-cores 3-34 crosses a node on the target", topo: "host256",
			engine: "2", io: "3-34",
			wantEngine: "2", wantIO: "3-34", wantOS: "0-1,35-255", wantLoops: 32,
			wantNotes: []string{"I/O CPUs 32-34 are not on the engine's NUMA node 0"},
		},
		{
			name: "explicit SMT siblings", topo: "box16", engine: "1", io: "9",
			wantEngine: "1", wantIO: "9", wantOS: "0,2-8,10-15", wantLoops: 1,
			wantNotes: []string{"I/O CPUs 9 are SMT siblings of the engine's CPUs"},
		},
		{
			name: "explicit I/O on CPU 0", topo: "box16", engine: "1", io: "0,2",
			wantEngine: "1", wantIO: "0,2", wantOS: "3-15", wantLoops: 2,
			wantNotes: []string{"CPU 0 is given to the I/O loops"},
		},
		{
			name: "explicit lists taking every CPU", topo: "box2", engine: "1", io: "0",
			wantEngine: "1", wantIO: "0", wantOS: "0", wantLoops: 1,
			wantNotes: []string{"no CPU is left for the OS"},
		},

		// Errors.
		{name: "overlap", topo: "box16", engine: "3", io: "2-5", wantErr: "CPU 3 is in both the engine list (3) and the I/O list (2-5)"},
		{name: "overlap on 2 CPUs", topo: "box2", engine: "1", io: "1", wantErr: "CPU 1 is in both"},
		{name: "unknown engine CPU", topo: "box2", engine: "2", wantErr: "engine CPU 2 is not online or not allowed (usable CPUs: 0-1)"},
		{name: "unknown I/O CPU", topo: "host256", io: "250-260", wantErr: "I/O CPU 256 is not online or not allowed (usable CPUs: 0-255)"},
		{name: "negative loops", topo: "box16", loops: -1, wantErr: "I/O loop count -1 is negative"},
		{name: "I/O takes every CPU", topo: "box2", io: "0-1", wantErr: "no CPU left for the engine: the I/O list 0-1 takes every online CPU"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := Request{EngineCores: cpus(t, tt.engine), IOCores: cpus(t, tt.io), IOLoops: tt.loops}
			l, err := Plan(topos[tt.topo], req)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Plan = %+v, %v; want error containing %q", l, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := fmt.Sprintf("engine=%s io=%s os=%s node=%d loops=%d",
				FormatCPUList(l.Engine), FormatCPUList(l.IO), FormatCPUList(l.OS), l.Node, l.Loops)
			want := fmt.Sprintf("engine=%s io=%s os=%s node=%d loops=%d",
				tt.wantEngine, tt.wantIO, tt.wantOS, tt.wantNode, tt.wantLoops)
			if got != want {
				t.Errorf("got  %s\nwant %s", got, want)
			}
			for _, list := range [][]int{l.Engine, l.IO, l.OS} {
				if !slices.IsSorted(list) {
					t.Errorf("list %v is not sorted", list)
				}
			}
			if len(l.Notes) != len(tt.wantNotes) {
				t.Fatalf("notes %q, want %d matching %q", l.Notes, len(tt.wantNotes), tt.wantNotes)
			}
			for i, n := range l.Notes {
				if !strings.Contains(n, tt.wantNotes[i]) {
					t.Errorf("note %d = %q, want it to contain %q", i, n, tt.wantNotes[i])
				}
			}
		})
	}
}

// TestPlanDefaultsInvariants plans every small machine shape, with and
// without NUMA splits, and checks the promises of the defaults rather than
// exact CPU numbers.
func TestPlanDefaultsInvariants(t *testing.T) {
	for sockets := 1; sockets <= 3; sockets++ {
		for cores := 1; cores <= 6; cores++ {
			for threads := 1; threads <= 2; threads++ {
				for nodes := 1; nodes <= 2; nodes++ {
					if cores%nodes != 0 {
						continue
					}
					m := machine{sockets: sockets, coresPerSocket: cores, threadsPerCore: threads, nodesPerSocket: nodes}
					t.Run(fmt.Sprintf("%dx%dx%d/%dnodes", sockets, cores, threads, nodes), func(t *testing.T) {
						checkDefaultPlan(t, m.topology())
					})
				}
			}
		}
	}
}

func checkDefaultPlan(t *testing.T, topo Topology) {
	l, err := Plan(topo, Request{})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Engine) == 0 || len(l.IO) == 0 || len(l.OS) == 0 {
		t.Fatalf("empty list in %+v", l)
	}
	if err := topo.Check(slices.Concat(l.Engine, l.IO, l.OS)); err != nil {
		t.Fatal(err)
	}
	// NUMA coherence: engine and I/O all on the layout's node.
	for _, c := range slices.Concat(l.Engine, l.IO) {
		if cpu, _ := topo.CPU(c); cpu.Node != l.Node {
			t.Errorf("CPU %d is on node %d, layout node %d: %+v", c, cpu.Node, l.Node, l)
		}
	}
	// Every CPU is accounted for.
	for _, c := range topo.IDs() {
		if !slices.Contains(l.Engine, c) && !slices.Contains(l.IO, c) && !slices.Contains(l.OS, c) {
			t.Errorf("CPU %d is in no list: %+v", c, l)
		}
	}
	if l.Loops != min(countCores(topo, l.IO), MaxAutoLoops) {
		t.Errorf("Loops = %d for I/O CPUs %v", l.Loops, l.IO)
	}
	nodeCores := topo.CoresOnNode(l.Node)
	if len(nodeCores) < 2 {
		return // the split-a-core cases are in TestPlan
	}
	// With two or more cores the engine has a physical core to itself.
	if !slices.Equal(l.Engine, topo.Siblings(l.Engine[0])) {
		t.Errorf("engine %v is not one whole core (siblings %v)", l.Engine, topo.Siblings(l.Engine[0]))
	}
	for _, c := range l.IO {
		if slices.Contains(l.Engine, c) || slices.Contains(l.Engine, topo.Siblings(c)[0]) {
			t.Errorf("I/O CPU %d shares the engine's core %v", c, l.Engine)
		}
	}
	// With three or more cores on the node, CPU 0's core stays with the OS,
	// and the OS list does not overlap our threads.
	if len(nodeCores) >= 3 {
		for _, c := range topo.Siblings(0) {
			if slices.Contains(l.Engine, c) || slices.Contains(l.IO, c) {
				t.Errorf("CPU %d of the OS core is in %+v", c, l)
			}
		}
		if len(l.Notes) != 0 {
			t.Errorf("unexpected notes %q", l.Notes)
		}
	}
}

func countCores(topo Topology, cpus []int) int {
	seen := map[[2]int]bool{}
	for _, id := range cpus {
		c, _ := topo.CPU(id)
		seen[[2]int{c.Socket, c.Core}] = true
	}
	return len(seen)
}

func TestPlanRestrictedTopology(t *testing.T) {
	// A container given CPUs 4-7,12-15 of box16: no CPU 0, so nothing is
	// reserved for the OS, every allowed core is used, and the OS is said
	// to share the first I/O core rather than the engine's.
	topo := box16.topology().Restrict(cpus(t, "4-7,12-15"))
	l, err := Plan(topo, Request{})
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprintf("%s|%s|%s", FormatCPUList(l.Engine), FormatCPUList(l.IO), FormatCPUList(l.OS)); got != "4,12|5-7,13-15|5,13" {
		t.Errorf("engine|io|os = %s, want 4,12|5-7,13-15|5,13", got)
	}
	if len(l.Notes) != 1 || !strings.Contains(l.Notes[0], "no CPU is left for the OS: it shares CPUs 5,13 with the I/O loops") {
		t.Errorf("notes %q", l.Notes)
	}
}

func TestPlanDoesNotAliasRequest(t *testing.T) {
	topo := box16.topology()
	req := Request{EngineCores: []int{3}, IOCores: []int{5, 4}}
	l, err := Plan(topo, req)
	if err != nil {
		t.Fatal(err)
	}
	req.EngineCores[0], req.IOCores[0] = 7, 7
	if !slices.Equal(l.Engine, []int{3}) || !slices.Equal(l.IO, []int{4, 5}) {
		t.Errorf("layout changed with the request: %+v", l)
	}
}

func TestPlanRejectsDuplicatesInRequest(t *testing.T) {
	// Lists built in code, not by ParseCPUList, can repeat a CPU.
	topo := box16.topology()
	for _, req := range []Request{
		{EngineCores: []int{3, 3}},
		{IOCores: []int{4, 5, 4}},
	} {
		_, err := Plan(topo, req)
		if err == nil || !strings.Contains(err.Error(), "is listed more than once") {
			t.Errorf("Plan(%+v) error = %v, want a duplicate error", req, err)
		}
	}
	// A restricted topology reports CPUs outside it by number.
	_, err := Plan(topo.Restrict([]int{4, 5, 6, 7}), Request{EngineCores: []int{2}})
	if err == nil || !strings.Contains(err.Error(), "engine CPU 2 is not online or not allowed (usable CPUs: 4-7)") {
		t.Errorf("Plan on restricted topology: %v", err)
	}
}
