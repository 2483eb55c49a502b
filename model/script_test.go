package model

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"gotrain/torch"
	"gotrain/torch/nn"
)

// TestTorchScriptFineTunes exports the seed network to TorchScript and has
// PyTorch fine-tune the export and the PyTorch twin (scripts/models.py,
// plain and through torch.jit.script) from the same weights with the same
// SGD steps on the same batches, dropout on (see
// testdata/finetune_torchscript.py for how its masks are made the same).
// The export must load in eval mode, switch modes with train()/eval(), and
// end with the twin's weights and running statistics; its torch.jit.save
// must load back here and compute the twin's outputs. Before, the export
// had no training flags: BatchNorm stayed on its frozen statistics and
// Dropout was the identity, so the fine-tuned weights differed from the twin's.
func TestTorchScriptFineTunes(t *testing.T) {
	needTorch(t)
	const (
		steps, batch = 4, 16
		dropout      = 0.2
	)
	dir := t.TempDir()
	if err := torch.ManualSeed(11); err != nil {
		t.Fatal(err)
	}
	net, err := New("seed", Options{Dropout: dropout})
	if err != nil {
		t.Fatal(err)
	}
	defer nn.Free(net)
	// Move the running statistics and batch counts off their initial values,
	// so that the export is seen to carry them; leave the net in training
	// mode, which the export must not copy.
	err = torch.WithScope(func() error {
		return torch.NoGrad(func() error {
			for range 2 {
				x, err := torch.Randn([]int64{8, 3, 32, 32}, torch.Float32, torch.CPU)
				if err != nil {
					return err
				}
				if _, err := net.Forward(x); err != nil {
					return err
				}
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := torch.Save(filepath.Join(dir, "init.pt"), nn.StateDict(net)); err != nil {
		t.Fatal(err)
	}
	if err := nn.SaveTorchScript(filepath.Join(dir, "export.pt"), net); err != nil {
		t.Fatal(err)
	}
	meta, _ := json.Marshal(map[string]any{"model": "seed", "dropout": dropout, "steps": steps, "batch": batch,
		"lr": 0.01, "momentum": 0.9, "seed": 5})
	if err := os.WriteFile(filepath.Join(dir, "meta.json"), meta, 0o644); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(python, "testdata/finetune_torchscript.py", dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("finetune_torchscript.py: %v", err)
	}
	var r struct {
		TrainingAtLoad        []string  `json:"training_at_load"`
		TrainingAfterTrain    []string  `json:"training_after_train"`
		TrainingAfterEval     []string  `json:"training_after_eval"`
		NamesMatch            bool      `json:"names_match"`
		ExportEqualsInit      bool      `json:"export_equals_init"`
		DiffTwin              float64   `json:"diff_twin"`
		DiffScriptedTwin      float64   `json:"diff_scripted_twin"`
		WeightsMoved          float64   `json:"weights_moved"`
		RunningStatsMoved     float64   `json:"running_stats_moved"`
		NumBatchesTracked     []float64 `json:"num_batches_tracked"`
		TwinNumBatchesTracked []float64 `json:"twin_num_batches_tracked"`
		EvalDiff              float64   `json:"eval_diff"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("finetune_torchscript.py output %q: %v", out, err)
	}
	t.Logf("PyTorch: %s", out)
	if !slices.Equal(r.TrainingAtLoad, []string{"False"}) || !slices.Equal(r.TrainingAfterTrain, []string{"True"}) ||
		!slices.Equal(r.TrainingAfterEval, []string{"False"}) {
		t.Errorf("training flags of the modules: %v at load, %v after train(), %v after eval(); want [False], [True], [False]",
			r.TrainingAtLoad, r.TrainingAfterTrain, r.TrainingAfterEval)
	}
	if !r.NamesMatch || !r.ExportEqualsInit {
		t.Errorf("export's state_dict: names match the twin's %v, values equal the Go net's %v", r.NamesMatch, r.ExportEqualsInit)
	}
	// The fine-tuning must really train and update the statistics, or
	// agreeing with the twin would prove nothing.
	if r.WeightsMoved < 1e-4 || r.RunningStatsMoved < 1e-4 {
		t.Errorf("fine-tuning moved weights by %g and running statistics by %g", r.WeightsMoved, r.RunningStatsMoved)
	}
	if !slices.Equal(r.NumBatchesTracked, []float64{steps}) || !slices.Equal(r.TwinNumBatchesTracked, []float64{steps}) {
		t.Errorf("num_batches_tracked grew by %v in the export, %v in the twin; want [%d]", r.NumBatchesTracked, r.TwinNumBatchesTracked, steps)
	}
	if r.DiffTwin > 1e-5 || r.DiffScriptedTwin > 1e-5 || r.EvalDiff > 1e-5 {
		t.Errorf("fine-tuned export differs from the twin by %g (from torch.jit.script of it by %g); eval outputs by %g",
			r.DiffTwin, r.DiffScriptedTwin, r.EvalDiff)
	}

	// The fine-tuned module saved by torch.jit.save loads back into a Go
	// network, which computes what the fine-tuned twin computes.
	sm, err := torch.LoadScript(filepath.Join(dir, "finetuned.pt"), torch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	defer sm.Free()
	ps, err := sm.NamedParameters()
	if err != nil {
		t.Fatal(err)
	}
	bs, err := sm.NamedBuffers()
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, nt := range append(ps, bs...) {
			nt.Tensor.Free()
		}
	}()
	back, err := New("seed", Options{Dropout: dropout})
	if err != nil {
		t.Fatal(err)
	}
	defer nn.Free(back)
	if res, err := nn.LoadStateDict(back, append(ps, bs...)); err != nil || res.ByOrder {
		t.Fatalf("loading the fine-tuned module: %v (by order: %v)", err, res.ByOrder)
	}
	nn.SetTraining(back, false)
	xs, want := readF32(t, filepath.Join(dir, "x.f32")), readF32(t, filepath.Join(dir, "y.f32"))
	err = torch.WithScope(func() error {
		x, err := torch.FromSlice(xs, int64(len(xs)/(3*32*32)), 3, 32, 32)
		if err != nil {
			return err
		}
		y, err := back.Forward(x)
		if err != nil {
			return err
		}
		got, err := torch.ToSlice[float32](y)
		if err != nil {
			return err
		}
		if len(got) != len(want) {
			t.Fatalf("%d outputs, PyTorch gave %d", len(got), len(want))
		}
		for i := range got {
			if math.Abs(float64(got[i]-want[i])) > 1e-4 {
				t.Fatalf("output %d: Go %v, fine-tuned twin %v", i, got[i], want[i])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func readF32(t *testing.T, path string) []float32 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	v := make([]float32, len(b)/4)
	if _, err := binary.Decode(b, binary.LittleEndian, v); err != nil {
		t.Fatal(err)
	}
	return v
}
