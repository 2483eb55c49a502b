package distributed

import (
	"fmt"
	"strconv"

	"gotrain/torch"
	"gotrain/torch/nn"
)

// DDP trains a module data-parallel over a process group: the counterpart
// of torch.nn.parallel.DistributedDataParallel, with its defaults
// (broadcast_buffers=True, find_unused_parameters=False):
//
//   - NewDDP, like DDP's constructor, checks that every rank holds a module
//     of the same parameters and buffers, then broadcasts rank 0's to all;
//   - SyncBuffers broadcasts rank 0's buffers (BatchNorm's running
//     statistics), as DDP does before every forward pass;
//   - AverageGradients replaces each gradient by its mean over the ranks,
//     as DDP's reducer does during the backward pass, leaving out the
//     parameters that do not require a gradient (frozen ones).
//
// PyTorch hooks the reducer into autograd; here the caller runs the steps
// itself, in the same order on every rank:
//
//	ddp, err := distributed.NewDDP(net, pg)
//	for each batch {
//		ddp.SyncBuffers(); loss := forward(net, x); loss.Backward()
//		ddp.AverageGradients(); opt.Step()
//	}
//
// The module's tensors stay where they are (move it to its device first);
// DDP holds no tensor memory of its own.
type DDP struct {
	module nn.Module
	pg     *ProcessGroup
	// BucketBytes is the size of the buckets the collectives flatten the
	// tensors into (DDP's bucket_cap_mb); zero means DefaultBucketBytes.
	BucketBytes int64
}

// NewDDP wraps module for data-parallel training over pg. It returns a
// *MismatchError, on every rank, when the ranks' modules differ in their
// parameters or buffers (names, shapes, dtypes, which require a gradient),
// and otherwise copies rank 0's parameters and buffers to every rank.
func NewDDP(module nn.Module, pg *ProcessGroup) (*DDP, error) {
	d := &DDP{module: module, pg: pg}
	if err := pg.CompareSettings(moduleLayout(module)); err != nil {
		return nil, fmt.Errorf("DistributedDataParallel: the ranks' modules differ: %w", err)
	}
	ts := tensors(nn.NamedParameters(module), nn.NamedBuffers(module))
	if err := pg.BroadcastCoalesced(ts, 0, d.BucketBytes); err != nil {
		return nil, fmt.Errorf("DistributedDataParallel: broadcasting rank 0's parameters and buffers: %w", err)
	}
	return d, nil
}

// moduleLayout describes each tensor of m by name: kind, shape, dtype and,
// for a parameter, whether it requires a gradient.
func moduleLayout(m nn.Module) map[string]string {
	out := map[string]string{}
	params, bufs := nn.NamedParameters(m), nn.NamedBuffers(m)
	out["parameters"] = strconv.Itoa(len(params))
	out["buffers"] = strconv.Itoa(len(bufs))
	for _, p := range params {
		out["parameter "+p.Name] = fmt.Sprintf("%v %v requires_grad=%v", p.Tensor.Shape(), p.Tensor.DType(), p.Tensor.RequiresGrad())
	}
	for _, b := range bufs {
		out["buffer "+b.Name] = fmt.Sprintf("%v %v", b.Tensor.Shape(), b.Tensor.DType())
	}
	return out
}

// Module returns the wrapped module (DDP's .module).
func (d *DDP) Module() nn.Module { return d.module }

// SyncBuffers copies rank 0's buffers to every rank.
func (d *DDP) SyncBuffers() error {
	bufs := nn.NamedBuffers(d.module)
	if len(bufs) == 0 {
		return nil
	}
	if err := d.pg.BroadcastCoalesced(tensors(bufs), 0, d.BucketBytes); err != nil {
		return fmt.Errorf("DistributedDataParallel: broadcasting rank 0's buffers: %w", err)
	}
	return nil
}

// AverageGradients replaces the gradient of every parameter that requires
// one by its mean over the ranks; a frozen parameter's gradient, if it has
// one, is left as it is. Every parameter that requires a gradient must
// have one (take part in the loss), as with find_unused_parameters=False.
func (d *DDP) AverageGradients() error {
	return torch.WithScope(func() error { // frees the handles to the gradients
		var grads []*torch.Tensor
		for _, p := range nn.NamedParameters(d.module) {
			if !p.Tensor.RequiresGrad() {
				continue
			}
			g, err := p.Tensor.Grad()
			if err != nil {
				return fmt.Errorf("gradient of %s: %w", p.Name, err)
			}
			if g == nil {
				return fmt.Errorf("parameter %s has no gradient to average (every parameter must take part in the loss)", p.Name)
			}
			grads = append(grads, g)
		}
		return d.pg.AllReduceMean(grads, d.BucketBytes)
	})
}

// tensors returns the tensors of the lists, in order.
func tensors(lists ...[]nn.NamedTensor) []*torch.Tensor {
	var ts []*torch.Tensor
	for _, l := range lists {
		for _, nt := range l {
			ts = append(ts, nt.Tensor)
		}
	}
	return ts
}
