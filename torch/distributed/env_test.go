package distributed

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"gotrain/internal/pyref"
	"gotrain/internal/testenv"
)

func fakeEnv(kv ...string) func(string) (string, bool) {
	m := map[string]string{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// torchrunEnv is what torchrun 1.13 gives worker 1 of 2 with the static rendezvous.
var torchrunEnv = []string{
	"RANK", "1", "LOCAL_RANK", "1", "WORLD_SIZE", "2", "LOCAL_WORLD_SIZE", "2",
	"GROUP_RANK", "0", "ROLE_RANK", "1", "MASTER_ADDR", "127.0.0.1", "MASTER_PORT", "29500",
	"TORCHELASTIC_USE_AGENT_STORE", "True", "TORCHELASTIC_RESTART_COUNT", "2", "TORCHELASTIC_MAX_RESTARTS", "3",
}

func TestLookupEnv(t *testing.T) {
	env, ok, err := lookupEnv(fakeEnv(torchrunEnv...))
	want := Env{Rank: 1, LocalRank: 1, WorldSize: 2, LocalWorldSize: 2, MasterAddr: "127.0.0.1", MasterPort: 29500, UseAgentStore: true, RestartCount: 2}
	if err != nil || !ok || env != want {
		t.Fatalf("got %+v, %v, %v; want %+v", env, ok, err, want)
	}
	if env.IsStoreServer() {
		t.Error("a worker hosts the store although the agent does")
	}
	if _, ok, err := lookupEnv(fakeEnv()); ok || err != nil {
		t.Errorf("empty environment: ok=%v err=%v", ok, err)
	}
	// A manual launch: rank 0 hosts, all ranks on one machine.
	env, ok, err = lookupEnv(fakeEnv("RANK", "0", "WORLD_SIZE", "3", "MASTER_ADDR", "h", "MASTER_PORT", "1234"))
	if err != nil || !ok || !env.IsStoreServer() || env.LocalWorldSize != 3 || env.LocalRank != 0 {
		t.Errorf("manual launch: %+v, %v, %v", env, ok, err)
	}
	// --standalone: the agent store is not shared, so worker 0 hosts.
	env, _, _ = lookupEnv(fakeEnv(append(append([]string{}, torchrunEnv...), "RANK", "0", "LOCAL_RANK", "0", "TORCHELASTIC_USE_AGENT_STORE", "False")...))
	if !env.IsStoreServer() {
		t.Errorf("rank 0 without the agent store does not host it: %+v", env)
	}
}

func TestLookupEnvErrors(t *testing.T) {
	with := func(kv ...string) []string { return append(append([]string{}, torchrunEnv...), kv...) }
	for _, c := range []struct {
		env     []string
		wantVar string
	}{
		{with("RANK", "2"), "RANK"},
		{with("RANK", "x"), "RANK"},
		{with("WORLD_SIZE", "0"), "WORLD_SIZE"},
		{[]string{"WORLD_SIZE", "2", "MASTER_ADDR", "h", "MASTER_PORT", "1"}, "RANK"},
		{with("LOCAL_RANK", "2"), "LOCAL_RANK"},
		{with("LOCAL_WORLD_SIZE", "3"), "LOCAL_WORLD_SIZE"},
		{with("MASTER_ADDR", ""), "MASTER_ADDR"},
		{with("MASTER_PORT", "70000"), "MASTER_PORT"},
		{with("TORCHELASTIC_USE_AGENT_STORE", "1"), "TORCHELASTIC_USE_AGENT_STORE"},
		{with("TORCHELASTIC_RESTART_COUNT", "-1"), "TORCHELASTIC_RESTART_COUNT"},
	} {
		_, _, err := lookupEnv(fakeEnv(c.env...))
		var ee *EnvError
		if !errors.As(err, &ee) || ee.Var != c.wantVar {
			t.Errorf("%v: got %v, want an EnvError for %s", c.env[len(c.env)-2:], err, c.wantVar)
		}
	}
	// LOCAL_WORLD_SIZE without LOCAL_RANK, other than WORLD_SIZE.
	_, _, err := lookupEnv(fakeEnv("RANK", "0", "WORLD_SIZE", "2", "LOCAL_WORLD_SIZE", "1", "MASTER_ADDR", "h", "MASTER_PORT", "1"))
	var ee *EnvError
	if !errors.As(err, &ee) || ee.Var != "LOCAL_RANK" {
		t.Errorf("LOCAL_WORLD_SIZE=1 of 2 alone: %v", err)
	}
}

// A launch by hand may set LOCAL_RANK without LOCAL_WORLD_SIZE, as
// PyTorch's env:// allows: the local world size is then the world size
// where the store is on the loopback, else unknown (0).
func TestLookupEnvLocalRankAlone(t *testing.T) {
	for _, c := range []struct {
		addr      string
		localRank string
		want      int // LocalWorldSize; -1: an EnvError for LOCAL_RANK
	}{
		{"127.0.0.1", "1", 2}, {"localhost", "0", 2}, {"::1", "1", 2}, {"node7", "1", 0}, {"10.1.2.3", "3", 0},
		{"127.0.0.1", "2", -1},
	} {
		env, ok, err := lookupEnv(fakeEnv("RANK", "1", "WORLD_SIZE", "2", "LOCAL_RANK", c.localRank, "MASTER_ADDR", c.addr, "MASTER_PORT", "1"))
		if c.want < 0 {
			var ee *EnvError
			if !errors.As(err, &ee) || ee.Var != "LOCAL_RANK" {
				t.Errorf("%+v: got %+v, %v; want an EnvError for LOCAL_RANK", c, env, err)
			}
			continue
		}
		if err != nil || !ok || env.LocalWorldSize != c.want || fmt.Sprint(env.LocalRank) != c.localRank || env.Rank != 1 {
			t.Errorf("%+v: got %+v, %v, %v", c, env, ok, err)
		}
	}
	// LOCAL_WORLD_SIZE alone, equal to WORLD_SIZE: LOCAL_RANK is RANK.
	env, _, err := lookupEnv(fakeEnv("RANK", "1", "WORLD_SIZE", "2", "LOCAL_WORLD_SIZE", "2", "MASTER_ADDR", "h", "MASTER_PORT", "1"))
	if err != nil || env.LocalRank != 1 || env.LocalWorldSize != 2 {
		t.Errorf("LOCAL_WORLD_SIZE alone: %+v, %v", env, err)
	}
}

// TestTorchrun starts two ranks of the collectives scenario with Debian's
// torchrun, with its agent's store (static rendezvous) and with
// --standalone (worker 0 hosts the store).
func TestTorchrun(t *testing.T) {
	needGloo(t)
	pyref.Require(t, "torch.distributed.run")
	const python = pyref.Python
	for _, mode := range [][]string{{"--master_port", fmt.Sprint(testenv.FreePort(t))}, {"--standalone"}} {
		t.Run(mode[0], func(t *testing.T) {
			// --redirects 2 --tee 2: Debian's torchrun on Python 3.11 crashes
			// with its default --redirects 0 (pytorch#92319).
			args := append([]string{"-m", "torch.distributed.run", "--nproc_per_node", "2", "--redirects", "2", "--tee", "2"}, mode...)
			args = append(args, "--no_python", os.Args[0], "-test.run=^$")
			cmd := exec.Command(python, args...)
			cmd.Env = append(os.Environ(), workerVar+"=collectives", "OMP_NUM_THREADS=1")
			timer := time.AfterFunc(90*time.Second, func() { cmd.Process.Kill() })
			defer timer.Stop()
			out, err := cmd.CombinedOutput()
			if err != nil || strings.Count(string(out), "ok") < 2 {
				t.Fatalf("torchrun: %v\n%s", err, out)
			}
		})
	}
}
