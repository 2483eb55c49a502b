package transforms

import (
	"testing"
)

func TestMeanFill(t *testing.T) {
	// 0.4914*255 = 125.307, 0.4822*255 = 122.961, 0.4465*255 = 113.8575,
	// truncated as numpy does when storing floats into uint8.
	if got, want := MeanFill(CIFAR10Mean), [3]uint8{125, 122, 113}; got != want {
		t.Fatalf("MeanFill(CIFAR10Mean) = %v, want %v", got, want)
	}
}

// filled returns the mask of pixels equal to fill.
func filled(img *Image, fill [3]uint8) []bool {
	m := make([]bool, img.H*img.W)
	for i := range m {
		m[i] = [3]uint8(img.Pix[3*i:3*i+3]) == fill
	}
	return m
}

// bbox returns the bounding box [x1, x2) × [y1, y2) of the set pixels and
// their count.
func bbox(m []bool, w int) (x1, y1, x2, y2, n int) {
	x1, y1 = w, len(m)/w
	for i, on := range m {
		if on {
			x, y := i%w, i/w
			x1, y1, x2, y2 = min(x1, x), min(y1, y), max(x2, x+1), max(y2, y+1)
			n++
		}
	}
	return
}

func TestCoarseDropoutOneHole(t *testing.T) {
	fill := [3]uint8{125, 122, 113}
	d := &CoarseDropout{MinHoles: 1, MaxHoles: 1, MinHeight: 8, MaxHeight: 8, MinWidth: 8, MaxWidth: 8, Fill: fill, P: 1}
	r := newRand(6)
	img := NewImage(32, 32)
	seenX, seenY := map[int]bool{}, map[int]bool{}
	for range 3000 {
		clear(img.Pix)
		d.ApplyAlways(img, r)
		x1, y1, x2, y2, n := bbox(filled(img, fill), 32)
		if n != 64 || x2-x1 != 8 || y2-y1 != 8 {
			t.Fatalf("hole of %d pixels in box [%d,%d)x[%d,%d), want one 8x8 square", n, x1, x2, y1, y2)
		}
		seenX[x1], seenY[y1] = true, true
	}
	// Every position where an 8-wide hole fits, 0..24, and no other.
	for p := range 25 {
		if !seenX[p] || !seenY[p] {
			t.Errorf("top-left coordinate %d never drawn (x %v, y %v)", p, seenX[p], seenY[p])
		}
	}
	if len(seenX) != 25 || len(seenY) != 25 {
		t.Errorf("drew %d x and %d y positions, want 25 each", len(seenX), len(seenY))
	}
}

func TestCoarseDropoutSeedHoles(t *testing.T) {
	// The seed: max_holes=2, max_height=8, max_width=8 with albumentations'
	// minimums defaulting to the maximums: two 8x8 holes, possibly
	// overlapping, so 64..128 filled pixels, and filled with the mean.
	p := SeedTrain()
	d := p.Augment.(*Compose).Transforms[2].(*CoarseDropout)
	if d.MinHoles != 2 || d.MaxHoles != 2 || d.MinHeight != 8 || d.MaxHeight != 8 || d.MinWidth != 8 || d.MaxWidth != 8 || d.P != 0.5 {
		t.Fatalf("seed CoarseDropout = %+v", d)
	}
	r := newRand(7)
	img := NewImage(32, 32)
	overlaps := 0
	for range 2000 {
		clear(img.Pix)
		d.ApplyAlways(img, r)
		m := filled(img, d.Fill)
		_, _, _, _, n := bbox(m, 32)
		if n < 64 || n > 128 {
			t.Fatalf("%d filled pixels, want 64..128", n)
		}
		if n < 128 {
			overlaps++
		}
		// Each filled pixel lies in a filled 8x8 square: some 8x8 window
		// containing it is entirely filled.
		for i, on := range m {
			if on && !inFilledSquare(m, i%32, i/32, 8) {
				t.Fatalf("filled pixel (%d,%d) is not inside a filled 8x8 square", i%32, i/32)
			}
		}
	}
	if overlaps == 0 || overlaps == 2000 {
		t.Errorf("%d of 2000 draws had overlapping holes", overlaps)
	}
}

func inFilledSquare(m []bool, x, y, s int) bool {
	for y0 := max(0, y-s+1); y0 <= min(y, 32-s); y0++ {
	next:
		for x0 := max(0, x-s+1); x0 <= min(x, 32-s); x0++ {
			for yy := y0; yy < y0+s; yy++ {
				for xx := x0; xx < x0+s; xx++ {
					if !m[yy*32+xx] {
						continue next
					}
				}
			}
			return true
		}
	}
	return false
}

