package ptfile

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestDetectPythonFiles detects the kind of files that PyTorch wrote.
func TestDetectPythonFiles(t *testing.T) {
	dir := fixtures(t)
	for _, tc := range []struct {
		file string
		want Kind
	}{
		{"statedict.pt", StateDict},   // torch.save(net.state_dict())
		{"protocol4.pt", StateDict},   // the same with pickle protocol 4
		{"views.pt", StateDict},       // an OrderedDict of strided views
		{"parameters.pt", StateDict},  // a dict of nn.Parameter
		{"checkpoint.pt", Checkpoint}, // {"model": state_dict, "epoch": 3, ...}
		{"script.pt", TorchScript},    // torch.jit.save(torch.jit.script(...))
		{"list.pt", Other},            // a list of tensors
	} {
		got, err := DetectFile(filepath.Join(dir, tc.file))
		if err != nil || got != tc.want {
			t.Errorf("DetectFile(%s) = %v, %v; want %v", tc.file, got, err, tc.want)
		}
	}
	// What Detect calls a state dict or checkpoint, Read reads; what it
	// calls anything else, Read refuses.
	for _, file := range []string{"statedict.pt", "checkpoint.pt", "script.pt", "list.pt"} {
		path := filepath.Join(dir, file)
		k, _ := DetectFile(path)
		_, err := ReadFile(path)
		if readable := k == StateDict || k == Checkpoint; readable != (err == nil) {
			t.Errorf("%s: Detect says %v, but ReadFile: %v", file, k, err)
		}
	}
	for _, file := range []string{"legacy.pt", "unsafe.pt"} {
		k, err := DetectFile(filepath.Join(dir, file))
		if ue := (*UnsupportedError)(nil); k != Invalid || !errors.As(err, &ue) {
			t.Errorf("DetectFile(%s) = %v, %v; want Invalid and an *UnsupportedError", file, k, err)
		}
	}
}

func detectBytes(b []byte) (Kind, error) { return Detect(bytes.NewReader(b), int64(len(b))) }

// TestDetectGoFiles detects files written by this package.
func TestDetectGoFiles(t *testing.T) {
	tensor := &Entry{DType: Uint8, Shape: []int64{1}, Data: []byte{1}}
	save := func(v any) []byte {
		var buf bytes.Buffer
		if err := Save(&buf, v); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	for _, tc := range []struct {
		name string
		file []byte
		want Kind
	}{
		{"state dict", goFileBytes(t), StateDict},
		{"empty dict", save(&Dict{}), StateDict},
		{"checkpoint", save(&Dict{Items: []Item{{"model_state_dict", &Dict{Ordered: true, Items: []Item{{"w", tensor}}}}, {"epoch", int64(3)}}}), Checkpoint},
		{"model not tensors", save(&Dict{Items: []Item{{"model", &Dict{Items: []Item{{"w", "x"}}}}, {"epoch", int64(3)}}}), Other},
		{"dict of numbers", save(&Dict{Items: []Item{{"epoch", int64(3)}}}), Other},
		{"tensor", save(tensor), Other},
		{"tuple", save(Tuple{int64(1), "a"}), Other},
	} {
		if got, err := detectBytes(tc.file); err != nil || got != tc.want {
			t.Errorf("%s: Detect = %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}
}

// TestDetectReadsNoTensorData: Detect tells a state dict without its
// storages, whose absence only Read finds.
func TestDetectReadsNoTensorData(t *testing.T) {
	b := archiveBytes(t, viewPickle(view{"FloatStorage", "0", 4, 0, []int64{4}, []int64{1}}), nil)
	if k, err := detectBytes(b); err != nil || k != StateDict {
		t.Errorf("Detect = %v, %v; want %v", k, err, StateDict)
	}
	if _, err := readBytes(b); err == nil {
		t.Error("Read of a state dict without its storage record succeeded")
	}
}

// TestDetectRefuses: garbage, truncated and corrupt files are refused with
// a *FormatError naming the problem.
func TestDetectRefuses(t *testing.T) {
	good := goFileBytes(t)
	for n := 0; n < len(good); n++ {
		k, err := detectBytes(good[:n])
		if fe := (*FormatError)(nil); k != Invalid || !errors.As(err, &fe) {
			t.Fatalf("Detect of the first %d of %d bytes = %v, %v; want Invalid and a *FormatError", n, len(good), k, err)
		}
	}
	for _, tc := range []struct {
		name string
		file []byte
	}{
		{"text", []byte("hello, world")},
		{"zip magic only", []byte("PK\x03\x04")},
		{"bad pickle", archiveBytes(t, []byte{opProto, 2, opReduce, opStop}, nil)},
		{"no STOP", archiveBytes(t, []byte{opProto, 2, opEmptyDict}, nil)},
	} {
		k, err := detectBytes(tc.file)
		if fe := (*FormatError)(nil); k != Invalid || !errors.As(err, &fe) {
			t.Errorf("%s: Detect = %v, %v; want Invalid and a *FormatError", tc.name, k, err)
		}
	}
	path := filepath.Join(t.TempDir(), "nope.pt")
	if _, err := DetectFile(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("DetectFile of a missing file: %v, want os.ErrNotExist", err)
	}
}
