package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/treasured/treasured/engine/journal"
	"github.com/treasured/treasured/netio"
	"github.com/treasured/treasured/schema"
	"github.com/treasured/treasured/schema/wire"
)

// syncBuffer is a bytes.Buffer safe to write from the server's goroutines
// while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// env is a test environment. Without a token key in it, the server runs
// without authentication (the tests of identity set the key themselves).
// startRun runs the server with args until ctx ends and returns, once it is
// up, its netio server and admin address, and the channel its exit code
// will arrive on.
func startRun(ctx context.Context, t *testing.T, args []string, getenv func(string) string, out *syncBuffer) (*netio.Server, string, <-chan int) {
	t.Helper()
	type up struct {
		srv   *netio.Server
		admin string
	}
	ready := make(chan up, 1)
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, nil, args, getenv, out, func(s *netio.Server, admin string) { ready <- up{s, admin} })
	}()
	select {
	case u := <-ready:
		return u.srv, u.admin, done
	case code := <-done:
		t.Fatalf("exited %d: %s", code, out.String())
	case <-time.After(30 * time.Second):
		t.Fatal("not up in 30 s")
	}
	return nil, "", nil
}

func env(m map[string]string) func(string) string {
	return func(k string) string {
		if v, ok := m[k]; ok {
			return v
		}
		if k == "TREASURED_INSECURE_NO_AUTH" && m["TREASURED_TOKEN_KEY"] == "" {
			return "true"
		}
		return ""
	}
}

