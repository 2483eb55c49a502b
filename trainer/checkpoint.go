package trainer

import (
	"encoding/json"
	"fmt"
	"math"

	"gotrain/checkpoint"
	"gotrain/metrics"
	"gotrain/torch"
	"gotrain/torch/nn"
	"gotrain/torch/optim"
)

// runState is where a run stands: what a checkpoint (package checkpoint)
// must restore besides the model, optimizer, scheduler, RNG and weight
// average, which their owners write. The checkpoint holds it under "run"
// as a dict with these keys, after its "format". Go's shuffling and
// augmentation streams are derived from the seed and the epoch, so they
// need no state.
type runState struct {
	Config    Config          `json:"config"`
	Epoch     int             `json:"epoch"`      // epoch in progress (0-based)
	Batch     int             `json:"batch"`      // batches of Epoch already trained
	Step      int             `json:"step"`       // optimizer steps taken
	History   []metrics.Epoch `json:"history"`    // finished epochs
	BestAcc   float64         `json:"best_acc"`   // best test accuracy so far
	Partial   partialEpoch    `json:"partial"`    // running sums of Epoch so far
	LRs       []float64       `json:"lr_history"` // lr of every step so far
	Confusion [][]int         `json:"confusion"`  // confusion matrix of the last finished epoch
	// WorldSize is the number of processes that trained (0 in files
	// written before distributed runs: one).
	WorldSize int `json:"world_size,omitempty"`
	// Data identifies the images trained and tested on (nil in files
	// written before it was kept).
	Data *dataRecord `json:"data,omitempty"`
}

// partialEpoch holds the running training statistics of an unfinished epoch.
type partialEpoch struct {
	LossSum     float64 `json:"loss_sum"`
	Correct     int64   `json:"correct"`
	Seen        int64   `json:"seen"`
	TrainSecond float64 `json:"train_seconds"`
}

// MarshalJSON writes a non-finite loss sum (a run whose loss diverged) as
// null, which encoding/json's float encoding refuses.
func (p partialEpoch) MarshalJSON() ([]byte, error) {
	type fields partialEpoch
	f := struct {
		fields
		LossSum *float64 `json:"loss_sum"`
	}{fields: fields(p)}
	if metrics.IsFinite(p.LossSum) {
		f.LossSum = &p.LossSum
	}
	return json.Marshal(f)
}

// UnmarshalJSON reads the form MarshalJSON writes; null reads as NaN.
func (p *partialEpoch) UnmarshalJSON(data []byte) error {
	type fields partialEpoch
	f := struct {
		*fields
		LossSum *float64 `json:"loss_sum"`
	}{fields: (*fields)(p)}
	if err := json.Unmarshal(data, &f); err != nil {
		return err
	}
	p.LossSum = math.NaN()
	if f.LossSum != nil {
		p.LossSum = *f.LossSum
	}
	return nil
}

// saveCheckpoint writes the checkpoint of a run at st to path, replacing
// it atomically, asking each state's owner for its part; ema may be nil.
func saveCheckpoint(path string, m nn.Module, opt *optim.SGD, sched *optim.OneCycleLR, st runState, ema *optim.AveragedModel) error {
	c := &checkpoint.Checkpoint{Scheduler: sched.StateDict(len(opt.ParamGroups()))}
	var err error
	if c.Model, err = torch.StateDictValue(nn.StateDict(m)); err != nil {
		return err
	}
	if c.Optimizer, err = opt.StateDict(sched); err != nil {
		return err
	}
	if c.RNG, err = torch.RNGState(); err != nil {
		return err
	}
	if c.Run, err = json.Marshal(st); err != nil {
		return fmt.Errorf("checkpoint run state: %w", err)
	}
	if ema != nil {
		if c.EMA, err = ema.StateDict(); err != nil {
			return fmt.Errorf("checkpoint EMA: %w", err)
		}
	}
	return checkpoint.Save(path, c)
}

// resumed is a checkpoint read back, with its run state decoded.
type resumed struct {
	*checkpoint.Checkpoint
	runState
}

// readCheckpoint reads a checkpoint file (checkpoint.Read) and decodes
// its run state.
func readCheckpoint(path string) (*resumed, error) {
	c, err := checkpoint.Read(path)
	if err != nil {
		return nil, err
	}
	ck := &resumed{Checkpoint: c}
	if err := json.Unmarshal(c.Run, &ck.runState); err != nil {
		if c.Format == checkpoint.FormatV1 {
			return nil, fmt.Errorf("checkpoint %s: bad progress record: %w", path, err)
		}
		return nil, fmt.Errorf("checkpoint %s: bad run state: %w", path, err)
	}
	return ck, nil
}

// restore loads a checkpoint into the model (already on its device),
// optimizer, scheduler, weight average (ema, nil when the run has none)
// and RNG, and sets st to the run's state. The scheduler and optimizer
// were built from the checkpoint's configuration; a checkpoint whose
// optimizer or schedule does not fit them is refused.
//
// With withSchedule false the scheduler's state is not loaded: the caller
// rebuilds the schedule.
func restore(ck *resumed, net nn.Module, opt *optim.SGD, sched *optim.OneCycleLR, ema *optim.AveragedModel, st *runState, withSchedule bool) error {
	model, err := torch.TensorsOf(ck.Model)
	if err != nil {
		return fmt.Errorf("checkpoint model: %w", err)
	}
	res, err := nn.LoadStateDict(net, model)
	freeNamed(model)
	if err != nil {
		return fmt.Errorf("checkpoint does not fit model %s: %w", ck.Config.Model, err)
	}
	if res.ByOrder {
		return fmt.Errorf("checkpoint does not fit model %s: parameter names differ", ck.Config.Model)
	}
	switch {
	case !withSchedule:
	case ck.Scheduler == nil: // the first layout
		if err := sched.UnmarshalJSON(ck.LegacyScheduler); err != nil {
			return fmt.Errorf("checkpoint scheduler state: %w", err)
		}
	default:
		if err := sched.LoadStateDict(ck.Scheduler); err != nil {
			return fmt.Errorf("checkpoint scheduler state: %w", err)
		}
	}
	if err := opt.LoadStateDict(ck.Optimizer, sched); err != nil {
		return fmt.Errorf("checkpoint optimizer state: %w", err)
	}
	switch {
	case ema == nil && ck.EMA == nil:
	case ema == nil:
		return fmt.Errorf("checkpoint holds a weight EMA but its configuration has none")
	case ck.EMA == nil:
		return fmt.Errorf("checkpoint of a run with -ema %v holds no weight EMA", ema.Decay)
	default:
		if err := ema.LoadStateDict(ck.EMA); err != nil {
			return fmt.Errorf("checkpoint EMA: %w", err)
		}
	}
	if len(ck.RNG) > 0 {
		if err := torch.SetRNGState(ck.RNG); err != nil {
			return fmt.Errorf("checkpoint rng_state: %w", err)
		}
	}
	*st = ck.runState
	return nil
}

// freeNamed frees the tensors of ts.
func freeNamed(ts []nn.NamedTensor) {
	for _, nt := range ts {
		nt.Tensor.Free()
	}
}
