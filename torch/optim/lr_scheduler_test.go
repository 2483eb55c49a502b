package optim

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"testing"

	"gotrain/internal/pyref"
)

// torchOneCycleKwargs turns cfg into OneCycleLR keyword arguments.
func torchOneCycleKwargs(cfg OneCycleLRConfig) map[string]any {
	kw := map[string]any{
		"max_lr":           cfg.MaxLR,
		"pct_start":        cfg.PctStart,
		"anneal_strategy":  cfg.AnnealStrategy,
		"cycle_momentum":   cfg.CycleMomentum,
		"base_momentum":    cfg.BaseMomentum,
		"max_momentum":     cfg.MaxMomentum,
		"div_factor":       cfg.DivFactor,
		"final_div_factor": cfg.FinalDivFactor,
		"three_phase":      cfg.ThreePhase,
	}
	if cfg.TotalSteps != 0 {
		kw["total_steps"] = cfg.TotalSteps
	} else {
		kw["epochs"] = cfg.Epochs
		kw["steps_per_epoch"] = cfg.StepsPerEpoch
	}
	return kw
}

type torchOneCycleResult struct {
	LR        []float64 `json:"lr"`
	Momentum  []float64 `json:"momentum"`
	Error     *string   `json:"error"`
	ErrorType *string   `json:"error_type"`
	ErrorAt   *int      `json:"error_at"`
}

// torchOneCycle runs PyTorch's OneCycleLR for each configuration.
func torchOneCycle(t *testing.T, cfgs []OneCycleLRConfig) []torchOneCycleResult {
	t.Helper()
	pyref.Require(t, "torch")
	var kws []map[string]any
	for _, c := range cfgs {
		kws = append(kws, torchOneCycleKwargs(c))
	}
	in, err := json.Marshal(kws)
	if err != nil {
		t.Fatal(err)
	}
	// Python's json needs pct_start etc. to stay floats: Go writes 1 for
	// 1.0, and PyTorch rejects a non-float pct_start.
	var res []torchOneCycleResult
	out := pyref.Run(t, "testdata/onecycle_ref.py", floatifyPct(in))
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("decode PyTorch output: %v\n%s", err, out)
	}
	if len(res) != len(cfgs) {
		t.Fatalf("PyTorch returned %d results for %d configs", len(res), len(cfgs))
	}
	return res
}

// floatifyPct rewrites integral pct_start values (e.g. "pct_start":1) as
// floats, because OneCycleLR insists on isinstance(pct_start, float).
func floatifyPct(in []byte) []byte {
	s := string(in)
	for _, v := range []string{"0", "1"} {
		s = strings.ReplaceAll(s, `"pct_start":`+v+",", `"pct_start":`+v+".0,")
		s = strings.ReplaceAll(s, `"pct_start":`+v+"}", `"pct_start":`+v+".0}")
	}
	return []byte(s)
}

func relClose(a, b, tol float64) bool {
	return math.Abs(a-b) <= tol*math.Max(math.Abs(a), math.Abs(b))
}

// scheduleClose reports whether a value of the schedule s at step k
// matches PyTorch's within 1e-12 relative, plus the one allowance that
// different libm implementations force: Go's math.Cos and glibc's cos (used
// by Python) may differ by an ulp, and in cos(pi*pct)+1 near the end of a
// cosine phase that ulp (2^-53 for |cos| in [0.5, 1]) is not small relative
// to the result. It costs at most |start-end|/2 * 2^-53 per ulp in the
// value; 1.5 ulps are allowed (1.00007 were seen). Linear phases get no allowance.
func scheduleClose(s *OneCycleLR, k int, got, want float64, momentum bool) bool {
	if relClose(got, want, 1e-12) {
		return true
	}
	if s.cfg.AnnealStrategy != "cos" {
		return false
	}
	ph, _ := s.phase(k)
	start, end := ph.startLR, ph.endLR
	if momentum {
		start, end = ph.startMom, ph.endMom
	}
	return math.Abs(got-want) <= 1e-12*math.Abs(want)+1.5*math.Abs(start-end)/2*0x1p-53
}

