package transforms

import (
	"math"
	"math/rand/v2"
)

// RandomBrightnessContrast scales and shifts every channel value, like
// albumentations 1.4.x RandomBrightnessContrast on uint8 images: the
// contrast factor alpha is 1 + uniform(-ContrastLimit, ContrastLimit), the
// brightness beta uniform(-BrightnessLimit, BrightnessLimit), and a value v
// becomes v*alpha + beta*255 (BrightnessByMax) or v*alpha + beta*mean(image)
// otherwise, clipped to [0, 255] and truncated. albumentations' defaults are
// 0.2, 0.2, true, P 0.5.
type RandomBrightnessContrast struct {
	BrightnessLimit float64
	ContrastLimit   float64
	BrightnessByMax bool
	P               float64
}

// Prob returns t.P.
func (t *RandomBrightnessContrast) Prob() float64 { return t.P }

// ApplyAlways adjusts img by the alpha and beta that Draw draws.
func (t *RandomBrightnessContrast) ApplyAlways(img *Image, r *rand.Rand) {
	alpha, beta := t.Draw(r)
	BrightnessContrast(img, alpha, beta, t.BrightnessByMax)
}

// Draw draws the contrast factor alpha, then the brightness beta.
func (t *RandomBrightnessContrast) Draw(r *rand.Rand) (alpha, beta float64) {
	alpha = 1 + uniform(r, -t.ContrastLimit, t.ContrastLimit)
	beta = uniform(r, -t.BrightnessLimit, t.BrightnessLimit)
	return alpha, beta
}

// BrightnessContrast maps every channel value v of img to
// clip(v*alpha + shift, 0, 255), truncated toward zero, with shift = beta*255
// when byMax and beta*mean(img) otherwise; the lookup table is computed in
// float32 as albumentations (albucore's multiply_add) does.
func BrightnessContrast(img *Image, alpha, beta float64, byMax bool) {
	var shift float64
	if byMax {
		shift = beta * 255
	} else {
		var sum int
		for _, v := range img.Pix {
			sum += int(v)
		}
		shift = beta * float64(sum) / float64(len(img.Pix))
	}
	a, s := float32(alpha), float32(shift)
	var lut [256]uint8
	for v := range lut {
		lut[v] = clipTrunc(float64(float32(float32(v)*a) + s))
	}
	applyLUT(img.Pix, &lut)
}

// clipTrunc clips v to [0, 255] and truncates it, like numpy's
// np.clip(v, 0, 255).astype(np.uint8).
func clipTrunc(v float64) uint8 {
	switch {
	case v <= 0 || math.IsNaN(v):
		return 0
	case v >= 255:
		return 255
	}
	return uint8(v)
}

func applyLUT(p []uint8, lut *[256]uint8) {
	for i, v := range p {
		p[i] = lut[v]
	}
}

// HueSaturationValue shifts hue, saturation and value in OpenCV's 8-bit HSV
// space, like albumentations 1.4.x HueSaturationValue on uint8 images: the
// shifts are uniform in [-HueShiftLimit, HueShiftLimit] and so on, hue is
// shifted modulo 180, saturation and value are clipped to [0, 255], all
// truncated. albumentations' defaults are 20, 30, 20, P 0.5.
type HueSaturationValue struct {
	HueShiftLimit float64
	SatShiftLimit float64
	ValShiftLimit float64
	P             float64
}

// Prob returns t.P.
func (t *HueSaturationValue) Prob() float64 { return t.P }

// ApplyAlways shifts img by the shifts that Draw draws.
func (t *HueSaturationValue) ApplyAlways(img *Image, r *rand.Rand) {
	hue, sat, val := t.Draw(r)
	ShiftHSV(img, hue, sat, val)
}

// Draw draws the hue, saturation and value shifts, in that order.
func (t *HueSaturationValue) Draw(r *rand.Rand) (hue, sat, val float64) {
	hue = uniform(r, -t.HueShiftLimit, t.HueShiftLimit)
	sat = uniform(r, -t.SatShiftLimit, t.SatShiftLimit)
	val = uniform(r, -t.ValShiftLimit, t.ValShiftLimit)
	return hue, sat, val
}

