package netio

import (
	"fmt"

	"github.com/treasured/treasured/netio/auth"
	"github.com/treasured/treasured/netio/sockfilter"
	"github.com/treasured/treasured/schema"
)

// The kernel filter (Config.KernelFilter, netio/sockfilter) drops in the
// kernel what the loops' first checks would drop, so garbage costs the
// server core no wake-up, no copy and no verifier. It decides only what
// the loop would decide before anything else, with the same reason, and
// its counts are added to the loops' under those reasons: a datagram is
// counted the same wherever it is dropped.

// filterDrop maps the filter's reasons to ours.
var filterDrop = [sockfilter.NumReasons]DropReason{
	sockfilter.Oversized:     DropOversized,
	sockfilter.Truncated:     DropTruncated,
	sockfilter.BadIdentifier: DropBadIdentifier,
	sockfilter.Malformed:     DropMalformed,
	sockfilter.BadSession:    DropBadSession,
}

// openFilter loads the filter as cfg.KernelFilter asks, before any socket
// is bound. Only FilterOn makes a refusal fatal.
func (s *Server) openFilter() error {
	if s.cfg.KernelFilter == FilterOff {
		return nil
	}
	var ident [4]byte
	copy(ident[:], schema.Identifier)
	f, err := sockfilter.New(sockfilter.Params{
		MaxDatagram: schema.MaxDatagram,
		Identifier:  ident,
		Sealed:      !s.cfg.NoAuth,
		Overhead:    auth.Overhead,
		Slots:       s.cfg.shape.maxPlayers,
	})
	if err != nil {
		if s.cfg.KernelFilter == FilterOn {
			return fmt.Errorf("netio: kernel filter: %w", err)
		}
		s.log.Warn("kernel filter unavailable: every datagram reaches the loops", "err", err)
		return nil
	}
	s.params.filter = f
	return nil
}

// attachFilter puts the filter, if any, on a loop's socket. A socket
// without it still works: the loop drops what the filter would have.
func (s *Server) attachFilter(fd int) error {
	if f := s.params.filter; f != nil {
		return f.Attach(fd)
	}
	return nil
}

// closeFilter releases the filter after the sockets are closed.
func (s *Server) closeFilter() {
	if f := s.params.filter; f != nil {
		if err := f.Close(); err != nil {
			s.log.Warn("closing the kernel filter", "err", err)
		}
	}
}

// filterDrops adds the filter's drops to drops, by our reasons.
func (s *Server) filterDrops(drops *[NumDropReasons]uint64) {
	f := s.params.filter
	if f == nil {
		return
	}
	var c [sockfilter.NumReasons]uint64
	if err := f.Counts(&c); err != nil {
		s.log.Warn("reading the kernel filter's counters", "err", err)
		return
	}
	for r, v := range c {
		drops[filterDrop[r]] += v
	}
}

// filterSession tells the filter that local's slot now holds session id
// (0: none). A session the filter does not know would have its datagrams
// dropped in the kernel, so a failure to record a new one is the caller's
// to refuse; a failure to forget one only lets its datagrams reach the
// loop, which drops them. Without authentication nothing is sealed and the
// filter never reads the table, so it is not kept.
func (l *loop) filterSession(local int32, id uint64) error {
	if f := l.p.filter; f != nil && l.p.auth != nil {
		return f.SetSession(l.part.slotOf(local), id)
	}
	return nil
}
