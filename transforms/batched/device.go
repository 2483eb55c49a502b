package batched

import (
	"fmt"

	"gotrain/torch"
)

// Fixed-point constants of OpenCV's warpAffine, as in transforms.
const (
	interBits  = 5 // source positions in 1/32 pixel
	abScale    = 1 << 10
	roundDelta = abScale >> interBits >> 1
	coefScale  = 1 << 15 // bilinear weights sum to this
)

// ops chains tensor ops, keeping the first error: after one, every method
// returns nil without calling libtorch, and the caller checks err once.
type ops struct{ err error }

func (o *ops) do(t *torch.Tensor, err error) *torch.Tensor {
	if o.err != nil {
		return nil
	}
	if err != nil {
		o.err = err
		return nil
	}
	return t
}

func (o *ops) ok() bool { return o.err == nil }

func (o *ops) add(a, b *torch.Tensor) *torch.Tensor {
	if !o.ok() {
		return nil
	}
	return o.do(torch.Add(a, b))
}

func (o *ops) sub(a, b *torch.Tensor) *torch.Tensor {
	if !o.ok() {
		return nil
	}
	return o.do(torch.Sub(a, b))
}

func (o *ops) mul(a, b *torch.Tensor) *torch.Tensor {
	if !o.ok() {
		return nil
	}
	return o.do(torch.Mul(a, b))
}

func (o *ops) div(a, b *torch.Tensor) *torch.Tensor {
	if !o.ok() {
		return nil
	}
	return o.do(torch.Div(a, b))
}

func (o *ops) addS(a *torch.Tensor, s float64) *torch.Tensor {
	if !o.ok() {
		return nil
	}
	return o.do(a.AddScalar(s))
}

// mulS multiplies by s; exact for the powers of two it is used with, and
// rounded once in the tensor's dtype otherwise.
func (o *ops) mulS(a *torch.Tensor, s float64) *torch.Tensor {
	if !o.ok() {
		return nil
	}
	return o.do(a.MulScalar(s))
}

func (o *ops) floor(a *torch.Tensor) *torch.Tensor {
	if !o.ok() {
		return nil
	}
	return o.do(a.Floor())
}

func (o *ops) round(a *torch.Tensor) *torch.Tensor {
	if !o.ok() {
		return nil
	}
	return o.do(a.Round())
}

func (o *ops) clamp(a *torch.Tensor, lo, hi float64) *torch.Tensor {
	if !o.ok() {
		return nil
	}
	return o.do(a.Clamp(lo, hi))
}

func (o *ops) where(c, a, b *torch.Tensor) *torch.Tensor {
	if !o.ok() {
		return nil
	}
	return o.do(torch.Where(c, a, b))
}

func (o *ops) cmp(f func(a, b *torch.Tensor) (*torch.Tensor, error), a, b *torch.Tensor) *torch.Tensor {
	if !o.ok() {
		return nil
	}
	return o.do(f(a, b))
}

func (o *ops) max(a, b *torch.Tensor) *torch.Tensor { return o.cmp(torch.Maximum, a, b) }
func (o *ops) min(a, b *torch.Tensor) *torch.Tensor { return o.cmp(torch.Minimum, a, b) }

func (o *ops) reshape(a *torch.Tensor, shape ...int64) *torch.Tensor {
	if !o.ok() {
		return nil
	}
	return o.do(a.Reshape(shape...))
}

func (o *ops) dtype(a *torch.Tensor, d torch.DType) *torch.Tensor {
	if !o.ok() {
		return nil
	}
	return o.do(a.ToDType(d))
}

func (o *ops) sel(a *torch.Tensor, dim, i int64) *torch.Tensor {
	if !o.ok() {
		return nil
	}
	return o.do(a.Select(dim, i))
}

// gather returns table's rows at the positions pos (float64 integers of any shape).
func (o *ops) gather(table, pos *torch.Tensor) *torch.Tensor {
	idx := o.dtype(o.reshape(pos, -1), torch.Int64)
	if !o.ok() {
		return nil
	}
	return o.do(table.IndexSelect(0, idx))
}

// floorDiv is floor(a / 2^k) for the exact float64 integers a: an
// arithmetic right shift.
func (o *ops) floorDiv(a *torch.Tensor, pow2 float64) *torch.Tensor {
	return o.floor(o.mulS(a, 1/pow2))
}

