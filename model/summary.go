package model

import (
	"fmt"
	"reflect"
	"strings"

	"gotrain/torch"
	"gotrain/torch/nn"
)

// cifarInput is the input a summary traces: one CIFAR-10 image, (N, C, H, W).
var cifarInput = []int64{1, 3, 32, 32}

// Summary describes a network as torchinfo's summary does, derived from the
// network itself by tracing one forward pass, with the receptive field and
// the seed project's rules added.
type Summary struct {
	Name  string  `json:"name"`  // the network's name ("seed"); empty for a bare module
	Input []int64 `json:"input"` // the traced input shape, (N, C, H, W)
	// Rows has one row per module, in nn.Walk's pre-order (the root first).
	Rows []Row `json:"rows"`

	TotalParams     int64 `json:"total_params"`
	TrainableParams int64 `json:"trainable_params"` // those that require grad
	// MultAdds is the total of the rows' MultAdds, torchinfo's
	// "Total mult-adds".
	MultAdds int64 `json:"mult_adds"`

	// The sizes torchinfo estimates, in bytes: the input tensor; the
	// outputs of the leaf layers that have parameters, twice (forward and
	// gradient); the parameters.
	InputBytes int64 `json:"input_bytes"`
	PassBytes  int64 `json:"pass_bytes"`
	ParamBytes int64 `json:"param_bytes"`

	// Field is the receptive field of the output (see ReceptiveField).
	Field Field `json:"receptive_field"`
	// Rules are the seed project's architecture rules, checked.
	Rules []Rule `json:"rules"`
}

// Row is one module of a summary.
type Row struct {
	Name  string `json:"name"`  // dotted module name, as in state_dict keys ("c1.3.depthwise"); "" for the root
	Type  string `json:"type"`  // Go type name without package or pointer ("Conv2d")
	Depth int    `json:"depth"` // 0 for the root
	// Index numbers the rows of the same depth from 1 across the whole
	// table: torchinfo's "depth-idx" is Depth-Index.
	Index     int  `json:"index"`
	Container bool `json:"container"` // has children
	// Input and Output are the shapes the module was called with and
	// returned in the trace; nil if the trace did not call it.
	Input  []int64 `json:"input_shape"`
	Output []int64 `json:"output_shape"`
	// Params counts the module's own parameters, not its children's.
	Params int64 `json:"params"`
	// Kernel is the (height, width) of a convolution or windowed layer's
	// kernel; nil for other layers.
	Kernel []int64 `json:"kernel,omitempty"`
	// MultAdds follows torchinfo: for each own parameter named "weight" or
	// "bias", its size times N*H_out*W_out in a convolution and times N in
	// any other layer.
	MultAdds int64 `json:"mult_adds"`
	// Field is the receptive field once this module has run.
	Field Field `json:"receptive_field"`

	module   nn.Module
	outBytes int64 // bytes of the output tensor
}

// Label returns the row's first column as torchinfo prints it:
// "├─Sequential: 1-1" at depth 1, "│    └─Conv2d: 2-1" below, the type alone
// for the root.
func (r Row) Label() string {
	if r.Depth == 0 {
		return r.Type
	}
	branch := "├─"
	if r.Depth > 1 {
		branch = "└─"
	}
	return fmt.Sprintf("%s%s%s: %d-%d", strings.Repeat("│    ", r.Depth-1), branch, r.Type, r.Depth, r.Index)
}

// Summarize traces one forward pass of n on a (1, 3, 32, 32) input of zeros
// and returns its summary. The trace runs without gradients, in evaluation
// mode (so that batch normalization leaves its running statistics alone
// and dropout draws no random numbers), inside a scope that frees every
// tensor it makes; n is left in training mode afterwards, the mode a new
// network starts in. The trace uses nn.WithForwardHook, so no other
// goroutine may run a forward pass meanwhile.
func Summarize(n *Net) (*Summary, error) {
	s, err := trace(n, cifarInput)
	if err != nil {
		return nil, fmt.Errorf("model %s: summary: %w", n.Name, err)
	}
	s.Name = n.Name
	return s, nil
}

