package main

import (
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"gotrain/internal/testenv"
	"gotrain/sweep"
	"gotrain/trainer"
)

// slurm is a one-node Slurm cluster on this machine: munged, slurmctld
// and slurmd in the foreground, their configuration, state and logs in a
// temporary folder, stopped when the test ends.
type slurm struct {
	dir string
	env []string // the environment of its commands (SLURM_CONF)
}

// startSlurm starts the cluster and waits until its node is idle. Without
// Slurm, munge or root it skips the test, and fails it under CI.
func startSlurm(t *testing.T) *slurm {
	t.Helper()
	for _, prog := range []string{"munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "sinfo", "scancel"} {
		if _, err := exec.LookPath(prog); err != nil {
			testenv.Need(t, fmt.Sprintf("Slurm and munge (Debian's slurm-wlm and munge, scripts/setup.sh --test-deps): %v", err))
		}
	}
	if os.Geteuid() != 0 {
		testenv.Need(t, "slurmd runs jobs as their users and needs root")
	}
	// Short: the munge socket's path must fit in a sockaddr_un.
	dir, err := os.MkdirTemp("", "slurm-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	for _, d := range []string{"state", "spool", "jobs"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	key := make([]byte, 1024)
	rand.Read(key)
	if err := os.WriteFile(filepath.Join(dir, "munge.key"), key, 0o600); err != nil {
		t.Fatal(err)
	}
	s := &slurm{dir: dir}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SLURM_") && !strings.HasPrefix(kv, "SBATCH_") {
			s.env = append(s.env, kv)
		}
	}
	conf := filepath.Join(dir, "slurm.conf")
	s.env = append(s.env, "SLURM_CONF="+conf)
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	host, _, _ = strings.Cut(host, ".")
	// The node offers 8 CPUs whatever it has (config_overrides), so that
	// the tasks of an array, 2 CPUs each, run at once.
	err = os.WriteFile(conf, []byte(fmt.Sprintf(`ClusterName=gotraintest
SlurmctldHost=%[1]s(127.0.0.1)
SlurmctldPort=%[2]d
SlurmdPort=%[3]d
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=%[4]s/munge.sock
SlurmUser=root
SlurmdUser=root
StateSaveLocation=%[4]s/state
SlurmdSpoolDir=%[4]s/spool
SlurmctldPidFile=%[4]s/slurmctld.pid
SlurmdPidFile=%[4]s/slurmd.pid
SlurmctldLogFile=%[4]s/slurmctld.log
SlurmdLogFile=%[4]s/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmdParameters=config_overrides
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
NodeName=%[1]s NodeAddr=127.0.0.1 CPUs=8 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
`, host, testenv.FreePort(t), testenv.FreePort(t), dir)), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	s.daemon(t, "munged", "--foreground", "--force", "--key-file", dir+"/munge.key", "--socket", dir+"/munge.sock",
		"--pid-file", dir+"/munged.pid", "--log-file", dir+"/munged.log", "--seed-file", dir+"/munged.seed")
	s.waitUntil(t, 20*time.Second, "munged's socket", func() bool { return exists(dir + "/munge.sock") })
	s.daemon(t, "slurmctld", "-D", "-i", "-f", conf)
	s.daemon(t, "slurmd", "-D", "-f", conf)
	s.waitUntil(t, 60*time.Second, "the node idle", func() bool {
		out, _ := s.command("sinfo", "-h", "-o", "%t")
		return strings.TrimSpace(out) == "idle"
	})
	// Before the daemons stop (cleanups run last first): no job left.
	t.Cleanup(func() {
		s.command("scancel", "--full", "--user", "root")
		s.waitUntil(nil, 20*time.Second, "", func() bool { out, _ := s.command("squeue", "-h"); return out == "" })
	})
	return s
}

// daemon starts a daemon in the foreground and stops it when the test
// ends: SIGTERM, then SIGKILL after 10 seconds.
func (s *slurm) daemon(t *testing.T, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = s.env
	logf, err := os.Create(filepath.Join(s.dir, name+".out"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			for _, f := range []string{name + ".out", name + ".log"} {
				if b, err := os.ReadFile(filepath.Join(s.dir, f)); err == nil && len(b) > 0 {
					t.Logf("%s:\n%s", f, tail(string(b), 3000))
				}
			}
		}
	})
}

// command runs a Slurm command in the cluster's jobs folder.
func (s *slurm) command(name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Env, cmd.Dir = s.env, filepath.Join(s.dir, "jobs")
	b, err := cmd.CombinedOutput()
	return string(b), err
}

