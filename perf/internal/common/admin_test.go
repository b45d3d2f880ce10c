package common

import (
	"net"
	"strings"
	"testing"
)

// TestServeAdminTakenAddress: an admin address that cannot be bound is an
// error at start (the baselines and the sink exit 2 on it), not a log line
// while the server runs without its metrics.
func TestServeAdminTakenAddress(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	err = ServeAdmin("test", ln.Addr().String(), NewMetrics())
	if err == nil || !strings.Contains(err.Error(), "--admin") {
		t.Fatalf("ServeAdmin on a taken address: %v, want an --admin error", err)
	}
	if err := ServeAdmin("test", "127.0.0.1:0", NewMetrics()); err != nil {
		t.Fatalf("ServeAdmin on a free address: %v", err)
	}
}
