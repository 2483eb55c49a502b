package trainer

import (
	"io"
	"testing"

	"github.com/sirupsen/logrus"

	"gotrain/torch/optim"
)

// A run resumed with another world size restarts an unfinished epoch and
// places the schedule of its own steps per epoch at that epoch's start.
func TestRescaleResume(t *testing.T) {
	cfg := optim.DefaultOneCycleLRConfig(0.05, 4, 10)
	sched, err := optim.NewOneCycleLR(optim.DefaultOneCycleLRConfig(0.05, 4, 20))
	if err != nil {
		t.Fatal(err)
	}
	st := runState{Epoch: 2, Batch: 7, Partial: partialEpoch{Seen: 100}}
	log := logrus.New()
	log.SetOutput(io.Discard)
	if err := rescaleResume(&st, sched, cfg, log); err != nil {
		t.Fatal(err)
	}
	if st.Batch != 0 || st.Partial.Seen != 0 || sched.LastStep() != 20 || sched.TotalSteps() != 40 {
		t.Fatalf("batch %d, seen %d, scheduler at %d of %d; want 0, 0, 20 of 40", st.Batch, st.Partial.Seen, sched.LastStep(), sched.TotalSteps())
	}
}

func TestSameRecipe(t *testing.T) {
	a := DefaultConfig()
	b := a
	b.Out, b.Threads, b.Workers, b.Device = "elsewhere", 1, 1, "cpu"
	if !sameRecipe(a, b) {
		t.Error("configurations that differ only in machine settings are different recipes")
	}
	b.Epochs++
	if sameRecipe(a, b) {
		t.Error("configurations with other epochs are the same recipe")
	}
}
