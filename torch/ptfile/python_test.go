package ptfile

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// testBytes returns n deterministic pseudo-random bytes (an LCG seeded by
// seed), so that data written by Go can be checked byte for byte.
func testBytes(seed uint32, n int) []byte {
	b := make([]byte, n)
	x := seed*2654435761 + 1
	for i := range b {
		x = x*1664525 + 1013904223
		b[i] = byte(x >> 24)
	}
	return b
}

func float32Bytes(vs ...float32) []byte {
	b := make([]byte, 0, 4*len(vs))
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	return b
}

func int64Bytes(vs ...int64) []byte {
	b := make([]byte, 0, 8*len(vs))
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint64(b, uint64(v))
	}
	return b
}

// goEntries is a state dict exercising every dtype, odd shapes, 0-dim and
// empty tensors.
func goEntries() []Entry {
	mask := testBytes(9, 7)
	for i := range mask {
		mask[i] &= 1
	}
	return []Entry{
		{Name: "conv.weight", DType: Float32, Shape: []int64{4, 3, 3, 3}, Data: testBytes(1, 4*108)},
		{Name: "odd", DType: Float32, Shape: []int64{7, 1, 5}, Data: testBytes(2, 4*35)},
		{Name: "special", DType: Float32, Shape: []int64{6}, Data: float32Bytes(0, float32(math.Copysign(0, -1)),
			float32(math.Inf(1)), float32(math.Inf(-1)), math.SmallestNonzeroFloat32, math.MaxFloat32)},
		{Name: "bn.num_batches_tracked", DType: Int64, Shape: []int64{}, Data: int64Bytes(12345)},
		{Name: "extremes", DType: Int64, Shape: []int64{3}, Data: int64Bytes(math.MinInt64, math.MaxInt64, -1)},
		{Name: "image", DType: Uint8, Shape: []int64{2, 3, 2}, Data: testBytes(3, 12)},
		{Name: "mask", DType: Bool, Shape: []int64{7}, Data: mask},
		{Name: "f64", DType: Float64, Shape: []int64{3, 2}, Data: testBytes(4, 48)},
		{Name: "i32", DType: Int32, Shape: []int64{2, 2}, Data: testBytes(5, 16)},
		{Name: "i16", DType: Int16, Shape: []int64{3}, Data: testBytes(6, 6)},
		{Name: "i8", DType: Int8, Shape: []int64{5}, Data: testBytes(7, 5)},
		{Name: "half", DType: Float16, Shape: []int64{2, 2}, Data: testBytes(8, 8)},
		{Name: "brain", DType: BFloat16, Shape: []int64{3}, Data: testBytes(10, 6)},
		{Name: "empty", DType: Float32, Shape: []int64{0, 4}, Data: nil},
		{Name: "scalar", DType: Float32, Shape: nil, Data: float32Bytes(-2.5)},
		{Name: "ones", DType: Float64, Shape: []int64{1, 1, 1}, Data: testBytes(11, 8)},
		{Name: "", DType: Int32, Shape: []int64{1}, Data: testBytes(12, 4)},
	}
}

func entriesDict(entries []Entry) *Dict {
	d := &Dict{Ordered: true}
	for i := range entries {
		d.Items = append(d.Items, Item{Key: entries[i].Name, Value: &entries[i]})
	}
	return d
}

// checkPython compares torch.load's description of a file, got, with the
// described tree want, with weights_only too if asked.
func checkPython(t *testing.T, got pyDescription, want any, weightsOnly bool) {
	t.Helper()
	if d := diffTree(want, canon(got.Full), "torch.load"); d != "" {
		t.Error(d)
	}
	if !weightsOnly {
		return
	}
	if d := diffTree(want, canon(got.WeightsOnly), "torch.load(weights_only=True)"); d != "" {
		t.Error(d)
	}
}

// goFile is a file written by this package for Python to read.
type goFile struct {
	name        string
	write       func(path string) error
	want        func() any // the described tree torch.load must see
	weightsOnly bool       // whether PyTorch 1.13's weights_only can read it
}

