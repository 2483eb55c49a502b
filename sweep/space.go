// Package sweep runs many training runs over a search space: a grid or a
// seeded random draw of training flags, each trial an ordinary run in a
// folder of its own, several at once on one machine or one per task of a
// job array (Slurm, Kubernetes Indexed Jobs), resumable and tolerant of
// failing trials, with a results table and plots collected from the
// trials' own metrics files.
//
// Each trial runs as a child process of the trainer binary (Runner.Program)
// with the trial's flags. A process per trial keeps trials apart (libtorch
// threads, memory, a crash), lets a signal stop each one at a step with a
// checkpoint, and makes a trial under the sweep the same run, bit for bit,
// as the same command typed by hand. The package sits above trainer: it
// knows a run by its flags and its output folder.
package sweep

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// Param is one swept training flag and the values it takes, in order.
type Param struct {
	Name   string   `json:"name"` // the flag's name, without the dash
	Values []string `json:"values"`
}

// Space is a search space: the grid of its Params (every combination), or,
// with Random > 0, Random distinct combinations drawn from it with
// RandomSeed.
type Space struct {
	Params     []Param `json:"params"`
	Random     int     `json:"random,omitempty"`
	RandomSeed uint64  `json:"random_seed,omitempty"`
}

// MaxTrials bounds the number of trials a space may have (the grid's size
// when it is drawn from at random).
const MaxTrials = 100000

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)

// ParseParam parses "name=v1,v2,...", a flag's name and its values. An
// integer range "a..b" stands for a, a+1, ..., b: "seed=1..4".
func ParseParam(s string) (Param, error) {
	name, list, ok := strings.Cut(s, "=")
	name = strings.TrimPrefix(strings.TrimSpace(name), "-")
	if !ok || !nameRE.MatchString(name) {
		return Param{}, fmt.Errorf("parameter %q: want name=value,value,... (a flag's name without the dash)", s)
	}
	p := Param{Name: name}
	seen := map[string]bool{}
	for _, v := range strings.Split(list, ",") {
		v = strings.TrimSpace(v)
		vs := []string{v}
		if lo, hi, ok := intRange(v); ok {
			if hi < lo || hi-lo >= MaxTrials {
				return Param{}, fmt.Errorf("parameter %s: bad range %q: want a..b with a <= b", name, v)
			}
			vs = vs[:0]
			for i := lo; i <= hi; i++ {
				vs = append(vs, strconv.Itoa(i))
			}
		}
		for _, v := range vs {
			if v == "" {
				return Param{}, fmt.Errorf("parameter %s: empty value in %q", name, list)
			}
			if seen[v] {
				return Param{}, fmt.Errorf("parameter %s: value %q given twice", name, v)
			}
			seen[v] = true
			p.Values = append(p.Values, v)
		}
	}
	return p, nil
}

// intRange parses "a..b" with integers a and b.
func intRange(v string) (lo, hi int, ok bool) {
	a, b, ok := strings.Cut(v, "..")
	if !ok {
		return 0, 0, false
	}
	lo, err1 := strconv.Atoi(a)
	hi, err2 := strconv.Atoi(b)
	return lo, hi, err1 == nil && err2 == nil
}

// ReadSpace reads a search space from a file: one parameter per line as
// ParseParam takes it ("lr=0.02,0.05"), and optionally "random N" and
// "random-seed S" lines for a random draw (seed 1 if not given); "#"
// starts a comment.
func ReadSpace(path string) (Space, error) {
	f, err := os.Open(path)
	if err != nil {
		return Space{}, fmt.Errorf("search space: %w", err)
	}
	defer f.Close()
	s := Space{RandomSeed: 1}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		bad := func(err error) (Space, error) { return Space{}, fmt.Errorf("%s:%d: %w", path, n, err) }
		if key, val, ok := strings.Cut(line, " "); ok && !strings.Contains(key, "=") {
			val = strings.TrimSpace(val)
			switch key {
			case "random":
				if s.Random, err = strconv.Atoi(val); err != nil || s.Random < 1 {
					return bad(fmt.Errorf("random %q: want a number of trials of at least 1", val))
				}
			case "random-seed":
				if s.RandomSeed, err = strconv.ParseUint(val, 10, 64); err != nil {
					return bad(fmt.Errorf("random-seed %q: want an unsigned integer", val))
				}
			default:
				return bad(fmt.Errorf("unknown setting %q (want name=values, random N or random-seed S)", key))
			}
			continue
		}
		p, err := ParseParam(line)
		if err != nil {
			return bad(err)
		}
		s.Params = append(s.Params, p)
	}
	if err := sc.Err(); err != nil {
		return Space{}, fmt.Errorf("search space %s: %w", path, err)
	}
	return s, nil
}

