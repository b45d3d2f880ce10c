package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/treasured/treasured/client"
	"github.com/treasured/treasured/engine"
	"github.com/treasured/treasured/engine/journal"
	"github.com/treasured/treasured/schema"
	"github.com/treasured/treasured/schema/wire"
)

// crashChildEnv makes the test binary run treasured's main instead of the
// tests: the crash test starts the server as a real process that it can
// kill -9, without a separate go build.
const crashChildEnv = "TREASURED_TEST_RUN_SERVER"

func TestMain(m *testing.M) {
	if os.Getenv(crashChildEnv) == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// child is a treasured process started by a test.
type child struct {
	cmd  *exec.Cmd
	log  syncBuffer
	done chan error
}

// startChild runs treasured with args and waits (generously) until it
// listens, or fails the test with its log.
func startChild(t *testing.T, args ...string) *child {
	t.Helper()
	c := &child{done: make(chan error, 1)}
	c.cmd = exec.Command(os.Args[0], args...)
	c.cmd.Env = append(os.Environ(), crashChildEnv+"=1")
	c.cmd.Stderr = &c.log
	c.cmd.Stdout = io.Discard
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.done <- c.cmd.Wait() }()
	deadline := time.After(60 * time.Second)
	for !strings.Contains(c.log.String(), `"msg":"treasured listening"`) {
		select {
		case err := <-c.done:
			t.Fatalf("treasured exited (%v) before listening:\n%s", err, c.log.String())
		case <-deadline:
			c.cmd.Process.Kill()
			t.Fatalf("treasured not listening after 60 s:\n%s", c.log.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return c
}

// logLine returns the first JSON log line whose msg is msg.
func (c *child) logLine(t *testing.T, msg string) map[string]any {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(c.log.String()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil && m["msg"] == msg {
			return m
		}
	}
	t.Fatalf("no log line %q in:\n%s", msg, c.log.String())
	return nil
}

// wait waits for the process to exit and returns its exit code.
func (c *child) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-c.done:
	case <-time.After(60 * time.Second):
		c.cmd.Process.Kill()
		t.Fatalf("treasured did not exit within 60 s:\n%s", c.log.String())
	}
	return c.cmd.ProcessState.ExitCode()
}

// crashBot is one player of the crash test.
type crashBot struct {
	key uint64
	c   *client.Client

	// Owned by the bot's goroutine until stop has been closed and
	// finished is done.
	shown    map[client.LootKey]int
	opened   map[uint64]schema.LootEvent // Generated events shown, by loot id
	slots    map[uint32]bool             // Welcome player ids over the run
	maxItems uint32
	backward int // snapshots with fewer items than one seen before
	err      error

	connected atomic.Bool // connected after at least one reconnect
	lastLoot  atomic.Int64
}

func newCrashBot(key uint64) *crashBot {
	return &crashBot{key: key, shown: map[client.LootKey]int{}, opened: map[uint64]schema.LootEvent{}, slots: map[uint32]bool{}}
}

// run plays until stop: walk to the nearest chest in view, open it, pick
// its loot up; then, once quiet is closed, only acknowledge (so every event
// the server still owes arrives).
func (b *crashBot) run(addr string, quiet, stop <-chan struct{}) {
	opts := client.Options{
		Config: client.Config{PlayerKey: b.key},
		Handlers: client.Handlers{
			Loot: func(ev *schema.LootEvent, _ int64) {
				b.shown[client.LootKey{ID: ev.LootID, Kind: ev.Kind}]++
				if ev.Kind == uint8(wire.LootEventKindGenerated) {
					b.opened[ev.LootID] = *ev
				}
				b.lastLoot.Store(time.Now().UnixNano())
			},
			Snapshot: func(f *schema.SnapshotFrame, _ int64) {
				if f.You.Items < b.maxItems {
					b.backward++
				}
				b.maxItems = max(b.maxItems, f.You.Items)
			},
		},
		HandshakeTimeout: 60 * time.Second,
		Retransmit:       200 * time.Millisecond,
		Reconnect:        client.Reconnect{Silence: time.Second, MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second},
	}
	c, err := client.Dial(context.Background(), addr, opts)
	if err != nil {
		b.err = err
		return
	}
	b.c = c
	defer c.Close()
	b.slots[c.Session().Welcome().PlayerID] = true
	for {
		select {
		case <-stop:
			return
		default:
		}
		select {
		case <-quiet:
		default:
			if a, ok := b.next(c.View()); ok {
				c.Do(a)
			}
		}
		if err := c.SendInput(); err != nil {
			b.err = err
			return
		}
		if _, err := c.Poll(50 * time.Millisecond); err != nil {
			b.err = err
			return
		}
		if c.Connected() {
			b.slots[c.Session().Welcome().PlayerID] = true
			if c.Reconnects() > 0 {
				b.connected.Store(true)
			}
		}
	}
}

// next is the bot's action: pick up loot in reach, open a closed chest in
// reach, else walk towards the nearest closed chest (reach is 3 m).
func (b *crashBot) next(v *client.View) (schema.Action, bool) {
	me := v.You().Pos
	best, bestD := -1, int64(-1)
	for i := range v.NumChests() {
		ch := v.ChestAt(i)
		dx, dy := int64(ch.Pos.X-me.X), int64(ch.Pos.Y-me.Y)
		d := dx*dx + dy*dy
		if d <= 2_500*2_500 {
			switch {
			case ch.Status == uint8(wire.ChestStatusOpened) && ch.LootID != 0:
				return schema.Action{Kind: uint8(wire.ActionKindPickupLoot), Target: ch.LootID}, true
			case ch.Status == uint8(wire.ChestStatusClosed):
				return schema.Action{Kind: uint8(wire.ActionKindOpenChest), Target: uint64(ch.ID)}, true
			}
		}
		if ch.Status == uint8(wire.ChestStatusClosed) && (best < 0 || d < bestD) {
			best, bestD = i, d
		}
	}
	if best < 0 {
		return schema.Action{}, false
	}
	return schema.Action{Kind: uint8(wire.ActionKindMove), Pos: v.ChestAt(best).Pos}, true
}

// TestKillAndRecover is the crash test of the data directory: treasured
// runs as a subprocess with --data-dir and 200 players opening chests and
// picking up loot; it is killed with SIGKILL at a random moment and
// started again on the same directory and port; the players' clients
// reconnect by themselves. Then:
//
//   - the world the restarted server recovered has exactly the hash that an
//     independent replay of the whole journal (from tick 0, through every
//     segment) has at the last tick written before the kill;
//   - no loot id was generated twice over the whole run, and every
//     Generated event a player was shown is in the journal as it was shown
//     (no client saw loot the recovered world does not know);
//   - no player was shown a loot event twice, none lost an opening of its
//     own (every Generated event with it as opener was shown to it), and
//     no player's item count ever went down;
//   - every player came back in its own slot.
func TestKillAndRecover(t *testing.T) {
	players := 200
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 1))
	killAfter := time.Duration(1500+rng.IntN(2500)) * time.Millisecond
	t.Logf("seed %d: kill after %v", seed, killAfter)

	dir := t.TempDir()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	args := []string{"--insecure-no-auth", "--listen", addr, "--admin", "", "--pin=false", "--max-players", "256", "--regions", "1",
		"--data-dir", dir, "--checkpoint-every", "1s", "--keep-checkpoints", "1000", "--resume-grace", "2m",
		"--log-format", "json", "--io-loops", "1",
		// Every player runs from 127.0.0.1: lift the per-IP admission limits.
		"--sessions-per-ip", "0", "--handshakes-per-ip", "100000", "--handshake-rate-per-ip", "100000"}

	srv := startChild(t, args...)
	bots := make([]*crashBot, players)
	quiet, stop := make(chan struct{}), make(chan struct{})
	var finished sync.WaitGroup
	for i := range bots {
		bots[i] = newCrashBot(uint64(1000 + i))
		finished.Add(1)
		go func(b *crashBot) {
			defer finished.Done()
			b.run(addr, quiet, stop)
		}(bots[i])
	}
	time.Sleep(killAfter)
	if err := srv.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	srv.wait(t)

	srv = startChild(t, args...)
	rec := srv.logLine(t, "data directory: recovered")
	recTick, ok := rec["recovered_tick"].(float64)
	if !ok {
		t.Fatalf("recovered_tick %v", rec["recovered_tick"])
	}
	recHash := fmt.Sprint(rec["recovered_hash"])

	// Every player reconnects by itself (bounded: a loaded CI box).
	deadline := time.Now().Add(90 * time.Second)
	for {
		n := 0
		for _, b := range bots {
			if b.connected.Load() {
				n++
			}
		}
		if n == players {
			break
		}
		if time.Now().After(deadline) {
			close(stop)
			finished.Wait()
			t.Fatalf("%d of %d players reconnected within 90 s:\n%s", n, players, srv.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // play on the recovered world
	close(quiet)
	// Let every owed event arrive: until no player was shown loot for 2 s
	// (at least 3 s, at most 60).
	start := time.Now()
	for {
		last := int64(0)
		for _, b := range bots {
			last = max(last, b.lastLoot.Load())
		}
		since := time.Since(time.Unix(0, last))
		if time.Since(start) > 60*time.Second || (time.Since(start) > 3*time.Second && since > 2*time.Second) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	close(stop)
	finished.Wait()
	if err := srv.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if code := srv.wait(t); code != 0 {
		t.Fatalf("restarted server exited %d:\n%s", code, srv.log.String())
	}

	checkCrashRun(t, dir, bots, uint32(recTick), recHash)
}

// checkCrashRun replays the whole data directory from tick 0 and checks
// the players' experience against it.
func checkCrashRun(t *testing.T, dir string, bots []*crashBot, recTick uint32, recHash string) {
	t.Helper()
	generated := map[uint64]schema.LootEvent{}
	dupIDs := 0
	hashAt := ""
	res, err := journal.ReplayDir(dir, journal.DirReplay{FromStart: true, OnTick: func(w *engine.World, tick uint32, want, got uint64) bool {
		for _, ev := range w.TickEvents() {
			if ev.Kind != uint8(wire.LootEventKindGenerated) {
				continue
			}
			if _, ok := generated[ev.LootID]; ok {
				dupIDs++
			}
			generated[ev.LootID] = ev
		}
		if tick == recTick {
			hashAt = fmt.Sprintf("%#016x", got)
		}
		return true
	}})
	if err != nil || res.Diverged {
		t.Fatalf("replay of the data directory: %v %+v", err, res)
	}
	if hashAt != recHash {
		t.Fatalf("recovered hash %s at tick %d, the journal's replay has %s", recHash, recTick, hashAt)
	}
	if dupIDs != 0 {
		t.Fatalf("%d loot ids generated twice", dupIDs)
	}
	var shownTwice, lost, foreign, backward, moved, opened, shown int
	for _, b := range bots {
		if b.err != nil {
			t.Fatalf("player %d: %v", b.key, b.err)
		}
		for _, n := range b.shown {
			shown++
			if n > 1 {
				shownTwice++
			}
		}
		for id, ev := range b.opened {
			if g, ok := generated[id]; !ok || g != ev {
				foreign++
			}
		}
		backward += b.backward
		if len(b.slots) != 1 {
			moved++
		}
		for slot := range b.slots {
			for id, ev := range generated {
				if ev.Player == slot {
					opened++
					if b.shown[client.LootKey{ID: id, Kind: ev.Kind}] == 0 {
						lost++
					}
				}
			}
		}
	}
	t.Logf("%d ticks replayed, recovered at tick %d, %d loot generated, %d own openings, %d (id, kind) shown",
		res.Ticks, recTick, len(generated), opened, shown)
	if shownTwice != 0 || lost != 0 || foreign != 0 || backward != 0 || moved != 0 {
		t.Fatalf("shown twice %d, own openings lost %d, shown but not journaled %d, item counts down %d, players in another slot %d",
			shownTwice, lost, foreign, backward, moved)
	}
	if opened == 0 || recTick == 0 {
		t.Fatalf("a run without loot (%d openings) or without recovery (tick %d) proves nothing", opened, recTick)
	}
}
