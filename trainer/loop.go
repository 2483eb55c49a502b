package trainer

import (
	"context"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"

	"gotrain/dataset"
	"gotrain/infer"
	"gotrain/internal/atomicfile"
	"gotrain/internal/progress"
	"gotrain/metrics"
	"gotrain/plots"
	"gotrain/torch"
	"gotrain/torch/nn"
	"gotrain/torch/optim"
	"gotrain/transforms/batched"
)

// run is one training run in progress.
type run struct {
	cfg   Config
	o     Options
	log   *logrus.Logger
	net   nn.Module
	opt   *optim.SGD
	sched *optim.OneCycleLR
	dev   torch.Device
	train *dataset.Loader
	// devAug makes the training batches on the device; nil when the
	// loader does (deviceaug.go).
	devAug *batched.Loader
	test   *dataset.Loader
	state  runState
	tb     *tbLog // TensorBoard events; nil when off
	// ema is the weight average of -ema, nil when off.
	ema *optim.AveragedModel
	// dataWait is the fraction of the last epoch's training time spent
	// waiting for batches.
	dataWait float64
	// lastStep is the duration of the last training step, in nanoseconds.
	lastStep atomic.Int64
	// phases is the time the steps of the current epoch spent in each part.
	phases stepPhases
	// dist is the distributed side of the run (nil: one process).
	dist *dist
}

// stepPhases is the wall time that training steps spent in each of their
// parts, measured on the host: on a GPU, where ops are queued, a part's
// time is the time to queue its kernels plus any wait for the device
// within it (a full queue, a read of a result).
type stepPhases struct {
	// input: batch to tensors (and to the device); forward: network and
	// loss; backward: zero_grad and backward; update: SGD and OneCycleLR;
	// stats: the running loss and accuracy; sync: a distributed run's
	// collectives (buffers, gradients, the stop flag).
	input, forward, backward, update, stats, sync time.Duration
}

// longStep is the step duration from which a stop says how long it waits.
const longStep = 2 * time.Second

// warnLongStop says, when the run is stopped, that the stop waits for the
// step in progress, if the last step took longStep or more.
func (r *run) warnLongStop() {
	if d := time.Duration(r.lastStep.Load()); d >= longStep {
		r.log.Warnf("stopping after the current step (about %.0f s)", d.Seconds())
	}
}

// lap adds the time since t to *d and returns the current time.
func lap(d *time.Duration, t time.Time) time.Time {
	now := time.Now()
	*d += now.Sub(t)
	return now
}

func (r *run) loop(ctx context.Context) (*Result, error) {
	defer context.AfterFunc(ctx, r.warnLongStop)()
	for r.state.Epoch < r.cfg.Epochs {
		epochStart := time.Now()
		if err := r.trainEpoch(ctx); err != nil {
			return nil, err
		}
		// Every rank tests rank 0's weights and buffers on its shard.
		if r.dist != nil {
			if err := r.dist.ddp.SyncBuffers(); err != nil {
				return nil, fmt.Errorf("epoch %d, before the test pass: %w", r.state.Epoch+1, err)
			}
		}
		ev, err := infer.Evaluate(r.evalNet(), r.test, r.dev, r.evalOptions())
		if err != nil {
			return nil, err
		}
		if err := r.dist.reduceEvaluation(ev); err != nil {
			return nil, fmt.Errorf("epoch %d: %w", r.state.Epoch+1, err)
		}
		fmt.Fprintf(r.o.Progress, "\n%s\n\n", EvalSummary(ev.Loss, ev.Correct, ev.Total))
		m := metrics.Epoch{
			Epoch:        r.state.Epoch + 1,
			TrainLoss:    r.state.Partial.LossSum / float64(max(r.state.Partial.Seen, 1)),
			TrainAcc:     100 * float64(r.state.Partial.Correct) / float64(max(r.state.Partial.Seen, 1)),
			TestLoss:     ev.Loss,
			TestAcc:      100 * float64(ev.Correct) / float64(ev.Total),
			LR:           r.opt.LR,
			TrainSeconds: r.state.Partial.TrainSecond,
			TestSeconds:  ev.Seconds,
		}
		m.EpochSeconds = m.TrainSeconds + m.TestSeconds
		m.ImagesPerSec = float64(r.state.Partial.Seen) / m.TrainSeconds
		r.state.History = append(r.state.History, m)
		if !metrics.IsFinite(m.TrainLoss) {
			r.log.Warnf("epoch %d: the training loss is %v: the run has diverged (a lower -lr may help)", m.Epoch, m.TrainLoss)
		}
		r.log.WithFields(logrus.Fields{
			"epoch": m.Epoch, "train_loss": round4(m.TrainLoss), "train_acc": round4(m.TrainAcc),
			"test_loss": round4(m.TestLoss), "test_acc": round4(m.TestAcc), "lr": m.LR,
			"seconds": round4(elapsed(epochStart)), "images_per_sec": round4(m.ImagesPerSec),
			"data_wait_pct": round4(100 * r.dataWait),
		}).Info("epoch done")
		// The first epoch's weights are the best so far even at 0%.
		if m.TestAcc > r.state.BestAcc || len(r.state.History) == 1 {
			r.state.BestAcc = m.TestAcc
			if r.isMain() {
				if err := torch.Save(filepath.Join(r.cfg.Out, BestFile), nn.StateDict(r.evalNet())); err != nil {
					return nil, err
				}
			}
		}
		r.state.Epoch++
		r.state.Batch = 0
		r.state.Partial = partialEpoch{}
		r.state.Confusion = ev.Confusion
		if r.isMain() {
			if err := r.writeEpochFiles(); err != nil {
				return nil, err
			}
		}
		if err := r.dist.barrier(fmt.Sprintf("epoch %d: waiting for rank 0's checkpoint", r.state.Epoch)); err != nil {
			return nil, err
		}
		// An interrupt during the test pass ends the run here, with the
		// epoch's files written (the last epoch's too: -resume exports).
		if stop, err := r.stopRequested(ctx); err != nil {
			return nil, err
		} else if stop {
			r.log.Warnf("interrupted after epoch %d; checkpoint written to %s", r.state.Epoch, filepath.Join(r.cfg.Out, CheckpointFile))
			return nil, ErrInterrupted
		}
	}
	if r.isMain() {
		if err := r.export(); err != nil {
			return nil, err
		}
	}
	if err := r.dist.barrier("waiting for rank 0's final weights"); err != nil {
		return nil, err
	}
	return &Result{History: r.state.History, BestAcc: r.state.BestAcc, OutDir: r.cfg.Out}, nil
}

