package infer

import (
	"context"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"gotrain/dataset"
	"gotrain/torch"
	"gotrain/torch/nn"
	"gotrain/transforms"
)

// TestEvaluateEnsemble checks the one pass over an ensemble of two linear
// classifiers: each member's outcome is what Evaluate gives for it alone,
// and the ensemble's is the one worked out by hand from the loader's
// batches: the argmax and the negative log of the mean of the members'
// softmaxes (with flip TTA, of their logits averaged over the two views).
func TestEvaluateEnsemble(t *testing.T) {
	const n, k = 25, 10
	r := rand.New(rand.NewPCG(3, 4))
	set := &dataset.Set{Images: make([]byte, n*dataset.ImageSize), Labels: make([]uint8, n)}
	for i := range set.Images {
		set.Images[i] = byte(r.IntN(256))
	}
	for i := range set.Labels {
		set.Labels[i] = uint8(r.IntN(k))
	}
	loader, err := dataset.NewLoader(set, transforms.SeedTest(), dataset.LoaderConfig{BatchSize: 10, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer loader.Close()
	bias := make([]float32, k)
	for i := range bias {
		bias[i] = float32(r.NormFloat64() * 0.1)
	}
	a, b := newLinearCase(t, r, 1, k, bias), newLinearCase(t, r, 1, k, nil)
	ens := nn.NewEnsemble(a.net, b.net)

	for _, o := range []EvalOptions{{}, {FlipTTA: true}} {
		ev, err := EvaluateEnsemble(ens, loader, torch.CPU, o)
		if err != nil {
			t.Fatal(err)
		}
		if len(ev.Members) != 2 {
			t.Fatalf("%+v: %d member outcomes, want 2", o, len(ev.Members))
		}
		for i, m := range []nn.Module{a.net, b.net} {
			alone, err := Evaluate(m, loader, torch.CPU, o)
			if err != nil {
				t.Fatal(err)
			}
			got := ev.Members[i]
			if got.Correct != alone.Correct || got.Total != alone.Total || got.Loss != alone.Loss || !reflect.DeepEqual(got.Confusion, alone.Confusion) {
				t.Errorf("%+v: member %d: %d/%d, loss %v; Evaluate alone %d/%d, loss %v", o, i+1, got.Correct, got.Total, got.Loss, alone.Correct, alone.Total, alone.Loss)
			}
		}

		// The ensemble by hand, in float64, from the batches' inputs.
		logits := func(c *linearCase, x []float32, img int) []float64 {
			out := make([]float64, k)
			for class := range out {
				out[class] = c.logit(x, img, class)
				if o.FlipTTA {
					out[class] = 0.5*out[class] + 0.5*c.logit(FlipBatch(x, img+1), img, class)
				}
			}
			return out
		}
		correct, total, nll := 0, 0, 0.0
		confusion := make([][]int, len(dataset.Classes))
		for i := range confusion {
			confusion[i] = make([]int, len(dataset.Classes))
		}
		differs := [2]bool{}
		for bt, err := range loader.Epoch(context.Background(), 0) {
			if err != nil {
				t.Fatal(err)
			}
			for img := range bt.N {
				pa, pb := softmax(logits(a, bt.X, img)), softmax(logits(b, bt.X, img))
				p := make([]float64, k)
				for c := range p {
					p[c] = (pa[c] + pb[c]) / 2
				}
				pred, y := argmax(p), int(bt.Y[img])
				differs[0] = differs[0] || pred != argmax(pa)
				differs[1] = differs[1] || pred != argmax(pb)
				confusion[y][pred]++
				if pred == y {
					correct++
				}
				nll -= math.Log(p[y])
				total++
			}
			bt.Release()
		}
		if differs != [2]bool{true, true} {
			t.Fatalf("%+v: the ensemble predicts as a member on every image (%v): the case tests nothing", o, differs)
		}
		got := ev.Ensemble
		if got.Correct != correct || got.Total != total || !reflect.DeepEqual(got.Confusion, confusion) {
			t.Errorf("%+v: ensemble %d/%d, confusion %v; by hand %d/%d, %v", o, got.Correct, got.Total, got.Confusion, correct, total, confusion)
		}
		if want := nll / float64(total); math.Abs(got.Loss-want) > 1e-5 {
			t.Errorf("%+v: ensemble loss %v, by hand %v", o, got.Loss, want)
		}
	}
}

func softmax(x []float64) []float64 {
	m := slices.Max(x)
	out := make([]float64, len(x))
	var sum float64
	for i, v := range x {
		out[i] = math.Exp(v - m)
		sum += out[i]
	}
	for i := range out {
		out[i] /= sum
	}
	return out
}

func argmax(x []float64) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}
