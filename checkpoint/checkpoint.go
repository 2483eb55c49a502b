// Package checkpoint reads and writes gotrain's checkpoint file: a
// torch.save file of a dict that PyTorch resumes from with its own classes
// (docs/FORMATS.md has it key by key):
//
//	"model"      the network's state_dict (OrderedDict of tensors)
//	"optimizer"  torch.optim.SGD(...).state_dict() (optim.SGD.StateDict),
//	             OneCycleLR's keys in its param_groups
//	"scheduler"  OneCycleLR.state_dict() (optim.OneCycleLR.StateDict)
//	"rng_state"  torch.get_rng_state(): libtorch's CPU generator, a uint8 tensor
//	"run"        the run's own state: {"format": Format, ...}, the rest of
//	             it the trainer's (plain values, from its JSON encoding)
//	"ema"        AveragedModel.state_dict() of a run with a weight average
//	             (optim.AveragedModel.StateDict); absent otherwise
//
// The package holds the layout and the versions it still reads; each part
// is written and read by its owner (package optim, the trainer), and the
// run's state stays opaque here: it travels as JSON. Files of the first
// layout (FormatV1: the optimizer's state only, the scheduler and the run
// state as JSON text under "progress") still read.
package checkpoint

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"gotrain/torch/optim"
	"gotrain/torch/ptfile"
)

// The layouts: Format is the one written, FormatV1 the first, still read.
const (
	Format   = "gotrain-checkpoint/2"
	FormatV1 = "gotrain-checkpoint/1"
)

// ErrNotCheckpoint reports a file that is not one of our checkpoints:
// another kind of file, or another program's checkpoint.
var ErrNotCheckpoint = errors.New("not a gotrain checkpoint")

// Checkpoint is the content of a checkpoint file, each part in its
// owner's layout.
type Checkpoint struct {
	// Format is the layout (Format or FormatV1); Save writes Format.
	Format string
	// Model is the network's state_dict.
	Model *ptfile.Dict
	// Optimizer is the optimizer's state_dict (in the first layout, its
	// "state" alone).
	Optimizer *ptfile.Dict
	// Scheduler is the scheduler's state_dict; nil in the first layout,
	// which holds it as LegacyScheduler.
	Scheduler *ptfile.Dict
	// LegacyScheduler is the first layout's scheduler state: the JSON of
	// optim.OneCycleLR's MarshalJSON.
	LegacyScheduler json.RawMessage
	// RNG is torch.get_rng_state(), or nil when the file has none.
	RNG []byte
	// Run is the run's state as JSON: an object, which holds "format" when
	// read back (and, in the first layout, "scheduler").
	Run json.RawMessage
	// EMA is the weight average's state_dict, or nil.
	EMA *ptfile.Dict
}

// Save writes c to path in the current layout, replacing the file
// atomically. c.Run must be a JSON object; its "format" is set to Format,
// first.
func Save(path string, c *Checkpoint) error {
	run, err := ptfile.FromJSON(c.Run)
	if err != nil {
		return fmt.Errorf("checkpoint run state: %w", err)
	}
	rd, ok := run.(*ptfile.Dict)
	if !ok {
		return fmt.Errorf("checkpoint run state is %s, want an object", ptfile.DescribeValue(run))
	}
	items := []ptfile.Item{{Key: "format", Value: Format}}
	for _, it := range rd.Items {
		if it.Key != "format" {
			items = append(items, it)
		}
	}
	rd.Items = items
	obj := ptfile.NewDict("model", c.Model, "optimizer", c.Optimizer, "scheduler", c.Scheduler,
		"rng_state", &ptfile.Entry{DType: ptfile.Uint8, Shape: []int64{int64(len(c.RNG))}, Data: c.RNG},
		"run", rd)
	if c.EMA != nil {
		obj.Items = append(obj.Items, ptfile.Item{Key: "ema", Value: c.EMA})
	}
	if err := ptfile.SaveFile(path, obj); err != nil {
		return fmt.Errorf("writing checkpoint: %w", err)
	}
	return nil
}

