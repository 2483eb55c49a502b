package torch

/*
#include "ctorch.h"
*/
import "C"

import "unsafe"

func pair(v [2]int64) *C.int64_t { return (*C.int64_t)(unsafe.Pointer(&v[0])) }

// Conv2dOptions are the hyper-parameters of a 2-D convolution, as in
// torch.nn.functional.conv2d. Zero values mean stride 1, padding 0,
// dilation 1 and one group.
type Conv2dOptions struct {
	Stride, Padding, Dilation [2]int64
	Groups                    int64
}

// WithDefaults returns o with its zero Stride, Dilation and Groups set to
// their defaults, 1.
func (o Conv2dOptions) WithDefaults() Conv2dOptions {
	for i := range 2 {
		if o.Stride[i] == 0 {
			o.Stride[i] = 1
		}
		if o.Dilation[i] == 0 {
			o.Dilation[i] = 1
		}
	}
	if o.Groups == 0 {
		o.Groups = 1
	}
	return o
}

// Conv2d convolves x (N,C,H,W) with weight (O,C/groups,kH,kW) and adds bias
// (O), which may be nil.
func Conv2d(x, weight, bias *Tensor, o Conv2dOptions) (*Tensor, error) {
	o = o.WithDefaults()
	return call("conv2d", func(out *C.ct_tensor) C.ct_error {
		return C.ct_conv2d(x.h, weight.h, optional(bias), pair(o.Stride), pair(o.Padding), pair(o.Dilation), C.int64_t(o.Groups), out)
	}, append([]*Tensor{x, weight}, given(bias)...)...)
}

// BatchNorm normalizes x per channel as torch.nn.functional.batch_norm: with
// batch statistics (updating the running ones in place) when training, with
// the running statistics otherwise. weight, bias and the running tensors may be nil.
func BatchNorm(x, weight, bias, runningMean, runningVar *Tensor, training bool, momentum, eps float64) (*Tensor, error) {
	return call("batch_norm", func(out *C.ct_tensor) C.ct_error {
		return C.ct_batch_norm(x.h, optional(weight), optional(bias), optional(runningMean), optional(runningVar), cbool(training), C.double(momentum), C.double(eps), out)
	}, append([]*Tensor{x}, given(weight, bias, runningMean, runningVar)...)...)
}

// Relu returns max(x, 0).
func Relu(x *Tensor) (*Tensor, error) {
	return call("relu", func(out *C.ct_tensor) C.ct_error { return C.ct_relu(x.h, out) }, x)
}

// Gelu returns x·Φ(x), Φ the standard normal CDF: torch.nn.functional.gelu
// with approximate='none'.
func Gelu(x *Tensor) (*Tensor, error) {
	return call("gelu", func(out *C.ct_tensor) C.ct_error { return C.ct_gelu(x.h, out) }, x)
}

// Dropout zeroes elements with probability p and scales the rest by 1/(1-p)
// when train is true; it returns x's values unchanged otherwise.
func Dropout(x *Tensor, p float64, train bool) (*Tensor, error) {
	return call("dropout", func(out *C.ct_tensor) C.ct_error { return C.ct_dropout(x.h, C.double(p), cbool(train), out) }, x)
}

// AdaptiveAvgPool2d averages x (N,C,H,W) into an output of size (oh, ow).
func AdaptiveAvgPool2d(x *Tensor, oh, ow int64) (*Tensor, error) {
	return call("adaptive_avg_pool2d", func(out *C.ct_tensor) C.ct_error {
		return C.ct_adaptive_avg_pool2d(x.h, C.int64_t(oh), C.int64_t(ow), out)
	}, x)
}

// Linear returns x·weightᵀ + bias; bias may be nil.
func Linear(x, weight, bias *Tensor) (*Tensor, error) {
	return call("linear", func(out *C.ct_tensor) C.ct_error { return C.ct_linear(x.h, weight.h, optional(bias), out) },
		append([]*Tensor{x, weight}, given(bias)...)...)
}

// LogSoftmax returns log(softmax(x)) along dim.
func LogSoftmax(x *Tensor, dim int64) (*Tensor, error) {
	return call("log_softmax", func(out *C.ct_tensor) C.ct_error { return C.ct_log_softmax(x.h, C.int64_t(dim), out) }, x)
}

// Softmax returns softmax(x) along dim.
func Softmax(x *Tensor, dim int64) (*Tensor, error) {
	return call("softmax", func(out *C.ct_tensor) C.ct_error { return C.ct_softmax(x.h, C.int64_t(dim), out) }, x)
}

// Reduction says how a loss combines its per-sample values.
type Reduction int

// Reductions, as PyTorch's reduction= argument.
const (
	ReduceNone Reduction = C.CT_REDUCTION_NONE
	ReduceMean Reduction = C.CT_REDUCTION_MEAN
	ReduceSum  Reduction = C.CT_REDUCTION_SUM
)

