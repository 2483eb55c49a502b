package infer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/sirupsen/logrus"

	"gotrain/checkpoint"
	"gotrain/dataset"
	"gotrain/model"
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

// recorded is what one of our checkpoints says of its network: the parts
// of its run state's configuration (docs/FORMATS.md) that building the
// network again needs. Dropout is nil when the file has none.
type recorded struct {
	Model   string   `json:"model"`
	Dropout *float64 `json:"dropout"`
}

// readWeights reads path's tensors as ReadWeights does, reading the file
// once, and for one of our checkpoints also returns what it records of its
// network (otherwise nil).
func readWeights(path string) ([]nn.NamedTensor, *recorded, error) {
	kind, err := ptfile.DetectFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("reading weights: %w", err)
	}
	switch kind {
	case ptfile.TorchScript:
		ts, err := readScriptWeights(path)
		return ts, nil, err
	case ptfile.Checkpoint:
		ck, err := checkpoint.Read(path)
		if err == nil {
			var run struct {
				Config recorded `json:"config"`
			}
			if err := json.Unmarshal(ck.Run, &run); err != nil {
				return nil, nil, fmt.Errorf("checkpoint %s: bad run state: %w", path, err)
			}
			ts, err := torch.TensorsOf(ck.Weights())
			if err != nil {
				return nil, nil, fmt.Errorf("checkpoint %s: weights: %w", path, err)
			}
			return ts, &run.Config, nil
		}
		if !errors.Is(err, checkpoint.ErrNotCheckpoint) {
			return nil, nil, err
		}
		// Another program's checkpoint: torch.Load finds its state_dict.
	}
	ts, err := torch.Load(path)
	if err != nil {
		return nil, nil, fmt.Errorf("reading weights: %w", err)
	}
	for _, nt := range ts {
		torch.Keep(nt.Tensor)
	}
	return ts, nil, nil
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

// LoadNet builds a network and loads weights into it from a checkpoint,
// state_dict or TorchScript file, for evaluation and prediction (in
// evaluation mode, with dropout 0, which evaluation does not use). A
// checkpoint names its network; name may be empty then, and must agree
// with it otherwise. For other files name picks the network (empty means
// model.Default).
func LoadNet(path, name string, log *logrus.Logger) (*model.Net, error) {
	zero := 0.0
	return LoadNetWith(path, LoadOptions{Model: name, Dropout: &zero}, log)
}

// DefaultDropout is the seed recipe's dropout probability (the trainer's
// default), which LoadNetWith gives the network of a file that records
// none.
const DefaultDropout = 0.05

// LoadOptions say how LoadNetWith builds the network that a file's weights
// go into.
type LoadOptions struct {
	// Model names the network; "" takes a checkpoint's, else
	// model.Default. A checkpoint of another network is refused.
	Model string
	// Dropout, if not nil, is the network's dropout probability, which
	// matters only to a network that trains again (a TorchScript export
	// put back in train mode); nil takes the one a checkpoint's run
	// recorded, else DefaultDropout.
	Dropout *float64
}

// LoadNetWith builds a network as o says and loads weights into it from a
// checkpoint, state_dict or TorchScript file, as LoadNet does.
func LoadNetWith(path string, o LoadOptions, log *logrus.Logger) (*model.Net, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("weights: %w", err)
	}
	ts, rec, err := readWeights(path)
	if err != nil {
		return nil, err
	}
	name := o.Model
	if rec != nil && rec.Model != "" {
		if name != "" && name != rec.Model {
			freeNamed(ts)
			return nil, fmt.Errorf("%s is a checkpoint of model %q, not %q", path, rec.Model, name)
		}
		name = rec.Model
	}
	if name == "" {
		name = model.Default
	}
	dropout := DefaultDropout
	switch {
	case o.Dropout != nil:
		dropout = *o.Dropout
	case rec != nil && rec.Dropout != nil:
		dropout = *rec.Dropout
	}
	net, err := model.New(name, model.Options{Dropout: dropout})
	if err != nil {
		freeNamed(ts)
		return nil, err
	}
	if err := loadWeights(net, ts, path, log); err != nil {
		nn.Free(net)
		return nil, err
	}
	nn.SetTraining(net, false)
	return net, nil
}

// LoadTestSet reads the test split from a data location as a run does
// (dataset.Open: empty means ./data, downloaded if missing), keeping limit
// images (0: all).
func LoadTestSet(ctx context.Context, data string, limit, workers int, log *logrus.Logger) (*dataset.Set, error) {
	_, test, err := dataset.Open(ctx, data, dataset.WithLogger(dataset.LoggerFunc(log.Infof)), dataset.WithWorkers(workers),
		dataset.WithLimits(0, limit), dataset.WithTestOnly())
	return test, err
}
