package model

import (
	"encoding/json"
	"math"
	"os/exec"
	"path/filepath"
	"testing"

	"gotrain/internal/nntest"
	"gotrain/torch"
	"gotrain/torch/nn"
)

// twinScript loads a network's state_dict into its PyTorch twin
// (scripts/models.py) and its TorchScript export, and prints the logits
// of both for the input images in evaluation mode, and the twin's in
// training mode (batch statistics; the test builds the nets without
// dropout).
const twinScript = `
import json, sys, numpy as np, torch
sys.path.insert(0, "../scripts")
import models
name, sd, ts, inp, n = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
x = torch.from_numpy(np.fromfile(inp, dtype="<f4").reshape(n, 3, 32, 32))
twin = models.NETWORKS[name](dropout=0.0)
twin.load_state_dict(torch.load(sd))
script = torch.jit.load(ts)
out = {}
with torch.no_grad():
    out["eval"] = twin.eval()(x).flatten().tolist()
    out["script"] = script.eval()(x).flatten().tolist()
    out["train"] = twin.train()(x).flatten().tolist()
print(json.dumps(out))
`

// TestNetworksMatchPyTorchTwins checks every registered network against
// its PyTorch twin: the same state_dict keys load into it, and the twin
// and the network's TorchScript export compute the network's logits, in
// evaluation and (the twin) in training mode.
func TestNetworksMatchPyTorchTwins(t *testing.T) {
	needTorch(t)
	const n = 4
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if err := torch.ManualSeed(5); err != nil {
				t.Fatal(err)
			}
			net, err := New(name, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer nn.Free(net)
			xs := make([]float32, n*3*32*32)
			for i := range xs {
				xs[i] = float32(math.Sin(float64(i)*0.37)) * 2
			}
			inp := filepath.Join(dir, "x.bin")
			nntest.WriteLE(t, inp, xs)
			sd, ts := filepath.Join(dir, "sd.pt"), filepath.Join(dir, "ts.pt")
			if err := torch.Save(sd, nn.StateDict(net)); err != nil {
				t.Fatal(err)
			}
			if err := nn.SaveTorchScript(ts, net); err != nil {
				t.Fatal(err)
			}
			eval := nntest.Logits(t, net, false, xs, n)
			train := nntest.Logits(t, net, true, xs, n)
			cmd := exec.Command(python, "-c", twinScript, name, sd, ts, inp, "4")
			raw, err := cmd.Output()
			if err != nil {
				t.Fatalf("%s: %v", python, err)
			}
			var want map[string][]float64
			if err := json.Unmarshal(raw, &want); err != nil {
				t.Fatalf("PyTorch's output %q: %v", raw, err)
			}
			for _, c := range []struct {
				what      string
				got, want []float64
			}{{"eval", eval, want["eval"]}, {"TorchScript eval", eval, want["script"]}, {"train", train, want["train"]}} {
				if len(c.got) != n*10 || len(c.want) != n*10 {
					t.Fatalf("%s: %d logits, PyTorch %d", c.what, len(c.got), len(c.want))
				}
				for i := range c.got {
					if math.Abs(c.got[i]-c.want[i]) > 1e-4*(1+math.Abs(c.want[i])) {
						t.Fatalf("%s: logit %d is %v, PyTorch %v", c.what, i, c.got[i], c.want[i])
					}
				}
			}
		})
	}
}
