package model

import "gotrain/torch/nn"

func init() {
	register(Spec{
		Name:        "seed",
		Description: "the seed project's CustomCNN (82,474 parameters, receptive field 25)",
		build:       buildSeed,
	})
	register(Spec{
		Name:        "sepnet",
		Description: "our depthwise-separable net meeting every seed rule (188,218 parameters, receptive field 49)",
		build:       buildSepNet,
	})
	register(Spec{
		Name:        "sepres",
		Description: "sepnet with residual connections around its six same-width layers (188,218 parameters, receptive field 49)",
		build:       buildSepRes,
	})
}

// buildSeed is the seed's CustomCNN, layer for layer as its torchinfo table
// shows it; scripts/models.py defines the same network in PyTorch.
func buildSeed(o Options) (*Net, error) {
	b := &builder{}
	relu := nn.ReLU{}
	c1 := nn.NewSequential(
		b.conv(3, 16, 3, 1, 1, 1), b.bn(16), relu,
		b.sep(SepConfig{In: 16, Out: 32}), b.bn(32), relu,
	)
	c2 := nn.NewSequential(
		b.sep(SepConfig{In: 32, Out: 48}), b.bn(48), relu,
		b.conv(48, 48, 3, 2, 1, 1), b.bn(48), relu,
	)
	c3 := nn.NewSequential(
		b.sep(SepConfig{In: 48, Out: 64}), b.bn(64), relu,
		b.conv(64, 64, 3, 1, 2, 2), b.bn(64), relu,
	)
	c4 := nn.NewSequential(
		b.sep(SepConfig{In: 64, Out: 96, Stride: 2}), b.bn(96), relu,
		b.conv(96, 96, 1, 1, 0, 1), b.bn(96), relu,
	)
	return b.net("seed", o, 96, c1, c2, c3, c4)
}

// buildSepNet keeps the seed's plan (strided convolutions instead of
// pooling, a dilated convolution, depthwise-separable convolutions, global
// average pooling) but grows the receptive field to 49 with three more
// separable convolutions at 8x8, where they are cheap, and spends the rest
// of the 200k-parameter budget on width: 32 channels from the first layer
// and 176 in the last stage (docs/results/gpu-2026-11-27.md compares the
// widths tried). A dilated depthwise convolution would grow the receptive
// field faster, but libtorch's CPU kernels for it are several times slower.
func buildSepNet(o Options) (*Net, error) {
	b := &builder{}
	relu := nn.ReLU{}
	c1 := nn.NewSequential(
		b.conv(3, 32, 3, 1, 1, 1), b.bn(32), relu,
		b.sep(SepConfig{In: 32, Out: 32}), b.bn(32), relu,
	)
	c2 := nn.NewSequential(
		b.sep(SepConfig{In: 32, Out: 48}), b.bn(48), relu,
		b.conv(48, 64, 3, 2, 1, 1), b.bn(64), relu,
	)
	c3 := nn.NewSequential(
		b.sep(SepConfig{In: 64, Out: 64}), b.bn(64), relu,
		b.conv(64, 64, 3, 1, 2, 2), b.bn(64), relu,
	)
	c4 := nn.NewSequential(
		b.sep(SepConfig{In: 64, Out: 176, Stride: 2}), b.bn(176), relu,
		b.sep(SepConfig{In: 176, Out: 176}), b.bn(176), relu,
		b.sep(SepConfig{In: 176, Out: 176}), b.bn(176), relu,
		b.sep(SepConfig{In: 176, Out: 176}), b.bn(176), relu,
	)
	return b.net("sepnet", o, 176, c1, c2, c3, c4)
}

// buildSepRes is sepnet's layer plan, widths and receptive field, with
// each layer whose output has its input's shape (one at 32x32, two at
// 16x16, three at 8x8) inside a Residual: x + ReLU(BN(layer(x))). The
// connections add no parameters. (With GELU in place of ReLU it trained
// 3.5 times slower than sepnet under CPU autocast on the 2-core dev VM,
// 244 against 857 images/s; with ReLU 560.)
func buildSepRes(o Options) (*Net, error) {
	b := &builder{}
	act := nn.ReLU{}
	c1 := nn.NewSequential(
		b.conv(3, 32, 3, 1, 1, 1), b.bn(32), act,
		b.residual(b.sep(SepConfig{In: 32, Out: 32}), b.bn(32), act),
	)
	c2 := nn.NewSequential(
		b.sep(SepConfig{In: 32, Out: 48}), b.bn(48), act,
		b.conv(48, 64, 3, 2, 1, 1), b.bn(64), act,
	)
	c3 := nn.NewSequential(
		b.residual(b.sep(SepConfig{In: 64, Out: 64}), b.bn(64), act),
		b.residual(b.conv(64, 64, 3, 1, 2, 2), b.bn(64), act),
	)
	c4 := nn.NewSequential(
		b.sep(SepConfig{In: 64, Out: 176, Stride: 2}), b.bn(176), act,
		b.residual(b.sep(SepConfig{In: 176, Out: 176}), b.bn(176), act),
		b.residual(b.sep(SepConfig{In: 176, Out: 176}), b.bn(176), act),
		b.residual(b.sep(SepConfig{In: 176, Out: 176}), b.bn(176), act),
	)
	return b.net("sepres", o, 176, c1, c2, c3, c4)
}
