package journal

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/treasured/treasured/engine"
)

// Options tune a Writer. The zero value is the default.
type Options struct {
	// SyncEvery asks for an fsync after every SyncEvery appended ticks. It
	// runs on a background goroutine, so the tick goroutine never waits for
	// the disk. 0 means DefaultSyncEvery; a negative value syncs only in
	// Sync and Close (what a crash of the machine may lose is then
	// unbounded; a crash of the process still loses nothing appended).
	SyncEvery int
}

// DefaultSyncEvery is one second of ticks at 20 Hz: a power failure costs at
// most about a second of play, and one fsync a second is nothing to a disk.
const DefaultSyncEvery = 20

// ErrClosed is returned by Append and Sync after Close.
var ErrClosed = errors.New("journal: writer closed")

// syncer is what a destination needs for Sync to mean anything (*os.File).
type syncer interface{ Sync() error }

// Writer appends one frame per tick. Ownership (docs/ARCHITECTURE.md "Code conventions"): Append, Sync
// and Close belong to the tick goroutine (one at a time); SyncedTick may be
// called from any goroutine; the fsync goroutine touches only the fields
// under "Shared with the fsync goroutine".
type Writer struct {
	// Tick goroutine only.
	dst       io.Writer
	closer    io.Closer // the file Create opened; nil for NewWriter
	buf       []byte    // the frame being encoded, reused every tick
	next      uint32    // tick the next Append must carry
	maxCount  int
	maxSize   int
	syncEvery int
	pending   int   // ticks appended since the last sync request
	err       error // sticky: after a failed write the file may be torn
	closed    bool

	// Shared with the fsync goroutine.
	fsync     syncer        // nil when dst cannot sync
	kick      chan struct{} // capacity 1: requests coalesce
	done      chan struct{} // closed when the fsync goroutine exits
	written   atomic.Uint32 // newest tick handed to the kernel
	synced    atomic.Uint32 // newest tick covered by a completed fsync
	syncErr   atomic.Pointer[error]
	syncGuard sync.Mutex // serialises fsyncs so synced only moves forward
}

// Create creates a new journal file at path (it must not exist: an old
// journal is the only way to recover its world, so it is never truncated)
// and writes the header, fsyncing the file and its directory so the file
// itself survives a crash. startTick is the world's Tick() before the first
// Append: 0 for a fresh world.
func Create(path string, cfg engine.Config, startTick uint32, opt Options) (*Writer, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	w, err := NewWriter(f, cfg, startTick, opt)
	if err == nil {
		err = w.Sync()
	}
	if err == nil {
		err = syncDir(filepath.Dir(path))
	}
	if err != nil {
		if w != nil {
			w.stop()
		}
		f.Close()
		os.Remove(path)
		return nil, err
	}
	w.closer = f
	return w, nil
}

// syncDir makes a new directory entry durable: fsync of the file alone does
// not cover its name (fsync(2), "Notes").
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("journal: sync %s: %w", dir, err)
	}
	return nil
}

// NewWriter writes a journal header for cfg to dst and returns a Writer that
// appends frames to it. If dst has a Sync() error method (an *os.File) it is
// used for durability; otherwise Sync is a no-op. Close does not close dst.
func NewWriter(dst io.Writer, cfg engine.Config, startTick uint32, opt Options) (*Writer, error) {
	return newWriter(dst, cfg, startTick, opt, make([]byte, 0, 64<<10))
}

// newWriter is NewWriter encoding into buf (a rotating data directory hands
// the previous segment's buffer on, so a rotation allocates no new one).
func newWriter(dst io.Writer, cfg engine.Config, startTick uint32, opt Options, buf []byte) (*Writer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	w := &Writer{
		dst:       dst,
		next:      startTick + 1,
		maxCount:  maxRecords(&cfg),
		maxSize:   maxFrameSize(&cfg),
		syncEvery: opt.SyncEvery,
	}
	if w.syncEvery == 0 {
		w.syncEvery = DefaultSyncEvery
	}
	w.written.Store(startTick)
	w.synced.Store(startTick)
	w.buf = appendHeader(buf[:0], &Header{Version: Version, StartTick: startTick, Config: cfg})
	if _, err := dst.Write(w.buf); err != nil {
		return nil, fmt.Errorf("journal: write header: %w", err)
	}
	if s, ok := dst.(syncer); ok {
		w.fsync = s
		if w.syncEvery > 0 {
			w.kick = make(chan struct{}, 1)
			w.done = make(chan struct{})
			go w.syncLoop()
		}
	}
	return w, nil
}

