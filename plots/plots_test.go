package plots

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"gotrain/internal/testdir"
	"gotrain/metrics"
	"gotrain/torch/optim"
)

// decodePNG reads path as a PNG and checks its size.
func decodePNG(t *testing.T, path string, w, h int) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s is not a PNG: %v", path, err)
	}
	if b := img.Bounds(); b.Dx() != w || b.Dy() != h {
		t.Errorf("%s is %dx%d, want %dx%d", path, b.Dx(), b.Dy(), w, h)
	}
	return img
}

// colorCounts counts the pixels of each colour.
func colorCounts(img image.Image) map[color.RGBA]int {
	counts := map[color.RGBA]int{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, a := img.At(x, y).RGBA()
			counts[color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(bl >> 8), uint8(a >> 8)}]++
		}
	}
	return counts
}

// nearColor counts pixels within 8 per channel of c.
func nearColor(counts map[color.RGBA]int, c color.RGBA) int {
	n := 0
	for k, v := range counts {
		if absDiff(k.R, c.R) <= 8 && absDiff(k.G, c.G) <= 8 && absDiff(k.B, c.B) <= 8 {
			n += v
		}
	}
	return n
}

func absDiff(a, b uint8) int {
	if a > b {
		return int(a - b)
	}
	return int(b - a)
}

func seedLikeHistory() []metrics.Epoch {
	var h []metrics.Epoch
	for e := 1; e <= 20; e++ {
		x := float64(e)
		h = append(h, metrics.Epoch{
			Epoch: e, TrainLoss: 1.6 * math.Exp(-x/8), TestLoss: 1.7 * math.Exp(-x/9),
			TrainAcc: 34 + 50*(1-math.Exp(-x/5)), TestAcc: 41 + 46*(1-math.Exp(-x/5)),
		})
	}
	return h
}

func TestPlotLossAndAccuracy(t *testing.T) {
	dir := t.TempDir()
	h := seedLikeHistory()
	for name, plot := range map[string]func(string, []metrics.Epoch) error{
		"loss.png": Loss, "accuracy.png": Accuracy,
	} {
		path := filepath.Join(dir, name)
		if err := plot(path, h); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		counts := colorCounts(decodePNG(t, path, Width, Height))
		if len(counts) < 10 {
			t.Errorf("%s has only %d colours", name, len(counts))
		}
		// Both series are drawn in their colours, on a mostly white image.
		if n := nearColor(counts, trainColor); n < 200 {
			t.Errorf("%s: %d pixels of the train colour", name, n)
		}
		if n := nearColor(counts, testColor); n < 200 {
			t.Errorf("%s: %d pixels of the test colour", name, n)
		}
		if n := counts[color.RGBA{255, 255, 255, 255}]; n < Width*Height/2 {
			t.Errorf("%s: only %d white pixels", name, n)
		}
	}
	testdir.AssertOnly(t, dir, "accuracy.png", "loss.png")

	// A diverged epoch is skipped, not an error; nothing finite is one.
	h[5].TrainLoss = math.NaN()
	if err := Loss(filepath.Join(dir, "loss.png"), h); err != nil {
		t.Errorf("NaN loss: %v", err)
	}
	if err := Loss(filepath.Join(dir, "empty.png"), nil); err == nil {
		t.Error("empty history plotted without error")
	}
	testdir.AssertOnly(t, dir, "accuracy.png", "loss.png")

	// A run that diverged at once still gets its chart, without lines.
	nan := []metrics.Epoch{{Epoch: 1, TrainLoss: math.NaN(), TestLoss: math.NaN()}, {Epoch: 2, TrainLoss: math.Inf(1), TestLoss: math.NaN()}}
	path := filepath.Join(dir, "diverged.png")
	if err := Loss(path, nan); err != nil {
		t.Fatalf("all-NaN loss: %v", err)
	}
	counts := colorCounts(decodePNG(t, path, Width, Height))
	if n := nearColor(counts, trainColor) + nearColor(counts, testColor); n != 0 {
		t.Errorf("diverged.png: %d pixels of the series colours, want none", n)
	}
}

