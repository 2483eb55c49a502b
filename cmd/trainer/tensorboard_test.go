package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/draw"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gotrain/internal/pyref"
	"gotrain/internal/testenv"
	"gotrain/metrics"
	"gotrain/trainer"
)

// The event files are read by tensorboard/testdata/read_events.py, a reader
// built from TensorBoard's own proto schema that checks every record's
// CRCs.
const (
	eventReader = "../../tensorboard/testdata/read_events.py"
	eventProtos = "../../tensorboard/testdata/proto"
)

// needEventReader skips the test unless protoc and Python's protobuf and
// PIL are there; where CI is set it fails instead.
func needEventReader(t *testing.T) {
	t.Helper()
	why := ""
	if _, err := exec.LookPath("protoc"); err != nil {
		why = "protoc missing (apt-get install protobuf-compiler)"
	} else {
		why = pyref.Missing("google.protobuf", "PIL.Image")
	}
	if why != "" {
		testenv.Need(t, "the event file reader: "+why)
	}
}

// The JSON read_events.py prints: a log folder's files in name order.
type (
	tbFile struct {
		Name          string    `json:"name"`
		Events        []tbEvent `json:"events"`
		TruncatedTail int       `json:"truncated_tail"`
	}
	tbEvent struct {
		Step       int64     `json:"step"`
		What       string    `json:"what"`
		SessionLog string    `json:"session_log"`
		Values     []tbValue `json:"values"`
	}
	tbValue struct {
		Tag         string  `json:"tag"`
		Kind        string  `json:"kind"`
		SimpleValue float64 `json:"simple_value"`
		Image       *struct {
			Format string `json:"format"`
			Size   [2]int `json:"size"`
			RGBA   []byte `json:"rgba"`
		} `json:"image"`
		Tensor *struct {
			StringVal []string `json:"string_val"`
		} `json:"tensor"`
	}
)

// readEventFiles reads logdir's event files with the independent reader.
func readEventFiles(t *testing.T, logdir string) []tbFile {
	t.Helper()
	gen := t.TempDir()
	protos, _ := filepath.Glob(filepath.Join(eventProtos, "*.proto"))
	if len(protos) == 0 {
		t.Fatalf("no %s/*.proto", eventProtos)
	}
	args := append([]string{"-I" + eventProtos, "--python_out=" + gen}, protos...)
	if out, err := exec.Command("protoc", args...).CombinedOutput(); err != nil {
		t.Fatalf("protoc: %v\n%s", err, out)
	}
	cmd := exec.Command(pyref.Python, eventReader, gen, logdir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("read_events.py: %v\n%s", err, stderr.String())
	}
	var files []tbFile
	if err := json.Unmarshal(out, &files); err != nil {
		t.Fatal(err)
	}
	return files
}

// tbPoint is one summary value that TensorBoard shows.
type tbPoint struct {
	file int // index of its event file
	step int64
	v    tbValue
}

// visible returns the summary values TensorBoard shows for files read in
// order, as its EventAccumulator does: a SessionLog START at step T drops
// the values read before it at steps >= T, of every tag.
func visible(files []tbFile) map[string][]tbPoint {
	byTag := map[string][]tbPoint{}
	for fi, f := range files {
		for _, ev := range f.Events {
			if ev.What == "session_log" && ev.SessionLog == "START" {
				for tag, ps := range byTag {
					byTag[tag] = slices.DeleteFunc(ps, func(p tbPoint) bool { return p.step >= ev.Step })
				}
			}
			for _, v := range ev.Values {
				byTag[v.Tag] = append(byTag[v.Tag], tbPoint{fi, ev.Step, v})
			}
		}
	}
	return byTag
}

func steps(ps []tbPoint) []int64 {
	var s []int64
	for _, p := range ps {
		s = append(s, p.step)
	}
	return s
}

