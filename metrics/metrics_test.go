package metrics

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"gotrain/internal/testdir"
)

func sampleHistory() []Epoch {
	return []Epoch{
		{Epoch: 1, TrainLoss: 1.5408123456789, TrainAcc: 34.36, TestLoss: 1.5822, TestAcc: 41.31,
			LR: 0.0123456789012345, EpochSeconds: 329.5, TrainSeconds: 300.25, TestSeconds: 29.25, ImagesPerSec: 166.527893},
		{Epoch: 2, TrainLoss: 1.2422, TrainAcc: 51.72, TestLoss: 1.668, TestAcc: 39.83,
			LR: 2e-07, EpochSeconds: 0.1 + 0.2, TrainSeconds: 1e300, TestSeconds: 5e-324, ImagesPerSec: 0},
	}
}

func TestMetricsCSVRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "metrics.csv")
	h := sampleHistory()
	h[1].TestLoss = math.Inf(1)
	if err := WriteCSV(path, h); err != nil {
		t.Fatal(err)
	}
	got, err := ReadCSV(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, h) {
		t.Errorf("round trip\n got %+v\nwant %+v", got, h)
	}
	data, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if lines[0] != "epoch,train_loss,train_acc,test_loss,test_acc,lr,epoch_seconds,train_seconds,test_seconds,images_per_sec" {
		t.Errorf("header = %q", lines[0])
	}
	if lines[1] != "1,1.5408123456789,34.36,1.5822,41.31,0.0123456789012345,329.5,300.25,29.25,166.527893" {
		t.Errorf("first row = %q", lines[1])
	}
	if len(lines) != 3 {
		t.Errorf("%d lines, want header and 2 rows", len(lines))
	}

	// Each write replaces the whole history.
	if err := WriteCSV(path, h[:1]); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadCSV(path); err != nil || len(got) != 1 {
		t.Errorf("after rewrite: %d records, %v", len(got), err)
	}
	testdir.AssertOnly(t, dir, "metrics.csv")
}

func TestMetricsCSVRejectsBadInput(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"header":  "epoch,loss\n1,2\n",
		"float":   strings.Join(metricsColumns, ",") + "\n1,x,0,0,0,0,0,0,0,0\n",
		"columns": strings.Join(metricsColumns, ",") + "\n1,2\n",
		"epoch":   strings.Join(metricsColumns, ",") + "\n1.5,0,0,0,0,0,0,0,0,0\n",
	} {
		path := filepath.Join(dir, name+".csv")
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadCSV(path); err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: ReadCSV error = %v, want an error naming the file", name, err)
		}
	}
}

func TestMetricsJSONRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "metrics.json")
	h := sampleHistory()
	if err := WriteJSON(path, h); err != nil {
		t.Fatal(err)
	}
	got, err := ReadJSON(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, h) {
		t.Errorf("round trip\n got %+v\nwant %+v", got, h)
	}

	// The keys are the documented snake_case names.
	data, _ := os.ReadFile(path)
	var generic []map[string]any
	if err := json.Unmarshal(data, &generic); err != nil {
		t.Fatalf("not valid JSON: %v\n%s", err, data)
	}
	var keys []string
	for k := range generic[0] {
		keys = append(keys, k)
	}
	if len(keys) != len(metricsColumns) {
		t.Errorf("keys %v, want %v", keys, metricsColumns)
	}
	for _, k := range metricsColumns {
		if _, ok := generic[0][k]; !ok {
			t.Errorf("key %q missing from %s", k, data)
		}
	}
	if generic[0]["test_acc"] != 41.31 || generic[1]["epoch"] != 2.0 {
		t.Errorf("values: %v", generic)
	}
	testdir.AssertOnly(t, dir, "metrics.json")
}

// A diverged run has NaN losses; the history must still be written.
func TestMetricsJSONNonFinite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "metrics.json")
	h := sampleHistory()
	h[1].TrainLoss, h[1].TestLoss = math.NaN(), math.Inf(1)
	if err := WriteJSON(path, h); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if !json.Valid(data) || !strings.Contains(string(data), `"train_loss": null`) {
		t.Errorf("NaN not written as null:\n%s", data)
	}
	got, err := ReadJSON(path)
	if err != nil {
		t.Fatal(err)
	}
	if !math.IsNaN(got[1].TrainLoss) || !math.IsNaN(got[1].TestLoss) || got[1].TestAcc != h[1].TestAcc {
		t.Errorf("read back %+v", got[1])
	}
}

func TestMetricsJSONEmpty(t *testing.T) {
	path := filepath.Join(t.TempDir(), "metrics.json")
	if err := WriteJSON(path, nil); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(path); strings.TrimSpace(string(data)) != "[]" {
		t.Errorf("empty history written as %q", data)
	}
}

func TestMetricsWriteIntoMissingDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "missing")
	for _, write := range []func(string, []Epoch) error{WriteCSV, WriteJSON} {
		path := filepath.Join(dir, "metrics")
		err := write(path, sampleHistory())
		if err == nil || !strings.Contains(err.Error(), path) || !errors.Is(err, os.ErrNotExist) {
			t.Errorf("error = %v, want a not-exist error naming %s", err, path)
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the missing directory now exists: %v", err)
	}
}

func TestConfusionMatrix(t *testing.T) {
	targets := []int{0, 0, 1, 2, 2, 2}
	preds := []int{0, 1, 1, 2, 0, 2}
	got, err := ConfusionMatrix(3, targets, preds)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]int{{1, 1, 0}, {0, 1, 0}, {1, 0, 2}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ConfusionMatrix = %v, want %v", got, want)
	}
	if _, err := ConfusionMatrix(3, []int{0, 3}, []int{0, 0}); err == nil {
		t.Error("label 3 of 3 classes accepted")
	}
	if _, err := ConfusionMatrix(3, []int{0}, []int{0, 0}); err == nil {
		t.Error("length mismatch accepted")
	}
}