func TestPlotLR(t *testing.T) {
	dir := t.TempDir()
	s, err := optim.NewOneCycleLR(optim.DefaultOneCycleLRConfig(0.05, 20, 391))
	if err != nil {
		t.Fatal(err)
	}
	lrs := make([]float64, s.TotalSteps())
	for k := range lrs {
		lrs[k] = s.LR(k)
	}
	path := filepath.Join(dir, "lr.png")
	if err := LR(path, lrs); err != nil {
		t.Fatal(err)
	}
	counts := colorCounts(decodePNG(t, path, Width, Height))
	if n := nearColor(counts, trainColor); n < 500 {
		t.Errorf("%d pixels of the line colour", n)
	}
	if err := LR(filepath.Join(dir, "none.png"), nil); err == nil {
		t.Error("empty schedule plotted without error")
	}
	testdir.AssertOnly(t, dir, "lr.png")
}

var cifarClasses = []string{"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"}

func TestPlotConfusionMatrix(t *testing.T) {
	dir := t.TempDir()
	counts := make([][]int, 10)
	for i := range counts {
		counts[i] = make([]int, 10)
		for j := range counts[i] {
			counts[i][j] = (i*7 + j*3) % 11
		}
		counts[i][i] = 850 + 10*i
	}
	path := filepath.Join(dir, "confusion.png")
	if err := ConfusionMatrix(path, counts, cifarClasses); err != nil {
		t.Fatal(err)
	}
	img := decodePNG(t, path, ConfusionSize, ConfusionSize)
	cc := colorCounts(img)
	if len(cc) < 50 {
		t.Errorf("only %d colours", len(cc))
	}
	// The largest counts (the diagonal) are the palette's darkest blue,
	// and there are ten such cells of many pixels each.
	dark := color.RGBA{0x08, 0x30, 0x6b, 0xff}
	if n := nearColor(cc, dark); n < 10*400 {
		t.Errorf("%d dark-blue pixels for the diagonal", n)
	}
	testdir.AssertOnly(t, dir, "confusion.png")

	// The bytes variant is the file's content.
	b, err := ConfusionMatrixPNG(counts, cifarClasses)
	if err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, file) {
		t.Errorf("ConfusionMatrixPNG gave %d bytes, the file has %d", len(b), len(file))
	}
}

func TestPlotConfusionMatrixRejectsBadShapes(t *testing.T) {
	dir := t.TempDir()
	square := [][]int{{1, 2}, {3, 4}}
	for name, c := range map[string]struct {
		counts [][]int
		names  []string
	}{
		"non-square":      {[][]int{{1, 2, 3}, {4, 5, 6}}, []string{"a", "b"}},
		"ragged":          {[][]int{{1, 2}, {3}}, []string{"a", "b"}},
		"too few names":   {square, []string{"a"}},
		"too many names":  {square, []string{"a", "b", "c"}},
		"empty":           {nil, nil},
		"negative counts": {[][]int{{1, -2}, {3, 4}}, []string{"a", "b"}},
	} {
		path := filepath.Join(dir, "cm.png")
		err := ConfusionMatrix(path, c.counts, c.names)
		if err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: error = %v, want an error naming the file", name, err)
		}
	}
	testdir.AssertOnly(t, dir)
}

func TestPlotIntoMissingDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing", "loss.png")
	if err := Loss(path, seedLikeHistory()); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("error = %v, want not-exist", err)
	}
}

func TestIntegerTicks(t *testing.T) {
	for _, c := range []struct {
		lo, hi float64
		want   []float64
	}{
		{1, 20, []float64{2, 4, 6, 8, 10, 12, 14, 16, 18, 20}},
		{1, 3, []float64{1, 2, 3}},
		{0.5, 1.5, []float64{1}},
		{0, 7819, []float64{0, 1000, 2000, 3000, 4000, 5000, 6000, 7000}},
		{-0.5, 40, []float64{0, 5, 10, 15, 20, 25, 30, 35, 40}},
	} {
		var got []float64
		for _, tk := range (integerTicks{}).Ticks(c.lo, c.hi) {
			got = append(got, tk.Value)
			if tk.Label != strconv.Itoa(int(tk.Value)) {
				t.Errorf("tick %v labelled %q", tk.Value, tk.Label)
			}
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("Ticks(%v, %v) = %v, want %v", c.lo, c.hi, got, c.want)
		}
	}
}
