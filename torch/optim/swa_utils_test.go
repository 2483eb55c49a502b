package optim

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"

	"gotrain/internal/pyref"
	"gotrain/model"
	"gotrain/torch"
	"gotrain/torch/nn"
)

// TestEMAMatchesAveragedModel feeds a sequence of network states (random
// weights, growing num_batches_tracked) to the AveragedModel and has PyTorch's
// AveragedModel average the same states.
func TestEMAMatchesAveragedModel(t *testing.T) {
	pyref.Require(t, "torch")
	defer torch.NewScope().Close()
	torch.ManualSeed(3)
	net := torch.Must(model.New("seed", model.Options{}))
	defer nn.Free(net)
	avg := torch.Must(model.New("seed", model.Options{}))
	const decay, steps = 0.9, 4
	e, err := NewAveragedModel(net, avg, decay)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Free()
	params, buffers := nn.NamedParameters(net), nn.NamedBuffers(net)
	var file []nn.NamedTensor
	keep := func(name string, x *torch.Tensor) {
		file = append(file, nn.NamedTensor{Name: name, Tensor: torch.Keep(torch.Must(x.Clone()))})
	}
	defer func() {
		for _, nt := range file {
			nt.Tensor.Free()
		}
	}()
	for s := range steps {
		// A "training step": new weights and running statistics, one more batch tracked.
		err := torch.NoGrad(func() error {
			for _, nt := range append(params, buffers...) {
				switch nt.Tensor.DType() {
				case torch.Int64:
					if err := nt.Tensor.AddScalar_(1 + float64(s)); err != nil {
						return err
					}
				default:
					if err := nt.Tensor.Uniform_(-1, 1); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for i, p := range params {
			keep(fmt.Sprintf("s%d.p%d", s, i), p.Tensor)
		}
		for i, b := range buffers {
			keep(fmt.Sprintf("s%d.b%d", s, i), b.Tensor)
		}
		if err := e.UpdateParameters(); err != nil {
			t.Fatal(err)
		}
	}
	if e.NAveraged != steps {
		t.Errorf("n_averaged %d, want %d", e.NAveraged, steps)
	}
	for i, p := range nn.NamedParameters(avg) {
		keep(fmt.Sprintf("ema.p%d", i), p.Tensor)
	}
	for i, b := range nn.NamedBuffers(avg) {
		keep(fmt.Sprintf("ema.b%d", i), b.Tensor)
	}
	keep("decay", torch.Must(torch.Full([]int64{}, decay, torch.Float64, torch.CPU)))
	keep("steps", torch.Must(torch.Full([]int64{}, steps, torch.Int64, torch.CPU)))
	path := filepath.Join(t.TempDir(), "ema.pt")
	if err := torch.Save(path, file); err != nil {
		t.Fatal(err)
	}
	var got struct {
		MaxDiff   float64 `json:"max_diff"`
		IntsEqual bool    `json:"ints_equal"`
		NAveraged int64   `json:"n_averaged"`
	}
	if err := json.Unmarshal(pyref.Run(t, "testdata/ema_reference.py", []byte(path)), &got); err != nil {
		t.Fatal(err)
	}
	// One rounding apart at most: libtorch's add with alpha fuses the
	// multiply, PyTorch's avg_fn rounds the product first.
	if got.MaxDiff > 1e-6 || !got.IntsEqual || got.NAveraged != steps {
		t.Errorf("Go EMA vs AveragedModel: max |diff| %g, integer buffers equal %v, n_averaged %d", got.MaxDiff, got.IntsEqual, got.NAveraged)
	}
}

// TestEMAHandWorked checks the update rule on one tensor: the first
// update copies, then avg = d*avg + (1-d)*cur.
func TestEMAHandWorked(t *testing.T) {
	defer torch.NewScope().Close()
	cur := torch.Keep(torch.Must(torch.FromSlice([]float32{1, 2}, 2)))
	avg := torch.Keep(torch.Must(torch.FromSlice([]float32{9, 9}, 2)))
	defer cur.Free()
	defer avg.Free()
	e := &AveragedModel{Decay: 0.5, avg: []*torch.Tensor{avg}, cur: []*torch.Tensor{cur}}
	step := func(vals []float32, want []float32) {
		t.Helper()
		torch.Must(0, torch.NoGrad(func() error {
			return cur.Copy_(torch.Must(torch.FromSlice(vals, 2)))
		}))
		if err := e.UpdateParameters(); err != nil {
			t.Fatal(err)
		}
		got := torch.Must(torch.ToSlice[float32](avg))
		if got[0] != want[0] || got[1] != want[1] {
			t.Errorf("after %v: average %v, want %v", vals, got, want)
		}
	}
	step([]float32{1, 2}, []float32{1, 2}) // copy
	step([]float32{3, 6}, []float32{2, 4}) // 0.5*1 + 0.5*3, 0.5*2 + 0.5*6
	step([]float32{0, 0}, []float32{1, 2})
}