// CrossEntropy is torch.nn.functional.cross_entropy of logits x (N,C) and
// int64 class targets (N), with optional label smoothing.
func CrossEntropy(x, target *Tensor, reduction Reduction, labelSmoothing float64) (*Tensor, error) {
	return call("cross_entropy", func(out *C.ct_tensor) C.ct_error {
		return C.ct_cross_entropy(x.h, target.h, C.ct_reduction(reduction), C.double(labelSmoothing), out)
	}, x, target)
}

// Reshape returns x with a new shape (one dimension may be -1).
func (t *Tensor) Reshape(shape ...int64) (*Tensor, error) {
	return call("reshape", func(out *C.ct_tensor) C.ct_error {
		return C.ct_reshape(t.h, shapePtr(shape), C.int(len(shape)), out)
	}, t)
}

// Flatten merges dimensions start..end (inclusive; negative counts from the end).
func (t *Tensor) Flatten(start, end int64) (*Tensor, error) {
	return call("flatten", func(out *C.ct_tensor) C.ct_error { return C.ct_flatten(t.h, C.int64_t(start), C.int64_t(end), out) }, t)
}

// Transpose swaps dimensions d0 and d1.
func (t *Tensor) Transpose(d0, d1 int64) (*Tensor, error) {
	return call("transpose", func(out *C.ct_tensor) C.ct_error { return C.ct_transpose(t.h, C.int64_t(d0), C.int64_t(d1), out) }, t)
}

// Add returns a + b (broadcasting).
func Add(a, b *Tensor) (*Tensor, error) {
	return call("add", func(out *C.ct_tensor) C.ct_error { return C.ct_add(a.h, b.h, 1, out) }, a, b)
}

// Sub returns a - b (broadcasting).
func Sub(a, b *Tensor) (*Tensor, error) {
	return call("sub", func(out *C.ct_tensor) C.ct_error { return C.ct_sub(a.h, b.h, out) }, a, b)
}

// Mul returns a * b elementwise (broadcasting).
func Mul(a, b *Tensor) (*Tensor, error) {
	return call("mul", func(out *C.ct_tensor) C.ct_error { return C.ct_mul(a.h, b.h, out) }, a, b)
}

// Div returns a / b elementwise (broadcasting).
func Div(a, b *Tensor) (*Tensor, error) {
	return call("div", func(out *C.ct_tensor) C.ct_error { return C.ct_div(a.h, b.h, out) }, a, b)
}

// Matmul is torch.matmul.
func Matmul(a, b *Tensor) (*Tensor, error) {
	return call("matmul", func(out *C.ct_tensor) C.ct_error { return C.ct_matmul(a.h, b.h, out) }, a, b)
}

// AddScalar returns t + s.
func (t *Tensor) AddScalar(s float64) (*Tensor, error) {
	return call("add", func(out *C.ct_tensor) C.ct_error { return C.ct_add_scalar(t.h, C.double(s), out) }, t)
}

// MulScalar returns t * s.
func (t *Tensor) MulScalar(s float64) (*Tensor, error) {
	return call("mul", func(out *C.ct_tensor) C.ct_error { return C.ct_mul_scalar(t.h, C.double(s), out) }, t)
}

// Pow returns t raised to the power s elementwise.
func (t *Tensor) Pow(s float64) (*Tensor, error) {
	return call("pow", func(out *C.ct_tensor) C.ct_error { return C.ct_pow_scalar(t.h, C.double(s), out) }, t)
}

func unary(name string, op C.ct_unary_op, t *Tensor) (*Tensor, error) {
	return call(name, func(out *C.ct_tensor) C.ct_error { return C.ct_unary(t.h, op, out) }, t)
}

// Neg returns -t.
func (t *Tensor) Neg() (*Tensor, error) { return unary("neg", C.CT_UNARY_NEG, t) }

// Exp returns e**t elementwise.
func (t *Tensor) Exp() (*Tensor, error) { return unary("exp", C.CT_UNARY_EXP, t) }

// Log returns the natural logarithm elementwise.
func (t *Tensor) Log() (*Tensor, error) { return unary("log", C.CT_UNARY_LOG, t) }

// Sqrt returns the square root elementwise.
func (t *Tensor) Sqrt() (*Tensor, error) { return unary("sqrt", C.CT_UNARY_SQRT, t) }

// Abs returns |t| elementwise.
func (t *Tensor) Abs() (*Tensor, error) { return unary("abs", C.CT_UNARY_ABS, t) }

func compare(name string, op C.ct_compare_op, a, b *Tensor) (*Tensor, error) {
	return call(name, func(out *C.ct_tensor) C.ct_error { return C.ct_compare(a.h, b.h, op, out) }, a, b)
}

// Eq returns a bool tensor of a == b elementwise (broadcasting).
func Eq(a, b *Tensor) (*Tensor, error) { return compare("eq", C.CT_COMPARE_EQ, a, b) }

// Ne returns a != b elementwise.
func Ne(a, b *Tensor) (*Tensor, error) { return compare("ne", C.CT_COMPARE_NE, a, b) }

// Lt returns a < b elementwise.
func Lt(a, b *Tensor) (*Tensor, error) { return compare("lt", C.CT_COMPARE_LT, a, b) }

