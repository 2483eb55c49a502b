package ptfile

import (
	"archive/zip"
	"bytes"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// archiveBytes builds a torch.save archive around a hand-made data.pkl and
// storage records.
func archiveBytes(t testing.TB, pkl []byte, storages map[string][]byte, extra ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	aw := newArchiveWriter(&buf)
	add := func(name string, data []byte) {
		if err := aw.add(name, data); err != nil {
			t.Fatal(err)
		}
	}
	add("data.pkl", pkl)
	for i := 0; i+1 < len(extra); i += 2 {
		add(extra[i], []byte(extra[i+1]))
	}
	keys := make([]string, 0, len(storages))
	for k := range storages {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		add("data/"+k, storages[k])
	}
	add("version", []byte(formatVersion))
	if err := aw.close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// view describes one hand-made tensor pickle.
type view struct {
	class, key    string
	numel, offset int64
	shape, stride []int64
}

// viewPickle pickles OrderedDict{"t": tensor} as torch.save does, with the
// tensor's storage and view given by v.
func viewPickle(v view) []byte {
	p := newPickler()
	p.out = append(p.out, opProto, 2)
	p.orderedDict()
	p.out = append(p.out, opMark)
	_ = p.string("t")
	p.global("torch._utils", "_rebuild_tensor_v2")
	p.out = append(p.out, opMark, opMark)
	_ = p.string("storage")
	p.global("torch", v.class)
	_ = p.string(v.key)
	_ = p.string("cpu")
	p.int(v.numel)
	p.out = append(p.out, opTuple, opBinPersID)
	p.int(v.offset)
	shape, stride := Tuple{}, Tuple{}
	for _, d := range v.shape {
		shape = append(shape, d)
	}
	for _, d := range v.stride {
		stride = append(stride, d)
	}
	_ = p.tuple(shape, 0)
	_ = p.tuple(stride, 0)
	p.out = append(p.out, opNewFalse)
	p.orderedDict()
	p.out = append(p.out, opTuple, opReduce, opSetItems, opStop)
	return p.out
}

// pickleOf pickles a tree with the package's writer.
func pickleOf(t testing.TB, v any) []byte {
	t.Helper()
	p := newPickler()
	if err := p.dump(v); err != nil {
		t.Fatal(err)
	}
	return p.out
}

func readBytes(b []byte) ([]Entry, error) { return Read(bytes.NewReader(b), int64(len(b))) }

func TestReadView(t *testing.T) {
	// Storage of six int16 [10 11 12 13 14 15]; the view starts at element
	// 1 with size (2, 2) and stride (1, 3): rows (11 14), (12 15).
	storage := []byte{10, 0, 11, 0, 12, 0, 13, 0, 14, 0, 15, 0}
	b := archiveBytes(t, viewPickle(view{"ShortStorage", "0", 6, 1, []int64{2, 2}, []int64{1, 3}}),
		map[string][]byte{"0": storage})
	entries, err := readBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{11, 0, 14, 0, 12, 0, 15, 0}
	if len(entries) != 1 || entries[0].Name != "t" || entries[0].DType != Int16 || !bytes.Equal(entries[0].Data, want) {
		t.Errorf("got %+v, want t int16 [2 2] %v", entries, want)
	}
}

func TestReadErrors(t *testing.T) {
	f32 := make([]byte, 16) // four float32
	good := view{"FloatStorage", "0", 4, 0, []int64{4}, []int64{1}}
	with := func(f func(*view)) []byte {
		v := good
		f(&v)
		return viewPickle(v)
	}
	odict := func(items ...Item) *Dict { return &Dict{Ordered: true, Items: items} }
	tensor := &Entry{DType: Uint8, Shape: []int64{1}, Data: []byte{1}}
	zipNoFolder := func() []byte {
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		w, _ := zw.Create("data.pkl")
		w.Write([]byte{opProto, 2, opEmptyDict, opStop})
		zw.Close()
		return buf.Bytes()
	}
	for _, tc := range []struct {
		name string
		file []byte
		want string
	}{
		{"empty file", nil, "empty file"},
		{"not zip", []byte("hello, world"), "not a torch.save zip archive"},
		{"legacy", []byte{0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc}, "legacy non-zip"},
		{"no folder", zipNoFolder(), "not in a folder"},
		{"no data.pkl", func() []byte {
			var buf bytes.Buffer
			aw := newArchiveWriter(&buf)
			aw.add("version", []byte("3\n"))
			aw.close()
			return buf.Bytes()
		}(), "no archive/data.pkl record"},
		{"big endian", archiveBytes(t, viewPickle(good), map[string][]byte{"0": f32}, "byteorder", "big"), `byte order "big"`},
		{"missing storage", archiveBytes(t, with(func(v *view) { v.key = "7" }), map[string][]byte{"0": f32}),
			"storage record archive/data/7 is missing"},
		{"storage record too small", archiveBytes(t, viewPickle(good), map[string][]byte{"0": f32[:8]}),
			"needs 16 bytes, record archive/data/0 has 8"},
		{"view past storage end", archiveBytes(t, with(func(v *view) { v.shape, v.stride = []int64{2, 3}, []int64{3, 1} }),
			map[string][]byte{"0": f32}), "reach element 5, but the storage has 4 elements"},
		{"offset past storage end", archiveBytes(t, with(func(v *view) { v.offset = 1 }), map[string][]byte{"0": f32}),
			"reach element 4"},
		{"negative stride", archiveBytes(t, with(func(v *view) { v.stride = []int64{-1} }), map[string][]byte{"0": f32}),
			"negative stride"},
		{"negative size", archiveBytes(t, with(func(v *view) { v.shape = []int64{-4} }), map[string][]byte{"0": f32}),
			"negative dimension"},
		{"stride rank", archiveBytes(t, with(func(v *view) { v.stride = []int64{1, 1} }), map[string][]byte{"0": f32}),
			"has size [4] but stride [1 1]"},
		{"unknown storage type", archiveBytes(t, with(func(v *view) { v.class = "ComplexFloatStorage" }), map[string][]byte{"0": f32}),
			"unsupported global torch.ComplexFloatStorage"},
		{"unknown global", archiveBytes(t, []byte("\x80\x02cos\nsystem\nX\x02\x00\x00\x00lsR."), nil),
			"unsupported global os.system"},
		{"no STOP", archiveBytes(t, []byte{opProto, 2, opEmptyDict}, nil), "no STOP opcode"},
		{"bad opcode", archiveBytes(t, []byte{opProto, 2, 0xff, opStop}, nil), "opcode 0xff: unsupported opcode"},
		{"stack underflow", archiveBytes(t, []byte{opProto, 2, opReduce, opStop}, nil), "stack underflow"},
		{"memo miss", archiveBytes(t, []byte{opProto, 2, opGet, 5, opStop}, nil), "memo key 5 not defined"},
		{"string past end", archiveBytes(t, []byte{opProto, 2, opBinUnicode, 0xff, 0xff, 0xff, 0x7f, 'a', opStop}, nil),
			"pickle truncated"},
		{"persistent id", archiveBytes(t, []byte("\x80\x02X\x03\x00\x00\x00abcQ."), nil), "is not a 5-tuple"},
		{"top-level list", archiveBytes(t, pickleOf(t, &List{tensor}), nil), "top-level object is a list"},
		{"non-string key", archiveBytes(t, pickleOf(t, odict(Item{int64(1), tensor})), map[string][]byte{"0": {1}}),
			"state dict key 1 is not a string"},
		{"no state dict", archiveBytes(t, pickleOf(t, &Dict{Items: []Item{{"w", tensor}, {"epoch", int64(3)}}}),
			map[string][]byte{"0": {1}}), `no state dict: the top-level dict is none (state dict value "epoch" is a int: not a tensor)`},
		{"checkpoint model not tensors", archiveBytes(t, pickleOf(t, &Dict{Items: []Item{
			{"epoch", int64(3)}, {"model", odict(Item{"w", tensor}, Item{"x", "y"})}}}), map[string][]byte{"0": {1}}),
			`checkpoint key "model": state dict value "x" is a str`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := readBytes(tc.file)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "ptfile: ") {
				t.Fatalf("Read: %v\nwant an error containing %q", err, tc.want)
			}
			checkErrorType(t, err)
			path := filepath.Join(t.TempDir(), "bad.pt")
			if err := os.WriteFile(path, tc.file, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err = ReadFile(path)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("ReadFile: %v\nwant an error naming %s and containing %q", err, path, tc.want)
			}
		})
	}
}

func TestReadFileMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.pt")
	if _, err := ReadFile(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("ReadFile of a missing file: %v", err)
	}
	if _, err := ReadFile(t.TempDir()); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("ReadFile of a directory: %v", err)
	}
}

func goFileBytes(t testing.TB) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, goEntries()); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestReadTruncated(t *testing.T) {
	b := goFileBytes(t)
	for n := 0; n < len(b); n++ {
		_, err := readBytes(b[:n])
		if err == nil {
			t.Fatalf("Read of the first %d of %d bytes succeeded", n, len(b))
		}
		if fe := (*FormatError)(nil); !errors.As(err, &fe) {
			t.Fatalf("Read of the first %d of %d bytes: %v is not a *FormatError", n, len(b), err)
		}
	}
}

func TestReadCorrupt(t *testing.T) {
	b := goFileBytes(t)
	// Every single flipped byte must give an error or a result, never a
	// panic; flips inside a storage must be caught by its checksum.
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	f := zr.File[2] // archive/data/0
	if f.Name != "archive/data/0" {
		t.Fatalf("record 2 is %s", f.Name)
	}
	off, _ := f.DataOffset()
	for i := range b {
		c := bytes.Clone(b)
		c[i] ^= 0xa5
		_, err := readBytes(c)
		if i >= int(off) && i < int(off)+int(f.UncompressedSize64) &&
			(err == nil || !strings.Contains(err.Error(), "record archive/data/0: checksum mismatch")) {
			t.Fatalf("flipping storage byte %d: %v", i, err)
		}
	}
}

