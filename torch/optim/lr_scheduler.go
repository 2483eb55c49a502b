package optim

import (
	"encoding/json"
	"fmt"
	"math"
)

// OneCycleLRConfig holds the arguments of PyTorch's
// torch.optim.lr_scheduler.OneCycleLR for a single parameter group.
// DefaultOneCycleLRConfig fills in PyTorch's defaults; every field is used as
// given, so a zero value means zero, not "default".
type OneCycleLRConfig struct {
	// MaxLR is the peak learning rate of the cycle.
	MaxLR float64 `json:"max_lr"`
	// TotalSteps is the number of optimizer steps in the cycle. If it is
	// zero, the cycle has Epochs*StepsPerEpoch steps.
	TotalSteps int `json:"total_steps,omitempty"`
	// Epochs and StepsPerEpoch give the cycle length when TotalSteps is 0.
	Epochs        int `json:"epochs,omitempty"`
	StepsPerEpoch int `json:"steps_per_epoch,omitempty"`
	// PctStart is the fraction of the cycle spent raising the learning
	// rate, in [0, 1]. PyTorch's default is 0.3.
	PctStart float64 `json:"pct_start"`
	// AnnealStrategy is "cos" (PyTorch's default) or "linear".
	AnnealStrategy string `json:"anneal_strategy"`
	// CycleMomentum makes momentum move inversely to the learning rate
	// between MaxMomentum and BaseMomentum. PyTorch's default is true.
	CycleMomentum bool `json:"cycle_momentum"`
	// BaseMomentum (default 0.85) is the momentum at the learning-rate
	// peak; MaxMomentum (default 0.95) the momentum at the start and end.
	BaseMomentum float64 `json:"base_momentum"`
	MaxMomentum  float64 `json:"max_momentum"`
	// DivFactor (default 25) sets the initial learning rate MaxLR/DivFactor.
	DivFactor float64 `json:"div_factor"`
	// FinalDivFactor (default 1e4) sets the minimum learning rate
	// MaxLR/DivFactor/FinalDivFactor reached at the end of the cycle.
	FinalDivFactor float64 `json:"final_div_factor"`
	// ThreePhase selects the schedule of the original paper (up, down to
	// the initial rate, then down to the minimum) instead of fastai's two
	// phases. PyTorch's default is false.
	ThreePhase bool `json:"three_phase"`
}

// DefaultOneCycleLRConfig returns PyTorch's defaults for OneCycleLR with the
// given peak learning rate and a cycle of epochs*stepsPerEpoch steps.
func DefaultOneCycleLRConfig(maxLR float64, epochs, stepsPerEpoch int) OneCycleLRConfig {
	return OneCycleLRConfig{
		MaxLR:          maxLR,
		Epochs:         epochs,
		StepsPerEpoch:  stepsPerEpoch,
		PctStart:       0.3,
		AnnealStrategy: "cos",
		CycleMomentum:  true,
		BaseMomentum:   0.85,
		MaxMomentum:    0.95,
		DivFactor:      25,
		FinalDivFactor: 1e4,
	}
}

// OneCycleLR is the 1cycle learning-rate policy, computed exactly as
// torch.optim.lr_scheduler.OneCycleLR computes it for one parameter group.
//
// Like PyTorch's scheduler it counts steps: a new scheduler is at step 0
// (PyTorch's last_epoch after construction), and the learning rate for the
// k-th optimizer step (0-based) is LR(k), the value PyTorch has set after
// k calls of scheduler.step(). A training loop uses LR(LastStep()) for the
// current batch and calls Step after the optimizer step. LR and Momentum
// are pure functions of the step and may be called for any step in
// [0, TotalSteps()].
//
// The zero value is not usable; create one with NewOneCycleLR or decode
// one from JSON. A OneCycleLR is not safe for concurrent mutation.
type OneCycleLR struct {
	cfg      OneCycleLRConfig
	total    int
	phases   []oneCyclePhase
	initLR   float64 // PyTorch's group['initial_lr']
	minLR    float64 // PyTorch's group['min_lr']
	lastStep int
}

// oneCyclePhase is one entry of PyTorch's _schedule_phases, with the named
// start and end values already resolved.
type oneCyclePhase struct {
	endStep          float64
	startLR, endLR   float64
	startMom, endMom float64
}

// OneCycleLRState is the serializable state of a OneCycleLR: its
// configuration and the number of Step calls made so far (PyTorch's
// last_epoch). It is what gotrain's first checkpoint layout stored.
type OneCycleLRState struct {
	Config   OneCycleLRConfig `json:"config"`
	LastStep int              `json:"last_step"`
}

