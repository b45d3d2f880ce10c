//go:build linux

package netio

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/treasured/treasured/netio/auth"
	"github.com/treasured/treasured/netio/udp"
)

const mmsgSupported = true

// rxSocket is one mmsg loop's UDP socket plus an eventfd that Shutdown
// writes to wake the loop out of ppoll.
type rxSocket struct {
	fd, evfd int
	fds      [2]unix.PollFd
	ts       unix.Timespec
	one      [8]byte
}

// openRxSocket binds a loop's socket (bindLoopSocket) and the eventfd
// that wakes the loop.
func openRxSocket(ap netip.AddrPort, rcvbuf, sndbuf int) (*rxSocket, error) {
	fd, err := bindLoopSocket(ap, rcvbuf, sndbuf)
	if err != nil {
		return nil, err
	}
	evfd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	s := &rxSocket{fd: fd, evfd: evfd}
	s.one[0] = 1 // eventfd takes a host-order uint64; 1 on little endian, 1<<56 on big: both non-zero
	return s, nil
}

// pollSocket is one poll loop's UDP socket, kept out of Go's netpoller,
// and a private epoll set that holds only that socket (and the urgent one,
// below). The loop waits on the epoll set through the netpoller (an epoll
// descriptor is itself pollable) and arms the sockets in it, one-shot,
// only when it parks: while the loop paces its reads (Config.RecvPace),
// datagrams arriving at the socket wake nothing, so a busy loop costs a
// wake-up per pace, not one per datagram. Registered with the netpoller
// directly, the socket would wake the runtime at every arrival, whether a
// goroutine waits for it or not.
//
// The urgent socket (Config.SingleSocket), when there is one, is bound to
// the same address after the loop's socket, so it is the second of their
// SO_REUSEPORT group, and the group's steering program (urgentSteering)
// sends it every datagram that carries the urgent mark.
type pollSocket struct {
	fd     int
	urgent int // the urgent socket, -1 when none
	epfd   int
	ep     *os.File // the epoll set, registered with the netpoller
	raw    syscall.RawConn
	arm    []unix.EpollEvent // one per socket: fd's, then urgent's
	ev     [2]unix.EpollEvent
	ready  func(uintptr) bool // wait's Read callback, built once: a wait allocates nothing
}

// openPollSocket binds a loop's socket (bindLoopSocket), with urgent its
// urgent socket, and their epoll set.
func openPollSocket(ap netip.AddrPort, rcvbuf, sndbuf int, urgent bool) (*pollSocket, error) {
	fd, err := bindLoopSocket(ap, rcvbuf, sndbuf)
	if err != nil {
		return nil, err
	}
	s := &pollSocket{fd: fd, urgent: -1, epfd: -1}
	if urgent {
		if err := s.openUrgent(rcvbuf, sndbuf); err != nil {
			_ = s.close()
			return nil, err
		}
	}
	if err := s.openEpoll(); err != nil {
		_ = s.close()
		return nil, err
	}
	return s, nil
}

// openUrgent binds the urgent socket to the loop socket's address (its
// port resolved, when the listen address asked for any) and attaches the
// group's steering program. A datagram that arrives in between lands on
// either socket by the kernel's hash: both are read, so nothing is lost.
func (s *pollSocket) openUrgent(rcvbuf, sndbuf int) error {
	ap, err := udp.LocalAddrPort(s.fd)
	if err != nil {
		return err
	}
	if s.urgent, err = bindLoopSocket(ap, rcvbuf, sndbuf); err != nil {
		s.urgent = -1
		return fmt.Errorf("urgent socket: %w", err)
	}
	prog := urgentSteering()
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	if err := unix.SetsockoptSockFprog(s.fd, unix.SOL_SOCKET, unix.SO_ATTACH_REUSEPORT_CBPF, &fprog); err != nil {
		return fmt.Errorf("SO_ATTACH_REUSEPORT_CBPF: %w", err)
	}
	return nil
}

