package nn

import (
	"math"
	"testing"
)

func TestScriptFloat(t *testing.T) {
	for _, c := range []struct {
		v    float64
		want string
	}{
		{0, "0.0"}, {1, "1.0"}, {-3, "-3.0"}, {0.1, "0.1"}, {1e-5, "1e-05"}, {1e20, "1e+20"},
		{123456789, "1.23456789e+08"}, {math.Inf(1), `float("inf")`}, {math.Inf(-1), `float("-inf")`},
		{math.NaN(), `float("nan")`},
	} {
		if got := scriptFloat(c.v); got != c.want {
			t.Errorf("scriptFloat(%v) = %s, want %s", c.v, got, c.want)
		}
	}
}
