package transforms

import (
	"math"
	"math/rand/v2"
)

// ShiftScaleRotate applies a random affine transform about the image center,
// like albumentations 1.4.22's ShiftScaleRotate (an Affine with
// keep_ratio=False) with its defaults interpolation cv2.INTER_LINEAR and
// border_mode cv2.BORDER_REFLECT_101: the angle (degrees) is uniform in
// [-RotateLimit, RotateLimit], the horizontal and vertical scales are drawn
// independently, each uniform in [1-ScaleLimit, 1+ScaleLimit], and the
// shifts dx, dy uniform in [-ShiftLimit, ShiftLimit], as fractions of the
// width and height. (Before 1.4.7 albumentations used one scale for both
// axes.) albumentations' defaults are ShiftLimit 0.0625, ScaleLimit 0.1,
// RotateLimit 45, P 0.5.
type ShiftScaleRotate struct {
	ShiftLimit  float64
	ScaleLimit  float64
	RotateLimit float64
	P           float64
}

// Prob returns t.P.
func (t *ShiftScaleRotate) Prob() float64 { return t.P }

// ApplyAlways warps img by the matrix that Draw draws.
func (t *ShiftScaleRotate) ApplyAlways(img *Image, r *rand.Rand) {
	WarpAffine(img, t.Draw(r, img.W, img.H))
}

// Draw draws the angle, the x and y scales, dx and dy from r, in that
// order, and returns their ShiftScaleRotateMatrix for a w×h image.
func (t *ShiftScaleRotate) Draw(r *rand.Rand, w, h int) Affine {
	angle := uniform(r, -t.RotateLimit, t.RotateLimit)
	sx := uniform(r, 1-t.ScaleLimit, 1+t.ScaleLimit)
	sy := uniform(r, 1-t.ScaleLimit, 1+t.ScaleLimit)
	dx := uniform(r, -t.ShiftLimit, t.ShiftLimit)
	dy := uniform(r, -t.ShiftLimit, t.ShiftLimit)
	return ShiftScaleRotateMatrix(w, h, angle, sx, sy, dx, dy)
}

// Affine is a 2×3 affine matrix in row-major order, mapping a source point
// (x, y) to the destination (m[0]x+m[1]y+m[2], m[3]x+m[4]y+m[5]), in
// OpenCV's pixel coordinates (pixel centers at integers, origin top-left).
type Affine [6]float64

// ShiftScaleRotateMatrix returns the matrix of ShiftScaleRotate on a w×h
// image: scaling by sx and sy, then a rotation by angle degrees
// (counter-clockwise on screen, as cv2.getRotationMatrix2D), both about the
// image center (w/2-0.5, h/2-0.5), then a shift of dx*w, dy*h pixels. With
// sx = sy it is cv2.getRotationMatrix2D's matrix plus the shift.
func ShiftScaleRotateMatrix(w, h int, angle, sx, sy, dx, dy float64) Affine {
	a := angle * math.Pi / 180
	cos, sin := math.Cos(a), math.Sin(a)
	cx, cy := float64(w)/2-0.5, float64(h)/2-0.5
	// The linear part is [[cos, sin], [-sin, cos]] · diag(sx, sy); the
	// translation keeps the center in place, then shifts.
	m00, m01 := cos*sx, sin*sy
	m10, m11 := -sin*sx, cos*sy
	return Affine{
		m00, m01, cx - m00*cx - m01*cy + dx*float64(w),
		m10, m11, cy - m10*cx - m11*cy + dy*float64(h),
	}
}

// Inverse returns the inverse of m as cv2.warpAffine computes it when
// WARP_INVERSE_MAP is not set (in float64, a singular matrix giving zeros):
// the map from destination to source pixel positions that [WarpAffine]
// samples with.
func (m Affine) Inverse() Affine {
	d := m[0]*m[4] - m[1]*m[3]
	if d != 0 {
		d = 1 / d
	}
	var inv Affine
	inv[0], inv[4] = m[4]*d, m[0]*d
	inv[1], inv[3] = m[1]*-d, m[3]*-d
	inv[2] = -inv[0]*m[2] - inv[1]*m[5]
	inv[5] = -inv[3]*m[2] - inv[4]*m[5]
	return inv
}

// Fixed-point constants of OpenCV's warpAffine and remap.
const (
	interBits      = 5 // sub-pixel position resolution: 1/32 pixel
	interTabSize   = 1 << interBits
	abBits         = 10 // precision of the per-column and per-row terms
	abScale        = 1 << abBits
	roundDelta     = abScale / interTabSize / 2
	remapCoefBits  = 15 // bilinear weights sum to 1<<15
	remapCoefRound = 1 << (remapCoefBits - 1)
)

