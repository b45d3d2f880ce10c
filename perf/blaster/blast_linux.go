//go:build linux

package main

import (
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/treasured/treasured/netio/udp"
)

// mmsg is a reusable batch of message headers over fixed buffers, with a
// sockaddr per message (recvmmsg fills them, sendmmsg reads them).
type mmsg struct {
	hdrs  []unix.Mmsghdr
	iovs  []unix.Iovec
	bufs  [][]byte
	names []unix.RawSockaddrInet4
}

func newMmsg(n, size int) *mmsg {
	m := &mmsg{hdrs: make([]unix.Mmsghdr, n), iovs: make([]unix.Iovec, n), bufs: make([][]byte, n), names: make([]unix.RawSockaddrInet4, n)}
	for i := range n {
		m.bufs[i] = make([]byte, max(size, 2048))
		m.iovs[i].Base = &m.bufs[i][0]
		m.iovs[i].SetLen(size)
		m.hdrs[i].Hdr.Iov = &m.iovs[i]
		m.hdrs[i].Hdr.SetIovlen(1)
	}
	return m
}

// withNames makes the headers carry a sockaddr each (unconnected sockets).
func (m *mmsg) withNames() {
	for i := range m.hdrs {
		m.hdrs[i].Hdr.Name = (*byte)(unsafe.Pointer(&m.names[i]))
		m.hdrs[i].Hdr.Namelen = unix.SizeofSockaddrInet4
	}
}

// sendmmsg and recvmmsg adapt netio/udp's one wrapper of each system call
// to this tool's blocking sockets: flags 0 for a send, MSG_WAITFORONE for a
// receive (wait for the first datagram, then take what is queued).
func sendmmsg(fd int, h []unix.Mmsghdr) (int, error) {
	n, e := udp.Sendmmsg(fd, h, 0)
	if e != 0 {
		return 0, e
	}
	return n, nil
}

func recvmmsg(fd int, h []unix.Mmsghdr) (int, error) {
	n, e := udp.Recvmmsg(fd, h, unix.MSG_WAITFORONE)
	if e != 0 {
		return 0, e
	}
	return n, nil
}

func pin(cpu int) error {
	runtime.LockOSThread()
	if cpu < 0 {
		return nil
	}
	var set unix.CPUSet
	set.Set(cpu)
	return unix.SchedSetaffinity(0, &set)
}

func udpSocket() (int, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	// Big buffers: the point is the per-datagram cost, not buffer overflow.
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 8<<20)
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 8<<20)
	// As the server's and the generator's sockets (udp.SetDontFragment),
	// so that the ceiling pays what they pay per datagram.
	if err := udp.SetDontFragment(fd); err != nil {
		unix.Close(fd)
		return -1, err
	}
	// Wake blocked receives so the threads notice the end of the run.
	tv := unix.NsecToTimeval(int64(50 * time.Millisecond))
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// blastRun is one size's run: the echo socket, the client socket, and the
// counters its three threads (echo, client receiver, client sender) share.
type blastRun struct {
	c        *config
	size     int
	efd, cfd int // echo and client sockets

	stop, stopSend                               atomic.Bool
	sent, sendCalls, received, recvCalls, echoed atomic.Uint64
	errc                                         chan error
	start                                        chan struct{}
}

