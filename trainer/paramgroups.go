package trainer

import (
	"errors"

	"gotrain/torch"
	"gotrain/torch/nn"
	"gotrain/torch/optim"
)

// newOptimizer returns the run's SGD over net's parameters.
func newOptimizer(net nn.Module, cfg Config) (*optim.SGD, error) {
	c := optim.SGDConfig{LR: cfg.LR, Momentum: cfg.Momentum, WeightDecay: cfg.WeightDecay, Nesterov: cfg.Nesterov}
	if cfg.Nesterov && c.Momentum == 0 {
		// OneCycleLR sets the momentum before every step; SGD checks
		// nesterov against the momentum it starts with.
		c.Momentum = 0.95
	}
	if cfg.NoDecayBNBias {
		// TODO(ckpt merge): build two SGD parameter groups once torch/optim
		// has them: decay (weight decay cfg.WeightDecay) and noDecay
		// (weight decay 0), from decayGroups(net).
		return nil, errNoParamGroups
	}
	return optim.NewSGD(nn.NamedParameters(net), c)
}

// errNoParamGroups reports -no-decay-bn-bias on a build whose SGD has a
// single parameter group.
var errNoParamGroups = errors.New("no weight decay on BatchNorm and biases needs SGD parameter groups, which this build's torch/optim lacks")

// decayGroups splits net's parameters, in NamedParameters order, into
// those that take weight decay and those that do not: the weights and
// biases of BatchNorm layers and the bias of every layer, as the usual
// PyTorch recipe builds its two param_groups (no decay for p.ndim <= 1).
func decayGroups(net nn.Module) (decay, noDecay []nn.NamedTensor) {
	skip := map[*torch.Tensor]bool{}
	_ = nn.Walk(net, func(_ string, _ int, m nn.Module) error {
		h, ok := m.(nn.Holder)
		if !ok {
			return nil
		}
		_, isBN := m.(*nn.BatchNorm2d)
		for _, p := range h.Parameters() {
			if isBN || p.Name == "bias" {
				skip[p.Tensor] = true
			}
		}
		return nil
	})
	for _, p := range nn.NamedParameters(net) {
		if skip[p.Tensor] {
			noDecay = append(noDecay, p)
		} else {
			decay = append(decay, p)
		}
	}
	return decay, noDecay
}
