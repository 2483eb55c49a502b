package trainer

import (
	"context"
	"fmt"
	"os"

	"github.com/sirupsen/logrus"

	"gotrain/dataset"
	"gotrain/model"
	"gotrain/torch/nn"
)

// LoadNet builds a network and loads weights into it from a checkpoint,
// state_dict or TorchScript file. A checkpoint names its network; name may
// be empty then, and must agree with it otherwise. For other files name
// picks the network (empty means model.Default).
func LoadNet(path, name string, log *logrus.Logger) (*model.Net, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("weights: %w", err)
	}
	ts, ckModel, err := readWeights(path)
	if err != nil {
		return nil, err
	}
	if ckModel != "" {
		if name != "" && name != ckModel {
			freeNamed(ts)
			return nil, fmt.Errorf("%s is a checkpoint of model %q, not %q", path, ckModel, name)
		}
		name = ckModel
	}
	if name == "" {
		name = model.Default
	}
	net, err := model.New(name, model.Options{})
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
// (empty means ./data, downloaded if missing), keeping limit images (0: all).
func LoadTestSet(ctx context.Context, data string, limitN, workers int, log *logrus.Logger) (*dataset.Set, error) {
	cfg := Config{Training: Training{TestLimit: limitN}, Machine: Machine{Data: data, Workers: workers}}
	_, test, err := loadData(ctx, cfg, log, dataset.WithTestOnly())
	return test, err
}