// trainEpoch trains the rest of epoch r.state.Epoch, checkpointing and
// returning ErrInterrupted if ctx is cancelled between steps.
func (r *run) trainEpoch(ctx context.Context) error {
	nn.SetTraining(r.net, true)
	total := r.train.NumBatches()
	bar := progress.New(r.o.Progress, progress.Config{Total: total, IsTerminal: r.o.IsTerminal, Initial: r.state.Batch})
	if r.state.Batch == 0 {
		fmt.Fprintf(r.o.Progress, "Epoch: %d\n", r.state.Epoch+1)
	}
	// Running sums stay on the device; reading them syncs, so it is rare.
	stats, err := newRunningStats(r.dev)
	if err != nil {
		return err
	}
	defer stats.free()
	lastRead := time.Time{}
	r.phases = stepPhases{}
	start := time.Now()
	// wait is the time the step spent waiting for the loader.
	var wait time.Duration
	ready := time.Now()
	loaderCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for b, err := range r.batches(loaderCtx) {
		wait += time.Since(ready)
		if err != nil {
			return err
		}
		if b.Index < r.state.Batch { // resuming mid-epoch: these were trained
			b.Release()
			start, wait = time.Now(), 0
			ready = start
			continue
		}
		stop, err := r.stopRequested(ctx)
		if err != nil {
			b.Release()
			return fmt.Errorf("epoch %d, batch %d: %w", r.state.Epoch+1, b.Index, err)
		}
		if stop {
			b.Release()
			return r.interrupt(stats, start)
		}
		stepStart := time.Now()
		if err := r.step(b, stats); err != nil {
			b.Release()
			return fmt.Errorf("epoch %d, batch %d: %w", r.state.Epoch+1, b.Index, err)
		}
		r.lastStep.Store(int64(time.Since(stepStart)))
		r.state.Batch = b.Index + 1
		b.Release()
		bar.Update(1)
		if now := time.Now(); now.Sub(lastRead) > 200*time.Millisecond || r.state.Batch == total {
			lastRead = now
			loss, correct, seen, err := stats.read(r.state.Partial)
			if err != nil {
				return err
			}
			bar.SetDescription(TrainDescription(loss/float64(seen), r.state.Batch-1, 100*float64(correct)/float64(seen)))
		}
		ready = time.Now()
	}
	loss, correct, seen, err := stats.read(r.state.Partial)
	if err != nil {
		return err
	}
	if loss, correct, seen, err = r.dist.sumStats(loss, correct, seen); err != nil {
		return fmt.Errorf("epoch %d: %w", r.state.Epoch+1, err)
	}
	r.state.Partial = partialEpoch{LossSum: loss, Correct: correct, Seen: seen, TrainSecond: r.state.Partial.TrainSecond + elapsed(start)}
	ph := r.phases
	r.log.WithFields(logrus.Fields{"epoch": r.state.Epoch + 1, "seconds": round4(elapsed(start)),
		"data_wait": round4(wait.Seconds()), "input": round4(ph.input.Seconds()), "forward": round4(ph.forward.Seconds()),
		"backward": round4(ph.backward.Seconds()), "update": round4(ph.update.Seconds()), "stats": round4(ph.stats.Seconds()),
		"sync": round4(ph.sync.Seconds()),
	}).Debug("training time by part of the step")
	r.dataWait = wait.Seconds() / elapsed(start)
	return bar.Close()
}

