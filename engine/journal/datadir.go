package journal

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/treasured/treasured/engine"
)

// A data directory holds a world's journal segments and checkpoints, so a
// server can be killed at any moment and start again where it was:
//
//	checkpoint-0000012000.ckpt   engine checkpoint of tick 12000
//	journal-0000012000.seg       journal segment: frames 12001, 12002, ...
//
// The journal rotates to a new segment at every checkpoint, so a segment
// starts at the tick of a checkpoint (or at 0) and recovery needs the newest
// usable checkpoint plus the segments from there on. See Open and DirOptions
// and, for what a crash can lose, the package comment.

const (
	segPrefix, segSuffix   = "journal-", ".seg"
	ckptPrefix, ckptSuffix = "checkpoint-", ".ckpt"
)

// SegmentName is the file name of the segment whose first frame is tick+1.
func SegmentName(tick uint32) string { return fmt.Sprintf("%s%010d%s", segPrefix, tick, segSuffix) }

// CheckpointName is the file name of the checkpoint of tick.
func CheckpointName(tick uint32) string {
	return fmt.Sprintf("%s%010d%s", ckptPrefix, tick, ckptSuffix)
}

// parseTickName returns the tick in a name made by SegmentName or
// CheckpointName with the given prefix and suffix.
func parseTickName(name, prefix, suffix string) (uint32, bool) {
	s, ok := strings.CutPrefix(name, prefix)
	if !ok {
		return 0, false
	}
	if s, ok = strings.CutSuffix(s, suffix); !ok || len(s) != 10 {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 32)
	return uint32(n), err == nil
}

// ErrRefused is wrapped by every error Open returns because the directory's
// contents cannot be trusted to continue this world: another world's
// configuration, a future format version, a gap in the ticks, a broken hash
// chain, damage that no crash explains. Nothing in the directory has been
// changed when Open refuses.
var ErrRefused = errors.New("journal: data directory refused")

func refuse(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrRefused}, args...)...)
}

// DirOptions tune a data directory. The zero value is the default.
type DirOptions struct {
	// CheckpointEvery is the number of ticks between checkpoints. 0 means
	// 10 s of ticks at the config's TickHz.
	CheckpointEvery uint32
	// Keep is the number of newest checkpoints kept; older checkpoints and
	// the segments only they need are deleted. 0 means 2, so a corrupt
	// newest checkpoint still has one to fall back to.
	Keep int
	// Journal tunes the segments' Writer (fsync policy).
	Journal Options
	// Logger receives recovery and checkpoint messages; nil discards them.
	Logger *slog.Logger
}

// Recovery says what Open found and did.
type Recovery struct {
	Fresh          bool     // the directory held no world: started at tick 0
	Checkpoint     string   // file the world was loaded from; "" for tick 0
	CheckpointTick uint32   // its tick
	Skipped        []string // newer checkpoints that failed to load, and why
	Segments       int      // segments replayed
	Replayed       int      // frames replayed
	Truncated      string   // segment whose torn tail was cut off; "" if none
	TruncatedAt    int64    // its new size
	TornReason     string   // what the torn tail looked like
	Ended          int      // sessions of the crashed run ended (see Open)
	RecoveredTick  uint32   // the last tick the journal held: recovery replayed up to it
	RecoveredHash  uint64   // the world's hash there, before the sessions were ended
	Tick           uint32   // the world's tick when Open returned
	Load, Replay   time.Duration
}

// Dir is an open data directory. It is the server's journal
// (netio.Journal): Append, Close on the tick goroutine; SyncedTick from any.
type Dir struct {
	path  string
	cfg   engine.Config
	world *engine.World
	opt   DirOptions
	log   *slog.Logger
	every uint32

	cur atomic.Pointer[Writer] // the segment being appended to

	// Checkpoint pipeline: the tick goroutine encodes into the buffer when
	// the writer goroutine has handed it back (free), swaps in the segment
	// the writer goroutine created ahead (ready) and hands both the buffer
	// and the segment it replaced to the writer goroutine (jobs). One
	// buffer: a checkpoint still being written when the next is due makes
	// that one be skipped, and with it the writer's order of work is simple.
	free   chan int
	bufs   [1][]byte
	ready  chan prepared
	jobs   chan ckptJob
	done   chan struct{}
	hold   chan struct{} // tests: the writer goroutine waits on it before each job
	closed atomic.Bool
	stats  DirStats
}

