package checkpoint

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"gotrain/torch/ptfile"
)

func tensor(v byte) *ptfile.Entry {
	return &ptfile.Entry{DType: ptfile.Uint8, Shape: []int64{2}, Data: []byte{v, v + 1}}
}

func stateDict(kv ...any) *ptfile.Dict {
	d := ptfile.NewDict(kv...)
	d.Ordered = true
	return d
}

// TestSaveRead writes a checkpoint and reads it back: the parts as given,
// "format" first in the run state whatever the caller put there, the keys
// in the documented order, and Weights picking the average's module.
func TestSaveRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "checkpoint.pt")
	c := &Checkpoint{
		Model:     stateDict("w", tensor(1)),
		Optimizer: ptfile.NewDict("state", &ptfile.Dict{}, "param_groups", &ptfile.List{}),
		Scheduler: ptfile.NewDict("last_epoch", int64(3)),
		RNG:       []byte{9, 8, 7},
		Run:       []byte(`{"epoch":1,"format":"old","config":{"model":"seed"}}`),
		EMA:       stateDict("n_averaged", tensor(0), "module.w", tensor(5)),
	}
	if err := Save(path, c); err != nil {
		t.Fatal(err)
	}
	if k, err := ptfile.DetectFile(path); err != nil || k != ptfile.Checkpoint {
		t.Fatalf("DetectFile: %v, %v", k, err)
	}
	obj, err := ptfile.LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var keys []any
	for _, it := range obj.(*ptfile.Dict).Items {
		keys = append(keys, it.Key)
	}
	if !reflect.DeepEqual(keys, []any{"model", "optimizer", "scheduler", "rng_state", "run", "ema"}) {
		t.Errorf("top-level keys %v", keys)
	}
	got, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Format != Format || string(got.Run) != `{"format":"gotrain-checkpoint/2","epoch":1,"config":{"model":"seed"}}` {
		t.Errorf("format %q, run %s", got.Format, got.Run)
	}
	if !reflect.DeepEqual(got.RNG, c.RNG) || got.Scheduler == nil || got.EMA == nil || got.LegacyScheduler != nil {
		t.Errorf("read back %+v", got)
	}
	w := got.Weights()
	if len(w.Items) != 1 || w.Items[0].Key != "w" || w.Items[0].Value.(*ptfile.Entry).Data[0] != 5 {
		t.Errorf("Weights of a checkpoint with an average: %+v", w.Items)
	}
	got.EMA = nil
	if w := got.Weights(); w.Items[0].Value.(*ptfile.Entry).Data[0] != 1 {
		t.Errorf("Weights without an average is not the model: %+v", w.Items)
	}
}

// TestReadRefuses checks what is not one of our checkpoints, or of a
// layout not read, and the first layout's scheduler.
func TestReadRefuses(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, top *ptfile.Dict) string {
		path := filepath.Join(dir, name)
		if err := ptfile.SaveFile(path, top); err != nil {
			t.Fatal(err)
		}
		return path
	}
	model := stateDict("w", tensor(1))
	rng := &ptfile.Entry{DType: ptfile.Uint8, Shape: []int64{1}, Data: []byte{1}}
	opt := ptfile.NewDict("state", &ptfile.Dict{})

	v1 := write("v1.pt", ptfile.NewDict("model", model, "optimizer", opt, "rng_state", rng,
		"progress", `{"format":"gotrain-checkpoint/1","epoch":2,"scheduler":{"last_step":4}}`))
	c, err := Read(v1)
	if err != nil {
		t.Fatal(err)
	}
	if c.Format != FormatV1 || string(c.LegacyScheduler) != `{"last_step":4}` || c.Scheduler != nil {
		t.Errorf("first layout read as %q, scheduler %s", c.Format, c.LegacyScheduler)
	}

	for _, bad := range []struct {
		name string
		top  *ptfile.Dict
		want string
	}{
		{"other.pt", ptfile.NewDict("model", model, "optimizer", opt, "epoch", int64(3)), "not a gotrain checkpoint (no run state)"},
		{"foreign.pt", ptfile.NewDict("model", model, "optimizer", opt, "run", ptfile.NewDict("format", "theirs")), "not a gotrain checkpoint (no gotrain format in its run state)"},
		{"future.pt", ptfile.NewDict("model", model, "optimizer", opt, "run", ptfile.NewDict("format", "gotrain-checkpoint/9")),
			`format "gotrain-checkpoint/9", want "gotrain-checkpoint/2" (or the older "gotrain-checkpoint/1")`},
		{"nogroups.pt", ptfile.NewDict("model", model, "optimizer", opt, "scheduler", &ptfile.Dict{}, "run", ptfile.NewDict("format", Format)), "optimizer: no param_groups"},
	} {
		path := write(bad.name, bad.top)
		_, err := Read(path)
		if err == nil || !strings.Contains(err.Error(), bad.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: %v, want %q", bad.name, err, bad.want)
		}
	}
	sd := filepath.Join(dir, "sd.pt")
	if err := ptfile.WriteFile(sd, []ptfile.Entry{{Name: "w", DType: ptfile.Uint8, Shape: []int64{1}, Data: []byte{1}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(sd); !errors.Is(err, ErrNotCheckpoint) || !strings.Contains(err.Error(), "it is a state_dict") {
		t.Errorf("a state_dict: %v", err)
	}
	if _, err := Read(filepath.Join(dir, "missing.pt")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing file: %v", err)
	}
}
