// Package onnx writes a network as an ONNX model (onnx.proto's ModelProto)
// for runtimes without Python: ONNX Runtime, OpenCV's dnn module, TensorRT.
// It walks the module tree as nn.Script does for TorchScript and gives
// each module's evaluation-mode forward in ONNX operators of opset Opset:
// Conv2d as Conv (groups, dilation, stride and padding kept), BatchNorm2d
// folded into the Conv before it (or BatchNormalization where there is
// none), ReLU as Relu, GELU through Erf, a residual's sum as Add, global
// average pooling as GlobalAveragePool, Flatten, Linear as Gemm; Dropout,
// the identity in evaluation, is left out. The weights are the graph's
// initializers, named by their state_dict keys.
//
// The graph has one input, InputName, float32 (batch, 3, H, W) normalised
// as the network's inputs are, and one output, OutputName, float32 (batch,
// classes) logits, the batch dimension dynamic (dim_param BatchDim). The
// class names, the network's name and the input's normalisation are in the
// model's metadata_props. docs/FORMATS.md describes the file.
package onnx

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"gotrain/internal/atomicfile"
	"gotrain/model"
	"gotrain/torch/nn"
)

// The file's fixed properties.
const (
	// Opset is the version of the default ("ai.onnx") operator set the
	// graph uses, read by ONNX Runtime 1.7+, OpenCV 4.5+ and onnx 1.8+.
	Opset = 13
	// IRVersion is the ONNX IR version of the file: 7 is opset 13's.
	IRVersion = 7
	// InputName and OutputName name the graph's input and output.
	InputName  = "input"
	OutputName = "logits"
	// BatchDim is the dim_param of the input's and output's first
	// dimension.
	BatchDim = "batch"
)

// Metadata keys of metadata_props. Lists are JSON arrays.
const (
	// MetaClasses holds the class names, one per logit, in order.
	MetaClasses = "classes"
	// MetaModel holds the network's name (model.Names).
	MetaModel = "model"
	// MetaMean and MetaStd hold the per-channel mean and standard deviation
	// (fractions of 255) the input was normalised with: x = (pixel/255 -
	// mean) / std, RGB order.
	MetaMean = "mean"
	MetaStd  = "std"
)

// Options describe what the network alone does not say.
type Options struct {
	// Classes are the class names, one per logit (required).
	Classes []string
	// Mean and Std are the input's normalisation (per channel, fractions
	// of 255), written to the metadata; nil leaves the keys out.
	Mean, Std []float64
	// ImageSize is the input's height and width (default 32); Channels its
	// channel count (default 3).
	ImageSize, Channels int
	// KeepBatchNorm writes every BatchNorm2d as a BatchNormalization node
	// instead of folding it into the Conv before it.
	KeepBatchNorm bool
	// ProducerVersion is the writing program's version, if known.
	ProducerVersion string
}

// UnsupportedError is a module, or a configuration of a module, that has
// no ONNX form here.
type UnsupportedError struct {
	Path   string    // dotted module path ("" for the root)
	Module nn.Module // the module
	Why    string    // what of it is not exported ("" for the whole type)
}

func (e *UnsupportedError) Error() string {
	what := fmt.Sprintf("module %T has no ONNX form", e.Module)
	if e.Why != "" {
		what = fmt.Sprintf("%T: %s", e.Module, e.Why)
	}
	return fmt.Sprintf("onnx: %s: %s (supported: Conv2d, BatchNorm2d, ReLU, GELU, Dropout, AdaptiveAvgPool2d(1), Flatten, Linear, Sequential, DepthwiseSeparableConv, Residual, model.Net)", pathName(e.Path), what)
}

// ShapeError is a module given an input it cannot take: a malformed
// network.
type ShapeError struct {
	Path   string
	Module nn.Module
	Input  []int64 // the input's shape, the batch -1
	Msg    string
}

func (e *ShapeError) Error() string {
	return fmt.Sprintf("onnx: %s: %s, gets %v", pathName(e.Path), e.Msg, value{shape: e.Input})
}

func pathName(p string) string {
	if p == "" {
		return "the network"
	}
	return p
}

