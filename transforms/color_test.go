package transforms

import (
	"bytes"
	"testing"
)

func TestBrightnessContrastHandWorked(t *testing.T) {
	img := NewImage(1, 2)
	copy(img.Pix, []uint8{0, 100, 200, 10, 255, 50})
	want := bytes.Clone(img.Pix)
	BrightnessContrast(img, 1, 0, true)
	if !bytes.Equal(img.Pix, want) {
		t.Fatalf("alpha 1, beta 0: got %v, want %v", img.Pix, want)
	}
	// alpha 1.2, beta 0.1 (by max): v -> 1.2v + 25.5, clipped, truncated.
	BrightnessContrast(img, 1.2, 0.1, true)
	want = []uint8{25, 145, 255, 37, 255, 85} // 25.5, 145.5, 265.5, 37.5, 331.5, 85.5
	if !bytes.Equal(img.Pix, want) {
		t.Fatalf("alpha 1.2, beta 0.1: got %v, want %v", img.Pix, want)
	}
	// alpha 0.8, beta -0.2: v -> 0.8v - 51.
	copy(img.Pix, []uint8{0, 100, 200, 10, 255, 70})
	BrightnessContrast(img, 0.8, -0.2, true)
	want = []uint8{0, 29, 109, 0, 153, 5} // -51, 29, 109, -43, 153, 5
	if !bytes.Equal(img.Pix, want) {
		t.Fatalf("alpha 0.8, beta -0.2: got %v, want %v", img.Pix, want)
	}
	// Not by max: the shift is beta times the image mean (here 100).
	copy(img.Pix, []uint8{50, 150, 100, 100, 60, 140})
	BrightnessContrast(img, 1, 0.25, false)
	want = []uint8{75, 175, 125, 125, 85, 165}
	if !bytes.Equal(img.Pix, want) {
		t.Fatalf("beta 0.25 of the mean: got %v, want %v", img.Pix, want)
	}
}

func TestRGBToHSVHandWorked(t *testing.T) {
	cases := []struct{ rgb, hsv [3]uint8 }{
		{[3]uint8{255, 0, 0}, [3]uint8{0, 255, 255}},
		{[3]uint8{0, 255, 0}, [3]uint8{60, 255, 255}},
		{[3]uint8{0, 0, 255}, [3]uint8{120, 255, 255}},
		{[3]uint8{255, 255, 255}, [3]uint8{0, 0, 255}},
		{[3]uint8{128, 128, 128}, [3]uint8{0, 0, 128}},
		{[3]uint8{0, 0, 0}, [3]uint8{0, 0, 0}},
		// Orange: hue 60*128/255 = 30.1 degrees -> 15.
		{[3]uint8{255, 128, 0}, [3]uint8{15, 255, 255}},
		// S = 255*100/200 = 127.5 -> 127 (OpenCV's fixed point), hue 0.
		{[3]uint8{200, 100, 100}, [3]uint8{0, 127, 200}},
		// Magenta-ish: V = B? no, V = R = B = 200 -> R branch: hue = G-B < 0
		// -> 60*(-100)/100 = -60 degrees -> 300 -> 150.
		{[3]uint8{200, 100, 200}, [3]uint8{150, 127, 200}},
	}
	for _, c := range cases {
		h, s, v := RGBToHSV(c.rgb[0], c.rgb[1], c.rgb[2])
		if got := [3]uint8{h, s, v}; got != c.hsv {
			t.Errorf("RGBToHSV%v = %v, want %v", c.rgb, got, c.hsv)
		}
	}
}

func TestHSVToRGBHandWorked(t *testing.T) {
	cases := []struct{ hsv, rgb [3]uint8 }{
		{[3]uint8{0, 255, 255}, [3]uint8{255, 0, 0}},
		{[3]uint8{60, 255, 255}, [3]uint8{0, 255, 0}},
		{[3]uint8{120, 255, 255}, [3]uint8{0, 0, 255}},
		{[3]uint8{30, 255, 255}, [3]uint8{255, 255, 0}},
		// Hue 150 is 300 degrees, magenta, but 150*float32(6/180) rounds to
		// 5 + 4.8e-7, so blue is 255*(1 - 4.8e-7) = 254.9999, truncated: 254.
		{[3]uint8{150, 255, 255}, [3]uint8{255, 0, 254}},
		{[3]uint8{77, 0, 200}, [3]uint8{200, 200, 200}},
		// V(1-S) = 200*(1-99/255) = 122.35 -> 122.
		// V(1-S) = 255*(1-127/255) = 128, but in float32 just below: 127.
		{[3]uint8{0, 127, 255}, [3]uint8{255, 127, 127}},
		{[3]uint8{0, 99, 200}, [3]uint8{200, 122, 122}},
	}
	for _, c := range cases {
		r, g, b := HSVToRGB(c.hsv[0], c.hsv[1], c.hsv[2])
		if got := [3]uint8{r, g, b}; got != c.rgb {
			t.Errorf("HSVToRGB%v = %v, want %v", c.hsv, got, c.rgb)
		}
	}
}

