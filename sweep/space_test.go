package sweep

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseParam(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Param
	}{
		{"lr=0.02,0.05", Param{"lr", []string{"0.02", "0.05"}}},
		{"-seed=1..4", Param{"seed", []string{"1", "2", "3", "4"}}},
		{"seed=-1..1,7", Param{"seed", []string{"-1", "0", "1", "7"}}},
		{"recipe = seed, best", Param{"recipe", []string{"seed", "best"}}},
		{"data=../a..b", Param{"data", []string{"../a..b"}}}, // not a range of integers
		{"augment=false", Param{"augment", []string{"false"}}},
	} {
		got, err := ParseParam(c.in)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("ParseParam(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
	for _, in := range []string{"lr", "=1,2", "Lr=1", "lr=", "lr=1,,2", "lr=1,1", "seed=1..3,2", "seed=4..1", "seed=0..999999999"} {
		if p, err := ParseParam(in); err == nil {
			t.Errorf("ParseParam(%q) = %+v, want an error", in, p)
		}
	}
}

func TestGrid(t *testing.T) {
	s := Space{Params: []Param{{"lr", []string{"0.02", "0.05"}}, {"seed", []string{"1", "2", "3"}}}}
	trials, err := s.Trials()
	if err != nil {
		t.Fatal(err)
	}
	// itertools.product(["0.02", "0.05"], ["1", "2", "3"])
	want := []string{"lr=0.02_seed=1", "lr=0.02_seed=2", "lr=0.02_seed=3", "lr=0.05_seed=1", "lr=0.05_seed=2", "lr=0.05_seed=3"}
	var got []string
	for i, tr := range trials {
		got = append(got, tr.Name)
		if tr.Index != i {
			t.Errorf("trial %d has index %d", i, tr.Index)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("grid %v, want %v", got, want)
	}
	if a := trials[4].Args(); !reflect.DeepEqual(a, []string{"-lr=0.05", "-seed=2"}) {
		t.Errorf("args %v", a)
	}
	if v := trials[4].Value("seed"); v != "2" {
		t.Errorf("Value(seed) = %q", v)
	}
}

func TestRandom(t *testing.T) {
	s := Space{Params: []Param{{"lr", []string{"0.01", "0.02", "0.05", "0.1"}}, {"seed", []string{"1", "2", "3", "4", "5"}}}, Random: 7, RandomSeed: 3}
	grid, err := Space{Params: s.Params}.Trials()
	if err != nil {
		t.Fatal(err)
	}
	inGrid := map[string]bool{}
	for _, g := range grid {
		inGrid[g.Name] = true
	}
	draw := func(seed uint64) []string {
		s := s
		s.RandomSeed = seed
		trials, err := s.Trials()
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		seen := map[string]bool{}
		for i, tr := range trials {
			if !inGrid[tr.Name] || seen[tr.Name] || tr.Index != i {
				t.Errorf("seed %d: trial %d %s: not a distinct grid point", seed, i, tr.Name)
			}
			seen[tr.Name] = true
			names = append(names, tr.Name)
		}
		return names
	}
	a, b, c := draw(3), draw(3), draw(4)
	if len(a) != 7 || !reflect.DeepEqual(a, b) {
		t.Errorf("one seed gave %v and %v", a, b)
	}
	if reflect.DeepEqual(a, c) {
		t.Errorf("seeds 3 and 4 drew the same trials %v", a)
	}
	s.Random = 21
	if _, err := s.Trials(); err == nil {
		t.Error("21 trials of a 20-point grid: no error")
	}
}

func TestTrialsRejects(t *testing.T) {
	for name, s := range map[string]Space{
		"empty":     {},
		"twice":     {Params: []Param{{"lr", []string{"1"}}, {"lr", []string{"2"}}}},
		"no values": {Params: []Param{{"lr", nil}}},
		"collision": {Params: []Param{{"data", []string{"a/b", "a:b"}}}},
	} {
		if _, err := s.Trials(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	trials, err := Space{Params: []Param{{"data", []string{"/x/y", ".."}}}}.Trials()
	if err != nil || trials[0].Name != "data=_x_y" || trials[1].Name != "data=_" {
		t.Errorf("folder names of paths: %+v, %v", trials, err)
	}
}

func TestReadSpace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "space.txt")
	text := "# learning rate and seeds\nlr=0.02,0.05\n\nseed=1..3  # three seeds\nrandom 4\n"
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := ReadSpace(path)
	want := Space{Params: []Param{{"lr", []string{"0.02", "0.05"}}, {"seed", []string{"1", "2", "3"}}}, Random: 4, RandomSeed: 1}
	if err != nil || !reflect.DeepEqual(s, want) {
		t.Fatalf("ReadSpace = %+v, %v; want %+v", s, err, want)
	}
	for _, bad := range []string{"lr 0.1\n", "random x\n", "random-seed -1\n", "lr=\n"} {
		if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadSpace(path); err == nil || !strings.Contains(err.Error(), path+":1:") {
			t.Errorf("ReadSpace of %q: %v, want an error naming line 1", bad, err)
		}
	}
}

func TestOpen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "sweep")
	if _, err := Open(dir, nil); err == nil {
		t.Error("Open of a missing folder: no error")
	}
	p, err := NewPlan(Space{Params: []Param{{"lr", []string{"0.1", "0.2"}}}}, []string{"-epochs=1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, nil); !errors.Is(err, ErrNoSweep) {
		t.Errorf("Open of an empty folder: %v, want ErrNoSweep", err)
	}
	if got, err := Open(dir, &p); err != nil || !reflect.DeepEqual(got, p) {
		t.Fatalf("first Open = %+v, %v", got, err)
	}
	for _, q := range []*Plan{&p, nil} {
		if got, err := Open(dir, q); err != nil || !reflect.DeepEqual(got, p) {
			t.Errorf("Open again = %+v, %v; want the saved plan", got, err)
		}
	}
	other := p
	other.Args = []string{"-epochs=2"}
	var ose *OtherSweepError
	if _, err := Open(dir, &other); !errors.As(err, &ose) || ose.Dir != dir {
		t.Errorf("Open with other flags: %v, want an OtherSweepError", err)
	}
}
