//go:build !linux

package netio

import (
	"testing"

	"github.com/treasured/treasured/netio/udp"
)

func loopbackSender(tb testing.TB, _ ...udp.SocketOption) BatchSender {
	tb.Skip("sendmmsg is Linux only")
	return nil
}
