//go:build linux

package udp

import (
	"net"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// FileConn turns a UDP socket's descriptor into a working *net.UDPConn and
// refuses one that is not a socket.
func TestFileConn(t *testing.T) {
	pc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	f, err := pc.File() // a duplicate; FileConn takes it over
	pc.Close()
	if err != nil {
		t.Fatal(err)
	}
	c, err := FileConn(int(f.Fd()), "test")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.LocalAddr().(*net.UDPAddr).Port == 0 {
		t.Fatal("no local address")
	}

	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	dup, err := unix.Dup(int(w.Fd())) // FileConn closes what it is given
	if err != nil {
		t.Fatal(err)
	}
	if _, err := FileConn(dup, "pipe"); err == nil {
		t.Fatal("FileConn accepted a pipe")
	}
}
