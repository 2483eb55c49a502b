package infer

import (
	"fmt"

	"gotrain/dataset"
	"gotrain/torch"
	"gotrain/torch/nn"
)

// EnsembleEvaluation is the outcome of EvaluateEnsemble.
type EnsembleEvaluation struct {
	// Members are the members' test passes, in order, each what Evaluate
	// gives for the member alone.
	Members []*Evaluation
	// Ensemble is the ensemble's: its predictions are the argmax of
	// ens.Combine of the members' logits, and its Loss is the mean
	// negative log of the probability it gives the true class.
	Ensemble *Evaluation
}

// EvaluateEnsemble is one test pass of an ensemble and of each of its
// members: every batch of the loader goes once through each member (on
// dev, with o's layout, autocast and test-time augmentation, as in
// Evaluate), and the ensemble's output is ens.Combine of the members'
// logits, so that with TTA each member's logits are averaged over the
// views before the softmax. It leaves the members in training mode.
func EvaluateEnsemble(ens *nn.Ensemble, loader *dataset.Loader, dev torch.Device, o EvalOptions) (*EnsembleEvaluation, error) {
	n := len(ens.Members)
	evs, err := pass(ens, loader, n+1, func(b *dataset.Batch) (logits, losses []*torch.Tensor, err error) {
		logits, losses = make([]*torch.Tensor, n+1), make([]*torch.Tensor, n+1)
		for i, m := range ens.Members {
			if logits[i], losses[i], err = evalBatch(m, b, dev, o); err != nil {
				return nil, nil, fmt.Errorf("member %d: %w", i+1, err)
			}
		}
		p, err := ens.Combine(logits[:n])
		if err != nil {
			return nil, nil, err
		}
		logp, err := p.Log()
		if err != nil {
			return nil, nil, err
		}
		y, err := torch.FromSlice(b.Y[:b.N])
		if err != nil {
			return nil, nil, err
		}
		if y, err = y.To(dev, false); err != nil {
			return nil, nil, err
		}
		// The rows of p sum to 1, so log_softmax(log p) is log p.
		if losses[n], err = torch.CrossEntropy(logp, y, torch.ReduceSum, 0); err != nil {
			return nil, nil, err
		}
		logits[n] = p
		return logits, losses, nil
	})
	if err != nil {
		return nil, err
	}
	return &EnsembleEvaluation{Members: evs[:n], Ensemble: evs[n]}, nil
}
