package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gotrain/internal/pyref"
)

// TestAblationScript runs scripts/ablation.sh on a queue of two tiny runs
// (one epoch of 256 images, one with -ema) and scripts/ablation_table.py
// on what they left: the queue is emptied, each run has its command, times
// and four evaluations, the run without EMA evaluates its exported and its
// raw weights (the same tensors) alike, and the table has a row per run.
func TestAblationScript(t *testing.T) {
	needArchive(t)
	pyref.Require(t, "torch")
	dir := t.TempDir()
	queue := filepath.Join(dir, "queue.txt")
	small := "-model seed -train-limit 256 -test-limit 100 -batch-size 64"
	if err := os.WriteFile(queue, []byte("# two runs\nplain "+small+"\n\nema "+small+" -ema 0.9\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", "../../scripts/ablation.sh", queue, filepath.Join(dir, "runs"))
	cmd.Env = append(os.Environ(), "TRAINER="+binary, "DATA="+archive, "EPOCHS=1", "EVAL_FLAGS=-test-limit 100")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ablation.sh: %v\n%s", err, out)
	}
	if q, _ := os.ReadFile(queue); strings.Contains(string(q), "plain") || strings.Contains(string(q), "ema ") {
		t.Errorf("queue not emptied:\n%s", q)
	}
	for _, run := range []string{"plain", "ema"} {
		for _, f := range []string{"command.txt", "time.txt", "metrics.json", "eval-model_state_dict-ttafalse.json",
			"eval-model_state_dict-ttatrue.json", "eval-raw_state_dict-ttafalse.json", "eval-raw_state_dict-ttatrue.json", "eval-raw_state_dict-ttatranslate.json"} {
			if _, err := os.Stat(filepath.Join(dir, "runs", run, f)); err != nil {
				t.Errorf("%s: %v", run, err)
			}
		}
	}
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, "runs", "plain", name))
		if err != nil {
			t.Fatal(err)
		}
		return bytes.ReplaceAll(b, []byte("raw_state_dict"), []byte("model_state_dict"))
	}
	for _, tta := range []string{"false", "true"} {
		if a, b := read("eval-model_state_dict-tta"+tta+".json"), read("eval-raw_state_dict-tta"+tta+".json"); !bytes.Equal(a, b) {
			t.Errorf("without -ema, exported and raw weights evaluate differently (tta %s):\n%s\n%s", tta, a, b)
		}
	}
	out, err := exec.Command(pyref.Python, "../../scripts/ablation_table.py", filepath.Join(dir, "runs", "plain"), filepath.Join(dir, "runs", "ema")).CombinedOutput()
	if err != nil {
		t.Fatalf("ablation_table.py: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[2], "| plain | `-model seed") || !strings.HasPrefix(lines[3], "| ema | `-model seed") {

		t.Fatalf("table:\n%s", out)
	}
	// | name | flags | recipe | raw | raw + TTA | raw + TTA6 | EMA | EMA + TTA | ...
	if cells := strings.Split(lines[3], "|"); len(cells) < 9 || strings.TrimSpace(cells[3]) != "seed (weight EMA 0.9)" ||
		strings.TrimSpace(cells[4]) == "" || strings.TrimSpace(cells[6]) == "" || strings.TrimSpace(cells[7]) == "" {
		t.Errorf("the -ema row lacks its recipe, raw, translate-TTA or EMA accuracy:\n%s", lines[3])
	}
	if cells := strings.Split(lines[2], "|"); len(cells) < 9 || strings.TrimSpace(cells[4]) == "" || strings.TrimSpace(cells[7]) != "" {
		t.Errorf("the row without -ema: a raw accuracy and no EMA one expected:\n%s", lines[2])
	}
}
