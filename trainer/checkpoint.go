package trainer

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"

	"gotrain/metrics"
	"gotrain/torch"
	"gotrain/torch/nn"
	"gotrain/torch/optim"
	"gotrain/torch/ptfile"
)

// checkpointFormat names the layout of checkpoint files.
const checkpointFormat = "gotrain-checkpoint/1"

// runState is where a run stands: what a checkpoint must restore besides
// the tensors. A checkpoint file holds it as JSON text under the key
// "progress" (the file format's name for it, kept so that existing
// checkpoints still read).
type runState struct {
	Format    string          `json:"format"`
	Config    Config          `json:"config"`
	Epoch     int             `json:"epoch"`      // epoch in progress (0-based)
	Batch     int             `json:"batch"`      // batches of Epoch already trained
	Step      int             `json:"step"`       // optimizer steps taken
	Scheduler json.RawMessage `json:"scheduler"`  // OneCycleLR state
	History   []metrics.Epoch `json:"history"`    // finished epochs
	BestAcc   float64         `json:"best_acc"`   // best test accuracy so far
	Partial   partialEpoch    `json:"partial"`    // running sums of Epoch so far
	LRs       []float64       `json:"lr_history"` // lr of every step so far
	Confusion [][]int         `json:"confusion"`  // confusion matrix of the last finished epoch
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

// saveCheckpoint writes a torch.save file that Python reads as a dict:
// {"model": state_dict, "optimizer": {"state": {i: {"momentum_buffer": t}}},
// "rng_state": uint8 tensor, "progress": JSON text}. It replaces path
// atomically.
func saveCheckpoint(path string, m nn.Module, opt *optim.SGD, st runState) error {
	modelDict, err := stateDictObject(nn.StateDict(m))
	if err != nil {
		return err
	}
	// As in PyTorch's optimizer state_dict: {param index: {"momentum_buffer": t}}.
	state := &ptfile.Dict{}
	for _, nt := range opt.State() {
		var idx int64
		if _, err := fmt.Sscanf(nt.Name, "%d.momentum_buffer", &idx); err != nil {
			return fmt.Errorf("optimizer state %q: %w", nt.Name, err)
		}
		e, err := nt.Tensor.Entry(nt.Name)
		if err != nil {
			return err
		}
		state.Items = append(state.Items, ptfile.Item{Key: idx, Value: &ptfile.Dict{Items: []ptfile.Item{{Key: "momentum_buffer", Value: e}}}})
	}
	rng, err := torch.RNGState()
	if err != nil {
		return err
	}
	rngT, err := torch.FromSlice(rng)
	if err != nil {
		return err
	}
	rngE, err := rngT.Entry("rng_state")
	rngT.Free()
	if err != nil {
		return err
	}
	st.Format = checkpointFormat
	meta, err := json.Marshal(st)
	if err != nil {
		return err
	}
	obj := &ptfile.Dict{Items: []ptfile.Item{
		{Key: "model", Value: modelDict},
		{Key: "optimizer", Value: &ptfile.Dict{Items: []ptfile.Item{{Key: "state", Value: state}}}},
		{Key: "rng_state", Value: rngE},
		{Key: "progress", Value: string(meta)},
	}}
	if err := ptfile.SaveFile(path, obj); err != nil {
		return fmt.Errorf("writing checkpoint: %w", err)
	}
	return nil
}

// stateDictObject turns named tensors into an OrderedDict of tensors.
func stateDictObject(ts []nn.NamedTensor) (*ptfile.Dict, error) {
	d := &ptfile.Dict{Ordered: true}
	for _, nt := range ts {
		e, err := nt.Tensor.Entry(nt.Name)
		if err != nil {
			return nil, err
		}
		d.Items = append(d.Items, ptfile.Item{Key: nt.Name, Value: e})
	}
	return d, nil
}

// checkpoint is a checkpoint file read back.
type checkpoint struct {
	runState
	model     []nn.NamedTensor
	optimizer []nn.NamedTensor
	rng       []byte
}

// free releases the checkpoint's tensors.
func (c *checkpoint) free() {
	for _, nt := range append(c.model, c.optimizer...) {
		nt.Tensor.Free()
	}
}

// errNotCheckpoint reports a file that is not one of our checkpoints.
var errNotCheckpoint = errors.New("not a gotrain checkpoint")

// readCheckpoint reads a file written by saveCheckpoint; its tensors are on
// the CPU and owned by the caller (free them with free). Files of another
// kind are refused with errNotCheckpoint before their tensors are read.
func readCheckpoint(path string) (*checkpoint, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	kind, err := ptfile.DetectFile(path)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	if kind != ptfile.Checkpoint {
		return nil, fmt.Errorf("checkpoint %s: %w (it is a %v)", path, errNotCheckpoint, kind)
	}
	return loadCheckpoint(path)
}

// loadCheckpoint reads path, which ptfile.Detect found to be a checkpoint,
// as readCheckpoint does; another program's checkpoint is refused with
// errNotCheckpoint.
func loadCheckpoint(path string) (*checkpoint, error) {
	obj, err := ptfile.LoadFile(path)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	top, ok := obj.(*ptfile.Dict)
	if !ok {
		return nil, fmt.Errorf("checkpoint %s: %w (top level is %T)", path, errNotCheckpoint, obj)
	}
	meta, _ := top.Get("progress")
	text, ok := meta.(string)
	if !ok {
		return nil, fmt.Errorf("checkpoint %s: %w (no progress record)", path, errNotCheckpoint)
	}
	c := &checkpoint{}
	if err := json.Unmarshal([]byte(text), &c.runState); err != nil {
		return nil, fmt.Errorf("checkpoint %s: bad progress record: %w", path, err)
	}
	if c.Format != checkpointFormat {
		return nil, fmt.Errorf("checkpoint %s: format %q, want %q", path, c.Format, checkpointFormat)
	}
	fail := func(err error) (*checkpoint, error) {
		c.free()
		return nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	md, _ := top.Get("model")
	if c.model, err = tensorsOf(md); err != nil {
		return fail(fmt.Errorf("model: %w", err))
	}
	od, _ := top.Get("optimizer")
	if d, ok := od.(*ptfile.Dict); ok {
		st, _ := d.Get("state")
		sd, _ := st.(*ptfile.Dict)
		if sd != nil {
			for _, it := range sd.Items {
				idx, _ := it.Key.(int64)
				inner, _ := it.Value.(*ptfile.Dict)
				if inner == nil {
					return fail(fmt.Errorf("optimizer state %v is not a dict", it.Key))
				}
				v, _ := inner.Get("momentum_buffer")
				e, ok := v.(*ptfile.Entry)
				if !ok {
					return fail(fmt.Errorf("optimizer state %v has no momentum_buffer tensor", it.Key))
				}
				t, err := torch.FromEntry(e)
				if err != nil {
					return fail(err)
				}
				c.optimizer = append(c.optimizer, nn.NamedTensor{Name: fmt.Sprintf("%d.momentum_buffer", idx), Tensor: torch.Keep(t)})
			}
		}
	}
	rv, _ := top.Get("rng_state")
	if e, ok := rv.(*ptfile.Entry); ok {
		c.rng = e.Data
	}
	return c, nil
}

// tensorsOf converts a dict of tensors into named CPU tensors owned by the caller.
func tensorsOf(v any) ([]nn.NamedTensor, error) {
	d, ok := v.(*ptfile.Dict)
	if !ok {
		return nil, fmt.Errorf("not a dict of tensors (%T)", v)
	}
	var out []nn.NamedTensor
	for _, it := range d.Items {
		name, ok := it.Key.(string)
		e, isT := it.Value.(*ptfile.Entry)
		if !ok || !isT {
			for _, nt := range out {
				nt.Tensor.Free()
			}
			return nil, fmt.Errorf("entry %v is not a named tensor", it.Key)
		}
		t, err := torch.FromEntry(e)
		if err != nil {
			for _, nt := range out {
				nt.Tensor.Free()
			}
			return nil, err
		}
		out = append(out, nn.NamedTensor{Name: name, Tensor: torch.Keep(t)})
	}
	return out, nil
}