// reflect101 maps integer positions p (float64) into [0, n) as
// BORDER_REFLECT_101 does (gfedcb|abcdefgh|gfedcba), for any p: the
// reflection has period 2(n-1), given as the scalar tensor period, and the
// quotients of these small integers by it are exact where they are integers.
func (o *ops) reflect101(p *torch.Tensor, n int, period *torch.Tensor, dev torch.Device) *torch.Tensor {
	m := float64(2 * (n - 1))
	q := o.sub(p, o.mulS(o.floor(o.div(p, period)), m)) // in [0, m)
	over := o.cmp(torch.Gt, q, o.do(torch.Full([]int64{}, float64(n-1), torch.Float64, dev)))
	return o.where(over, o.addS(o.mulS(q, -1), m), q)
}

// Batch returns the batch of the images at the indices idx, augmented with
// params (one per image, from Draw): x, float32 N×3×H×W, normalized, and y,
// the labels, int64 [N], both on the device and made in the caller's
// current torch.Scope, like the result of any op. The pixels are those the
// CPU pipeline computes with the same parameters, bit for bit.
//
// Batch copies one small parameter tensor to the device and queues device
// ops; it never waits for the device.
func (a *Augmenter) Batch(idx []int, params []Params) (x, y *torch.Tensor, err error) {
	if len(a.consts) == 0 {
		return nil, nil, fmt.Errorf("batched: Batch on a closed Augmenter")
	}
	rows, err := a.rows(idx, params)
	if err != nil {
		return nil, nil, fmt.Errorf("batched: Batch: %w", err)
	}
	x, y, err = a.batch(rows, len(idx))
	if err != nil {
		return nil, nil, fmt.Errorf("batched: Batch: %w", err)
	}
	return x, y, nil
}

// batch runs the device stages in a scope of their own, so that the
// intermediates go as soon as the batch is made, and hands x and y to the
// caller's scope.
func (a *Augmenter) batch(rows []float64, n int) (x, y *torch.Tensor, err error) {
	var xk, yk *torch.Tensor
	err = func() error {
		s := torch.NewScope()
		defer s.Close()
		o := &ops{}
		P := o.upload(rows, n, a.cols, a.dev)
		col := func(c int, shape ...int64) *torch.Tensor { return o.reshape(o.sel(P, 1, int64(c)), shape...) }
		idx := o.dtype(o.sel(P, 1, colIndex), torch.Int64)
		if !o.ok() {
			return o.err
		}
		imgs := o.do(a.images.IndexSelect(0, idx))
		labels := o.do(a.labels.IndexSelect(0, idx))
		v := a.warp(o, imgs, col, n)
		v = a.dropout(o, v, col, n)
		v = a.brightnessContrast(o, v, col, n)
		v = a.shiftHSV(o, v, col, n)
		out := a.normalize(o, v)
		if !o.ok() {
			return o.err
		}
		xk, yk = torch.Keep(out), torch.Keep(labels)
		return nil
	}()
	if err != nil {
		return nil, nil, err
	}
	// New handles on the same data, made in the caller's scope.
	defer xk.Free()
	defer yk.Free()
	if x, err = xk.Detach(); err != nil {
		return nil, nil, err
	}
	if y, err = yk.Detach(); err != nil {
		x.Free()
		return nil, nil, err
	}
	return x, y, nil
}

// upload copies the parameter rows to dev: the one host-to-device copy of a
// batch, asynchronous from pinned memory on CUDA.
func (o *ops) upload(rows []float64, n, cols int, dev torch.Device) *torch.Tensor {
	if dev.Type == torch.CPUType {
		return o.do(torch.FromSlice(rows, int64(n), int64(cols)))
	}
	host := o.do(torch.FromSlicePinned(rows, int64(n), int64(cols)))
	if !o.ok() {
		return nil
	}
	return o.do(host.To(dev, true))
}

