package cv

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"gotrain/trainer"
)

func TestMeanStd(t *testing.T) {
	// Hand-worked: the mean of 2,4,4,4,5,5,7,9 is 5, the squared deviations
	// sum to 32, so the sample variance is 32/7 (the population one 4).
	mean, std := MeanStd([]float64{2, 4, 4, 4, 5, 5, 7, 9})
	if mean != 5 || math.Abs(std-math.Sqrt(32.0/7)) > 1e-15 {
		t.Errorf("MeanStd = %v, %v; want 5, sqrt(32/7) = %v", mean, std, math.Sqrt(32.0/7))
	}
	if mean, std := MeanStd([]float64{3, 3}); mean != 3 || std != 0 {
		t.Errorf("MeanStd(3, 3) = %v, %v", mean, std)
	}
	if mean, std := MeanStd([]float64{7}); mean != 7 || !math.IsNaN(std) {
		t.Errorf("MeanStd(7) = %v, %v; want 7, NaN (numpy's std(ddof=1) of one value)", mean, std)
	}
	if mean, std := MeanStd(nil); !math.IsNaN(mean) || !math.IsNaN(std) {
		t.Errorf("MeanStd() = %v, %v; want NaN, NaN", mean, std)
	}
}

// cvExample is a hand-made result of two folds: the accuracies 24 and 26
// have mean 25 and sample deviation sqrt(2); 22 and 20 mean 21, sqrt(2).
func cvExample() *Result {
	r := &Result{Folds: []FoldResult{
		{Fold: 1, TrainImages: 200, ValImages: 50, ValAcc: 24, TestAcc: 22},
		{Fold: 2, TrainImages: 200, ValImages: 50, ValAcc: 26, TestAcc: 20},
	}}
	r.summarize()
	return r
}

func TestCVTable(t *testing.T) {
	r := cvExample()
	if r.Mean != (Stats{25, 21}) || r.Std != (Stats{math.Sqrt2, math.Sqrt2}) || r.StdKind != "sample (ddof=1)" {
		t.Fatalf("summary: mean %+v, std %+v (%s)", r.Mean, r.Std, r.StdKind)
	}
	path := filepath.Join(t.TempDir(), CSVFile)
	if err := WriteResultCSV(path, r); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := "fold,train_images,val_images,val_acc,test_acc\n" +
		"1,200,50,24,22\n" +
		"2,200,50,26,20\n" +
		"mean,,,25,21\n" +
		"std,,,1.4142135623730951,1.4142135623730951\n"
	if string(b) != want {
		t.Errorf("cv.csv:\n%s\nwant:\n%s", b, want)
	}

	var sb strings.Builder
	if err := r.WriteTable(&sb); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(sb.String(), "\n"), "\n")
	if len(lines) != 5 {
		t.Fatalf("table has %d lines, want header, 2 folds, mean, std note:\n%s", len(lines), sb.String())
	}
	// The columns line up: "val acc" starts where each fold's value does.
	column := func(line, s string) int { return utf8.RuneCountInString(line[:max(strings.Index(line, s), 0)]) }
	col := column(lines[0], "val acc")
	for i, want := range []string{"24.00%", "26.00%", "25.00 ± 1.41%"} {
		if got := column(lines[i+1], want); got != col {
			t.Errorf("line %d: %q at column %d, header's val acc at %d:\n%s", i+2, want, got, col, sb.String())
		}
	}
	for _, want := range []string{"21.00 ± 1.41%", "sample (ddof=1) standard deviation over the 2 folds"} {
		if !strings.Contains(sb.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, sb.String())
		}
	}

	// cv.json: the same numbers under snake_case keys.
	jpath := filepath.Join(t.TempDir(), JSONFile)
	if err := WriteResultJSON(jpath, r); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	b, _ = os.ReadFile(jpath)
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got["std_kind"] != "sample (ddof=1)" || got["mean"].(map[string]any)["test_acc"] != 21.0 ||
		got["folds"].([]any)[1].(map[string]any)["val_acc"] != 26.0 {
		t.Errorf("cv.json: %s", b)
	}
}

func TestFoldConfig(t *testing.T) {
	cfg := trainer.DefaultConfig()
	cfg.Out = "runs/cv"
	fc := foldConfig(cfg, 3)
	if fc.Out != filepath.Join("runs", "cv", "fold-3") || trainer.TensorBoardDir(fc) != filepath.Join("runs", "cv", "fold-3", "tensorboard") {
		t.Errorf("fold 3: out %s, events in %s", fc.Out, trainer.TensorBoardDir(fc))
	}
	cfg.TensorBoard = "/tb/cv"
	if fc := foldConfig(cfg, 2); trainer.TensorBoardDir(fc) != "/tb/cv/fold-2" {
		t.Errorf("fold 2 with -tensorboard /tb/cv: events in %s", trainer.TensorBoardDir(fc))
	}
	cfg.TensorBoard = ""
	if fc := foldConfig(cfg, 2); trainer.TensorBoardDir(fc) != "" {
		t.Errorf("fold 2 with TensorBoard off: events in %q", trainer.TensorBoardDir(fc))
	}
}
