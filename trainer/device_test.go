package trainer

import (
	"testing"

	"gotrain/torch"
)

func TestChannelsLastByDefault(t *testing.T) {
	for _, c := range []struct {
		device string
		want   bool
	}{
		{"cpu", true},
		{"cuda", false},
		{"cuda:1", false},
		{"tpu", false}, // not a device: left to ResolveDevice to report
		{"auto", !torch.CUDAIsAvailable()},
	} {
		if got := ChannelsLastByDefault(c.device); got != c.want {
			t.Errorf("ChannelsLastByDefault(%q) = %v, want %v", c.device, got, c.want)
		}
	}
}
