// Command treasure-token is the issuing side of connect tokens
// (docs/PROTOCOL.md "Who holds what"): it makes
// and rotates the key file an issuer shares with its servers, and issues a
// token the way a backend that authenticated a user would, for tests,
// development and scripts.
//
// Usage:
//
//	treasure-token genkey --out FILE [--id N]
//	treasure-token rotate --key FILE
//	treasure-token issue --key FILE --user ID --server ADDR[,ADDR...] [--ttl 30s] [--format base64|hex]
//	treasure-token inspect --key FILE --server ADDR[,ADDR...] TOKEN
//
// issue prints key=value lines: the token, the two session keys the client
// needs (hex), the user, the key id and the expiry. A real backend sends the
// same over its authenticated channel (HTTPS) to the client it logged in.
//
// Exit status: 0 done, 1 inspect refused the token, 2 bad usage or an
// unusable key file.
package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/treasured/treasured/netio/auth"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, time.Now, rand.Reader))
}

// Exit codes.
const (
	exitOK      = 0
	exitRefused = 1
	exitUsage   = 2
)

// maxTTL bounds a token's life: a token is used within seconds of its
// issue, and one that lives long is one that can be stolen and used.
const maxTTL = 24 * time.Hour

const usage = `usage: treasure-token genkey --out FILE [--id N]
       treasure-token rotate --key FILE
       treasure-token issue --key FILE --user ID --server ADDR[,ADDR...] [--ttl 30s] [--format base64|hex]
       treasure-token inspect --key FILE --server ADDR[,ADDR...] TOKEN

genkey   writes a new key file (mode 0600; refuses to overwrite one)
rotate   makes a new current key; the old current becomes the previous, still
         accepted, and the old previous is retired
issue    prints a connect token for a user and the session keys the client needs
inspect  verifies a token as a server at ADDR would and prints its content
`

// env is what run was given, shared by the subcommands.
type env struct {
	stdout, stderr io.Writer
	now            func() time.Time
	rand           io.Reader
}

// run is main without the process: tests call it with their own writers,
// clock and randomness.
func run(args []string, stdout, stderr io.Writer, now func() time.Time, rnd io.Reader) int {
	e := &env{stdout: stdout, stderr: stderr, now: now, rand: rnd}
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	cmds := map[string]func([]string) int{
		"genkey": e.genkey, "rotate": e.rotate, "issue": e.issue, "inspect": e.inspect,
	}
	cmd, ok := cmds[args[0]]
	switch {
	case args[0] == "-h" || args[0] == "--help" || args[0] == "help":
		fmt.Fprint(stdout, usage)
		return exitOK
	case !ok:
		fmt.Fprintf(stderr, "treasure-token: unknown command %q\n%s", args[0], usage)
		return exitUsage
	}
	return cmd(args[1:])
}

func (e *env) fail(format string, a ...any) int {
	fmt.Fprintf(e.stderr, "treasure-token: "+format+"\n", a...)
	return exitUsage
}

// flags parses a subcommand's flags; ok false means exit with code.
func (e *env) flags(fs *flag.FlagSet, args []string, nargs int) (code int, ok bool) {
	fs.SetOutput(e.stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK, false
		}
		return exitUsage, false // flag printed the error and the usage
	}
	if fs.NArg() != nargs {
		return e.fail("%s: want %d arguments after the flags, got %d (%q)", fs.Name(), nargs, fs.NArg(), fs.Args()), false
	}
	return 0, true
}

func (e *env) genkey(args []string) int {
	fs := flag.NewFlagSet("genkey", flag.ContinueOnError)
	out := fs.String("out", "", "write the key file to `FILE` (must not exist)")
	id := fs.Uint("id", 1, "the key's id, 0 to 4294967295")
	if code, ok := e.flags(fs, args, 0); !ok {
		return code
	}
	if *out == "" {
		return e.fail("genkey: --out FILE is required")
	}
	if *id > 1<<32-1 {
		return e.fail("genkey: --id %d is beyond 4294967295", *id)
	}
	k, err := auth.GenerateKey(uint32(*id), e.rand)
	if err != nil {
		return e.fail("genkey: %v", err)
	}
	f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return e.fail("genkey: %v", err)
	}
	if _, err := f.Write(auth.FormatKeyFile(k, nil)); err != nil {
		f.Close()
		return e.fail("genkey: writing %s: %v", *out, err)
	}
	if err := f.Close(); err != nil {
		return e.fail("genkey: writing %s: %v", *out, err)
	}
	fmt.Fprintf(e.stdout, "wrote key %d to %s\n", k.ID, *out)
	return exitOK
}