// waitUntil polls ok until it holds, failing t (if not nil) after limit.
func (s *slurm) waitUntil(t *testing.T, limit time.Duration, what string, ok func() bool) {
	deadline := time.Now().Add(limit)
	for !ok() {
		if time.Now().After(deadline) {
			if t != nil {
				t.Helper()
				t.Fatalf("Slurm: no %s after %v", what, limit)
			}
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// submit submits a sweep with scripts/slurm/submit.sh and returns the
// array's and the collect job's ids.
func (s *slurm) submit(t *testing.T, args ...string) (array, collect string) {
	t.Helper()
	script, err := filepath.Abs("../../scripts/slurm/submit.sh")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(script, args...)
	cmd.Env, cmd.Dir = append(s.env, "TRAINER="+binary), filepath.Join(s.dir, "jobs")
	b, err := cmd.CombinedOutput()
	f := strings.Fields(string(b))
	if err != nil || len(f) != 2 {
		t.Fatalf("submit.sh: %v\n%s", err, b)
	}
	return f[0], f[1]
}

// jobStates returns the state of each of the job's tasks ("COMPLETED",
// "FAILED", ...), as scontrol shows them.
func (s *slurm) jobStates(t *testing.T, id string) []string {
	t.Helper()
	out, err := s.command("scontrol", "-o", "show", "job", id)
	if err != nil {
		t.Fatalf("scontrol show job %s: %v\n%s", id, err, out)
	}
	var states []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		for _, f := range strings.Fields(line) {
			if st, ok := strings.CutPrefix(f, "JobState="); ok {
				states = append(states, st)
			}
		}
	}
	return states
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// TestSlurmSweep submits two sweeps to a one-node Slurm cluster as job
// arrays with their collect jobs (scripts/slurm/submit.sh): one of 4 tiny
// trials, whose weights must equal those of the same runs made here, bit
// for bit, and one whose second trial fails, which the table reports
// while the first trial and the collect job still run.
func TestSlurmSweep(t *testing.T) {
	needArchive(t)
	s := startSlurm(t)
	machine := []string{"-threads", "1", "-workers", "1"}
	good := append(append([]string{"-out", filepath.Join(s.dir, "good"), "-param", "lr=0.02,0.05", "-param", "seed=1,2"}, tinySweep()...), machine...)
	bad := []string{"-out", filepath.Join(s.dir, "bad"), "-param", "model=seed,nosuch"}
	for a := tinySweep(machine...); len(a) > 0; a = a[2:] {
		if a[0] != "-model" { // swept here
			bad = append(bad, a[:2]...)
		}
	}
	goodArray, goodCollect := s.submit(t, good...)
	badArray, badCollect := s.submit(t, bad...)

	// Meanwhile, the same trials as plain runs here.
	list := runTrainer(t, append([]string{"sweep", "-list"}, good...)...)
	names := trialNames(t, list)
	if len(names) != 4 {
		t.Fatalf("%d trials, want 4", len(names))
	}
	local := t.TempDir()
	for i, line := range strings.Split(strings.TrimSpace(list.stdout), "\n") {
		args := strings.Fields(strings.Split(line, "\t")[2])
		r := runTrainer(t, append(append(args, machine...), "-out", filepath.Join(local, names[i]))...)
		if r.code != 0 {
			t.Fatalf("local run of trial %d: exit %d\n%s", i, r.code, r.stderr)
		}
	}

	s.waitUntil(t, 3*time.Minute, "end of the jobs", func() bool { out, _ := s.command("squeue", "-h"); return out == "" })
	jobs := filepath.Join(s.dir, "jobs")
	for _, c := range []struct {
		id   string
		want []string
	}{
		{goodArray, []string{"COMPLETED", "COMPLETED", "COMPLETED", "COMPLETED"}},
		{goodCollect, []string{"COMPLETED"}},
		{badArray, []string{"COMPLETED", "FAILED"}}, // sorted
		{badCollect, []string{"COMPLETED"}},
	} {
		// Array tasks end in any order.
		got := s.jobStates(t, c.id)
		if !slices.Equal(slices.Sorted(slices.Values(got)), c.want) {
			t.Errorf("job %s: states %v, want %v", c.id, got, c.want)
		}
	}
	if t.Failed() {
		files, _ := filepath.Glob(filepath.Join(jobs, "*.out"))
		for _, f := range files {
			b, _ := os.ReadFile(f)
			t.Logf("%s:\n%s", filepath.Base(f), tail(string(b), 2000))
		}
	}

	checkSweepTable(t, filepath.Join(s.dir, "good"), names, nil)
	for i, n := range names {
		got := readTensors(t, filepath.Join(s.dir, "good", n, trainer.StateDictFile))
		want := readTensors(t, filepath.Join(local, n, trainer.StateDictFile))
		if !equalTensors(got, want) {
			t.Errorf("trial %d (%s): the weights of the Slurm task differ from the same run made here", i, n)
		}
		out, err := os.ReadFile(filepath.Join(jobs, fmt.Sprintf("sweep-%s_%d.out", goodArray, i)))
		if err != nil || !strings.Contains(string(out), "Epoch: 1") || !strings.Contains(string(out), "trial "+strconv.Itoa(i)+" of 4") {
			t.Errorf("task %d's output %q, %v: lacks its trial's run", i, tail(string(out), 500), err)
		}
	}
	checkSweepTable(t, filepath.Join(s.dir, "bad"), []string{"model=seed", "model=nosuch"},
		map[string]string{"model=nosuch": `unknown model "nosuch"`})
	md, err := os.ReadFile(filepath.Join(jobs, "sweep-collect-"+badCollect+".out"))
	if err != nil || !strings.Contains(string(md), "2 trials: 1 done, 1 failed.") || !strings.Contains(string(md), "failed (exit 2)") {
		t.Errorf("collect job's output %q, %v: lacks the failed trial", md, err)
	}
	rec, err := sweep.ReadRecord(filepath.Join(s.dir, "bad", "model=nosuch"))
	if err != nil || rec.Status != sweep.Failed || rec.ExitCode != exitUsage {
		t.Errorf("failed trial's record %+v, %v", rec, err)
	}
}
