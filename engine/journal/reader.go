package journal

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/treasured/treasured/engine"
)

// How a journal ends. Next returns io.EOF when the last frame was complete,
// or a *FrameError wrapping one of these.
var (
	// ErrTruncatedTail: the file ends inside its last frame (cut short,
	// a checksum that fails with nothing after it, or zero bytes where a
	// frame should start). That is what a crash during a write leaves;
	// every frame before it is valid.
	ErrTruncatedTail = errors.New("journal: truncated tail")
	// ErrCorrupt: a frame is damaged and intact data follows it, or a frame
	// with a good checksum does not decode. No crash explains that: the
	// file was altered or the writer is broken.
	ErrCorrupt = errors.New("journal: corrupt frame")
)

// FrameError says where the valid journal ends and why.
type FrameError struct {
	Offset int64  // byte offset of the frame that failed
	Tick   uint32 // the tick that frame should have held
	Reason string
	Err    error // ErrTruncatedTail or ErrCorrupt
}

func (e *FrameError) Error() string {
	what := "corrupt frame"
	if e.Err == ErrTruncatedTail {
		what = "truncated tail"
	}
	return fmt.Sprintf("journal: %s at offset %d (tick %d): %s", what, e.Offset, e.Tick, e.Reason)
}

func (e *FrameError) Unwrap() error { return e.Err }

// Frame is one tick of the journal.
type Frame struct {
	Tick uint32
	Hash uint64 // the live engine's state hash after Tick
	// Records in the order the engine applied them. The slice is the
	// Reader's and is overwritten by the next call to Next.
	Records []engine.Record
	Offset  int64 // byte offset of the frame in the file
	Size    int   // bytes of the frame
}

// Reader iterates a journal's frames, checking each one's checksum and tick.
// It never allocates by a length read from the file: a frame's buffer grows
// at most 1 MiB ahead of the bytes really there, and the record count is
// capped by the config and by the frame's size. Once its buffers fit the
// largest frame so far, Next allocates nothing.
type Reader struct {
	br       *bufio.Reader
	hdr      Header
	off      int64  // offset of the next frame
	next     uint32 // tick the next frame must hold
	maxCount int
	maxSize  int
	buf      []byte
	recs     []engine.Record
	err      error // sticky end: io.EOF, *FrameError or a read error
}

// NewReader reads and checks the header. Errors wrap ErrHeader, or are the
// read error itself.
func NewReader(r io.Reader) (*Reader, error) {
	br := bufio.NewReaderSize(r, 256<<10)
	var b [HeaderSize]byte
	if n, err := io.ReadFull(br, b[:]); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil, fmt.Errorf("%w: file is %d bytes, a header is %d", ErrHeader, n, HeaderSize)
		}
		return nil, fmt.Errorf("journal: read header: %w", err)
	}
	h, err := parseHeader(b[:])
	if err != nil {
		return nil, err
	}
	return &Reader{
		br:       br,
		hdr:      h,
		off:      HeaderSize,
		next:     h.StartTick + 1,
		maxCount: maxRecords(&h.Config),
		maxSize:  maxFrameSize(&h.Config),
	}, nil
}

// Header is the journal's header.
func (r *Reader) Header() Header { return r.hdr }

// NextTick is the tick of the frame Next will return.
func (r *Reader) NextTick() uint32 { return r.next }

// Offset is the byte offset of the next frame: after an error, the end of
// the valid journal.
func (r *Reader) Offset() int64 { return r.off }

// Next returns the next frame. At the end it returns io.EOF (clean) or a
// *FrameError (errors.Is ErrTruncatedTail or ErrCorrupt); a failing
// io.Reader's error is returned wrapped with the offset, as neither of
// those. The end is sticky.
func (r *Reader) Next() (Frame, error) {
	if r.err != nil {
		return Frame{}, r.err
	}
	size, err := r.readFrame()
	if err != nil {
		r.err = err
		return Frame{}, err
	}
	f, err := r.decode(size)
	if err != nil {
		r.err = err
		return Frame{}, err
	}
	r.advance(size)
	return f, nil
}