// trace runs m on zeros of the input shape under a forward hook and
// gathers the summary of m.
func trace(m nn.Module, input []int64) (*Summary, error) {
	s := &Summary{Input: append([]int64(nil), input...)}
	var counters []int
	err := nn.Walk(m, func(name string, depth int, m nn.Module) error {
		for len(counters) <= depth {
			counters = append(counters, 0)
		}
		counters[depth]++
		r := Row{Name: name, Type: typeName(m), Depth: depth, Index: counters[depth], module: m}
		if p, ok := m.(nn.Parent); ok {
			r.Container = len(p.Children()) > 0
		}
		if h, ok := m.(nn.Holder); ok {
			for _, p := range h.Parameters() {
				r.Params += p.Tensor.Numel()
				s.ParamBytes += p.Tensor.Numel() * int64(p.Tensor.DType().Size())
				if p.Tensor.RequiresGrad() {
					s.TrainableParams += p.Tensor.Numel()
				}
			}
		}
		s.TotalParams += r.Params
		w, _, ok, _ := windowOf(m, nil, nil)
		if ok && w.Kernel != [2]int64{} {
			r.Kernel = []int64{w.Kernel[0], w.Kernel[1]}
		}
		s.Rows = append(s.Rows, r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.Rows[0].Index = 0

	post := postOrder(s.Rows)
	matched := make([]bool, len(post))
	field := startField
	var hookErr error
	hook := func(m nn.Module, in, out *torch.Tensor) {
		if hookErr != nil {
			return
		}
		inShape, outShape := in.Shape(), out.Shape()
		w, global, ok, err := windowOf(m, inShape, outShape)
		switch {
		case err != nil:
			hookErr = fmt.Errorf("%s: %w", typeName(m), err)
			return
		case !ok && strings.Contains(typeName(m), "Pool"):
			hookErr = fmt.Errorf("%s: pooling layer of unknown window (implement model.Windowed)", typeName(m))
			return
		case ok && global:
			field.Global = true
		case ok:
			field = field.grow(w)
		}
		// Calls come in post-order (a container reports after its
		// children): the call belongs to the first row not yet called in
		// post-order that holds this module.
		for k, i := range post {
			if !matched[k] && sameModule(s.Rows[i].module, m) {
				matched[k] = true
				r := &s.Rows[i]
				r.Input, r.Output, r.Field = inShape, outShape, field
				r.outBytes = out.Numel() * int64(out.DType().Size())
				break
			}
		}
	}

	nn.SetTraining(m, false)
	defer nn.SetTraining(m, true)
	dtype, dev := torch.Float32, torch.CPU
	if ps := nn.NamedParameters(m); len(ps) > 0 {
		dtype, dev = ps[0].Tensor.DType(), ps[0].Tensor.Device()
	}
	s.InputBytes = numel(input) * int64(dtype.Size())
	err = torch.NoGrad(func() error {
		return torch.WithScope(func() error {
			x, err := torch.Zeros(input, dtype, dev)
			if err != nil {
				return fmt.Errorf("input %v: %w", input, err)
			}
			return nn.WithForwardHook(hook, func() error {
				_, err := nn.Call(m, x)
				return err
			})
		})
	})
	if err == nil {
		err = hookErr
	}
	if err != nil {
		return nil, fmt.Errorf("tracing a forward pass of %v: %w", input, err)
	}
	s.Field = field

	for i := range s.Rows {
		r := &s.Rows[i]
		r.MultAdds = multAdds(r)
		s.MultAdds += r.MultAdds
		if !r.Container && r.Params > 0 {
			s.PassBytes += 2 * r.outBytes
		}
	}
	s.Rules = checkRules(s)
	return s, nil
}

// multAdds is torchinfo's count for one module (calculate_macs).
func multAdds(r *Row) int64 {
	h, ok := r.module.(nn.Holder)
	if !ok || len(r.Output) == 0 {
		return 0
	}
	out := r.Output
	var n int64
	for _, p := range h.Parameters() {
		size := p.Tensor.Numel()
		switch {
		case p.Name == "weight" || p.Name == "bias":
			if strings.Contains(r.Type, "Conv") {
				n += size * out[0] * numel(out[min(2, len(out)):])
			} else {
				n += size * out[0]
			}
		case strings.Contains(p.Name, "weight") || strings.Contains(p.Name, "bias"):
			n += size * numel(out[:min(2, len(out))])
		}
	}
	return n
}

// postOrder returns the indices of pre-order rows in post-order: each
// module after all of its descendants.
func postOrder(rows []Row) []int {
	var out, stack []int
	for i, r := range rows {
		for len(stack) > 0 && rows[stack[len(stack)-1]].Depth >= r.Depth {
			out = append(out, stack[len(stack)-1])
			stack = stack[:len(stack)-1]
		}
		stack = append(stack, i)
	}
	for len(stack) > 0 {
		out = append(out, stack[len(stack)-1])
		stack = stack[:len(stack)-1]
	}
	return out
}

// sameModule reports whether a and b are the same module: the same pointer,
// or for value modules (ReLU{}, AdaptiveAvgPool2d{...}) an equal value of
// the same type.
func sameModule(a, b nn.Module) (same bool) {
	t := reflect.TypeOf(a)
	if t != reflect.TypeOf(b) {
		return false
	}
	if !t.Comparable() {
		return true // values that cannot be compared: the type decides
	}
	defer func() {
		if recover() != nil {
			same = true // a struct holding an uncomparable value
		}
	}()
	return a == b
}

// typeName is the module's type name without package and pointer.
func typeName(m nn.Module) string {
	t := reflect.TypeOf(m)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Name() != "" {
		return t.Name()
	}
	return t.String()
}

func numel(shape []int64) int64 {
	n := int64(1)
	for _, d := range shape {
		n *= d
	}
	return n
}

// Widths of the summary table's columns, torchinfo's for the first three;
// a space follows each.
var columnWidths = []int{40, 25, 25, 15, 15, 15, 10}

// String returns the summary as torchinfo prints it, with columns for
// mult-adds and receptive field added, then the totals, the receptive
// field and the rules table.
func (s *Summary) String() string {
	var b strings.Builder
	width := len(columnWidths) - 1
	for _, w := range columnWidths {
		width += w
	}
	rule := strings.Repeat("=", width) + "\n"
	row := func(cells ...string) {
		var line strings.Builder
		for i, c := range cells {
			line.WriteString(c)
			if i < len(cells)-1 {
				line.WriteString(strings.Repeat(" ", max(columnWidths[i]-len([]rune(c)), 0)+1))
			}
		}
		b.WriteString(strings.TrimRight(line.String(), " ") + "\n")
	}
	b.WriteString(rule)
	row("Layer (type:depth-idx)", "Input Shape", "Output Shape", "Param #", "Kernel Shape", "Mult-Adds", "RF")
	b.WriteString(rule)
	for i, r := range s.Rows {
		label := r.Label()
		if i == 0 && s.Name != "" {
			label = fmt.Sprintf("%s (%s)", r.Type, s.Name)
		}
		rf := "--"
		switch {
		case r.Output == nil:
		case r.Field.Global:
			rf = "global"
		default:
			rf = r.Field.String()
		}
		row(label, shapeString(r.Input), shapeString(r.Output), countOrDashes(r.Params),
			shapeString(r.Kernel), countOrDashes(r.MultAdds), rf)
	}
	b.WriteString(rule)
	fmt.Fprintf(&b, "Total params: %s\n", commas(s.TotalParams))
	fmt.Fprintf(&b, "Trainable params: %s\n", commas(s.TrainableParams))
	fmt.Fprintf(&b, "Non-trainable params: %s\n", commas(s.TotalParams-s.TrainableParams))
	fmt.Fprintf(&b, "Total mult-adds (M): %.2f\n", float64(s.MultAdds)/1e6)
	b.WriteString(rule)
	fmt.Fprintf(&b, "Input size (MB): %.2f\n", float64(s.InputBytes)/1e6)
	fmt.Fprintf(&b, "Forward/backward pass size (MB): %.2f\n", float64(s.PassBytes)/1e6)
	fmt.Fprintf(&b, "Params size (MB): %.2f\n", float64(s.ParamBytes)/1e6)
	fmt.Fprintf(&b, "Estimated Total Size (MB): %.2f\n", float64(s.InputBytes+s.PassBytes+s.ParamBytes)/1e6)
	b.WriteString(rule)
	fmt.Fprintf(&b, "Receptive field: %s", s.Field)
	if s.Field.Global {
		b.WriteString(" (then global average pooling: the whole image)")
	}
	b.WriteString("\n\nRules:\n")
	b.WriteString(FormatRules(s.Rules))
	return b.String()
}

// shapeString formats a shape as torchinfo does, "[1, 3, 32, 32]", or
// "--" for none.
func shapeString(shape []int64) string {
	if shape == nil {
		return "--"
	}
	parts := make([]string, len(shape))
	for i, d := range shape {
		parts[i] = fmt.Sprint(d)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// countOrDashes formats n with thousands separators, or "--" for zero.
func countOrDashes(n int64) string {
	if n == 0 {
		return "--"
	}
	return commas(n)
}

// commas formats n with thousands separators: 82474 -> "82,474".
func commas(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
