package trainer

import (
	"archive/zip"
	"fmt"
	"strings"

	"github.com/sirupsen/logrus"

	"gotrain/torch"
	"gotrain/torch/nn"
)

// ReadWeights reads named tensors from a file PyTorch users share: a
// TorchScript module saved by torch.jit.save (its parameters and buffers),
// a state_dict saved by torch.save, or one of our checkpoints (its model).
// The tensors are on the CPU and owned by the caller.
func ReadWeights(path string) ([]nn.NamedTensor, error) {
	if isTorchScript(path) {
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
	if ck, err := readCheckpoint(path); err == nil {
		for _, nt := range ck.optimizer {
			nt.Tensor.Free()
		}
		return ck.model, nil
	}
	ts, err := torch.Load(path)
	if err != nil {
		return nil, fmt.Errorf("reading weights: %w", err)
	}
	for _, nt := range ts {
		torch.Keep(nt.Tensor)
	}
	return ts, nil
}

// isTorchScript reports whether path is a zip archive holding TorchScript
// code (a torch.jit.save file) rather than only pickled data.
func isTorchScript(path string) bool {
	z, err := zip.OpenReader(path)
	if err != nil {
		return false
	}
	defer z.Close()
	for _, f := range z.File {
		if strings.HasSuffix(f.Name, "/constants.pkl") || strings.Contains(f.Name, "/code/") {
			return true
		}
	}
	return false
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
	defer func() {
		for _, nt := range ts {
			nt.Tensor.Free()
		}
	}()
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