// warp flips and warps the uint8 images N×H×W×3 as transforms.HFlip and
// transforms.WarpAffine do (RandomCrop's whole-pixel moves are warps
// too), with identity matrices for the images that ShiftScaleRotate
// skips (which the fixed-point arithmetic reproduces exactly), and returns
// float64 N×H×W×3 holding the 8-bit results.
func (a *Augmenter) warp(o *ops, imgs *torch.Tensor, col func(int, ...int64) *torch.Tensor, n int) *torch.Tensor {
	N, H, W := int64(n), int64(a.h), int64(a.w)
	if a.pl.flip == nil && a.pl.crop == nil && a.pl.ssr == nil {
		return o.dtype(imgs, torch.Float64)
	}
	var inv [6]*torch.Tensor
	for i := range inv {
		inv[i] = col(colInv+i, N, 1)
	}
	// The per-column and per-row terms, rounded to 1/1024 pixel as
	// WarpAffine does: round(inv0*x*1024) and round((inv1*y + inv2)*1024) + 16.
	ad := o.round(o.mulS(o.mul(inv[0], a.xs), abScale))
	bd := o.round(o.mulS(o.mul(inv[3], a.xs), abScale))
	x0 := o.addS(o.round(o.mulS(o.add(o.mul(inv[1], a.ys), inv[2]), abScale)), roundDelta)
	y0 := o.addS(o.round(o.mulS(o.add(o.mul(inv[4], a.ys), inv[5]), abScale)), roundDelta)
	// Source positions in 1/32 pixel: X = (x0 + ad) >> 5, Y = (y0 + bd) >> 5.
	X := o.floorDiv(o.add(o.reshape(x0, N, H, 1), o.reshape(ad, N, 1, W)), abScale>>interBits)
	Y := o.floorDiv(o.add(o.reshape(y0, N, H, 1), o.reshape(bd, N, 1, W)), abScale>>interBits)
	sx, sy := o.floorDiv(X, 1<<interBits), o.floorDiv(Y, 1<<interBits)
	fx := o.sub(X, o.mulS(sx, 1<<interBits))
	fy := o.sub(Y, o.mulS(sy, 1<<interBits))

	xa, xb := o.reflect101(sx, a.w, a.period, a.dev), o.reflect101(o.addS(sx, 1), a.w, a.period, a.dev)
	ya, yb := o.reflect101(sy, a.h, a.periodH, a.dev), o.reflect101(o.addS(sy, 1), a.h, a.periodH, a.dev)
	// The flip mirrors the source: its column c is column W-1-c of the image.
	flip := o.do(torch.Gt(col(colFlip, N, 1, 1), o.do(torch.Full([]int64{}, 0.5, torch.Float64, a.dev))))
	mirror := func(c *torch.Tensor) *torch.Tensor { return o.where(flip, o.addS(o.mulS(c, -1), float64(W-1)), c) }
	xa, xb = mirror(xa), mirror(xb)

	// Flat pixel numbers of the four neighbours in the batch.
	base := o.reshape(o.mulS(o.do(torch.Arange(0, float64(n), 1, torch.Float64, a.dev)), float64(H*W)), N, 1, 1)
	rowA, rowB := o.add(base, o.mulS(ya, float64(W))), o.add(base, o.mulS(yb, float64(W)))
	src := o.reshape(o.dtype(imgs, torch.Float64), N*H*W, 3)
	p00 := o.gather(src, o.add(rowA, xa))
	p01 := o.gather(src, o.add(rowA, xb))
	p10 := o.gather(src, o.add(rowB, xa))
	p11 := o.gather(src, o.add(rowB, xb))

	// Weights of OpenCV's table: products of the 1/32 fractions, times 32.
	const k = coefScale / (1 << interBits) / (1 << interBits)
	gx, gy := o.addS(o.mulS(fx, -1), 1<<interBits), o.addS(o.mulS(fy, -1), 1<<interBits)
	weight := func(wy, wx *torch.Tensor) *torch.Tensor { return o.reshape(o.mulS(o.mul(wy, wx), k), N*H*W, 1) }
	sum := o.add(o.add(o.mul(p00, weight(gy, gx)), o.mul(p01, weight(gy, fx))),
		o.add(o.mul(p10, weight(fy, gx)), o.mul(p11, weight(fy, fx))))
	v := o.floorDiv(o.addS(sum, coefScale/2), coefScale)
	return o.reshape(v, N, H, W, 3)
}

// dropout fills the holes (empty rectangles for the unused slots) with the
// fill colour.
func (a *Augmenter) dropout(o *ops, v *torch.Tensor, col func(int, ...int64) *torch.Tensor, n int) *torch.Tensor {
	if a.holes == 0 || !o.ok() {
		return v
	}
	N := int64(n)
	var mask *torch.Tensor
	for j := range a.holes {
		c := colHoles + 4*j
		x1, y1, x2, y2 := col(c, N, 1, 1), col(c+1, N, 1, 1), col(c+2, N, 1, 1), col(c+3, N, 1, 1)
		in := o.mul(o.mul(o.cmp(torch.Ge, a.xs3, x1), o.cmp(torch.Lt, a.xs3, x2)),
			o.mul(o.cmp(torch.Ge, a.ys3, y1), o.cmp(torch.Lt, a.ys3, y2)))
		if mask == nil {
			mask = in
		} else {
			mask = o.max(mask, in) // logical or of bool tensors
		}
	}
	return o.where(o.reshape(mask, N, int64(a.h), int64(a.w), 1), a.fill, v)
}