// Le returns a <= b elementwise.
func Le(a, b *Tensor) (*Tensor, error) { return compare("le", C.CT_COMPARE_LE, a, b) }

// Gt returns a > b elementwise.
func Gt(a, b *Tensor) (*Tensor, error) { return compare("gt", C.CT_COMPARE_GT, a, b) }

// Ge returns a >= b elementwise.
func Ge(a, b *Tensor) (*Tensor, error) { return compare("ge", C.CT_COMPARE_GE, a, b) }

// Sum returns the sum of all elements as a 0-dim tensor (bool and integer
// inputs sum to int64, as in PyTorch).
func (t *Tensor) Sum() (*Tensor, error) {
	return call("sum", func(out *C.ct_tensor) C.ct_error { return C.ct_sum(t.h, out) }, t)
}

// Mean returns the mean of all elements as a 0-dim tensor.
func (t *Tensor) Mean() (*Tensor, error) {
	return call("mean", func(out *C.ct_tensor) C.ct_error { return C.ct_mean(t.h, out) }, t)
}

// SumDim sums along dim.
func (t *Tensor) SumDim(dim int64, keepdim bool) (*Tensor, error) {
	return call("sum", func(out *C.ct_tensor) C.ct_error { return C.ct_sum_dim(t.h, C.int64_t(dim), cbool(keepdim), out) }, t)
}

// MeanDim averages along dim.
func (t *Tensor) MeanDim(dim int64, keepdim bool) (*Tensor, error) {
	return call("mean", func(out *C.ct_tensor) C.ct_error { return C.ct_mean_dim(t.h, C.int64_t(dim), cbool(keepdim), out) }, t)
}

// Argmax returns the int64 indices of the maxima along dim.
func (t *Tensor) Argmax(dim int64, keepdim bool) (*Tensor, error) {
	return call("argmax", func(out *C.ct_tensor) C.ct_error { return C.ct_argmax(t.h, C.int64_t(dim), cbool(keepdim), out) }, t)
}

// TopK returns the k largest values along dim and their int64 indices.
func (t *Tensor) TopK(k, dim int64) (values, indices *Tensor, err error) {
	if _, err := t.handle("topk"); err != nil {
		return nil, nil, err
	}
	var v, i C.ct_tensor
	if err := goError("topk", C.ct_topk(t.h, C.int64_t(k), C.int64_t(dim), &v, &i)); err != nil {
		return nil, nil, err
	}
	return wrap(v), wrap(i), nil
}

func inplace(op string, f func() C.ct_error, operands ...*Tensor) error {
	for _, o := range operands {
		if _, err := o.handle(op); err != nil {
			return err
		}
	}
	return goError(op, f())
}

// Add_ adds alpha*other to t in place.
func (t *Tensor) Add_(other *Tensor, alpha float64) error {
	return inplace("add_", func() C.ct_error { return C.ct_add_(t.h, other.h, C.double(alpha)) }, t, other)
}

// MulScalar_ multiplies t by s in place.
func (t *Tensor) MulScalar_(s float64) error {
	return inplace("mul_", func() C.ct_error { return C.ct_mul_scalar_(t.h, C.double(s)) }, t)
}

// Zero_ fills t with zeros in place.
func (t *Tensor) Zero_() error {
	return inplace("zero_", func() C.ct_error { return C.ct_zero_(t.h) }, t)
}

// Copy_ copies src's values into t in place (broadcasting, converting dtype and device).
func (t *Tensor) Copy_(src *Tensor) error {
	return inplace("copy_", func() C.ct_error { return C.ct_copy_(t.h, src.h) }, t, src)
}

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

// AddScaled returns a + alpha*b (broadcasting), like torch.add(a, b, alpha=alpha).
func AddScaled(a, b *Tensor, alpha float64) (*Tensor, error) {
	return call("add", func(out *C.ct_tensor) C.ct_error { return C.ct_add(a.h, b.h, C.double(alpha), out) }, a, b)
}

// AddScalar_ adds s to t in place.
func (t *Tensor) AddScalar_(s float64) error {
	return inplace("add_", func() C.ct_error { return C.ct_add_scalar_(t.h, C.double(s)) }, t)
}

// Fill_ sets every element of t to v in place.
func (t *Tensor) Fill_(v float64) error {
	return inplace("fill_", func() C.ct_error { return C.ct_fill_(t.h, C.double(v)) }, t)
}

// Uniform_ fills t in place with samples from U(lo, hi) drawn from
// libtorch's generator, exactly as PyTorch's Tensor.uniform_.
func (t *Tensor) Uniform_(lo, hi float64) error {
	return inplace("uniform_", func() C.ct_error { return C.ct_uniform_(t.h, C.double(lo), C.double(hi)) }, t)
}

// SetData replaces t's data (values, dtype, device) with src's while t keeps
// its identity and autograd status, like `param.data = src` in PyTorch.
func (t *Tensor) SetData(src *Tensor) error {
	return inplace("set_data", func() C.ct_error { return C.ct_tensor_set_data(t.h, src.h) }, t, src)
}
