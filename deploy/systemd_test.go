package deploy

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/treasured/treasured/netio"
)

const unitPath = "systemd/treasured.service"

// unit is a parsed systemd unit: section -> key -> values in file order.
type unit map[string]map[string][]string

func parseUnit(t *testing.T, path string) unit {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u := unit{}
	section := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			u[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s:%d: not a key=value line in a section: %q", path, n, line)
			}
			u[section][k] = append(u[section][k], v)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return u
}

// one returns the single value of section/key, failing if it is not set
// exactly once.
func (u unit) one(t *testing.T, section, key string) string {
	t.Helper()
	v := u[section][key]
	if len(v) != 1 {
		t.Fatalf("[%s] %s is set %d times, want once", section, key, len(v))
	}
	return v[0]
}

// buildTreasured builds cmd/treasured once per test binary, into binDir.
var buildTreasured = sync.OnceValues(func() (string, error) {
	bin := filepath.Join(binDir, "treasured")
	out, err := exec.Command("go", "build", "-o", bin, "../cmd/treasured").CombinedOutput()
	if err != nil {
		return "", &buildError{err, out}
	}
	return bin, nil
})

type buildError struct {
	err error
	out []byte
}

func (e *buildError) Error() string { return e.err.Error() + ": " + string(e.out) }

func treasuredBinary(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("SKIP: no go command on PATH to build cmd/treasured")
	}
	bin, err := buildTreasured()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// flagValue returns the value of --name in args ("--name v" or "--name=v").
func flagValue(args []string, name string) (string, bool) {
	for i, a := range args {
		if a == "--"+name && i+1 < len(args) {
			return args[i+1], true
		}
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v, true
		}
	}
	return "", false
}

// TestSystemdUnitPolicy checks the promises the unit makes to an operator:
// restart after a crash but not after a usage error, a dedicated user,
// file-descriptor headroom, the hardening, and the data dir writable and
// passed to the server.
func TestSystemdUnitPolicy(t *testing.T) {
	u := parseUnit(t, unitPath)
	want := map[string]string{
		"Restart":                  "on-failure",
		"RestartPreventExitStatus": "2",
		"NoNewPrivileges":          "yes",
		"ProtectSystem":            "strict",
		"ProtectHome":              "yes",
		"PrivateTmp":               "yes",
		"CapabilityBoundingSet":    "CAP_BPF", // the kernel filter's, and nothing else
		"AmbientCapabilities":      "CAP_BPF",
		"StateDirectory":           "treasured",
	}
	for k, v := range want {
		if got := u.one(t, "Service", k); got != v {
			t.Errorf("[Service] %s=%q, want %q", k, got, v)
		}
	}
	if user := u.one(t, "Service", "User"); user == "" || user == "root" || user == "0" {
		t.Errorf("User=%q: the server must run as a dedicated, unprivileged user", user)
	}
	if n, err := strconv.Atoi(u.one(t, "Service", "LimitNOFILE")); err != nil || n < 4096 {
		t.Errorf("LimitNOFILE=%q: want a number >= 4096", u.one(t, "Service", "LimitNOFILE"))
	}

	args := strings.Fields(u.one(t, "Service", "ExecStart"))
	dataDir, ok := flagValue(args, "data-dir")
	if !ok {
		t.Fatalf("ExecStart %q does not pass --data-dir", args)
	}
	rw := strings.Fields(u.one(t, "Service", "ReadWritePaths"))
	if !slices.Contains(rw, dataDir) {
		t.Errorf("ReadWritePaths=%v does not include the data dir %s (ProtectSystem=strict makes everything else read-only)", rw, dataDir)
	}
	if dataDir != "/var/lib/"+u.one(t, "Service", "StateDirectory") {
		t.Errorf("--data-dir %s is not the StateDirectory's /var/lib path, so systemd would not create it for the service user", dataDir)
	}
	// SIGTERM is the graceful shutdown; systemd must wait longer than the
	// server's own bound before it kills.
	if d := u.one(t, "Service", "TimeoutStopSec"); d != "20s" {
		t.Errorf("TimeoutStopSec=%s, want 20s (--shutdown-timeout 10 s plus margin)", d)
	}
}

