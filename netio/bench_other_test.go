//go:build !linux

package netio

import "testing"

func loopbackSender(tb testing.TB) BatchSender {
	tb.Skip("sendmmsg is Linux only")
	return nil
}
