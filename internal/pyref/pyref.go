// Package pyref finds the Python side that tests compare against: Debian's
// interpreter at /usr/bin/python3 with its python3-torch, torchvision,
// numpy, PIL, OpenCV and protobuf packages (scripts/setup.sh --test-deps),
// not whatever python3 comes first on PATH.
//
// A test that needs it calls Require. Where the interpreter or a module is
// missing the test is skipped, except when the environment variable CI is
// set (CI sets CI=true): there a missing reference fails the test, so that a
// CI run never passes by skipping the comparisons.
package pyref

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"gotrain/internal/testenv"
)

// Python is the interpreter the references run in.
const Python = "/usr/bin/python3"

var (
	mu      sync.Mutex
	checked = map[string]string{} // import line -> "" or why it failed
)

// Missing returns "" when Python can import every module, and otherwise a
// sentence saying what is missing. Results are cached per module list.
func Missing(modules ...string) string {
	line := "import " + strings.Join(modules, ", ")
	if len(modules) == 0 {
		line = "pass"
	}
	mu.Lock()
	defer mu.Unlock()
	if why, ok := checked[line]; ok {
		return why
	}
	why := ""
	if _, err := os.Stat(Python); err != nil {
		why = fmt.Sprintf("%s is missing (scripts/setup.sh --test-deps installs it)", Python)
	} else if out, err := exec.Command(Python, "-c", line).CombinedOutput(); err != nil {
		why = fmt.Sprintf("%s cannot %q (scripts/setup.sh --test-deps installs it): %v\n%s", Python, line, err, out)
	}
	checked[line] = why
	return why
}

// Require skips t unless Python can import every module; under CI it fails
// t instead.
func Require(t testing.TB, modules ...string) {
	t.Helper()
	testenv.Need(t, Missing(modules...))
}

// Run runs the Python script file with stdin and returns its standard
// output; a failure fails t with the script's standard error.
func Run(t testing.TB, script string, stdin []byte) []byte {
	t.Helper()
	cmd := exec.Command(Python, script)
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", Python, script, err, stderr.Bytes())
	}
	return out
}