// NewOneCycleLR validates cfg as PyTorch does and returns a scheduler at
// step 0.
//
// Beyond PyTorch's checks it requires finite positive MaxLR, DivFactor and
// FinalDivFactor, and it rejects configurations in which a phase of zero
// length would be used (for example PctStart*TotalSteps == 1, or PctStart
// == 1 with two phases): PyTorch fails on those with ZeroDivisionError,
// either at construction or at the final step.
func NewOneCycleLR(cfg OneCycleLRConfig) (*OneCycleLR, error) {
	s := &OneCycleLR{}
	if err := s.init(cfg); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *OneCycleLR) init(cfg OneCycleLRConfig) error {
	var total int
	switch {
	case cfg.TotalSteps != 0:
		if cfg.TotalSteps < 0 {
			return fmt.Errorf("OneCycleLR: expected positive integer total_steps, got %d", cfg.TotalSteps)
		}
		total = cfg.TotalSteps
	case cfg.Epochs == 0 && cfg.StepsPerEpoch == 0:
		return fmt.Errorf("OneCycleLR: either total_steps or both epochs and steps_per_epoch must be set")
	default:
		if cfg.Epochs <= 0 {
			return fmt.Errorf("OneCycleLR: expected positive integer epochs, got %d", cfg.Epochs)
		}
		if cfg.StepsPerEpoch <= 0 {
			return fmt.Errorf("OneCycleLR: expected positive integer steps_per_epoch, got %d", cfg.StepsPerEpoch)
		}
		if cfg.Epochs > math.MaxInt32/cfg.StepsPerEpoch {
			return fmt.Errorf("OneCycleLR: epochs*steps_per_epoch = %d*%d is too large", cfg.Epochs, cfg.StepsPerEpoch)
		}
		total = cfg.Epochs * cfg.StepsPerEpoch
	}
	if !(cfg.PctStart >= 0 && cfg.PctStart <= 1) {
		return fmt.Errorf("OneCycleLR: expected pct_start between 0 and 1, got %v", cfg.PctStart)
	}
	if cfg.AnnealStrategy != "cos" && cfg.AnnealStrategy != "linear" {
		return fmt.Errorf("OneCycleLR: anneal_strategy must be \"cos\" or \"linear\", got %q", cfg.AnnealStrategy)
	}
	for _, v := range []struct {
		name string
		val  float64
	}{{"max_lr", cfg.MaxLR}, {"div_factor", cfg.DivFactor}, {"final_div_factor", cfg.FinalDivFactor}} {
		if !(v.val > 0) || math.IsInf(v.val, 0) {
			return fmt.Errorf("OneCycleLR: %s must be finite and positive, got %v", v.name, v.val)
		}
	}
	if cfg.CycleMomentum {
		for _, v := range []struct {
			name string
			val  float64
		}{{"base_momentum", cfg.BaseMomentum}, {"max_momentum", cfg.MaxMomentum}} {
			if math.IsNaN(v.val) || math.IsInf(v.val, 0) {
				return fmt.Errorf("OneCycleLR: %s must be finite, got %v", v.name, v.val)
			}
		}
	}

	initLR := cfg.MaxLR / cfg.DivFactor
	minLR := initLR / cfg.FinalDivFactor
	up := cfg.PctStart*float64(total) - 1
	var phases []oneCyclePhase
	if cfg.ThreePhase {
		phases = []oneCyclePhase{
			{up, initLR, cfg.MaxLR, cfg.MaxMomentum, cfg.BaseMomentum},
			{2*cfg.PctStart*float64(total) - 2, cfg.MaxLR, initLR, cfg.BaseMomentum, cfg.MaxMomentum},
			{float64(total - 1), initLR, minLR, cfg.MaxMomentum, cfg.MaxMomentum},
		}
	} else {
		phases = []oneCyclePhase{
			{up, initLR, cfg.MaxLR, cfg.MaxMomentum, cfg.BaseMomentum},
			{float64(total - 1), cfg.MaxLR, minLR, cfg.BaseMomentum, cfg.MaxMomentum},
		}
	}
	if err := checkPhaseLengths(phases, total, cfg.PctStart); err != nil {
		return err
	}
	*s = OneCycleLR{cfg: cfg, total: total, phases: phases, initLR: initLR, minLR: minLR}
	return nil
}

// checkPhaseLengths reports a phase of zero length that some step in
// [0, total] falls into; PyTorch divides by that length.
func checkPhaseLengths(phases []oneCyclePhase, total int, pctStart float64) error {
	start := 0.0            // PyTorch's start_step: the previous phase's end
	maxPrev := math.Inf(-1) // a step selects phase i only above all earlier ends
	for i, ph := range phases {
		last := i == len(phases)-1
		if ph.endStep == start {
			lo := math.Max(0, math.Floor(maxPrev)+1)
			hi := float64(total)
			if !last {
				hi = math.Min(hi, math.Floor(ph.endStep))
			}
			if lo <= hi {
				return fmt.Errorf("OneCycleLR: phase %d has zero length (ends at step %v) for total_steps %d and pct_start %v; PyTorch fails there with ZeroDivisionError",
					i+1, ph.endStep, total, pctStart)
			}
		}
		start = ph.endStep
		maxPrev = math.Max(maxPrev, ph.endStep)
	}
	return nil
}

