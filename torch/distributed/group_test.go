package distributed

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"gotrain/internal/testenv"
	"gotrain/torch"
)

// runWorker runs one rank of scenario; see TestMain.
func runWorker(scenario string) int {
	env, ok, err := LookupEnv()
	if err != nil || !ok {
		return fail("LookupEnv: ok=%v err=%v", ok, err)
	}
	store, err := env.NewStore(20 * time.Second)
	if err != nil {
		return fail("%v", err)
	}
	defer store.Close()
	timeout := 30 * time.Second
	if scenario == "stall" {
		timeout = 2 * time.Second
	}
	pg, err := NewProcessGroupGloo(store, env.Rank, env.WorldSize, Options{Timeout: timeout})
	if err != nil {
		return fail("%v", err)
	}
	defer pg.Close()
	switch scenario {
	case "collectives":
		return collectives(pg)
	case "ddp":
		return ddpScenario(pg)
	case "mismatch":
		return mismatchScenario(pg)
	case "killed":
		// Both ranks pass a barrier; then the victim waits to be killed
		// while the other runs collectives until they fail.
		victim, _ := strconv.Atoi(os.Getenv("GOTRAIN_DIST_VICTIM"))
		if err := pg.Barrier(); err != nil {
			return fail("first barrier: %v", err)
		}
		fmt.Println("ready")
		if pg.Rank() == victim {
			time.Sleep(time.Minute)
			return fail("rank %d was not killed", victim)
		}
		x := torch.Must(torch.Ones([]int64{4}, torch.Float32, torch.CPU))
		for {
			if err := pg.AllReduce(x, Sum); err != nil {
				var lost *RankLostError
				if errors.As(err, &lost) && lost.Rank == victim && !lost.Closed {
					fmt.Println("lost:", err)
					return 3
				}
				return fail("allreduce: %v", err)
			}
		}
	case "leave":
		// Rank 1 closes its group and ends; rank 0's next collective must
		// say so rather than call it lost.
		if err := pg.Barrier(); err != nil {
			return fail("first barrier: %v", err)
		}
		if pg.Rank() == 1 {
			pg.Close()
			return 0
		}
		x := torch.Must(torch.Ones([]int64{4}, torch.Float32, torch.CPU))
		for {
			if err := pg.AllReduce(x, Sum); err != nil {
				var lost *RankLostError
				if errors.As(err, &lost) && lost.Rank == 1 && lost.Closed {
					fmt.Println("left:", err)
					return 5
				}
				return fail("allreduce: %v", err)
			}
		}
	case "stall":
		// Rank 1 stays alive but skips the barrier: rank 0 must time out.
		if pg.Rank() == 1 {
			time.Sleep(8 * time.Second)
			return 0
		}
		start := time.Now()
		err := pg.Barrier()
		var lost *RankLostError
		if !errors.Is(err, ErrTimeout) || errors.As(err, &lost) {
			return fail("barrier with a stalled peer: %v", err)
		}
		took := time.Since(start)
		fmt.Printf("timed out after %v: %v\n", took.Round(time.Millisecond), err)
		if took > 4*time.Second {
			return fail("a timeout of 2s took %v", took)
		}
		return 4
	}
	return fail("unknown scenario %q", scenario)
}

