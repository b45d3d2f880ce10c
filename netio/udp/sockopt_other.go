//go:build !linux

package udp

import (
	"errors"
	"os"
)

// SocketBuffers is not implemented off Linux: other kernels report buffer
// sizes in their own ways, and the warning it feeds is advice for Linux
// sysctls anyway.
func SocketBuffers(fd int) (rcv, snd int, err error) {
	return 0, 0, errors.ErrUnsupported
}

const (
	RecvBufferSysctl = "kern.ipc.maxsockbuf"
	SendBufferSysctl = "kern.ipc.maxsockbuf"
)

// CloseFD closes a descriptor from gnet's Dup; os.NewFile makes it portable.
func CloseFD(fd int) error { return os.NewFile(uintptr(fd), "").Close() }

// SetDontFragment does nothing off Linux: the options differ per kernel and
// only Linux is measured.
func SetDontFragment(fd int) error { return nil }
