//go:build linux

package udp

import "golang.org/x/sys/unix"

// SocketBuffers reads back SO_RCVBUF and SO_SNDBUF. Linux reports twice the
// value that took effect (it doubles a request to leave room for its own
// bookkeeping, socket(7)), and clamps a request to net.core.rmem_max /
// wmem_max without an error, so reading back is the only way to see a cap.
func SocketBuffers(fd int) (rcv, snd int, err error) {
	if rcv, err = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF); err != nil {
		return 0, 0, err
	}
	if snd, err = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF); err != nil {
		return 0, 0, err
	}
	return rcv / 2, snd / 2, nil
}

const (
	RecvBufferSysctl = "net.core.rmem_max"
	SendBufferSysctl = "net.core.wmem_max"
)

func CloseFD(fd int) error { return unix.Close(fd) }