func TestShiftHSVHandWorked(t *testing.T) {
	img := NewImage(1, 3)
	// (1, 2, 3) is not preserved by an RGB -> HSV -> RGB round trip, so
	// zero shifts must skip the conversion entirely.
	copy(img.Pix, []uint8{255, 0, 0, 200, 100, 100, 1, 2, 3})
	orig := bytes.Clone(img.Pix)
	ShiftHSV(img, 0, 0, 0)
	if !bytes.Equal(img.Pix, orig) {
		t.Fatalf("zero shifts: got %v, want %v", img.Pix, orig)
	}
	check := func(name string, hue, sat, val float64, px int, want [3]uint8) {
		t.Helper()
		copy(img.Pix, orig)
		ShiftHSV(img, hue, sat, val)
		if got := [3]uint8(img.Pix[3*px : 3*px+3]); got != want {
			t.Errorf("%s: pixel %d = %v, want %v", name, px, got, want)
		}
	}
	// Red (hue 0) + 60 -> hue 60 = green; + 150.2 -> 150 (truncated) =
	// magenta, as HSVToRGB(150, 255, 255) above.
	check("hue +60", 60, 0, 0, 0, [3]uint8{0, 255, 0})
	check("hue +150.2", 150.2, 0, 0, 0, [3]uint8{255, 0, 254})
	// Red - 30.5: (0 - 30.5) mod 180 = 149.5 -> 149.
	r, g, b := HSVToRGB(149, 255, 255)
	check("hue -30.5", -30.5, 0, 0, 0, [3]uint8{r, g, b})
	// (200,100,100) is HSV (0,127,200); saturation -27.5 -> 99.5 -> 99 ->
	// RGB (200,122,122); value +70.9 -> 255 (clipped) -> HSV (0,127,255)
	// -> (255,127,127) as above.
	check("sat -27.5", 0, -27.5, 0, 1, [3]uint8{200, 122, 122})
	check("val +70.9", 0, 0, 70.9, 1, [3]uint8{255, 127, 127})
	// Value -250 clips to 0: black.
	check("val -250", 0, 0, -250, 1, [3]uint8{0, 0, 0})
}

