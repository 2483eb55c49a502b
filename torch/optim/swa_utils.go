package optim

import (
	"fmt"
	"strings"

	"gotrain/torch"
	"gotrain/torch/nn"
	"gotrain/torch/ptfile"
)

// AveragedModel is an exponential moving average of a network's
// parameters and buffers, as torch.optim.swa_utils.AveragedModel(net,
// avg_fn=ema, use_buffers=True) keeps it (PyTorch 1.13 and 2.x) with
//
//	ema(averaged, current, n) = decay*averaged + (1-decay)*current
//
// UpdateParameters is update_parameters: the first call copies the
// network, later ones average, pairing the averaged copy's parameters then
// buffers with the network's in that order (num_batches_tracked included,
// computed as PyTorch does: in float, truncated back into the int64
// buffer).
type AveragedModel struct {
	Decay float64
	// Module is the averaged copy (AveragedModel.module), on the
	// network's device.
	Module nn.Module
	// NAveraged is AveragedModel's n_averaged: the number of updates.
	NAveraged int64
	avg, cur  []*torch.Tensor
}

// NewAveragedModel returns the average of net with the given decay, held
// in avg, a network of the same architecture as net and on its device,
// which the first UpdateParameters overwrites. The AveragedModel owns avg.
func NewAveragedModel(net, avg nn.Module, decay float64) (*AveragedModel, error) {
	order := func(m nn.Module) []*torch.Tensor {
		var ts []*torch.Tensor
		for _, nt := range append(nn.NamedParameters(m), nn.NamedBuffers(m)...) {
			ts = append(ts, nt.Tensor)
		}
		return ts
	}
	e := &AveragedModel{Decay: decay, Module: avg, avg: order(avg), cur: order(net)}
	if len(e.avg) != len(e.cur) {
		return nil, fmt.Errorf("ema: the average has %d tensors, the network %d", len(e.avg), len(e.cur))
	}
	for i := range e.avg {
		if a, c := fmt.Sprint(e.avg[i].Shape()), fmt.Sprint(e.cur[i].Shape()); a != c {
			return nil, fmt.Errorf("ema: tensor %d has shape %s in the average, %s in the network", i, a, c)
		}
	}
	nn.SetTraining(avg, false)
	return e, nil
}

// UpdateParameters folds the network's current tensors into the average
// (AveragedModel.update_parameters).
func (e *AveragedModel) UpdateParameters() error {
	err := torch.NoGrad(func() error {
		s := torch.NewScope()
		defer s.Close()
		if e.NAveraged == 0 {
			for i, a := range e.avg {
				if err := a.Copy_(e.cur[i]); err != nil {
					return err
				}
			}
			return nil
		}
		// Floating-point tensors in two fused passes: avg *= decay, then
		// avg += (1-decay)*cur.
		var fa, fc []*torch.Tensor
		for i, a := range e.avg {
			if isFloat(a.DType()) {
				fa, fc = append(fa, a), append(fc, e.cur[i])
				continue
			}
			// Integer buffers: decay*avg + (1-decay)*cur promotes to float,
			// and copy_ truncates it back, as in PyTorch.
			x, err := a.MulScalar(e.Decay)
			if err != nil {
				return err
			}
			y, err := e.cur[i].MulScalar(1 - e.Decay)
			if err != nil {
				return err
			}
			z, err := torch.Add(x, y)
			if err != nil {
				return err
			}
			if err := a.Copy_(z); err != nil {
				return err
			}
		}
		if err := torch.ForeachMulScalar_(fa, e.Decay); err != nil {
			return err
		}
		return torch.ForeachAdd_(fa, fc, 1-e.Decay)
	})
	if err != nil {
		return fmt.Errorf("ema: update: %w", err)
	}
	e.NAveraged++
	return nil
}

// isFloat reports whether d is a floating-point dtype.
func isFloat(d torch.DType) bool {
	return d == torch.Float32 || d == torch.Float64 || d == torch.BFloat16
}

// Free releases the averaged copy.
func (e *AveragedModel) Free() { nn.Free(e.Module) }

// AveragedPrefix starts the names of the averaged module's tensors in an
// AveragedModel's state_dict.
const AveragedPrefix = "module."

// StateDict returns the state_dict of the AveragedModel, which its
// load_state_dict reads in PyTorch: an OrderedDict of
// {"n_averaged": int64 scalar, "module.<name>": tensor, ...}, the module's
// tensors in state_dict order. The tensors are copies.
func (e *AveragedModel) StateDict() (*ptfile.Dict, error) {
	n, err := torch.FromSlice([]int64{e.NAveraged}, []int64{}...)
	if err != nil {
		return nil, err
	}
	defer n.Free()
	ts := []nn.NamedTensor{{Name: "n_averaged", Tensor: n}}
	for _, nt := range nn.StateDict(e.Module) {
		ts = append(ts, nn.NamedTensor{Name: AveragedPrefix + nt.Name, Tensor: nt.Tensor})
	}
	return torch.StateDictValue(ts)
}

// LoadStateDict restores the average from a state_dict of the layout
// StateDict writes (PyTorch's AveragedModel's), by name.
func (e *AveragedModel) LoadStateDict(d *ptfile.Dict) error {
	ts, err := torch.TensorsOf(d)
	if err != nil {
		return err
	}
	defer func() {
		for _, nt := range ts {
			nt.Tensor.Free()
		}
	}()
	var module []nn.NamedTensor
	found := false
	var n int64
	for _, nt := range ts {
		if nt.Name == "n_averaged" {
			if n, err = nt.Tensor.ItemInt64(); err != nil {
				return fmt.Errorf("n_averaged: %w", err)
			}
			found = true
			continue
		}
		name, ok := strings.CutPrefix(nt.Name, AveragedPrefix)
		if !ok {
			return fmt.Errorf("unexpected entry %q", nt.Name)
		}
		module = append(module, nn.NamedTensor{Name: name, Tensor: nt.Tensor})
	}
	if !found {
		return fmt.Errorf("no n_averaged")
	}
	res, err := nn.LoadStateDict(e.Module, module)
	if err != nil {
		return err
	}
	if res.ByOrder {
		return fmt.Errorf("parameter names differ from the model's")
	}
	e.NAveraged = n
	return nil
}
