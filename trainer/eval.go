package trainer

import (
	"context"
	"time"

	"gotrain/dataset"
	"gotrain/torch"
	"gotrain/torch/nn"
)

// evalResult is the outcome of a test pass.
type evalResult struct {
	Loss      float64 // mean cross-entropy
	Correct   int
	Total     int
	Confusion [][]int // [true][predicted]
	Seconds   float64
}

// evaluate runs m in evaluation mode without autograd (and under CPU
// autocast if autocast is set) over every batch of the loader and returns
// the mean loss, accuracy and confusion matrix.
func evaluate(m nn.Module, loader *dataset.Loader, dev torch.Device, channelsLast, autocast bool) (*evalResult, error) {
	start := time.Now()
	nn.SetTraining(m, false)
	defer nn.SetTraining(m, true)
	res := &evalResult{Confusion: make([][]int, len(dataset.Classes))}
	for i := range res.Confusion {
		res.Confusion[i] = make([]int, len(dataset.Classes))
	}
	var lossSum float64
	err := torch.NoGrad(func() error {
		for b, err := range loader.Epoch(context.Background(), 0) {
			if err != nil {
				return err
			}
			err := func() error {
				defer b.Release()
				s := torch.NewScope()
				defer s.Close()
				x, y, err := batchTensors(b, dev, channelsLast)
				if err != nil {
					return err
				}
				logits, loss, err := forwardLoss(m, x, y, torch.ReduceSum, 0, autocast)
				if err != nil {
					return err
				}
				l, err := loss.Item()
				if err != nil {
					return err
				}
				lossSum += l
				pred, err := logits.Argmax(1, false)
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
	res.Loss = lossSum / float64(max(res.Total, 1))
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}
