// Package plots draws a training run's charts as PNG files: loss and
// accuracy per epoch, the learning rate per step, and the confusion matrix
// of a test pass, in matplotlib's colours as the seed project's notebook
// shows them.
package plots

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"io"
	"math"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"gotrain/internal/atomicfile"
	"gotrain/metrics"
)

// Sizes of the PNG files written by this package, in pixels.
const (
	Width  = 800 // width of the loss, accuracy and learning-rate charts
	Height = 500 // height of the loss, accuracy and learning-rate charts

	ConfusionSize = 720 // width and height of the confusion matrix
)

// plotDPI is the resolution the charts are drawn at; text sizes are in
// points, so it sets how large text is relative to the image.
const plotDPI = 96

var (
	trainColor = color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff} // matplotlib's C0
	testColor  = color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff} // matplotlib's C1
)

// Loss writes a PNG chart of the training and test loss per epoch to
// path, atomically. Non-finite values (a diverged run) are left out; a
// history without any finite loss gives a chart without lines.
func Loss(path string, history []metrics.Epoch) error {
	err := plotEpochs(path, "Loss", "Loss", true, history,
		func(m metrics.Epoch) (float64, float64) { return m.TrainLoss, m.TestLoss })
	if err != nil {
		return fmt.Errorf("plot loss %s: %w", path, err)
	}
	return nil
}

// Accuracy writes a PNG chart of the training and test accuracy (in
// percent) per epoch to path, atomically. Non-finite values are left out.
func Accuracy(path string, history []metrics.Epoch) error {
	err := plotEpochs(path, "Accuracy", "Accuracy (%)", false, history,
		func(m metrics.Epoch) (float64, float64) { return m.TrainAcc, m.TestAcc })
	if err != nil {
		return fmt.Errorf("plot accuracy %s: %w", path, err)
	}
	return nil
}

// plotEpochs draws a train and a test series against the epoch number,
// with the legend at the top right (legendTop) or bottom right.
func plotEpochs(path, title, ylabel string, legendTop bool, history []metrics.Epoch, values func(metrics.Epoch) (train, test float64)) error {
	var train, test plotter.XYs
	for _, m := range history {
		tr, te := values(m)
		if metrics.IsFinite(tr) {
			train = append(train, plotter.XY{X: float64(m.Epoch), Y: tr})
		}
		if metrics.IsFinite(te) {
			test = append(test, plotter.XY{X: float64(m.Epoch), Y: te})
		}
	}
	if len(history) == 0 {
		return errors.New("no epochs to plot")
	}
	empty := len(train) == 0 && len(test) == 0
	if empty { // a run that diverged at once: axes over its epochs, no lines
		title += " (no finite values)"
	}
	p := newLinePlot(title, "Epoch", ylabel)
	if empty {
		p.X.Min, p.X.Max = float64(history[0].Epoch), float64(history[len(history)-1].Epoch)+1
		p.Y.Min, p.Y.Max = 0, 1
	}
	p.Legend.Top = legendTop
	for _, s := range []struct {
		name string
		xys  plotter.XYs
		col  color.Color
	}{{"train", train, trainColor}, {"test", test, testColor}} {
		if len(s.xys) == 0 {
			continue
		}
		line, points, err := plotter.NewLinePoints(s.xys)
		if err != nil {
			return err
		}
		line.Color = s.col
		line.Width = vg.Points(1.5)
		points.Color = s.col
		points.Shape = draw.CircleGlyph{}
		points.Radius = vg.Points(2.5)
		p.Add(line, points)
		p.Legend.Add(s.name, line, points)
	}
	return savePNG(path, p, Width, Height)
}

// LR writes a PNG chart of a learning-rate schedule to path,
// atomically: lrs[i] is drawn at x = i, so pass one value per optimizer
// step (x is the step) or one per epoch (x is the epoch index from 0).
func LR(path string, lrs []float64) error {
	var xys plotter.XYs
	for i, v := range lrs {
		if metrics.IsFinite(v) {
			xys = append(xys, plotter.XY{X: float64(i), Y: v})
		}
	}
	if len(xys) == 0 {
		return fmt.Errorf("plot learning rate %s: no finite values to plot", path)
	}
	p := newLinePlot("Learning rate", "Step", "Learning rate")
	line, err := plotter.NewLine(xys)
	if err != nil {
		return fmt.Errorf("plot learning rate %s: %w", path, err)
	}
	line.Color = trainColor
	line.Width = vg.Points(1.5)
	p.Add(line)
	if err := savePNG(path, p, Width, Height); err != nil {
		return fmt.Errorf("plot learning rate %s: %w", path, err)
	}
	return nil
}

// newLinePlot returns a plot with a title, axis labels, a grid and
// whole-number ticks along X.
func newLinePlot(title, xlabel, ylabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = vg.Points(14)
	p.X.Label.Text = xlabel
	p.Y.Label.Text = ylabel
	p.X.Tick.Marker = integerTicks{}
	p.Add(plotter.NewGrid())
	return p
}

// ConfusionMatrix writes a PNG heat map of a confusion matrix to path,
// atomically, with true classes down the side (the first at the top),
// predicted classes along the bottom and each count printed in its cell.
// counts must be square with one class name per row and no negative
// counts, as metrics.ConfusionMatrix returns.
func ConfusionMatrix(path string, counts [][]int, classNames []string) error {
	b, err := ConfusionMatrixPNG(counts, classNames)
	if err != nil {
		return fmt.Errorf("plot confusion matrix %s: %w", path, err)
	}
	return writeFile(path, b)
}