func TestRGBToHSVMatchesOpenCV(t *testing.T) {
	needCV2(t)
	// Every 24-bit color (every 61st with -short).
	step := 1
	if testing.Short() {
		step = 61
	}
	var px []byte
	for i := 0; i < 1<<24; i += step {
		px = append(px, uint8(i>>16), uint8(i>>8), uint8(i))
	}
	n := len(px) / 3
	want := reference(t, "rgb2hsv", 1, 1, map[string][]byte{"img.bin": px})
	bad := 0
	for i := range n {
		h, s, v := RGBToHSV(px[3*i], px[3*i+1], px[3*i+2])
		if h != want[3*i] || s != want[3*i+1] || v != want[3*i+2] {
			if bad++; bad <= 5 {
				t.Errorf("RGBToHSV%v = %v, cv2 %v", px[3*i:3*i+3], []uint8{h, s, v}, want[3*i:3*i+3])
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d colors differ from cv2.COLOR_RGB2HSV", bad, n)
	}
}

func TestHSVToRGBMatchesOpenCV(t *testing.T) {
	needCV2(t)
	// Every valid 8-bit HSV triple, hue < 180 (every 61st with -short).
	step := 1
	if testing.Short() {
		step = 61
	}
	var px []byte
	for i := 0; i < 180<<16; i += step {
		px = append(px, uint8(i>>16), uint8(i>>8), uint8(i))
	}
	for len(px)%96 != 0 { // whole 32-pixel blocks: OpenCV's vector path
		px = append(px, 0, 0, 0)
	}
	n := len(px) / 3
	want := reference(t, "hsv2rgb", 1, 1, map[string][]byte{"img.bin": px})
	bad := 0
	for i := range n {
		r, g, b := HSVToRGB(px[3*i], px[3*i+1], px[3*i+2])
		if r != want[3*i] || g != want[3*i+1] || b != want[3*i+2] {
			if bad++; bad <= 5 {
				t.Errorf("HSVToRGB%v = %v, cv2 %v", px[3*i:3*i+3], []uint8{r, g, b}, want[3*i:3*i+3])
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d triples differ from cv2.COLOR_HSV2RGB", bad, n)
	}
}

func TestColorMatchesAlbumentationsFormulas(t *testing.T) {
	needCV2(t)
	const n, h, w = 100, 32, 32
	r := newRand(5)
	var pix []byte
	var hsvPar, bcPar []float64
	hsvImgs := make([]*Image, n)
	bcImgs := make([]*Image, n)
	for i := range n {
		src := smoothImage(r, h, w)
		if i%3 == 0 {
			src = randomImage(r, h, w)
		}
		pix = append(pix, src.Pix...)
		hue, sat, val := uniform(r, -20, 20), uniform(r, -30, 30), uniform(r, -20, 20)
		alpha, beta := 1+uniform(r, -0.2, 0.2), uniform(r, -0.2, 0.2)
		if i < 10 { // wide shifts that wrap the hue and clip
			hue, sat, val = uniform(r, -179, 179), uniform(r, -255, 255), uniform(r, -255, 255)
			alpha, beta = uniform(r, 0, 3), uniform(r, -1, 1)
		}
		hsvPar = append(hsvPar, hue, sat, val)
		bcPar = append(bcPar, alpha, beta)
		hsvImgs[i], bcImgs[i] = NewImage(h, w), NewImage(h, w)
		hsvImgs[i].Load(src.Pix)
		bcImgs[i].Load(src.Pix)
		ShiftHSV(hsvImgs[i], hue, sat, val)
		BrightnessContrast(bcImgs[i], alpha, beta, true)
	}
	wantHSV := reference(t, "shift_hsv", h, w, map[string][]byte{"img.bin": pix, "par.bin": float64Bytes(hsvPar)})
	wantBC := reference(t, "bright_contr", h, w, map[string][]byte{"img.bin": pix, "par.bin": float64Bytes(bcPar)})
	size := h * w * 3
	for i := range n {
		if d, first := diffCount(hsvImgs[i].Pix, wantHSV[i*size:(i+1)*size]); d > 0 {
			t.Errorf("ShiftHSV image %d %v: %d bytes differ from the reference, first at %d", i, hsvPar[3*i:3*i+3], d, first)
		}
		if d, first := diffCount(bcImgs[i].Pix, wantBC[i*size:(i+1)*size]); d > 0 {
			t.Errorf("BrightnessContrast image %d %v: %d bytes differ from the reference, first at %d", i, bcPar[2*i:2*i+2], d, first)
		}
	}
}

func TestMod180(t *testing.T) {
	// numpy: np.mod(a, 180) = fmod(a, 180), plus 180 when negative.
	cases := []struct{ a, want float64 }{
		{0, 0}, {179.5, 179.5}, {180, 0}, {200.25, 20.25}, {359.75, 179.75}, {540, 0},
		{-0.5, 179.5}, {-180, 0}, {-190, 170}, {-400, 140}, {1000.5, 100.5},
	}
	for _, c := range cases {
		if got := mod180(c.a); got != c.want {
			t.Errorf("mod180(%v) = %v, want %v", c.a, got, c.want)
		}
	}
}

// TestHSVToRGBFactors checks that the exported factors reproduce HSVToRGB
// for every hue, saturation and value: red is int32(float32(v/255)*f*255)
// truncated, and so on, all in float32.
func TestHSVToRGBFactors(t *testing.T) {
	const inv255 = float32(1.0 / 255)
	for h := range 256 {
		for s := range 256 {
			fr, fg, fb := HSVToRGBFactors(uint8(h), uint8(s))
			for v := range 256 {
				V := float32(v) * inv255
				r, g, b := HSVToRGB(uint8(h), uint8(s), uint8(v))
				got := [3]uint8{uint8(int32(V * fr * 255)), uint8(int32(V * fg * 255)), uint8(int32(V * fb * 255))}
				if got != [3]uint8{r, g, b} {
					t.Fatalf("h=%d s=%d v=%d: factors give %v, HSVToRGB %v", h, s, v, got, [3]uint8{r, g, b})
				}
			}
		}
	}
}
