package model

import (
	"encoding/json"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gotrain/torch"
	"gotrain/torch/nn"
)

// seedTable is the seed README's torchinfo table (its first five columns),
// transcribed verbatim: the independent truth for the seed network.
const seedTable = `
CustomCNN                                [1, 3, 32, 32]            [1, 10]                   --                        --
├─Sequential: 1-1                        [1, 3, 32, 32]            [1, 32, 32, 32]           --                        --
│    └─Conv2d: 2-1                       [1, 3, 32, 32]            [1, 16, 32, 32]           448                       [3, 3]
│    └─BatchNorm2d: 2-2                  [1, 16, 32, 32]           [1, 16, 32, 32]           32                        --
│    └─ReLU: 2-3                         [1, 16, 32, 32]           [1, 16, 32, 32]           --                        --
│    └─DepthwiseSeparableConv: 2-4       [1, 16, 32, 32]           [1, 32, 32, 32]           --                        --
│    │    └─Conv2d: 3-1                  [1, 16, 32, 32]           [1, 16, 32, 32]           160                       [3, 3]
│    │    └─Conv2d: 3-2                  [1, 16, 32, 32]           [1, 32, 32, 32]           544                       [1, 1]
│    └─BatchNorm2d: 2-5                  [1, 32, 32, 32]           [1, 32, 32, 32]           64                        --
│    └─ReLU: 2-6                         [1, 32, 32, 32]           [1, 32, 32, 32]           --                        --
├─Sequential: 1-2                        [1, 32, 32, 32]           [1, 48, 16, 16]           --                        --
│    └─DepthwiseSeparableConv: 2-7       [1, 32, 32, 32]           [1, 48, 32, 32]           --                        --
│    │    └─Conv2d: 3-3                  [1, 32, 32, 32]           [1, 32, 32, 32]           320                       [3, 3]
│    │    └─Conv2d: 3-4                  [1, 32, 32, 32]           [1, 48, 32, 32]           1,584                     [1, 1]
│    └─BatchNorm2d: 2-8                  [1, 48, 32, 32]           [1, 48, 32, 32]           96                        --
│    └─ReLU: 2-9                         [1, 48, 32, 32]           [1, 48, 32, 32]           --                        --
│    └─Conv2d: 2-10                      [1, 48, 32, 32]           [1, 48, 16, 16]           20,784                    [3, 3]
│    └─BatchNorm2d: 2-11                 [1, 48, 16, 16]           [1, 48, 16, 16]           96                        --
│    └─ReLU: 2-12                        [1, 48, 16, 16]           [1, 48, 16, 16]           --                        --
├─Sequential: 1-3                        [1, 48, 16, 16]           [1, 64, 16, 16]           --                        --
│    └─DepthwiseSeparableConv: 2-13      [1, 48, 16, 16]           [1, 64, 16, 16]           --                        --
│    │    └─Conv2d: 3-5                  [1, 48, 16, 16]           [1, 48, 16, 16]           480                       [3, 3]
│    │    └─Conv2d: 3-6                  [1, 48, 16, 16]           [1, 64, 16, 16]           3,136                     [1, 1]
│    └─BatchNorm2d: 2-14                 [1, 64, 16, 16]           [1, 64, 16, 16]           128                       --
│    └─ReLU: 2-15                        [1, 64, 16, 16]           [1, 64, 16, 16]           --                        --
│    └─Conv2d: 2-16                      [1, 64, 16, 16]           [1, 64, 16, 16]           36,928                    [3, 3]
│    └─BatchNorm2d: 2-17                 [1, 64, 16, 16]           [1, 64, 16, 16]           128                       --
│    └─ReLU: 2-18                        [1, 64, 16, 16]           [1, 64, 16, 16]           --                        --
├─Sequential: 1-4                        [1, 64, 16, 16]           [1, 96, 8, 8]             --                        --
│    └─DepthwiseSeparableConv: 2-19      [1, 64, 16, 16]           [1, 96, 8, 8]             --                        --
│    │    └─Conv2d: 3-7                  [1, 64, 16, 16]           [1, 64, 8, 8]             640                       [3, 3]
│    │    └─Conv2d: 3-8                  [1, 64, 8, 8]             [1, 96, 8, 8]             6,240                     [1, 1]
│    └─BatchNorm2d: 2-20                 [1, 96, 8, 8]             [1, 96, 8, 8]             192                       --
│    └─ReLU: 2-21                        [1, 96, 8, 8]             [1, 96, 8, 8]             --                        --
│    └─Conv2d: 2-22                      [1, 96, 8, 8]             [1, 96, 8, 8]             9,312                     [1, 1]
│    └─BatchNorm2d: 2-23                 [1, 96, 8, 8]             [1, 96, 8, 8]             192                       --
│    └─ReLU: 2-24                        [1, 96, 8, 8]             [1, 96, 8, 8]             --                        --
├─Sequential: 1-5                        [1, 96, 8, 8]             [1, 96, 1, 1]             --                        --
│    └─AdaptiveAvgPool2d: 2-25           [1, 96, 8, 8]             [1, 96, 1, 1]             --                        --
│    └─Dropout: 2-26                     [1, 96, 1, 1]             [1, 96, 1, 1]             --                        --
├─Linear: 1-6                            [1, 96]                   [1, 10]                   970                       --
`

