package trainer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"

	"gotrain/metrics"
	"gotrain/torch"
	"gotrain/torch/nn"
	"gotrain/torch/optim"
	"gotrain/torch/ptfile"
)

// A checkpoint file is a torch.save file of a dict that PyTorch resumes
// from with its own classes (docs/FORMATS.md has it key by key):
//
//	"model"      the state_dict (OrderedDict of tensors)
//	"optimizer"  torch.optim.SGD(...).state_dict(): {"state": {i:
//	             {"momentum_buffer": t}}, "param_groups": [{"lr": ...,
//	             "initial_lr": ..., "params": [0, 1, ...]}, ...]}
//	"scheduler"  OneCycleLR.state_dict() (less 1.13's anneal_func)
//	"rng_state"  torch.get_rng_state(): libtorch's CPU generator, a uint8 tensor
//	"run"        the run's own state (runState): configuration, epoch and
//	             batch, history; Go's shuffling and augmentation streams
//	             are derived from the seed and the epoch, so they need none
//
// Files of the first layout (checkpointFormatV1: the optimizer's state
// only, the scheduler and run state as JSON text under "progress") still
// load.
const (
	checkpointFormat   = "gotrain-checkpoint/2"
	checkpointFormatV1 = "gotrain-checkpoint/1"
)

// runState is where a run stands: what a checkpoint must restore besides
// the model, optimizer, scheduler and RNG. A checkpoint holds it under
// "run" as a dict with these keys.
type runState struct {
	Format    string          `json:"format"`
	Config    Config          `json:"config"`
	Epoch     int             `json:"epoch"`      // epoch in progress (0-based)
	Batch     int             `json:"batch"`      // batches of Epoch already trained
	Step      int             `json:"step"`       // optimizer steps taken
	History   []metrics.Epoch `json:"history"`    // finished epochs
	BestAcc   float64         `json:"best_acc"`   // best test accuracy so far
	Partial   partialEpoch    `json:"partial"`    // running sums of Epoch so far
	LRs       []float64       `json:"lr_history"` // lr of every step so far
	Confusion [][]int         `json:"confusion"`  // confusion matrix of the last finished epoch
	// WorldSize is the number of processes that trained (0 in files
	// written before distributed runs: one).
	WorldSize int `json:"world_size,omitempty"`
}

// partialEpoch holds the running training statistics of an unfinished epoch.
type partialEpoch struct {
	LossSum     float64 `json:"loss_sum"`
	Correct     int64   `json:"correct"`
	Seen        int64   `json:"seen"`
	TrainSecond float64 `json:"train_seconds"`
}

// MarshalJSON writes a non-finite loss sum (a run whose loss diverged) as
// null, which encoding/json's float encoding refuses.
func (p partialEpoch) MarshalJSON() ([]byte, error) {
	type fields partialEpoch
	f := struct {
		fields
		LossSum *float64 `json:"loss_sum"`
	}{fields: fields(p)}
	if metrics.IsFinite(p.LossSum) {
		f.LossSum = &p.LossSum
	}
	return json.Marshal(f)
}

// UnmarshalJSON reads the form MarshalJSON writes; null reads as NaN.
func (p *partialEpoch) UnmarshalJSON(data []byte) error {
	type fields partialEpoch
	f := struct {
		*fields
		LossSum *float64 `json:"loss_sum"`
	}{fields: (*fields)(p)}
	if err := json.Unmarshal(data, &f); err != nil {
		return err
	}
	p.LossSum = math.NaN()
	if f.LossSum != nil {
		p.LossSum = *f.LossSum
	}
	return nil
}

