package udp

import (
	"errors"
	"fmt"
	"net"
	"os"
)

// FileConn wraps the UDP socket fd as a *net.UDPConn, registered with Go's
// netpoller. The conn holds a duplicate: fd is closed here either way, so
// the caller gives it up.
func FileConn(fd int, name string) (*net.UDPConn, error) {
	f := os.NewFile(uintptr(fd), name)
	pc, err := net.FilePacketConn(f)
	_ = f.Close()
	if err != nil {
		return nil, fmt.Errorf("udp: %s: %w", name, err)
	}
	c, ok := pc.(*net.UDPConn)
	if !ok {
		_ = pc.Close()
		return nil, errors.New("udp: " + name + ": descriptor is not a UDP socket")
	}
	return c, nil
}
