//go:build !linux

package udp

import (
	"errors"
	"fmt"
	"net"
	"os"
	"time"
)

// packetSender is the portable BatchSender: one WriteToUDPAddrPort per
// datagram through the standard library. It exists so that netio builds,
// vets and runs its tests on every platform gnet supports; production runs on
// Linux with mmsgSender. It allocates nothing per datagram on the platforms
// where net does not (WriteToUDPAddrPort is the allocation-free form).
type packetSender struct {
	conn  *net.UDPConn
	batch int
}

var _ BatchSender = (*packetSender)(nil)

func NewSocketSender(fd, batch int, _ ...SocketOption) (BatchSender, error) {
	if batch < 1 {
		return nil, fmt.Errorf("udp: packet sender: batch size %d", batch)
	}
	uc, err := FileConn(fd, "packet sender")
	if err != nil {
		return nil, err
	}
	return &packetSender{conn: uc, batch: batch}, nil
}

func (s *packetSender) BatchSize() int { return s.batch }

func (s *packetSender) Close() error { return s.conn.Close() }

func (s *packetSender) Send(bufs [][]byte, addrs []Addr, wait bool) SendResult {
	var r SendResult
	if len(bufs) > s.batch || len(addrs) != len(bufs) {
		r.Failed = len(bufs)
		r.Err = fmt.Errorf("udp: Send of %d datagrams to %d addresses, batch size %d", len(bufs), len(addrs), s.batch)
		return r
	}
	// A short write deadline stands in for sendmmsg's EAGAIN plus a bounded
	// poll: the standard library hides EAGAIN behind its poller.
	// (A deadline already in the past would fail even a writable socket, so
	// "do not wait" is a very short deadline instead.)
	d := time.Now().Add(defaultPollWait)
	if !wait {
		d = time.Now().Add(100 * time.Microsecond)
	}
	_ = s.conn.SetWriteDeadline(d)
	for i, b := range bufs {
		r.Syscalls++
		_, err := s.conn.WriteToUDPAddrPort(b, addrs[i].AddrPort())
		switch {
		case err == nil:
			r.Sent++
			r.Bytes += len(b)
		case errors.Is(err, os.ErrDeadlineExceeded):
			r.WouldBlock++
			r.Dropped += len(bufs) - i
			r.Err = err
			return r
		default:
			r.Failed++
			r.Err = err
		}
	}
	return r
}

// defaultPollWait bounds the wait for a writable socket; see sendmmsg_linux.go.
const defaultPollWait = time.Millisecond

// NewSocketReceiver has no portable batched implementation.
func NewSocketReceiver(int, int, ...SocketOption) (BatchReceiver, error) { return nil, ErrUnsupported }