// saveCheckpoint writes the checkpoint of a run at st to path, replacing
// it atomically. The extra items (the weight EMA's, see EMA) follow the
// others.
func saveCheckpoint(path string, m nn.Module, opt *optim.SGD, sched *optim.OneCycleLR, st runState, extra ...ptfile.Item) error {
	modelDict, err := stateDictObject(nn.StateDict(m))
	if err != nil {
		return err
	}
	optDict, err := optimizerObject(opt, sched)
	if err != nil {
		return err
	}
	rng, err := torch.RNGState()
	if err != nil {
		return err
	}
	st.Format = checkpointFormat
	run, err := jsonObject(st)
	if err != nil {
		return fmt.Errorf("checkpoint run state: %w", err)
	}
	obj := &ptfile.Dict{Items: []ptfile.Item{
		{Key: "model", Value: modelDict},
		{Key: "optimizer", Value: optDict},
		{Key: "scheduler", Value: schedulerObject(sched.PyTorchStateDict(len(opt.ParamGroups())))},
		{Key: "rng_state", Value: &ptfile.Entry{DType: ptfile.Uint8, Shape: []int64{int64(len(rng))}, Data: rng}},
		{Key: "run", Value: run},
	}}
	obj.Items = append(obj.Items, extra...)
	if err := ptfile.SaveFile(path, obj); err != nil {
		return fmt.Errorf("writing checkpoint: %w", err)
	}
	return nil
}

// stateDictObject turns named tensors into an OrderedDict of tensors.
func stateDictObject(ts []nn.NamedTensor) (*ptfile.Dict, error) {
	d := &ptfile.Dict{Ordered: true}
	for _, nt := range ts {
		e, err := nt.Tensor.Entry(nt.Name)
		if err != nil {
			return nil, err
		}
		d.Items = append(d.Items, ptfile.Item{Key: nt.Name, Value: e})
	}
	return d, nil
}

// dict builds a dict from alternating keys and values.
func dict(kv ...any) *ptfile.Dict {
	d := &ptfile.Dict{}
	for i := 0; i < len(kv); i += 2 {
		d.Items = append(d.Items, ptfile.Item{Key: kv[i], Value: kv[i+1]})
	}
	return d
}

// list builds a list of ints or floats.
func list[T int | float64](v []T) *ptfile.List {
	l := make(ptfile.List, len(v))
	for i, x := range v {
		l[i] = x
	}
	return &l
}

// optimizerObject is torch.optim.SGD.state_dict() of opt driven by sched:
// the keys in PyTorch 1.13's order, OneCycleLR's among them, and the lr and
// momentum the scheduler has set for the next step (PyTorch's scheduler sets
// them in step(), ours are set just before the optimizer step).
func optimizerObject(opt *optim.SGD, sched *optim.OneCycleLR) (*ptfile.Dict, error) {
	state := &ptfile.Dict{}
	for _, nt := range opt.State() {
		idx, err := strconv.Atoi(nt.Name[:len(nt.Name)-len(".momentum_buffer")])
		if err != nil {
			return nil, fmt.Errorf("optimizer state %q: %w", nt.Name, err)
		}
		e, err := nt.Tensor.Entry(nt.Name)
		if err != nil {
			return nil, err
		}
		state.Items = append(state.Items, ptfile.Item{Key: int64(idx), Value: dict("momentum_buffer", e)})
	}
	gs := sched.GroupState()
	lr := sched.GetLastLR()
	var groups ptfile.List
	for _, g := range opt.ParamGroupsState() {
		mom := g.Momentum
		if m, ok := sched.Momentum(sched.LastStep()); ok {
			mom = m
		}
		d := dict("lr", lr, "momentum", mom, "dampening", g.Dampening, "weight_decay", g.WeightDecay,
			"nesterov", g.Nesterov, "maximize", false, "foreach", nil, "differentiable", false,
			"initial_lr", gs.InitialLR, "max_lr", gs.MaxLR, "min_lr", gs.MinLR)
		if sched.Config().CycleMomentum {
			d.Items = append(d.Items, dict("max_momentum", gs.MaxMomentum, "base_momentum", gs.BaseMomentum).Items...)
		}
		d.Items = append(d.Items, ptfile.Item{Key: "params", Value: list(g.Params)})
		groups = append(groups, d)
	}
	return dict("state", state, "param_groups", &groups), nil
}