// at computes PyTorch's get_lr and momentum for a step in [0, total].
func (s *OneCycleLR) at(step int) (lr, mom float64) {
	ph, pct := s.phase(step)
	return s.anneal(ph.startLR, ph.endLR, pct), s.anneal(ph.startMom, ph.endMom, pct)
}

// phase returns the phase step falls into and how far through it the step
// is, as PyTorch's get_lr finds them.
func (s *OneCycleLR) phase(step int) (oneCyclePhase, float64) {
	if s.phases == nil {
		panic("optim: OneCycleLR used before initialization; use NewOneCycleLR")
	}
	if step < 0 || step > s.total {
		panic(fmt.Sprintf("optim: OneCycleLR step %d outside [0, %d]", step, s.total))
	}
	x := float64(step)
	start := 0.0
	for i, ph := range s.phases {
		if x <= ph.endStep || i == len(s.phases)-1 {
			return ph, (x - start) / (ph.endStep - start)
		}
		start = ph.endStep
	}
	panic("unreachable")
}

// anneal moves from start to end as pct goes from 0 to 1, with the same
// floating-point operations as PyTorch's _annealing_cos/_annealing_linear.
func (s *OneCycleLR) anneal(start, end, pct float64) float64 {
	if s.cfg.AnnealStrategy == "linear" {
		return (end-start)*pct + start
	}
	cosOut := math.Cos(math.Pi*pct) + 1
	return end + (start-end)/2.0*cosOut
}

// LR returns the learning rate for step, the value PyTorch's scheduler
// sets after step calls of scheduler.step(). It panics if step is outside
// [0, TotalSteps()].
func (s *OneCycleLR) LR(step int) float64 {
	lr, _ := s.at(step)
	return lr
}

// Momentum returns the momentum for step and true, or 0 and false if the
// configuration does not cycle momentum (then the optimizer's momentum is
// left alone, as in PyTorch). It panics if step is outside
// [0, TotalSteps()].
func (s *OneCycleLR) Momentum(step int) (float64, bool) {
	_, mom := s.at(step)
	if !s.cfg.CycleMomentum {
		return 0, false
	}
	return mom, true
}

// InitialLR returns MaxLR/DivFactor, the learning rate at step 0.
func (s *OneCycleLR) InitialLR() float64 { return s.initLR }

// MinLR returns InitialLR()/FinalDivFactor, the learning rate at the last
// step of the cycle.
func (s *OneCycleLR) MinLR() float64 { return s.minLR }

// TotalSteps returns the number of steps in the cycle.
func (s *OneCycleLR) TotalSteps() int { return s.total }

// Config returns the configuration the scheduler was built from.
func (s *OneCycleLR) Config() OneCycleLRConfig { return s.cfg }

// LastStep returns the number of Step calls so far (PyTorch's last_epoch),
// which is the index of the optimizer step the current learning rate is
// for.
func (s *OneCycleLR) LastStep() int { return s.lastStep }

// GetLastLR returns the learning rate for the current step, LR(LastStep()),
// like PyTorch's get_last_lr for a single parameter group.
func (s *OneCycleLR) GetLastLR() float64 { return s.LR(s.lastStep) }

// Step advances the scheduler by one step, as PyTorch's scheduler.step()
// after an optimizer step. Stepping beyond TotalSteps() is an error, as in
// PyTorch; the scheduler then stays where it was.
func (s *OneCycleLR) Step() error {
	next := s.lastStep + 1
	if next > s.total {
		return fmt.Errorf("OneCycleLR: tried to step %d times; the specified number of total steps is %d", next, s.total)
	}
	s.lastStep = next
	return nil
}

// State returns the scheduler's configuration and position, the form
// MarshalJSON writes (gotrain's first checkpoint layout held it); StateDict
// is PyTorch's.
func (s *OneCycleLR) State() OneCycleLRState {
	return OneCycleLRState{Config: s.cfg, LastStep: s.lastStep}
}

// LoadState replaces the scheduler's configuration and position with st,
// after validating them. On error the scheduler is unchanged.
func (s *OneCycleLR) LoadState(st OneCycleLRState) error {
	var n OneCycleLR
	if err := n.init(st.Config); err != nil {
		return fmt.Errorf("load OneCycleLR state: %w", err)
	}
	if st.LastStep < 0 || st.LastStep > n.total {
		return fmt.Errorf("load OneCycleLR state: last_step %d outside [0, %d]", st.LastStep, n.total)
	}
	n.lastStep = st.LastStep
	*s = n
	return nil
}

// MarshalJSON encodes the scheduler as its OneCycleLRState.
func (s *OneCycleLR) MarshalJSON() ([]byte, error) {
	return json.Marshal(s.State())
}

// UnmarshalJSON decodes a OneCycleLRState and loads it with LoadState.
func (s *OneCycleLR) UnmarshalJSON(data []byte) error {
	var st OneCycleLRState
	if err := json.Unmarshal(data, &st); err != nil {
		return fmt.Errorf("decode OneCycleLR state: %w", err)
	}
	return s.LoadState(st)
}