// collectives checks every collective's result against the value worked
// out by hand for ranks r = 0..W-1.
func collectives(pg *ProcessGroup) int {
	r, w := float64(pg.Rank()), float64(pg.Size())
	get := func(t *torch.Tensor) []float64 {
		x := torch.Must(t.ToDType(torch.Float64))
		defer x.Free()
		return torch.Must(torch.ToSlice[float64](x))
	}
	check := func(what string, t *torch.Tensor, want ...float64) error {
		got := get(t)
		if len(got) != len(want) {
			return fmt.Errorf("%s: %d values, want %d", what, len(got), len(want))
		}
		for i := range got {
			if math.Abs(got[i]-want[i]) > 1e-5*math.Max(1, math.Abs(want[i])) {
				return fmt.Errorf("%s: got %v, want %v", what, got, want)
			}
		}
		return nil
	}
	s := w * (w + 1) / 2 // sum of r+1
	var errs []error
	x := torch.Must(torch.FromSlice([]float32{float32(r + 1), float32(10 * (r + 1)), -1}, 3))
	if err := pg.AllReduce(x, Sum); err != nil {
		return fail("%v", err)
	}
	errs = append(errs, check("allreduce SUM", x, s, 10*s, -w))
	y := torch.Must(torch.FromSlice([]float64{r, -r}, 2))
	if err := pg.AllReduce(y, Max); err != nil {
		return fail("%v", err)
	}
	errs = append(errs, check("allreduce MAX", y, w-1, 0))
	z := torch.Must(torch.Full([]int64{2, 2}, r, torch.Float32, torch.CPU))
	if err := pg.Broadcast(z, pg.Size()-1); err != nil {
		return fail("%v", err)
	}
	errs = append(errs, check("broadcast", z, w-1, w-1, w-1, w-1))
	if err := pg.Barrier(); err != nil {
		return fail("%v", err)
	}

	// Averaging in buckets of 64 bytes: a [3,4] float32 tensor with
	// values (r+1)*i, a float64 one of r*r (another dtype, so another
	// bucket) and a float32 one of 1000 values r-1, larger than a bucket.
	a := make([]float32, 12)
	wantA := make([]float64, 12)
	for i := range a {
		a[i] = float32((r + 1) * float64(i))
		wantA[i] = float64(i) * (w + 1) / 2
	}
	ta := torch.Must(torch.FromSlice(a, 3, 4))
	tb := torch.Must(torch.Full([]int64{5}, r*r, torch.Float64, torch.CPU))
	tc := torch.Must(torch.Full([]int64{1000}, r-1, torch.Float32, torch.CPU))
	td := torch.Must(torch.Full([]int64{2}, 3*r, torch.Float32, torch.CPU))
	if err := pg.AllReduceMean([]*torch.Tensor{ta, tb, tc, td}, 64); err != nil {
		return fail("%v", err)
	}
	meanSq := (w - 1) * (2*w - 1) / 6
	errs = append(errs, check("mean a", ta, wantA...))
	errs = append(errs, check("mean b", tb, meanSq, meanSq, meanSq, meanSq, meanSq))
	wantC := make([]float64, 1000)
	for i := range wantC {
		wantC[i] = (w-1)/2 - 1
	}
	errs = append(errs, check("mean c", tc, wantC...))
	errs = append(errs, check("mean d", td, 3*(w-1)/2, 3*(w-1)/2))

	// Parameters (leaves that require grad) from rank 0, as DDP syncs them.
	torch.Must(0, torch.ManualSeed(7))
	ref := torch.Must(torch.Randn([]int64{2, 3}, torch.Float32, torch.CPU))
	p := torch.Must(torch.Full([]int64{2, 3}, r, torch.Float32, torch.CPU))
	if pg.Rank() == 0 {
		p = torch.Must(ref.Clone())
	}
	if err := p.SetRequiresGrad(true); err != nil {
		return fail("%v", err)
	}
	q := torch.Must(torch.Full([]int64{4}, 5*r, torch.Float64, torch.CPU))
	if err := pg.BroadcastCoalesced([]*torch.Tensor{p, q}, 0, 0); err != nil {
		return fail("%v", err)
	}
	errs = append(errs, check("broadcast coalesced p", p, get(ref)...))
	errs = append(errs, check("broadcast coalesced q", q, 0, 0, 0, 0))
	if err := errors.Join(errs...); err != nil {
		return fail("rank %d: %v", pg.Rank(), err)
	}
	if err := pg.Barrier(); err != nil {
		return fail("%v", err)
	}
	fmt.Println("ok")
	return 0
}

// TestCollectives runs three ranks, rank 0 hosting the store, with Gloo on
// the loopback interface named by GLOO_SOCKET_IFNAME.
func TestCollectives(t *testing.T) {
	needGloo(t)
	procs := startRanks(t, "collectives", 3, testenv.FreePort(t), false, "GLOO_SOCKET_IFNAME=lo")
	for r, p := range procs {
		if err := p.wait(t, 60*time.Second); err != nil {
			t.Errorf("rank %d: %v\n%s", r, err, p.output())
		} else if !strings.Contains(p.output(), "ok") {
			t.Errorf("rank %d said nothing:\n%s", r, p.output())
		}
	}
}

// TestKilledRank kills one rank while the other waits in a collective: it
// must fail within seconds (the group timeout is 30 s) naming the lost
// rank, also when that rank hosted the store.
func TestKilledRank(t *testing.T) {
	needGloo(t)
	for _, c := range []struct {
		name   string
		victim int
		agent  bool
	}{{"agent store", 1, true}, {"store host", 0, false}} {
		t.Run(c.name, func(t *testing.T) {
			port := testenv.FreePort(t)
			if c.agent {
				port = agentStore(t)
			}
			procs := startRanks(t, "killed", 2, port, c.agent, fmt.Sprint("GOTRAIN_DIST_VICTIM=", c.victim))
			procs[0].waitLine(t, "ready", 30*time.Second)
			procs[1].waitLine(t, "ready", 30*time.Second)
			time.Sleep(200 * time.Millisecond) // the survivor is in its allreduce by now
			start := time.Now()
			if err := procs[c.victim].cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			survivor := procs[1-c.victim]
			err := survivor.wait(t, 20*time.Second)
			took := time.Since(start)
			out := survivor.output()
			if code := exitCode(err); code != 3 {
				t.Fatalf("the survivor exited with %v, want the lost-rank error:\n%s", err, out)
			}
			if want := fmt.Sprintf("rank %d was lost", c.victim); !strings.Contains(out, want) {
				t.Errorf("the survivor's error does not say %q:\n%s", want, out)
			}
			if took > 8*time.Second {
				t.Errorf("the survivor took %v to notice", took)
			}
			t.Logf("after %v: %s", took.Round(time.Millisecond), strings.TrimSpace(out))
		})
	}
}

