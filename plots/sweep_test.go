package plots

import (
	"math"
	"path/filepath"
	"testing"

	"gotrain/internal/testdir"
)

func TestPlotSweep(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name   string
		values []string
		accs   [][]float64
	}{
		{"lr.png", []string{"0.1", "0.01", "0.05"}, [][]float64{{60, 62}, {55}, {70, math.NaN()}}}, // log scale
		{"seed.png", []string{"1", "2"}, [][]float64{{60}, {61}}},
		{"recipe.png", []string{"seed", "best"}, [][]float64{{85}, {88, 87.5}}}, // categories
	} {
		path := filepath.Join(dir, c.name)
		if err := Sweep(path, c.name, c.values, c.accs); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		counts := colorCounts(decodePNG(t, path, Width, Height))
		// Points in the train colour, the mean line in the test colour.
		if n := nearColor(counts, trainColor); n < 50 {
			t.Errorf("%s: %d pixels of the points' colour", c.name, n)
		}
		if n := nearColor(counts, testColor); n < 50 {
			t.Errorf("%s: %d pixels of the mean line's colour", c.name, n)
		}
	}
	for _, bad := range []struct {
		values []string
		accs   [][]float64
	}{{nil, nil}, {[]string{"1"}, nil}, {[]string{"1"}, [][]float64{{math.NaN()}}}} {
		if err := Sweep(filepath.Join(dir, "bad.png"), "x", bad.values, bad.accs); err == nil {
			t.Errorf("Sweep(%v, %v): no error", bad.values, bad.accs)
		}
	}
	testdir.AssertOnly(t, dir, "lr.png", "seed.png", "recipe.png")
}