// Setting is one flag's value in a trial.
type Setting struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Trial is one point of a space.
type Trial struct {
	Index    int       `json:"index"` // 0-based, the job array's task index
	Name     string    `json:"name"`  // its folder's name, from its settings
	Settings []Setting `json:"settings"`
}

// Args returns the trial's settings as flags, "-name=value" (the form that
// boolean flags need).
func (t Trial) Args() []string {
	args := make([]string, len(t.Settings))
	for i, s := range t.Settings {
		args[i] = "-" + s.Name + "=" + s.Value
	}
	return args
}

// Value returns the trial's value of the named parameter, or "".
func (t Trial) Value(name string) string {
	for _, s := range t.Settings {
		if s.Name == name {
			return s.Value
		}
	}
	return ""
}

// Trials returns the space's trials: the grid in the order of
// itertools.product (the first parameter varies slowest), or Random
// distinct points of the grid in the order a generator seeded with
// RandomSeed draws them (PCG, math/rand/v2), which depends only on the
// space.
func (s Space) Trials() ([]Trial, error) {
	if len(s.Params) == 0 {
		return nil, fmt.Errorf("empty search space: give at least one parameter")
	}
	size := 1
	seen := map[string]bool{}
	for _, p := range s.Params {
		if seen[p.Name] {
			return nil, fmt.Errorf("parameter %s given twice", p.Name)
		}
		seen[p.Name] = true
		if len(p.Values) == 0 {
			return nil, fmt.Errorf("parameter %s has no values", p.Name)
		}
		if size *= len(p.Values); size > MaxTrials {
			return nil, fmt.Errorf("the grid has over %d points", MaxTrials)
		}
	}
	points := make([]int, size)
	for i := range points {
		points[i] = i
	}
	if s.Random > 0 {
		if s.Random > size {
			return nil, fmt.Errorf("random: %d trials asked of a grid of %d points", s.Random, size)
		}
		r := rand.New(rand.NewPCG(s.RandomSeed, 0))
		r.Shuffle(len(points), func(i, j int) { points[i], points[j] = points[j], points[i] })
		points = points[:s.Random]
	}
	trials := make([]Trial, len(points))
	names := map[string]int{}
	for i, pt := range points {
		t := Trial{Index: i, Settings: make([]Setting, len(s.Params))}
		for k := len(s.Params) - 1; k >= 0; k-- {
			p := s.Params[k]
			t.Settings[k] = Setting{p.Name, p.Values[pt%len(p.Values)]}
			pt /= len(p.Values)
		}
		t.Name = folderName(t.Settings)
		if j, dup := names[t.Name]; dup {
			return nil, fmt.Errorf("trials %d and %d would share the folder %s: make the values differ in letters, digits or . + -", j, i, t.Name)
		}
		names[t.Name] = i
		trials[i] = t
	}
	return trials, nil
}

// folderName names a trial's folder by its settings, "lr=0.02_seed=1",
// with characters other than letters, digits and . + - in values as "_".
func folderName(settings []Setting) string {
	parts := make([]string, len(settings))
	for i, s := range settings {
		v := strings.Map(func(r rune) rune {
			if r < 128 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(".+-", r)) {
				return r
			}
			return '_'
		}, s.Value)
		if v == "." || v == ".." {
			v = "_"
		}
		parts[i] = s.Name + "=" + v
	}
	return strings.Join(parts, "_")
}
