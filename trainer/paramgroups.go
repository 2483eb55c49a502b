package trainer

import (
	"gotrain/torch/nn"
	"gotrain/torch/optim"
)

// newOptimizer returns the run's SGD over net's parameters: one group,
// or with NoDecayBNBias two, without weight decay for BatchNorm weights and
// all biases (optim.WeightDecayGroups).
func newOptimizer(net nn.Module, cfg Config) (*optim.SGD, error) {
	c := optim.SGDConfig{LR: cfg.LR, Momentum: cfg.Momentum, WeightDecay: cfg.WeightDecay, Nesterov: cfg.Nesterov}
	if cfg.Nesterov && c.Momentum == 0 {
		// OneCycleLR sets the momentum before every step; SGD checks
		// nesterov against the momentum it starts with.
		c.Momentum = 0.95
	}
	if cfg.NoDecayBNBias {
		return optim.NewSGDGroups(optim.WeightDecayGroups(net, c))
	}
	return optim.NewSGD(nn.NamedParameters(net), c)
}