// DirStats are the data directory's counters, safe from any goroutine.
type DirStats struct {
	Checkpoints       atomic.Uint64 // written and durable
	CheckpointSkipped atomic.Uint64 // not taken: the previous one was still being written
	CheckpointErrors  atomic.Uint64 // failed writes, rotations, prunes
	LastCheckpoint    atomic.Uint32 // tick of the newest durable checkpoint
	EncodeNanos       atomic.Int64  // tick-goroutine time of the last checkpoint (encode + rotate)
}

type ckptJob struct {
	tick  uint32
	buf   int
	old   *Writer  // segment to close (fsync); nil if the rotation failed
	stale prepared // a segment created ahead for a skipped checkpoint (w nil: none)
}

// prepared is a segment the writer goroutine created ahead of the
// checkpoint of tick, so that rotating costs the tick goroutine a pointer
// swap and no allocation. A crash may leave it behind: it holds no frame,
// and recovery removes segments without frames.
type prepared struct {
	w    *Writer
	tick uint32
}

// Stats are the directory's counters.
func (d *Dir) Stats() *DirStats { return &d.stats }

// World is the recovered (or fresh) world the directory journals.
func (d *Dir) World() *engine.World { return d.world }

// dirFiles is what a directory listing found.
type dirFiles struct {
	segs  []uint32 // segment start ticks, ascending
	ckpts []uint32 // checkpoint ticks, descending
}

func listDir(path string) (dirFiles, error) {
	var f dirFiles
	ents, err := os.ReadDir(path)
	if err != nil {
		return f, fmt.Errorf("journal: %w", err)
	}
	for _, e := range ents {
		if t, ok := parseTickName(e.Name(), segPrefix, segSuffix); ok {
			f.segs = append(f.segs, t)
		} else if t, ok := parseTickName(e.Name(), ckptPrefix, ckptSuffix); ok {
			f.ckpts = append(f.ckpts, t)
		}
	}
	slices.Sort(f.segs)
	slices.Sort(f.ckpts)
	slices.Reverse(f.ckpts)
	return f, nil
}

// Open opens (creating it if needed) the data directory at path for the
// world of cfg and returns it with the world to run: fresh at tick 0 for a
// new or empty directory, otherwise recovered. Recovery loads the newest
// checkpoint that loads (a corrupt one is skipped and logged), replays the
// segments from there, checking every frame's checksum and the hash chain
// (each replayed tick's hash against the one the crashed run journaled),
// cuts off a torn tail of the last segment (logged) and starts a new
// segment at the recovered tick, so tick numbers and chest generations go
// on and no loot id is issued twice.
//
// A restart ends every session of the crashed run: when the recovered
// world has active players, Open steps one tick of Leaves for them and
// journals it, which parks them (Config.GraceTicks) until their players
// reconnect and resume.
//
// Open refuses (errors.Is ErrRefused; the directory is not changed) data of
// another world configuration, a future format version, a gap between
// segments, a checkpoint or hash chain that disagrees with the journal, or
// damage in the middle of a segment.
func Open(path string, cfg engine.Config, opt DirOptions) (*Dir, Recovery, error) {
	var rec Recovery
	if err := cfg.Validate(); err != nil {
		return nil, rec, fmt.Errorf("journal: %w", err)
	}
	cfg = cfg.Normalized()
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Keep <= 0 {
		opt.Keep = 2
	}
	every := opt.CheckpointEvery
	if every == 0 {
		every = 10 * cfg.TickHz
	}
	if err := os.MkdirAll(path, 0o755); err != nil {
		return nil, rec, fmt.Errorf("journal: data directory: %w", err)
	}
	files, err := listDir(path)
	if err != nil {
		return nil, rec, err
	}
	d := &Dir{path: path, cfg: cfg, opt: opt, log: opt.Logger, every: every}
	empty, err := d.emptySegments(&files)
	if err != nil {
		return nil, rec, err
	}

	var trunc *truncation
	if len(files.segs) == 0 && len(files.ckpts) == 0 {
		rec.Fresh = true
		if d.world, err = engine.New(cfg); err != nil {
			return nil, rec, fmt.Errorf("journal: %w", err)
		}
	} else if trunc, err = d.recover(files, &rec); err != nil {
		return nil, rec, err
	}

	if err := d.start(files.segs, empty, trunc, &rec); err != nil {
		return nil, rec, err
	}
	return d, rec, nil
}