// ShiftHSV converts img to 8-bit HSV (cv2.COLOR_RGB2HSV), maps hue h to
// (h+hue) mod 180 and saturation s, value v to clip(s+sat, 0, 255),
// clip(v+val, 0, 255), truncating, and converts back (cv2.COLOR_HSV2RGB).
// All shifts zero leave img untouched, without the round trip.
func ShiftHSV(img *Image, hue, sat, val float64) {
	if hue == 0 && sat == 0 && val == 0 {
		return
	}
	var hl [180]uint8 // RGBToHSV's hues are below 180
	var sl, vl [256]uint8
	for i := range hl {
		hl[i] = clipTrunc(mod180(float64(i) + hue))
	}
	for i := range 256 {
		sl[i] = clipTrunc(float64(i) + sat)
		vl[i] = clipTrunc(float64(i) + val)
	}
	p := img.Pix
	for i := 0; i+2 < len(p); i += Channels {
		h, s, v := RGBToHSV(p[i], p[i+1], p[i+2])
		p[i], p[i+1], p[i+2] = HSVToRGB(hl[h], sl[s], vl[v])
	}
}

// mod180 returns a modulo 180 with the sign of the divisor, exactly as
// numpy's np.mod(a, 180) does for floats (fmod, then +180 if negative).
func mod180(a float64) float64 {
	switch {
	case a >= 0 && a < 180:
		return a
	case a >= 180 && a < 360:
		return a - 180 // exact (Sterbenz)
	case a < 0 && a > -180:
		return a + 180
	}
	m := math.Mod(a, 180)
	if m < 0 {
		m += 180
	}
	return m
}

// Fixed-point tables of OpenCV's 8-bit RGB to HSV conversion.
const hsvShift = 12

var sdivTable, hdivTable180 = func() (s, h [256]int32) {
	for i := 1; i < 256; i++ {
		s[i] = int32(math.Round(float64(255<<hsvShift) / float64(i)))
		h[i] = int32(math.Round(float64(180<<hsvShift) / (6 * float64(i))))
	}
	return s, h
}()

// RGBToHSVTables returns the fixed-point tables of RGBToHSV (OpenCV's
// sdiv_table and hdiv_table180, with 12 fractional bits), indexed by the
// value and by the spread max-min: an implementation outside this package
// (a batched one on tensors) uses them to reproduce RGBToHSV exactly.
func RGBToHSVTables() (sdiv, hdiv [256]int32) { return sdivTable, hdivTable180 }

// RGBToHSV converts one pixel like cv2.cvtColor(..., cv2.COLOR_RGB2HSV) on
// uint8 data: hue in [0, 180) (degrees / 2), saturation and value in [0, 255].
func RGBToHSV(r, g, b uint8) (h, s, v uint8) {
	R, G, B := int32(r), int32(g), int32(b)
	V := max(R, G, B)
	diff := V - min(R, G, B)
	S := (diff*sdivTable[V] + 1<<(hsvShift-1)) >> hsvShift
	var H int32
	switch {
	case V == R:
		H = G - B
	case V == G:
		H = B - R + 2*diff
	default:
		H = R - G + 4*diff
	}
	H = (H*hdivTable180[diff] + 1<<(hsvShift-1)) >> hsvShift
	if H < 0 {
		H += 180
	}
	return uint8(H), uint8(S), uint8(V)
}

// hsvSectors lists, for each sixth of the hue circle, which of
// (v, p, q, t) become blue, green and red, as OpenCV's HSV2RGB does.
var hsvSectors = [6][3]uint8{{1, 3, 0}, {1, 0, 2}, {3, 0, 1}, {0, 2, 1}, {0, 1, 3}, {2, 1, 0}}

