//go:build !linux

package netio

import (
	"errors"
	"net/netip"
	"time"
)

// The mmsg backend is Linux only; Config.normalize refuses it elsewhere,
// so these stubs only keep the package building, vetting and testing.
const mmsgSupported = false

var errNoMmsg = errors.New("netio: the mmsg backend needs Linux")

type rxSocket struct{ fd int }

func openRxSocket(netip.AddrPort, int, int) (*rxSocket, error) { return nil, errNoMmsg }

func (*rxSocket) batchers(int) (BatchReceiver, BatchSender, error) { return nil, nil, errNoMmsg }
func (*rxSocket) wait(time.Duration) (bool, error)                 { return false, errNoMmsg }
func (*rxSocket) wake()                                            {}
func (*rxSocket) dup() (int, error)                                { return -1, errNoMmsg }
func (*rxSocket) close() error                                     { return nil }

type pollSocket struct{ fd, urgent int }

func openPollSocket(netip.AddrPort, int, int, bool) (*pollSocket, error) { return nil, errNoMmsg }
func (*pollSocket) wait() error                                          { return errNoMmsg }
func (*pollSocket) setDeadline(time.Time)                                {}
func (*pollSocket) close() error                                         { return nil }
func dupFD(int) (int, error)                                             { return -1, errNoMmsg }
