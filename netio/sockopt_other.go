//go:build !linux

package netio

import (
	"errors"
	"os"
)

// socketBuffers is not implemented off Linux: other kernels report buffer
// sizes in their own ways, and the warning it feeds is advice for Linux
// sysctls anyway.
func socketBuffers(fd int) (rcv, snd int, err error) {
	return 0, 0, errors.ErrUnsupported
}

const (
	rcvSysctl = "kern.ipc.maxsockbuf"
	sndSysctl = "kern.ipc.maxsockbuf"
)

// closeFD closes a descriptor from gnet's Dup; os.NewFile makes it portable.
func closeFD(fd int) error { return os.NewFile(uintptr(fd), "").Close() }
