package main

import (
	"path/filepath"
	"strings"
	"testing"

	"gotrain/metrics"
	"gotrain/trainer"
)

const deviceAugmentLog = "training batches are augmented on cpu"

// TestDeviceAugmentMatchesLoader trains the same short run with the
// batches made on the (CPU) device and by the host loader: the batches are
// the same, bit for bit, so the final weights must be too.
func TestDeviceAugmentMatchesLoader(t *testing.T) {
	needArchive(t)
	args := func(out, mode string) []string {
		return []string{"-model", "seed", "-epochs", "2", "-batch-size", "64", "-train-limit", "256",
			"-test-limit", "100", "-seed", "3", "-threads", "1", "-workers", "2", "-data", archive,
			"-out", out, "-tensorboard", "off", "-device-augment", mode}
	}
	host, dev := t.TempDir(), t.TempDir()
	r := runTrainer(t, args(host, "auto")...) // auto is off on the CPU
	if r.code != 0 {
		t.Fatalf("host loader run: exit %d: %s", r.code, r.stderr)
	}
	if strings.Contains(r.stderr, deviceAugmentLog) {
		t.Errorf("-device-augment auto used the device path on the CPU:\n%s", r.stderr)
	}
	if r = runTrainer(t, args(dev, "on")...); r.code != 0 {
		t.Fatalf("device run: exit %d: %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, deviceAugmentLog) {
		t.Errorf("-device-augment on did not say it augments on the device:\n%s", r.stderr)
	}
	a := readTensors(t, filepath.Join(host, trainer.StateDictFile))
	b := readTensors(t, filepath.Join(dev, trainer.StateDictFile))
	if !equalTensors(a, b) {
		t.Error("final weights differ between -device-augment on and the host loader")
	}
	ha, _ := metrics.ReadJSON(filepath.Join(host, trainer.MetricsJSONFile))
	hb, _ := metrics.ReadJSON(filepath.Join(dev, trainer.MetricsJSONFile))
	if len(ha) != 2 || len(hb) != 2 || ha[1].TrainLoss != hb[1].TrainLoss || ha[1].TestAcc != hb[1].TestAcc {
		t.Errorf("metrics differ:\n%+v\n%+v", ha, hb)
	}
	if r := runTrainer(t, args(t.TempDir(), "sometimes")...); r.code != 2 || !strings.Contains(r.stderr, `"sometimes"`) {
		t.Errorf("-device-augment sometimes: exit %d, stderr %s; want a usage error naming it", r.code, r.stderr)
	}
}

// TestDeviceAugmentResume interrupts a host-loader run in its second epoch
// and resumes it with -device-augment on: the device path starts mid-epoch
// at the checkpoint's batch, and the final weights equal those of an
// uninterrupted run on the device path, bit for bit.
func TestDeviceAugmentResume(t *testing.T) {
	needArchive(t)
	full := t.TempDir()
	if r := runTrainer(t, smallRun(full, "-device-augment", "on")...); r.code != 0 {
		t.Fatalf("uninterrupted run: exit %d: %s", r.code, r.stderr)
	}
	cut := t.TempDir()
	stderr := interruptInEpoch2(t, cut, smallRun(cut, "-device-augment", "off")...)
	if !strings.Contains(stderr, "interrupted at epoch 2") {
		t.Skip("the run finished before the interrupt; nothing to resume")
	}
	r := runTrainer(t, "-resume", cut, "-device-augment", "on")
	if r.code != 0 {
		t.Fatalf("resume: exit %d: %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, deviceAugmentLog) {
		t.Errorf("the resumed run did not take -device-augment on:\n%s", r.stderr)
	}
	a := readTensors(t, filepath.Join(full, trainer.StateDictFile))
	b := readTensors(t, filepath.Join(cut, trainer.StateDictFile))
	if !equalTensors(a, b) {
		t.Error("resumed run's final weights differ from the uninterrupted run's")
	}
}