// Append writes the frame of tick: recs are the records the engine applied
// in that tick, in its order (World.LastOrdered), hash the state hash after
// it (World.Hash). Ticks must be consecutive. recs is only read.
//
// The frame reaches the kernel in one write before Append returns. In steady
// state (no tick larger than any before) it allocates nothing.
//
// An error from the file is sticky: the file may now end in a torn frame,
// and appending after it would turn a torn tail into corruption in the
// middle, so every later call returns the same error. A tick that cannot be
// journaled (wrong tick, a record the engine would drop, too many records)
// writes nothing; the journal cannot continue past it, because ticks
// must be consecutive.
func (w *Writer) Append(tick uint32, recs []engine.Record, hash uint64) error {
	if w.closed {
		return ErrClosed
	}
	if w.err != nil {
		return w.err
	}
	if p := w.syncErr.Load(); p != nil {
		w.err = *p
		return w.err
	}
	if tick != w.next {
		return fmt.Errorf("journal: Append of tick %d, want tick %d (ticks are consecutive)", tick, w.next)
	}
	if len(recs) > w.maxCount {
		return fmt.Errorf("journal: tick %d has %d records, the cap is %d", tick, len(recs), w.maxCount)
	}
	buf, bad := appendFrame(w.buf[:0], tick, recs, hash)
	w.buf = buf[:0]
	if bad >= 0 {
		r := &recs[bad]
		return fmt.Errorf("%w: tick %d record %d: kind %d, %d actions", errRecord, tick, bad, r.Kind, r.N)
	}
	if len(buf) > w.maxSize {
		return fmt.Errorf("journal: tick %d frame of %d bytes exceeds the cap %d", tick, len(buf), w.maxSize)
	}
	if _, err := w.dst.Write(buf); err != nil {
		w.err = fmt.Errorf("journal: write tick %d: %w", tick, err)
		return w.err
	}
	w.next++
	w.written.Store(tick)
	w.pending++
	if w.kick != nil && w.pending >= w.syncEvery {
		w.pending = 0
		select {
		case w.kick <- struct{}{}:
		default: // an fsync is already requested; it will cover this tick
		}
	}
	return nil
}

// Sync fsyncs the journal now, on the calling goroutine: when it returns
// nil, every appended tick is durable.
func (w *Writer) Sync() error {
	if w.closed {
		return ErrClosed
	}
	if w.err != nil {
		return w.err
	}
	if err := w.doSync(); err != nil {
		w.err = err
		return err
	}
	w.pending = 0
	return nil
}

// doSync fsyncs and publishes the newest tick it covers. Called by the tick
// goroutine (Sync, Close) and the fsync goroutine.
func (w *Writer) doSync() error {
	if w.fsync == nil {
		w.synced.Store(w.written.Load())
		return nil
	}
	w.syncGuard.Lock()
	defer w.syncGuard.Unlock()
	// Read before the fsync: only what was written before it is covered.
	t := w.written.Load()
	if err := w.fsync.Sync(); err != nil {
		return fmt.Errorf("journal: sync: %w", err)
	}
	w.synced.Store(t)
	return nil
}

func (w *Writer) syncLoop() {
	defer close(w.done)
	for range w.kick {
		if err := w.doSync(); err != nil {
			w.syncFailed(err)
			return
		}
	}
}

// syncFailed keeps the first fsync error for the next Append to report: the
// tick goroutine decides. A function of its own so that only a failure
// moves an error to the heap: with &err in syncLoop every sync allocated
// (TestCheckpointTickNoAllocs counted it, 8 runs in 300 under -race).
func (w *Writer) syncFailed(err error) { w.syncErr.CompareAndSwap(nil, &err) }

// stop ends the fsync goroutine and waits for it.
func (w *Writer) stop() {
	if w.kick != nil {
		close(w.kick)
		<-w.done
		w.kick = nil
	}
}

// SyncedTick is the newest tick known to be on stable storage (the start
// tick before any). Safe from any goroutine: a checkpointer may use it.
func (w *Writer) SyncedTick() uint32 { return w.synced.Load() }

// Close fsyncs what was appended, stops the fsync goroutine and closes the
// file if Create opened it. It returns the first error the journal met.
func (w *Writer) Close() error {
	if w.closed {
		return ErrClosed
	}
	w.stop()
	err := w.err
	if p := w.syncErr.Load(); err == nil && p != nil {
		err = *p
	}
	if err == nil {
		err = w.doSync()
	}
	w.closed = true
	if w.closer != nil {
		if cerr := w.closer.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("journal: %w", cerr)
		}
	}
	return err
}
