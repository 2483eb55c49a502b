package main

import (
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
// and evaluations (the exported weights only with -ema: without it they
// are the raw weights, evaluated once), and the table has a row per run.
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
	for run, exported := range map[string]bool{"plain": false, "ema": true} {
		for _, f := range []string{"command.txt", "time.txt", "metrics.json", "eval-model_state_dict-ttafalse.json",
			"eval-model_state_dict-ttatrue.json", "eval-raw_state_dict-ttafalse.json", "eval-raw_state_dict-ttatrue.json", "eval-raw_state_dict-ttatranslate.json"} {
			_, err := os.Stat(filepath.Join(dir, "runs", run, f))
			if want := exported || !strings.Contains(f, "model_state_dict"); want != (err == nil) {
				t.Errorf("%s: %s present %v, want %v", run, f, err == nil, want)
			}
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
	if cells := strings.Split(lines[3], "|"); len(cells) < 9 || strings.TrimSpace(cells[3]) != "seed (weight EMA 0.9, batch size 64)" ||
		strings.TrimSpace(cells[4]) == "" || strings.TrimSpace(cells[6]) == "" || strings.TrimSpace(cells[7]) == "" {
		t.Errorf("the -ema row lacks its recipe, raw, translate-TTA or EMA accuracy:\n%s", lines[3])
	}
	if cells := strings.Split(lines[2], "|"); len(cells) < 9 || strings.TrimSpace(cells[4]) == "" || strings.TrimSpace(cells[7]) != "" {
		t.Errorf("the row without -ema: a raw accuracy and no EMA one expected:\n%s", lines[2])
	}
}