// start applies a successful recovery to the directory (everything has been
// checked; only now may the directory change): cut the torn tail, remove
// the segments without frames, start the new segment at the recovered tick,
// end the crashed run's sessions and start the writer goroutine.
func (d *Dir) start(segs, empty []uint32, trunc *truncation, rec *Recovery) error {
	if trunc != nil {
		if err := os.Truncate(trunc.path, trunc.size); err != nil {
			return fmt.Errorf("journal: cut the torn tail of %s: %w", trunc.path, err)
		}
		d.log.Warn("journal: torn tail cut off (a crash during a write)", "segment", trunc.path,
			"size", trunc.size, "reason", rec.TornReason)
	}
	T := d.world.Tick()
	rec.RecoveredTick, rec.RecoveredHash = T, d.world.Hash()
	if slices.Contains(segs, T) {
		// The newest segment lost its only frames to the torn tail: the
		// new one replaces it.
		empty = append(empty, T)
	}
	for _, s := range empty {
		if err := os.Remove(filepath.Join(d.path, SegmentName(s))); err != nil {
			return fmt.Errorf("journal: %w", err)
		}
	}
	jw, err := Create(filepath.Join(d.path, SegmentName(T)), d.cfg, T, d.opt.Journal)
	if err != nil {
		return err
	}
	d.cur.Store(jw)
	if err := d.endSessions(rec); err != nil {
		_ = jw.Close()
		return err
	}
	rec.Tick = d.world.Tick()
	d.startWriter()
	return nil
}

// emptySegments takes the segments that hold no frame out of files and
// returns them: one created ahead for a checkpoint the crash came before,
// one started by a rotation just before the crash, or one cut inside its
// header. They carry nothing to replay and are removed once recovery has
// succeeded. A full header is still checked: another world's file is
// refused wherever it is.
func (d *Dir) emptySegments(files *dirFiles) ([]uint32, error) {
	var empty []uint32
	segs := files.segs[:0]
	for _, s := range files.segs {
		st, err := os.Stat(filepath.Join(d.path, SegmentName(s)))
		if err != nil {
			return nil, fmt.Errorf("journal: %w", err)
		}
		if st.Size() > HeaderSize {
			segs = append(segs, s)
			continue
		}
		if st.Size() == HeaderSize {
			if err := d.checkSegmentHeader(s, false); err != nil {
				return nil, err
			}
		}
		empty = append(empty, s)
	}
	files.segs = segs
	return empty, nil
}

// endSessions journals the Leaves of every player active in a recovered
// world: their sessions died with the crashed process.
func (d *Dir) endSessions(rec *Recovery) error {
	active := d.world.ActivePlayers(nil)
	if len(active) == 0 {
		return nil
	}
	recs := make([]engine.Record, len(active))
	for i, p := range active {
		recs[i] = engine.Record{Kind: engine.RecLeave, Player: p, Gen: d.world.PlayerGen(p)}
	}
	d.world.Step(recs)
	rec.Ended = len(active)
	return d.cur.Load().Append(d.world.Tick(), d.world.LastOrdered(), d.world.Hash())
}

type truncation struct {
	path string
	size int64
}

// recover loads the newest usable checkpoint and replays the segments
// after it into d.world. It changes nothing on disk; the torn tail to cut,
// if any, is returned.
func (d *Dir) recover(files dirFiles, rec *Recovery) (*truncation, error) {
	// Every segment header first: a foreign or future file anywhere in the
	// directory is refused before anything is loaded.
	for _, s := range files.segs {
		if err := d.checkSegmentHeader(s, s == files.segs[len(files.segs)-1]); err != nil {
			return nil, err
		}
	}
	start := time.Now()
	if err := d.loadCheckpoint(files, rec); err != nil {
		return nil, err
	}
	rec.Load = time.Since(start)
	start = time.Now()
	// The hash chain: stop at the first tick whose replayed hash differs
	// from the one the crashed run journaled.
	res, trunc, err := d.replaySegments(files.segs, func(_ uint32, want, got uint64) bool { return want == got })
	rec.Replay = time.Since(start)
	if err != nil {
		return nil, err
	}
	if res.Diverged {
		return nil, refuse("hash chain broken at tick %d: journal %#016x, replay %#016x", res.DivergedTick, res.Want, res.Got)
	}
	rec.Segments, rec.Replayed = segmentsAfter(files.segs, rec.CheckpointTick), res.Ticks
	if res.Truncated {
		rec.Truncated, rec.TruncatedAt, rec.TornReason = trunc.path, trunc.size, res.Tail.Reason
	}
	return trunc, nil
}

