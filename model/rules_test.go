package model

import (
	"slices"
	"strings"
	"testing"

	"gotrain/torch"
	"gotrain/torch/nn"
)

// conv makes a Conv2d with c's kernel, stride and dilation, "same"-style
// padding, freed when the test ends. Channels default to 1 -> 1.
func conv(t *testing.T, c nn.Conv2dConfig) *nn.Conv2d {
	t.Helper()
	if c.InChannels == 0 {
		c.InChannels, c.OutChannels = 1, 1
	}
	for i := range 2 {
		c.Padding[i] = max(c.Dilation[i], 1) * (c.KernelSize[i] - 1) / 2
	}
	m, err := nn.NewConv2d(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nn.Free(m) })
	return m
}

// sq is a square kernel size, stride or dilation.
func sq(n int64) [2]int64 { return [2]int64{n, n} }

// avgPool2 is a 2x2 average pooling of stride 2, a Windowed layer.
type avgPool2 struct{}

func (avgPool2) Forward(x *torch.Tensor) (*torch.Tensor, error) {
	sh := x.Shape()
	return torch.AdaptiveAvgPool2d(x, sh[2]/2, sh[3]/2)
}

func (avgPool2) Window() Window { return Window{Kernel: sq(2), Stride: sq(2)} }

// MaxPool2d stands in for a max-pooling layer (averaging, which the rules
// cannot tell apart).
type MaxPool2d struct{ avgPool2 }

// opaquePool is a pooling layer that does not say its window.
type opaquePool struct{}

func (opaquePool) Forward(x *torch.Tensor) (*torch.Tensor, error) {
	return torch.AdaptiveAvgPool2d(x, 16, 16)
}

func TestReceptiveFieldHandWorked(t *testing.T) {
	gap := nn.AdaptiveAvgPool2d{OutputSize: [2]int64{1, 1}}
	for _, c := range []struct {
		name   string
		layers []nn.Module
		size   [2]int64
		jump   [2]int64
		global bool
	}{
		// r starts at 1 with jump 1; each layer adds (k_eff-1)*jump,
		// k_eff = d*(k-1)+1, then multiplies jump by its stride.
		{"3x3", []nn.Module{conv(t, nn.Conv2dConfig{KernelSize: sq(3)})}, sq(3), sq(1), false}, // 1+2
		{"1x1", []nn.Module{conv(t, nn.Conv2dConfig{KernelSize: sq(1)})}, sq(1), sq(1), false}, // 1+0
		{"3x3 then 1x1", []nn.Module{conv(t, nn.Conv2dConfig{KernelSize: sq(3)}), conv(t, nn.Conv2dConfig{KernelSize: sq(1)})}, sq(3), sq(1), false},
		{"two 3x3", []nn.Module{conv(t, nn.Conv2dConfig{KernelSize: sq(3)}), conv(t, nn.Conv2dConfig{KernelSize: sq(3)})}, sq(5), sq(1), false},                                                    // 3+2
		{"3x3/2 then 3x3", []nn.Module{conv(t, nn.Conv2dConfig{KernelSize: sq(3), Stride: sq(2)}), conv(t, nn.Conv2dConfig{KernelSize: sq(3)})}, sq(7), sq(2), false},                              // 3+2*2
		{"3x3 dilation 2", []nn.Module{conv(t, nn.Conv2dConfig{KernelSize: sq(3), Dilation: sq(2)})}, sq(5), sq(1), false},                                                                         // k_eff 5: 1+4
		{"3x3/2 then 3x3 dilation 2", []nn.Module{conv(t, nn.Conv2dConfig{KernelSize: sq(3), Stride: sq(2)}), conv(t, nn.Conv2dConfig{KernelSize: sq(3), Dilation: sq(2)})}, sq(11), sq(2), false}, // 3+4*2
		// 5x5/2: 5, jump 2; 3x3 dilation 3 (k_eff 7): 5+6*2 = 17.
		{"5x5/2 then 3x3 dilation 3", []nn.Module{conv(t, nn.Conv2dConfig{KernelSize: sq(5), Stride: sq(2)}), conv(t, nn.Conv2dConfig{KernelSize: sq(3), Dilation: sq(3)})}, sq(17), sq(2), false},
		// 3x3/2: 3, jump 2; 3x3/2: 3+2*2 = 7, jump 4; 3x3: 7+2*4 = 15.
		{"two 3x3/2 then 3x3", []nn.Module{conv(t, nn.Conv2dConfig{KernelSize: sq(3), Stride: sq(2)}), conv(t, nn.Conv2dConfig{KernelSize: sq(3), Stride: sq(2)}), conv(t, nn.Conv2dConfig{KernelSize: sq(3)})}, sq(15), sq(4), false},
		// Per axis: kernel (3, 5) stride (1, 2): height 3, jump 1; width
		// 5, jump 2. Then kernel (1, 3): height 3+0 = 3; width 5+2*2 = 9.
		{"non-square", []nn.Module{conv(t, nn.Conv2dConfig{KernelSize: [2]int64{3, 5}, Stride: [2]int64{1, 2}}), conv(t, nn.Conv2dConfig{KernelSize: [2]int64{1, 3}})}, [2]int64{3, 9}, [2]int64{1, 2}, false},
		// Windowed pooling 2x2/2: 2, jump 2; 3x3: 2+2*2 = 6.
		{"2x2 pool then 3x3", []nn.Module{avgPool2{}, conv(t, nn.Conv2dConfig{KernelSize: sq(3)})}, sq(6), sq(2), false},
		// Adaptive pooling 32 -> 16 is a 2x2/2 window: the same 6.
		{"adaptive pool to 16 then 3x3", []nn.Module{nn.AdaptiveAvgPool2d{OutputSize: [2]int64{16, 16}}, conv(t, nn.Conv2dConfig{KernelSize: sq(3)})}, sq(6), sq(2), false},
		// Global pooling is reported apart: 3x3 stays 3.
		{"3x3 then GAP", []nn.Module{conv(t, nn.Conv2dConfig{KernelSize: sq(3)}), gap, nn.NewFlatten()}, sq(3), sq(1), true},
		// Nested containers: 3x3/2: 3, jump 2; a separable conv with a
		// 3x3 dilation-2 depthwise (k_eff 5): 3+4*2 = 11; its 1x1 adds 0.
		{"nested separable", []nn.Module{nn.NewSequential(conv(t, nn.Conv2dConfig{KernelSize: sq(3), Stride: sq(2)})), sepConv(t, SepConfig{In: 1, Out: 4, Dilation: 2})}, sq(11), sq(2), false},
	} {
		f, err := ReceptiveField(nn.NewSequential(c.layers...), 1, 1, 32, 32)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if f.Size != c.size || f.Global != c.global || f.Jump != c.jump {
			t.Errorf("%s: field %+v, want size %v, jump %v, global %v", c.name, f, c.size, c.jump, c.global)
		}
	}
}

