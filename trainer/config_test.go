package trainer

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"
)

// configKeys are the JSON keys of Config as checkpoints have held them
// since before Config was split into Training and Machine (the flat
// struct's tags, in its order), techniques included.
var configKeys = []string{"model", "epochs", "batch_size", "lr", "momentum", "cycle_momentum", "weight_decay", "dropout",
	"label_smoothing", "pct_start", "seed", "augment", "data", "out", "device", "threads", "workers", "channels_last",
	"device_augment", "autocast", "train_limit", "test_limit", "tensorboard", "tensorboard_every",
	"recipe", "ema", "tta", "tta_translate", "no_decay_bn_bias", "nesterov", "anneal", "flip", "shift_scale_rotate",
	"coarse_dropout", "random_crop", "no_color", "whiten"}

// TestConfigJSON checks that the two parts of Config encode as the one
// object checkpoints have always held, key for key, and that such an
// object, written before the split, reads back into the same values.
func TestConfigJSON(t *testing.T) {
	c := DefaultConfig()
	c.Autocast, c.EMA, c.TTA, c.TTATranslate, c.NoDecayBNBias, c.Nesterov = true, 0.9, true, true, true, true
	c.RandomCrop, c.NoColor, c.Whiten, c.Data = 2, true, true, "/data/cifar"
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	want := slices.Clone(configKeys)
	slices.Sort(keys)
	slices.Sort(want)
	if !slices.Equal(keys, want) {
		t.Errorf("Config's JSON keys:\n%v\nwant\n%v", keys, want)
	}
	// A flat object with every key, as an old checkpoint holds it.
	old := `{"model":"seed","epochs":3,"batch_size":32,"lr":0.1,"momentum":0.8,"cycle_momentum":false,"weight_decay":0.001,
		"dropout":0.1,"label_smoothing":0.2,"pct_start":0.25,"seed":7,"augment":false,"data":"../x/mini.tar.gz","out":"runs/a",
		"device":"cpu","threads":1,"workers":2,"channels_last":true,"device_augment":"off","train_limit":320,"test_limit":100,
		"tensorboard":"tb","tensorboard_every":5,"recipe":"best","ema":0.99,"flip":"alternate"}`
	var got Config
	if err := json.Unmarshal([]byte(old), &got); err != nil {
		t.Fatal(err)
	}
	var w Config
	w.Model, w.Epochs, w.BatchSize, w.LR, w.Momentum, w.WeightDecay = "seed", 3, 32, 0.1, 0.8, 0.001
	w.Dropout, w.LabelSmoothing, w.PctStart, w.Seed = 0.1, 0.2, 0.25, 7
	w.Data, w.Out, w.Device, w.Threads, w.Workers, w.ChannelsLast, w.DeviceAugment = "../x/mini.tar.gz", "runs/a", "cpu", 1, 2, true, "off"
	w.TrainLimit, w.TestLimit, w.TensorBoard, w.TensorBoardEvery = 320, 100, "tb", 5
	w.Recipe, w.EMA, w.Flip = "best", 0.99, "alternate"
	if !reflect.DeepEqual(got, w) {
		t.Errorf("old checkpoint's configuration read as\n%+v\nwant\n%+v", got, w)
	}
}
