package model

import (
	"fmt"
	"strings"

	"gotrain/torch/nn"
)

// Rule is one of the seed project's architecture rules, checked on a
// network: Name states the condition, Value what was measured.
type Rule struct {
	Name  string `json:"name"`
	Value string `json:"value"`
	Pass  bool   `json:"pass"`
}

// The seed project's limits.
const (
	// MaxParams bounds the number of parameters (exclusive).
	MaxParams = 200_000
	// MinReceptiveField bounds the receptive field from below (exclusive).
	MinReceptiveField = 44
)

// CheckRules traces n as Summarize does and checks the seed project's
// rules: no max-pooling, strided, dilated and depthwise-separable
// convolutions and global average pooling present, fewer than 200,000
// parameters and a receptive field above 44.
func CheckRules(n *Net) ([]Rule, error) {
	s, err := Summarize(n)
	if err != nil {
		return nil, err
	}
	return s.Rules, nil
}

// checkRules measures the rules on a traced summary. The layers are counted
// over the module tree; a depthwise-separable convolution is a depthwise
// Conv2d (groups == in_channels > 1) whose next Conv2d, in the tree's
// order, is a pointwise one (1x1, groups 1), whatever module holds them.
func checkRules(s *Summary) []Rule {
	var maxPools, strided, dilated, separable, gap int
	var convs []*nn.Conv2d
	for _, r := range s.Rows {
		if strings.Contains(r.Type, "MaxPool") {
			maxPools++
		}
		switch m := r.module.(type) {
		case *nn.Conv2d:
			c := m.Config
			if c.Stride[0] > 1 || c.Stride[1] > 1 {
				strided++
			}
			if c.Dilation[0] > 1 || c.Dilation[1] > 1 {
				dilated++
			}
			convs = append(convs, m)
		case nn.AdaptiveAvgPool2d:
			if m.OutputSize == [2]int64{1, 1} {
				gap++
			}
		case *nn.AdaptiveAvgPool2d:
			if m.OutputSize == [2]int64{1, 1} {
				gap++
			}
		}
	}
	for i := 0; i+1 < len(convs); i++ {
		dw, pw := convs[i].Config, convs[i+1].Config
		if dw.InChannels > 1 && dw.Groups == dw.InChannels &&
			pw.KernelSize == [2]int64{1, 1} && max(pw.Groups, 1) == 1 {
			separable++
		}
	}
	count := func(n int) string { return fmt.Sprint(n) }
	return []Rule{
		{Name: "max-pooling layers = 0", Value: count(maxPools), Pass: maxPools == 0},
		{Name: "strided convolutions > 0", Value: count(strided), Pass: strided > 0},
		{Name: "dilated convolutions > 0", Value: count(dilated), Pass: dilated > 0},
		{Name: "depthwise-separable convolutions > 0", Value: count(separable), Pass: separable > 0},
		{Name: "global average pooling layers > 0", Value: count(gap), Pass: gap > 0},
		{Name: "parameters < " + commas(MaxParams), Value: commas(s.TotalParams), Pass: s.TotalParams < MaxParams},
		{Name: fmt.Sprintf("receptive field > %d", MinReceptiveField), Value: s.Field.String(), Pass: s.Field.Max() > MinReceptiveField},
	}
}

// FormatRules returns the rules as a table, one line each:
// "PASS  parameters < 200,000              82,474".
func FormatRules(rules []Rule) string {
	width := 0
	for _, r := range rules {
		width = max(width, len(r.Name))
	}
	var b strings.Builder
	for _, r := range rules {
		verdict := "FAIL"
		if r.Pass {
			verdict = "PASS"
		}
		fmt.Fprintf(&b, "  %s  %-*s  %s\n", verdict, width, r.Name, r.Value)
	}
	return b.String()
}
