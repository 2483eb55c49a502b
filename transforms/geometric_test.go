package transforms

import (
	"bytes"
	"math"
	"testing"
)

func TestReflect101(t *testing.T) {
	// OpenCV BORDER_REFLECT_101 on n=5: ... 3 2 1 | 0 1 2 3 4 | 3 2 1 0 1 ...
	cases := []struct{ p, n, want int }{
		{0, 5, 0}, {4, 5, 4}, {-1, 5, 1}, {-2, 5, 2}, {-4, 5, 4}, {-5, 5, 3},
		{5, 5, 3}, {6, 5, 2}, {8, 5, 0}, {9, 5, 1}, {-1, 2, 1}, {2, 2, 0}, {7, 1, 0},
	}
	for _, c := range cases {
		if got := reflect101(c.p, c.n); got != c.want {
			t.Errorf("reflect101(%d, %d) = %d, want %d", c.p, c.n, got, c.want)
		}
	}
}

func TestRotationMatrix2D(t *testing.T) {
	// 90 degrees about (15.5, 15.5): x' = y, y' = 31 - x.
	m := rotationMatrix2D(15.5, 15.5, 90, 1)
	want := Affine{0, 1, 0, -1, 0, 31}
	for i := range m {
		if math.Abs(m[i]-want[i]) > 1e-12 {
			t.Fatalf("rotationMatrix2D = %v, want %v", m, want)
		}
	}
	// Scale 2 about the center of a 4x8 (w x h) image, (1.5, 3.5), with a
	// shift: x' = 2x - 1.5 + 0.5*4, y' = 2y - 3.5 + 0.25*8.
	m = ShiftScaleRotateMatrix(4, 8, 0, 2, 2, 0.5, 0.25)
	want = Affine{2, 0, -1.5 + 2, 0, 2, -3.5 + 2}
	if m != want {
		t.Fatalf("ShiftScaleRotateMatrix = %v, want %v", m, want)
	}
	// Equal scales: cv2.getRotationMatrix2D plus the shift.
	m = ShiftScaleRotateMatrix(32, 32, 30, 1.1, 1.1, 0.1, -0.05)
	want = rotationMatrix2D(15.5, 15.5, 30, 1.1)
	want[2] += 3.2
	want[5] -= 1.6
	for i := range m {
		if math.Abs(m[i]-want[i]) > 1e-12 {
			t.Fatalf("ShiftScaleRotateMatrix with equal scales = %v, want %v", m, want)
		}
	}
	// Scales 2 (x) and 0.5 (y), then 90 degrees, about (1.5, 3.5): a point
	// (1.5+u, 3.5+v) goes to (1.5+2u, 3.5+0.5v) by the scaling, and the
	// rotation maps offsets (p, q) to (q, -p): (1.5+0.5v, 3.5-2u).
	m = ShiftScaleRotateMatrix(4, 8, 90, 2, 0.5, 0, 0)
	for _, uv := range [][2]float64{{0, 0}, {1, 0}, {0, 1}, {-2, 3}} {
		u, v := uv[0], uv[1]
		x, y := 1.5+u, 3.5+v
		gx, gy := m[0]*x+m[1]*y+m[2], m[3]*x+m[4]*y+m[5]
		if wx, wy := 1.5+0.5*v, 3.5-2*u; math.Abs(gx-wx) > 1e-12 || math.Abs(gy-wy) > 1e-12 {
			t.Errorf("(%v, %v) -> (%v, %v), want (%v, %v)", x, y, gx, gy, wx, wy)
		}
	}
}

// rotationMatrix2D is the matrix of cv2.getRotationMatrix2D, a rotation by
// angle degrees (counter-clockwise on screen) and a uniform scaling, both
// about the point (cx, cy): the reference for ShiftScaleRotateMatrix with
// equal scales.
func rotationMatrix2D(cx, cy, angle, scale float64) Affine {
	a := angle * math.Pi / 180
	alpha := math.Cos(a) * scale
	beta := math.Sin(a) * scale
	return Affine{
		alpha, beta, (1-alpha)*cx - beta*cy,
		-beta, alpha, beta*cx + (1-alpha)*cy,
	}
}

func TestWarpIdentity(t *testing.T) {
	r := newRand(1)
	img := randomImage(r, 32, 32)
	want := bytes.Clone(img.Pix)
	WarpAffine(img, ShiftScaleRotateMatrix(32, 32, 0, 1, 1, 0, 0))
	if !bytes.Equal(img.Pix, want) {
		t.Fatal("shift 0, scale 1, angle 0 changed the image")
	}
}

func TestWarpRotate90Small(t *testing.T) {
	// A 3x3 image, one channel shown (all three equal); +90 degrees is
	// counter-clockwise on screen.
	src := [3][3]uint8{{1, 2, 3}, {4, 5, 6}, {7, 8, 9}}
	want := [3][3]uint8{{3, 6, 9}, {2, 5, 8}, {1, 4, 7}}
	img := NewImage(3, 3)
	for y := range 3 {
		for x := range 3 {
			for c := range 3 {
				img.Set(x, y, c, src[y][x]*10+uint8(c))
			}
		}
	}
	WarpAffine(img, ShiftScaleRotateMatrix(3, 3, 90, 1, 1, 0, 0))
	for y := range 3 {
		for x := range 3 {
			for c := range 3 {
				if got, w := img.At(x, y, c), want[y][x]*10+uint8(c); got != w {
					t.Errorf("pixel (%d,%d,%d) = %d, want %d", x, y, c, got, w)
				}
			}
		}
	}
}