// segmentsAfter counts the segments a replay from tick reads.
func segmentsAfter(segs []uint32, tick uint32) int {
	n := 0
	for i, s := range segs {
		if s > tick || (i+1 < len(segs) && segs[i+1] > tick) || i+1 == len(segs) {
			n++
		}
	}
	return n
}

// checkSegmentHeader refuses a segment of another world or version. A last
// segment cut inside its header (a crash right after creating it) is
// accepted as empty.
func (d *Dir) checkSegmentHeader(start uint32, last bool) error {
	name := filepath.Join(d.path, SegmentName(start))
	f, err := os.Open(name)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	defer f.Close()
	rd, err := NewReader(f)
	if err != nil {
		if last && isShortHeader(f) {
			return nil
		}
		return refuse("%s: %w", name, err)
	}
	h := rd.Header()
	if h.StartTick != start {
		return refuse("%s: header says it starts at tick %d", name, h.StartTick)
	}
	if h.Config.Normalized() != d.cfg {
		return refuse("%s belongs to another world: %s", name, configDiff(h.Config.Normalized(), d.cfg))
	}
	return nil
}

// isShortHeader reports whether f is shorter than a header.
func isShortHeader(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Size() < HeaderSize
}

// configDiff names the fields in which the stored config differs from ours.
func configDiff(stored, ours engine.Config) string {
	a, b := engine.AppendConfig(nil, &stored), engine.AppendConfig(nil, &ours)
	if slices.Equal(a, b) {
		return "same config"
	}
	return fmt.Sprintf("stored %+v, this server %+v", stored, ours)
}

// loadCheckpoint sets d.world from the newest checkpoint that loads, or a
// fresh world when none does and the journal starts at tick 0.
func (d *Dir) loadCheckpoint(files dirFiles, rec *Recovery) error {
	for _, t := range files.ckpts {
		name := filepath.Join(d.path, CheckpointName(t))
		if err := checkCheckpointVersion(name); err != nil {
			return err
		}
		w, err := engine.LoadCheckpointFile(name)
		if err != nil {
			if !errors.Is(err, engine.ErrCheckpoint) {
				return fmt.Errorf("journal: %w", err)
			}
			d.log.Warn("journal: checkpoint unusable, falling back to an older one", "file", name, "err", err)
			rec.Skipped = append(rec.Skipped, name+": "+err.Error())
			continue
		}
		if w.Config() != d.cfg {
			return refuse("%s belongs to another world: %s", name, configDiff(w.Config(), d.cfg))
		}
		if w.Tick() != t {
			return refuse("%s holds tick %d", name, w.Tick())
		}
		d.world, rec.Checkpoint, rec.CheckpointTick = w, name, t
		return nil
	}
	if len(files.segs) == 0 || files.segs[0] != 0 {
		return refuse("no usable checkpoint, and the journal does not start at tick 0 (segments %v)", files.segs)
	}
	w, err := engine.New(d.cfg)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	d.world = w
	return nil
}

// checkCheckpointVersion refuses a checkpoint written by a newer build: it
// is not damage to fall back from, and an older checkpoint would silently
// lose what the newer build wrote since.
func checkCheckpointVersion(name string) error {
	f, err := os.Open(name)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	defer f.Close()
	var b [10]byte
	if _, err := io.ReadFull(f, b[:]); err != nil {
		return nil // too short: LoadCheckpoint says so and it is skipped
	}
	if v := le.Uint16(b[8:]); string(b[:8]) == "TRSRCKPT" && v > engine.CheckpointVersion {
		return refuse("%s: checkpoint format version %d, this build reads %d", name, v, engine.CheckpointVersion)
	}
	return nil
}