// urgentSteering is the SO_REUSEPORT group's program (classic BPF; offsets
// count from the UDP payload; the result is the index of a socket in the
// group, in the order they were bound). A sealed datagram (byte 7 >= 0x80)
// with the urgent mark (auth.UrgentBit, in byte auth.UrgentByte) goes to
// socket 1, the urgent one; everything else to socket 0. A load past the
// end of a short datagram ends the program with 0: the loop socket, which
// gets everything the loop's checks are for.
func urgentSteering() []unix.SockFilter {
	const (
		ldb  = unix.BPF_LD | unix.BPF_B | unix.BPF_ABS
		jset = unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K
		ret  = unix.BPF_RET | unix.BPF_K
	)
	return []unix.SockFilter{
		{Code: ldb, K: 7},                   // top byte of the session id
		{Code: jset, K: 0x80, Jt: 0, Jf: 3}, // plain datagram: socket 0
		{Code: ldb, K: auth.UrgentByte},     // top byte of the sequence number field
		{Code: jset, K: 0x80, Jt: 0, Jf: 1}, // unmarked: socket 0
		{Code: ret, K: 1},
		{Code: ret, K: 0},
	}
}

// openEpoll makes the socket's epoll set, non-blocking so that os.NewFile
// registers it with the netpoller, and adds the socket to it, armed.
func (s *pollSocket) openEpoll() error {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return fmt.Errorf("epoll_create1: %w", err)
	}
	if err := unix.SetNonblock(epfd, true); err != nil {
		_ = unix.Close(epfd)
		return fmt.Errorf("epoll set non-blocking: %w", err)
	}
	s.epfd = epfd
	s.ep = os.NewFile(uintptr(epfd), "poll loop epoll")
	s.arm = []unix.EpollEvent{{Events: unix.EPOLLIN | unix.EPOLLONESHOT, Fd: int32(s.fd)}}
	if s.urgent >= 0 {
		s.arm = append(s.arm, unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLONESHOT, Fd: int32(s.urgent)})
	}
	for i := range s.arm {
		if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, int(s.arm[i].Fd), &s.arm[i]); err != nil {
			return fmt.Errorf("epoll_ctl add: %w", err)
		}
	}
	if s.raw, err = s.ep.SyscallConn(); err != nil {
		return fmt.Errorf("epoll raw conn: %w", err)
	}
	// The epoll calls here never block (a zero timeout; a control call),
	// so they are raw system calls, as the layout's batch calls are
	// (udp.RawSyscalls): made as scheduled calls, on one P they had sysmon
	// hand the P to another thread and back, and waking at each arrival
	// cost 30-33 % of the core at 1,000 players instead of 23-24 %.
	s.ready = func(uintptr) bool {
		n, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(s.epfd), uintptr(unsafe.Pointer(&s.ev[0])), uintptr(len(s.ev)), 0, 0, 0)
		// An error other than an interrupted call ends the wait too:
		// the loop reads, finds what is wrong and decides.
		return n > 0 || (e != 0 && e != unix.EINTR)
	}
	return nil
}

// wait arms the sockets and parks the goroutine in the netpoller until a
// datagram arrives (one that came since the last read counts: arming
// reports a socket that is readable already) or the deadline passes
// (os.ErrDeadlineExceeded). Then it disarms them: one-shot disarms only
// the socket that fired, and one left armed would wake the runtime at its
// next datagram while the loop paces, cutting into the paced sleep, whose
// rest the netpoller then sleeps rounded up to a whole millisecond
// (measured with the urgent socket armed: 550 instead of 820 paced
// wake-ups a second at 1,000 players, and rtt p99 2.3 instead of 1.4 ms).
func (s *pollSocket) wait() error {
	for i := range s.arm {
		if err := s.ctl(&s.arm[i]); err != nil {
			return fmt.Errorf("epoll_ctl arm: %w", err)
		}
	}
	err := s.raw.Read(s.ready)
	for i := range s.arm {
		off := unix.EpollEvent{Fd: s.arm[i].Fd} // no events: disabled
		if e := s.ctl(&off); e != nil && err == nil {
			err = fmt.Errorf("epoll_ctl disarm: %w", e)
		}
	}
	return err
}