// SkipTo moves past every frame up to and including tick, so that Next
// returns tick+1. Skipped frames are checksummed and their ticks checked,
// not decoded. This is the checkpoint hook: a world restored "as of tick T"
// continues with SkipTo(T) and ReplayWorld.
func (r *Reader) SkipTo(tick uint32) error {
	if tick+1 < r.next {
		return fmt.Errorf("journal: SkipTo(%d): the next frame is already tick %d", tick, r.next)
	}
	for r.next <= tick {
		if r.err != nil {
			return r.err
		}
		size, err := r.readFrame()
		if err == nil {
			err = r.checkTick()
		}
		if err != nil {
			r.err = err
			return err
		}
		r.advance(size)
	}
	return nil
}

func (r *Reader) advance(size int) {
	r.off += int64(size)
	r.next++
}

// frameErr builds the error for the frame at the current offset.
func (r *Reader) frameErr(kind error, format string, args ...any) error {
	return &FrameError{Offset: r.off, Tick: r.next, Reason: fmt.Sprintf(format, args...), Err: kind}
}

// readFrame reads the frame at r.off into r.buf and checks its size and
// checksum. It decides between a torn tail and corruption.
func (r *Reader) readFrame() (int, error) {
	// The size field is read into the frame buffer itself: a local array
	// would escape through io.ReadFull and cost an allocation per frame.
	buf := append(r.buf[:0], 0, 0, 0, 0)
	r.buf = buf
	n, err := io.ReadFull(r.br, buf)
	switch {
	case err == io.EOF:
		return 0, io.EOF
	case err == io.ErrUnexpectedEOF:
		return 0, r.frameErr(ErrTruncatedTail, "file ends %d bytes into a frame's size field", n)
	case err != nil:
		return 0, fmt.Errorf("journal: read at offset %d: %w", r.off, err)
	}
	size := int(le.Uint32(buf))
	if size < frameOverhead || size > r.maxSize {
		// No write of ours produces this size. If nothing but zeros
		// follows, the file was extended but its last blocks never
		// written (a crash, the size field itself half zeroed or not);
		// anything else is damage.
		zeros, err := r.restIsZero()
		switch {
		case err != nil:
			return 0, err
		case zeros && size == 0:
			return 0, r.frameErr(ErrTruncatedTail, "zero bytes where a frame should start")
		case zeros:
			return 0, r.frameErr(ErrTruncatedTail, "frame size %d not in [%d, %d], nothing but zeros after it", size, frameOverhead, r.maxSize)
		}
		return 0, r.frameErr(ErrCorrupt, "frame size %d not in [%d, %d]", size, frameOverhead, r.maxSize)
	}

	// Grow with the bytes that really arrive, at most 1 MiB at a time, so a
	// forged size costs no more memory than the file has, plus 1 MiB.
	for len(buf) < size {
		chunk := min(size-len(buf), 1<<20)
		buf = slices.Grow(buf, chunk)
		n, err := io.ReadFull(r.br, buf[len(buf):len(buf)+chunk])
		buf = buf[:len(buf)+n]
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			r.buf = buf
			if r.validFrameIn(buf[4:]) {
				// The size field itself was damaged: the real frames
				// that follow are inside what we read.
				return 0, r.frameErr(ErrCorrupt, "frame size %d reaches past the end of the file, over intact frames", size)
			}
			return 0, r.frameErr(ErrTruncatedTail, "frame of %d bytes cut after %d", size, len(buf))
		}
		if err != nil {
			r.buf = buf
			return 0, fmt.Errorf("journal: read at offset %d: %w", r.off+int64(len(buf)), err)
		}
	}
	r.buf = buf
	if got, want := checksum(buf[:size-4]), le.Uint32(buf[size-4:]); got != want {
		// A torn final frame, or one followed only by zeros (blocks the
		// crash never wrote), is a tail; damage before intact data is not.
		if r.validFrameIn(buf[4:]) {
			return 0, r.frameErr(ErrCorrupt, "checksum %08x, stored %08x", got, want)
		}
		zeros, err := r.restIsZero()
		switch {
		case err != nil:
			return 0, err
		case zeros:
			return 0, r.frameErr(ErrTruncatedTail, "checksum %08x, stored %08x, in the final frame (torn write)", got, want)
		}
		return 0, r.frameErr(ErrCorrupt, "checksum %08x, stored %08x, and data follows", got, want)
	}
	return size, nil
}