// Read reads a checkpoint file written by Save (or by PyTorch in its
// layout). Files of another kind, and another program's checkpoints, are
// refused with ErrNotCheckpoint, the first before their tensors are read.
func Read(path string) (*Checkpoint, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	kind, err := ptfile.DetectFile(path)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	if kind != ptfile.Checkpoint {
		return nil, fmt.Errorf("checkpoint %s: %w (it is a %v)", path, ErrNotCheckpoint, kind)
	}
	obj, err := ptfile.LoadFile(path)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	top, ok := obj.(*ptfile.Dict)
	if !ok {
		return nil, fmt.Errorf("checkpoint %s: %w (top level is %T)", path, ErrNotCheckpoint, obj)
	}
	c, err := decode(top)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	return c, nil
}

// decode reads a checkpoint's top-level dict.
func decode(top *ptfile.Dict) (*Checkpoint, error) {
	run, hasRun := top.Get("run")
	progress, hasProgress := top.Get("progress")
	var text []byte
	switch {
	case hasRun:
		var err error
		if text, err = ptfile.ToJSON(run); err != nil {
			return nil, fmt.Errorf("%w (run: %v)", ErrNotCheckpoint, err)
		}
	case hasProgress: // the first layout: JSON text
		s, ok := progress.(string)
		if !ok {
			return nil, fmt.Errorf("%w (progress is %s)", ErrNotCheckpoint, ptfile.DescribeValue(progress))
		}
		text = []byte(s)
	default:
		return nil, fmt.Errorf("%w (no run state)", ErrNotCheckpoint)
	}
	var head struct {
		Format    string          `json:"format"`
		Scheduler json.RawMessage `json:"scheduler"`
	}
	if json.Unmarshal(text, &head) != nil || !strings.HasPrefix(head.Format, "gotrain-checkpoint/") {
		return nil, fmt.Errorf("%w (no gotrain format in its run state)", ErrNotCheckpoint)
	}
	c := &Checkpoint{Format: head.Format, Run: text}
	switch {
	case head.Format == Format && hasRun:
	case head.Format == FormatV1 && hasProgress:
		c.LegacyScheduler = head.Scheduler
	default:
		return nil, fmt.Errorf("format %q, want %q (or the older %q): written by another version of gotrain", head.Format, Format, FormatV1)
	}
	var err error
	if c.Model, err = dictOf(top, "model"); err != nil {
		return nil, err
	}
	if c.Optimizer, err = dictOf(top, "optimizer"); err != nil {
		return nil, err
	}
	if c.Format == Format {
		if _, ok := c.Optimizer.Get("param_groups"); !ok {
			return nil, errors.New("optimizer: no param_groups")
		}
		sd, ok := top.Get("scheduler")
		if !ok {
			return nil, errors.New("no scheduler state")
		}
		if c.Scheduler, ok = sd.(*ptfile.Dict); !ok {
			return nil, fmt.Errorf("scheduler: not a dict (%s)", ptfile.DescribeValue(sd))
		}
	}
	if rv, ok := top.Get("rng_state"); ok {
		e, ok := rv.(*ptfile.Entry)
		if !ok || e.DType != ptfile.Uint8 || len(e.Shape) != 1 {
			return nil, fmt.Errorf("rng_state is not a uint8 vector (torch.get_rng_state()): %s", ptfile.DescribeValue(rv))
		}
		c.RNG = e.Data
	}
	if _, ok := top.Get("ema"); ok {
		if c.EMA, err = dictOf(top, "ema"); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// dictOf returns the dict under key.
func dictOf(top *ptfile.Dict, key string) (*ptfile.Dict, error) {
	v, _ := top.Get(key)
	d, ok := v.(*ptfile.Dict)
	if !ok {
		return nil, fmt.Errorf("%s: not a dict (%s)", key, ptfile.DescribeValue(v))
	}
	return d, nil
}

// Weights returns the state_dict of the weights the checkpoint's run
// evaluates and exports: its weight average's module if it has one (the
// "module." entries of EMA, renamed), else Model.
func (c *Checkpoint) Weights() *ptfile.Dict {
	if c.EMA == nil {
		return c.Model
	}
	out := &ptfile.Dict{Ordered: true}
	for _, it := range c.EMA.Items {
		if k, ok := it.Key.(string); ok {
			if name, ok := strings.CutPrefix(k, optim.AveragedPrefix); ok {
				out.Items = append(out.Items, ptfile.Item{Key: name, Value: it.Value})
			}
		}
	}
	return out
}