// ctl sets ev for its socket in the epoll set (a raw call: it never
// blocks).
func (s *pollSocket) ctl(ev *unix.EpollEvent) error {
	if _, _, e := unix.RawSyscall6(unix.SYS_EPOLL_CTL, uintptr(s.epfd), unix.EPOLL_CTL_MOD, uintptr(ev.Fd), uintptr(unsafe.Pointer(ev)), 0, 0); e != 0 {
		return e
	}
	return nil
}

// setDeadline bounds the current or next wait.
func (s *pollSocket) setDeadline(t time.Time) { _ = s.ep.SetReadDeadline(t) }

func (s *pollSocket) close() error {
	var err error
	if s.ep != nil {
		err = s.ep.Close()
	}
	err = errors.Join(err, unix.Close(s.fd))
	if s.urgent >= 0 {
		err = errors.Join(err, unix.Close(s.urgent))
	}
	return err
}

// dupFD duplicates fd, close-on-exec.
func dupFD(fd int) (int, error) { return unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0) }

// bindLoopSocket binds a non-blocking SO_REUSEPORT UDP socket to ap, the
// same way gnet binds its loops' sockets: the kernel then spreads clients
// over the loops' sockets by 4-tuple hash, so each client stays on one loop.
func bindLoopSocket(ap netip.AddrPort, rcvbuf, sndbuf int) (_ int, err error) {
	family := unix.AF_INET
	if ap.Addr().Is6() {
		family = unix.AF_INET6
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return -1, fmt.Errorf("socket: %w", err)
	}
	defer func() {
		if err != nil {
			_ = unix.Close(fd)
		}
	}()
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
		return -1, fmt.Errorf("SO_REUSEPORT: %w", err)
	}
	if rcvbuf > 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, rcvbuf); err != nil {
			return -1, fmt.Errorf("SO_RCVBUF: %w", err)
		}
	}
	if sndbuf > 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, sndbuf); err != nil {
			return -1, fmt.Errorf("SO_SNDBUF: %w", err)
		}
	}
	var sa unix.Sockaddr
	if family == unix.AF_INET {
		sa = &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	} else {
		// An IPv6 listen address serves IPv6 only, as net.ListenUDP("udp6")
		// and gnet's udp6 do.
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1); err != nil {
			return -1, fmt.Errorf("IPV6_V6ONLY: %w", err)
		}
		sa = &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
	}
	if err := unix.Bind(fd, sa); err != nil {
		return -1, err // EADDRINUSE must stay visible to startErr
	}
	return fd, nil
}

// batchers are the loop's receiver and reply sender on the socket itself
// (closed by close, not by them).
func (s *rxSocket) batchers(batch int) (BatchReceiver, BatchSender, error) {
	tx, err := udp.NewSocketSender(s.fd, batch)
	if err != nil {
		return nil, nil, err
	}
	rx, err := udp.NewSocketReceiver(s.fd, batch)
	if err != nil {
		return nil, nil, err
	}
	return rx, tx, nil
}

// wait blocks in ppoll for up to d until the socket is readable (true) or
// the eventfd was written. ppoll rather than epoll_wait: two descriptors,
// no extra epoll fd, and a nanosecond timeout, which the inline tick clock
// needs to wake on its deadline rather than on the next millisecond.
func (s *rxSocket) wait(d time.Duration) (bool, error) {
	s.fds = [2]unix.PollFd{{Fd: int32(s.fd), Events: unix.POLLIN}, {Fd: int32(s.evfd), Events: unix.POLLIN}}
	s.ts = unix.NsecToTimespec(int64(max(d, 0)))
	n, err := unix.Ppoll(s.fds[:], &s.ts, nil)
	if err == unix.EINTR {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("ppoll: %w", err)
	}
	return n > 0 && s.fds[0].Revents != 0, nil
}

// wake makes a loop's current or next wait return.
func (s *rxSocket) wake() { _, _ = unix.Write(s.evfd, s.one[:]) }

// dup duplicates the socket for a fan-out worker (close-on-exec).
func (s *rxSocket) dup() (int, error) { return dupFD(s.fd) }

func (s *rxSocket) close() error {
	_ = unix.Close(s.evfd)
	return unix.Close(s.fd)
}
