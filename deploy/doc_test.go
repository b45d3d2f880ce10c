// Package deploy holds no Go code, only the deployment files (systemd unit,
// sysctl settings, Agones fleet, container image, Grafana dashboard); its
// tests check those files against the code they deploy, so a renamed flag,
// metric or default breaks a test instead of a production host.
package deploy

import (
	"fmt"
	"os"
	"testing"
)

// binDir holds the binaries the tests build; removed after the tests.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "treasured-deploy-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