// replaySegments replays, from d.world's tick on, every segment that
// follows it: the one that holds the world's tick (or starts at it) and
// each later one, which must start exactly where the previous ended. It
// stops after a divergence or when onTick says so; the caller judges the
// result. A gap, damage or a torn tail before the last segment is refused.
func (d *Dir) replaySegments(segs []uint32, onTick func(tick uint32, want, got uint64) bool) (Result, *truncation, error) {
	T := d.world.Tick()
	agg := Result{FromTick: T, LastTick: T, FinalHash: d.world.Hash()}
	first := -1
	for i, s := range segs {
		if s <= T {
			first = i
		}
	}
	if first < 0 {
		return agg, nil, refuse("gap: no journal segment covers tick %d (segments %v)", T, segs)
	}
	var trunc *truncation
	for i := first; i < len(segs); i++ {
		name := filepath.Join(d.path, SegmentName(segs[i]))
		last := i == len(segs)-1
		if i > first && segs[i] != d.world.Tick() {
			return agg, nil, refuse("gap: %s starts at tick %d, the journal before it ends at tick %d", name, segs[i], d.world.Tick())
		}
		res, err := d.replaySegment(name, i == first, last, onTick)
		if err != nil {
			return agg, nil, err
		}
		agg.Header = res.Header
		agg.CheckpointVerified = agg.CheckpointVerified || res.CheckpointVerified
		if res.Ticks > 0 {
			if agg.Ticks == 0 {
				agg.FirstTick = res.FirstTick
			}
			agg.Ticks += res.Ticks
			agg.LastTick, agg.FinalHash = res.LastTick, res.FinalHash
		}
		if res.Diverged || res.Stopped {
			agg.Diverged, agg.DivergedTick, agg.Want, agg.Got = res.Diverged, res.DivergedTick, res.Want, res.Got
			agg.Stopped = res.Stopped
			return agg, nil, nil
		}
		if res.Truncated {
			if !last {
				return agg, nil, refuse("gap: %s ends in a torn frame at tick %d but a later segment exists", name, res.Tail.Tick)
			}
			agg.Truncated, agg.Tail = true, res.Tail
			trunc = &truncation{path: name, size: res.Tail.Offset}
		}
	}
	return agg, trunc, nil
}

func (d *Dir) replaySegment(name string, first, last bool, onTick func(tick uint32, want, got uint64) bool) (Result, error) {
	f, err := os.Open(name)
	if err != nil {
		return Result{}, fmt.Errorf("journal: %w", err)
	}
	defer f.Close()
	if last && isShortHeader(f) {
		return Result{}, nil // created, never written: nothing to replay
	}
	var res Result
	if first && d.world.Tick() > 0 {
		res, err = ReplayFrom(d.world, f, onTick)
	} else {
		var rd *Reader
		if rd, err = NewReader(f); err == nil {
			res, err = ReplayWorld(d.world, rd, onTick)
		}
	}
	if err != nil {
		return res, refuse("%s: %w", name, err)
	}
	return res, nil
}

// DirReplay says where ReplayDir starts and who watches.
type DirReplay struct {
	// Checkpoint is the checkpoint file to start from; "" means the newest
	// usable one in the directory.
	Checkpoint string
	// FromStart ignores the checkpoints: the replay starts from a fresh
	// world at tick 0 (the directory must still hold the segment of tick
	// 0, which pruning removes once Keep newer checkpoints exist).
	FromStart bool
	// OnTick, if set, sees the world after each replayed tick with the
	// journal's (want) and the replay's (got) hash; false stops the replay.
	OnTick func(w *engine.World, tick uint32, want, got uint64) bool
}

