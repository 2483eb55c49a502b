// Package infer runs networks forward on data without training them: the
// test pass (Evaluate), used by the training loop after every epoch and by
// the evaluate command, the test pass of an ensemble and of each of its
// members at once (EvaluateEnsemble), and the classification of image
// files (Predict).
// It also holds the two steps a training step shares with a test pass:
// a loader batch to tensors (BatchTensors) and the forward pass with its
// loss (ForwardLoss).
package infer

import (
	"context"
	"time"

	"gotrain/dataset"
	"gotrain/torch"
	"gotrain/torch/nn"
)

// Evaluation is the outcome of Evaluate.
type Evaluation struct {
	Loss      float64 // mean cross-entropy
	Correct   int
	Total     int
	Confusion [][]int // [true][predicted]
	Seconds   float64 // wall time of the pass
}

// Accuracy returns the accuracy in percent.
func (e *Evaluation) Accuracy() float64 { return 100 * float64(e.Correct) / float64(max(e.Total, 1)) }

// ClassAccuracy returns the accuracy of each class in percent.
func (e *Evaluation) ClassAccuracy() []float64 {
	out := make([]float64, len(e.Confusion))
	for c, row := range e.Confusion {
		n := 0
		for _, v := range row {
			n += v
		}
		out[c] = 100 * float64(row[c]) / float64(max(n, 1))
	}
	return out
}

// Evaluate is a test pass: it runs m (already on dev) in evaluation mode
// without autograd over every batch of the loader, with the input layout,
// autocast and test-time augmentation of o, and returns the mean loss,
// accuracy and confusion matrix. It leaves m in training mode, for the
// training loop that calls it after every epoch.
func Evaluate(m nn.Module, loader *dataset.Loader, dev torch.Device, o EvalOptions) (*Evaluation, error) {
	evs, err := pass(m, loader, 1, func(b *dataset.Batch) (logits, losses []*torch.Tensor, err error) {
		l, loss, err := evalBatch(m, b, dev, o)
		return []*torch.Tensor{l}, []*torch.Tensor{loss}, err
	})
	if err != nil {
		return nil, err
	}
	return evs[0], nil
}

// pass is a test pass of n outcomes at once: it runs batch, under
// NoGrad with m in evaluation mode, on every batch of the loader, each in
// its own scope, and accumulates for outcome i the summed loss losses[i]
// (a scalar) and the argmax of logits[i] against the batch's labels. It
// leaves m in training mode.
func pass(m nn.Module, loader *dataset.Loader, n int, batch func(*dataset.Batch) (logits, losses []*torch.Tensor, err error)) ([]*Evaluation, error) {
	start := time.Now()
	nn.SetTraining(m, false)
	defer nn.SetTraining(m, true)
	evs := make([]*Evaluation, n)
	lossSums := make([]float64, n)
	for i := range evs {
		evs[i] = &Evaluation{Confusion: make([][]int, len(dataset.Classes))}
		for c := range evs[i].Confusion {
			evs[i].Confusion[c] = make([]int, len(dataset.Classes))
		}
	}
	err := torch.NoGrad(func() error {
		for b, err := range loader.Epoch(context.Background(), 0) {
			if err != nil {
				return err
			}
			err := func() error {
				defer b.Release()
				s := torch.NewScope()
				defer s.Close()
				logits, losses, err := batch(b)
				if err != nil {
					return err
				}
				for i, res := range evs {
					l, err := losses[i].Item()
					if err != nil {
						return err
					}
					lossSums[i] += l
					pred, err := logits[i].Argmax(1, false)
					if err != nil {
						return err
					}
					p, err := torch.ToSlice[int64](pred)
					if err != nil {
						return err
					}
					for i, t := range b.Y[:b.N] {
						res.Confusion[t][p[i]]++
						if p[i] == t {
							res.Correct++
						}
					}
					res.Total += b.N
				}
				return nil
			}()
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i, res := range evs {
		res.Loss = lossSums[i] / float64(max(res.Total, 1))
		res.Seconds = time.Since(start).Seconds()
	}
	return evs, nil
}

// ForwardLoss runs m on x and the cross-entropy of its logits against y,
// under CPU autocast when autocast is set: the forward pass of both a
// training step and a test pass.
func ForwardLoss(m nn.Module, x, y *torch.Tensor, reduction torch.Reduction, labelSmoothing float64, autocast bool) (logits, loss *torch.Tensor, err error) {
	f := func() error {
		if logits, err = m.Forward(x); err != nil {
			return err
		}
		loss, err = torch.CrossEntropy(logits, y, reduction, labelSmoothing)
		return err
	}
	if autocast {
		err = torch.AutocastCPU(f)
	} else {
		err = f()
	}
	return logits, loss, err
}

// BatchTensors copies a loader batch into tensors on dev (through pinned
// memory and an asynchronous copy on CUDA).
func BatchTensors(b *dataset.Batch, dev torch.Device, channelsLast bool) (x, y *torch.Tensor, err error) {
	from := torch.FromSlice[float32]
	fromY := torch.FromSlice[int64]
	if dev.Type == torch.CUDAType {
		from, fromY = torch.FromSlicePinned[float32], torch.FromSlicePinned[int64]
	}
	if x, err = from(b.X, int64(b.N), 3, dataset.Height, dataset.Width); err != nil {
		return nil, nil, err
	}
	if y, err = fromY(b.Y); err != nil {
		return nil, nil, err
	}
	if dev.Type == torch.CUDAType {
		if x, err = x.To(dev, true); err != nil {
			return nil, nil, err
		}
		if y, err = y.To(dev, true); err != nil {
			return nil, nil, err
		}
	}
	if channelsLast {
		if x, err = x.ChannelsLast(); err != nil {
			return nil, nil, err
		}
	}
	return x, y, nil
}