func TestWarpRotate90(t *testing.T) {
	// On 32x32, +90 degrees about the center (15.5, 15.5) sends source
	// (x, y) to (y, 31-x): destination (x', y') shows source (31-y', x').
	r := newRand(2)
	src := randomImage(r, 32, 32)
	img := NewImage(32, 32)
	img.Load(src.Pix)
	WarpAffine(img, ShiftScaleRotateMatrix(32, 32, 90, 1, 1, 0, 0))
	for y := range 32 {
		for x := range 32 {
			for c := range 3 {
				if got, want := img.At(x, y, c), src.At(31-y, x, c); got != want {
					t.Fatalf("pixel (%d,%d,%d) = %d, want source (%d,%d) = %d", x, y, c, got, 31-y, x, want)
				}
			}
		}
	}
}

func TestWarpIntegerShiftReflect101(t *testing.T) {
	// dx = 3/32 and dy = -2/32 of a 32x32 image are shifts of exactly 3 and
	// -2 pixels: destination (x, y) shows source (x-3, y+2), reflected.
	r := newRand(3)
	src := randomImage(r, 32, 32)
	img := NewImage(32, 32)
	img.Load(src.Pix)
	WarpAffine(img, ShiftScaleRotateMatrix(32, 32, 0, 1, 1, 3.0/32, -2.0/32))
	// Hand-worked reflect-101 indices: x-3 for x = 0, 1, 2 is -3, -2, -1 ->
	// 3, 2, 1; y+2 for y = 30, 31 is 32, 33 -> 30, 29.
	sx := func(x int) int {
		if x < 3 {
			return []int{3, 2, 1}[x]
		}
		return x - 3
	}
	sy := func(y int) int {
		if y >= 30 {
			return []int{30, 29}[y-30]
		}
		return y + 2
	}
	for y := range 32 {
		for x := range 32 {
			for c := range 3 {
				if got, want := img.At(x, y, c), src.At(sx(x), sy(y), c); got != want {
					t.Fatalf("pixel (%d,%d,%d) = %d, want source (%d,%d) = %d", x, y, c, got, sx(x), sy(y), want)
				}
			}
		}
	}
}

func TestWarpScaleBilinear(t *testing.T) {
	// Scale 2 about (15.5, 15.5): destination x samples source x/2 + 7.75.
	// On linear ramps R = 8x, G = 8y bilinear interpolation is exact:
	// R' = 8(x/2 + 7.75) = 4x + 62, G' = 4y + 62.
	img := NewImage(32, 32)
	for y := range 32 {
		for x := range 32 {
			img.Set(x, y, 0, uint8(8*x))
			img.Set(x, y, 1, uint8(8*y))
			img.Set(x, y, 2, 100)
		}
	}
	WarpAffine(img, ShiftScaleRotateMatrix(32, 32, 0, 2, 2, 0, 0))
	for y := range 32 {
		for x := range 32 {
			want := [3]uint8{uint8(4*x + 62), uint8(4*y + 62), 100}
			for c := range 3 {
				if got := img.At(x, y, c); got != want[c] {
					t.Fatalf("pixel (%d,%d,%d) = %d, want %d", x, y, c, got, want[c])
				}
			}
		}
	}
	// A half-pixel position between 56 and 64 rounds 60 exactly; between
	// 10 and 11 (weights 1/2) rounds half up: (10+11)/2 = 10.5 -> 11.
	img = NewImage(1, 2)
	img.Set(0, 0, 0, 10)
	img.Set(1, 0, 0, 11)
	WarpAffine(img, Affine{1, 0, -0.5, 0, 1, 0}) // destination x samples x + 0.5
	if got := img.At(0, 0, 0); got != 11 {
		t.Fatalf("midpoint of 10 and 11 = %d, want 11 (OpenCV rounds half up)", got)
	}
}

func TestWarpAffineMatchesOpenCV(t *testing.T) {
	needCV2(t)
	const n, h, w = 200, 32, 32
	r := newRand(4)
	var pix []byte
	var mats []float64
	imgs := make([]*Image, n)
	for i := range n {
		if i%2 == 0 {
			imgs[i] = randomImage(r, h, w)
		} else {
			imgs[i] = smoothImage(r, h, w)
		}
		pix = append(pix, imgs[i].Pix...)
		var m Affine
		switch {
		case i < 150: // the seed's ranges
			m = ShiftScaleRotateMatrix(w, h, uniform(r, -15, 15), uniform(r, 0.85, 1.15), uniform(r, 0.85, 1.15), uniform(r, -0.15, 0.15), uniform(r, -0.15, 0.15))
		default: // wider: large angles, strong zoom out, shifts far past the border
			m = ShiftScaleRotateMatrix(w, h, uniform(r, -180, 180), uniform(r, 0.3, 2.5), uniform(r, 0.3, 2.5), uniform(r, -1.2, 1.2), uniform(r, -1.2, 1.2))
		}
		mats = append(mats, m[:]...)
		WarpAffine(imgs[i], m)
	}
	want := reference(t, "warp", h, w, map[string][]byte{"img.bin": pix, "mat.bin": float64Bytes(mats)})
	for i, img := range imgs {
		if d, first := diffCount(img.Pix, want[i*h*w*3:(i+1)*h*w*3]); d > 0 {
			t.Errorf("image %d (matrix %v): %d bytes differ from cv2.warpAffine, first at %d", i, mats[6*i:6*i+6], d, first)
		}
	}
}