// ConfusionMatrixPNG returns the PNG file that ConfusionMatrix writes, for
// a caller that also needs its bytes (a TensorBoard image summary).
func ConfusionMatrixPNG(counts [][]int, classNames []string) ([]byte, error) {
	n := len(counts)
	if n == 0 {
		return nil, fmt.Errorf("empty matrix")
	}
	if len(classNames) != n {
		return nil, fmt.Errorf("%d class names for a %dx%d matrix", len(classNames), n, n)
	}
	maxCount := 0
	for i, row := range counts {
		if len(row) != n {
			return nil, fmt.Errorf("row %d has %d columns, want %d (the matrix must be square)", i, len(row), n)
		}
		for j, c := range row {
			if c < 0 {
				return nil, fmt.Errorf("negative count %d at [%d][%d]", c, i, j)
			}
			maxCount = max(maxCount, c)
		}
	}

	p := plot.New()
	p.Title.Text = "Confusion matrix"
	p.Title.TextStyle.Font.Size = vg.Points(14)
	p.X.Label.Text = "Predicted"
	p.Y.Label.Text = "True"

	heat := plotter.NewHeatMap(confusionGrid(counts), bluesPalette(256))
	heat.Min, heat.Max = 0, float64(max(maxCount, 1))
	p.Add(heat)

	var xys plotter.XYs
	var texts []string
	for i, row := range counts {
		for j, c := range row {
			xys = append(xys, plotter.XY{X: float64(j), Y: float64(i)})
			texts = append(texts, strconv.Itoa(c))
		}
	}
	labels, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: texts})
	if err != nil {
		return nil, err
	}
	for k := range labels.TextStyle {
		st := &labels.TextStyle[k]
		st.XAlign, st.YAlign = draw.XCenter, draw.YCenter
		st.Font.Size = vg.Points(max(6, min(11, 110/float64(n))))
		st.Color = color.Black
		if c := counts[k/n][k%n]; float64(c) > 0.55*float64(maxCount) {
			st.Color = color.White // dark cell
		}
	}
	p.Add(labels)

	p.NominalX(classNames...)
	p.NominalY(classNames...)
	p.Y.Scale = plot.InvertedScale{Normalizer: plot.LinearScale{}}
	p.X.Min, p.X.Max = -0.5, float64(n)-0.5
	p.Y.Min, p.Y.Max = -0.5, float64(n)-0.5
	p.X.Padding, p.Y.Padding = 0, 0

	var b bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: render(p, ConfusionSize, ConfusionSize)}).WriteTo(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// confusionGrid adapts a square count matrix to plotter.GridXYZ: column c
// is the predicted class, row r the true class.
type confusionGrid [][]int

func (g confusionGrid) Dims() (c, r int)   { return len(g), len(g) }
func (g confusionGrid) Z(c, r int) float64 { return float64(g[r][c]) }
func (g confusionGrid) X(c int) float64    { return float64(c) }
func (g confusionGrid) Y(r int) float64    { return float64(r) }

// bluesPalette runs from white to dark blue, like matplotlib's "Blues".
type bluesPalette int

// Colors implements palette.Palette.
func (n bluesPalette) Colors() []color.Color {
	lo := [3]float64{0xf7, 0xfb, 0xff}
	hi := [3]float64{0x08, 0x30, 0x6b}
	cs := make([]color.Color, n)
	for i := range cs {
		t := float64(i) / float64(max(int(n)-1, 1))
		var c [3]uint8
		for k := range c {
			c[k] = uint8(math.Round(lo[k] + (hi[k]-lo[k])*t))
		}
		cs[i] = color.RGBA{R: c[0], G: c[1], B: c[2], A: 0xff}
	}
	return cs
}

// integerTicks labels whole numbers at a step of 1, 2 or 5 times a power
// of ten, at most about ten of them, for epoch and step axes.
type integerTicks struct{}

// Ticks implements plot.Ticker.
func (integerTicks) Ticks(lo, hi float64) []plot.Tick {
	step := 1.0
	for k := 0; (hi-lo)/step > 10; k++ {
		step = []float64{2, 5, 10}[k%3] * math.Pow(10, float64(k/3))
	}
	var ticks []plot.Tick
	for v := math.Ceil(lo/step) * step; v <= hi; v += step {
		ticks = append(ticks, plot.Tick{Value: v, Label: strconv.FormatInt(int64(v), 10)}) // no "-0"
	}
	return ticks
}

// render draws p on a new width x height pixel canvas.
func render(p *plot.Plot, width, height int) *vgimg.Canvas {
	img := image.NewRGBA(image.Rect(0, 0, width, height))
	c := vgimg.NewWith(vgimg.UseImage(img), vgimg.UseDPI(plotDPI))
	p.Draw(draw.New(c))
	return c
}

// savePNG draws p on a width x height pixel canvas and writes it to path
// as a PNG, atomically.
func savePNG(path string, p *plot.Plot, width, height int) error {
	c := render(p, width, height)
	return atomicfile.Write(path, func(w io.Writer) error {
		_, err := vgimg.PngCanvas{Canvas: c}.WriteTo(w)
		return err
	})
}

// writeFile writes data to path, atomically.
func writeFile(path string, data []byte) error {
	return atomicfile.Write(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}
