package sweep

import (
	"cmp"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"gotrain/internal/atomicfile"
	"gotrain/metrics"
	"gotrain/plots"
	"gotrain/trainer"
)

// Row is a trial's line of the results table. Its figures are read from
// the trial's own metrics file: Final is its last finished epoch, whose
// test accuracy the table is sorted by.
type Row struct {
	Record
	Epochs      int            `json:"epochs"` // epochs finished
	Final       *metrics.Epoch `json:"final,omitempty"`
	BestTestAcc *float64       `json:"best_test_acc,omitempty"`
	Seconds     float64        `json:"seconds"` // wall time of its epochs
}

// Table is the state of a sweep's trials, as Collect finds them.
type Table struct {
	Params []string `json:"params"` // the swept flags
	Rows   []Row    `json:"trials"` // in trial order
	Dir    string   `json:"-"`
}

// Collect reads the state of every trial of the sweep in dir: its record
// and its run's metrics, whatever has finished so far.
func Collect(dir string) (*Table, error) {
	plan, err := Open(dir, nil)
	if err != nil {
		return nil, err
	}
	t := &Table{Dir: dir}
	for _, p := range plan.Space.Params {
		t.Params = append(t.Params, p.Name)
	}
	for _, tr := range plan.Trials {
		tdir := filepath.Join(dir, tr.Name)
		rec, err := ReadRecord(tdir)
		if err != nil {
			return nil, fmt.Errorf("trial %d: %w", tr.Index, err)
		}
		rec.Trial = tr
		row := Row{Record: rec}
		hist, err := metrics.ReadJSON(filepath.Join(tdir, trainer.MetricsJSONFile))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("trial %d: %w", tr.Index, err)
		}
		if len(hist) > 0 {
			last := hist[len(hist)-1]
			best := math.Inf(-1)
			for _, e := range hist {
				row.Seconds += e.EpochSeconds
				if e.TestAcc > best {
					best = e.TestAcc
				}
			}
			row.Epochs, row.Final, row.BestTestAcc = len(hist), &last, &best
		}
		t.Rows = append(t.Rows, row)
	}
	return t, nil
}

// Count returns the number of trials with status s.
func (t *Table) Count(s Status) int {
	n := 0
	for _, r := range t.Rows {
		if r.Status == s {
			n++
		}
	}
	return n
}

// Write writes CSVFile, JSONFile, MarkdownFile and a plot per parameter
// (PlotPrefix + name + ".png", of the trials that are done) into the
// sweep's folder, each atomically.
func (t *Table) Write() error {
	if err := t.writeCSV(filepath.Join(t.Dir, CSVFile)); err != nil {
		return err
	}
	if err := writeJSON(filepath.Join(t.Dir, JSONFile), t); err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(t.Dir, MarkdownFile), t.WriteMarkdown); err != nil {
		return err
	}
	for _, p := range t.Params {
		var values []string
		var accs [][]float64
		for _, r := range t.Rows {
			if r.Status != Done || r.Final == nil {
				continue
			}
			v := r.Value(p)
			i := slices.Index(values, v)
			if i < 0 {
				i = len(values)
				values, accs = append(values, v), append(accs, nil)
			}
			accs[i] = append(accs[i], r.Final.TestAcc)
		}
		if len(values) == 0 {
			continue
		}
		if err := plots.Sweep(filepath.Join(t.Dir, PlotPrefix+p+".png"), p, values, accs); err != nil {
			return err
		}
	}
	return nil
}

// columns of CSVFile after the trial's index, name and parameters.
var columns = []string{"status", "epochs", "test_acc", "best_test_acc", "test_loss", "train_acc", "train_loss", "seconds", "exit_code", "error"}

func (t *Table) writeCSV(path string) error {
	return atomicfile.Write(path, func(w io.Writer) error {
		cw := csv.NewWriter(w)
		head := append(append([]string{"trial", "name"}, t.Params...), columns...)
		if err := cw.Write(head); err != nil {
			return err
		}
		for _, r := range t.Rows {
			row := []string{strconv.Itoa(r.Index), r.Name}
			for _, p := range t.Params {
				row = append(row, r.Value(p))
			}
			row = append(row, string(r.Status), strconv.Itoa(r.Epochs))
			if r.Final != nil {
				row = append(row, num(r.Final.TestAcc), num(*r.BestTestAcc), num(r.Final.TestLoss), num(r.Final.TrainAcc), num(r.Final.TrainLoss))
			} else {
				row = append(row, "", "", "", "", "")
			}
			code := ""
			if r.Status == Failed || r.Status == Interrupted {
				code = strconv.Itoa(r.ExitCode)
			}
			row = append(row, num(r.Seconds), code, r.Error)
			if err := cw.Write(row); err != nil {
				return err
			}
		}
		cw.Flush()
		return cw.Error()
	})
}

// num formats v in the shortest form that reads back exactly; "" for NaN
// (a diverged loss).
func num(v float64) string {
	if math.IsNaN(v) {
		return ""
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// Sorted returns the rows by the test accuracy of their last epoch, best
// first; rows without an epoch come last, failed ones at the very end,
// each group in trial order.
func (t *Table) Sorted() []Row {
	rows := slices.Clone(t.Rows)
	group := func(r Row) int {
		switch {
		case r.Status == Failed:
			return 2
		case r.Final == nil || math.IsNaN(r.Final.TestAcc):
			return 1
		}
		return 0
	}
	slices.SortStableFunc(rows, func(a, b Row) int {
		if c := cmp.Compare(group(a), group(b)); c != 0 || group(a) != 0 {
			return c
		}
		return cmp.Compare(b.Final.TestAcc, a.Final.TestAcc)
	})
	return rows
}

// WriteMarkdown writes the table for people: a line of counts, then a row
// per trial, sorted as Sorted.
func (t *Table) WriteMarkdown(w io.Writer) error {
	var counts []string
	for _, s := range []Status{Done, Failed, Running, Interrupted, Pending} {
		if n := t.Count(s); n > 0 {
			counts = append(counts, fmt.Sprintf("%d %s", n, s))
		}
	}
	fmt.Fprintf(w, "# Sweep %s\n\n%d trials: %s. Sorted by the test accuracy of each run's last epoch, from its %s.\n\n",
		t.Dir, len(t.Rows), strings.Join(counts, ", "), trainer.MetricsJSONFile)
	head := append(append([]string{"trial"}, t.Params...), "status", "epochs", "test acc", "best test acc", "test loss", "train loss", "time")
	fmt.Fprintf(w, "| %s |\n|%s\n", strings.Join(head, " | "), strings.Repeat("---|", len(head)))
	for _, r := range t.Sorted() {
		cells := []string{strconv.Itoa(r.Index)}
		for _, p := range t.Params {
			cells = append(cells, cell(r.Value(p)))
		}
		status := string(r.Status)
		if r.Status == Failed {
			status = fmt.Sprintf("failed (exit %d): %s", r.ExitCode, cell(r.Error))
		}
		cells = append(cells, status, strconv.Itoa(r.Epochs))
		if r.Final != nil {
			cells = append(cells, fmt.Sprintf("%.2f%%", r.Final.TestAcc), fmt.Sprintf("%.2f%%", *r.BestTestAcc),
				fmt.Sprintf("%.4f", r.Final.TestLoss), fmt.Sprintf("%.4f", r.Final.TrainLoss), fmt.Sprintf("%.0fs", r.Seconds))
		} else {
			cells = append(cells, "", "", "", "", "")
		}
		if _, err := fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | ")); err != nil {
			return err
		}
	}
	return nil
}

// cell escapes what would end a markdown table cell.
func cell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}
