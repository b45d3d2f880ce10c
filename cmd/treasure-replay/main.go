// Command treasure-replay verifies a treasured journal offline
// (docs/ARCHITECTURE.md "Journal and checkpoints"). It builds a fresh world from the configuration
// in the journal's header, replays every tick's ordered records through the
// engine and compares the state hash after each tick with the one the
// server recorded, stopping at the first that differs.
//
// With --checkpoint it does what a restart does: it loads the checkpoint of
// tick T (engine.LoadCheckpoint), checks it against the journal's hash of
// tick T when the journal has that frame, skips the frames up to T and
// replays from T+1 (journal.ReplayFrom). The journal may start at tick 0 or
// be a segment started at or before T.
//
// Given a data directory (treasured --data-dir), it verifies what a restart
// would recover: the newest checkpoint that loads (or --from-checkpoint
// FILE, or with --from-start tick 0) and every journal segment after it,
// checking that each segment starts where the previous one ended. It never
// changes the directory.
//
// Usage:
//
//	treasure-replay [--verbose] [--until TICK] [--checkpoint FILE] journal-file
//	treasure-replay [--verbose] [--until TICK] [--from-checkpoint FILE | --from-start] data-dir
//
// Exit status: 0 when every replayed hash matches (a torn tail, which a
// crash leaves, is warned about and the ticks before it are still
// verified); 1 when the replay diverges (including a checkpoint whose hash
// is not the journal's at its tick); 2 for a bad flag, an unreadable file,
// a bad header, a bad checkpoint, a checkpoint that does not fit the
// journal (another config, a journal that ends before it or starts after
// it), or a corrupt frame in the middle of the journal.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/treasured/treasured/engine"
	"github.com/treasured/treasured/engine/journal"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// Exit codes.
const (
	exitOK       = 0
	exitDiverged = 1
	exitError    = 2
)

const usage = `usage: treasure-replay [--verbose] [--until TICK] [--checkpoint FILE] journal-file
       treasure-replay [--verbose] [--until TICK] [--from-checkpoint FILE | --from-start] data-dir

Replays a treasured journal through the engine and checks the state hash of
every tick against the one the server recorded. With --checkpoint, starts
from the checkpoint's world and tick instead of tick 0, as a restart does.
Given a data directory (treasured --data-dir), replays what a restart would
recover: the newest usable checkpoint (or --from-checkpoint, or --from-start
for tick 0) and every journal segment after it.

Exit status: 0 all hashes match, 1 divergence, 2 bad usage or bad file.

Flags:
`

// run is main without the process: tests call it with their own writers.
func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("treasure-replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	verbose := fs.Bool("verbose", false, "print the journal and replay hash of every tick")
	until := fs.Uint64("until", 0, "stop after this tick (0: the whole journal)")
	ckptPath := fs.String("checkpoint", "", "start from this checkpoint `FILE` and replay the journal after its tick")
	fs.StringVar(ckptPath, "from-checkpoint", "", "same as --checkpoint; with a data directory, instead of its newest usable checkpoint")
	fromStart := fs.Bool("from-start", false, "with a data directory: replay from tick 0, ignoring its checkpoints")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitError // flag already printed the error and the usage
	}
	if *until > math.MaxUint32 {
		fmt.Fprintf(stderr, "treasure-replay: --until %d is beyond the last possible tick %d\n", *until, uint32(math.MaxUint32))
		return exitError
	}
	if fs.NArg() != 1 {
		fmt.Fprintf(stderr, "treasure-replay: want one journal file, got %d arguments\n", fs.NArg())
		fs.Usage()
		return exitError
	}
	path := fs.Arg(0)
	stop := uint32(*until)
	onTick := func(tick uint32, want, got uint64) bool {
		if *verbose {
			mark := "ok"
			if got != want {
				mark = "DIFFERS"
			}
			fmt.Fprintf(stdout, "tick %d: journal %#016x replay %#016x %s\n", tick, want, got, mark)
		}
		// After the first divergence every later hash differs too and says
		// nothing new: stop there.
		return got == want && (stop == 0 || tick < stop)
	}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		opt := journal.DirReplay{Checkpoint: *ckptPath, FromStart: *fromStart,
			OnTick: func(_ *engine.World, tick uint32, want, got uint64) bool { return onTick(tick, want, got) }}
		res, err := journal.ReplayDir(path, opt)
		fmt.Fprintf(stdout, "data directory %s: replay from tick %d\n", path, res.FromTick)
		return report(res, err, stop, stdout, stderr)
	}
	if *fromStart {
		fmt.Fprintln(stderr, "treasure-replay: --from-start needs a data directory")
		return exitError
	}
	var world *engine.World
	if *ckptPath != "" {
		w, err := engine.LoadCheckpointFile(*ckptPath)
		if err != nil {
			fmt.Fprintln(stderr, "treasure-replay:", err)
			return exitError
		}
		if *until != 0 && *until <= uint64(w.Tick()) {
			fmt.Fprintf(stderr, "treasure-replay: --until %d is not after the checkpoint's tick %d\n", *until, w.Tick())
			return exitError
		}
		world = w
		fmt.Fprintf(stdout, "checkpoint %s: tick %d, hash %#016x\n", *ckptPath, w.Tick(), w.Hash())
	}
	res, err, openErr := replayFile(path, world, onTick, stdout)
	if openErr != nil {
		fmt.Fprintln(stderr, "treasure-replay:", openErr)
		return exitError
	}
	return report(res, err, stop, stdout, stderr)
}