func TestCoarseDropoutRanges(t *testing.T) {
	// Holes from 1 to 3, heights 2..5, widths 3..4: every value appears and
	// none outside. One hole per draw makes the sizes observable.
	fill := [3]uint8{1, 2, 3}
	d := &CoarseDropout{MinHoles: 1, MaxHoles: 1, MinHeight: 2, MaxHeight: 5, MinWidth: 3, MaxWidth: 4, Fill: fill, P: 1}
	r := newRand(8)
	img := NewImage(16, 16)
	hs, ws := map[int]int{}, map[int]int{}
	for range 2000 {
		clear(img.Pix)
		d.ApplyAlways(img, r)
		x1, y1, x2, y2, n := bbox(filled(img, fill), 16)
		if n != (x2-x1)*(y2-y1) {
			t.Fatalf("hole is not a rectangle: %d pixels in [%d,%d)x[%d,%d)", n, x1, x2, y1, y2)
		}
		hs[y2-y1]++
		ws[x2-x1]++
	}
	if len(hs) != 4 || hs[2] == 0 || hs[5] == 0 || len(ws) != 2 || ws[3] == 0 || ws[4] == 0 {
		t.Errorf("heights %v (want 2..5), widths %v (want 3..4)", hs, ws)
	}
	// Number of holes in [1, 3]: count separated 1x1 holes on a big image.
	d = &CoarseDropout{MinHoles: 1, MaxHoles: 3, MinHeight: 1, MaxHeight: 1, MinWidth: 1, MaxWidth: 1, Fill: fill, P: 1}
	img = NewImage(200, 200)
	counts := map[int]int{}
	for range 600 {
		clear(img.Pix)
		d.ApplyAlways(img, r)
		_, _, _, _, n := bbox(filled(img, fill), 200)
		counts[n]++
	}
	if len(counts) != 3 || counts[1] < 150 || counts[2] < 150 || counts[3] < 150 {
		t.Errorf("hole counts %v, want about 200 each of 1, 2, 3", counts)
	}
}

func TestCoarseDropoutHoleLargerThanImage(t *testing.T) {
	// Minimum sizes beyond the image are capped like the maximums: every
	// hole spans the whole height.
	fill := [3]uint8{1, 2, 3}
	d := &CoarseDropout{MinHoles: 1, MaxHoles: 1, MinHeight: 40, MaxHeight: 50, MinWidth: 8, MaxWidth: 8, Fill: fill, P: 1}
	r := newRand(9)
	img := NewImage(32, 32)
	for range 100 {
		clear(img.Pix)
		d.ApplyAlways(img, r)
		x1, y1, x2, y2, n := bbox(filled(img, fill), 32)
		if n != 32*8 || y1 != 0 || y2 != 32 || x2-x1 != 8 {
			t.Fatalf("hole of %d pixels in box [%d,%d)x[%d,%d), want an 8x32 column", n, x1, x2, y1, y2)
		}
	}
}

func TestFillRectClips(t *testing.T) {
	fill := [3]uint8{1, 2, 3}
	img := NewImage(8, 8)
	// Rectangles with nothing inside the image draw nothing.
	for _, r := range [][4]int{
		{10, 0, 14, 4}, {-6, 0, -2, 4}, {0, 9, 4, 12}, {0, -5, 4, -1}, // beyond each edge
		{8, 8, 12, 12}, {3, 3, 3, 6}, {5, 2, 4, 6}, // at the corner, empty, reversed
	} {
		FillRect(img, r[0], r[1], r[2], r[3], fill)
		if _, _, _, _, n := bbox(filled(img, fill), 8); n != 0 {
			t.Fatalf("FillRect%v filled %d pixels, want none", r, n)
		}
	}
	// A rectangle partly outside fills its part inside.
	FillRect(img, -2, 6, 3, 11, fill)
	if x1, y1, x2, y2, n := bbox(filled(img, fill), 8); n != 6 || x1 != 0 || y1 != 6 || x2 != 3 || y2 != 8 {
		t.Fatalf("FillRect(-2, 6, 3, 11) filled %d pixels in [%d,%d)x[%d,%d), want [0,3)x[6,8)", n, x1, x2, y1, y2)
	}
}
