package trainer

import (
	"bytes"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"

	"gotrain/dataset"
	"gotrain/torch"
	"gotrain/transforms"
)

// TestNewDeviceBatchesModes checks which modes of DeviceAugment take the
// device path (transforms/batched's Loader, whose batches are tested there
// against the CPU loader's) and which fall back or fail.
func TestNewDeviceBatchesModes(t *testing.T) {
	set := &dataset.Set{Images: make([]byte, 4*dataset.ImageSize), Labels: []uint8{0, 1, 2, 3}}
	log := logrus.New()
	var logged bytes.Buffer
	log.SetOutput(&logged)
	unsupported := &transforms.Pipeline{Augment: &transforms.HorizontalFlip{P: 0.5}, Normalize: transforms.SeedTrain().Normalize}
	for _, c := range []struct {
		mode   string
		dev    torch.Device
		pipe   *transforms.Pipeline
		on     bool
		errHas string
	}{
		{mode: "off", dev: torch.CPU, pipe: transforms.SeedTrain()},
		{mode: "auto", dev: torch.CPU, pipe: transforms.SeedTrain()},
		{mode: "", dev: torch.CPU, pipe: transforms.SeedTrain()},
		{mode: "on", dev: torch.CPU, pipe: transforms.SeedTrain(), on: true},
		{mode: "on", dev: torch.CPU, pipe: transforms.SeedTest(), on: true},
		{mode: "on", dev: torch.CPU, pipe: unsupported, errHas: "HorizontalFlip"},
	} {
		loader, err := dataset.NewLoader(set, c.pipe, dataset.LoaderConfig{BatchSize: 2})
		if err != nil {
			t.Fatal(err)
		}
		cfg := DefaultConfig()
		cfg.DeviceAugment = c.mode
		d, err := newDeviceBatches(cfg, c.dev, set, c.pipe, loader, log)
		loader.Close()
		switch {
		case c.errHas != "":
			if err == nil || !strings.Contains(err.Error(), c.errHas) || !strings.Contains(err.Error(), "device augmentation") {
				t.Errorf("mode %q, pipeline %v: error %v, want one naming %s", c.mode, c.pipe.Augment, err, c.errHas)
			}
		case err != nil:
			t.Errorf("mode %q: %v", c.mode, err)
		case (d != nil) != c.on:
			t.Errorf("mode %q on %v: device path %v, want %v", c.mode, c.dev, d != nil, c.on)
		}
		d.Close()
	}
	cfg := DefaultConfig()
	for mode, ok := range map[string]bool{"auto": true, "on": true, "off": true, "": true, "yes": false, "cuda": false} {
		cfg.DeviceAugment = mode
		if err := cfg.Validate(); (err == nil) != ok {
			t.Errorf("Validate with device augmentation %q: %v", mode, err)
		}
	}
}