// goFiles returns the files of TestPythonReadsGoFiles.
func goFiles(t *testing.T) []goFile {
	entries := goEntries()
	model := entriesDict(entries)
	model.State = &Dict{Items: []Item{{Key: "_metadata", Value: &Dict{Ordered: true, Items: []Item{
		{Key: "", Value: &Dict{Items: []Item{{Key: "version", Value: int64(1)}}}},
		{Key: "bn", Value: &Dict{Items: []Item{{Key: "version", Value: int64(2)}}}},
	}}}}}
	big1, _ := new(big.Int).SetString("-123456789012345678901234567890", 10)
	tree := &Dict{Items: []Item{
		{Key: "model", Value: model},
		{Key: "tied", Value: &entries[0]}, // the same tensor as model["conv.weight"]
		{Key: "copy", Value: entries[0]},  // equal values, its own storage
		{Key: "epoch", Value: 7},
		{Key: "ints", Value: &List{int64(0), int64(255), int64(256), int64(65535), int64(65536), int64(-1),
			int64(math.MinInt32), int64(math.MaxInt32), int64(math.MaxInt32) + 1, int64(math.MinInt64), int64(math.MaxInt64), big1}},
		{Key: "tuple", Value: Tuple{int64(1), "two", Tuple{}, Tuple{true, false, nil, int64(4)}}},
		{Key: "text", Value: "café ☃ 😀"},
		{Key: int64(-3), Value: "int key"},
		{Key: Tuple{int64(1), "k"}, Value: &List{}},
	}}
	withFloats := &Dict{Items: []Item{
		{Key: "lr", Value: 0.1},
		{Key: "floats", Value: Tuple{float32(1.5), math.Inf(-1), math.SmallestNonzeroFloat64, math.Copysign(0, -1)}},
		{Key: "bytes", Value: []byte{0, 1, 0x7f, 0x80, 0xfe, 0xff}},
		{Key: "model", Value: model},
	}}
	files := []goFile{
		{"write", func(p string) error { return WriteFile(p, entries) },
			func() any { return describeGo(entriesDict(entries)) }, true},
		// No floats or bytes: PyTorch 1.13's weights_only unpickler reads it.
		{"tree", func(p string) error { return SaveFile(p, tree) },
			func() any { return describeGo(tree) }, true},
		{"floats", func(p string) error { return SaveFile(p, withFloats) },
			func() any { return describeGo(withFloats) }, false},
	}

	// Python's files read by Go and written back must load as the originals.
	dir := fixtures(t)
	sd, err := ReadFile(filepath.Join(dir, "statedict.pt"))
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, goFile{"resaved-statedict", func(p string) error { return WriteFile(p, sd) }, func() any {
		want := withoutShared(canon(readFixture(t, "statedict").Full)).(map[string]any)
		delete(want, "attrs") // Write does not keep _metadata
		want["shared"] = []any{}
		return want
	}, true})
	for _, name := range fixtureNames {
		orig := readFixture(t, name)
		_, failed := orig.WeightsOnly.(map[string]any)["error"]
		files = append(files, goFile{"reloaded-" + name, func(p string) error {
			v, err := LoadFile(filepath.Join(dir, name+".pt"))
			if err != nil {
				return err
			}
			return SaveFile(p, v)
		}, func() any { return withoutShared(canon(orig.Full)) }, !failed})
	}
	return files
}

// readFixture returns the description of a fixture made by the script.
func readFixture(t *testing.T, name string) pyDescription {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtures(t), name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var d pyDescription
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s.json: %v", name, err)
	}
	return d
}

// TestPythonReadsGoFiles writes files with this package and checks what
// torch.load (with and without weights_only) reads from them.
func TestPythonReadsGoFiles(t *testing.T) {
	files := goFiles(t)
	dir := t.TempDir()
	var paths []string
	for _, f := range files {
		path := filepath.Join(dir, f.name+".pt")
		if err := f.write(path); err != nil {
			t.Fatalf("%s: %v", f.name, err)
		}
		paths = append(paths, path)
	}
	got := describeWithPython(t, paths...)
	for i, f := range files {
		t.Run(f.name, func(t *testing.T) {
			want := f.want()
			d := got[paths[i]]
			if strings.HasPrefix(f.name, "reloaded-") {
				// Storage sharing between distinct tensors is not kept by Load.
				d.Full, d.WeightsOnly = withoutShared(d.Full), withoutShared(d.WeightsOnly)
			}
			checkPython(t, d, want, f.weightsOnly)
		})
	}
	t.Run("load_state_dict", func(t *testing.T) {
		path := filepath.Join(dir, "resaved-statedict.pt")
		if out := runPython(t, "loadmodel", path); strings.TrimSpace(string(out)) != "ok" {
			t.Errorf("loadmodel: %s", out)
		}
	})
}