func TestOneCycleLRMatchesPyTorch(t *testing.T) {
	seed := DefaultOneCycleLRConfig(0.05, 20, 391) // the seed project's run
	small := DefaultOneCycleLRConfig(0.05, 0, 0)
	small.TotalSteps, small.PctStart = 7, 0.25
	linear := DefaultOneCycleLRConfig(0.1, 3, 5)
	linear.AnnealStrategy = "linear"
	three := DefaultOneCycleLRConfig(1.0, 0, 0)
	three.TotalSteps, three.ThreePhase = 100, true
	threeOdd := DefaultOneCycleLRConfig(0.3, 0, 0)
	threeOdd.TotalSteps, threeOdd.PctStart, threeOdd.ThreePhase, threeOdd.AnnealStrategy = 13, 0.4, true, "linear"
	factors := DefaultOneCycleLRConfig(0.8, 0, 0)
	factors.TotalSteps, factors.DivFactor, factors.FinalDivFactor, factors.PctStart = 11, 10, 100, 0.45
	factors.BaseMomentum, factors.MaxMomentum = 0.8, 0.99
	zeroPct := DefaultOneCycleLRConfig(0.05, 0, 0)
	zeroPct.TotalSteps, zeroPct.PctStart = 9, 0
	one := DefaultOneCycleLRConfig(0.05, 0, 0)
	one.TotalSteps = 1
	two := DefaultOneCycleLRConfig(0.05, 0, 0)
	two.TotalSteps = 2
	noMom := DefaultOneCycleLRConfig(0.05, 2, 3)
	noMom.CycleMomentum = false

	cfgs := []OneCycleLRConfig{seed, small, linear, three, threeOdd, factors, zeroPct, one, two, noMom}

	// PyTorch divides by a zero phase length for these; NewOneCycleLR must
	// reject them rather than produce NaN or Inf.
	atStart := DefaultOneCycleLRConfig(0.05, 0, 0)
	atStart.TotalSteps, atStart.PctStart = 4, 0.25 // first phase ends at step 0
	atEnd := DefaultOneCycleLRConfig(0.05, 0, 0)
	atEnd.TotalSteps, atEnd.PctStart = 10, 1.0 // second phase is empty
	threeAtEnd := DefaultOneCycleLRConfig(0.05, 0, 0)
	threeAtEnd.TotalSteps, threeAtEnd.PctStart, threeAtEnd.ThreePhase = 4, 0.625, true // 2*2.5-2 == 4-1
	zeroLen := []OneCycleLRConfig{atStart, atEnd, threeAtEnd}

	// One Python run for all: importing torch takes seconds.
	want := torchOneCycle(t, append(append([]OneCycleLRConfig{}, cfgs...), zeroLen...))
	for i, cfg := range zeroLen {
		w := want[len(cfgs)+i]
		if w.ErrorType == nil || *w.ErrorType != "ZeroDivisionError" {
			t.Errorf("zero-length config %d: PyTorch did not fail with ZeroDivisionError: %+v", i, w)
		}
		if _, err := NewOneCycleLR(cfg); err == nil || !strings.Contains(err.Error(), "zero length") {
			t.Errorf("zero-length config %d %+v: NewOneCycleLR error = %v, want zero-length phase error", i, cfg, err)
		}
	}
	for i, cfg := range cfgs {
		w := want[i]
		s, err := NewOneCycleLR(cfg)
		if err != nil {
			t.Errorf("config %d %+v: %v", i, cfg, err)
			continue
		}
		total := s.TotalSteps()
		if len(w.LR) != total+1 {
			t.Fatalf("config %d: PyTorch recorded %d values, want total_steps+1 = %d", i, len(w.LR), total+1)
		}
		for k := 0; k <= total; k++ {
			if got := s.LR(k); !scheduleClose(s, k, got, w.LR[k], false) {
				t.Errorf("config %d: LR(%d) = %v, PyTorch %v", i, k, got, w.LR[k])
			}
			m, ok := s.Momentum(k)
			if ok != cfg.CycleMomentum {
				t.Errorf("config %d: Momentum(%d) ok = %v, want %v", i, k, ok, cfg.CycleMomentum)
			}
			if !ok {
				// PyTorch leaves the optimizer's own momentum alone.
				if w.Momentum[k] != 0.9 {
					t.Errorf("config %d: PyTorch changed momentum to %v without cycle_momentum", i, w.Momentum[k])
				}
			} else if !scheduleClose(s, k, m, w.Momentum[k], true) {
				t.Errorf("config %d: Momentum(%d) = %v, PyTorch %v", i, k, m, w.Momentum[k])
			}
		}

		// Stepping: PyTorch fails on the (total+1)-th step() call.
		if w.ErrorAt == nil || *w.ErrorAt != total+1 || *w.ErrorType != "ValueError" {
			t.Fatalf("config %d: PyTorch did not fail on step %d as expected: %+v", i, total+1, w)
		}
		for k := 1; k <= total; k++ {
			if err := s.Step(); err != nil {
				t.Fatalf("config %d: Step %d: %v", i, k, err)
			}
			if got := s.GetLastLR(); !scheduleClose(s, k, got, w.LR[k], false) {
				t.Errorf("config %d: after %d steps GetLastLR = %v, PyTorch %v", i, k, got, w.LR[k])
			}
		}
		err = s.Step()
		if err == nil {
			t.Fatalf("config %d: Step beyond total_steps succeeded", i)
		}
		wantMsg := "the specified number of total steps is " + strconv.Itoa(total)
		if !strings.Contains(err.Error(), wantMsg) || !strings.Contains(strings.ToLower(*w.Error), wantMsg) {
			t.Errorf("config %d: error %q / PyTorch %q, want both to contain %q", i, err, *w.Error, wantMsg)
		}
		if s.LastStep() != total {
			t.Errorf("config %d: failed Step moved LastStep to %d", i, s.LastStep())
		}
	}
}

