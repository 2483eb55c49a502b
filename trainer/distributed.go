package trainer

// Data-parallel training across the processes of a torchrun job, with the
// semantics of PyTorch's DistributedDataParallel (torch/distributed's DDP),
// so that results carry over. This file holds the rank policy:
//
//   - each rank trains on its shard of every epoch, drawn by the rule of
//     torch.utils.data.DistributedSampler (seed+epoch, padded, strided);
//     the batch size is per rank;
//   - every rank tests rank 0's weights and buffers on its share of the
//     test set, and the shares' sums are added up;
//   - only rank 0 writes files, logs and draws the progress bar; the
//     others wait for it at a barrier;
//   - all ranks start from the same point and stop after the same step;
//     a restarted job resumes from its checkpoint (autoResume).
//
// Every rank takes part in the same collectives in the same order; a rank
// that dies makes the others fail at their next collective with an error
// that names it (torch/distributed's RankLostError).

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/sirupsen/logrus"

	"gotrain/infer"
	"gotrain/torch"
	"gotrain/torch/distributed"
	"gotrain/torch/nn"
	"gotrain/torch/optim"
)

// IsMainProcess reports whether this process is its run's main one: always,
// unless torchrun started it as a rank other than 0. Only the main process
// writes into the output folder.
func IsMainProcess() bool {
	env, ok, err := distributed.LookupEnv()
	return err != nil || !ok || env.Rank == 0
}

// dist is the distributed side of a run: the rank policy (who writes,
// the shards, the start and resume rules) over torch/distributed's group
// and DDP. A nil *dist is a run of one process: its methods then do nothing.
type dist struct {
	env distributed.Env
	pg  *distributed.ProcessGroup
	ddp *distributed.DDP // from syncStart on
}

// newDist forms the process group of the job env describes: over NCCL
// when training on CUDA and libtorch has it, else over Gloo. timeout
// bounds the rendezvous and every collective (zero: the package's
// default).
func newDist(env distributed.Env, dev torch.Device, timeout time.Duration) (*dist, error) {
	backend, opts := "gloo", distributed.Options{Timeout: timeout}
	if dev.Type == torch.CUDAType && distributed.HasNCCL() {
		backend, opts.Device = "nccl", dev
	}
	pg, err := distributed.InitProcessGroup(backend, env, opts)
	if err != nil {
		return nil, fmt.Errorf("distributed run: %w", err)
	}
	return &dist{env: env, pg: pg}, nil
}

// close leaves the group.
func (d *dist) close() {
	if d != nil {
		d.pg.Close()
	}
}

// isMain reports whether this is the rank that writes files and logs.
func (d *dist) isMain() bool { return d == nil || d.env.Rank == 0 }

// isMain reports whether this process writes the run's files and logs:
// every run of one process, rank 0 of a distributed one.
func (r *run) isMain() bool { return r.dist.isMain() }

// describe returns the run header's line about the processes.
func (d *dist) describe(cfg Config) string {
	if d == nil {
		return ""
	}
	local := fmt.Sprintf("%d on this machine", d.env.LocalWorldSize)
	if d.env.LocalWorldSize == 0 {
		local = "LOCAL_WORLD_SIZE not set"
	}
	return fmt.Sprintf("Distributed: world size %d (%s), backend %s; batch size %d per rank, %d per step\n",
		d.env.WorldSize, local, d.pg.Backend(), cfg.BatchSize, cfg.BatchSize*d.env.WorldSize)
}

// quiet keeps a rank other than 0 from logging anything below a warning.
func quiet(log *logrus.Logger) {
	if log.GetLevel() > logrus.WarnLevel {
		log.SetLevel(logrus.WarnLevel)
	}
}

// rankDevice resolves the device of a rank: LOCAL_RANK picks the GPU of
// "auto" (where CUDA is available) and "cuda"; "cuda:N" and "cpu" stay.
func rankDevice(name string, env distributed.Env) (torch.Device, error) {
	if name == "cuda" || ((name == "auto" || name == "") && torch.CUDAIsAvailable()) {
		if n := torch.CUDADeviceCount(); env.LocalRank >= n {
			return torch.CPU, fmt.Errorf("LOCAL_RANK=%d picks cuda:%d, but this machine has %d CUDA devices (start at most %d processes per machine)",
				env.LocalRank, env.LocalRank, n, n)
		}
		name = fmt.Sprintf("cuda:%d", env.LocalRank)
	}
	return torch.ResolveDevice(name)
}

// autoResume points o.Resume at the checkpoint in cfg.Out when torchrun
// restarted the job (TORCHELASTIC_RESTART_COUNT > 0) and the run there is
// this one, so that a restart continues where the last checkpoint left
// off. A run started with -resume continues from the checkpoint it has
// written since.
func autoResume(o *Options, cfg Config, env distributed.Env, log *logrus.Logger) {
	if env.RestartCount == 0 {
		return
	}
	path := filepath.Join(cfg.Out, CheckpointFile)
	if o.Resume != "" {
		path = o.Resume
		if st, err := os.Stat(path); err == nil && st.IsDir() {
			path = filepath.Join(path, CheckpointFile)
		}
		// The run writes its checkpoints beside the one it resumed from.
		if own := filepath.Join(filepath.Dir(path), CheckpointFile); own != path {
			if _, err := os.Stat(own); err == nil {
				path = own
			}
		}
		o.Resume = path
		log.Infof("torchrun restart %d: resuming from %s", env.RestartCount, path)
		return
	}
	ck, err := readCheckpoint(path)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			log.Warnf("torchrun restart %d: cannot resume from %s (%v); starting over", env.RestartCount, path, err)
		} else {
			log.Infof("torchrun restart %d: no checkpoint in %s yet; starting over", env.RestartCount, cfg.Out)
		}
		return
	}
	if !sameRecipe(ck.Config, cfg) {
		log.Warnf("torchrun restart %d: the checkpoint in %s is of another run (other settings); starting over", env.RestartCount, cfg.Out)
		return
	}
	o.Resume = path
	log.Infof("torchrun restart %d: resuming from %s", env.RestartCount, path)
}

