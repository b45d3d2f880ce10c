package main

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/treasured/treasured/netio/auth"
)

var fixedNow = time.Unix(1_800_000_000, 0)

func runCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, &out, &errb, func() time.Time { return fixedNow }, rand.Reader)
	return code, out.String(), errb.String()
}

// fields reads issue's key=value lines.
func fields(t *testing.T, out string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("line %q is not key=value", line)
		}
		m[k] = v
	}
	return m
}

func genkey(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "keys")
	if code, _, stderr := runCmd(t, "genkey", "--out", path, "--id", "7"); code != exitOK {
		t.Fatalf("genkey: %d %s", code, stderr)
	}
	return path
}

// TestIssueVerifies: a token issued by the command verifies under the key
// file with the server address it names, and carries the printed session
// keys and user.
func TestIssueVerifies(t *testing.T) {
	path := genkey(t)
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, %v; want 0600", st.Mode().Perm(), err)
	}
	code, out, stderr := runCmd(t, "issue", "--key", path, "--user", "42", "--server", "127.0.0.1:7777,[::1]:7777", "--ttl", "1m")
	if code != exitOK {
		t.Fatalf("issue: %d %s", code, stderr)
	}
	f := fields(t, out)
	tok, err := base64.StdEncoding.DecodeString(f["token"])
	if err != nil {
		t.Fatal(err)
	}
	v := mustVerifier(t, path, "[::1]:7777")
	var got auth.Token
	if err := v.Verify(tok, fixedNow, &got); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if got.UserID != 42 || got.KeyID != 7 || hex.EncodeToString(got.Keys.ClientToServer[:]) != f["client_to_server_key"] ||
		hex.EncodeToString(got.Keys.ServerToClient[:]) != f["server_to_client_key"] {
		t.Fatalf("token %+v does not match the printed %v", got, f)
	}
	if f["expires"] != fixedNow.Add(time.Minute).UTC().Format(time.RFC3339) || f["user"] != "42" || f["key_id"] != "7" {
		t.Fatalf("printed %v", f)
	}
	if err := v.Verify(tok, fixedNow.Add(time.Minute), &got); err == nil {
		t.Fatal("token still valid at its expiry")
	}
}