// Hand-worked values of the default two-phase cosine schedule.
func TestOneCycleLRHandWorked(t *testing.T) {
	cfg := DefaultOneCycleLRConfig(1, 0, 0)
	cfg.TotalSteps, cfg.PctStart = 21, 0.5 // up: steps 0..9.5, down: 9.5..20
	s, err := NewOneCycleLR(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.InitialLR(), 0.04; got != want {
		t.Errorf("InitialLR = %v, want %v", got, want)
	}
	if got, want := s.MinLR(), 4e-6; !relClose(got, want, 1e-15) {
		t.Errorf("MinLR = %v, want %v", got, want)
	}
	// Step 20 is the end of the last phase: exactly min_lr and max momentum.
	if got := s.LR(20); !relClose(got, 4e-6, 1e-12) {
		t.Errorf("LR(20) = %v, want 4e-6", got)
	}
	// The second phase runs from step 9.5 to 20, so step 15 is 5.5/10.5
	// of the way down.
	pct := 5.5 / 10.5
	wantLR := 4e-6 + (1-4e-6)/2*(math.Cos(math.Pi*pct)+1)
	if got := s.LR(15); !relClose(got, wantLR, 1e-12) {
		t.Errorf("LR(15) = %v, want %v", got, wantLR)
	}
	// The first phase runs from step 0 to 9.5, so step 0 is the start
	// (initial lr, max momentum) and step 5 is 5/9.5 of the way up.
	if got := s.LR(0); !relClose(got, 0.04, 1e-12) {
		t.Errorf("LR(0) = %v, want 0.04", got)
	}
	pct = 5 / 9.5
	wantLR = 1 + (0.04-1)/2*(math.Cos(math.Pi*pct)+1)
	if got := s.LR(5); !relClose(got, wantLR, 1e-12) {
		t.Errorf("LR(5) = %v, want %v", got, wantLR)
	}
	wantMom := 0.85 + (0.95-0.85)/2*(math.Cos(math.Pi*pct)+1)
	if got, _ := s.Momentum(5); !relClose(got, wantMom, 1e-12) {
		t.Errorf("Momentum(5) = %v, want %v", got, wantMom)
	}
	if m, _ := s.Momentum(0); m != 0.95 {
		t.Errorf("Momentum(0) = %v, want 0.95", m)
	}
	// Momentum mirrors lr: at the highest lr step it is the lowest.
	best := 0
	for k := 1; k <= 20; k++ {
		if s.LR(k) > s.LR(best) {
			best = k
		}
	}
	for k := 0; k <= 20; k++ {
		m, _ := s.Momentum(k)
		mb, _ := s.Momentum(best)
		if m < mb {
			t.Errorf("Momentum(%d) = %v below momentum %v at the lr peak (step %d)", k, m, mb, best)
		}
	}
}

func TestOneCycleLRInvalidConfig(t *testing.T) {
	base := DefaultOneCycleLRConfig(0.05, 2, 10)
	for name, mod := range map[string]func(*OneCycleLRConfig){
		"no length":        func(c *OneCycleLRConfig) { c.Epochs, c.StepsPerEpoch = 0, 0 },
		"negative total":   func(c *OneCycleLRConfig) { c.TotalSteps = -3 },
		"zero epochs":      func(c *OneCycleLRConfig) { c.Epochs = 0 },
		"zero steps/epoch": func(c *OneCycleLRConfig) { c.StepsPerEpoch = 0 },
		"pct above 1":      func(c *OneCycleLRConfig) { c.PctStart = 1.5 },
		"pct negative":     func(c *OneCycleLRConfig) { c.PctStart = -0.1 },
		"pct NaN":          func(c *OneCycleLRConfig) { c.PctStart = math.NaN() },
		"strategy":         func(c *OneCycleLRConfig) { c.AnnealStrategy = "exp" },
		"empty strategy":   func(c *OneCycleLRConfig) { c.AnnealStrategy = "" },
		"zero max lr":      func(c *OneCycleLRConfig) { c.MaxLR = 0 },
		"inf max lr":       func(c *OneCycleLRConfig) { c.MaxLR = math.Inf(1) },
		"zero div":         func(c *OneCycleLRConfig) { c.DivFactor = 0 },
		"zero final div":   func(c *OneCycleLRConfig) { c.FinalDivFactor = 0 },
		"NaN momentum":     func(c *OneCycleLRConfig) { c.BaseMomentum = math.NaN() },
	} {
		cfg := base
		mod(&cfg)
		if s, err := NewOneCycleLR(cfg); err == nil {
			t.Errorf("%s: NewOneCycleLR(%+v) = %v, want error", name, cfg, s)
		}
	}
	// TotalSteps takes precedence over epochs, as in PyTorch.
	cfg := base
	cfg.TotalSteps = 7
	s, err := NewOneCycleLR(cfg)
	if err != nil || s.TotalSteps() != 7 {
		t.Errorf("TotalSteps precedence: %v, %v", s, err)
	}
}

func TestOneCycleLRStatePanics(t *testing.T) {
	s, err := NewOneCycleLR(DefaultOneCycleLRConfig(0.05, 1, 5))
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []int{-1, 6} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("LR(%d) did not panic", step)
				}
			}()
			s.LR(step)
		}()
	}
}