func sepConv(t *testing.T, c SepConfig) *DepthwiseSeparableConv {
	t.Helper()
	m, err := NewDepthwiseSeparableConv(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nn.Free(m) })
	return m
}

func TestFieldFormat(t *testing.T) {
	f := Field{Size: [2]int64{3, 9}}
	if f.Max() != 9 || f.String() != "3x9" {
		t.Errorf("Max %d, String %q; want 9, 3x9", f.Max(), f.String())
	}
	if f := (Field{Size: sq(25)}); f.Max() != 25 || f.String() != "25" {
		t.Errorf("Max %d, String %q; want 25, 25", f.Max(), f.String())
	}
}

func TestReceptiveFieldErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		m    nn.Module
		want string
	}{
		{"uneven adaptive pooling", nn.NewSequential(nn.AdaptiveAvgPool2d{OutputSize: [2]int64{5, 5}}), "not uniform"},
		{"pooling of unknown window", nn.NewSequential(opaquePool{}), "opaquePool"},
		{"a failing forward", nn.NewSequential(conv(t, nn.Conv2dConfig{InChannels: 2, OutChannels: 1, KernelSize: sq(3)})), "tracing"},
	} {
		_, err := ReceptiveField(c.m, 1, 1, 32, 32)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}

func TestReceptiveFieldOfSeedDefaultsToCIFARInput(t *testing.T) {
	f, err := ReceptiveField(newNet(t, "seed"))
	if err != nil {
		t.Fatal(err)
	}
	if f.Max() != 25 || !f.Global {
		t.Errorf("field %+v, want 25 then global pooling", f)
	}
}