// brightnessContrast maps v to clip(v*alpha + shift, 0, 255), truncated, in
// float32 as transforms.BrightnessContrast does; the images it skips have
// alpha 1 and shift 0, which leave them unchanged.
func (a *Augmenter) brightnessContrast(o *ops, v *torch.Tensor, col func(int, ...int64) *torch.Tensor, n int) *torch.Tensor {
	if a.pl.bc == nil || !o.ok() {
		return v
	}
	N := int64(n)
	alpha := o.dtype(col(colAlpha, N, 1, 1, 1), torch.Float32)
	shift := col(colShift, N, 1, 1, 1)
	if !a.pl.bc.BrightnessByMax {
		// shift = float32(beta * sum / (H*W*3)), the image's mean times beta.
		sum := o.reshape(o.do(o.reshape(v, N, -1).SumDim(1, false)), N, 1, 1, 1)
		shift = o.div(o.mul(shift, sum), a.area)
	}
	shift = o.dtype(shift, torch.Float32)
	f := o.add(o.mul(o.dtype(v, torch.Float32), alpha), shift)
	return o.dtype(o.floor(o.clamp(f, 0, 255)), torch.Float64)
}

// shiftHSV applies transforms.ShiftHSV to the images whose HSV flag is set.
func (a *Augmenter) shiftHSV(o *ops, v *torch.Tensor, col func(int, ...int64) *torch.Tensor, n int) *torch.Tensor {
	if a.pl.hsv == nil || !o.ok() {
		return v
	}
	N, H, W := int64(n), int64(a.h), int64(a.w)
	R, G, B := o.sel(v, 3, 0), o.sel(v, 3, 1), o.sel(v, 3, 2)
	// transforms.RGBToHSV in OpenCV's fixed point (shift 12).
	V := o.max(o.max(R, G), B)
	diff := o.sub(V, o.min(o.min(R, G), B))
	shape := func(t *torch.Tensor) *torch.Tensor { return o.reshape(t, N, H, W) }
	S := o.floorDiv(o.addS(o.mul(diff, shape(o.gather(a.sdiv, V))), 1<<11), 1<<12)
	hR := o.sub(G, B)
	hG := o.add(o.sub(B, R), o.mulS(diff, 2))
	hB := o.add(o.sub(R, G), o.mulS(diff, 4))
	h := o.where(o.cmp(torch.Eq, V, R), hR, o.where(o.cmp(torch.Eq, V, G), hG, hB))
	h = o.floorDiv(o.addS(o.mul(h, shape(o.gather(a.hdiv, diff))), 1<<11), 1<<12)
	zero := o.do(torch.Zeros([]int64{}, torch.Float64, a.dev))
	h = o.where(o.cmp(torch.Lt, h, zero), o.addS(h, 180), h)

	// The shifts, in float64: hue modulo 180 (|shift| < 180), the others
	// clipped; all truncated.
	hue, sat, val := col(colHue, N, 1, 1), col(colSat, N, 1, 1), col(colVal, N, 1, 1)
	hs := o.add(h, hue)
	hs = o.where(o.cmp(torch.Lt, hs, zero), o.addS(hs, 180), hs)
	hs = o.where(o.cmp(torch.Ge, hs, o.do(torch.Full([]int64{}, 180, torch.Float64, a.dev))), o.addS(hs, -180), hs)
	hs = o.floor(o.clamp(hs, 0, 255))
	ss := o.floor(o.clamp(o.add(S, sat), 0, 255))
	vs := o.floor(o.clamp(o.add(V, val), 0, 255))

	// transforms.HSVToRGB: int32(float32(v/255) * factor * 255), in float32.
	fac := o.gather(a.hsvFactors, o.add(o.mulS(hs, 256), ss)) // [N*H*W, 3]
	vf := o.reshape(o.mulS(o.dtype(vs, torch.Float32), float64(float32(1.0/255))), N*H*W, 1)
	rgb := o.dtype(o.floor(o.mulS(o.mul(vf, fac), 255)), torch.Float64)
	on := o.cmp(torch.Gt, col(colHSV, N, 1, 1, 1), o.do(torch.Full([]int64{}, 0.5, torch.Float64, a.dev)))
	return o.where(on, o.reshape(rgb, N, H, W, 3), v)
}

// normalize returns (v - mean) * (1/std) in float32, as N×3×H×W.
func (a *Augmenter) normalize(o *ops, v *torch.Tensor) *torch.Tensor {
	out := o.mul(o.sub(o.dtype(v, torch.Float32), a.mean), a.invStd) // N×H×W×3
	if !o.ok() {
		return nil
	}
	out = o.do(out.Transpose(1, 3)) // N×3×W×H
	if !o.ok() {
		return nil
	}
	out = o.do(out.Transpose(2, 3)) // N×3×H×W with NHWC strides
	if a.opts.ChannelsLast || !o.ok() {
		return out
	}
	return o.do(out.Contiguous())
}