// validFrameIn reports whether b holds a whole frame, with a good checksum,
// of a tick after the expected one: evidence that damage before it is not
// a torn tail. Only used on the error path; b is already in memory.
//
// Positions that pass the cheap size and tick tests cost a checksum each;
// a forged file could line up many, so after maxProbes of them the search
// gives up (and the damage is called a tail: the valid journal ends at the
// same offset either way).
func (r *Reader) validFrameIn(b []byte) bool {
	const maxProbes = 1024
	probes := 0
	for p := 0; p+frameOverhead <= len(b) && probes < maxProbes; p++ {
		size := int(le.Uint32(b[p:]))
		tick := le.Uint32(b[p+4:])
		if size < frameOverhead || size > len(b)-p || tick <= r.next || tick-r.next > uint32(len(b)/frameOverhead) {
			continue
		}
		probes++
		if checksum(b[p:p+size-4]) == le.Uint32(b[p+size-4:]) {
			return true
		}
	}
	return false
}

// restIsZero reports whether everything left in the stream is zero bytes
// (or nothing). It reads through in place, allocating nothing.
func (r *Reader) restIsZero() (bool, error) {
	for {
		b, err := r.br.Peek(r.br.Size())
		for _, c := range b {
			if c != 0 {
				return false, nil
			}
		}
		if _, derr := r.br.Discard(len(b)); derr != nil {
			return false, derr
		}
		switch {
		case err == io.EOF:
			return true, nil
		case err != nil && err != bufio.ErrBufferFull:
			return false, fmt.Errorf("journal: read after offset %d: %w", r.off, err)
		}
	}
}

func (r *Reader) checkTick() error {
	if t := le.Uint32(r.buf[4:]); t != r.next {
		return r.frameErr(ErrCorrupt, "frame holds tick %d", t)
	}
	return nil
}

// decode checks the frame in r.buf[:size] and decodes its records.
func (r *Reader) decode(size int) (Frame, error) {
	if err := r.checkTick(); err != nil {
		return Frame{}, err
	}
	b := r.buf[:size]
	count := int(le.Uint32(b[8:]))
	body := b[frameHead : size-4]
	// Both caps before the allocation: the count is bounded by the config
	// and by the bytes present, so recs grows at most ~24x the frame.
	if count > r.maxCount || count > len(body)/minRecordSize {
		return Frame{}, r.frameErr(ErrCorrupt, "record count %d in %d bytes (cap %d)", count, len(body), r.maxCount)
	}
	recs := slices.Grow(r.recs[:0], count)[:count]
	r.recs = recs
	p := 0
	for i := range recs {
		n, err := decodeRecord(body[p:], &recs[i])
		if err != nil {
			return Frame{}, r.frameErr(ErrCorrupt, "record %d at frame byte %d: %v", i, frameHead+p, err)
		}
		p += n
	}
	if p != len(body) {
		return Frame{}, r.frameErr(ErrCorrupt, "%d bytes after the last record", len(body)-p)
	}
	return Frame{
		Tick:    r.next,
		Hash:    le.Uint64(b[12:]),
		Records: recs,
		Offset:  r.off,
		Size:    size,
	}, nil
}
