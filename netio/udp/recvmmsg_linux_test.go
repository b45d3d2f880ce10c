//go:build linux

package udp

import (
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The kernel seam: EINTR is retried, other errors reported with n == 0.
func TestRecvmmsgErrors(t *testing.T) {
	r := newMmsgReceiver(-1, 4)
	calls := 0
	r.recvmmsg = func(fd int, hdrs []unix.Mmsghdr, flags int) (int, unix.Errno) {
		calls++
		if flags&unix.MSG_DONTWAIT == 0 {
			t.Error("recvmmsg without MSG_DONTWAIT")
		}
		switch calls {
		case 1:
			return 0, unix.EINTR
		case 2:
			sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(hdrs[0].Hdr.Name))
			*sa = unix.RawSockaddrInet6{Family: unix.AF_UNIX}
			hdrs[0].Len = 3
			return 1, 0
		}
		return -1, unix.ENOMEM
	}
	bufs := [][]byte{make([]byte, 2048)}
	sizes, addrs := make([]int, 1), make([]Addr, 1)
	if n, err := r.Receive(bufs, sizes, addrs); n != 1 || err != nil || sizes[0] != 3 || addrs[0].Port != 0 {
		t.Fatalf("after EINTR: %d %v %d %v", n, err, sizes[0], addrs[0])
	}
	if n, err := r.Receive(bufs, sizes, addrs); n != 0 || err != unix.ENOMEM {
		t.Fatalf("ENOMEM: %d %v", n, err)
	}
}