// schedulerObject is OneCycleLR.state_dict() as PyTorch 2.x holds it
// (1.13 holds the annealing method itself as anneal_func, which no
// weights-only file can; its load_state_dict keeps the one its scheduler
// was built with).
func schedulerObject(sd optim.OneCycleLRStateDict) *ptfile.Dict {
	var phases ptfile.List
	for i, ph := range sd.Phases {
		var end any = ph.EndStep
		if i == len(sd.Phases)-1 { // total_steps - 1, a Python int
			end = int64(ph.EndStep)
		}
		phases = append(phases, dict("end_step", end, "start_lr", ph.StartLR, "end_lr", ph.EndLR,
			"start_momentum", ph.StartMomentum, "end_momentum", ph.EndMomentum))
	}
	return dict("total_steps", sd.TotalSteps, "_schedule_phases", &phases, "cycle_momentum", sd.CycleMomentum,
		"use_beta1", false, "base_lrs", list(sd.BaseLRs), "last_epoch", sd.LastEpoch, "verbose", false,
		"_step_count", sd.LastEpoch+1, "_get_lr_called_within_step", false, "_last_lr", list(sd.LastLR),
		"_anneal_func_type", sd.AnnealStrategy)
}

// checkpoint is a checkpoint file read back.
type checkpoint struct {
	runState
	model     []nn.NamedTensor
	optimizer []nn.NamedTensor // momentum buffers, named as optim.SGD.State names them
	groups    []groupState     // nil in the first layout
	scheduler *optim.OneCycleLRStateDict
	legacySch json.RawMessage  // the first layout's scheduler, as JSON
	ema       []nn.NamedTensor // the EMA's entry, if any (see EMA)
	rng       []byte
}

// groupState is a param_groups entry read back.
type groupState struct {
	optim.ParamGroupState
	oneCycle   optim.OneCycleLRGroupState
	hasMomenta bool // max_momentum and base_momentum were given
}

// free releases the checkpoint's tensors.
func (c *checkpoint) free() {
	for _, nt := range append(append(c.model, c.optimizer...), c.ema...) {
		nt.Tensor.Free()
	}
}

// errNotCheckpoint reports a file that is not one of our checkpoints.
var errNotCheckpoint = errors.New("not a gotrain checkpoint")

// readCheckpoint reads a file written by saveCheckpoint (or by PyTorch in
// its layout); its tensors are on the CPU and owned by the caller (free
// them with free). Files of another kind are refused with errNotCheckpoint
// before their tensors are read.
func readCheckpoint(path string) (*checkpoint, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	kind, err := ptfile.DetectFile(path)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	if kind != ptfile.Checkpoint {
		return nil, fmt.Errorf("checkpoint %s: %w (it is a %v)", path, errNotCheckpoint, kind)
	}
	return loadCheckpoint(path)
}

