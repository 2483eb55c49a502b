package nn

import (
	"fmt"
	"strconv"
	"strings"

	"gotrain/torch"
)

// Ensemble averages the class probabilities of its members: its forward
// is the mean over the members of softmax(member(x), dim=1). Members,
// which may be different networks, are children named "0", "1", ... as in
// Sequential, so that its state_dict holds "0.<name>", "1.<name>", ...
type Ensemble struct{ Members []Module }

// NewEnsemble returns the ensemble of the given members.
func NewEnsemble(members ...Module) *Ensemble { return &Ensemble{Members: members} }

// Forward returns the members' mean softmax for x.
func (m *Ensemble) Forward(x *torch.Tensor) (*torch.Tensor, error) {
	outs := make([]*torch.Tensor, len(m.Members))
	for i, mem := range m.Members {
		y, err := Call(mem, x)
		if err != nil {
			return nil, fmt.Errorf("member %d (%T): %w", i, mem, err)
		}
		outs[i] = y
	}
	return m.Combine(outs)
}

// Combine returns the ensemble's output for the members' logits (one
// tensor per member, in order), as forward computes it:
//
//	p = softmax(logits[0], 1) + softmax(logits[1], 1) + ...
//	return p * (1/len(logits))
func (m *Ensemble) Combine(logits []*torch.Tensor) (*torch.Tensor, error) {
	if len(logits) == 0 || len(logits) != len(m.Members) {
		return nil, fmt.Errorf("nn: ensemble of %d members given %d outputs", len(m.Members), len(logits))
	}
	var sum *torch.Tensor
	for _, l := range logits {
		p, err := torch.Softmax(l, 1)
		if err != nil {
			return nil, err
		}
		if sum == nil {
			sum = p
		} else if sum, err = torch.Add(sum, p); err != nil {
			return nil, err
		}
	}
	return sum.MulScalar(1 / float64(len(logits)))
}

// Children returns the members named by their index.
func (m *Ensemble) Children() []Child {
	cs := make([]Child, len(m.Members))
	for i, l := range m.Members {
		cs[i] = Child{strconv.Itoa(i), l}
	}
	return cs
}

// TorchScript gives forward for export (see Script), the same operations
// as Forward.
func (m *Ensemble) TorchScript() (class, source string) {
	var b strings.Builder
	b.WriteString("def forward(self, x):\n")
	for i, c := range m.Children() {
		op := "p = "
		if i > 0 {
			op = "p = p + "
		}
		fmt.Fprintf(&b, "  %storch.softmax(%s(x), 1)\n", op, ChildRef(c.Name))
	}
	fmt.Fprintf(&b, "  return p * %s\n", scriptFloat(1/float64(max(len(m.Members), 1))))
	return "Ensemble", b.String()
}