// TestTensorBoardEvents interrupts a tiny run in its second epoch and
// resumes it twice from the same checkpoint, so that the second resume
// must hide what the first logged after that checkpoint. The event files
// read back with the independent reader (every CRC checked), TensorBoard's
// view of them has each step of each tag once, and its values are those
// of metrics.csv at float32 precision.
func TestTensorBoardEvents(t *testing.T) {
	needArchive(t)
	needEventReader(t)
	out := t.TempDir()
	// 256 images in batches of 16: 16 steps an epoch, the step loss every 3.
	const stepsPerEpoch, every, epochs = 16, 3, 2
	args := []string{"-model", "seed", "-epochs", "2", "-batch-size", "16", "-train-limit", "256", "-test-limit", "100",
		"-seed", "5", "-threads", "1", "-workers", "2", "-data", archive, "-out", out, "-tensorboard-every", "3"}
	stderr := interruptInEpoch2(t, out, args...)
	if !strings.Contains(stderr, "interrupted at epoch 2") {
		t.Fatalf("the run was not interrupted in epoch 2:\n%s", stderr)
	}
	ckpt, err := os.ReadFile(filepath.Join(out, trainer.CheckpointFile))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if i == 1 {
			// Back to the interrupted run's checkpoint: the first resume's
			// events after it are now orphans.
			if err := os.WriteFile(filepath.Join(out, trainer.CheckpointFile), ckpt, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if r := runTrainer(t, "-resume", out); r.code != 0 {
			t.Fatalf("resume %d: exit %d: %s", i+1, r.code, r.stderr)
		}
	}
	tbdir := filepath.Join(out, "tensorboard")
	files := readEventFiles(t, tbdir)
	if len(files) != 3 {
		t.Fatalf("%d event files in %s, want 3 (one per process)", len(files), tbdir)
	}
	for _, f := range files {
		if f.TruncatedTail != 0 || len(f.Events) == 0 || f.Events[0].What != "file_version" {
			t.Errorf("%s: %d events, truncated tail %d", f.Name, len(f.Events), f.TruncatedTail)
		}
	}
	// Each resumed file purges from the step after the checkpoint's.
	var purge []int64
	for _, f := range files {
		for _, ev := range f.Events {
			if ev.What == "session_log" {
				purge = append(purge, ev.Step)
			}
		}
	}
	if len(purge) != 2 || purge[0] != purge[1] || purge[0] < stepsPerEpoch+1 || purge[0] > epochs*stepsPerEpoch {
		t.Fatalf("SessionLog START at steps %v, want twice the step after a checkpoint in epoch 2", purge)
	}
	orphans := 0
	for _, ev := range files[1].Events {
		if ev.What == "summary" && ev.Step >= purge[0] {
			orphans++
		}
	}
	if orphans == 0 {
		t.Fatal("the first resume logged nothing after the checkpoint: nothing was purged")
	}

	hist, err := metrics.ReadCSV(filepath.Join(out, trainer.MetricsCSVFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != epochs {
		t.Fatalf("metrics.csv: %+v", hist)
	}
	shown := visible(files)
	epochEnds := []int64{stepsPerEpoch, epochs * stepsPerEpoch}
	var stepLosses []int64
	for s := int64(every); s <= epochs*stepsPerEpoch; s += every {
		stepLosses = append(stepLosses, s)
	}
	want := map[string]func(metrics.Epoch) float64{
		"Loss/train":              func(m metrics.Epoch) float64 { return m.TrainLoss },
		"Loss/test":               func(m metrics.Epoch) float64 { return m.TestLoss },
		"Accuracy/train":          func(m metrics.Epoch) float64 { return m.TrainAcc },
		"Accuracy/test":           func(m metrics.Epoch) float64 { return m.TestAcc },
		"LR":                      func(m metrics.Epoch) float64 { return m.LR },
		"Throughput/images_per_s": func(m metrics.Epoch) float64 { return m.ImagesPerSec },
	}
	for tag, field := range want {
		ps := shown[tag]
		if !slices.Equal(steps(ps), epochEnds) {
			t.Errorf("%s shown at steps %v, want %v", tag, steps(ps), epochEnds)
			continue
		}
		for e, p := range ps {
			if w := float64(float32(field(hist[e]))); p.v.Kind != "simple_value" || p.v.SimpleValue != w {
				t.Errorf("%s at step %d: %v %v, metrics.csv has %v (float32 %v)", tag, p.step, p.v.Kind, p.v.SimpleValue, field(hist[e]), w)
			}
		}
	}
	if got := steps(shown["Loss/train_step"]); !slices.Equal(got, stepLosses) {
		t.Errorf("Loss/train_step shown at steps %v, want %v", got, stepLosses)
	}
	for _, p := range shown["Loss/train_step"] {
		if !(p.v.SimpleValue > 0 && p.v.SimpleValue < 10) {
			t.Errorf("Loss/train_step at %d is %v", p.step, p.v.SimpleValue)
		}
		if p.step >= purge[0] && p.file != 2 {
			t.Errorf("Loss/train_step at %d shown from file %d, not the last resume's", p.step, p.file)
		}
	}
	// The configuration: from the first process at 0, the last at its start.
	if cs := shown["config/text_summary"]; !slices.Equal(steps(cs), []int64{0, purge[0]}) {
		t.Errorf("config shown at steps %v, want [0 %d]", steps(cs), purge[0])
	} else if v := cs[0].v; v.Tensor == nil || len(v.Tensor.StringVal) != 1 || !strings.Contains(v.Tensor.StringVal[0], "| epochs | 2 |") {
		t.Errorf("config text: %+v", v.Tensor)
	}
	// Momentum follows PyTorch's OneCycleLR (0.95 -> 0.85 -> 0.95 over 32
	// steps): the momentum of each epoch's last step.
	if ms := shown["Momentum"]; !slices.Equal(steps(ms), epochEnds) {
		t.Errorf("Momentum shown at steps %v", steps(ms))
	} else if torchMomentum := oneCycleMomentum(t, epochs*stepsPerEpoch); torchMomentum != nil {
		for _, p := range ms {
			if w := float64(float32(torchMomentum[p.step-1])); math.Abs(p.v.SimpleValue-w) > 1e-7 {
				t.Errorf("Momentum at step %d: %v, PyTorch's OneCycleLR %v", p.step, p.v.SimpleValue, w)
			}
		}
	}
	// The last confusion matrix is the run's confusion_matrix.png.
	cm := shown["ConfusionMatrix/test"]
	if !slices.Equal(steps(cm), epochEnds) {
		t.Fatalf("ConfusionMatrix/test shown at steps %v", steps(cm))
	}
	img := cm[1].v.Image
	if img == nil || img.Format != "PNG" {
		t.Fatalf("confusion matrix: %+v", cm[1].v)
	}
	if !bytes.Equal(img.RGBA, pngRGBA(t, filepath.Join(out, trainer.ConfusionFile))) {
		t.Errorf("the last confusion matrix image (%v) differs from %s", img.Size, trainer.ConfusionFile)
	}
}

// oneCycleMomentum returns the momentum of each of the total steps of
// PyTorch's OneCycleLR with the trainer's settings, or nil without torch.
func oneCycleMomentum(t *testing.T, total int) []float64 {
	t.Helper()
	script := fmt.Sprintf(`
import json, torch
p = torch.nn.Parameter(torch.zeros(1))
opt = torch.optim.SGD([p], lr=0.05, momentum=0.9)
s = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.05, total_steps=%d, pct_start=0.3)
m = []
for _ in range(%d):
    m.append(opt.param_groups[0]["momentum"])
    opt.step(); s.step()
print(json.dumps(m))
`, total, total)
	out, err := exec.Command(pyref.Python, "-c", script).Output()
	if err != nil {
		if testenv.InCI() {
			t.Fatalf("PyTorch's OneCycleLR: %v", err)
		}
		t.Logf("momentum not checked against PyTorch: %v", err)
		return nil
	}
	var m []float64
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// pngRGBA decodes a PNG file to non-premultiplied RGBA bytes, as PIL's
// convert("RGBA").tobytes().
func pngRGBA(t *testing.T, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	src, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	dst := image.NewNRGBA(src.Bounds())
	draw.Draw(dst, dst.Bounds(), src, src.Bounds().Min, draw.Src)
	return dst.Pix
}

// TestTensorBoardOff: -tensorboard off writes no event folder.
func TestTensorBoardOff(t *testing.T) {
	needArchive(t)
	out := t.TempDir()
	r := runTrainer(t, "-model", "seed", "-epochs", "1", "-train-limit", "64", "-test-limit", "50", "-threads", "1",
		"-data", archive, "-out", out, "-tensorboard", "off")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(out, "tensorboard")); err == nil {
		t.Error("-tensorboard off wrote a tensorboard folder")
	}
	if _, err := os.Stat(filepath.Join(out, trainer.MetricsCSVFile)); err != nil {
		t.Error(err)
	}
}

// TestTensorBoardSharedFolder runs two tiny runs with one -tensorboard
// folder, as `tensorboard --logdir` of several runs wants: each writes into
// its own subfolder, named for its -out, and neither hides the other's
// curves (no purge). A third run whose -out has the first's base name
// writes into the first's subfolder, warns, and purges nothing of it.
func TestTensorBoardSharedFolder(t *testing.T) {
	needArchive(t)
	needEventReader(t)
	shared, outs := t.TempDir(), t.TempDir()
	run := func(out string) string {
		t.Helper()
		r := runTrainer(t, "-model", "seed", "-epochs", "1", "-batch-size", "32", "-train-limit", "64", "-test-limit", "50",
			"-threads", "1", "-workers", "1", "-data", archive, "-out", out, "-tensorboard", shared)
		if r.code != 0 {
			t.Fatalf("-out %s: exit %d: %s", out, r.code, r.stderr)
		}
		return r.stderr
	}
	run(filepath.Join(outs, "a"))
	run(filepath.Join(outs, "b"))
	if direct, _ := filepath.Glob(filepath.Join(shared, "events.out.tfevents.*")); len(direct) != 0 {
		t.Errorf("event files %v directly in the shared folder, want them in each run's subfolder", direct)
	}
	// 64 images in batches of 32: the one epoch ends at step 2.
	for _, name := range []string{"a", "b"} {
		files := readEventFiles(t, filepath.Join(shared, name))
		if len(files) != 1 {
			t.Fatalf("%d event files in %s/%s, want 1", len(files), shared, name)
		}
		for _, ev := range files[0].Events {
			if ev.What == "session_log" {
				t.Errorf("run %s: a SessionLog %s at step %d: a new run purges nothing", name, ev.SessionLog, ev.Step)
			}
		}
		if got := steps(visible(files)["Loss/train"]); !slices.Equal(got, []int64{2}) {
			t.Errorf("run %s: Loss/train shown at steps %v, want [2]", name, got)
		}
	}
	stderr := run(filepath.Join(outs, "again", "a"))
	if !strings.Contains(stderr, filepath.Join(shared, "a")+" already holds the events of a run named") {
		t.Errorf("a second run named a did not warn that its events join the first's:\n%s", stderr)
	}
	files := readEventFiles(t, filepath.Join(shared, "a"))
	if got := visible(files)["Loss/train"]; len(files) != 2 || len(got) != 2 || got[0].file != 0 || got[1].file != 1 {
		t.Errorf("run a after a second run of that name: %d files, Loss/train shown from files %v, want both runs' points", len(files), got)
	}
}