// loadCheckpoint reads path, which ptfile.Detect found to be a checkpoint,
// as readCheckpoint does; another program's checkpoint is refused with
// errNotCheckpoint.
func loadCheckpoint(path string) (*checkpoint, error) {
	obj, err := ptfile.LoadFile(path)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	top, ok := obj.(*ptfile.Dict)
	if !ok {
		return nil, fmt.Errorf("checkpoint %s: %w (top level is %T)", path, errNotCheckpoint, obj)
	}
	c := &checkpoint{}
	if err := c.decode(top); err != nil {
		c.free()
		return nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	return c, nil
}

// decode fills c from a checkpoint's top-level dict.
func (c *checkpoint) decode(top *ptfile.Dict) error {
	run, hasRun := top.Get("run")
	progress, hasProgress := top.Get("progress")
	var text []byte
	switch {
	case hasRun:
		var err error
		if text, err = jsonText(run); err != nil {
			return fmt.Errorf("%w (run: %v)", errNotCheckpoint, err)
		}
	case hasProgress: // the first layout: JSON text
		s, ok := progress.(string)
		if !ok {
			return fmt.Errorf("%w (progress is %s)", errNotCheckpoint, describeValue(progress))
		}
		text = []byte(s)
	default:
		return fmt.Errorf("%w (no run state)", errNotCheckpoint)
	}
	var head struct {
		Format string `json:"format"`
	}
	if json.Unmarshal(text, &head) != nil || !strings.HasPrefix(head.Format, "gotrain-checkpoint/") {
		return fmt.Errorf("%w (no gotrain format in its run state)", errNotCheckpoint)
	}
	switch {
	case head.Format == checkpointFormat && hasRun:
		if err := json.Unmarshal(text, &c.runState); err != nil {
			return fmt.Errorf("bad run state: %w", err)
		}
	case head.Format == checkpointFormatV1 && hasProgress:
		var v1 struct {
			runState
			Scheduler json.RawMessage `json:"scheduler"`
		}
		if err := json.Unmarshal(text, &v1); err != nil {
			return fmt.Errorf("bad progress record: %w", err)
		}
		c.runState, c.legacySch = v1.runState, v1.Scheduler
	default:
		return fmt.Errorf("format %q, want %q (or the older %q): written by another version of gotrain", head.Format, checkpointFormat, checkpointFormatV1)
	}
	md, _ := top.Get("model")
	var err error
	if c.model, err = tensorsOf(md); err != nil {
		return fmt.Errorf("model: %w", err)
	}
	od, _ := top.Get("optimizer")
	if err := c.decodeOptimizer(od); err != nil {
		return fmt.Errorf("optimizer: %w", err)
	}
	if c.Format == checkpointFormat {
		sd, ok := top.Get("scheduler")
		if !ok {
			return errors.New("no scheduler state")
		}
		if c.scheduler, err = decodeScheduler(sd); err != nil {
			return fmt.Errorf("scheduler: %w", err)
		}
	}
	if rv, ok := top.Get("rng_state"); ok {
		e, ok := rv.(*ptfile.Entry)
		if !ok || e.DType != ptfile.Uint8 || len(e.Shape) != 1 {
			return fmt.Errorf("rng_state is not a uint8 vector (torch.get_rng_state()): %s", describeValue(rv))
		}
		c.rng = e.Data
	}
	if ev, ok := top.Get(emaKey); ok {
		if c.ema, err = tensorsOf(ev); err != nil {
			return fmt.Errorf("EMA: %w", err)
		}
	}
	return nil
}

// decodeOptimizer reads an SGD state_dict: its momentum buffers and, in
// the current layout, its param_groups.
func (c *checkpoint) decodeOptimizer(v any) error {
	d, ok := v.(*ptfile.Dict)
	if !ok {
		return fmt.Errorf("not a dict (%s)", describeValue(v))
	}
	st, _ := d.Get("state")
	sd, ok := st.(*ptfile.Dict)
	if !ok {
		return fmt.Errorf("state is not a dict (%s)", describeValue(st))
	}
	for _, it := range sd.Items {
		idx, ok := it.Key.(int64)
		inner, _ := it.Value.(*ptfile.Dict)
		if !ok || inner == nil {
			return fmt.Errorf("state %v is not a parameter number with a dict", it.Key)
		}
		v, _ := inner.Get("momentum_buffer")
		if v == nil { // PyTorch's entry for a parameter stepped without momentum
			continue
		}
		e, ok := v.(*ptfile.Entry)
		if !ok {
			return fmt.Errorf("state %d: momentum_buffer is not a tensor", idx)
		}
		t, err := torch.FromEntry(e)
		if err != nil {
			return err
		}
		c.optimizer = append(c.optimizer, nn.NamedTensor{Name: fmt.Sprintf("%d.momentum_buffer", idx), Tensor: torch.Keep(t)})
	}
	pg, ok := d.Get("param_groups")
	if !ok {
		if c.Format == checkpointFormat {
			return errors.New("no param_groups")
		}
		return nil
	}
	l, ok := pg.(*ptfile.List)
	if !ok {
		return fmt.Errorf("param_groups is not a list (%s)", describeValue(pg))
	}
	for i, gv := range *l {
		g, err := decodeGroup(gv)
		if err != nil {
			return fmt.Errorf("param_groups[%d]: %w", i, err)
		}
		c.groups = append(c.groups, g)
	}
	return nil
}

// decodeGroup reads one param_groups entry of torch.optim.SGD, with
// OneCycleLR's keys. Options this SGD does not have (maximize,
// differentiable) are refused.
func decodeGroup(v any) (groupState, error) {
	var g groupState
	d, ok := v.(*ptfile.Dict)
	if !ok {
		return g, fmt.Errorf("not a dict (%s)", describeValue(v))
	}
	r := fields{d: d}
	g.LR = r.float("lr")
	g.Momentum = r.float("momentum")
	g.Dampening = r.float("dampening")
	g.WeightDecay = r.float("weight_decay")
	g.Nesterov = r.bool("nesterov")
	if r.optBool("maximize") || r.optBool("differentiable") {
		return g, errors.New("maximize and differentiable SGD are not supported")
	}
	g.oneCycle.InitialLR = r.float("initial_lr")
	g.oneCycle.MaxLR = r.float("max_lr")
	g.oneCycle.MinLR = r.float("min_lr")
	if _, ok := d.Get("max_momentum"); ok {
		g.hasMomenta = true
		g.oneCycle.MaxMomentum = r.float("max_momentum")
		g.oneCycle.BaseMomentum = r.float("base_momentum")
	}
	g.Params = r.ints("params")
	return g, r.err
}

// decodeScheduler reads OneCycleLR.state_dict(), as PyTorch 1.13 or 2.x
// writes it (less 1.13's anneal_func, which cannot be unpickled here).
func decodeScheduler(v any) (*optim.OneCycleLRStateDict, error) {
	d, ok := v.(*ptfile.Dict)
	if !ok {
		return nil, fmt.Errorf("not a dict (%s)", describeValue(v))
	}
	r := fields{d: d}
	sd := &optim.OneCycleLRStateDict{
		TotalSteps:    r.int("total_steps"),
		CycleMomentum: r.bool("cycle_momentum"),
		BaseLRs:       r.floats("base_lrs"),
		LastEpoch:     r.int("last_epoch"),
		LastLR:        r.floats("_last_lr"),
	}
	if _, ok := d.Get("_anneal_func_type"); ok {
		sd.AnnealStrategy = r.string("_anneal_func_type")
	}
	if r.optBool("use_beta1") {
		return nil, errors.New("use_beta1 is set: the scheduler drove an optimizer with betas, not SGD")
	}
	pv, _ := d.Get("_schedule_phases")
	pl, ok := pv.(*ptfile.List)
	if !ok && r.err == nil {
		r.err = fmt.Errorf("_schedule_phases is not a list (%s)", describeValue(pv))
	}
	if ok {
		for i, phv := range *pl {
			pd, ok := phv.(*ptfile.Dict)
			if !ok {
				return nil, fmt.Errorf("_schedule_phases[%d] is not a dict", i)
			}
			p := fields{d: pd}
			sd.Phases = append(sd.Phases, optim.OneCyclePhaseState{EndStep: p.float("end_step"),
				StartLR: p.string("start_lr"), EndLR: p.string("end_lr"),
				StartMomentum: p.string("start_momentum"), EndMomentum: p.string("end_momentum")})
			if p.err != nil {
				return nil, fmt.Errorf("_schedule_phases[%d]: %w", i, p.err)
			}
		}
	}
	return sd, r.err
}

// fields reads typed values from a dict, keeping the first error.
type fields struct {
	d   *ptfile.Dict
	err error
}

func (f *fields) get(key string) any {
	v, ok := f.d.Get(key)
	if !ok && f.err == nil {
		f.err = fmt.Errorf("no %q", key)
	}
	return v
}

func (f *fields) fail(key, want string, v any) {
	if f.err == nil {
		f.err = fmt.Errorf("%q is %s, want %s", key, describeValue(v), want)
	}
}

// float reads a Python float or int.
func (f *fields) float(key string) float64 {
	switch v := f.get(key).(type) {
	case float64:
		return v
	case int64:
		return float64(v)
	case nil:
		return 0 // missing: f.err is set
	default:
		f.fail(key, "a number", v)
	}
	return 0
}

func (f *fields) int(key string) int {
	v := f.get(key)
	if i, ok := v.(int64); ok && i >= math.MinInt32 && i <= math.MaxInt32 {
		return int(i)
	}
	f.fail(key, "an int", v)
	return 0
}

func (f *fields) bool(key string) bool {
	v := f.get(key)
	b, ok := v.(bool)
	if !ok {
		f.fail(key, "a bool", v)
	}
	return b
}

// optBool reads a bool that may be missing or None (false).
func (f *fields) optBool(key string) bool {
	v, _ := f.d.Get(key)
	b, _ := v.(bool)
	return b
}

func (f *fields) string(key string) string {
	v := f.get(key)
	s, ok := v.(string)
	if !ok {
		f.fail(key, "a str", v)
	}
	return s
}

func (f *fields) seq(key string) []any {
	switch v := f.get(key).(type) {
	case *ptfile.List:
		return *v
	case ptfile.Tuple:
		return v
	case nil:
	default:
		f.fail(key, "a list", v)
	}
	return nil
}

func (f *fields) ints(key string) []int {
	var out []int
	for _, v := range f.seq(key) {
		i, ok := v.(int64)
		if !ok {
			f.fail(key, "a list of ints", v)
			return nil
		}
		out = append(out, int(i))
	}
	return out
}

func (f *fields) floats(key string) []float64 {
	var out []float64
	for _, v := range f.seq(key) {
		switch x := v.(type) {
		case float64:
			out = append(out, x)
		case int64:
			out = append(out, float64(x))
		default:
			f.fail(key, "a list of numbers", v)
			return nil
		}
	}
	return out
}

// describeValue names a value's Python type for error messages.
func describeValue(v any) string {
	switch v.(type) {
	case nil:
		return "None"
	case *ptfile.Dict:
		return "a dict"
	case *ptfile.List:
		return "a list"
	case *ptfile.Entry:
		return "a tensor"
	case string:
		return "a str"
	case float64:
		return "a float"
	case int64:
		return "an int"
	case bool:
		return "a bool"
	}
	return fmt.Sprintf("a %T", v)
}

// restore loads a checkpoint into the model (already on its device),
// optimizer, scheduler and RNG, and sets st to the run's state. The
// scheduler and optimizer were built from the checkpoint's configuration;
// a checkpoint whose optimizer or schedule does not fit them is refused.
//
// With withSchedule false the scheduler's state is not loaded (nor the
// groups' lr and momentum it sets): the caller rebuilds the schedule.
func restore(ck *checkpoint, net nn.Module, opt *optim.SGD, sched *optim.OneCycleLR, st *runState, withSchedule bool) error {
	res, err := nn.LoadStateDict(net, ck.model)
	if err != nil {
		return fmt.Errorf("checkpoint does not fit model %s: %w", ck.Config.Model, err)
	}
	if res.ByOrder {
		return fmt.Errorf("checkpoint does not fit model %s: parameter names differ", ck.Config.Model)
	}
	switch {
	case !withSchedule:
	case ck.scheduler == nil: // the first layout
		if err := sched.UnmarshalJSON(ck.legacySch); err != nil {
			return fmt.Errorf("checkpoint scheduler state: %w", err)
		}
	default:
		if err := checkGroups(ck.groups, sched); err != nil {
			return err
		}
		if err := sched.LoadPyTorchStateDict(*ck.scheduler); err != nil {
			return fmt.Errorf("checkpoint scheduler state: %w", err)
		}
		groups := make([]optim.ParamGroupState, len(ck.groups))
		for i, g := range ck.groups {
			groups[i] = g.ParamGroupState
		}
		if err := opt.LoadParamGroupsState(groups); err != nil {
			return fmt.Errorf("checkpoint optimizer state: %w", err)
		}
	}
	if err := opt.LoadState(ck.optimizer); err != nil {
		return fmt.Errorf("checkpoint optimizer state: %w", err)
	}
	if len(ck.rng) > 0 {
		if err := torch.SetRNGState(ck.rng); err != nil {
			return fmt.Errorf("checkpoint rng_state: %w", err)
		}
	}
	*st = ck.runState
	return nil
}

// checkGroups checks that OneCycleLR's keys in every parameter group are
// those of sched: the schedule the run continues with is the one recorded.
func checkGroups(groups []groupState, sched *optim.OneCycleLR) error {
	want := sched.GroupState()
	cycle := sched.Config().CycleMomentum
	for i, g := range groups {
		got := g.oneCycle
		if !cycle {
			want.MaxMomentum, want.BaseMomentum = got.MaxMomentum, got.BaseMomentum
		}
		if got != want || cycle && !g.hasMomenta {
			return fmt.Errorf("checkpoint optimizer param_groups[%d]: OneCycleLR keys %+v (momenta given: %v), the run's schedule has %+v",
				i, got, g.hasMomenta, want)
		}
	}
	return nil
}

// tensorsOf converts a dict of tensors into named CPU tensors owned by the caller.
func tensorsOf(v any) ([]nn.NamedTensor, error) {
	d, ok := v.(*ptfile.Dict)
	if !ok {
		return nil, fmt.Errorf("not a dict of tensors (%T)", v)
	}
	var out []nn.NamedTensor
	for _, it := range d.Items {
		name, ok := it.Key.(string)
		e, isT := it.Value.(*ptfile.Entry)
		if !ok || !isT {
			for _, nt := range out {
				nt.Tensor.Free()
			}
			return nil, fmt.Errorf("entry %v is not a named tensor", it.Key)
		}
		t, err := torch.FromEntry(e)
		if err != nil {
			for _, nt := range out {
				nt.Tensor.Free()
			}
			return nil, err
		}
		out = append(out, nn.NamedTensor{Name: name, Tensor: torch.Keep(t)})
	}
	return out, nil
}

// jsonObject converts v, through its JSON encoding, into the Python values
// of a torch.save file: objects become dicts (keys in order), arrays lists,
// numbers ints when written without a fraction or exponent and floats
// otherwise, null None.
func jsonObject(v any) (any, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	return decodeJSON(dec)
}

func decodeJSON(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		if t == '{' {
			d := &ptfile.Dict{}
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return nil, err
				}
				v, err := decodeJSON(dec)
				if err != nil {
					return nil, err
				}
				d.Items = append(d.Items, ptfile.Item{Key: k.(string), Value: v})
			}
			_, err := dec.Token() // '}'
			return d, err
		}
		l := ptfile.List{}
		for dec.More() {
			v, err := decodeJSON(dec)
			if err != nil {
				return nil, err
			}
			l = append(l, v)
		}
		_, err := dec.Token() // ']'
		return &l, err
	case json.Number:
		if i, err := t.Int64(); err == nil {
			return i, nil
		}
		return t.Float64()
	default: // string, bool, nil
		return t, nil
	}
}

