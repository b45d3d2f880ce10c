package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/treasured/treasured/affinity"
	"github.com/treasured/treasured/netio"
)

// runPlan runs treasured with args and fails the test if it starts a server.
func runPlan(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var out syncBuffer
	code := run(context.Background(), nil, args, env(nil), &out, func(*netio.Server, string) {
		t.Errorf("%v started a server", args)
	})
	return code, out.String()
}

// writeHost8x32 writes the sysfs files ReadTopology reads for the target
// host: 8 sockets of 32 cores, one NUMA node per socket, no SMT, CPUs
// numbered socket by socket.
func writeHost8x32(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	write := func(rel, content string) {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("devices/system/cpu/online", "0-255")
	for cpu := range 256 {
		dir := fmt.Sprintf("devices/system/cpu/cpu%d/topology/", cpu)
		write(dir+"physical_package_id", fmt.Sprint(cpu/32))
		write(dir+"core_id", fmt.Sprint(cpu%32))
	}
	for n := range 8 {
		write(fmt.Sprintf("devices/system/node/node%d/cpulist", n), fmt.Sprintf("%d-%d", n*32, n*32+31))
	}
	return root
}

// planLine returns the CPU list of one role ("engine", "io", "os") in a
// --plan output.
func planLine(t *testing.T, out, role string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^  ` + role + ` +(\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no %q line in:\n%s", role, out)
	}
	return m[1]
}

// TestPlanTargetHost: --plan on a recorded 8x32-core tree prints the layout
// docs/TUNING.md describes, exits 0 and starts nothing; and the flags it
// prints reproduce the same layout.
func TestPlanTargetHost(t *testing.T) {
	root := writeHost8x32(t)
	code, out := runPlan(t, "--plan", "--plan-sysfs", root)
	if code != exitOK {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	for role, want := range map[string]string{"engine": "32", "io": "33-63", "os": "0-31,64-255"} {
		if got := planLine(t, out, role); got != want {
			t.Errorf("%s = %s, want %s\n%s", role, got, want, out)
		}
	}
	for _, want := range []string{"256 CPUs", "8 NUMA nodes", "NUMA node 1", "31 event loop(s)"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	m := regexp.MustCompile(`flags that fix this layout: (.*)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no flags line:\n%s", out)
	}
	code, again := runPlan(t, append([]string{"--plan-sysfs", root}, strings.Fields(m[1])...)...)
	if code != exitOK {
		t.Fatalf("with %s: exit %d:\n%s", m[1], code, again)
	}
	for _, role := range []string{"engine", "io", "os"} {
		if a, b := planLine(t, out, role), planLine(t, again, role); a != b {
			t.Errorf("%s: %s by default, %s with the printed flags", role, a, b)
		}
	}
}

// TestPlanRecordedBox2 plans on the recorded 2-CPU tree of the affinity
// tests (the dev machines): engine on CPU 1, I/O shares CPU 0 with the OS.
func TestPlanRecordedBox2(t *testing.T) {
	code, out := runPlan(t, "--plan-sysfs", filepath.Join("..", "..", "affinity", "testdata", "box2"), "--fanout-workers", "2", "--fanout-cores", "0")
	if code != exitOK {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	if e, i := planLine(t, out, "engine"), planLine(t, out, "io"); e != "1" || i != "0" {
		t.Errorf("engine %s io %s, want 1 and 0:\n%s", e, i, out)
	}
	if got := planLine(t, out, "fanout"); got != "0" {
		t.Errorf("fanout %s, want 0", got)
	}
	if !strings.Contains(out, "note: no CPU is left for the OS") {
		t.Errorf("the shared-CPU note is missing:\n%s", out)
	}
}

// TestPlanThisHost: --plan without a tree plans on this machine.
func TestPlanThisHost(t *testing.T) {
	if _, err := affinity.HostTopology(); err != nil {
		t.Skipf("no readable CPU topology here: %v", err)
	}
	code, out := runPlan(t, "--plan")
	if code != exitOK || !strings.Contains(out, "this host's /sys") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}

// TestPlanBadRequests: what the server would refuse at start-up, --plan
// refuses the same way, with exit 2 and the reason.
func TestPlanBadRequests(t *testing.T) {
	box2 := filepath.Join("..", "..", "affinity", "testdata", "box2")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--plan-sysfs", box2, "--engine-cores", "5"}, "engine CPU 5"},
		{[]string{"--plan-sysfs", box2, "--engine-cores", "1", "--io-cores", "1"}, "both"},
		{[]string{"--plan-sysfs", box2, "--io-cores", "x"}, "--io-cores"},
		{[]string{"--plan-sysfs", box2, "--io-loops", "-1"}, "--io-loops"},
		{[]string{"--plan-sysfs", box2, "--fanout-cores", "7"}, "--fanout-cores"},
		{[]string{"--plan-sysfs", filepath.Join(t.TempDir(), "missing")}, "CPU topology"},
	} {
		code, out := runPlan(t, tc.args...)
		if code != exitUsage || !strings.Contains(out, tc.want) {
			t.Errorf("%v: exit %d, output %q (want exit 2 and %q)", tc.args, code, out, tc.want)
		}
	}
}
