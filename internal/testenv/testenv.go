// Package testenv holds what the tests of several packages ask of the
// machine they run on: whether they run under CI, where what a test
// compares against must be present, and a free TCP port.
package testenv

import (
	"net"
	"os"
	"testing"
)

// InCI reports whether the tests run under CI (CI sets CI=true), where a
// missing reference or tool fails a test instead of skipping it.
func InCI() bool { return os.Getenv("CI") != "" }

// Need does nothing when why is "", and otherwise skips t saying why, or
// under CI fails it: a CI run never passes by skipping a check.
func Need(t testing.TB, why string) {
	t.Helper()
	if why == "" {
		return
	}
	if InCI() {
		t.Fatalf("required under CI: %s", why)
	}
	t.Skipf("skipping: %s", why)
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
