package ptfile

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"sync"
	"testing"

	"gotrain/internal/pyref"
)

// pythonBin is the interpreter with torch installed (not the pyenv one).
const pythonBin = pyref.Python

// script is the Python side of these tests.
var script = filepath.Join("..", "..", "scripts", "ptfile_torch.py")

var (
	fixturesOnce sync.Once
	fixturesDir  string
	fixturesErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if fixturesDir != "" {
		os.RemoveAll(fixturesDir)
	}
	os.Exit(code)
}

// needTorch skips the test unless /usr/bin/python3 exists and has the
// torch module (found without importing it, which takes seconds).
func needTorch(t testing.TB) {
	t.Helper()
	pyref.Require(t, "torch")
}

// runPython runs the test script with args and returns its standard output.
func runPython(t testing.TB, args ...string) []byte {
	t.Helper()
	needTorch(t)
	cmd := exec.Command(pythonBin, append([]string{script}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python %v: %v\n%s", args, err, stderr.Bytes())
	}
	return out
}

// fixtures returns the folder of the files made by the script's "make"
// command, making them once per test binary.
func fixtures(t testing.TB) string {
	t.Helper()
	needTorch(t)
	fixturesOnce.Do(func() {
		fixturesDir, fixturesErr = os.MkdirTemp("", "ptfile-fixtures-")
		if fixturesErr != nil {
			return
		}
		cmd := exec.Command(pythonBin, script, "make", fixturesDir)
		if out, err := cmd.CombinedOutput(); err != nil {
			fixturesErr = fmt.Errorf("python make: %v\n%s", err, out)
		}
	})
	if fixturesErr != nil {
		t.Fatal(fixturesErr)
	}
	return fixturesDir
}

// pyDescription is what the script's "describe" command prints per file.
type pyDescription struct {
	Full        any `json:"full"`
	WeightsOnly any `json:"weights_only"`
}

// describeWithPython loads each file with torch.load and returns the
// descriptions, keyed by path.
func describeWithPython(t testing.TB, paths ...string) map[string]pyDescription {
	t.Helper()
	var out map[string]pyDescription
	if err := json.Unmarshal(runPython(t, append([]string{"describe"}, paths...)...), &out); err != nil {
		t.Fatalf("decoding python output: %v", err)
	}
	return out
}

// describeGo renders a Go object tree in the JSON format of the script's
// descriptions (see scripts/ptfile_torch.py), "shared" included: tensors
// that are the same *Entry share a storage.
func describeGo(v any) any {
	paths := make(map[*Entry][]string)
	var order []*Entry
	var walk func(v any, path string) any
	walk = func(v any, path string) any {
		switch v := v.(type) {
		case nil:
			return map[string]any{"none": true}
		case bool:
			return map[string]any{"bool": v}
		case int:
			return map[string]any{"int": strconv.Itoa(v)}
		case int64:
			return map[string]any{"int": strconv.FormatInt(v, 10)}
		case *big.Int:
			return map[string]any{"int": v.String()}
		case float32:
			return map[string]any{"float": strconv.FormatFloat(float64(v), 'x', -1, 64)}
		case float64:
			return map[string]any{"float": strconv.FormatFloat(v, 'x', -1, 64)}
		case string:
			return map[string]any{"str": v}
		case []byte:
			return map[string]any{"bytes": hex.EncodeToString(v)}
		case Tuple:
			items := []any{}
			for i, x := range v {
				items = append(items, walk(x, fmt.Sprintf("%s/%d", path, i)))
			}
			return map[string]any{"tuple": items}
		case *List:
			items := []any{}
			for i, x := range *v {
				items = append(items, walk(x, fmt.Sprintf("%s/%d", path, i)))
			}
			return map[string]any{"list": items}
		case *Dict:
			items := []any{}
			for _, it := range v.Items {
				items = append(items, []any{walk(it.Key, path), walk(it.Value, fmt.Sprintf("%s/%v", path, it.Key))})
			}
			if v.Ordered {
				m := map[string]any{"odict": items}
				if st, ok := v.State.(*Dict); ok && len(st.Items) > 0 {
					m["attrs"] = walk(st, path+"/@")
				}
				return m
			}
			return map[string]any{"dict": items}
		case Entry:
			return walk(&v, path) // a value: its own storage
		case *Entry:
			if len(v.Data) > 0 {
				if paths[v] == nil {
					order = append(order, v)
				}
				paths[v] = append(paths[v], path)
			}
			shape := []any{}
			for _, d := range v.Shape {
				shape = append(shape, d)
			}
			return map[string]any{"tensor": map[string]any{
				"dtype": v.DType.String(), "shape": shape, "hex": hex.EncodeToString(v.Data)}}
		}
		panic(fmt.Sprintf("describeGo: unexpected %T", v))
	}
	root := walk(v, "").(map[string]any)
	shared := []any{}
	var groups [][]string
	for _, e := range order {
		if p := paths[e]; len(p) > 1 {
			p = append([]string(nil), p...)
			sort.Strings(p)
			groups = append(groups, p)
		}
	}
	sort.Slice(groups, func(i, j int) bool { return fmt.Sprint(groups[i]) < fmt.Sprint(groups[j]) })
	for _, g := range groups {
		shared = append(shared, g)
	}
	root["shared"] = shared
	return canon(root)
}

// canon passes a tree through JSON so that Go- and Python-made trees have
// the same Go types, and rewrites floats into one spelling.
func canon(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		panic(err)
	}
	return normFloats(out)
}

func normFloats(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if s, ok := x.(string); ok && k == "float" {
				f, err := strconv.ParseFloat(s, 64)
				if err != nil {
					panic(fmt.Sprintf("bad float %q: %v", s, err))
				}
				v[k] = strconv.FormatFloat(f, 'x', -1, 64)
				continue
			}
			v[k] = normFloats(x)
		}
	case []any:
		for i := range v {
			v[i] = normFloats(v[i])
		}
	}
	return v
}

// withoutShared returns a copy of the root of a described tree without its
// "shared" groups.
func withoutShared(v any) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	out := make(map[string]any, len(m))
	for k, x := range m {
		if k != "shared" {
			out[k] = x
		}
	}
	return out
}

// diffTree describes the first difference between two described trees, or
// returns "" if they are equal.
func diffTree(want, got any, path string) string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return fmt.Sprintf("%s: want %v, got %v", path, short(want), short(got))
		}
		keys := make([]string, 0, len(w))
		for k := range w {
			keys = append(keys, k)
		}
		for k := range g {
			if _, ok := w[k]; !ok {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			if d := diffTree(w[k], g[k], path+"."+k); d != "" {
				return d
			}
		}
		return ""
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return fmt.Sprintf("%s: want %v, got %v", path, short(want), short(got))
		}
		for i := range w {
			if d := diffTree(w[i], g[i], fmt.Sprintf("%s[%d]", path, i)); d != "" {
				return d
			}
		}
		return ""
	}
	if !reflect.DeepEqual(want, got) {
		return fmt.Sprintf("%s: want %v, got %v", path, short(want), short(got))
	}
	return ""
}

func short(v any) string {
	s := fmt.Sprint(v)
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}
