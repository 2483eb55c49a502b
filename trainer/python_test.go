package trainer

import (
	"bytes"
	"os"
	"os/exec"
	"testing"
)

// systemPython is the interpreter with torch/numpy/PIL (not the pyenv one).
const systemPython = "/usr/bin/python3"

// requirePython skips the test unless systemPython exists and can import
// every module in modules; where CI is set it fails instead.
func requirePython(t *testing.T, modules ...string) {
	t.Helper()
	skip := t.Skipf
	if os.Getenv("CI") != "" {
		skip = t.Fatalf
	}
	if _, err := os.Stat(systemPython); err != nil {
		skip("reference values need %s: %v", systemPython, err)
	}
	for _, m := range modules {
		if out, err := exec.Command(systemPython, "-c", "import "+m).CombinedOutput(); err != nil {
			skip("reference values need Python module %s: %v\n%s", m, err, out)
		}
	}
}

// runPython runs a script from testdata with stdin and returns its stdout.
func runPython(t *testing.T, script string, stdin []byte) []byte {
	t.Helper()
	cmd := exec.Command(systemPython, script)
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", systemPython, script, err, stderr.Bytes())
	}
	return out
}