// jsonText encodes a tree of Python values as JSON, the inverse of
// jsonObject; non-finite floats become null.
func jsonText(v any) ([]byte, error) {
	var b bytes.Buffer
	if err := writeJSON(&b, v, 0); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func writeJSON(b *bytes.Buffer, v any, depth int) error {
	if depth > 64 {
		return errors.New("nested too deeply")
	}
	switch v := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		b.WriteString(strconv.FormatBool(v))
	case int64:
		b.WriteString(strconv.FormatInt(v, 10))
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			b.WriteString("null")
		} else {
			b.WriteString(strconv.FormatFloat(v, 'g', -1, 64))
		}
	case string:
		s, _ := json.Marshal(v)
		b.Write(s)
	case *ptfile.List:
		return writeJSONList(b, *v, depth)
	case ptfile.Tuple:
		return writeJSONList(b, v, depth)
	case *ptfile.Dict:
		b.WriteByte('{')
		for i, it := range v.Items {
			k, ok := it.Key.(string)
			if !ok {
				return fmt.Errorf("dict key %v is not a str", it.Key)
			}
			if i > 0 {
				b.WriteByte(',')
			}
			ks, _ := json.Marshal(k)
			b.Write(ks)
			b.WriteByte(':')
			if err := writeJSON(b, it.Value, depth+1); err != nil {
				return fmt.Errorf("%s: %w", k, err)
			}
		}
		b.WriteByte('}')
	default:
		return fmt.Errorf("unexpected %s", describeValue(v))
	}
	return nil
}

func writeJSONList(b *bytes.Buffer, l []any, depth int) error {
	b.WriteByte('[')
	for i, x := range l {
		if i > 0 {
			b.WriteByte(',')
		}
		if err := writeJSON(b, x, depth+1); err != nil {
			return err
		}
	}
	b.WriteByte(']')
	return nil
}