func TestSizes(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "4096": 4096, "4K": 4096, "4MiB": 4 << 20, "1GiB": 1 << 30, "2g": 2 << 30, "512 KB": 512 << 10} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("%q: %d %v", in, got, err)
		}
	}
	for _, in := range []string{"", "x", "-1", "4X", "1.5G", "99999999999G"} {
		if _, err := parseSize(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

// Environment sets defaults; the command line wins.
func TestEnvOverrides(t *testing.T) {
	var o options
	fs, envErr := newFlags(&o, env(map[string]string{
		"TREASURED_MAX_PLAYERS": "100", "TREASURED_RCVBUF": "8MiB", "TREASURED_LISTEN": "[::1]:9000", "TREASURED_PIN": "false",
	}), io.Discard)
	if len(envErr.errs) != 0 {
		t.Fatal(envErr.errs)
	}
	if err := fs.Parse([]string{"--max-players", "200"}); err != nil {
		t.Fatal(err)
	}
	if o.maxPlayers != 200 || o.rcvbuf != 8<<20 || o.listen != "[::1]:9000" || o.pin {
		t.Fatalf("%+v", o)
	}
}

// Bad settings exit with status 2 and a message that names the problem.
func TestBadFlags(t *testing.T) {
	held, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	existing := filepath.Join(t.TempDir(), "old.journal")
	if err := os.WriteFile(existing, []byte("an old journal"), 0o644); err != nil {
		t.Fatal(err)
	}
	type badFlag struct {
		args []string
		env  map[string]string
		want string
	}
	cases := []badFlag{
		{[]string{"--tick", "soon"}, nil, "invalid value"},
		{[]string{"--rcvbuf", "4X"}, nil, "bad size"},
		{[]string{"--rcvbuf", "2GiB"}, nil, "socket buffers"},
		{[]string{"--no-such-flag"}, nil, "not defined"},
		{[]string{"extra"}, nil, "unexpected arguments"},
		{nil, map[string]string{"TREASURED_SNDBUF": "lots"}, "TREASURED_SNDBUF"},
		{[]string{"--engine-cores", "4095"}, nil, "CPU 4095"},
		{[]string{"--io-cores", "0-x"}, nil, "io-cores"},
		{[]string{"--fanout-cores", "4095"}, nil, "fanout-cores"},
		{[]string{"--fanout-workers", "65"}, nil, "fan-out workers"},
		{[]string{"--listen", "localhost:7777"}, nil, "want IP:port"},
		{[]string{"--listen", "127.0.0.1:70000"}, nil, "want IP:port"},
		{[]string{"--listen", held.LocalAddr().String()}, nil, "in use"},
		{[]string{"--admin", "127.0.0.1:99999"}, nil, "admin listener"},
		{[]string{"--max-players", "0"}, nil, "MaxPlayers"},
		{[]string{"--ring-size", "1000"}, nil, "ring size"},
		{[]string{"--sessions-per-ip", "-1"}, nil, "--sessions-per-ip"},
		{[]string{"--handshake-budget", "0"}, nil, "--handshake-budget"},
		{[]string{"--handshakes-per-ip", "0"}, nil, "--handshakes-per-ip"},
		{[]string{"--handshake-rate-per-ip", "1e9"}, nil, "rate"},
		{[]string{"--log-level", "loud"}, nil, "log-level"},
		{[]string{"--journal", existing}, nil, "file exists"},
		{nil, map[string]string{"TREASURED_JOURNAL": existing}, "file exists"},
		{[]string{"--journal", filepath.Join(existing, "x")}, nil, "--journal"},
		{[]string{"--lock-threads", "maybe"}, nil, "lock-threads"},
		{[]string{"--backend", "epoll"}, nil, "--backend"},
		{[]string{"--kernel-filter", "yes"}, nil, "--kernel-filter"},
		{[]string{"--recv-pace", "-1ms"}, nil, "--recv-pace"},
		{nil, map[string]string{"TREASURED_BACKEND": "io_uring"}, "--backend"},
	}
	if runtime.GOOS == "linux" { // the poll layout's
		cases = append(cases, badFlag{[]string{"--recv-pace", "30ms", "--backend", "poll"}, nil, "receive pace"})
	}
	for _, tc := range cases {
		var out syncBuffer
		args := append([]string{"--pin=false", "--admin=", "--max-players=64"}, tc.args...)
		code := run(context.Background(), nil, args, env(tc.env), &out, nil)
		if code != exitUsage || !strings.Contains(out.String(), tc.want) {
			t.Errorf("%v %v: exit %d, output %q (want %q)", tc.args, tc.env, code, out.String(), tc.want)
		}
	}
	if b, err := os.ReadFile(existing); err != nil || string(b) != "an old journal" {
		t.Errorf("the existing journal was touched: %q %v", b, err)
	}
}

// A real run: start, serve a player, answer /healthz, and on the signal
// send the player its Bye and exit 0.
func TestRunAndSignal(t *testing.T) {
	backends := []string{"gnet"}
	if runtime.GOOS == "linux" {
		backends = append(backends, "mmsg", "poll")
	}
	for _, b := range backends {
		t.Run(b, func(t *testing.T) { testRunAndSignal(t, b) })
	}
}

func testRunAndSignal(t *testing.T, backend string) {
	var out syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	jpath := filepath.Join(t.TempDir(), "run.journal")
	srv, admin, done := startRun(ctx, t, []string{"--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--pin=false",
		"--max-players", "64", "--log-format", "json", "--journal", jpath, "--backend", backend}, env(nil), &out)

	conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(srv.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	enc := schema.NewEncoder()
	var dec schema.Decoder
	buf := make([]byte, 2048)
	// recv returns the next datagram of the wanted type, skipping others.
	recv := func(want wire.Body, resend []byte) bool {
		for range 200 {
			if resend != nil {
				conn.Write(resend)
			}
			conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			n, err := conn.Read(buf)
			if err != nil {
				continue
			}
			if body, err := dec.Decode(buf[:n]); err == nil && body == want {
				return true
			}
		}
		return false
	}
	if !recv(wire.BodyChallenge, bytes.Clone(enc.Hello(&schema.HelloFrame{Version: schema.Version, ClientNonce: 1}))) {
		t.Fatal("no Challenge")
	}
	var ch schema.ChallengeFrame
	dec.ChallengeInto(&ch)
	if !recv(wire.BodyWelcome, bytes.Clone(enc.Connect(&schema.ConnectFrame{Version: schema.Version, Cookie: ch.Cookie,
		Expiry: ch.Expiry, ClientNonce: 1, PlayerKey: 1}))) {
		t.Fatal("no Welcome")
	}
	var w schema.WelcomeFrame
	dec.WelcomeInto(&w)
	if !recv(wire.BodySnapshot, nil) {
		t.Fatal("no snapshot")
	}

	// The first snapshot can leave before the tick that sent it is counted
	// (health says "starting" until then): wait on the outcome, boundedly.
	var code int
	var body []byte
	for range 100 {
		resp, err := http.Get("http://" + admin + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if code = resp.StatusCode; code == 200 && strings.Contains(string(body), "sessions=1") {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code != 200 || !strings.Contains(string(body), "sessions=1") {
		t.Fatalf("/healthz %d %q", code, body)
	}

	cancel() // what SIGTERM does through signal.NotifyContext
	if !recv(wire.BodyBye, nil) {
		t.Fatal("no Bye at shutdown")
	}
	var bye schema.ByeFrame
	dec.ByeInto(&bye)
	if bye.SessionID != w.SessionID || bye.Reason != uint8(wire.ByeReasonServerShutdown) {
		t.Fatalf("bye %+v", bye)
	}
	select {
	case code := <-done:
		if code != exitOK {
			t.Fatalf("exit %d: %s", code, out.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("did not exit")
	}
	for _, want := range []string{`"msg":"treasured listening"`, `"backend":"` + backend + `"`, `"msg":"shut down"`, `"gogc":400`, `"msg":"journal closed"`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("log lacks %s", want)
		}
	}
	// The journal replays to the same hashes, up to the final tick.
	f, err := os.Open(jpath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := journal.Replay(f, nil)
	if err != nil || res.Diverged || res.Truncated || res.Ticks == 0 || res.LastTick != srv.Tick() {
		t.Fatalf("replay: %+v %v (final tick %d)", res, err, srv.Tick())
	}
}

func TestLockThreads(t *testing.T) {
	for mode, want := range map[string]bool{"on": true, "off": false} {
		if got, err := lockThreads(mode); err != nil || got != want {
			t.Errorf("%q: %v %v", mode, got, err)
		}
	}
	for _, bad := range []string{"", "auto", "yes"} {
		if _, err := lockThreads(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