func mustVerifier(t *testing.T, path, addr string) *auth.Verifier {
	t.Helper()
	cur, prev, err := auth.LoadKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	addrs, err := parseServers(addr)
	if err != nil {
		t.Fatal(err)
	}
	v, err := auth.NewVerifier(cur, prev, addrs)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestRotate: after one rotation a token of the old key is still accepted,
// after two it is refused as from a retired key, and new tokens use the
// new key.
func TestRotate(t *testing.T) {
	path := genkey(t)
	_, out, _ := runCmd(t, "issue", "--key", path, "--user", "1", "--server", "127.0.0.1:7777", "--format", "hex")
	old := fields(t, out)["token"]
	inspect := func() (int, string) {
		code, out, _ := runCmd(t, "inspect", "--key", path, "--server", "127.0.0.1:7777", old)
		return code, out
	}
	if code, out := inspect(); code != exitOK || !strings.Contains(out, "user=1") {
		t.Fatalf("inspect before rotation: %d %s", code, out)
	}
	if code, _, stderr := runCmd(t, "rotate", "--key", path); code != exitOK {
		t.Fatalf("rotate: %s", stderr)
	}
	if code, out := inspect(); code != exitOK {
		t.Fatalf("inspect after one rotation: %d %s", code, out)
	}
	_, out, _ = runCmd(t, "issue", "--key", path, "--user", "1", "--server", "127.0.0.1:7777")
	if id := fields(t, out)["key_id"]; id != "8" {
		t.Fatalf("issued with key %s after rotation, want 8", id)
	}
	if code, _, stderr := runCmd(t, "rotate", "--key", path); code != exitOK {
		t.Fatalf("rotate: %s", stderr)
	}
	if code, out := inspect(); code != exitRefused || !strings.Contains(out, auth.ErrUnknownKey.Error()) {
		t.Fatalf("inspect after two rotations: %d %s", code, out)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("rotated file mode %v, %v", st.Mode().Perm(), err)
	}
}

func TestInspectRefusesOtherServer(t *testing.T) {
	path := genkey(t)
	_, out, _ := runCmd(t, "issue", "--key", path, "--user", "1", "--server", "127.0.0.1:7777")
	code, out, _ := runCmd(t, "inspect", "--key", path, "--server", "127.0.0.1:7778", fields(t, out)["token"])
	if code != exitRefused || !strings.Contains(out, auth.ErrWrongServer.Error()) {
		t.Fatalf("inspect for another port: %d %s", code, out)
	}
}

// TestBadUsageExits2: every bad flag or file is a clear message and exit 2.
func TestBadUsageExits2(t *testing.T) {
	path := genkey(t)
	open := filepath.Join(t.TempDir(), "open")
	if err := os.WriteFile(open, auth.FormatKeyFile(mustKey(t), nil), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		args []string
		msg  string
	}{
		"no command":          {nil, "usage"},
		"unknown command":     {[]string{"mint"}, "unknown command"},
		"genkey no out":       {[]string{"genkey"}, "--out FILE is required"},
		"genkey overwrite":    {[]string{"genkey", "--out", path}, "exists"},
		"genkey bad id":       {[]string{"genkey", "--out", path + "2", "--id", "4294967296"}, "beyond"},
		"unknown flag":        {[]string{"issue", "--color", "red"}, "flag provided but not defined"},
		"issue no key":        {[]string{"issue", "--user", "1", "--server", "127.0.0.1:1"}, "--key FILE is required"},
		"issue user 0":        {[]string{"issue", "--key", path, "--server", "127.0.0.1:1"}, "non-zero user"},
		"issue no server":     {[]string{"issue", "--key", path, "--user", "1"}, "--server ADDR"},
		"issue bad server":    {[]string{"issue", "--key", path, "--user", "1", "--server", "localhost:7777"}, "IP:port"},
		"issue wildcard":      {[]string{"issue", "--key", path, "--user", "1", "--server", "0.0.0.0:7777"}, "clients reach"},
		"issue no port":       {[]string{"issue", "--key", path, "--user", "1", "--server", "127.0.0.1:0"}, "with a port"},
		"issue five servers":  {[]string{"issue", "--key", path, "--user", "1", "--server", "1.1.1.1:1,1.1.1.2:1,1.1.1.3:1,1.1.1.4:1,1.1.1.5:1"}, "at most 4"},
		"issue ttl 0":         {[]string{"issue", "--key", path, "--user", "1", "--server", "127.0.0.1:1", "--ttl", "0s"}, "outside"},
		"issue ttl too long":  {[]string{"issue", "--key", path, "--user", "1", "--server", "127.0.0.1:1", "--ttl", "25h"}, "outside"},
		"issue bad format":    {[]string{"issue", "--key", path, "--user", "1", "--server", "127.0.0.1:1", "--format", "pem"}, "base64 or hex"},
		"issue missing file":  {[]string{"issue", "--key", path + ".none", "--user", "1", "--server", "127.0.0.1:1"}, "no such file"},
		"issue open key file": {[]string{"issue", "--key", open, "--user", "1", "--server", "127.0.0.1:1"}, "chmod 600"},
		"issue extra arg":     {[]string{"issue", "--key", path, "--user", "1", "--server", "127.0.0.1:1", "extra"}, "want 0 arguments"},
		"inspect no token":    {[]string{"inspect", "--key", path, "--server", "127.0.0.1:1"}, "want 1 arguments"},
		"inspect not a token": {[]string{"inspect", "--key", path, "--server", "127.0.0.1:1", "!!"}, "neither hex nor base64"},
		"rotate no key":       {[]string{"rotate"}, "--key FILE is required"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			code, _, stderr := runCmd(t, c.args...)
			if code != exitUsage || !strings.Contains(stderr, c.msg) {
				t.Fatalf("exit %d, stderr %q; want 2 and %q", code, stderr, c.msg)
			}
		})
	}
}

func mustKey(t *testing.T) *auth.Key {
	t.Helper()
	k, err := auth.GenerateKey(1, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