// TestSystemdUnitFlags runs the unit's own ExecStartPre and ExecStart
// command lines through the real binary with --plan appended, which parses
// and checks every flag, plans the cores and exits without binding a port:
// a renamed or mistyped flag fails here.
func TestSystemdUnitFlags(t *testing.T) {
	bin := treasuredBinary(t)
	u := parseUnit(t, unitPath)
	help, _ := exec.Command(bin, "--help").CombinedOutput()
	for _, key := range []string{"ExecStartPre", "ExecStart"} {
		args := strings.Fields(u.one(t, "Service", key))
		if args[0] != "/usr/local/bin/treasured" {
			t.Fatalf("%s runs %s, want /usr/local/bin/treasured", key, args[0])
		}
		args = args[1:]
		if _, ok := flagValue(args, "data-dir"); ok && !bytes.Contains(help, []byte("-data-dir")) {
			// The crash-recovery work adds --data-dir; until this build has
			// it, check the rest of the command line.
			t.Logf("%s: this build has no --data-dir flag yet; checking the other flags", key)
			args = dropFlag(args, "data-dir")
		}
		out, err := exec.Command(bin, append(args, "--plan")...).CombinedOutput()
		if err != nil {
			t.Errorf("%s: treasured %s --plan: %v\n%s", key, strings.Join(args, " "), err, out)
		}
	}
}

func dropFlag(args []string, name string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		switch {
		case args[i] == "--"+name:
			i++
		case strings.HasPrefix(args[i], "--"+name+"="):
		default:
			out = append(out, args[i])
		}
	}
	return out
}

// TestSystemdAnalyzeVerify runs systemd's own checker over the unit, with
// the binary path pointed at a fresh build (verify checks that it exists).
// Any message is a failure: verify exits 0 on unknown keys and bad values,
// which it only prints.
func TestSystemdAnalyzeVerify(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("SKIP: systemd-analyze not installed (Debian: apt-get install systemd); the unit is not verified")
	}
	bin := treasuredBinary(t)
	text, err := os.ReadFile(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "treasured.service")
	if err := os.WriteFile(path, bytes.ReplaceAll(text, []byte("/usr/local/bin/treasured"), []byte(bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(sa, "verify", path).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// TestSysctlCoversSocketBuffers: the sysctl file's maxima must admit the
// socket buffers the server asks for by default, or the kernel silently
// caps them; and every key must be one this kernel knows.
func TestSysctlCoversSocketBuffers(t *testing.T) {
	const path = "sysctl.d/60-treasured.conf"
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	vals := map[string]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s:%d: %q is not key = value", path, n, line)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		vals[k] = v
		proc := filepath.Join("/proc/sys", strings.ReplaceAll(k, ".", "/"))
		if _, err := os.Stat("/proc/sys/net"); err == nil {
			if _, err := os.Stat(proc); err != nil {
				t.Errorf("%s:%d: %s is not a sysctl of this kernel (%v)", path, n, k, err)
			}
		}
	}
	for _, k := range []string{"net.core.rmem_max", "net.core.wmem_max"} {
		n, err := strconv.Atoi(vals[k])
		if err != nil {
			t.Errorf("%s = %q: want a byte count", k, vals[k])
			continue
		}
		if n < netio.DefaultSocketBuffer {
			t.Errorf("%s = %d is below the server's default socket buffer %d: the kernel would cap it", k, n, netio.DefaultSocketBuffer)
		}
	}
	if _, ok := vals["net.core.netdev_max_backlog"]; !ok {
		t.Error("net.core.netdev_max_backlog is not set")
	}
}