func TestCheckRulesHandBuilt(t *testing.T) {
	gap := nn.AdaptiveAvgPool2d{OutputSize: [2]int64{1, 1}}
	bn, err := nn.NewBatchNorm2d(8)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nn.Free(bn) })
	fc, err := nn.NewLinear(3*32*32, 66, true) // 66 * 3,073 = 202,818 parameters
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nn.Free(fc) })
	for _, c := range []struct {
		name   string
		blocks []nn.Module
		values []string // one per rule, in CheckRules' order
		pass   []bool
	}{
		{
			// 3x3 (3), depthwise 3x3/2 (3+2 = 5, jump 2), 3x3
			// (5+2*2 = 9): a depthwise conv followed by a 3x3 is not
			// separable.
			name: "plain",
			blocks: []nn.Module{
				conv(t, nn.Conv2dConfig{InChannels: 3, OutChannels: 8, KernelSize: sq(3)}),
				conv(t, nn.Conv2dConfig{InChannels: 8, OutChannels: 8, KernelSize: sq(3), Stride: sq(2), Groups: 8}),
				conv(t, nn.Conv2dConfig{InChannels: 8, OutChannels: 8, KernelSize: sq(3)}),
				gap,
			},
			values: []string{"0", "1", "0", "0", "1", "3*8*9+8 + 8*1*9+8 + 8*8*9+8", "9"},
			pass:   []bool{true, true, false, false, true, true, false},
		},
		{
			// MaxPool 2x2/2 (2, jump 2); depthwise 3x3 dilation 4
			// (k_eff 9): 2+8*2 = 18, jump 2; a ReLU, then the
			// pointwise 1x1: separable, MobileNet style; BatchNorm,
			// ReLU, a 3x3/2: 18+2*2 = 22. No global pooling.
			name: "max-pooling",
			blocks: []nn.Module{
				MaxPool2d{},
				conv(t, nn.Conv2dConfig{InChannels: 3, OutChannels: 3, KernelSize: sq(3), Dilation: sq(4), Groups: 3}),
				nn.NewSequential(nn.ReLU{}),
				conv(t, nn.Conv2dConfig{InChannels: 3, OutChannels: 8, KernelSize: sq(1)}),
				bn, nn.ReLU{},
				conv(t, nn.Conv2dConfig{InChannels: 8, OutChannels: 8, KernelSize: sq(3), Stride: sq(2)}),
			},
			values: []string{"1", "1", "1", "1", "0", "3*1*9+3 + 3*8+8 + 16 + 8*8*9+8", "22"},
			pass:   []bool{false, true, true, true, false, true, false},
		},
		{
			name:   "too many parameters",
			blocks: []nn.Module{fc},
			values: []string{"0", "0", "0", "0", "0", "202,818", "1"},
			pass:   []bool{true, false, false, false, false, false, false},
		},
	} {
		n := &Net{Name: c.name}
		for i, b := range c.blocks {
			n.Blocks = append(n.Blocks, nn.Child{Name: string(rune('a' + i)), Module: b})
		}
		rules, err := CheckRules(n)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if len(rules) != 7 {
			t.Fatalf("%s: %d rules, want 7", c.name, len(rules))
		}
		c.values[5] = commas(paramsOf(c.values[5]))
		var values []string
		var pass []bool
		for _, r := range rules {
			values = append(values, r.Value)
			pass = append(pass, r.Pass)
		}
		if !slices.Equal(values, c.values) || !slices.Equal(pass, c.pass) {
			t.Errorf("%s:\n got %q %v\nwant %q %v\n%s", c.name, values, pass, c.values, c.pass, FormatRules(rules))
		}
	}
}

// paramsOf evaluates a hand-written parameter count: a number with commas,
// or a sum of products such as "3*8*9+8 + 8*9+8".
func paramsOf(expr string) int64 {
	var sum int64
	for _, term := range strings.Split(strings.ReplaceAll(strings.ReplaceAll(expr, " ", ""), ",", ""), "+") {
		p := int64(1)
		for _, f := range strings.Split(term, "*") {
			var v int64
			for _, c := range f {
				v = v*10 + int64(c-'0')
			}
			p *= v
		}
		sum += p
	}
	return sum
}

func TestFormatRules(t *testing.T) {
	got := FormatRules([]Rule{{"parameters < 200,000", "82,474", true}, {"receptive field > 44", "25", false}})
	want := "  PASS  parameters < 200,000  82,474\n  FAIL  receptive field > 44  25\n"
	if got != want {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
}
