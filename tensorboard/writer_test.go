package tensorboard

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// testImage is a w×h NRGBA image whose pixels all differ.
func testImage(w, h int, opaque bool) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			a := uint8(255)
			if !opaque {
				a = uint8(40 + 13*x + 7*y)
			}
			img.SetNRGBA(x, y, color.NRGBA{uint8(20 * x), uint8(30 * y), uint8(x*y + 5), a})
		}
	}
	return img
}

func encodePNG(t *testing.T, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// wantImage is what the reader must decode for an image: its size,
// TensorBoard colorspace and pixels as non-premultiplied RGBA.
type wantImage struct {
	w, h, colorspace int
	rgba             []byte
}

func rgbaOf(img image.Image) []byte {
	b := img.Bounds()
	var out []byte
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
			out = append(out, c.R, c.G, c.B, c.A)
		}
	}
	return out
}

func TestEventFile(t *testing.T) {
	needReader(t)
	dir := t.TempDir()
	start := wallTime(time.Now())
	w, err := NewSummaryWriter(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	rgb := testImage(5, 3, true)
	rgba := testImage(4, 6, false)
	gray := image.NewGray(image.Rect(0, 0, 7, 2))
	for i := range gray.Pix {
		gray.Pix[i] = uint8(17 * i)
	}
	const config = "# Config\n\n| lr | 0.1 |\n|---|---|\nnaïve ✓"
	type scalar struct {
		tag  string
		v    float64
		step int64
	}
	scalars := []scalar{
		{"train/loss", 2.302585092994046, 1}, {"train/accuracy", 0.1, 1},
		{"lr", 1e-3, 1}, {"train/loss", 1.25, 2}, {"test/loss", -0.5, 2},
		{"images_per_s", 12345.678, 3}, {"train/loss", 0, 1 << 40}, {"huge", 3e38, -2},
	}
	w.AddText("config", config, 0)
	for _, s := range scalars[:4] {
		w.AddScalar(s.tag, s.v, s.step)
	}
	if err := w.AddImage("confusion", rgb, 2); err != nil {
		t.Fatal(err)
	}
	if err := w.AddImagePNG("rgba", encodePNG(t, rgba), 2); err != nil {
		t.Fatal(err)
	}
	if err := w.AddImage("gray", gray, 3); err != nil {
		t.Fatal(err)
	}
	for _, s := range scalars[4:] {
		w.AddScalar(s.tag, s.v, s.step)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	end := wallTime(time.Now())

	files := readEvents(t, dir)
	if len(files) != 1 || files[0].Name != filepath.Base(w.Path()) {
		t.Fatalf("reader found %d files, want only %s", len(files), filepath.Base(w.Path()))
	}
	f := files[0]
	if f.TruncatedTail != 0 {
		t.Errorf("closed file ends in %d bytes of a cut record", f.TruncatedTail)
	}
	ev := f.Events
	if want := 1 + 1 + len(scalars) + 3; len(ev) != want {
		t.Fatalf("%d events, want %d", len(ev), want)
	}
	if ev[0].What != "file_version" || ev[0].FileVersion != "brain.Event:2" || ev[0].Step != 0 {
		t.Errorf("first event %+v, want file_version brain.Event:2 at step 0", ev[0])
	}
	prev := start
	for i, e := range ev {
		if e.WallTime < prev || e.WallTime > end {
			t.Errorf("event %d: wall_time %f not in [%f, %f]", i, e.WallTime, prev, end)
		}
		prev = e.WallTime
		if i > 0 && (e.What != "summary" || len(e.Values) != 1) {
			t.Fatalf("event %d is %q with %d values, want a summary of one value", i, e.What, len(e.Values))
		}
	}

	text := ev[1]
	v := text.Values[0]
	if text.Step != 0 || v.Tag != "config/text_summary" || v.Kind != "tensor" {
		t.Errorf("text event: step %d tag %q kind %q", text.Step, v.Tag, v.Kind)
	}
	if v.Metadata == nil || v.Metadata.PluginName != "text" || len(v.Metadata.Content) != 0 {
		t.Errorf("text metadata %+v, want plugin text with empty content", v.Metadata)
	}
	if v.Tensor == nil || v.Tensor.Dtype != "DT_STRING" || fmt.Sprint(v.Tensor.Shape) != "[1]" ||
		len(v.Tensor.StringVal) != 1 || v.Tensor.StringVal[0] != config {
		t.Errorf("text tensor %+v, want DT_STRING [1] holding %q", v.Tensor, config)
	}

	// The events in the order written: scalars[:4], three images, scalars[4:].
	scalarEvents := append(append([]jsonEvent{}, ev[2:6]...), ev[9:]...)
	for i, s := range scalars {
		e := scalarEvents[i]
		v := e.Values[0]
		if e.Step != s.step || v.Tag != s.tag || v.Kind != "simple_value" || v.Metadata != nil {
			t.Errorf("scalar %d: step %d tag %q kind %q metadata %v, want step %d tag %q simple_value",
				i, e.Step, v.Tag, v.Kind, v.Metadata, s.step, s.tag)
		}
		if want := float64(float32(s.v)); v.SimpleValue != want {
			t.Errorf("scalar %s: %v, want %v", s.tag, v.SimpleValue, want)
		}
	}
	images := []struct {
		tag  string
		step int64
		want wantImage
	}{
		{"confusion", 2, wantImage{5, 3, 3, rgbaOf(rgb)}},
		{"rgba", 2, wantImage{4, 6, 4, rgbaOf(rgba)}},
		{"gray", 3, wantImage{7, 2, 1, rgbaOf(gray)}},
	}
	for i, c := range images {
		e := ev[6+i]
		v := e.Values[0]
		if e.Step != c.step || v.Tag != c.tag || v.Kind != "image" || v.Image == nil {
			t.Fatalf("image %s: step %d tag %q kind %q", c.tag, e.Step, v.Tag, v.Kind)
		}
		im := v.Image
		if im.Width != c.want.w || im.Height != c.want.h || im.Colorspace != c.want.colorspace {
			t.Errorf("image %s: %dx%d colorspace %d, want %dx%d colorspace %d",
				c.tag, im.Width, im.Height, im.Colorspace, c.want.w, c.want.h, c.want.colorspace)
		}
		if im.Format != "PNG" || im.Size != [2]int{c.want.w, c.want.h} {
			t.Errorf("image %s: PIL decodes %s of %v", c.tag, im.Format, im.Size)
		}
		if !bytes.Equal(im.RGBA, c.want.rgba) {
			t.Errorf("image %s: PIL's pixels differ from the image written", c.tag)
		}
	}
}

func TestFlushedEventsSurviveCrash(t *testing.T) {
	needReader(t)
	dir := t.TempDir()
	w, err := NewSummaryWriter(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for step := range int64(3) {
		w.AddScalar("loss", float64(step), step)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	// Added but never flushed: a crash now loses them, and only them.
	w.AddScalar("loss", 99, 3)
	files := readEvents(t, dir)
	if len(files) != 1 || len(files[0].Events) != 4 || files[0].TruncatedTail != 0 {
		t.Fatalf("after Flush the reader sees %+v, want the file_version and 3 scalars", files)
	}
	if last := files[0].Events[3]; last.Step != 2 || last.Values[0].SimpleValue != 2 {
		t.Errorf("last flushed event %+v, want loss=2 at step 2", last)
	}

	// A crash in the middle of a write leaves a cut record at the end: the
	// records before it still read.
	data, err := os.ReadFile(w.Path())
	if err != nil {
		t.Fatal(err)
	}
	cut := t.TempDir()
	rec := appendRecord(nil, summaryEvent(1, 3, scalarValue("loss", 3)))
	if err := os.WriteFile(filepath.Join(cut, filepath.Base(w.Path())), append(data, rec[:len(rec)-3]...), 0o644); err != nil {
		t.Fatal(err)
	}
	files = readEvents(t, cut)
	if len(files) != 1 || len(files[0].Events) != 4 || files[0].TruncatedTail != len(rec)-3 {
		t.Errorf("with a cut record: %d events, tail %d, want 4 events and a %d-byte tail",
			len(files[0].Events), files[0].TruncatedTail, len(rec)-3)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if files := readEvents(t, dir); len(files[0].Events) != 5 {
		t.Errorf("after Close: %d events, want 5", len(files[0].Events))
	}
}

func TestResumePurgesLaterSteps(t *testing.T) {
	needReader(t)
	dir := t.TempDir()
	first, err := NewSummaryWriter(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for step := int64(1); step <= 5; step++ {
		first.AddScalar("loss", float64(step), step)
		first.AddScalar("lr", 0.1, step)
	}
	// The run crashes after step 5 (its events flushed); the last
	// checkpoint was at step 2, so the resumed run starts at step 3.
	if err := first.Flush(); err != nil {
		t.Fatal(err)
	}
	second, err := NewSummaryWriter(dir, Options{Purge: true, PurgeStep: 3})
	if err != nil {
		t.Fatal(err)
	}
	for step := int64(3); step <= 6; step++ {
		second.AddScalar("loss", 10*float64(step), step)
		second.AddScalar("lr", 0.01, step)
	}
	if err := second.Close(); err != nil {
		t.Fatal(err)
	}
	files := readEvents(t, dir)
	if len(files) != 2 || files[0].Name != filepath.Base(first.Path()) || files[1].Name != filepath.Base(second.Path()) {
		t.Fatalf("reader found %v, want the first run's file, then the resumed one's", files)
	}
	head := files[1].Events[:3]
	if head[0].What != "file_version" || head[0].Step != 0 ||
		head[1].What != "file_version" || head[1].FileVersion != "brain.Event:2" || head[1].Step != 3 ||
		head[2].What != "session_log" || head[2].SessionLog != "START" || head[2].Step != 3 {
		t.Fatalf("resumed file starts %+v, want file_version, file_version at 3, SessionLog START at 3", head)
	}

	// TensorBoard's EventAccumulator on a SessionLog START at step T (file
	// version 2): every event loaded so far at a step >= T is dropped.
	seen := map[string][]float64{}
	steps := map[string][]int64{}
	for _, f := range files {
		for _, e := range f.Events {
			if e.What == "session_log" && e.SessionLog == "START" {
				for tag := range steps {
					for i := len(steps[tag]) - 1; i >= 0 && steps[tag][i] >= e.Step; i-- {
						steps[tag], seen[tag] = steps[tag][:i], seen[tag][:i]
					}
				}
			}
			for _, v := range e.Values {
				steps[v.Tag] = append(steps[v.Tag], e.Step)
				seen[v.Tag] = append(seen[v.Tag], v.SimpleValue)
			}
		}
	}
	if got := fmt.Sprint(steps["loss"], seen["loss"]); got != "[1 2 3 4 5 6] [1 2 30 40 50 60]" {
		t.Errorf("loss after the purge: %s, want steps 1-6 once, the resumed run's from 3", got)
	}
	if got := fmt.Sprint(steps["lr"]); got != "[1 2 3 4 5 6]" {
		t.Errorf("lr steps after the purge: %s", got)
	}
}

func TestReaderChecksCRCs(t *testing.T) {
	needReader(t)
	dir := t.TempDir()
	w, err := NewSummaryWriter(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	w.AddScalar("loss", 1.5, 1)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(w.Path())
	if err != nil {
		t.Fatal(err)
	}
	// The second record (the scalar) starts after the first one.
	second := int(binary.LittleEndian.Uint64(data)) + recordOverhead
	for _, c := range []struct {
		name string
		at   int
		want string
	}{
		{"length", second + 1, "length CRC"},
		{"length CRC", second + 9, "length CRC"},
		{"payload", len(data) - 6, "data CRC"},
		{"data CRC", len(data) - 1, "data CRC"},
	} {
		bad := bytes.Clone(data)
		bad[c.at] ^= 0x40
		d := t.TempDir()
		if err := os.WriteFile(filepath.Join(d, filepath.Base(w.Path())), bad, 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := runReader(t, d)
		if err == nil || !strings.Contains(string(out), c.want) {
			t.Errorf("damaged %s: reader said %v %q, want an error about the %s", c.name, err, out, c.want)
		}
	}
}

func TestFileName(t *testing.T) {
	dir := t.TempDir()
	a, err := NewSummaryWriter(dir, Options{FilenameSuffix: ".fold1"})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := NewSummaryWriter(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	host, _ := os.Hostname()
	re := regexp.MustCompile(`^events\.out\.tfevents\.\d{10}\.` + regexp.QuoteMeta(host) +
		fmt.Sprintf(`\.%d\.\d+`, os.Getpid()) + `(\.fold1)?$`)
	for _, w := range []*SummaryWriter{a, b} {
		if filepath.Dir(w.Path()) != dir || w.LogDir() != dir || !re.MatchString(filepath.Base(w.Path())) {
			t.Errorf("event file %s, want %s/%s", w.Path(), dir, re)
		}
	}
	if !strings.HasSuffix(a.Path(), ".fold1") || a.Path() == b.Path() {
		t.Errorf("files %s and %s: want distinct names, the first with the suffix", a.Path(), b.Path())
	}
}

func TestDefaultLogDir(t *testing.T) {
	t.Chdir(t.TempDir())
	w, err := NewSummaryWriter("", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	host, _ := os.Hostname()
	re := regexp.MustCompile(`^runs/[A-Z][a-z]{2}\d{2}_\d{2}-\d{2}-\d{2}_` + regexp.QuoteMeta(host) + `$`)
	if !re.MatchString(filepath.ToSlash(w.LogDir())) {
		t.Errorf("default log dir %q, want runs/<Mon DD_HH-MM-SS>_<host>", w.LogDir())
	}
}

func TestAddImagePNGRejectsOtherData(t *testing.T) {
	w, err := NewSummaryWriter(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	err = w.AddImagePNG("confusion", []byte("GIF89a not a png at all, really not"), 1)
	if err == nil || !strings.Contains(err.Error(), "not a PNG") || !strings.Contains(err.Error(), "confusion") {
		t.Errorf("AddImagePNG(GIF) = %v, want an error naming the tag and saying not a PNG", err)
	}
}

func TestPNGHeaderColorspace(t *testing.T) {
	for _, c := range []struct {
		img  image.Image
		want int
	}{
		{image.NewGray(image.Rect(0, 0, 2, 3)), 1},
		{testImage(2, 3, true), 3},
		{testImage(2, 3, false), 4},
		{image.NewPaletted(image.Rect(0, 0, 2, 3), color.Palette{color.Black, color.White}), 3},
	} {
		var b bytes.Buffer
		if err := png.Encode(&b, c.img); err != nil {
			t.Fatal(err)
		}
		h, w, cs, err := pngHeader(b.Bytes())
		if err != nil || h != 3 || w != 2 || cs != c.want {
			t.Errorf("%T: %dx%d colorspace %d (%v), want 2x3 colorspace %d", c.img, w, h, cs, err, c.want)
		}
	}
}

func TestAddAfterClosePanics(t *testing.T) {
	w, err := NewSummaryWriter(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	defer func() {
		if recover() == nil {
			t.Error("AddScalar after Close did not panic")
		}
	}()
	w.AddScalar("loss", math.Pi, 1)
}