// TestRankLeaves: a rank that closes its group is reported as such.
func TestRankLeaves(t *testing.T) {
	needGloo(t)
	procs := startRanks(t, "leave", 2, agentStore(t), true)
	err := procs[0].wait(t, 20*time.Second)
	out := procs[0].output()
	if exitCode(err) != 5 || !strings.Contains(out, "rank 1 closed its process group") {
		t.Fatalf("rank 0 exited with %v:\n%s", err, out)
	}
}

// TestStalledRankTimesOut: a rank that lives but skips a barrier makes the
// other fail at the group's timeout (2 s) with an error matching ErrTimeout.
func TestStalledRankTimesOut(t *testing.T) {
	needGloo(t)
	procs := startRanks(t, "stall", 2, agentStore(t), true)
	start := time.Now()
	err := procs[0].wait(t, 30*time.Second)
	out := procs[0].output()
	if exitCode(err) != 4 {
		t.Fatalf("rank 0 exited with %v, want a timeout:\n%s", err, out)
	}
	if !strings.Contains(out, "timeout 2s") {
		t.Errorf("the error does not give the timeout:\n%s", out)
	}
	t.Logf("after %v: %s", time.Since(start).Round(time.Millisecond), strings.TrimSpace(out))
}

func exitCode(err error) int {
	var ee interface{ ExitCode() int }
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err == nil {
		return 0
	}
	return -1
}

// TestGroupNeverForms: a group whose other rank never comes fails at the
// timeout, naming the missing rank.
func TestGroupNeverForms(t *testing.T) {
	needGloo(t)
	s, err := NewTCPStore("127.0.0.1", 0, true, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	start := time.Now()
	pg, err := NewProcessGroupGloo(s, 0, 3, Options{Timeout: time.Second})
	if err == nil {
		pg.Close()
		t.Fatal("a group of 3 formed with one rank")
	}
	var je *JoinError
	if !errors.As(err, &je) || !errors.Is(err, ErrTimeout) || fmt.Sprint(je.Missing) != "[1 2]" {
		t.Fatalf("got %v, want a JoinError for ranks 1 and 2 that matches ErrTimeout", err)
	}
	if !strings.Contains(err.Error(), "ranks 1, 2 never joined the group") {
		t.Errorf("message: %v", err)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("took %v with a timeout of 1s", d)
	}
}

// TestStoreWithoutServer: a client whose server never comes times out
// with a message naming the address.
func TestStoreWithoutServer(t *testing.T) {
	port := testenv.FreePort(t)
	start := time.Now()
	s, err := NewTCPStore("127.0.0.1", port, false, time.Second)
	if err == nil {
		s.Close()
		t.Fatal("connected to a store nobody serves")
	}
	if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), fmt.Sprintf("TCPStore client of 127.0.0.1:%d", port)) {
		t.Fatalf("got %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v with a timeout of 1s", d)
	}
	t.Log(err)
}

func TestStore(t *testing.T) {
	srv, err := NewTCPStore("127.0.0.1", 0, true, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	cl, err := NewTCPStore("127.0.0.1", srv.Port(), false, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	pre, err := NewPrefixStore("p", cl)
	if err != nil {
		t.Fatal(err)
	}
	defer pre.Close()
	if err := pre.Set("k", []byte("v\x00w")); err != nil {
		t.Fatal(err)
	}
	if v, err := srv.Get("p/k"); err != nil || string(v) != "v\x00w" {
		t.Fatalf("Get through the server: %q, %v", v, err)
	}
	if ok, err := srv.Check("k"); err != nil || ok {
		t.Fatalf("unprefixed key present: %v, %v", ok, err)
	}
	if n, err := pre.Add("n", 3); err != nil || n != 3 {
		t.Fatalf("Add: %d, %v", n, err)
	}
	if n, err := pre.Add("n", -1); err != nil || n != 2 {
		t.Fatalf("Add: %d, %v", n, err)
	}
	err = pre.Wait([]string{"never"}, 300*time.Millisecond)
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("Wait for a missing key: %v", err)
	}
	t.Log(err)
}

// TestUnavailable takes the path of a libctorch built without Gloo: in
// such a build, through its C stub too.
func TestUnavailable(t *testing.T) {
	if !HasGloo() {
		s, err := NewTCPStore("127.0.0.1", 0, true, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if _, err := newGroup("gloo", s, 0, 1, Options{}); err != ErrUnavailable {
			t.Fatalf("the C stub gave %v", err)
		}
	}
	defer func(v bool) { hasGloo = v }(hasGloo)
	hasGloo = false
	_, err := NewProcessGroupGloo(&Store{}, 0, 1, Options{})
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("got %v", err)
	}
	if want := "torch/distributed: this libtorch build has no Gloo (install libgloo-dev and rebuild)"; err.Error() != want {
		t.Fatalf("message %q, want %q", err, want)
	}
}