func newNet(t *testing.T, name string) *Net {
	t.Helper()
	n, err := New(name, Options{Dropout: 0.05})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nn.Free(n) })
	return n
}

func summarize(t *testing.T, n *Net) *Summary {
	t.Helper()
	s, err := Summarize(n)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSummarySeedMatchesTorchinfo(t *testing.T) {
	s := summarize(t, newNet(t, "seed"))
	lines := strings.Split(strings.TrimSpace(seedTable), "\n")
	if len(s.Rows) != len(lines) {
		t.Fatalf("%d rows, the seed's torchinfo table has %d", len(s.Rows), len(lines))
	}
	cols := regexp.MustCompile(`\s{2,}`)
	for i, line := range lines {
		// The first column is 40 characters wide and holds runs of spaces.
		label := []rune(line)[:40]
		rest := string([]rune(line)[40:])
		want := append([]string{strings.TrimSpace(string(label))}, cols.Split(strings.TrimSpace(rest), -1)...)
		r := s.Rows[i]
		got := []string{r.Label(), shapeString(r.Input), shapeString(r.Output), countOrDashes(r.Params), shapeString(r.Kernel)}
		if i == 0 {
			got[0] = want[0] // torchinfo names the Python class
		}
		if !slices.Equal(got, want) {
			t.Errorf("row %d (%s):\n got %q\nwant %q", i, r.Name, got, want)
		}
	}
	if got, want := s.Rows[0].Type, "Net"; got != want {
		t.Errorf("root type %q, want %q", got, want)
	}
	if s.Rows[3].Name != "c1.1" || s.Rows[6].Name != "c1.3.depthwise" {
		t.Errorf("names %q, %q; want c1.1, c1.3.depthwise", s.Rows[3].Name, s.Rows[6].Name)
	}

	if s.TotalParams != 82474 || s.TrainableParams != 82474 {
		t.Errorf("params %d (trainable %d), want 82,474 both", s.TotalParams, s.TrainableParams)
	}
	// torchinfo's mult-adds, by hand: conv weight+bias params times
	// N*H_out*W_out, other layers' params times N = 1.
	//   32x32 (1024): conv 448, dw 160, pw 544, dw 320, pw 1,584 = 3,056 * 1024 = 3,129,344
	//   16x16 (256):  conv 20,784, dw 480, pw 3,136, conv 36,928 = 61,328 * 256 = 15,699,968
	//   8x8 (64):     dw 640, pw 6,240, conv 9,312 = 16,192 * 64 = 1,036,288
	//   BatchNorm: 32+64+96+96+128+128+192+192 = 928; Linear: 970
	//   total 3,129,344 + 15,699,968 + 1,036,288 + 928 + 970 = 19,867,498
	if s.MultAdds != 19_867_498 {
		t.Errorf("mult-adds %d, want 19,867,498", s.MultAdds)
	}
	if r := s.Rows[16]; r.Name != "c2.3" || r.MultAdds != 20784*256 {
		t.Errorf("row 16 %s: mult-adds %d, want c2.3 with 20,784*256", r.Name, r.MultAdds)
	}
	if r := s.Rows[len(s.Rows)-1]; r.MultAdds != 970 {
		t.Errorf("Linear mult-adds %d, want 970", r.MultAdds)
	}
	// torchinfo's sizes, by hand, at 4 bytes an element: the input 3*32*32;
	// the parameters 82,474; twice the outputs of the leaf layers with
	// parameters: 32x32: 16*3 + 32*3 + 48*2 = 240 maps of 1024;
	// 16x16: 48*3 + 64*4 = 400 maps of 256; 8x8: 64 + 96*4 = 448 maps of
	// 64; the Linear's 10: (245,760 + 102,400 + 28,672 + 10) * 4 * 2.
	if s.InputBytes != 12288 || s.ParamBytes != 329896 || s.PassBytes != 3014736 {
		t.Errorf("bytes: input %d, params %d, pass %d; want 12,288, 329,896, 3,014,736", s.InputBytes, s.ParamBytes, s.PassBytes)
	}

	// Receptive field, by hand (r += (k_eff-1)*jump; jump *= stride):
	// c1: conv3 3, depthwise3 5 (1x1s add nothing); c2: depthwise3 7,
	// conv3/2 9, jump 2; c3: depthwise3 13, conv3 dilation 2 (k_eff 5)
	// 13+4*2 = 21; c4: depthwise3/2 21+2*2 = 25, jump 4. (The seed README
	// claims 47, adding the fields instead of following the jumps.)
	wantRF := map[string]int64{"c1.0": 3, "c1": 5, "c2.0": 7, "c2": 9, "c3.0": 13, "c3": 21, "c4.0.depthwise": 25, "c4": 25}
	for _, r := range s.Rows {
		if want, ok := wantRF[r.Name]; ok && (r.Field.Size != [2]int64{want, want} || r.Field.Global) {
			t.Errorf("%s: receptive field %+v, want %d", r.Name, r.Field, want)
		}
		afterGAP := strings.HasPrefix(r.Name, "gap") || r.Name == "fc" || r.Name == ""
		if afterGAP != r.Field.Global {
			t.Errorf("%s: global %v", r.Name, r.Field.Global)
		}
	}
	if want := (Field{Size: [2]int64{25, 25}, Jump: [2]int64{4, 4}, Global: true}); s.Field != want {
		t.Errorf("field %+v, want %+v", s.Field, want)
	}

	wantRules := []Rule{
		{"max-pooling layers = 0", "0", true},
		{"strided convolutions > 0", "2", true}, // c2.3 and c4.0.depthwise
		{"dilated convolutions > 0", "1", true},
		{"depthwise-separable convolutions > 0", "4", true},
		{"global average pooling layers > 0", "1", true},
		{"parameters < 200,000", "82,474", true},
		{"receptive field > 44", "25", false},
	}
	if !slices.Equal(s.Rules, wantRules) {
		t.Errorf("rules:\n got %+v\nwant %+v", s.Rules, wantRules)
	}

	text := s.String()
	for _, want := range []string{
		"Net (seed)", "│    │    └─Conv2d: 3-8", "Total params: 82,474", "Trainable params: 82,474",
		"Total mult-adds (M): 19.87", "Input size (MB): 0.01", "Forward/backward pass size (MB): 3.01",
		"Params size (MB): 0.33", "Estimated Total Size (MB): 3.36", "Receptive field: 25",
		"20,784", "5,320,704", // c2.3's params and mult-adds
		"PASS  parameters < 200,000", "FAIL  receptive field > 44",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("summary text lacks %q:\n%s", want, text)
		}
	}
	// The table lines up as torchinfo's: label, input and output shape
	// columns 41, 26 and 26 characters wide.
	var tableRows []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, "├─") || strings.HasPrefix(l, "│") {
			tableRows = append(tableRows, l)
		}
	}
	if len(tableRows) != len(lines)-1 {
		t.Fatalf("%d table rows below the root, want %d:\n%s", len(tableRows), len(lines)-1, text)
	}
	for i, l := range tableRows {
		if got, want := string([]rune(l)[:41+26+26]), string([]rune(lines[i+1])[:41+26+26]); got != want {
			t.Errorf("table row %d:\n got %q\nwant %q", i+1, got, want)
		}
	}
	if _, err := json.Marshal(s); err != nil {
		t.Errorf("JSON: %v", err)
	}
}

