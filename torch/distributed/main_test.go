package distributed

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gotrain/internal/testenv"
)

// The multi-process tests run this test binary again as the ranks: with
// workerVar set, TestMain runs that scenario as one rank (configured by
// torchrun's variables) instead of the tests, and exits with its status.
const workerVar = "GOTRAIN_DIST_TEST_WORKER"

func TestMain(m *testing.M) {
	if name := os.Getenv(workerVar); name != "" {
		os.Exit(runWorker(name))
	}
	os.Exit(m.Run())
}

// rankProc is one rank started by a test.
type rankProc struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	line chan string // each line of output, as it comes
	done chan error  // the exit status, once
}

func (p *rankProc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// waitLine waits up to d for a line of output containing s.
func (p *rankProc) waitLine(t *testing.T, s string, d time.Duration) {
	t.Helper()
	timer := time.After(d)
	for {
		select {
		case l, ok := <-p.line:
			if !ok {
				t.Fatalf("rank ended before printing %q:\n%s", s, p.output())
			}
			if strings.Contains(l, s) {
				return
			}
		case <-timer:
			t.Fatalf("no %q within %v:\n%s", s, d, p.output())
		}
	}
}

// wait waits up to d for the rank to exit and returns its status.
func (p *rankProc) wait(t *testing.T, d time.Duration) error {
	t.Helper()
	select {
	case err := <-p.done:
		return err
	case <-time.After(d):
		p.cmd.Process.Kill()
		t.Fatalf("rank did not exit within %v:\n%s", d, p.output())
		return nil
	}
}

// startRanks starts world ranks of scenario as torchrun would: with the
// store on port (agentStore: hosted by the caller, else by rank 0), plus
// extra environment variables.
func startRanks(t *testing.T, scenario string, world, port int, agentStore bool, extra ...string) []*rankProc {
	t.Helper()
	procs := make([]*rankProc, world)
	for r := range procs {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(),
			workerVar+"="+scenario,
			"RANK="+strconv.Itoa(r), "LOCAL_RANK="+strconv.Itoa(r),
			"WORLD_SIZE="+strconv.Itoa(world), "LOCAL_WORLD_SIZE="+strconv.Itoa(world),
			"MASTER_ADDR=127.0.0.1", "MASTER_PORT="+strconv.Itoa(port),
			"TORCHELASTIC_USE_AGENT_STORE="+map[bool]string{true: "True", false: "False"}[agentStore],
			"TORCHELASTIC_RESTART_COUNT=0", "OMP_NUM_THREADS=1")
		cmd.Env = append(cmd.Env, extra...)
		pr, pw, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout, cmd.Stderr = pw, pw
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		pw.Close()
		p := &rankProc{cmd: cmd, line: make(chan string, 100), done: make(chan error, 1)}
		go func() {
			sc := bufio.NewScanner(pr)
			for sc.Scan() {
				p.mu.Lock()
				p.out.WriteString(sc.Text() + "\n")
				p.mu.Unlock()
				select {
				case p.line <- sc.Text():
				default:
				}
			}
			close(p.line)
			p.done <- cmd.Wait()
		}()
		t.Cleanup(func() { cmd.Process.Kill() })
		procs[r] = p
	}
	return procs
}

// agentStore hosts a TCPStore on a free port, as torchrun's agent does.
func agentStore(t *testing.T) int {
	t.Helper()
	s, err := NewTCPStore("127.0.0.1", 0, true, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s.Port()
}

func needGloo(t *testing.T) {
	t.Helper()
	if !HasGloo() {
		testenv.Need(t, ErrUnavailable.Error())
	}
}

func fail(format string, args ...any) int {
	fmt.Printf("FAIL: "+format+"\n", args...)
	return 1
}
