//go:build linux

package main

import (
	"bytes"
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/treasured/treasured/engine"
)

// benchAgainst runs the bench against a real server in process and returns
// its report, the engine's counters after the server stopped, and stderr.
func benchAgainst(t *testing.T, extra ...string) (*Report, engine.Stats, string) {
	t.Helper()
	srv, stop := startRealServer(t, 20)
	// The drain is generous: on a loaded box (-race, other jobs) the
	// server may apply the window's last actions a second late.
	args := append([]string{"--token-key", srv.key, "--addr", srv.addr, "--admin", srv.admin, "--players", "20", "--workers", "2", "--regions", "1",
		"--warmup", "300ms", "--duration", "600ms", "--drain", "1500ms", "--json", "--progress", "off",
		"--mix", "move=1,open=3,pickup=3"}, extra...)
	cfg, err := ParseArgs(args, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := runBench(cfg, &out, &errOut); code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var rep Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	srv.settle(t)
	stop()
	return &rep, srv.world.Stats(), errOut.String()
}

// forModes runs f with a socket per player and with players sharing
// sockets (3 sockets for 20 players: blocks of 8, 8 and 4 over 2 workers).
func forModes(t *testing.T, f func(t *testing.T, mode ...string)) {
	t.Run("socket-per-player", func(t *testing.T) { f(t, "--players-per-socket", "1") })
	t.Run("shared", func(t *testing.T) { f(t, "--players-per-socket", "8") })
}

// The whole generator against the in-process real server: every player
// connects, actions are applied and measured, loot is shown exactly once.
// Timing is not asserted (the machine may be busy); validity may depend on
// it, so it is only logged.
func TestBenchEndToEnd(t *testing.T) {
	forModes(t, func(t *testing.T, mode ...string) { benchEndToEnd(t, false, mode...) })
	// Busy polling measures the same, and never sleeps in a wait.
	t.Run("busy-poll", func(t *testing.T) { benchEndToEnd(t, true, "--players-per-socket", "8", "--busy-poll") })
}

func benchEndToEnd(t *testing.T, busy bool, mode ...string) {
	rep, st, stderr := benchAgainst(t, mode...)
	if rep.Connected != 20 || rep.Failed != 0 {
		t.Fatalf("connected %d failed %d rejected %d: %s", rep.Connected, rep.Failed, rep.Rejected, stderr)
	}
	if rep.Apply.Corrected.Count == 0 || rep.RTT.Corrected.Count == 0 || rep.TickToWire.Corrected.Count == 0 {
		t.Fatalf("nothing measured: apply %d rtt %d t2w %d", rep.Apply.Corrected.Count, rep.RTT.Corrected.Count, rep.TickToWire.Corrected.Count)
	}
	if rep.Loot.Duplicates != 0 || rep.Loot.LostLoot != 0 || rep.Loot.Shown == 0 || rep.Loot.OwnExpected == 0 {
		t.Fatalf("loot %+v", rep.Loot)
	}
	if rep.Actions.Unapplied != 0 || rep.Actions.Applied != rep.Actions.Scheduled {
		t.Fatalf("actions %+v", rep.Actions)
	}
	// The server admitted every action the bots made exactly once (its
	// seq window drops the redundant copies), and every player joined and
	// said Bye.
	if made := rep.Actions.Opens + rep.Actions.Pickups + rep.Actions.Moves; st.ActionsApplied != made {
		t.Errorf("the engine admitted %d actions, the bots made %d", st.ActionsApplied, made)
	}
	if st.Joins != 20 || st.Leaves != 20 {
		t.Errorf("engine joins %d leaves %d, want 20 each", st.Joins, st.Leaves)
	}
	if rep.Server == nil || !rep.Server.Scraped || len(rep.Server.Missing) != 0 {
		t.Errorf("server report %+v", rep.Server)
	}
	if rep.Snapshots.Expected == 0 {
		t.Fatal("no snapshots expected")
	}
	if rep.Generator.BusyPoll != busy || (rep.Generator.SleepingWaits == 0) != busy {
		t.Errorf("busy-poll %v: reported %v with %d sleeping waits", busy, rep.Generator.BusyPoll, rep.Generator.SleepingWaits)
	}
	t.Logf("valid %v %v; loss %d/%d; lag p99 %.3f ms; %s", rep.Valid, rep.Invalid, rep.Snapshots.Lost, rep.Snapshots.Expected, rep.SendLag.P["99"], stderr)
}

// The same under 22 % loss, 5 % duplication and reordering in each
// direction: loot still shown exactly once, nothing lost, actions applied.
func TestBenchImpaired(t *testing.T) {
	forModes(t, func(t *testing.T, mode ...string) {
		benchImpaired(t, append(mode, "--loss", "0.22", "--dup", "0.05", "--reorder", "0.1", "--seed", "7")...)
	})
}

func benchImpaired(t *testing.T, args ...string) {
	rep, _, _ := benchAgainst(t, args...)
	if rep.Connected != 20 {
		t.Fatalf("connected %d", rep.Connected)
	}
	if rep.Loot.Duplicates != 0 || rep.Loot.LostLoot != 0 || rep.Loot.RepeatsFiltered == 0 || rep.Loot.OwnExpected == 0 {
		t.Fatalf("loot %+v", rep.Loot)
	}
	// Loss is measured after the receive-side impairment: about 22 %.
	if rep.Snapshots.LossPct < 5 || rep.Snapshots.LossPct > 50 || rep.Snapshots.DupArrivals == 0 {
		t.Fatalf("snapshots %+v", rep.Snapshots)
	}
	if rep.Actions.Applied == 0 {
		t.Fatalf("actions %+v", rep.Actions)
	}
}

// A server that does not answer ends the run with a clear error within
// seconds.
func TestBenchNoAnswer(t *testing.T) {
	mute, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer mute.Close()
	cfg, err := ParseArgs([]string{"--addr", mute.LocalAddr().String(), "--admin", "", "--players", "5",
		"--connect-timeout", "500ms", "--progress", "off"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	start := time.Now()
	code := runBench(cfg, &out, &errOut)
	if code != exitFail || !strings.Contains(errOut.String(), "no answer to the handshake") {
		t.Fatalf("exit %d, stderr %q", code, errOut.String())
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Fatalf("took %v", d)
	}
}
