package nn

import (
	"fmt"

	"gotrain/torch"
)

// BatchNorm2d is torch.nn.BatchNorm2d with affine weights and running
// statistics (eps 1e-5, momentum 0.1 by default).
type BatchNorm2d struct {
	NumFeatures       int64
	Eps, Momentum     float64
	Weight, Bias      *torch.Tensor
	RunningMean       *torch.Tensor
	RunningVar        *torch.Tensor
	NumBatchesTracked *torch.Tensor // int64 scalar
	training          bool
}

// NewBatchNorm2d makes a BatchNorm2d over n channels: weight 1, bias 0,
// running mean 0, running variance 1, in training mode.
func NewBatchNorm2d(n int64) (*BatchNorm2d, error) {
	if err := positive("BatchNorm2d num_features", n); err != nil {
		return nil, err
	}
	m := &BatchNorm2d{NumFeatures: n, Eps: 1e-5, Momentum: 0.1, training: true}
	var err error
	fail := func(what string, err error) (*BatchNorm2d, error) {
		freeAll(m.Weight, m.Bias, m.RunningMean, m.RunningVar, m.NumBatchesTracked)
		return nil, fmt.Errorf("nn: BatchNorm2d %s: %w", what, err)
	}
	if m.Weight, err = newParam([]int64{n}, func(t *torch.Tensor) error { return t.Fill_(1) }); err != nil {
		return fail("weight", err)
	}
	if m.Bias, err = newParam([]int64{n}, nil); err != nil {
		return fail("bias", err)
	}
	if m.RunningMean, err = newBuffer([]int64{n}, 0, torch.Float32); err != nil {
		return fail("running_mean", err)
	}
	if m.RunningVar, err = newBuffer([]int64{n}, 1, torch.Float32); err != nil {
		return fail("running_var", err)
	}
	if m.NumBatchesTracked, err = newBuffer([]int64{}, 0, torch.Int64); err != nil {
		return fail("num_batches_tracked", err)
	}
	return m, nil
}

// Forward normalizes x (N, C, H, W): with batch statistics while training
// (updating the running ones and counting the batch), with the running
// statistics in evaluation.
func (m *BatchNorm2d) Forward(x *torch.Tensor) (*torch.Tensor, error) {
	if m.training {
		if err := m.NumBatchesTracked.AddScalar_(1); err != nil {
			return nil, err
		}
	}
	return torch.BatchNorm(x, m.Weight, m.Bias, m.RunningMean, m.RunningVar, m.training, m.Momentum, m.Eps)
}

// Parameters returns weight and bias.
func (m *BatchNorm2d) Parameters() []NamedTensor {
	return []NamedTensor{{Name: "weight", Tensor: m.Weight}, {Name: "bias", Tensor: m.Bias}}
}

// Buffers returns running_mean, running_var and num_batches_tracked.
func (m *BatchNorm2d) Buffers() []NamedTensor {
	return []NamedTensor{{Name: "running_mean", Tensor: m.RunningMean}, {Name: "running_var", Tensor: m.RunningVar}, {Name: "num_batches_tracked", Tensor: m.NumBatchesTracked}}
}

// SetTraining switches between batch and running statistics.
func (m *BatchNorm2d) SetTraining(training bool) { m.training = training }

// TorchScript gives forward for export (see Script): like
// torch.nn.BatchNorm2d's, it counts the batch and normalizes with batch
// statistics, updating the running ones, while training, and uses the
// running statistics in evaluation.
func (m *BatchNorm2d) TorchScript() (class, source string) {
	return "BatchNorm2d", fmt.Sprintf(`def forward(self, x):
  if self.training:
    self.num_batches_tracked.add_(1)
  return torch.batch_norm(x, self.weight, self.bias, self.running_mean, self.running_var, self.training, %s, %s, True)
`, scriptFloat(m.Momentum), scriptFloat(m.Eps))
}