func (e *env) rotate(args []string) int {
	fs := flag.NewFlagSet("rotate", flag.ContinueOnError)
	path := fs.String("key", "", "the key file `FILE` to rotate in place")
	if code, ok := e.flags(fs, args, 0); !ok {
		return code
	}
	if *path == "" {
		return e.fail("rotate: --key FILE is required")
	}
	cur, _, err := auth.LoadKeyFile(*path)
	if err != nil {
		return e.fail("rotate: %v", err)
	}
	next, err := auth.GenerateKey(cur.ID+1, e.rand)
	if err != nil {
		return e.fail("rotate: %v", err)
	}
	// Written beside and renamed over, so a server never reads half a file.
	tmp, err := os.CreateTemp(filepath.Dir(*path), ".treasure-token-*")
	if err != nil {
		return e.fail("rotate: %v", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(auth.FormatKeyFile(next, cur)); err != nil {
		tmp.Close()
		return e.fail("rotate: %v", err)
	}
	if err := tmp.Close(); err != nil {
		return e.fail("rotate: %v", err)
	}
	if err := os.Rename(tmp.Name(), *path); err != nil {
		return e.fail("rotate: %v", err)
	}
	fmt.Fprintf(e.stdout, "%s: current key %d, previous %d\n", *path, next.ID, cur.ID)
	return exitOK
}

// parseServers reads a comma-separated list of host:port addresses.
func parseServers(s string) ([]netip.AddrPort, error) {
	if s == "" {
		return nil, errors.New("--server ADDR[,ADDR...] is required")
	}
	var out []netip.AddrPort
	for _, f := range strings.Split(s, ",") {
		ap, err := netip.ParseAddrPort(strings.TrimSpace(f))
		if err != nil {
			return nil, fmt.Errorf("--server %q: want IP:port or [IPv6]:port: %w", f, err)
		}
		if ap.Port() == 0 || ap.Addr().IsUnspecified() {
			return nil, fmt.Errorf("--server %q: want the address clients reach, with a port", f)
		}
		out = append(out, ap)
	}
	if len(out) > auth.MaxAddrs {
		return nil, fmt.Errorf("--server: %d addresses, a token holds at most %d", len(out), auth.MaxAddrs)
	}
	return out, nil
}

func (e *env) issue(args []string) int {
	fs := flag.NewFlagSet("issue", flag.ContinueOnError)
	path := fs.String("key", "", "the key file `FILE`; its current key seals the token")
	user := fs.Uint64("user", 0, "the user id the token vouches for (non-zero)")
	servers := fs.String("server", "", "comma-separated `ADDR`s (IP:port) of the servers that may accept it")
	ttl := fs.Duration("ttl", 30*time.Second, "how long the token is valid, 1s to 24h")
	format := fs.String("format", "base64", "token encoding: base64 or hex")
	if code, ok := e.flags(fs, args, 0); !ok {
		return code
	}
	if *path == "" {
		return e.fail("issue: --key FILE is required")
	}
	if *user == 0 {
		return e.fail("issue: --user must be a non-zero user id")
	}
	if *ttl < time.Second || *ttl > maxTTL {
		return e.fail("issue: --ttl %v is outside 1s..%v", *ttl, maxTTL)
	}
	var encode func([]byte) string
	switch *format {
	case "base64":
		encode = base64.StdEncoding.EncodeToString
	case "hex":
		encode = hex.EncodeToString
	default:
		return e.fail("issue: --format %q: want base64 or hex", *format)
	}
	cur, _, addrs, err := loadKeys(*path, *servers)
	if err != nil {
		return e.fail("issue: %v", err)
	}
	expires := e.now().Add(*ttl).Truncate(time.Second)
	tok, keys, err := cur.Issue(nil, auth.Claims{UserID: *user, Servers: addrs, Expires: expires}, e.rand)
	if err != nil {
		return e.fail("issue: %v", err)
	}
	fmt.Fprintf(e.stdout, "token=%s\n", encode(tok))
	fmt.Fprintf(e.stdout, "client_to_server_key=%s\n", hex.EncodeToString(keys.ClientToServer[:]))
	fmt.Fprintf(e.stdout, "server_to_client_key=%s\n", hex.EncodeToString(keys.ServerToClient[:]))
	fmt.Fprintf(e.stdout, "user=%d\nkey_id=%d\nexpires=%s\n", *user, cur.ID, expires.UTC().Format(time.RFC3339))
	return exitOK
}

// loadKeys reads the --server list and the key file, what issue and inspect
// both start from.
func loadKeys(path, servers string) (cur, prev *auth.Key, addrs []netip.AddrPort, err error) {
	addrs, err = parseServers(servers)
	if err != nil {
		return nil, nil, nil, err
	}
	cur, prev, err = auth.LoadKeyFile(path)
	if err != nil {
		return nil, nil, nil, err
	}
	return cur, prev, addrs, nil
}

// decodeToken accepts either encoding issue prints.
func decodeToken(s string) ([]byte, error) {
	if b, err := hex.DecodeString(s); err == nil {
		return b, nil
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, errors.New("token is neither hex nor base64")
	}
	return b, nil
}

func (e *env) inspect(args []string) int {
	fs := flag.NewFlagSet("inspect", flag.ContinueOnError)
	path := fs.String("key", "", "the key file `FILE` the server would load")
	servers := fs.String("server", "", "comma-separated `ADDR`s the server answers at")
	if code, ok := e.flags(fs, args, 1); !ok {
		return code
	}
	if *path == "" {
		return e.fail("inspect: --key FILE is required")
	}
	cur, prev, addrs, err := loadKeys(*path, *servers)
	if err != nil {
		return e.fail("inspect: %v", err)
	}
	v, err := auth.NewVerifier(cur, prev, addrs)
	if err != nil {
		return e.fail("inspect: %v", err)
	}
	b, err := decodeToken(fs.Arg(0))
	if err != nil {
		return e.fail("inspect: %v", err)
	}
	var t auth.Token
	if err := v.Verify(b, e.now(), &t); err != nil {
		fmt.Fprintf(e.stdout, "refused: %v\n", err)
		return exitRefused
	}
	fmt.Fprintf(e.stdout, "valid\nuser=%d\nkey_id=%d\nexpires=%s\nservers=%v\n",
		t.UserID, t.KeyID, time.Unix(int64(t.Expires), 0).UTC().Format(time.RFC3339), t.Servers())
	return exitOK
}
