//go:build linux

package main

import (
	"fmt"
	"net/netip"

	"github.com/treasured/treasured/netio/udp"
	"github.com/treasured/treasured/schema"
)

// Shared sockets: many players per socket.
//
// A socket per player costs the generator a system call per datagram each
// way and an epoll wake-up per receive, which tops out at ~2,000 players on
// one core. Here a socket bound to the wildcard address carries a block of
// players, each with its own source address from --src-range: a send names
// its source per message (IP_PKTINFO ipi_spec_dst), so the server still
// sees one address per session, and a receive learns from IP_PKTINFO which
// of the socket's addresses a datagram was sent to, hence which player it
// is for. The sends due in one pass of the loop leave in one sendmmsg per
// socket and the queued snapshots come in recvmmsg batches.
//
// IP_FREEBIND sockets bound per address would not help: a bound address is
// one source address, so one socket per player again.
//
// The socket is not connected (it could not receive for many addresses if
// it were), so the kernel no longer filters foreign datagrams: route checks
// the source of each one, and the address it was sent to, itself.

const (
	sharedBatch = 64 // datagrams per sendmmsg / recvmmsg on a shared socket
	// Receive buffer per player of a shared socket: a tick's snapshot of
	// ~1,200 B costs ~2.3 KB of buffer (skb truesize), and the socket must
	// hold a whole tick's burst if the worker is busy sending.
	rcvBufPerPlayer = 16 << 10
	minSharedRcvBuf = 1 << 20
)

// sock is one shared socket and the players it carries.
type sock struct {
	conn *udp.Conn

	out   []udp.Message // sends queued for the next WriteBatch
	bufs  [][]byte      // out[i].Buf's storage, schema.MaxDatagram each
	lagAt []int64       // scheduled time of out[i] for the send lag, -1: none
	dirty bool          // in Worker.dirty
}

// openShared opens the shared sockets for w's players [first, first+n),
// perSocket players each (in phaseOrder), and registers them in w's epoll
// set.
func (w *Worker) openShared(first, n, perSocket int) error {
	w.rmsgs = make([]udp.Message, sharedBatch)
	for i := range w.rmsgs {
		w.rmsgs[i].Buf = make([]byte, schema.MaxDatagram+1)
	}
	for off := 0; off < n; off += perSocket {
		k := min(perSocket, n-off)
		conn, err := udp.Listen(netip.AddrPortFrom(netip.IPv4Unspecified(), 0), udp.Options{
			// Raw batch calls: they never block, and the worker keeps its
			// P through them as through its waits (epollWait).
			Batch: sharedBatch, PacketInfo: true, Timestamps: true, RawSyscalls: true,
			RecvBuffer: max(minSharedRcvBuf, k*rcvBufPerPlayer), SendBuffer: minSharedRcvBuf,
		})
		if err != nil {
			return fmt.Errorf("shared socket %d of %d players (players %d..%d): %w", len(w.socks), k, first, first+n-1, err)
		}
		s := &sock{conn: conn,
			out: make([]udp.Message, 0, sharedBatch), bufs: make([][]byte, sharedBatch), lagAt: make([]int64, sharedBatch)}
		for i := range s.bufs {
			s.bufs[i] = make([]byte, schema.MaxDatagram)
		}
		w.socks = append(w.socks, s)
		if err := w.epollAdd(conn.FD(), len(w.socks)-1); err != nil {
			return err
		}
	}
	return nil
}

// enqueue copies b into p's socket's next batch; the batch leaves when it is
// full or at the end of the loop's pass (flushAll).
func (w *Worker) enqueue(p *player, b []byte) {
	s := p.s
	if len(b) > schema.MaxDatagram {
		w.res.SendErrors++ // the codec never makes one; refuse rather than cut it
		return
	}
	i := len(s.out)
	s.out = s.out[:i+1]
	s.out[i] = udp.Message{Buf: s.bufs[i][:copy(s.bufs[i], b)], Addr: w.server, Local: p.addr}
	s.lagAt[i], w.lagAt = w.lagAt, -1
	if len(s.out) == cap(s.out) {
		w.flushSock(s)
		return
	}
	if !s.dirty {
		s.dirty = true
		w.dirty = append(w.dirty, s)
	}
}

// flushAll sends every queued batch.
func (w *Worker) flushAll() {
	for i, s := range w.dirty {
		s.dirty = false
		if len(s.out) > 0 {
			w.flushSock(s)
		}
		w.dirty[i] = nil
	}
	w.dirty = w.dirty[:0]
}

// flushSock sends s's queued batch and records the send lag of its measured
// datagrams at the moment the kernel took them.
func (w *Worker) flushSock(s *sock) {
	res := s.conn.WriteBatch(s.out)
	w.progDatagrams.Add(uint64(res.Sent))
	now := w.clock()
	for i := range min(res.Sent+res.Failed, len(s.out)) {
		if at := s.lagAt[i]; at >= 0 {
			recordNs(w.res.SendLag, now-at)
		}
	}
	w.res.SendWouldBlck += uint64(res.WouldBlock)
	w.res.SendErrors += uint64(res.Failed)
	clear(s.out)
	s.out = s.out[:0]
}

// drainSock reads s until it is empty, sharedBatch datagrams per call.
func (w *Worker) drainSock(s *sock) {
	for range 16 { // bounded: one socket must not starve the others
		n, err := s.conn.ReadBatch(w.rmsgs)
		if err != nil {
			w.res.RecvErrors++
			return
		}
		w.received(n)
		for i := range n {
			m := &w.rmsgs[i]
			if p := w.route(s, m); p != nil {
				w.receive(p, m.Buf[:m.N], w.arrived(m.Stamp))
			}
		}
		w.sendBetween()
		if n < len(w.rmsgs) {
			return
		}
	}
}

// route finds the player a datagram on s is for, or counts why there is
// none: not from the server, cut short, or sent to an address of no player
// of this socket.
func (w *Worker) route(s *sock, m *udp.Message) *player {
	switch {
	case m.Addr != w.server:
		w.res.WrongSource++
		return nil
	case m.Truncated:
		w.res.Truncated++
		return nil
	}
	if m.Local.Is4() {
		j := addrOffset(w.cfg.SrcRange, m.Local) - 1 - int64(w.first)
		if j >= 0 && j < int64(len(w.pos)) {
			if p := w.players[w.pos[j]]; p.s == s {
				return p
			}
		}
	}
	w.res.UnknownDest++
	return nil
}

// addrOffset is a's distance from the range's network address.
func addrOffset(r netip.Prefix, a netip.Addr) int64 {
	x, y := r.Addr().As4(), a.As4()
	v := func(b [4]byte) int64 { return int64(b[0])<<24 | int64(b[1])<<16 | int64(b[2])<<8 | int64(b[3]) }
	return v(y) - v(x)
}

// sharedDrops sums what the kernel dropped on shared sockets and says on
// how many. The main goroutine calls it while the workers run: it only
// reads the sockets' kernel counters.
func sharedDrops(conns []*udp.Conn) (drops uint64, sockets int) {
	for _, c := range conns {
		if d, err := c.Drops(); err == nil && d > 0 {
			drops += d
			sockets++
		}
	}
	return drops, sockets
}
