package trainer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/sirupsen/logrus"

	"gotrain/metrics"
	"gotrain/tensorboard"
)

// A run's TensorBoard events (Config.TensorBoard) go to a log folder that
// `tensorboard --logdir` shows, under the tags PyTorch users write:
//
//	Loss/train, Loss/test, Accuracy/train, Accuracy/test   per epoch, as in metrics.csv
//	LR, Momentum                                           per epoch: the values of its last step
//	Throughput/images_per_s                                per epoch: training images per second
//	ConfusionMatrix/test                                   per epoch: confusion_matrix.png
//	Loss/train_step                                        every TensorBoardEvery steps: that step's loss
//	config                                                 text: the run's configuration, when a process starts
//
// Every tag has one step axis, the global optimizer step (runState.Step):
// an epoch's summaries are at the step that ends it. That is what makes
// resuming clean, because TensorBoard's purge goes by step number: a
// resumed run starts a new event file that purges from the step after its
// checkpoint's, so what the stopped process logged after that checkpoint is
// hidden and logged anew. The events of an epoch are on disk before its
// checkpoint is written (and those of a partial epoch before an
// interrupted run's checkpoint), so a checkpoint never refers to steps
// whose events could be lost. Only the run's own process (the one that
// writes its other files) writes events.
const (
	tagTrainLoss     = "Loss/train"
	tagTestLoss      = "Loss/test"
	tagTrainAcc      = "Accuracy/train"
	tagTestAcc       = "Accuracy/test"
	tagLR            = "LR"
	tagMomentum      = "Momentum"
	tagThroughput    = "Throughput/images_per_s"
	tagConfusion     = "ConfusionMatrix/test"
	tagTrainStepLoss = "Loss/train_step"
	tagConfig        = "config"
)

// tbLog writes a run's events. A nil *tbLog (TensorBoard off) does nothing.
type tbLog struct {
	w     *tensorboard.SummaryWriter
	every int
}

// TensorBoardDir returns cfg's event folder, or "" for none. A relative
// TensorBoard is a folder of the run's own, within Out; an absolute one is
// a log folder that runs share (`tensorboard --logdir` of it), and the run
// writes into a subfolder of its own there, named for the run (RunName), as
// TensorBoard and Lightning lay runs out.
func TensorBoardDir(cfg Config) string {
	switch {
	case cfg.TensorBoard == "":
		return ""
	case filepath.IsAbs(cfg.TensorBoard):
		return filepath.Join(cfg.TensorBoard, RunName(cfg))
	}
	return filepath.Join(cfg.Out, cfg.TensorBoard)
}

// RunName returns the name of cfg's run in a shared TensorBoard folder:
// the base name of its output folder ("latest" for runs/latest).
func RunName(cfg Config) string {
	if abs, err := filepath.Abs(cfg.Out); err == nil {
		return filepath.Base(abs)
	}
	return filepath.Base(cfg.Out)
}

// openTensorBoard starts the run's event file, and logs its configuration.
// A run resumed from a checkpoint at step (optimizer steps taken) purges
// from step+1, as SummaryWriter(purge_step=step+1): the events of the
// steps after the checkpoint, in its own event folder. A new run purges
// nothing of a shared folder, as SummaryWriter never purges unless asked:
// where its subfolder already holds events (another run of the same name),
// it warns that TensorBoard will show the two as one. In a folder within
// its Out, whose events are those of the run it replaces (-overwrite), a
// new run purges from step 0, as it replaces the run's other files.
func openTensorBoard(cfg Config, step int, resumed bool, log *logrus.Logger) (*tbLog, error) {
	dir := TensorBoardDir(cfg)
	if dir == "" {
		return nil, nil
	}
	var opts tensorboard.Options
	first := int64(0)
	switch {
	case resumed:
		first = int64(step) + 1
		opts = tensorboard.Options{Purge: true, PurgeStep: first}
	case !hasEventFiles(dir):
	case filepath.IsAbs(cfg.TensorBoard):
		log.Warnf("TensorBoard folder %s already holds the events of a run named %q: TensorBoard shows them with this run's as one run (give -out another name, or -tensorboard another folder, to keep them apart)", dir, RunName(cfg))
	default:
		opts = tensorboard.Options{Purge: true, PurgeStep: 0}
	}
	w, err := tensorboard.NewSummaryWriter(dir, opts)
	if err != nil {
		return nil, err
	}
	t := &tbLog{w: w, every: cfg.TensorBoardEvery}
	text, err := configMarkdown(cfg)
	if err == nil {
		t.w.AddText(tagConfig, text, first)
		err = t.w.Flush()
	}
	if err != nil {
		w.Close()
		return nil, err
	}
	return t, nil
}

// hasEventFiles reports whether dir holds TensorBoard event files.
func hasEventFiles(dir string) bool {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "events.out.tfevents.") {
			return true
		}
	}
	return false
}

// configMarkdown formats cfg as a Markdown table of its JSON keys and
// values, in field order, for TensorBoard's text dashboard.
func configMarkdown(cfg Config) (string, error) {
	b, err := json.Marshal(cfg)
	if err != nil {
		return "", err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if _, err := dec.Token(); err != nil { // {
		return "", err
	}
	var sb strings.Builder
	sb.WriteString("| setting | value |\n|---|---|\n")
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return "", err
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return "", err
		}
		val := string(v)
		if s := ""; json.Unmarshal(v, &s) == nil {
			val = s
		}
		fmt.Fprintf(&sb, "| %s | %s |\n", key, strings.ReplaceAll(val, "|", `\|`))
	}
	return sb.String(), nil
}

// wantsStep reports whether the loss of the given step (steps taken so
// far, counting it) is to be logged.
func (t *tbLog) wantsStep(step int) bool {
	return t != nil && t.every > 0 && step%t.every == 0
}

// stepLoss logs a training step's loss.
func (t *tbLog) stepLoss(step int, loss float64) {
	t.w.AddScalar(tagTrainStepLoss, loss, int64(step))
}

// epoch logs a finished epoch at step, the step that ended it, with the
// momentum of that step and the confusion matrix's PNG, and flushes the
// file.
func (t *tbLog) epoch(step int, m metrics.Epoch, momentum float64, confusionPNG []byte) error {
	if t == nil {
		return nil
	}
	s := int64(step)
	t.w.AddScalar(tagTrainLoss, m.TrainLoss, s)
	t.w.AddScalar(tagTestLoss, m.TestLoss, s)
	t.w.AddScalar(tagTrainAcc, m.TrainAcc, s)
	t.w.AddScalar(tagTestAcc, m.TestAcc, s)
	t.w.AddScalar(tagLR, m.LR, s)
	t.w.AddScalar(tagMomentum, momentum, s)
	t.w.AddScalar(tagThroughput, m.ImagesPerSec, s)
	if err := t.w.AddImagePNG(tagConfusion, confusionPNG, s); err != nil {
		return err
	}
	return t.w.Flush()
}

// flush writes the events logged so far to disk.
func (t *tbLog) flush() error {
	if t == nil {
		return nil
	}
	return t.w.Flush()
}

// close flushes and closes the event file.
func (t *tbLog) close() error {
	if t == nil {
		return nil
	}
	return t.w.Close()
}
