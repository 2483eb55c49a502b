package trainer

import (
	"gotrain/infer"
	"gotrain/model"
	"gotrain/torch"
	"gotrain/torch/nn"
	"gotrain/torch/optim"
)

// newRunEMA returns the weight average of a run with cfg.EMA set (nil
// without): an optim.AveragedModel over a second network of cfg.Model on
// dev. Building it draws no random numbers (the generator's state is put
// back), so the run's other draws are those of a run without it, as
// AveragedModel's deepcopy draws none.
func newRunEMA(cfg Config, net nn.Module, dev torch.Device) (*optim.AveragedModel, error) {
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
	e, err := optim.NewAveragedModel(net, avg, cfg.EMA)
	if err != nil {
		nn.Free(avg)
		return nil, err
	}
	return e, nil
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
