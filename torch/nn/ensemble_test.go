package nn

import (
	"math"
	"testing"

	"gotrain/torch"
)

func linearMember(t *testing.T, seed uint64) *Sequential {
	t.Helper()
	torch.Must(0, torch.ManualSeed(seed))
	return NewSequential(NewFlatten(), torch.Must(NewLinear(12, 4, true)))
}

// The ensemble is the mean of the members' softmaxes (worked out here in
// float64), identical members give the member's softmax exactly, and its
// TorchScript runs the same computation.
func TestEnsemble(t *testing.T) {
	defer torch.NewScope().Close()
	a, b := linearMember(t, 1), linearMember(t, 2)
	defer Free(a)
	defer Free(b)
	torch.Must(0, torch.ManualSeed(3))
	x := torch.Must(torch.Randn([]int64{5, 3, 2, 2}, torch.Float32, torch.CPU))
	softmax := func(m Module) []float64 {
		l := torch.Must(torch.ToSlice[float32](torch.Must(m.Forward(x))))
		out := make([]float64, len(l))
		for r := 0; r < 5; r++ {
			var z float64
			for c := range 4 {
				z += math.Exp(float64(l[r*4+c]))
			}
			for c := range 4 {
				out[r*4+c] = math.Exp(float64(l[r*4+c])) / z
			}
		}
		return out
	}
	pa, pb := softmax(a), softmax(b)
	ens := NewEnsemble(a, b)
	got := torch.Must(torch.ToSlice[float32](torch.Must(ens.Forward(x))))
	for i := range got {
		if want := (pa[i] + pb[i]) / 2; math.Abs(float64(got[i])-want) > 1e-6 {
			t.Errorf("element %d: %v, want %v", i, got[i], want)
		}
	}
	same := torch.Must(torch.ToSlice[float32](torch.Must(NewEnsemble(a, a).Forward(x))))
	member := torch.Must(torch.ToSlice[float32](torch.Must(torch.Softmax(torch.Must(a.Forward(x)), 1))))
	for i := range same {
		if same[i] != member[i] {
			t.Fatalf("ensemble of two identical members: element %d is %v, the member's softmax %v", i, same[i], member[i])
		}
	}
	for _, e := range []*Ensemble{ens, NewEnsemble(a, b, a)} {
		sm, err := Script(e)
		if err != nil {
			t.Fatal(err)
		}
		s := torch.Must(torch.ToSlice[float32](torch.Must(sm.Forward(x))))
		g := torch.Must(torch.ToSlice[float32](torch.Must(e.Forward(x))))
		sm.Free()
		for i := range s {
			if s[i] != g[i] {
				t.Fatalf("%d members: TorchScript element %d is %v, Go %v", len(e.Members), i, s[i], g[i])
			}
		}
	}
	if _, err := ens.Combine(nil); err == nil {
		t.Error("Combine of no outputs succeeded")
	}
}
