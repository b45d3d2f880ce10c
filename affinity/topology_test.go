package affinity

import (
	"errors"
	"io/fs"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestReadTopologyRecordedBox2(t *testing.T) {
	topo := box2(t)
	want := Topology{CPUs: []CPU{
		{ID: 0, Socket: 0, Core: 0, Node: 0},
		{ID: 1, Socket: 0, Core: 1, Node: 0},
	}}
	if !reflect.DeepEqual(topo, want) {
		t.Fatalf("got %+v, want %+v", topo, want)
	}
	if got := topo.Siblings(1); !slices.Equal(got, []int{1}) {
		t.Errorf("Siblings(1) = %v, want [1] (no SMT)", got)
	}
	if got, want := topo.String(), "2 CPUs (0-1), 2 physical cores, 1 sockets, 1 NUMA nodes"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestReadTopologyGenerated(t *testing.T) {
	for name, m := range map[string]machine{
		"box16":   box16,
		"host256": host256,
		"subNUMA": {sockets: 2, coresPerSocket: 4, threadsPerCore: 2, nodesPerSocket: 2},
		"no NUMA": {sockets: 2, coresPerSocket: 2, threadsPerCore: 2},
		"1 CPU":   box1,
		"1 core":  box1smt,
		"2x2 SMT": box4smt,
	} {
		t.Run(name, func(t *testing.T) {
			if got, want := fakeTopology(t, m), m.topology(); !reflect.DeepEqual(got, want) {
				t.Errorf("ReadTopology = %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestTopologyBox16(t *testing.T) {
	topo := box16.topology()
	if len(topo.CPUs) != 16 {
		t.Fatalf("%d CPUs, want 16", len(topo.CPUs))
	}
	if got := topo.Nodes(); !slices.Equal(got, []int{0}) {
		t.Errorf("Nodes() = %v, want [0]", got)
	}
	if got := topo.Siblings(3); !slices.Equal(got, []int{3, 11}) {
		t.Errorf("Siblings(3) = %v, want [3 11]", got)
	}
	if got := topo.Siblings(16); got != nil {
		t.Errorf("Siblings(16) = %v, want nil for an unknown CPU", got)
	}
	cores := topo.CoresOnNode(0)
	if len(cores) != 8 || !slices.Equal(cores[0], []int{0, 8}) || !slices.Equal(cores[7], []int{7, 15}) {
		t.Errorf("CoresOnNode(0) = %v, want 8 cores [0 8] .. [7 15]", cores)
	}
	if got, want := topo.String(), "16 CPUs (0-15), 8 physical cores, 1 sockets, 1 NUMA nodes"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestTopologyHost256(t *testing.T) {
	topo := host256.topology()
	if len(topo.CPUs) != 256 {
		t.Fatalf("%d CPUs, want 256", len(topo.CPUs))
	}
	if got := topo.Nodes(); !slices.Equal(got, []int{0, 1, 2, 3, 4, 5, 6, 7}) {
		t.Errorf("Nodes() = %v", got)
	}
	if got := FormatCPUList(topo.CPUsOnNode(3)); got != "96-127" {
		t.Errorf("CPUsOnNode(3) = %s, want 96-127", got)
	}
	if got := topo.CPUsOnNode(8); got != nil {
		t.Errorf("CPUsOnNode(8) = %v, want nil", got)
	}
	// core_id restarts per socket: CPU 33 is core 1 of socket 1, and must not
	// be taken for a sibling of CPU 1 (core 1 of socket 0).
	if got := topo.Siblings(33); !slices.Equal(got, []int{33}) {
		t.Errorf("Siblings(33) = %v, want [33]", got)
	}
	if len(topo.CoresOnNode(5)) != 32 {
		t.Errorf("CoresOnNode(5) has %d cores, want 32", len(topo.CoresOnNode(5)))
	}
	if got := topo.Sockets(); len(got) != 8 {
		t.Errorf("Sockets() = %v", got)
	}
}

func TestReadTopologySubNUMA(t *testing.T) {
	// One socket split into two nodes: Node must come from the node
	// cpulists, not from the socket.
	topo := fakeTopology(t, machine{sockets: 1, coresPerSocket: 4, threadsPerCore: 1, nodesPerSocket: 2})
	for _, c := range topo.CPUs {
		if want := c.ID / 2; c.Node != want || c.Socket != 0 {
			t.Errorf("CPU %+v, want socket 0 node %d", c, want)
		}
	}
}

func TestReadTopologyWithoutNodeDir(t *testing.T) {
	m := box16
	m.nodesPerSocket = 0
	topo := fakeTopology(t, m)
	if got := topo.Nodes(); !slices.Equal(got, []int{0}) {
		t.Errorf("Nodes() = %v, want [0] when sysfs has no node directory", got)
	}
	if len(topo.CPUsOnNode(0)) != 16 {
		t.Errorf("CPUsOnNode(0) = %v, want all 16", topo.CPUsOnNode(0))
	}
}

func TestReadTopologyOfflineCPU(t *testing.T) {
	// An offline CPU is absent from "online" and has no topology directory;
	// the node cpulist still names it (the kernel keeps node membership of
	// offline CPUs).
	files := box4smt.sysfsFiles()
	files["devices/system/cpu/online"] = "0,2-3\n"
	delete(files, "devices/system/cpu/cpu1/topology/core_id")
	delete(files, "devices/system/cpu/cpu1/topology/physical_package_id")
	topo, err := ReadTopology(writeSysfs(t, files))
	if err != nil {
		t.Fatal(err)
	}
	if got := topo.IDs(); !slices.Equal(got, []int{0, 2, 3}) {
		t.Errorf("IDs() = %v, want [0 2 3]", got)
	}
}

func TestReadTopologyErrors(t *testing.T) {
	tests := []struct {
		name     string
		edit     func(map[string]string)
		wantErr  string // substring
		notExist bool   // errors.Is(err, fs.ErrNotExist)
	}{
		{
			name:     "no online file",
			edit:     func(f map[string]string) { delete(f, "devices/system/cpu/online") },
			wantErr:  filepath.Join("cpu", "online"),
			notExist: true,
		},
		{
			name:    "malformed online",
			edit:    func(f map[string]string) { f["devices/system/cpu/online"] = "0-3,x\n" },
			wantErr: `"x" is not a CPU number`,
		},
		{
			name:    "empty online",
			edit:    func(f map[string]string) { f["devices/system/cpu/online"] = "\n" },
			wantErr: "lists no CPUs",
		},
		{
			name:     "missing core_id",
			edit:     func(f map[string]string) { delete(f, "devices/system/cpu/cpu2/topology/core_id") },
			wantErr:  filepath.Join("cpu2", "topology", "core_id"),
			notExist: true,
		},
		{
			name:    "non-numeric package id",
			edit:    func(f map[string]string) { f["devices/system/cpu/cpu3/topology/physical_package_id"] = "zero\n" },
			wantErr: filepath.Join("cpu3", "topology", "physical_package_id"),
		},
		{
			name:    "CPU in no node",
			edit:    func(f map[string]string) { f["devices/system/node/node0/cpulist"] = "0-2\n" },
			wantErr: "online CPU 3 is in no NUMA node",
		},
		{
			name:    "CPU in two nodes",
			edit:    func(f map[string]string) { f["devices/system/node/node1/cpulist"] = "3\n" },
			wantErr: "CPU 3 is in the cpulist of both node 0 and node 1",
		},
		{
			name:     "node dir without cpulist",
			edit:     func(f map[string]string) { f["devices/system/node/node1/meminfo"] = "" },
			wantErr:  filepath.Join("node1", "cpulist"),
			notExist: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := box4smt.sysfsFiles()
			tt.edit(files)
			_, err := ReadTopology(writeSysfs(t, files))
			if err == nil {
				t.Fatalf("no error, want one containing %q", tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), "affinity: ") {
				t.Errorf("error %q, want prefix \"affinity: \" and %q", err, tt.wantErr)
			}
			if got := errors.Is(err, fs.ErrNotExist); got != tt.notExist {
				t.Errorf("errors.Is(err, fs.ErrNotExist) = %v, want %v (err %v)", got, tt.notExist, err)
			}
		})
	}
}

func TestReadTopologyDefaultRoot(t *testing.T) {
	// "" must mean /sys. Where /sys has the files (Linux), the result must
	// equal reading "/sys" explicitly; elsewhere both must fail alike.
	a, errA := ReadTopology("")
	b, errB := ReadTopology(DefaultSysfsRoot)
	if (errA == nil) != (errB == nil) || !reflect.DeepEqual(a, b) {
		t.Fatalf(`ReadTopology("") = %v, %v; ReadTopology(%q) = %v, %v`, a, errA, DefaultSysfsRoot, b, errB)
	}
}

func TestTopologyCheckAndRestrict(t *testing.T) {
	topo := box16.topology()
	if err := topo.Check([]int{0, 15}); err != nil {
		t.Errorf("Check(0,15): %v", err)
	}
	err := topo.Check([]int{3, 16, 17})
	if err == nil || !strings.Contains(err.Error(), "CPU 16 is not online or not allowed (usable CPUs: 0-15)") {
		t.Errorf("Check(3,16,17) = %v, want it to name CPU 16", err)
	}

	// A container limited to CPUs 4-7,12-15 keeps their topology and loses
	// the rest, including CPU 0.
	r := topo.Restrict([]int{4, 5, 6, 7, 12, 13, 14, 15, 99})
	if got := FormatCPUList(r.IDs()); got != "4-7,12-15" {
		t.Errorf("Restrict: IDs %s, want 4-7,12-15", got)
	}
	if got := r.Siblings(5); !slices.Equal(got, []int{5, 13}) {
		t.Errorf("Restrict: Siblings(5) = %v, want [5 13]", got)
	}
	if _, ok := r.CPU(0); ok {
		t.Error("Restrict kept CPU 0")
	}
	if len(topo.CPUs) != 16 {
		t.Error("Restrict modified its receiver")
	}
}