func TestReadCheckpoints(t *testing.T) {
	w := &Entry{DType: Float32, Shape: []int64{2}, Data: float32Bytes(1, 2)}
	n := &Entry{DType: Int64, Shape: []int64{}, Data: int64Bytes(5)}
	sd := &Dict{Ordered: true, Items: []Item{{"w", w}, {"n", n}}}
	for _, tc := range []struct {
		name string
		root any
		want []string
	}{
		{"state dict", sd, []string{"w", "n"}},
		{"plain dict", &Dict{Items: sd.Items}, []string{"w", "n"}},
		{"empty", &Dict{Ordered: true}, nil},
		{"state_dict key", &Dict{Items: []Item{{"epoch", int64(1)}, {"state_dict", sd}, {"model", &Dict{}}}}, []string{"w", "n"}},
		{"model key", &Dict{Items: []Item{{"model", sd}, {"optimizer", &Dict{Items: []Item{{"lr", 0.1}}}}}}, []string{"w", "n"}},
		{"model_state_dict key", &Dict{Items: []Item{{"model", "resnet"}, {"model_state_dict", sd}}}, []string{"w", "n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := Save(&buf, tc.root); err != nil {
				t.Fatal(err)
			}
			entries, err := readBytes(buf.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, e := range entries {
				names = append(names, e.Name)
			}
			if strings.Join(names, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("names %q, want %q", names, tc.want)
			}
			if len(entries) == 2 && (!bytes.Equal(entries[0].Data, w.Data) || !bytes.Equal(entries[1].Data, n.Data) || len(entries[1].Shape) != 0) {
				t.Errorf("entries %+v", entries)
			}
		})
	}
}

