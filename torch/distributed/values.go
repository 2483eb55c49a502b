package distributed

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"

	"gotrain/torch"
)

// Collectives on values of the host (flags, sums, settings) rather than
// tensors: each moves the values through one small tensor on the group's
// device (Options.Device).

// AllReduceFloat64s reduces vals across the group with op and returns the
// result, the same on every rank. Every rank must pass as many values.
func (pg *ProcessGroup) AllReduceFloat64s(vals []float64, op ReduceOp) ([]float64, error) {
	var out []float64
	err := torch.WithScope(func() error {
		t, err := torch.FromSlice(vals)
		if err != nil {
			return err
		}
		if pg.dev.Type != torch.CPUType {
			if t, err = t.To(pg.dev, false); err != nil {
				return err
			}
		}
		if err := pg.AllReduce(t, op); err != nil {
			return err
		}
		if pg.dev.Type != torch.CPUType {
			if t, err = t.To(torch.CPU, false); err != nil {
				return err
			}
		}
		out, err = torch.ToSlice[float64](t)
		return err
	})
	return out, err
}

// Any reports whether v is true on any rank of the group.
func (pg *ProcessGroup) Any(v bool) (bool, error) {
	x := 0.0
	if v {
		x = 1
	}
	out, err := pg.AllReduceFloat64s([]float64{x}, Max)
	if err != nil {
		return false, err
	}
	return out[0] != 0, nil
}

// MismatchError reports settings that differ between the ranks of a
// group (CompareSettings); every rank gets the same one.
type MismatchError struct {
	Diffs []Mismatch // by rank, then name
}

// Mismatch is one setting of one rank that differs from rank 0's.
type Mismatch struct {
	Name         string
	Rank         int
	Value, Rank0 string // "(unset)" where a rank has no such setting
}

// Error names the first few differences: "ranks disagree: lr is 0.05 on
// rank 0 and 0.1 on rank 1".
func (e *MismatchError) Error() string {
	const shown = 6
	var parts []string
	for i, d := range e.Diffs {
		if i == shown {
			parts = append(parts, fmt.Sprintf("and %d more", len(e.Diffs)-shown))
			break
		}
		parts = append(parts, fmt.Sprintf("%s is %s on rank 0 and %s on rank %d", d.Name, d.Rank0, d.Value, d.Rank))
	}
	return "ranks disagree: " + strings.Join(parts, "; ")
}

// CompareSettings checks that every rank of the group passed the same
// settings (name to value). When they agree, it costs one small
// collective: an all-reduce of a hash of them. When they do not, each
// rank publishes its settings in the group's store and reads the others',
// and every rank returns the same *MismatchError, naming each setting
// that differs from rank 0's. Run it before collectives whose shapes
// depend on the settings: ranks whose tensors differ in shape can make
// Gloo abort the process rather than fail.
func (pg *ProcessGroup) CompareSettings(settings map[string]string) error {
	blob, err := json.Marshal(settings) // sorted by name
	if err != nil {
		return err
	}
	h := fnv.New64a()
	h.Write(blob)
	sum := h.Sum64()
	hi, lo := float64(sum>>32), float64(sum&(1<<32-1)) // exact in float64
	out, err := pg.AllReduceFloat64s([]float64{hi, lo, -hi, -lo}, Max)
	if err != nil {
		return fmt.Errorf("comparing the ranks' settings: %w", err)
	}
	pg.compares++
	if out[0] == -out[2] && out[1] == -out[3] { // max == min: all equal
		return nil
	}
	all, err := pg.exchange(fmt.Sprintf("gotrain/settings/%d", pg.compares), blob)
	if err != nil {
		return fmt.Errorf("the ranks' settings differ; exchanging them: %w", err)
	}
	var ms []map[string]string
	for r, b := range all {
		var m map[string]string
		if err := json.Unmarshal(b, &m); err != nil {
			return fmt.Errorf("the ranks' settings differ; rank %d's: %w", r, err)
		}
		ms = append(ms, m)
	}
	e := &MismatchError{}
	for r := 1; r < len(ms); r++ {
		var names []string
		for k := range ms[0] {
			names = append(names, k)
		}
		for k := range ms[r] {
			if _, ok := ms[0][k]; !ok {
				names = append(names, k)
			}
		}
		slices.Sort(names)
		for _, k := range names {
			v0, ok0 := ms[0][k]
			v, ok := ms[r][k]
			if ok0 && ok && v0 == v {
				continue
			}
			if !ok0 {
				v0 = "(unset)"
			}
			if !ok {
				v = "(unset)"
			}
			e.Diffs = append(e.Diffs, Mismatch{Name: k, Rank: r, Value: v, Rank0: v0})
		}
	}
	if len(e.Diffs) == 0 { // a hash collision of equal settings cannot happen; a rank's lie can
		return fmt.Errorf("the ranks' settings hash differently but read the same")
	}
	return e
}

// exchange publishes value under prefix in the group's store and returns
// every rank's, by rank. It returns only once every rank has read them
// all, so that a rank hosting the store does not end before the others
// are done with it.
func (pg *ProcessGroup) exchange(prefix string, value []byte) ([][]byte, error) {
	key := func(what string, r int) string { return prefix + "/" + what + "/" + strconv.Itoa(r) }
	if err := pg.store.Set(key("value", pg.rank), value); err != nil {
		return nil, err
	}
	all := make([][]byte, pg.size)
	for r := range all {
		b, err := pg.store.Get(key("value", r))
		if err != nil {
			return nil, err
		}
		all[r] = b
	}
	if err := pg.store.Set(key("read", pg.rank), nil); err != nil {
		return nil, err
	}
	keys := make([]string, pg.size)
	for r := range keys {
		keys[r] = key("read", r)
	}
	return all, pg.store.Wait(keys, pg.store.Timeout())
}
