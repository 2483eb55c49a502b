package trainer

import (
	"fmt"
	"strings"

	"gotrain/infer"
	"gotrain/model"
	"gotrain/torch"
	"gotrain/torch/nn"
	"gotrain/torch/ptfile"
)

// EMA is an exponential moving average of a network's parameters and
// buffers, as torch.optim.swa_utils.AveragedModel(net, avg_fn=ema,
// use_buffers=True) keeps it (PyTorch 1.13 and 2.x) with
//
//	ema(averaged, current, n) = decay*averaged + (1-decay)*current
//
// Update is update_parameters: the first call copies the network, later
// ones average, pairing the averaged copy's parameters then buffers with
// the network's in that order (num_batches_tracked included, computed as
// PyTorch does: in float, truncated back into the int64 buffer).
type EMA struct {
	Decay float64
	// Module is the averaged copy (AveragedModel.module), on the
	// network's device.
	Module nn.Module
	// NAveraged is AveragedModel's n_averaged: the number of updates.
	NAveraged int64
	avg, cur  []*torch.Tensor
}

// NewEMA returns the average of net with the given decay, held in avg, a
// network of the same architecture as net and on its device, which the
// first Update overwrites. The EMA owns avg.
func NewEMA(net, avg nn.Module, decay float64) (*EMA, error) {
	order := func(m nn.Module) []*torch.Tensor {
		var ts []*torch.Tensor
		for _, nt := range append(nn.NamedParameters(m), nn.NamedBuffers(m)...) {
			ts = append(ts, nt.Tensor)
		}
		return ts
	}
	e := &EMA{Decay: decay, Module: avg, avg: order(avg), cur: order(net)}
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

// Update folds the network's current tensors into the average
// (AveragedModel.update_parameters).
func (e *EMA) Update() error {
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
func (e *EMA) Free() { nn.Free(e.Module) }

// emaKey is the checkpoint entry that holds the average: the state_dict of
// the AveragedModel, {"n_averaged": int64 tensor, "module.<name>": tensor}.
const emaKey = "ema"

// stateDictItem returns the checkpoint entry of the average, which
// AveragedModel.load_state_dict reads in PyTorch.
func (e *EMA) stateDictItem() (ptfile.Item, error) {
	n, err := torch.FromSlice([]int64{e.NAveraged}, []int64{}...)
	if err != nil {
		return ptfile.Item{}, err
	}
	defer n.Free()
	ts := []nn.NamedTensor{{Name: "n_averaged", Tensor: n}}
	for _, nt := range nn.StateDict(e.Module) {
		ts = append(ts, nn.NamedTensor{Name: "module." + nt.Name, Tensor: nt.Tensor})
	}
	d, err := stateDictObject(ts)
	if err != nil {
		return ptfile.Item{}, err
	}
	return ptfile.Item{Key: emaKey, Value: d}, nil
}

// load restores the average from a checkpoint's entry (tensors as
// tensorsOf reads them; the caller keeps them).
func (e *EMA) load(ts []nn.NamedTensor) error {
	var module []nn.NamedTensor
	found := false
	for _, nt := range ts {
		if nt.Name == "n_averaged" {
			n, err := nt.Tensor.ItemInt64()
			if err != nil {
				return fmt.Errorf("checkpoint EMA n_averaged: %w", err)
			}
			e.NAveraged, found = n, true
			continue
		}
		name, ok := strings.CutPrefix(nt.Name, "module.")
		if !ok {
			return fmt.Errorf("checkpoint EMA: unexpected entry %q", nt.Name)
		}
		module = append(module, nn.NamedTensor{Name: name, Tensor: nt.Tensor})
	}
	if !found {
		return fmt.Errorf("checkpoint EMA has no n_averaged")
	}
	res, err := nn.LoadStateDict(e.Module, module)
	if err != nil {
		return fmt.Errorf("checkpoint EMA: %w", err)
	}
	if res.ByOrder {
		return fmt.Errorf("checkpoint EMA: parameter names differ from the model's")
	}
	return nil
}

// checkpointWeights returns the weights a checkpoint's run evaluates: its
// EMA's average if it has one, else its model; it frees the others.
func checkpointWeights(ck *checkpoint) []nn.NamedTensor {
	if len(ck.ema) == 0 {
		return ck.model
	}
	freeNamed(ck.model)
	var out []nn.NamedTensor
	for _, nt := range ck.ema {
		if name, ok := strings.CutPrefix(nt.Name, "module."); ok {
			out = append(out, nn.NamedTensor{Name: name, Tensor: nt.Tensor})
		} else {
			nt.Tensor.Free()
		}
	}
	return out
}

// newRunEMA returns the weight average of a run with cfg.EMA set (nil
// without): a second network of cfg.Model on dev. Building it draws no
// random numbers (the generator's state is put back), so the run's other
// draws are those of a run without it, as AveragedModel's deepcopy draws
// none.
func newRunEMA(cfg Config, net nn.Module, dev torch.Device) (*EMA, error) {
	if cfg.EMA == 0 {
		return nil, nil
	}
	rng, err := torch.RNGState()
	if err != nil {
		return nil, err
	}
	avg, err := model.New(cfg.Model, model.Options{Dropout: cfg.Dropout})
	if err != nil {
		return nil, err
	}
	if err := torch.SetRNGState(rng); err != nil {
		nn.Free(avg)
		return nil, err
	}
	if err := nn.To(avg, dev); err != nil {
		nn.Free(avg)
		return nil, err
	}
	e, err := NewEMA(net, avg, cfg.EMA)
	if err != nil {
		nn.Free(avg)
		return nil, err
	}
	return e, nil
}

// restoreEMA loads a checkpoint's average into e. A run with an EMA needs
// one in its checkpoint, and a run without one must not find one.
func restoreEMA(ck *checkpoint, e *EMA) error {
	switch {
	case e == nil && len(ck.ema) == 0:
		return nil
	case e == nil:
		return fmt.Errorf("checkpoint holds a weight EMA but its configuration has none")
	case len(ck.ema) == 0:
		return fmt.Errorf("checkpoint of a run with -ema %v holds no weight EMA", e.Decay)
	}
	return e.load(ck.ema)
}

// evalNet is the network of the run's test passes and exports: the
// average with -ema, else the network trained.
func (r *run) evalNet() nn.Module {
	if r.ema != nil {
		return r.ema.Module
	}
	return r.net
}

// evalOptions are the settings of the run's test passes.
func (r *run) evalOptions() infer.EvalOptions {
	return infer.EvalOptions{ChannelsLast: r.cfg.ChannelsLast, Autocast: r.cfg.Autocast, FlipTTA: r.cfg.TTA, TranslateTTA: r.cfg.TTATranslate}
}

// emaItems returns the checkpoint entry of the run's average, if any.
func (r *run) emaItems() ([]ptfile.Item, error) {
	if r.ema == nil {
		return nil, nil
	}
	it, err := r.ema.stateDictItem()
	if err != nil {
		return nil, fmt.Errorf("checkpoint EMA: %w", err)
	}
	return []ptfile.Item{it}, nil
}
