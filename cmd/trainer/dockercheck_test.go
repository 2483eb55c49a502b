package main

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// TestDockerCheckScript checks scripts/docker_check.sh without building an
// image (too slow for CI): bash must parse it, and every build argument that
// the Dockerfile declares before its first FROM, the images it builds from,
// must be used by a FROM and passed by the script, so that the check builds
// on its local bases and not on images it would have to pull.
func TestDockerCheckScript(t *testing.T) {
	const script = "../../scripts/docker_check.sh"
	if out, err := exec.Command("bash", "-n", script).CombinedOutput(); err != nil {
		t.Fatalf("bash -n %s: %v\n%s", script, err, out)
	}
	dockerfile, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(script)
	if err != nil {
		t.Fatal(err)
	}

	var args, froms []string
	for _, line := range strings.Split(string(dockerfile), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch strings.ToUpper(f[0]) {
		case "ARG":
			if len(froms) == 0 {
				args = append(args, strings.SplitN(f[1], "=", 2)[0])
			}
		case "FROM":
			froms = append(froms, f[1])
		}
	}
	if len(args) == 0 || len(froms) == 0 {
		t.Fatalf("Dockerfile: %d build arguments before the first FROM, %d FROM lines; want both", len(args), len(froms))
	}
	for _, arg := range args {
		used := false
		for _, from := range froms {
			used = used || from == "${"+arg+"}" || from == "$"+arg
		}
		if !used {
			t.Errorf("Dockerfile: ARG %s is used by no FROM (%v)", arg, froms)
		}
		if !regexp.MustCompile(`--build-arg "` + arg + `=`).Match(src) {
			t.Errorf("%s does not pass --build-arg %s=...", script, arg)
		}
	}
	for _, from := range froms {
		if !strings.HasPrefix(from, "$") {
			t.Errorf("Dockerfile: FROM %s is not a build argument: docker_check.sh cannot replace it", from)
		}
	}
}