// bilinearTab holds the fixed-point weights of the four neighbours
// (top-left, top-right, bottom-left, bottom-right) for each sub-pixel
// position (fy*32+fx). Products of multiples of 1/32 are exact, so these
// equal OpenCV's table (whose top-left 32768 saturates to 32767 plus 1 on
// the bottom-right, which gives the same 8-bit results).
var bilinearTab = func() (t [interTabSize * interTabSize][4]int32) {
	for fy := int32(0); fy < interTabSize; fy++ {
		for fx := int32(0); fx < interTabSize; fx++ {
			const k = (1 << remapCoefBits) / (interTabSize * interTabSize)
			t[fy*interTabSize+fx] = [4]int32{
				(interTabSize - fy) * (interTabSize - fx) * k,
				(interTabSize - fy) * fx * k,
				fy * (interTabSize - fx) * k,
				fy * fx * k,
			}
		}
	}
	return t
}()

// reflect101 maps a coordinate outside [0, n) into it the way OpenCV's
// BORDER_REFLECT_101 does (gfedcb|abcdefgh|gfedcba).
func reflect101(p, n int) int {
	if n == 1 {
		return 0
	}
	for uint(p) >= uint(n) {
		if p < 0 {
			p = -p
		} else {
			p = 2*(n-1) - p
		}
	}
	return p
}

// roundInt rounds like OpenCV's saturate_cast<int>(double) (half to even).
func roundInt(v float64) int32 { return int32(math.RoundToEven(v)) }

// WarpAffine replaces img with cv2.warpAffine(img, m, (W, H),
// flags=INTER_LINEAR, borderMode=BORDER_REFLECT_101): m maps source to
// destination, so each destination pixel samples the source at the inverse
// image of its center. It reproduces OpenCV's fixed-point arithmetic:
// source positions rounded to 1/32 pixel, 15-bit bilinear weights, rounding
// to nearest.
func WarpAffine(img *Image, m Affine) {
	inv := m.Inverse()
	w, h := img.W, img.H
	ad, bd := img.adelta[:w], img.bdelta[:w]
	for x := range w {
		ad[x] = roundInt(inv[0] * float64(x) * abScale)
		bd[x] = roundInt(inv[3] * float64(x) * abScale)
	}
	src, dst := img.Pix, img.tmp
	row := w * Channels
	for y := range h {
		x0 := roundInt((inv[1]*float64(y)+inv[2])*abScale) + roundDelta
		y0 := roundInt((inv[4]*float64(y)+inv[5])*abScale) + roundDelta
		out := dst[y*row : (y+1)*row : (y+1)*row]
		for x := range w {
			X := (x0 + ad[x]) >> (abBits - interBits)
			Y := (y0 + bd[x]) >> (abBits - interBits)
			sx, sy := int(X>>interBits), int(Y>>interBits)
			wt := &bilinearTab[(Y&(interTabSize-1))*interTabSize+(X&(interTabSize-1))]
			var p00, p01, p10, p11 int
			if uint(sx) < uint(w-1) && uint(sy) < uint(h-1) {
				p00 = (sy*w + sx) * Channels
				p01 = p00 + Channels
				p10 = p00 + row
				p11 = p10 + Channels
			} else {
				xa, xb := reflect101(sx, w), reflect101(sx+1, w)
				ya, yb := reflect101(sy, h)*w, reflect101(sy+1, h)*w
				p00 = (ya + xa) * Channels
				p01 = (ya + xb) * Channels
				p10 = (yb + xa) * Channels
				p11 = (yb + xb) * Channels
			}
			w0, w1, w2, w3 := wt[0], wt[1], wt[2], wt[3]
			s00 := src[p00 : p00+Channels : p00+Channels]
			s01 := src[p01 : p01+Channels : p01+Channels]
			s10 := src[p10 : p10+Channels : p10+Channels]
			s11 := src[p11 : p11+Channels : p11+Channels]
			o := out[x*Channels : x*Channels+Channels : x*Channels+Channels]
			o[0] = uint8((int32(s00[0])*w0 + int32(s01[0])*w1 + int32(s10[0])*w2 + int32(s11[0])*w3 + remapCoefRound) >> remapCoefBits)
			o[1] = uint8((int32(s00[1])*w0 + int32(s01[1])*w1 + int32(s10[1])*w2 + int32(s11[1])*w3 + remapCoefRound) >> remapCoefBits)
			o[2] = uint8((int32(s00[2])*w0 + int32(s01[2])*w1 + int32(s10[2])*w2 + int32(s11[2])*w3 + remapCoefRound) >> remapCoefBits)
		}
	}
	img.swap()
}