// stopRequested reports whether to stop before the next step: ctx was
// cancelled (Ctrl-C), here or, in a distributed run, on any rank, so that
// all ranks stop after the same step.
func (r *run) stopRequested(ctx context.Context) (bool, error) {
	if r.dist == nil {
		return ctx.Err() != nil, nil
	}
	defer lap(&r.phases.sync, time.Now())
	return r.dist.anyStop(ctx.Err() != nil)
}

// interrupt saves a mid-epoch checkpoint and reports the interruption.
func (r *run) interrupt(stats *runningStats, start time.Time) error {
	loss, correct, seen, err := stats.read(r.state.Partial)
	if err != nil {
		return err
	}
	if loss, correct, seen, err = r.dist.sumStats(loss, correct, seen); err != nil {
		return err
	}
	r.state.Partial = partialEpoch{LossSum: loss, Correct: correct, Seen: seen, TrainSecond: r.state.Partial.TrainSecond + elapsed(start)}
	if err := r.tb.flush(); err != nil { // before the checkpoint that covers them
		return err
	}
	path := filepath.Join(r.cfg.Out, CheckpointFile)
	if r.isMain() {
		if err := saveCheckpoint(path, r.net, r.opt, r.sched, r.state, r.ema); err != nil {
			return err
		}
	}
	if err := r.dist.barrier("waiting for rank 0's checkpoint"); err != nil {
		return err
	}
	fmt.Fprintln(r.o.Progress)
	r.log.Warnf("interrupted at epoch %d, batch %d; checkpoint written to %s", r.state.Epoch+1, r.state.Batch, path)
	return ErrInterrupted
}

// step trains on one batch: forward, loss, backward, SGD with the
// scheduled learning rate and momentum. Every tensor it makes is freed
// when it returns.
func (r *run) step(b *trainBatch, stats *runningStats) error {
	s := torch.NewScope()
	defer s.Close()
	t := time.Now()
	x, y, err := b.tensors(r.dev, r.cfg.ChannelsLast)
	if err != nil {
		return err
	}
	t = lap(&r.phases.input, t)
	step := r.sched.LastStep()
	r.opt.SetLR(r.sched.LR(step))
	if m, ok := r.sched.Momentum(step); ok {
		r.opt.SetMomentum(m)
	}
	r.state.LRs = append(r.state.LRs, r.opt.LR)
	if r.dist != nil {
		if err := r.dist.ddp.SyncBuffers(); err != nil {
			return err
		}
		t = lap(&r.phases.sync, t)
	}
	logits, loss, err := infer.ForwardLoss(r.net, x, y, torch.ReduceMean, r.cfg.LabelSmoothing, r.cfg.Autocast)
	if err != nil {
		return err
	}
	t = lap(&r.phases.forward, t)
	if err := r.opt.ZeroGrad(); err != nil {
		return err
	}
	if err := loss.Backward(); err != nil {
		return err
	}
	t = lap(&r.phases.backward, t)
	if r.dist != nil {
		if err := r.dist.ddp.AverageGradients(); err != nil {
			return err
		}
		t = lap(&r.phases.sync, t)
	}
	if err := r.opt.Step(); err != nil {
		return err
	}
	if err := r.sched.Step(); err != nil {
		return err
	}
	if r.ema != nil {
		if err := r.ema.UpdateParameters(); err != nil {
			return err
		}
	}
	r.state.Step++
	if r.tb.wantsStep(r.state.Step) {
		v, err := loss.Item()
		if err != nil {
			return err
		}
		r.tb.stepLoss(r.state.Step, v)
	}
	t = lap(&r.phases.update, t)
	err = stats.add(logits, y, loss, b.N)
	lap(&r.phases.stats, t)
	return err
}

// runningStats accumulates an epoch's summed loss and correct predictions
// on the device, so that a step need not wait for the device to report.
type runningStats struct {
	lossSum, correct *torch.Tensor
	seen             int64
}

