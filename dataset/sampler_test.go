package dataset

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"reflect"
	"testing"
)

// needTorch skips the test unless python can import torch; under CI a
// missing reference fails instead.
func needTorch(t testing.TB) {
	t.Helper()
	skip := t.Skipf
	if os.Getenv("CI") != "" {
		skip = t.Fatalf
	}
	if _, err := os.Stat(python); err != nil {
		skip("%s not found; cannot compare with torch.utils.data.DistributedSampler", python)
	}
	if out, err := exec.Command(python, "-c", "import torch").CombinedOutput(); err != nil {
		skip("%s cannot import torch (%v: %s); cannot compare with DistributedSampler", python, err, out)
	}
}

// TestDistributedSamplerMatchesPyTorch compares every rank's indices with
// those of PyTorch's DistributedSampler for several dataset sizes, world
// sizes, seeds, epochs, with and without shuffling and drop_last.
func TestDistributedSamplerMatchesPyTorch(t *testing.T) {
	needTorch(t)
	type conf struct {
		N, W     int
		Shuffle  bool
		Seed     int64
		DropLast bool
	}
	var confs []conf
	for _, n := range []int{0, 1, 2, 7, 10, 33, 1000} {
		for _, w := range []int{1, 2, 3, 4, 8} {
			for _, seed := range []int64{0, 17} {
				for _, shuffle := range []bool{true, false} {
					for _, drop := range []bool{false, true} {
						confs = append(confs, conf{n, w, shuffle, seed, drop})
					}
				}
			}
		}
	}
	// A large dataset and a seed above 32 bits, once each.
	confs = append(confs, conf{50000, 2, true, 0, false}, conf{50000, 3, true, 1<<33 + 5, true})
	epochs := []int{0, 1, 5}
	const script = `
import json, sys, torch
from torch.utils.data import DistributedSampler
confs = json.loads(sys.argv[1]); epochs = json.loads(sys.argv[2])
out = []
for c in confs:
    per = []
    for e in epochs:
        ranks = []
        for r in range(c["W"]):
            s = DistributedSampler(range(c["N"]), num_replicas=c["W"], rank=r, shuffle=c["Shuffle"], seed=c["Seed"], drop_last=c["DropLast"])
            s.set_epoch(e)
            ranks.append(list(iter(s)))
        per.append(ranks)
    out.append(per)
json.dump(out, sys.stdout)
`
	cj, _ := json.Marshal(confs)
	ej, _ := json.Marshal(epochs)
	var want [][][][]int
	if err := json.Unmarshal(runPython(t, script, string(cj), string(ej)), &want); err != nil {
		t.Fatal(err)
	}
	for i, c := range confs {
		for k, e := range epochs {
			for r := 0; r < c.W; r++ {
				s, err := NewDistributedSampler(c.N, c.W, r, c.Shuffle, c.Seed, c.DropLast)
				if err != nil {
					t.Fatal(err)
				}
				got := s.Indices(e)
				w := want[i][k][r]
				if len(got) == 0 && len(w) == 0 {
					continue
				}
				if !reflect.DeepEqual(got, w) {
					t.Fatalf("%+v epoch %d rank %d:\n got %v\nwant %v", c, e, r, head(got), head(w))
				}
				if len(got) != s.NumSamples() {
					t.Fatalf("%+v: %d indices, NumSamples says %d", c, len(got), s.NumSamples())
				}
			}
		}
	}
}

func head(s []int) string {
	if len(s) > 20 {
		return fmt.Sprint(s[:20], "...")
	}
	return fmt.Sprint(s)
}

func TestNewDistributedSamplerRejectsBadRank(t *testing.T) {
	for _, c := range []struct{ n, w, r int }{{10, 2, 2}, {10, 2, -1}, {10, 0, 0}, {-1, 1, 0}} {
		if _, err := NewDistributedSampler(c.n, c.w, c.r, true, 0, false); err == nil {
			t.Errorf("NewDistributedSampler(%d, %d, %d) accepted", c.n, c.w, c.r)
		}
	}
}

// The test set's shards cover it exactly once, whatever its size.
func TestShard(t *testing.T) {
	for _, c := range []struct{ n, world int }{{10, 2}, {10, 3}, {2, 3}, {0, 2}, {10000, 7}} {
		seen := make([]int, c.n)
		for r := range c.world {
			s := Shard{N: c.n, NumReplicas: c.world, Rank: r}
			idx := s.Indices(0)
			if len(idx) != s.NumSamples() {
				t.Fatalf("%+v rank %d: %d indices, NumSamples %d", c, r, len(idx), s.NumSamples())
			}
			for _, i := range idx {
				seen[i]++
			}
		}
		for i, k := range seen {
			if k != 1 {
				t.Fatalf("%+v: image %d in %d shards", c, i, k)
			}
		}
	}
}