// replayFile replays the journal file at path, from world's tick when world
// is not nil (a loaded checkpoint), else from its start, calling onTick. It
// returns the replay's result and error, or openErr when the file could not
// be opened or its header read (then nothing was replayed).
func replayFile(path string, world *engine.World, onTick func(tick uint32, want, got uint64) bool, stdout io.Writer) (res journal.Result, err, openErr error) {
	f, openErr := os.Open(path)
	if openErr != nil {
		return res, nil, openErr
	}
	defer f.Close()
	// The header first, so it heads the --verbose lines; Replay (or
	// ReplayFrom) reads it again from the start.
	rd, openErr := journal.NewReader(f)
	if openErr != nil {
		return res, nil, openErr
	}
	h := rd.Header()
	c := h.Config
	fmt.Fprintf(stdout, "journal %s: format v%d, starts after tick %d; seed %#x, %d region(s) of %dx%d zones, %d player slots\n",
		path, h.Version, h.StartTick, c.Seed, c.Regions, c.ZonesX, c.ZonesY, c.MaxPlayers)
	if _, openErr = f.Seek(0, io.SeekStart); openErr != nil {
		return res, nil, openErr
	}
	if world == nil {
		res, err = journal.Replay(f, onTick)
		return res, err, nil
	}
	res, err = journal.ReplayFrom(world, f, onTick)
	if res.CheckpointVerified {
		fmt.Fprintf(stdout, "checkpoint matches the journal's hash of tick %d\n", res.FromTick)
	}
	return res, err, nil
}

// report prints how a replay ended and returns the exit status.
func report(res journal.Result, err error, stop uint32, stdout, stderr io.Writer) int {
	if res.Ticks > 0 {
		fmt.Fprintf(stdout, "replayed %d ticks (%d..%d); final tick %d, hash %#016x\n",
			res.Ticks, res.FirstTick, res.LastTick, res.LastTick, res.FinalHash)
	} else if res.FromTick > 0 {
		fmt.Fprintf(stdout, "replayed 0 ticks after the checkpoint's tick %d\n", res.FromTick)
	} else {
		fmt.Fprintln(stdout, "replayed 0 ticks: the journal holds no complete frame")
	}
	if err != nil {
		// A bad header, a corrupt frame in the middle, a read error: the
		// file cannot be trusted past this point (ticks before it, if any,
		// matched: the replay stops at a divergence before reading on).
		fmt.Fprintln(stderr, "treasure-replay:", err)
		return exitError
	}
	if res.Truncated {
		fmt.Fprintf(stderr, "treasure-replay: warning: %v; the %d complete ticks before it were verified\n", res.Tail, res.Ticks)
	}
	if res.Diverged {
		fmt.Fprintf(stdout, "DIVERGED at tick %d: journal hash %#016x, replay hash %#016x\n", res.DivergedTick, res.Want, res.Got)
		return exitDiverged
	}
	if stop != 0 && res.LastTick < stop && !res.Truncated {
		fmt.Fprintf(stderr, "treasure-replay: note: the journal ends at tick %d, before --until %d\n", res.LastTick, stop)
	}
	fmt.Fprintf(stdout, "OK: all %d hashes match\n", res.Ticks)
	return exitOK
}