// HSVToRGB converts one pixel like cv2.cvtColor(..., cv2.COLOR_HSV2RGB) on
// uint8 data (hue in [0, 180)). It follows OpenCV's vectorized 8-bit path
// (OpenCV 4.1.1 and later, as built for x86-64 CPUs with AVX2 and FMA),
// which computes in float32, fuses the multiply-adds of 1-s*h and
// 1-s*(1-h), and truncates the result toward zero. OpenCV takes that path
// for every pixel of a row whose length is a multiple of its vector block
// (32 pixels), so for every pixel of a 32-pixel-wide image; its scalar tail
// for leftover pixels rounds instead. Hues of 180 and more wrap around.
func HSVToRGB(h, s, v uint8) (r, g, b uint8) {
	ht := &hsvHue[h]
	V := hsvV[v]
	tab := [4]float32{
		V,
		V * hsvOneMinusS[s],
		V * ht.q[s],
		V * ht.t[s],
	}
	// Every entry is a product of factors in [0, 1], so times 255 it lies in
	// [0, 255]: truncation needs no clamping.
	sd := &hsvSectors[ht.sector]
	return uint8(int32(tab[sd[2]] * 255)), uint8(int32(tab[sd[1]] * 255)), uint8(int32(tab[sd[0]] * 255))
}

// HSVToRGBFactors returns the factors by which HSVToRGB multiplies the
// value v/255 (in float32) to get red, green and blue for hue h and
// saturation s, before it scales by 255 and truncates: each is 1, 1-s/255 or
// one of the fused multiply-adds of the fractional hue. With them an
// implementation outside this package (a batched one on tensors)
// reproduces HSVToRGB exactly with float32 multiplications.
func HSVToRGBFactors(h, s uint8) (r, g, b float32) {
	ht := &hsvHue[h]
	f := [4]float32{1, hsvOneMinusS[s], ht.q[s], ht.t[s]}
	sd := &hsvSectors[ht.sector]
	return f[sd[2]], f[sd[1]], f[sd[0]]
}

// hsvHueTab holds what HSVToRGB needs of one 8-bit hue: its sector and, for
// each saturation s, the factors 1-s*f and 1-s*(1-f) of the fractional hue f.
type hsvHueTab struct {
	sector uint8
	q, t   [256]float32
}

// Tables of HSVToRGB, indexed by the 8-bit hue, saturation and value.
var (
	hsvV         [256]float32 // v/255 in float32
	hsvOneMinusS [256]float32 // 1 - s/255
	hsvHue       = new([256]hsvHueTab)
)

func init() {
	const inv255 = float32(1.0 / 255)
	for i := range 256 {
		hsvV[i] = float32(i) * inv255
		hsvOneMinusS[i] = 1 - float32(i)*inv255
	}
	for h := range 256 {
		H := float32(h) * float32(6.0/180)
		pre := float32(int32(H)) // H >= 0: truncation is floor
		H -= pre
		ht := &hsvHue[h]
		ht.sector = uint8(pre - float32(int32(pre*float32(1.0/6)))*6)
		for s := range 256 {
			S := float32(s) * inv255
			ht.q[s] = fma32(-S, H, 1)
			ht.t[s] = fma32(-S, 1-H, 1)
		}
	}
}

// fma32 returns a*b+c rounded once to float32, like a fused multiply-add
// instruction on float32 operands.
func fma32(a, b, c float32) float32 {
	p := float64(a) * float64(b) // exact: 24+24 significant bits
	s := p + float64(c)
	// e is the rounding error of s (TwoSum), so a*b+c = s+e exactly.
	bv := s - p
	e := (p - (s - bv)) + (float64(c) - bv)
	r := float32(s)
	if e == 0 || float64(r) == s {
		return r
	}
	// s lies between two float32 values; rounding s+e differs from rounding
	// s only when s is exactly their midpoint.
	other := math.Nextafter32(r, float32(math.Copysign(math.Inf(1), s-float64(r))))
	if 2*s != float64(r)+float64(other) {
		return r
	}
	if (e > 0) == (float64(other) > float64(r)) {
		return other
	}
	return r
}
