package deploy

import (
	"bufio"
	"debug/elf"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	yaml "go.yaml.in/yaml/v3"
)

// fleet is the part of an Agones Fleet this repository relies on.
type fleet struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Spec       struct {
		Template struct {
			Spec struct {
				Ports []struct {
					Name          string `yaml:"name"`
					PortPolicy    string `yaml:"portPolicy"`
					ContainerPort int    `yaml:"containerPort"`
					Protocol      string `yaml:"protocol"`
				} `yaml:"ports"`
				Health struct {
					Disabled            bool `yaml:"disabled"`
					InitialDelaySeconds int  `yaml:"initialDelaySeconds"`
					PeriodSeconds       int  `yaml:"periodSeconds"`
					FailureThreshold    int  `yaml:"failureThreshold"`
				} `yaml:"health"`
				Template struct {
					Spec struct {
						SecurityContext struct {
							RunAsNonRoot bool `yaml:"runAsNonRoot"`
							RunAsUser    int  `yaml:"runAsUser"`
						} `yaml:"securityContext"`
						Containers []container `yaml:"containers"`
					} `yaml:"spec"`
				} `yaml:"template"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type container struct {
	Name      string   `yaml:"name"`
	Image     string   `yaml:"image"`
	Args      []string `yaml:"args"`
	Resources struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
}

func loadFleet(t *testing.T) fleet {
	t.Helper()
	b, err := os.ReadFile("agones/fleet.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var f fleet
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("agones/fleet.yaml: %v", err)
	}
	return f
}

// agentHealthEvery is treasured's default --agones-health-every.
const agentHealthEvery = 2 * time.Second

// TestFleet checks fleet.yaml against what the server does: the UDP port it
// listens on, health settings that tolerate the agent's ping period, one
// whole CPU requested and limited (the single-CPU layout), a memory limit
// above --memlimit, a non-root user matching the image, and flags the
// binary accepts.
func TestFleet(t *testing.T) {
	f := loadFleet(t)
	if f.APIVersion != "agones.dev/v1" || f.Kind != "Fleet" {
		t.Errorf("apiVersion %q kind %q, want agones.dev/v1 Fleet", f.APIVersion, f.Kind)
	}
	gs := f.Spec.Template.Spec
	if len(gs.Template.Spec.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(gs.Template.Spec.Containers))
	}
	c := gs.Template.Spec.Containers[0]
	args := c.Args

	// Ports: one UDP game port, the one --listen binds.
	listen, ok := flagValue(args, "listen")
	if !ok {
		t.Fatal("the container does not pass --listen")
	}
	ap, err := netip.ParseAddrPort(listen)
	if err != nil {
		t.Fatalf("--listen %q: %v", listen, err)
	}
	if len(gs.Ports) != 1 {
		t.Fatalf("%d game server ports, want 1", len(gs.Ports))
	}
	p := gs.Ports[0]
	if p.Protocol != "UDP" || p.ContainerPort != int(ap.Port()) {
		t.Errorf("port %+v: want protocol UDP and containerPort %d (--listen %s)", p, ap.Port(), listen)
	}
	if !ap.Addr().IsUnspecified() {
		t.Errorf("--listen %s: in a pod the server must listen on all addresses", listen)
	}

	// Health: on, and at least two of the agent's pings per period, so one
	// late ping does not count as a failure.
	h := gs.Health
	if h.Disabled || h.PeriodSeconds <= 0 || h.FailureThreshold <= 0 {
		t.Errorf("health %+v: want enabled with a period and a failure threshold", h)
	}
	if period := time.Duration(h.PeriodSeconds) * time.Second; period < 2*agentHealthEvery {
		t.Errorf("health period %v is under two agent pings (%v each)", period, agentHealthEvery)
	}

	// Resources: requests == limits == one whole CPU.
	for _, r := range []map[string]string{c.Resources.Requests, c.Resources.Limits} {
		if r["cpu"] != "1" {
			t.Errorf("cpu %q, want \"1\" in requests and limits (the single-CPU layout, Guaranteed QoS)", r["cpu"])
		}
	}
	if c.Resources.Requests["memory"] != c.Resources.Limits["memory"] {
		t.Errorf("memory request %q != limit %q: not Guaranteed QoS", c.Resources.Requests["memory"], c.Resources.Limits["memory"])
	}
	memLimit := binaryBytes(t, c.Resources.Limits["memory"], k8sSuffixes)
	if ml, ok := flagValue(args, "memlimit"); !ok {
		t.Error("no --memlimit: the Go runtime would not collect harder before the container's limit")
	} else if n := binaryBytes(t, ml, flagSuffixes); n >= memLimit {
		t.Errorf("--memlimit %s is not below the container limit %s", ml, c.Resources.Limits["memory"])
	}

	// Image: the one `make image` tags.
	if want := makeVar(t, "IMAGE"); c.Image != want {
		t.Errorf("image %q, but make image builds %q", c.Image, want)
	}

	// Identity: non-root, the image's user.
	sc := gs.Template.Spec.SecurityContext
	if !sc.RunAsNonRoot || sc.RunAsUser == 0 {
		t.Errorf("securityContext %+v: want runAsNonRoot and a non-zero runAsUser", sc)
	}
	if uid := containerfileUser(t); uid != sc.RunAsUser {
		t.Errorf("runAsUser %d, but the Containerfile's USER is %d", sc.RunAsUser, uid)
	}

	// Flags: the binary must accept them (--plan parses, plans, exits).
	bin := treasuredBinary(t)
	if out, err := exec.Command(bin, append(args, "--plan")...).CombinedOutput(); err != nil {
		t.Errorf("treasured %s --plan: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// Binary size suffixes of Kubernetes quantities and of treasured's size flags.
var (
	k8sSuffixes  = map[string]int64{"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30}
	flagSuffixes = map[string]int64{"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}
)

// binaryBytes parses <n><suffix> with one of the given suffixes, such as a
// Kubernetes 512Mi or a treasured --memlimit 400MiB.
func binaryBytes(t *testing.T, s string, suffixes map[string]int64) int64 {
	t.Helper()
	for suf, m := range suffixes {
		if n, ok := strings.CutSuffix(s, suf); ok {
			if v, err := strconv.ParseInt(n, 10, 64); err == nil {
				return v * m
			}
		}
	}
	t.Fatalf("size %q: want a number with one of the suffixes %v", s, suffixes)
	return 0
}

// makeVar returns the default of a `NAME ?= value` line of the Makefile.
func makeVar(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(l, "?=")
		if ok && strings.TrimSpace(k) == name {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("the Makefile sets no %s ?= default", name)
	return ""
}

// containerfileUser returns the numeric user of the Containerfile's USER.
func containerfileUser(t *testing.T) int {
	t.Helper()
	lines := containerfile(t)
	for _, l := range lines {
		if u, ok := strings.CutPrefix(l, "USER "); ok {
			uid, _, _ := strings.Cut(strings.TrimSpace(u), ":")
			n, err := strconv.Atoi(uid)
			if err != nil {
				t.Fatalf("USER %q: want a numeric uid (FROM scratch has no /etc/passwd)", u)
			}
			return n
		}
	}
	t.Fatal("the Containerfile sets no USER: it would run as root")
	return 0
}

// containerfile returns the instruction lines of the Containerfile.
func containerfile(t *testing.T) []string {
	t.Helper()
	f, err := os.Open("container/Containerfile")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	return lines
}

// TestContainerfile: FROM scratch (nothing to pull), a numeric non-root
// USER, the binary `make image-binary` builds — statically linked, since
// scratch has no libc — and, where podman or buildah runs, the image builds.
func TestContainerfile(t *testing.T) {
	lines := containerfile(t)
	if lines[0] != "FROM scratch" {
		t.Errorf("first instruction %q, want FROM scratch", lines[0])
	}
	for _, l := range lines {
		if strings.HasPrefix(l, "FROM ") && l != "FROM scratch" {
			t.Errorf("%q: the image must not pull a base", l)
		}
	}
	if uid := containerfileUser(t); uid == 0 {
		t.Error("USER 0 is root")
	}

	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("SKIP: no make; the image binary is not built")
	}
	dir := t.TempDir()
	if out, err := exec.Command("make", "-C", "..", "--no-print-directory", "image-binary", "IMAGE_DIR="+dir).CombinedOutput(); err != nil {
		t.Fatalf("make image-binary: %v\n%s", err, out)
	}
	bin := filepath.Join(dir, "treasured")
	ef, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ef.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s has a program interpreter: not static, it cannot run FROM scratch", bin)
		}
	}
	if libs, _ := ef.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("%s needs shared libraries %v", bin, libs)
	}
	ef.Close()

	var build []string
	switch {
	case haveWorking("podman"):
		build = []string{"podman", "build", "-f", "container/Containerfile", "-t", "treasured-test:latest", dir}
	case haveWorking("buildah"):
		build = []string{"buildah", "bud", "-f", "container/Containerfile", "-t", "treasured-test:latest", dir}
	default:
		t.Skip("SKIP: neither podman nor buildah runs here (apt-get install podman); the image itself is not built")
	}
	if out, err := exec.Command(build[0], build[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(build, " "), err, out)
	}
	t.Cleanup(func() { _ = exec.Command(build[0], "rmi", "treasured-test:latest").Run() })
}

// haveWorking reports whether tool is installed and answers --version (a
// container tool may be installed where it cannot run, e.g. without user
// namespaces; then the test skips rather than fails).
func haveWorking(tool string) bool {
	if _, err := exec.LookPath(tool); err != nil {
		return false
	}
	return exec.Command(tool, "--version").Run() == nil
}
