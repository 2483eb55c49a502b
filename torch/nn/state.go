package nn

import (
	"fmt"
	"slices"

	"gotrain/torch"
)

// LoadResult says how LoadStateDict matched the source tensors to m's.
type LoadResult struct {
	// ByOrder is true when the names differed and tensors were matched by
	// position and shape instead.
	ByOrder bool
	// Renamed lists "source -> destination" for each tensor matched by
	// position under another name.
	Renamed []string
}

// LoadStateDict copies src's values into m's parameters and buffers
// (converting dtype and device), like load_state_dict(strict=True). When
// the names differ but the tensors line up in order and shape, it matches
// them by position and says so in the result. Otherwise it returns an error
// naming the first mismatch and changes nothing.
func LoadStateDict(m Module, src []NamedTensor) (LoadResult, error) {
	dst := StateDict(m)
	pairs, res, err := match(dst, src)
	if err != nil {
		return res, err
	}
	err = torch.NoGrad(func() error {
		for _, p := range pairs {
			if err := p[0].Tensor.Copy_(p[1].Tensor); err != nil {
				return fmt.Errorf("nn: loading %s: %w", p[0].Name, err)
			}
		}
		return nil
	})
	return res, err
}

func match(dst, src []NamedTensor) ([][2]NamedTensor, LoadResult, error) {
	byName := make(map[string]NamedTensor, len(src))
	for _, s := range src {
		byName[s.Name] = s
	}
	var pairs [][2]NamedTensor
	var missing []string
	for _, d := range dst {
		s, ok := byName[d.Name]
		if !ok {
			missing = append(missing, d.Name)
			continue
		}
		if !slices.Equal(d.Tensor.Shape(), s.Tensor.Shape()) {
			return nil, LoadResult{}, fmt.Errorf("nn: %s has shape %v in the file, %v in the model", d.Name, s.Tensor.Shape(), d.Tensor.Shape())
		}
		pairs = append(pairs, [2]NamedTensor{d, s})
	}
	if len(missing) == 0 && len(src) == len(dst) {
		return pairs, LoadResult{}, nil
	}
	// Names differ: fall back to order and shape.
	if len(src) != len(dst) {
		what := fmt.Sprintf("the file has %d tensors, the model %d", len(src), len(dst))
		if len(missing) > 0 {
			what += fmt.Sprintf("; first missing from the file: %s", missing[0])
		}
		return nil, LoadResult{}, fmt.Errorf("nn: state dict does not fit the model: %s", what)
	}
	res := LoadResult{ByOrder: true}
	pairs = pairs[:0]
	for i, d := range dst {
		s := src[i]
		if !slices.Equal(d.Tensor.Shape(), s.Tensor.Shape()) {
			return nil, LoadResult{}, fmt.Errorf("nn: names differ and tensor %d does not line up: %s has shape %v in the file, %s has %v in the model", i, s.Name, s.Tensor.Shape(), d.Name, d.Tensor.Shape())
		}
		if s.Name != d.Name {
			res.Renamed = append(res.Renamed, s.Name+" -> "+d.Name)
		}
		pairs = append(pairs, [2]NamedTensor{d, s})
	}
	return pairs, res, nil
}