// ReplayDir verifies a data directory offline (treasure-replay): it starts
// from the checkpoint opt asks for and replays every segment from there as
// Replay does. It changes nothing on disk; a torn tail is reported in the
// Result, a divergence too. The error wraps ErrRefused for what Open would
// refuse.
func ReplayDir(dir string, opt DirReplay) (Result, error) {
	files, err := listDir(dir)
	if err != nil {
		return Result{}, err
	}
	if len(files.segs) == 0 {
		return Result{}, refuse("%s holds no journal segment", dir)
	}
	// The world's config is the newest segment's.
	f, err := os.Open(filepath.Join(dir, SegmentName(files.segs[len(files.segs)-1])))
	if err != nil {
		return Result{}, fmt.Errorf("journal: %w", err)
	}
	rd, err := NewReader(f)
	f.Close()
	if err != nil {
		return Result{}, refuse("%s: %w", dir, err)
	}
	d := &Dir{path: dir, cfg: rd.Header().Config.Normalized(), log: slog.New(slog.DiscardHandler)}
	for _, s := range files.segs {
		if err := d.checkSegmentHeader(s, s == files.segs[len(files.segs)-1]); err != nil {
			return Result{}, err
		}
	}
	var rec Recovery
	switch {
	case opt.Checkpoint != "":
		w, err := engine.LoadCheckpointFile(opt.Checkpoint)
		if err != nil {
			return Result{}, fmt.Errorf("journal: %s: %w", opt.Checkpoint, err)
		}
		if w.Config() != d.cfg {
			return Result{}, refuse("%s belongs to another world: %s", opt.Checkpoint, configDiff(w.Config(), d.cfg))
		}
		d.world = w
	case opt.FromStart:
		if err := d.loadCheckpoint(dirFiles{segs: files.segs}, &rec); err != nil {
			return Result{}, err
		}
	default:
		if err := d.loadCheckpoint(files, &rec); err != nil {
			return Result{}, err
		}
	}
	var onTick func(tick uint32, want, got uint64) bool
	if opt.OnTick != nil {
		onTick = func(tick uint32, want, got uint64) bool { return opt.OnTick(d.world, tick, want, got) }
	}
	res, _, err := d.replaySegments(files.segs, onTick)
	return res, err
}

// Append journals tick (netio.Journal) and, every CheckpointEvery ticks,
// checkpoints the world and rotates the journal to a new segment. Call it
// right after World.Step, on the tick goroutine.
//
// The checkpoint is encoded here, into a reused buffer (no allocation in
// steady state), because the state may not change while it is read; the
// file is written, fsynced and renamed into place by a writer goroutine,
// which also closes (fsyncs) the previous segment and prunes. If that
// goroutine is still busy with the previous checkpoint, this one is skipped
// (counted) rather than stalling the tick.
func (d *Dir) Append(tick uint32, recs []engine.Record, hash uint64) error {
	if err := d.cur.Load().Append(tick, recs, hash); err != nil {
		return err
	}
	if tick%d.every == 0 && d.world.Tick() == tick {
		d.checkpoint(tick)
	}
	return nil
}

func (d *Dir) checkpoint(tick uint32) {
	var buf int
	select {
	case buf = <-d.free:
	default:
		d.stats.CheckpointSkipped.Add(1)
		return
	}
	start := time.Now()
	if size := d.world.CheckpointSize(); cap(d.bufs[buf]) < size {
		// Room to grow (queues, owed events) without a new buffer at
		// every checkpoint of a world that is filling up.
		d.bufs[buf] = make([]byte, 0, size+size/4)
	}
	d.bufs[buf] = d.world.AppendCheckpoint(d.bufs[buf][:0])
	job := ckptJob{tick: tick, buf: buf}
	// Rotate: the new segment starts at this checkpoint's tick. Normally
	// the writer goroutine created it ahead (its name is made durable by
	// the directory fsync after the checkpoint's rename); after a skipped
	// checkpoint the one created ahead is for an earlier tick, and this
	// rare rotation creates its segment here (allocating).
	var next *Writer
	select {
	case p := <-d.ready:
		if p.tick == tick {
			next = p.w
		} else {
			job.stale = p
		}
	default:
	}
	if next == nil {
		var err error
		if next, err = createSegment(filepath.Join(d.path, SegmentName(tick)), d.cfg, tick, d.opt.Journal, nil); err != nil {
			d.stats.CheckpointErrors.Add(1)
			d.log.Error("journal: cannot start a new segment; the current one goes on", "tick", tick, "err", err)
		}
	}
	if next != nil {
		// The old segment's frame buffer already fits this world's
		// largest tick and is done with: the new segment takes it over.
		cur := d.cur.Load()
		next.buf, cur.buf = cur.buf[:0], nil
		job.old = d.cur.Swap(next)
	}
	d.stats.EncodeNanos.Store(int64(time.Since(start)))
	d.jobs <- job
}

// prepare creates the segment of the checkpoint of tick ahead of time
// (writer goroutine, or Open before it starts).
func (d *Dir) prepare(tick uint32) {
	w, err := createSegment(filepath.Join(d.path, SegmentName(tick)), d.cfg, tick, d.opt.Journal, nil)
	if err != nil {
		d.stats.CheckpointErrors.Add(1)
		d.log.Error("journal: cannot create the next segment ahead; the tick goroutine will", "tick", tick, "err", err)
		return
	}
	d.ready <- prepared{w, tick}
}