func blast(c *config, size int) (*Result, error) {
	efd, err := udpSocket()
	if err != nil {
		return nil, err
	}
	defer unix.Close(efd)
	cfd, err := udpSocket()
	if err != nil {
		return nil, err
	}
	defer unix.Close(cfd)
	esa, err := unix.Getsockname(efd)
	if err != nil {
		return nil, err
	}
	if err := unix.Connect(cfd, esa); err != nil {
		return nil, err
	}
	r := &blastRun{c: c, size: size, efd: efd, cfd: cfd, errc: make(chan error, 3), start: make(chan struct{})}
	var wg sync.WaitGroup
	wg.Go(r.echo)
	if !c.oneway {
		wg.Go(r.receive)
	}
	wg.Go(r.send)

	time.Sleep(20 * time.Millisecond) // let the receivers block first
	t0 := time.Now()
	s0, r0, e0 := r.sent.Load(), r.received.Load(), r.echoed.Load()
	close(r.start)
	time.Sleep(c.duration)
	secs := time.Since(t0).Seconds()
	s1, r1, e1 := r.sent.Load(), r.received.Load(), r.echoed.Load()
	r.settle()
	wg.Wait()
	select {
	case err := <-r.errc:
		return nil, err
	default:
	}
	return &Result{
		Size: size, Seconds: secs, Sent: s1 - s0, Received: r1 - r0, Echoed: e1 - e0,
		TotalSent: r.sent.Load(), TotalReceived: r.received.Load(), TotalEchoed: r.echoed.Load(),
		SentPerSec: float64(s1-s0) / secs, RecvPerSec: float64(r1-r0) / secs, EchoPerSec: float64(e1-e0) / secs,
		SendCalls: r.sendCalls.Load(), RecvCalls: r.recvCalls.Load(),
	}, nil
}

// settle stops the sender and lets what is still queued be received and
// echoed, so the totals are consistent (the rates are of the window only):
// until nothing moved for 100 ms, 2 s at most. Then it stops the others.
func (r *blastRun) settle() {
	r.stopSend.Store(true)
	for last, deadline := uint64(1<<63), time.Now().Add(2*time.Second); time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		now := r.received.Load() + r.echoed.Load()
		if now == last {
			break
		}
		last = now
	}
	r.stop.Store(true)
}

// transient reports whether a socket call should just be retried.
func transient(err error) bool { return errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) }

// echo is the echo thread: it receives batches and, unless one-way, sends
// back exactly what came, to whom it came from.
func (r *blastRun) echo() {
	if err := pin(r.c.echoCPU); err != nil {
		r.errc <- err
		return
	}
	m := newMmsg(r.c.batch, r.size)
	m.withNames()
	for !r.stop.Load() {
		for i := range m.hdrs {
			m.hdrs[i].Hdr.Namelen = unix.SizeofSockaddrInet4
		}
		n, ok := r.recv(r.efd, m.hdrs)
		if !ok {
			return
		}
		if n == 0 {
			continue
		}
		r.received.Add(uint64(n))
		r.recvCalls.Add(1)
		if r.c.oneway {
			continue
		}
		for i := range n {
			m.iovs[i].SetLen(int(m.hdrs[i].Len))
		}
		for off := 0; off < n; {
			k, err := sendmmsg(r.efd, m.hdrs[off:n])
			if err != nil {
				if transient(err) {
					continue
				}
				r.errc <- err
				return
			}
			off += k
		}
		for i := range n {
			m.iovs[i].SetLen(r.size)
		}
	}
}

// receive is the client's receiver: it counts the echoes.
func (r *blastRun) receive() {
	if err := pin(r.c.clientCPU); err != nil {
		r.errc <- err
		return
	}
	m := newMmsg(r.c.batch, r.size)
	for !r.stop.Load() {
		n, ok := r.recv(r.cfd, m.hdrs)
		if !ok {
			return
		}
		r.echoed.Add(uint64(n))
	}
}

// recv is one recvmmsg on fd: the datagrams received, 0 after a transient
// error (the caller retries), or false after a fatal one, which it reports.
func (r *blastRun) recv(fd int, hdrs []unix.Mmsghdr) (int, bool) {
	n, err := recvmmsg(fd, hdrs)
	switch {
	case err == nil:
		return n, true
	case transient(err):
		return 0, true
	}
	r.errc <- err
	return 0, false
}

// send is the client's sender: as fast as the kernel accepts.
func (r *blastRun) send() {
	if err := pin(r.c.clientCPU); err != nil {
		r.errc <- err
		return
	}
	m := newMmsg(r.c.batch, r.size)
	<-r.start
	for !r.stopSend.Load() {
		k, err := sendmmsg(r.cfd, m.hdrs)
		if err != nil {
			if transient(err) || errors.Is(err, unix.ECONNREFUSED) || errors.Is(err, unix.ENOBUFS) {
				runtime.Gosched()
				continue
			}
			r.errc <- err
			return
		}
		r.sent.Add(uint64(k))
		r.sendCalls.Add(1)
	}
}
