package cv

import (
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"strconv"
	"text/tabwriter"

	"gotrain/internal/atomicfile"
)

// StdKind names the standard deviation of a Result: the sample standard
// deviation over the folds, numpy's std(ddof=1), pandas' default.
const StdKind = "sample (ddof=1)"

// FoldResult is one fold's outcome. Accuracies are in percent, of the
// fold's final network (its last epoch).
type FoldResult struct {
	Fold        int     `json:"fold"` // 1-based
	TrainImages int     `json:"train_images"`
	ValImages   int     `json:"val_images"`
	ValAcc      float64 `json:"val_acc"`  // on the fold's held-out part of the training set
	TestAcc     float64 `json:"test_acc"` // on the test set
}

// Stats are the mean or standard deviation of the folds' accuracies.
type Stats struct {
	ValAcc  float64 `json:"val_acc"`
	TestAcc float64 `json:"test_acc"`
}

// Result is a finished cross-validation.
type Result struct {
	Folds []FoldResult `json:"folds"`
	Mean  Stats        `json:"mean"`
	Std   Stats        `json:"std"`
	// StdKind is StdKind.
	StdKind string `json:"std_kind"`
	OutDir  string `json:"-"`
}

// summarize sets the mean and the sample standard deviation of the folds'
// accuracies.
func (r *Result) summarize() {
	val := make([]float64, len(r.Folds))
	test := make([]float64, len(r.Folds))
	for i, f := range r.Folds {
		val[i], test[i] = f.ValAcc, f.TestAcc
	}
	r.Mean.ValAcc, r.Std.ValAcc = MeanStd(val)
	r.Mean.TestAcc, r.Std.TestAcc = MeanStd(test)
	r.StdKind = StdKind
}

// MeanStd returns the mean of xs and their sample standard deviation
// (divided by n-1, numpy's std(ddof=1)); NaN for what is undefined (no
// values; a deviation of one value).
func MeanStd(xs []float64) (mean, std float64) {
	n := float64(len(xs))
	if len(xs) == 0 {
		return math.NaN(), math.NaN()
	}
	for _, x := range xs {
		mean += x
	}
	mean /= n
	if len(xs) < 2 {
		return mean, math.NaN()
	}
	var ss float64
	for _, x := range xs {
		ss += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(ss / (n - 1))
}

// csvColumns is the header of cv.csv.
var csvColumns = []string{"fold", "train_images", "val_images", "val_acc", "test_acc"}

// WriteResultCSV writes r as CSV (the CSVFile), atomically: a header, a
// row per fold, then rows "mean" and "std" (the sample deviation,
// StdKind) with the image columns empty. Accuracies are percent, in the
// shortest form that reads back exactly.
func WriteResultCSV(path string, r *Result) error {
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	return atomicfile.Write(path, func(w io.Writer) error {
		cw := csv.NewWriter(w)
		rows := [][]string{csvColumns}
		for _, fr := range r.Folds {
			rows = append(rows, []string{strconv.Itoa(fr.Fold), strconv.Itoa(fr.TrainImages), strconv.Itoa(fr.ValImages), f(fr.ValAcc), f(fr.TestAcc)})
		}
		rows = append(rows,
			[]string{"mean", "", "", f(r.Mean.ValAcc), f(r.Mean.TestAcc)},
			[]string{"std", "", "", f(r.Std.ValAcc), f(r.Std.TestAcc)})
		if err := cw.WriteAll(rows); err != nil {
			return err
		}
		return cw.Error()
	})
}

// WriteResultJSON writes r as indented JSON (the JSONFile), atomically.
func WriteResultJSON(path string, r *Result) error { return writeIndentedJSON(path, r) }

// WriteTable prints r as an aligned table for people: a row per fold and
// one of mean ± std.
func (r *Result) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "fold\ttrain images\tval images\tval acc\ttest acc")
	for _, f := range r.Folds {
		fmt.Fprintf(tw, "%d\t%d\t%d\t%.2f%%\t%.2f%%\n", f.Fold, f.TrainImages, f.ValImages, f.ValAcc, f.TestAcc)
	}
	fmt.Fprintf(tw, "mean ± std\t\t\t%.2f ± %.2f%%\t%.2f ± %.2f%%\n", r.Mean.ValAcc, r.Std.ValAcc, r.Mean.TestAcc, r.Std.TestAcc)
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "std: %s standard deviation over the %d folds\n", StdKind, len(r.Folds))
	return err
}
