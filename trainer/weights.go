package trainer

import (
	"errors"
	"fmt"
	"strings"

	"github.com/sirupsen/logrus"

	"gotrain/torch"
	"gotrain/torch/nn"
	"gotrain/torch/ptfile"
)

// ReadWeights reads named tensors from a file PyTorch users share: a
// TorchScript module saved by torch.jit.save (its parameters and buffers),
// a state_dict saved by torch.save, or one of our checkpoints (its model,
// or the weight EMA of a run with -ema, which its test passes used).
// The tensors are on the CPU and owned by the caller.
func ReadWeights(path string) ([]nn.NamedTensor, error) {
	ts, _, err := readWeights(path)
	return ts, err
}

// readWeights reads path's tensors as ReadWeights does, reading the file
// once, and for one of our checkpoints also returns the name of the
// network it holds (otherwise "").
func readWeights(path string) ([]nn.NamedTensor, string, error) {
	kind, err := ptfile.DetectFile(path)
	if err != nil {
		return nil, "", fmt.Errorf("reading weights: %w", err)
	}
	switch kind {
	case ptfile.TorchScript:
		ts, err := readScriptWeights(path)
		return ts, "", err
	case ptfile.Checkpoint:
		ck, err := loadCheckpoint(path)
		if err == nil {
			freeNamed(ck.optimizer)
			return checkpointWeights(ck), ck.Config.Model, nil
		}
		if !errors.Is(err, errNotCheckpoint) {
			return nil, "", err
		}
		// Another program's checkpoint: torch.Load finds its state_dict.
	}
	ts, err := torch.Load(path)
	if err != nil {
		return nil, "", fmt.Errorf("reading weights: %w", err)
	}
	for _, nt := range ts {
		torch.Keep(nt.Tensor)
	}
	return ts, "", nil
}

// readScriptWeights reads the parameters and buffers of a TorchScript
// module, in state_dict order.
func readScriptWeights(path string) ([]nn.NamedTensor, error) {
	sm, err := torch.LoadScript(path, torch.CPU)
	if err != nil {
		return nil, err
	}
	defer sm.Free()
	ps, err := sm.NamedParameters()
	if err != nil {
		return nil, err
	}
	bs, err := sm.NamedBuffers()
	if err != nil {
		return nil, err
	}
	return stateDictOrder(ps, bs), nil
}

// stateDictOrder interleaves TorchScript's parameters and buffers into
// state_dict order: per module, its parameters then its buffers.
func stateDictOrder(params, buffers []nn.NamedTensor) []nn.NamedTensor {
	prefix := func(name string) string {
		if i := strings.LastIndex(name, "."); i >= 0 {
			return name[:i]
		}
		return ""
	}
	var out []nn.NamedTensor
	used := make([]bool, len(buffers))
	flush := func(mod string) {
		for i, b := range buffers {
			if !used[i] && prefix(b.Name) == mod {
				out = append(out, b)
				used[i] = true
			}
		}
	}
	for i, p := range params {
		out = append(out, p)
		if i+1 == len(params) || prefix(params[i+1].Name) != prefix(p.Name) {
			flush(prefix(p.Name))
		}
	}
	for i, b := range buffers {
		if !used[i] {
			out = append(out, b)
		}
	}
	return out
}

// InitFrom loads weights from a state_dict, TorchScript or checkpoint file
// into m, by name, or by order and shape when the names differ (logged).
func InitFrom(m nn.Module, path string, log *logrus.Logger) error {
	ts, err := ReadWeights(path)
	if err != nil {
		return err
	}
	return loadWeights(m, ts, path, log)
}

// loadWeights loads ts, read from path, into m as InitFrom does, and frees them.
func loadWeights(m nn.Module, ts []nn.NamedTensor, path string, log *logrus.Logger) error {
	defer freeNamed(ts)
	res, err := nn.LoadStateDict(m, ts)
	if err != nil {
		return fmt.Errorf("weights %s: %w", path, err)
	}
	if res.ByOrder {
		log.Warnf("weights %s: names differ from the model's; matched %d tensors by order and shape (%d renamed, first: %s)",
			path, len(ts), len(res.Renamed), res.Renamed[0])
	} else {
		log.Infof("weights %s: loaded %d tensors by name", path, len(ts))
	}
	return nil
}

// freeNamed frees the tensors of ts.
func freeNamed(ts []nn.NamedTensor) {
	for _, nt := range ts {
		nt.Tensor.Free()
	}
}