// discard closes and removes a segment created ahead and never used.
func (d *Dir) discard(p prepared) {
	_ = p.w.Close()
	d.remove(SegmentName(p.tick))
}

// createSegment is Create without the fsyncs, for the tick goroutine,
// encoding into buf.
func createSegment(path string, cfg engine.Config, start uint32, opt Options, buf []byte) (*Writer, error) {
	if buf == nil {
		buf = make([]byte, 0, 64<<10)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	w, err := newWriter(f, cfg, start, opt, buf)
	if err != nil {
		f.Close()
		os.Remove(path)
		return nil, err
	}
	w.closer = f
	return w, nil
}

func (d *Dir) startWriter() {
	d.free = make(chan int, len(d.bufs))
	for i := range d.bufs {
		d.free <- i
	}
	d.jobs = make(chan ckptJob, len(d.bufs))
	d.done = make(chan struct{})
	// At most one segment created ahead is outstanding: the writer
	// goroutine makes the next one only after a job, and a job is only
	// queued after the tick goroutine has taken the previous one.
	d.ready = make(chan prepared, 1)
	d.prepare(d.nextCheckpoint(d.world.Tick()))
	go d.writer()
}

// nextCheckpoint is the first checkpoint tick after tick.
func (d *Dir) nextCheckpoint(tick uint32) uint32 { return (tick/d.every + 1) * d.every }

// writer is the checkpoint goroutine: for each job, the old segment is
// closed (fsynced) first, so that a durable checkpoint never refers to
// journal frames that are not; then the checkpoint is written atomically
// (temporary file, fsync, rename, directory fsync) and old files pruned.
func (d *Dir) writer() {
	defer close(d.done)
	for job := range d.jobs {
		if d.hold != nil {
			<-d.hold
		}
		if job.stale.w != nil {
			d.discard(job.stale)
		}
		if job.old != nil {
			if err := job.old.Close(); err != nil {
				d.stats.CheckpointErrors.Add(1)
				d.log.Error("journal: closing the previous segment failed", "err", err)
			}
		}
		name := filepath.Join(d.path, CheckpointName(job.tick))
		err := engine.WriteFileAtomic(name, d.bufs[job.buf])
		if err != nil {
			d.stats.CheckpointErrors.Add(1)
			d.log.Error("journal: checkpoint failed", "tick", job.tick, "err", err)
		} else {
			d.prune()
		}
		// Before the buffer goes back: the tick goroutine takes the
		// prepared segment right after the buffer.
		d.prepare(d.nextCheckpoint(job.tick))
		d.free <- job.buf
		// Published last, so that whoever sees it may checkpoint again.
		if err == nil {
			d.stats.Checkpoints.Add(1)
			d.stats.LastCheckpoint.Store(job.tick)
		}
	}
}

// prune deletes the checkpoints older than the Keep newest and the
// segments that only they need: every segment that ends before the oldest
// kept checkpoint's tick.
func (d *Dir) prune() {
	files, err := listDir(d.path)
	if err != nil || len(files.ckpts) <= d.opt.Keep {
		return
	}
	oldest := files.ckpts[d.opt.Keep-1]
	for _, t := range files.ckpts[d.opt.Keep:] {
		d.remove(CheckpointName(t))
	}
	// The segment holding tick oldest+1 starts at or before oldest.
	keepFrom := uint32(0)
	for _, s := range files.segs {
		if s <= oldest {
			keepFrom = s
		}
	}
	for _, s := range files.segs {
		if s < keepFrom {
			d.remove(SegmentName(s))
		}
	}
}

func (d *Dir) remove(name string) {
	if err := os.Remove(filepath.Join(d.path, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		d.stats.CheckpointErrors.Add(1)
		d.log.Warn("journal: prune", "file", name, "err", err)
	}
}

// SyncedTick is the newest tick of the current segment known to be on
// stable storage (netio.Journal; any goroutine).
func (d *Dir) SyncedTick() uint32 { return d.cur.Load().SyncedTick() }

// Close waits for a checkpoint being written, then closes (fsyncs) the
// current segment. Tick goroutine, after the last Append. Calls after the
// first return nil.
func (d *Dir) Close() error {
	if !d.closed.CompareAndSwap(false, true) {
		return nil
	}
	close(d.jobs)
	<-d.done
	select {
	case p := <-d.ready:
		d.discard(p)
	default:
	}
	return d.cur.Load().Close()
}
