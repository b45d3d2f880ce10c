package journal

import (
	"errors"
	"fmt"
	"io"

	"github.com/treasured/treasured/engine"
)

// Result is what a replay found.
type Result struct {
	Header Header // the journal's header (zero if it could not be read)

	// FromTick is the tick of the world the replay started from: 0 for a
	// fresh world, the checkpoint's tick for ReplayFrom.
	FromTick uint32
	// CheckpointVerified: ReplayFrom found the journal's frame of FromTick
	// and its hash equals the checkpoint's (a mismatch is a divergence at
	// FromTick). False when the journal starts at FromTick (no such frame).
	CheckpointVerified bool

	Ticks     int    // frames replayed
	FirstTick uint32 // first tick replayed (0 when none)
	LastTick  uint32 // world tick at the end: the last tick replayed
	FinalHash uint64 // replayed world's hash at LastTick

	// Diverged is set at the first tick whose replayed hash differs from
	// the journal's; the replay goes on unless onTick stops it.
	Diverged     bool
	DivergedTick uint32
	Want, Got    uint64 // journal and replay hash at DivergedTick

	// Truncated: the journal ends in a torn tail (Tail says where). The
	// frames before it were replayed; that is all a crash left.
	Truncated bool
	Tail      *FrameError

	// Stopped: onTick returned false.
	Stopped bool
}

// Replay rebuilds a fresh engine.World from the journal's config, steps it
// through every frame's records and compares its Hash with the journal's at
// every tick. onTick (may be nil) sees each tick's journal (want) and
// replayed (got) hash after the comparison; returning false stops the
// replay after that tick.
//
// A torn tail is not an error: Result.Truncated is set and everything
// before it is verified. The error is non-nil for a bad header, a journal
// that starts after tick 0 (it needs a checkpoint: use ReplayWorld), a
// corrupt frame in the middle (errors.Is ErrCorrupt; Result covers the
// frames before it) or a read error.
func Replay(r io.Reader, onTick func(tick uint32, want, got uint64) bool) (Result, error) {
	rd, err := NewReader(r)
	if err != nil {
		return Result{}, err
	}
	h := rd.Header()
	if h.StartTick != 0 {
		return Result{Header: h}, fmt.Errorf("journal: starts after tick %d: replaying it needs the checkpoint of that tick", h.StartTick)
	}
	w, err := engine.New(h.Config)
	if err != nil {
		return Result{Header: h}, fmt.Errorf("journal: %w", err)
	}
	return ReplayWorld(w, rd, onTick)
}

// ReplayWorld continues w from rd's next frame, as Replay does. w must be in
// the state the journal's writer was in before that frame: a fresh world of
// the header's Config for a new Reader, or a checkpoint of tick T after
// rd.SkipTo(T). Only the tick can be checked here; restoring the right
// state is the caller's promise.
func ReplayWorld(w *engine.World, rd *Reader, onTick func(tick uint32, want, got uint64) bool) (Result, error) {
	res := Result{Header: rd.Header(), FromTick: w.Tick(), LastTick: w.Tick(), FinalHash: w.Hash()}
	if next := rd.NextTick(); w.Tick()+1 != next {
		return res, fmt.Errorf("journal: world is at tick %d, the journal's next frame is tick %d", w.Tick(), next)
	}
	for {
		f, err := rd.Next()
		var fe *FrameError
		switch {
		case err == io.EOF:
			return res, nil
		case errors.As(err, &fe) && errors.Is(fe, ErrTruncatedTail):
			res.Truncated, res.Tail = true, fe
			return res, nil
		case err != nil:
			return res, err
		}
		w.Step(f.Records)
		got := w.Hash()
		if res.Ticks == 0 {
			res.FirstTick = f.Tick
		}
		res.Ticks++
		res.LastTick, res.FinalHash = w.Tick(), got
		if got != f.Hash && !res.Diverged {
			res.Diverged, res.DivergedTick, res.Want, res.Got = true, f.Tick, f.Hash, got
		}
		if onTick != nil && !onTick(f.Tick, f.Hash, got) {
			res.Stopped = true
			return res, nil
		}
	}
}

// ReplayFrom continues w, a world loaded from a checkpoint of tick T
// (engine.LoadCheckpoint), with the journal in r: the journal's config must
// be w's, it must start at or before T and reach T, and its frames after T
// are replayed as ReplayWorld does. This is recovery after a restart, and
// treasure-replay --checkpoint.
//
// When the journal holds the frame of tick T itself (it started before T),
// the hash recorded there must equal w.Hash(): otherwise the checkpoint is
// not of this run, and the result is a divergence at T
// (Result.Diverged, DivergedTick == T) with nothing replayed. A journal that
// ends before T is an error.
func ReplayFrom(w *engine.World, r io.Reader, onTick func(tick uint32, want, got uint64) bool) (Result, error) {
	rd, err := NewReader(r)
	if err != nil {
		return Result{}, err
	}
	h := rd.Header()
	T := w.Tick()
	res := Result{Header: h, FromTick: T, LastTick: T, FinalHash: w.Hash()}
	if h.Config.Normalized() != w.Config() {
		return res, errors.New("journal: the checkpoint's config differs from the journal's")
	}
	if h.StartTick > T {
		return res, fmt.Errorf("journal: starts after tick %d, later than the checkpoint's tick %d", h.StartTick, T)
	}
	if h.StartTick < T {
		// Frames up to T-1 are only checksummed; T is decoded for its hash.
		err := rd.SkipTo(T - 1)
		var f Frame
		if err == nil {
			f, err = rd.Next()
		}
		if err != nil {
			if err == io.EOF || errors.Is(err, ErrTruncatedTail) {
				return res, fmt.Errorf("journal: ends before the checkpoint's tick %d (%w)", T, err)
			}
			return res, err
		}
		if f.Hash != w.Hash() {
			res.Diverged, res.DivergedTick, res.Want, res.Got = true, T, f.Hash, w.Hash()
			return res, nil
		}
		res.CheckpointVerified = true
	}
	out, err := ReplayWorld(w, rd, onTick)
	out.CheckpointVerified = res.CheckpointVerified
	return out, err
}