// sameRecipe reports whether two configurations train the same run: they
// may differ only in their Machine part, where and how it runs.
func sameRecipe(a, b Config) bool { return a.Training == b.Training }

// loadData reads the data set with loadData: on each machine, local rank
// 0 first (it may download or cache the set), the others after it, as
// PyTorch scripts do with a barrier.
func (d *dist) loadData(f func() error) error {
	if d == nil {
		return f()
	}
	if d.env.LocalRank == 0 {
		if err := f(); err != nil {
			return err
		}
		return d.barrier("after local rank 0 read the data set")
	}
	if err := d.barrier("waiting for local rank 0 to read the data set"); err != nil {
		return err
	}
	return f()
}

// barrier waits for every rank; what says where, for the error.
func (d *dist) barrier(what string) error {
	if d == nil {
		return nil
	}
	if err := d.pg.Barrier(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// syncStart checks that every rank was started alike, and wraps net in
// DDP, whose constructor broadcasts rank 0's parameters and buffers. The
// check comes before every collective whose tensors depend on the
// settings: ranks of other networks would make Gloo abort, and ranks of
// other schedules or learning rates would train on or hang.
func (d *dist) syncStart(net nn.Module, cfg Config, st runState, steps int) error {
	if d == nil {
		return nil
	}
	if err := d.pg.CompareSettings(rankSettings(cfg, net, steps, st)); err != nil {
		return fmt.Errorf("%w (start every rank with the same settings; a resumed run from the same checkpoint, "+
			"on several machines in an output folder they share)", err)
	}
	var err error
	d.ddp, err = distributed.NewDDP(net, d.pg)
	return err
}

// rankSettings are what the ranks of a job must agree on: the recipe
// (cfg.Training, not the machine's settings), the network's size, the
// steps of an epoch, and the point the run starts from.
func rankSettings(cfg Config, net nn.Module, steps int, st runState) map[string]string {
	b, err := json.Marshal(cfg.Training)
	if err != nil {
		panic(err) // a Training always marshals
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		panic(err)
	}
	out := map[string]string{
		"parameters":      strconv.FormatInt(nn.NumParameters(net), 10),
		"steps per epoch": strconv.Itoa(steps),
		"the start":       fmt.Sprintf("epoch %d, batch %d, step %d", st.Epoch+1, st.Batch, st.Step),
	}
	for k, v := range fields {
		out[k] = string(v)
	}
	return out
}

// anyStop reports whether any rank was asked to stop (its ctx was
// cancelled), so that all stop after the same step.
func (d *dist) anyStop(stop bool) (bool, error) {
	if d == nil {
		return stop, nil
	}
	stop, err := d.pg.Any(stop)
	if err != nil {
		return false, fmt.Errorf("agreeing on a stop: %w", err)
	}
	return stop, nil
}

// sumStats adds up the ranks' running training sums.
func (d *dist) sumStats(loss float64, correct, seen int64) (float64, int64, int64, error) {
	if d == nil {
		return loss, correct, seen, nil
	}
	out, err := d.pg.AllReduceFloat64s([]float64{loss, float64(correct), float64(seen)}, distributed.Sum)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("adding up the training statistics: %w", err)
	}
	return out[0], int64(out[1]), int64(out[2]), nil
}

// reduceEvaluation adds up the ranks' test passes over their shards into
// the whole test set's.
func (d *dist) reduceEvaluation(ev *infer.Evaluation) error {
	if d == nil {
		return nil
	}
	vals := []float64{ev.Loss * float64(ev.Total), float64(ev.Correct), float64(ev.Total)}
	for _, row := range ev.Confusion {
		for _, v := range row {
			vals = append(vals, float64(v))
		}
	}
	out, err := d.pg.AllReduceFloat64s(vals, distributed.Sum)
	if err != nil {
		return fmt.Errorf("adding up the test pass: %w", err)
	}
	ev.Correct, ev.Total = int(out[1]), int(out[2])
	ev.Loss = out[0] / float64(max(ev.Total, 1))
	k := 3
	for _, row := range ev.Confusion {
		for j := range row {
			row[j] = int(out[k])
			k++
		}
	}
	return nil
}

// progressOut is where a process draws its progress bar and report lines.
func progressOut(w io.Writer, d *dist) io.Writer {
	if d.isMain() {
		return w
	}
	return io.Discard
}

// rescaleResume adapts a run resumed with another number of processes than
// wrote its checkpoint: an epoch now has another number of steps, so the
// scheduler takes this run's (cfg) and is placed at the start of the epoch
// in progress, which restarts from its first batch.
func rescaleResume(st *runState, sched *optim.OneCycleLR, cfg optim.OneCycleLRConfig, log *logrus.Logger) error {
	if st.Batch > 0 {
		log.Warnf("epoch %d was interrupted after %d batches of another number of processes: it restarts from its first batch", st.Epoch+1, st.Batch)
		st.Batch, st.Partial = 0, partialEpoch{}
	}
	if err := sched.LoadState(optim.OneCycleLRState{Config: cfg, LastStep: st.Epoch * cfg.StepsPerEpoch}); err != nil {
		return fmt.Errorf("rescaling the schedule to %d steps per epoch: %w", cfg.StepsPerEpoch, err)
	}
	return nil
}
