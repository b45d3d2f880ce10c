package main

import (
	"context"
	crand "crypto/rand"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/treasured/treasured/client"
	"github.com/treasured/treasured/client/clienttest"
	"github.com/treasured/treasured/netio/auth"
	"github.com/treasured/treasured/schema/wire"
)

// writeKey writes a fresh key file with mode perm and returns its path and key.
func writeKey(t *testing.T, perm os.FileMode) (string, *auth.Key) {
	t.Helper()
	k, path, err := clienttest.NewKeyFile(t.TempDir(), perm)
	if err != nil {
		t.Fatal(err)
	}
	return path, k
}

// No key is a usage error (exit 2) naming the fix; so are a key file others
// may read, a key together with --insecure-no-auth, and a bad public address.
func TestTokenKeyFlags(t *testing.T) {
	good, _ := writeKey(t, 0o600)
	open, _ := writeKey(t, 0o644)
	noAuthOff := map[string]string{"TREASURED_INSECURE_NO_AUTH": "false"}
	cases := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{nil, noAuthOff, "no --token-key"},
		{[]string{"--token-key", filepath.Join(t.TempDir(), "missing")}, noAuthOff, "--token-key"},
		{[]string{"--token-key", open}, noAuthOff, "--token-key"},
		{[]string{"--token-key", good, "--insecure-no-auth"}, noAuthOff, "pick one"},
		{[]string{"--token-key", good, "--public-addr", "example.com:7777"}, noAuthOff, "--public-addr"},
		{[]string{"--token-key", good, "--public-addr", "0.0.0.0:7777"}, noAuthOff, "public address"},
	}
	for _, tc := range cases {
		var out syncBuffer
		args := append([]string{"--pin=false", "--admin=", "--max-players=64", "--listen=127.0.0.1:0"}, tc.args...)
		if code := run(context.Background(), nil, args, env(tc.env), &out, nil); code != exitUsage || !strings.Contains(out.String(), tc.want) {
			t.Errorf("%v: exit %d, output %q (want %q)", tc.args, code, out.String(), tc.want)
		}
	}
}

// With --token-key the server admits a client holding a token issued with
// that key for its address, and refuses one without.
func TestRunWithTokenKey(t *testing.T) {
	path, key := writeKey(t, 0o600)
	var out syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv, _, done := startRun(ctx, t, []string{"--listen", "127.0.0.1:0", "--admin", "", "--pin=false", "--max-players", "64",
		"--token-key", path}, env(map[string]string{"TREASURED_INSECURE_NO_AUTH": "false"}), &out)
	dctx, dcancel := context.WithTimeout(ctx, 20*time.Second)
	defer dcancel()
	_, err := client.Dial(dctx, srv.Addr().String(), client.Options{Config: client.Config{PlayerKey: 9}})
	var rej *client.RejectedError
	if !errors.As(err, &rej) || rej.Reason != wire.RejectReasonBadToken.String() {
		t.Fatalf("no token: %v", err)
	}
	tok, keys, err := key.Issue(nil, auth.Claims{UserID: 77, Servers: []netip.AddrPort{srv.Addr()}, Expires: time.Now().Add(time.Minute)}, crand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.Dial(dctx, srv.Addr().String(), client.Options{Config: client.Config{Credentials: client.Credentials{Token: tok, Keys: keys}}})
	if err != nil {
		t.Fatalf("with a token: %v\n%s", err, out.String())
	}
	defer c.Close()
	for deadline := time.Now().Add(20 * time.Second); c.Session().Stats.Snapshots == 0; {
		if time.Now().After(deadline) {
			t.Fatal("no sealed snapshot in 20 s")
		}
		if _, err := c.Poll(100 * time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	if code := <-done; code != exitOK {
		t.Fatalf("exit %d", code)
	}
}