func newRunningStats(dev torch.Device) (*runningStats, error) {
	l, err := torch.Zeros([]int64{}, torch.Float64, dev)
	if err != nil {
		return nil, err
	}
	c, err := torch.Zeros([]int64{}, torch.Int64, dev)
	if err != nil {
		l.Free()
		return nil, err
	}
	return &runningStats{lossSum: torch.Keep(l), correct: torch.Keep(c)}, nil
}

func (s *runningStats) free() { s.lossSum.Free(); s.correct.Free() }

// add counts a batch: its mean loss times n, and its correct predictions.
func (s *runningStats) add(logits, y, loss *torch.Tensor, n int) error {
	return torch.NoGrad(func() error {
		l, err := loss.MulScalar(float64(n))
		if err != nil {
			return err
		}
		if err := s.lossSum.Add_(l, 1); err != nil {
			return err
		}
		c, err := correctCount(logits, y)
		if err != nil {
			return err
		}
		s.seen += int64(n)
		return s.correct.Add_(c, 1)
	})
}

// read returns the sums so far plus those of base (from before a resume).
func (s *runningStats) read(base partialEpoch) (loss float64, correct, seen int64, err error) {
	if loss, err = s.lossSum.Item(); err != nil {
		return
	}
	if correct, err = s.correct.ItemInt64(); err != nil {
		return
	}
	return loss + base.LossSum, correct + base.Correct, s.seen + base.Seen, nil
}

// correctCount returns the number of rows of logits whose argmax is y.
func correctCount(logits, y *torch.Tensor) (*torch.Tensor, error) {
	pred, err := logits.Argmax(1, false)
	if err != nil {
		return nil, err
	}
	eq, err := torch.Eq(pred, y)
	if err != nil {
		return nil, err
	}
	return eq.Sum()
}

// writeEpochFiles writes the checkpoint, metrics and plots after an epoch.
func (r *run) writeEpochFiles() error {
	confusion, err := plots.ConfusionMatrixPNG(r.state.Confusion, dataset.Classes)
	if err != nil {
		return fmt.Errorf("plot confusion matrix: %w", err)
	}
	// The epoch's events are on disk before the checkpoint that covers them.
	if err := r.tb.epoch(r.state.Step, r.state.History[len(r.state.History)-1], r.opt.Momentum, confusion); err != nil {
		return err
	}
	if err := saveCheckpoint(filepath.Join(r.cfg.Out, CheckpointFile), r.net, r.opt, r.sched, r.state, r.ema); err != nil {
		return err
	}
	return r.writeReports(confusion)
}

// writeReports writes the metrics and plots of the finished epochs;
// confusion is the last epoch's confusion matrix as a PNG, or nil to make
// it from the run's state.
func (r *run) writeReports(confusion []byte) error {
	out := r.cfg.Out
	if err := metrics.WriteCSV(filepath.Join(out, MetricsCSVFile), r.state.History); err != nil {
		return err
	}
	if err := metrics.WriteJSON(filepath.Join(out, MetricsJSONFile), r.state.History); err != nil {
		return err
	}
	if err := plots.Loss(filepath.Join(out, LossPlotFile), r.state.History); err != nil {
		return err
	}
	if err := plots.Accuracy(filepath.Join(out, AccuracyPlotFile), r.state.History); err != nil {
		return err
	}
	if err := plots.LR(filepath.Join(out, LRPlotFile), r.state.LRs); err != nil {
		return err
	}
	if confusion == nil {
		if r.state.Confusion == nil { // a checkpoint from before it was kept
			return nil
		}
		var err error
		if confusion, err = plots.ConfusionMatrixPNG(r.state.Confusion, dataset.Classes); err != nil {
			return fmt.Errorf("plot confusion matrix: %w", err)
		}
	}
	return atomicfile.Write(filepath.Join(out, ConfusionFile), func(w io.Writer) error {
		_, err := w.Write(confusion)
		return err
	})
}

// export writes the final weights (the EMA's with -ema) as a state_dict
// and as TorchScript.
func (r *run) export() error {
	if err := torch.Save(filepath.Join(r.cfg.Out, StateDictFile), nn.StateDict(r.evalNet())); err != nil {
		return err
	}
	return nn.SaveTorchScript(filepath.Join(r.cfg.Out, TorchScriptFile), r.evalNet())
}

// round4 rounds v to 4 decimals for the log; NaN and infinities stay as
// they are.
func round4(v float64) float64 {
	if !metrics.IsFinite(v) {
		return v
	}
	return math.Round(v*1e4) / 1e4
}