func TestOneCycleLRStateRoundTrip(t *testing.T) {
	cfg := DefaultOneCycleLRConfig(0.05, 3, 7)
	cfg.ThreePhase = true
	s, err := NewOneCycleLR(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for range 9 {
		if err := s.Step(); err != nil {
			t.Fatal(err)
		}
	}
	data, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var r OneCycleLR
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatalf("unmarshal %s: %v", data, err)
	}
	if r.LastStep() != 9 || r.Config() != cfg {
		t.Fatalf("restored LastStep %d config %+v, want 9 %+v", r.LastStep(), r.Config(), cfg)
	}
	for k := 0; k <= s.TotalSteps(); k++ {
		if r.LR(k) != s.LR(k) {
			t.Fatalf("restored LR(%d) = %v, want %v", k, r.LR(k), s.LR(k))
		}
	}

	// A state from a different run or a corrupt file is rejected and the
	// scheduler keeps its state.
	bad := s.State()
	bad.LastStep = s.TotalSteps() + 1
	if err := r.LoadState(bad); err == nil {
		t.Error("LoadState accepted last_step beyond total_steps")
	}
	bad = s.State()
	bad.Config.PctStart = 2
	if err := r.LoadState(bad); err == nil {
		t.Error("LoadState accepted pct_start 2")
	}
	if r.LastStep() != 9 {
		t.Errorf("failed LoadState changed LastStep to %d", r.LastStep())
	}
	if err := json.Unmarshal([]byte(`{"config":{"max_lr":0.1},"last_step":0}`), &r); err == nil {
		t.Error("UnmarshalJSON accepted a config without a cycle length")
	}
}