func TestReadTiedTensors(t *testing.T) {
	// One tensor under two names reads as two entries with their own data.
	w := &Entry{DType: Uint8, Shape: []int64{3}, Data: []byte{1, 2, 3}}
	var buf bytes.Buffer
	if err := Save(&buf, &Dict{Ordered: true, Items: []Item{{"a", w}, {"b", w}}}); err != nil {
		t.Fatal(err)
	}
	entries, err := readBytes(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 || !bytes.Equal(entries[0].Data, w.Data) || !bytes.Equal(entries[1].Data, w.Data) {
		t.Fatalf("entries %+v", entries)
	}
	entries[0].Data[0] = 9
	if entries[1].Data[0] != 1 {
		t.Error("the two entries share their data")
	}
}

func TestLoadSameTensorTwice(t *testing.T) {
	w := &Entry{DType: Uint8, Shape: []int64{3}, Data: []byte{1, 2, 3}}
	var buf bytes.Buffer
	if err := Save(&buf, &List{w, w, *w}); err != nil {
		t.Fatal(err)
	}
	v, err := Load(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	l := *v.(*List)
	if l[0] != l[1] || l[0] == l[2] {
		t.Errorf("Load gave %p %p %p; want the first two the same *Entry, the third another", l[0], l[1], l[2])
	}
}

func TestUnpickleDictSemantics(t *testing.T) {
	// {'a': 1, 'b': 2, 'a': 3} keeps 'a' first with the last value, as
	// Python's dict does.
	pkl := []byte("\x80\x02}(X\x01\x00\x00\x00aK\x01X\x01\x00\x00\x00bK\x02X\x01\x00\x00\x00aK\x03u.")
	v, _, err := unpickle(pkl)
	if err != nil {
		t.Fatal(err)
	}
	d := v.(*Dict)
	if len(d.Items) != 2 || d.Items[0] != (Item{"a", int64(3)}) || d.Items[1] != (Item{"b", int64(2)}) {
		t.Errorf("items %v", d.Items)
	}
	if x, ok := d.Get("b"); !ok || x != int64(2) {
		t.Errorf("Get(b) = %v, %v", x, ok)
	}
	if _, ok := d.Get(int64(2)); ok {
		t.Error("Get(2) found a value")
	}
}

func TestDecodeLong(t *testing.T) {
	// The examples of pickletools' documentation of LONG1.
	for _, tc := range []struct {
		in   string
		want int64
	}{
		{"", 0}, {"\xff\x00", 255}, {"\xff\x7f", 32767}, {"\x00\xff", -256},
		{"\x00\x80", -32768}, {"\x80", -128}, {"\x7f", 127},
	} {
		if got := decodeLong([]byte(tc.in)); got != tc.want {
			t.Errorf("decodeLong(%q) = %v, want %d", tc.in, got, tc.want)
		}
	}
	two64 := new(big.Int).Lsh(big.NewInt(1), 64)
	if got, ok := decodeLong([]byte("\x00\x00\x00\x00\x00\x00\x00\x00\x01")).(*big.Int); !ok || got.Cmp(two64) != 0 {
		t.Errorf("decodeLong(2**64) = %v", got)
	}
}

func TestIntRoundTrip(t *testing.T) {
	huge, _ := new(big.Int).SetString("-340282366920938463463374607431768211457", 10) // -(2**128)-1
	values := []any{int64(0), int64(1), int64(255), int64(256), int64(65535), int64(65536), int64(-1),
		int64(-2147483648), int64(2147483647), int64(2147483648), int64(-2147483649),
		int64(-9223372036854775808), int64(9223372036854775807), huge}
	v, _, err := unpickle(pickleOf(t, Tuple(values)))
	if err != nil {
		t.Fatal(err)
	}
	for i, x := range v.(Tuple) {
		if !keyEqual(x, values[i], 0) {
			t.Errorf("value %d: wrote %v, read %v", i, values[i], x)
		}
	}
}

// checkErrorType checks that err, an error about a file's contents, is
// either a *FormatError or an *UnsupportedError, and the latter exactly
// when its message says that something is not supported.
func checkErrorType(t *testing.T, err error) {
	t.Helper()
	var fe *FormatError
	var ue *UnsupportedError
	isF, isU := errors.As(err, &fe), errors.As(err, &ue)
	if isF == isU {
		t.Errorf("%v: *FormatError %v, *UnsupportedError %v; want exactly one", err, isF, isU)
	}
	if says := strings.Contains(err.Error(), "supported"); says != isU {
		t.Errorf("%v: *UnsupportedError %v, but the message says unsupported: %v", err, isU, says)
	}
}
