package distributed

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"gotrain/internal/testenv"
	"gotrain/torch"
	"gotrain/torch/nn"
)

// toy is a module with a trained parameter w, a frozen one and a buffer,
// for DDP's scenarios.
type toy struct{ w, frozen, buf *torch.Tensor }

func (m *toy) Forward(x *torch.Tensor) (*torch.Tensor, error) { return torch.Mul(m.w, x) }
func (m *toy) Parameters() []nn.NamedTensor {
	return []nn.NamedTensor{{Name: "w", Tensor: m.w}, {Name: "frozen", Tensor: m.frozen}}
}
func (m *toy) Buffers() []nn.NamedTensor { return []nn.NamedTensor{{Name: "buf", Tensor: m.buf}} }

// ddpScenario checks DDP on rank r of 2 against values worked out by hand:
// rank r starts with w = (r+1)·[1 2 3], frozen = [10r+1 10r+2] (whose
// gradient, from before it was frozen, is [r+1 r+1]) and buf = [100+5r].
// NewDDP must give every rank rank 0's w, frozen and buf; SyncBuffers
// rank 0's buf again after rank 1 changed its own; AverageGradients the
// mean of the ranks' gradients of sum(w·x_r) with x_r = [r+1 r+2 r+3],
// that is [1.5 2.5 3.5], and leave the frozen gradient as it was.
func ddpScenario(pg *ProcessGroup) int {
	r := float64(pg.Rank())
	vec := func(v ...float64) *torch.Tensor { return torch.Must(torch.FromSlice(v)) }
	get := func(t *torch.Tensor) []float64 { return torch.Must(torch.ToSlice[float64](t)) }
	m := &toy{w: vec(r+1, 2*(r+1), 3*(r+1)), frozen: vec(10*r+1, 10*r+2), buf: vec(100 + 5*r)}
	torch.Must(0, m.w.SetRequiresGrad(true))
	torch.Must(0, m.frozen.SetRequiresGrad(true))
	torch.Must(0, torch.Must(torch.Must(m.frozen.MulScalar(r+1)).Sum()).Backward())
	torch.Must(0, m.frozen.SetRequiresGrad(false))

	var errs []error
	check := func(what string, got []float64, want ...float64) {
		if fmt.Sprint(got) != fmt.Sprint(want) {
			errs = append(errs, fmt.Errorf("%s: %v, want %v", what, got, want))
		}
	}
	ddp, err := NewDDP(m, pg)
	if err != nil {
		return fail("NewDDP: %v", err)
	}
	check("w after NewDDP", get(m.w), 1, 2, 3)
	check("frozen after NewDDP", get(m.frozen), 1, 2)
	check("buf after NewDDP", get(m.buf), 100)

	torch.Must(0, m.buf.Fill_(7*r))
	if err := ddp.SyncBuffers(); err != nil {
		return fail("SyncBuffers: %v", err)
	}
	check("buf after SyncBuffers", get(m.buf), 0)

	y := torch.Must(ddp.Module().Forward(vec(r+1, r+2, r+3)))
	torch.Must(0, torch.Must(y.Sum()).Backward())
	check("w's own gradient", get(torch.Must(m.w.Grad())), r+1, r+2, r+3)
	if err := ddp.AverageGradients(); err != nil {
		return fail("AverageGradients: %v", err)
	}
	check("w's averaged gradient", get(torch.Must(m.w.Grad())), 1.5, 2.5, 3.5)
	check("frozen's gradient", get(torch.Must(m.frozen.Grad())), r+1, r+1)

	// A parameter that requires a gradient and has none is an error.
	torch.Must(0, m.w.ZeroGrad())
	if err := ddp.AverageGradients(); err == nil || !strings.Contains(err.Error(), "parameter w has no gradient") {
		errs = append(errs, fmt.Errorf("AverageGradients without w's gradient: %v", err))
	}
	if err := errors.Join(errs...); err != nil {
		return fail("rank %d: %v", pg.Rank(), err)
	}
	if err := pg.Barrier(); err != nil {
		return fail("%v", err)
	}
	fmt.Println("ok")
	return 0
}

// mismatchScenario: ranks that agree pass CompareSettings; then rank 1
// passes another lr and no model, and both ranks must name the same
// differences; then NewDDP over modules of other shapes must fail on both
// with the parameter named, not abort in Gloo.
func mismatchScenario(pg *ProcessGroup) int {
	same := map[string]string{"lr": "0.05", "model": `"seed"`}
	if err := pg.CompareSettings(same); err != nil {
		return fail("equal settings: %v", err)
	}
	mine := map[string]string{"lr": "0.05", "model": `"seed"`, "epochs": "2"}
	if pg.Rank() == 1 {
		mine = map[string]string{"lr": "0.1", "epochs": "2"}
	}
	err := pg.CompareSettings(mine)
	var me *MismatchError
	want := `ranks disagree: lr is 0.05 on rank 0 and 0.1 on rank 1; model is "seed" on rank 0 and (unset) on rank 1`
	if !errors.As(err, &me) || err.Error() != want || len(me.Diffs) != 2 {
		return fail("rank %d: CompareSettings: %v, want %q", pg.Rank(), err, want)
	}
	n := 3 + pg.Rank()
	m := &toy{w: torch.Must(torch.Zeros([]int64{int64(n)}, torch.Float32, torch.CPU)),
		frozen: torch.Must(torch.Zeros([]int64{2}, torch.Float32, torch.CPU)),
		buf:    torch.Must(torch.Zeros([]int64{1}, torch.Float32, torch.CPU))}
	_, err = NewDDP(m, pg)
	want = "ranks disagree: parameter w is [3] float32 requires_grad=false on rank 0 and [4] float32 requires_grad=false on rank 1"
	if !errors.As(err, &me) || !strings.HasSuffix(err.Error(), want) {
		return fail("rank %d: NewDDP over modules of other shapes: %v, want %q", pg.Rank(), err, want)
	}
	// The group still works.
	if err := pg.Barrier(); err != nil {
		return fail("%v", err)
	}
	fmt.Println("ok")
	return 0
}

func runScenario(t *testing.T, scenario string) {
	needGloo(t)
	procs := startRanks(t, scenario, 2, testenv.FreePort(t), false)
	for r, p := range procs {
		if err := p.wait(t, 60*time.Second); err != nil {
			t.Errorf("rank %d: %v\n%s", r, err, p.output())
		} else if !strings.Contains(p.output(), "ok") {
			t.Errorf("rank %d said nothing:\n%s", r, p.output())
		}
	}
}

// TestDDP checks NewDDP's broadcast, SyncBuffers and AverageGradients on
// two ranks against hand-worked values; see ddpScenario.
func TestDDP(t *testing.T) { runScenario(t, "ddp") }

// TestCompareSettings checks that ranks with other settings, or DDP over
// modules of other shapes, fail with the differences named on every rank.
func TestCompareSettings(t *testing.T) { runScenario(t, "mismatch") }