// TestSummarySepNets checks sepnet and sepres, which share their layer
// plan (sepres adds residual connections, whose identity branch leaves
// the receptive field as it is).
func TestSummarySepNets(t *testing.T) {
	for _, name := range []string{Default, "sepres"} {
		t.Run(name, func(t *testing.T) { checkSepNetSummary(t, newNet(t, name)) })
	}
}

func checkSepNetSummary(t *testing.T, n *Net) {
	s := summarize(t, n)
	walked := 0
	_ = nn.Walk(n, func(string, int, nn.Module) error { walked++; return nil })
	if len(s.Rows) != walked {
		t.Errorf("%d rows, nn.Walk visits %d modules", len(s.Rows), walked)
	}
	for _, r := range s.Rows {
		if r.Output == nil {
			t.Errorf("%s (%s) was not traced", r.Name, r.Type)
		}
	}
	// By hand: as the seed up to c3 (21, jump 2); c4: depthwise3/2
	// 21+2*2 = 25, jump 4, then three depthwise3: 25+3*2*4 = 49.
	if s.Field.Size != [2]int64{49, 49} || s.Field.Jump != [2]int64{4, 4} {
		t.Errorf("field %+v, want 49 with jump 4", s.Field)
	}
	for _, r := range s.Rules {
		if !r.Pass {
			t.Errorf("rule %q fails with %s", r.Name, r.Value)
		}
	}
	if s.TotalParams >= MaxParams || s.TotalParams != nn.NumParameters(n) {
		t.Errorf("params %d (nn.NumParameters %d)", s.TotalParams, nn.NumParameters(n))
	}
	rules, err := CheckRules(n)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rules, s.Rules) {
		t.Errorf("CheckRules %+v, Summarize's %+v", rules, s.Rules)
	}
}

