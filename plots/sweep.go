package plots

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Sweep writes a PNG chart of a sweep's test accuracies (in percent)
// against the values of one swept parameter to path, atomically: a point
// per trial (accs[i] are the trials with values[i]) and a line through
// each value's mean. Values that all read as numbers are placed by
// number, on a log scale when all are positive and span a factor of 10 or
// more (learning rates); others are categories in the order given.
func Sweep(path, param string, values []string, accs [][]float64) error {
	if len(values) == 0 || len(values) != len(accs) {
		return fmt.Errorf("plot sweep %s: %d values and %d accuracy lists", path, len(values), len(accs))
	}
	xs := make([]float64, len(values))
	numeric, lo, hi := true, math.Inf(1), math.Inf(-1)
	for i, v := range values {
		x, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
			numeric = false
			break
		}
		xs[i], lo, hi = x, min(lo, x), max(hi, x)
	}
	p := plot.New()
	p.Title.Text = "Test accuracy by " + param
	p.Title.TextStyle.Font.Size = vg.Points(14)
	p.X.Label.Text = param
	p.Y.Label.Text = "Test accuracy (%)"
	p.Add(plotter.NewGrid())
	switch {
	case !numeric:
		for i := range xs {
			xs[i] = float64(i)
		}
		p.NominalX(values...)
		p.X.Min, p.X.Max = -0.5, float64(len(values))-0.5
	case lo > 0 && hi/lo >= 10:
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	}
	var points, means plotter.XYs
	for i, as := range accs {
		sum, n := 0.0, 0
		for _, a := range as {
			if !math.IsNaN(a) && !math.IsInf(a, 0) {
				points = append(points, plotter.XY{X: xs[i], Y: a})
				sum += a
				n++
			}
		}
		if n > 0 {
			means = append(means, plotter.XY{X: xs[i], Y: sum / float64(n)})
		}
	}
	if len(points) == 0 {
		return fmt.Errorf("plot sweep %s: no finite accuracy to plot", path)
	}
	if numeric {
		slices.SortFunc(means, func(a, b plotter.XY) int { return cmp.Compare(a.X, b.X) })
	}
	line, err := plotter.NewLine(means)
	if err != nil {
		return fmt.Errorf("plot sweep %s: %w", path, err)
	}
	line.Color, line.Width = testColor, vg.Points(1.5)
	scatter, err := plotter.NewScatter(points)
	if err != nil {
		return fmt.Errorf("plot sweep %s: %w", path, err)
	}
	scatter.Color, scatter.Shape, scatter.Radius = trainColor, draw.CircleGlyph{}, vg.Points(3)
	p.Add(line, scatter)
	p.Legend.Add("trial", scatter)
	p.Legend.Add("mean", line)
	p.Legend.Top = true
	if err := savePNG(path, p, Width, Height); err != nil {
		return fmt.Errorf("plot sweep %s: %w", path, err)
	}
	return nil
}
