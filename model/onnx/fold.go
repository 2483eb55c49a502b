package onnx

import (
	"math"
	"slices"
	"strings"
)

// foldBatchNorm folds each BatchNormalization whose input is a Conv's
// output read by nothing else into that Conv, as torch.onnx.export does
// in evaluation mode: with s = γ/√(σ² + ε) per output channel, the
// weight becomes W·s and the bias (b − μ)·s + β, computed in float64. The
// batch norm's node and initializers leave the graph, and its readers read
// the Conv instead. It returns the renamed values, old name to new.
func (g *graph) foldBatchNorm() map[string]string {
	producer := map[string]*node{}
	readers := map[string]int{}
	for _, n := range g.nodes {
		for _, in := range n.inputs {
			readers[in]++
		}
		for _, out := range n.outputs {
			producer[out] = n
		}
	}
	inits := map[string]*initializer{}
	for _, t := range g.inits {
		inits[t.name] = t
	}
	drop := map[*node]bool{}
	dropInit := map[string]bool{}
	rename := map[string]string{}
	for _, bn := range g.nodes {
		if bn.op != "BatchNormalization" {
			continue
		}
		conv := producer[bn.inputs[0]]
		if conv == nil || conv.op != "Conv" {
			continue
		}
		// Only tensors that nothing else reads may change.
		alone := readers[bn.inputs[0]] == 1
		for _, in := range slices.Concat(conv.inputs[1:], bn.inputs[1:]) {
			alone = alone && readers[in] == 1 && inits[in] != nil
		}
		if !alone {
			continue
		}
		gamma, beta, mean, variance := inits[bn.inputs[1]].data, inits[bn.inputs[2]].data, inits[bn.inputs[3]].data, inits[bn.inputs[4]].data
		eps := float64(bn.attrs[0].f) // the one attribute, epsilon
		w := inits[conv.inputs[1]]
		var bias *initializer
		if len(conv.inputs) > 2 {
			bias = inits[conv.inputs[2]]
		} else {
			// A Conv without bias gets one, named as PyTorch's would be.
			bias = &initializer{name: g.unique(strings.TrimSuffix(conv.inputs[1], ".weight") + ".bias"), dims: []int64{w.dims[0]}, data: make([]float32, w.dims[0])}
			g.inits = append(g.inits, bias)
			conv.inputs = append(conv.inputs, bias.name)
		}
		per := len(w.data) / len(gamma)
		for c := range gamma {
			s := float64(gamma[c]) / math.Sqrt(float64(variance[c])+eps)
			for k := c * per; k < (c+1)*per; k++ {
				w.data[k] = float32(float64(w.data[k]) * s)
			}
			bias.data[c] = float32((float64(bias.data[c])-float64(mean[c]))*s + float64(beta[c]))
		}
		drop[bn] = true
		for _, in := range bn.inputs[1:] {
			dropInit[in] = true
		}
		rename[bn.outputs[0]] = conv.outputs[0]
	}
	kept := g.nodes[:0]
	for _, n := range g.nodes {
		if drop[n] {
			continue
		}
		for i, in := range n.inputs {
			if r, ok := rename[in]; ok {
				n.inputs[i] = r
			}
		}
		kept = append(kept, n)
	}
	g.nodes = kept
	keptInits := g.inits[:0]
	for _, t := range g.inits {
		if !dropInit[t.name] {
			keptInits = append(keptInits, t)
		}
	}
	g.inits = keptInits
	return rename
}