// TestSummaryMatchesPyTorch compares, for every network, every module's
// own parameter count and output shape with its PyTorch twin's
// (scripts/models.py) traced by forward hooks.
func TestSummaryMatchesPyTorch(t *testing.T) {
	needTorch(t)
	const script = `
import json, sys, torch
sys.path.insert(0, "../scripts")
import models
net = models.NETWORKS[sys.argv[1]]().eval()
out = {}
for name, m in net.named_modules():
    own = sum(p.numel() for p in m.parameters(recurse=False))
    m.register_forward_hook(lambda m, i, o, name=name, own=own: out.__setitem__(name, [own, list(o.shape)]))
with torch.no_grad():
    net(torch.zeros(1, 3, 32, 32))
print(json.dumps(out))
`
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			cmd := exec.Command(python, "-c", script, name)
			raw, err := cmd.Output()
			if err != nil {
				t.Fatalf("%s: %v", python, err)
			}
			var want map[string][2]json.RawMessage
			if err := json.Unmarshal(raw, &want); err != nil {
				t.Fatalf("PyTorch's output %q: %v", raw, err)
			}
			s := summarize(t, newNet(t, name))
			if len(s.Rows) != len(want) {
				t.Errorf("%d rows, PyTorch has %d modules", len(s.Rows), len(want))
			}
			for _, r := range s.Rows {
				w, ok := want[r.Name]
				if !ok {
					t.Errorf("%q: no such module in PyTorch", r.Name)
					continue
				}
				var params int64
				var shape []int64
				if json.Unmarshal(w[0], &params) != nil || json.Unmarshal(w[1], &shape) != nil {
					t.Fatalf("PyTorch's row %s", w)
				}
				if r.Params != params || !slices.Equal(r.Output, shape) {
					t.Errorf("%q: params %d, output %v; PyTorch %d, %v", r.Name, r.Params, r.Output, params, shape)
				}
			}
		})
	}
}

// TestSummaryLeavesNetAlone checks that the trace frees its tensors, runs
// in evaluation mode (batch norm counts no batch) and leaves the network
// in training mode.
func TestSummaryLeavesNetAlone(t *testing.T) {
	n := newNet(t, "seed")
	bn := n.Blocks[0].Module.(*nn.Sequential).Layers[1].(*nn.BatchNorm2d)
	live := torch.LiveTensors()
	summarize(t, n)
	if got := torch.LiveTensors(); got != live {
		t.Errorf("live tensors %d after Summarize, %d before", got, live)
	}
	if c, err := bn.NumBatchesTracked.ItemInt64(); err != nil || c != 0 {
		t.Errorf("num_batches_tracked %d (%v) after Summarize, want 0", c, err)
	}
	if !torch.IsGradEnabled() {
		t.Error("grad mode left off")
	}
	err := torch.WithScope(func() error {
		x, err := torch.Zeros([]int64{2, 3, 32, 32}, torch.Float32, torch.CPU)
		if err != nil {
			return err
		}
		_, err = n.Forward(x)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if c, err := bn.NumBatchesTracked.ItemInt64(); err != nil || c != 1 {
		t.Errorf("num_batches_tracked %d (%v) after a forward, want 1 (training mode)", c, err)
	}
}

func TestCommas(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 7: "7", 970: "970", 1584: "1,584", 82474: "82,474", 19867498: "19,867,498", -1234: "-1,234"} {
		if got := commas(n); got != want {
			t.Errorf("commas(%d) = %q, want %q", n, got, want)
		}
	}
}