// fixtureNames are the files the script's make command writes that the
// reader must accept.
var fixtureNames = []string{"statedict", "views", "dtypes", "checkpoint", "parameters", "protocol4"}

func TestLoadPythonFixtures(t *testing.T) {
	dir := fixtures(t)
	for _, name := range fixtureNames {
		t.Run(name, func(t *testing.T) {
			got, err := LoadFile(filepath.Join(dir, name+".pt"))
			if err != nil {
				t.Fatal(err)
			}
			want := readFixture(t, name).Full
			// Storage sharing between distinct tensors is not kept by Load.
			if d := diffTree(withoutShared(canon(want)), withoutShared(describeGo(got)), name); d != "" {
				t.Error(d)
			}
		})
	}
}

func TestReadPythonFixtures(t *testing.T) {
	dir := fixtures(t)
	for _, name := range fixtureNames {
		t.Run(name, func(t *testing.T) {
			entries, err := ReadFile(filepath.Join(dir, name+".pt"))
			if err != nil {
				t.Fatal(err)
			}
			// The state dict's items as torch.load described them.
			root := canon(readFixture(t, name).Full).(map[string]any)
			items, ok := root["odict"]
			if !ok {
				items = root["dict"]
			}
			if name == "checkpoint" {
				for _, kv := range items.([]any) {
					if kv := kv.([]any); kv[0].(map[string]any)["str"] == "model" {
						items = kv[1].(map[string]any)["odict"]
					}
				}
			}
			got := describeGo(entriesDict(entries)).(map[string]any)["odict"]
			if d := diffTree(items, got, name); d != "" {
				t.Error(d)
			}
			if len(entries) == 0 {
				t.Error("no entries")
			}
		})
	}
}

func TestReadPythonViewsShareNothing(t *testing.T) {
	// Entries read from views of one storage must not alias each other.
	entries, err := ReadFile(filepath.Join(fixtures(t), "views.pt"))
	if err != nil {
		t.Fatal(err)
	}
	before := make([][]byte, len(entries))
	for i, e := range entries {
		before[i] = bytes.Clone(e.Data)
	}
	for i := range entries {
		for j := range entries[i].Data {
			entries[i].Data[j] ^= 0xff
		}
		for k := range entries {
			if k != i && !bytes.Equal(entries[k].Data, before[k]) {
				t.Fatalf("writing %q changed %q", entries[i].Name, entries[k].Name)
			}
		}
		copy(entries[i].Data, before[i])
	}
}

func TestUnpicklePythonPickles(t *testing.T) {
	dir := fixtures(t)
	b, err := os.ReadFile(filepath.Join(dir, "pickles.json"))
	if err != nil {
		t.Fatal(err)
	}
	var want any
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	want = canon(want)
	for _, proto := range []string{"2", "3", "4", "5"} {
		data, err := os.ReadFile(filepath.Join(dir, "p"+proto+".pkl"))
		if err != nil {
			t.Fatal(err)
		}
		v, tensors, err := unpickle(data)
		if err != nil {
			t.Fatalf("protocol %s: %v", proto, err)
		}
		if len(tensors) != 0 {
			t.Errorf("protocol %s: %d tensors", proto, len(tensors))
		}
		if d := diffTree(want, describeGo(v), "protocol "+proto); d != "" {
			t.Error(d)
		}
	}
}

func TestRejectsPythonFiles(t *testing.T) {
	dir := fixtures(t)
	for _, tc := range []struct{ file, want string }{
		{"legacy.pt", "legacy non-zip torch.save format"},
		{"script.pt", "TorchScript"},
		{"unsafe.pt", "unsupported global torch.optim.sgd.SGD"},
	} {
		path := filepath.Join(dir, tc.file)
		_, err := ReadFile(path)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("ReadFile(%s) = %v, want an error naming the file and %q", tc.file, err, tc.want)
		}
		if ue := (*UnsupportedError)(nil); !errors.As(err, &ue) {
			t.Errorf("ReadFile(%s): %v is not an *UnsupportedError", tc.file, err)
		}
	}
}