// Marshal returns m as an ONNX model's bytes. m is usually a *model.Net;
// any module tree of the supported modules taking (batch, C, H, W) images
// to (batch, classes) logits is accepted. m is read, not changed.
func Marshal(m nn.Module, o Options) ([]byte, error) {
	if o.ImageSize == 0 {
		o.ImageSize = 32
	}
	if o.Channels == 0 {
		o.Channels = 3
	}
	if o.ImageSize < 0 || o.Channels < 0 {
		return nil, fmt.Errorf("onnx: input of %d channels of %d×%d", o.Channels, o.ImageSize, o.ImageSize)
	}
	if len(o.Classes) == 0 {
		return nil, errors.New("onnx: no class names given")
	}
	if (o.Mean == nil) != (o.Std == nil) || (o.Mean != nil && (len(o.Mean) != o.Channels || len(o.Std) != o.Channels)) {
		return nil, fmt.Errorf("onnx: normalisation of %d means and %d standard deviations for %d channels", len(o.Mean), len(o.Std), o.Channels)
	}
	g := &graph{names: map[string]bool{InputName: true, OutputName: true}}
	in := value{name: InputName, shape: []int64{-1, int64(o.Channels), int64(o.ImageSize), int64(o.ImageSize)}}
	out, err := g.module(m, "", in)
	if err != nil {
		return nil, err
	}
	if len(out.shape) != 2 || out.shape[1] != int64(len(o.Classes)) {
		return nil, &ShapeError{Path: "", Module: m, Input: in.shape,
			Msg: fmt.Sprintf("its output is %v, want (%s, %d) logits for the %d classes", out, BatchDim, len(o.Classes), len(o.Classes))}
	}
	if out.name == InputName {
		return nil, &ShapeError{Path: "", Module: m, Input: in.shape, Msg: "the network has no operations"}
	}
	if !o.KeepBatchNorm {
		if r, ok := g.foldBatchNorm()[out.name]; ok {
			out.name = r
		}
	}
	// The last node's output becomes the graph's output.
	for _, n := range g.nodes {
		for i, name := range n.inputs {
			if name == out.name {
				n.inputs[i] = OutputName
			}
		}
		for i, name := range n.outputs {
			if name == out.name {
				n.outputs[i] = OutputName
			}
		}
	}
	meta, err := metadata(m, o)
	if err != nil {
		return nil, err
	}
	var p buf
	p.int64(modelIRVersion, IRVersion)
	p.string(modelProducerName, "gotrain")
	if o.ProducerVersion != "" {
		p.string(modelProducerVersion, o.ProducerVersion)
	}
	p.message(modelGraph, func(p *buf) {
		for _, n := range g.nodes {
			p.message(graphNode, n.encode)
		}
		p.string(graphName, graphTitle(m))
		for _, t := range g.inits {
			p.message(graphInitializer, t.encode)
		}
		p.message(graphInput, func(p *buf) { encodeValueInfo(p, InputName, in.shape) })
		p.message(graphOutput, func(p *buf) { encodeValueInfo(p, OutputName, out.shape) })
	})
	p.message(modelOpsetImport, func(p *buf) {
		p.string(opsetDomain, "")
		p.int64(opsetVersion, Opset)
	})
	for _, kv := range meta {
		p.message(modelMetadataProps, func(p *buf) {
			p.string(entryKey, kv[0])
			p.string(entryValue, kv[1])
		})
	}
	return p.b, nil
}

// graphTitle is the graph's name: the network's, or "model".
func graphTitle(m nn.Module) string {
	if n, ok := m.(*model.Net); ok && n.Name != "" {
		return n.Name
	}
	return "model"
}

// metadata returns the metadata_props entries, in a fixed order.
func metadata(m nn.Module, o Options) ([][2]string, error) {
	var kv [][2]string
	add := func(key string, v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("onnx: metadata %s: %w", key, err)
		}
		kv = append(kv, [2]string{key, string(b)})
		return nil
	}
	if err := add(MetaClasses, o.Classes); err != nil {
		return nil, err
	}
	if o.Mean != nil {
		if err := add(MetaMean, o.Mean); err != nil {
			return nil, err
		}
		if err := add(MetaStd, o.Std); err != nil {
			return nil, err
		}
	}
	kv = append(kv, [2]string{MetaModel, graphTitle(m)})
	return kv, nil
}

// Write writes m to w as an ONNX model (see Marshal). Nothing is written
// when m cannot be exported.
func Write(w io.Writer, m nn.Module, o Options) error {
	b, err := Marshal(m, o)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// Save writes m to path as an ONNX model (see Marshal). The file appears
// whole or not at all (internal/atomicfile): when m cannot be exported,
// nothing is written and an existing file is left as it was.
func Save(path string, m nn.Module, o Options) error {
	b, err := Marshal(m, o)
	if err != nil {
		return err
	}
	return atomicfile.Write(path, func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
}
