// Package metrics holds the record of a run's epochs (Epoch) and its two
// file forms, metrics.csv and metrics.json, with their readers, and the
// confusion matrix of a test pass. It is a package of its own rather than
// part of trainer because package plots draws from the same records and
// trainer writes through plots: one home for the format, below both.
package metrics

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"

	"gotrain/internal/atomicfile"
)

// Epoch is the record of one training epoch. Accuracies are in
// percent (0-100), as in the seed project's logs; losses are means over
// the epoch's samples.
type Epoch struct {
	Epoch     int     // 1-based epoch number
	TrainLoss float64 // mean training loss over the epoch
	TrainAcc  float64 // training accuracy in percent
	TestLoss  float64 // mean test loss
	TestAcc   float64 // test accuracy in percent
	LR        float64 // learning rate of the epoch's last optimizer step

	EpochSeconds float64 // wall time of the whole epoch, training and test
	TrainSeconds float64 // wall time of the training pass
	TestSeconds  float64 // wall time of the test pass
	ImagesPerSec float64 // training images per second of TrainSeconds
}

// metricsColumns are the CSV header and JSON keys, in Epoch order.
var metricsColumns = []string{
	"epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr",
	"epoch_seconds", "train_seconds", "test_seconds", "images_per_sec",
}

// floats returns pointers to m's float fields in metricsColumns[1:] order.
func (m *Epoch) floats() []*float64 {
	return []*float64{
		&m.TrainLoss, &m.TrainAcc, &m.TestLoss, &m.TestAcc, &m.LR,
		&m.EpochSeconds, &m.TrainSeconds, &m.TestSeconds, &m.ImagesPerSec,
	}
}

// MarshalJSON encodes m as an object with snake_case keys. Non-finite
// values (a diverged loss is NaN) are written as null, which JSON allows
// and encoding/json's float encoding does not.
func (m Epoch) MarshalJSON() ([]byte, error) {
	b := []byte(`{"epoch":`)
	b = strconv.AppendInt(b, int64(m.Epoch), 10)
	for i, f := range m.floats() {
		b = append(b, `,"`...)
		b = append(b, metricsColumns[i+1]...)
		b = append(b, `":`...)
		if !IsFinite(*f) {
			b = append(b, "null"...)
		} else {
			b = strconv.AppendFloat(b, *f, 'g', -1, 64)
		}
	}
	return append(b, '}'), nil
}

// UnmarshalJSON decodes the form MarshalJSON writes; null reads as NaN and
// a missing key leaves the field unchanged.
func (m *Epoch) UnmarshalJSON(data []byte) error {
	var raw map[string]*float64
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	if e, ok := raw["epoch"]; ok && e != nil {
		if *e != math.Trunc(*e) || math.Abs(*e) > math.MaxInt32 {
			return fmt.Errorf("epoch %v is not an integer", *e)
		}
		m.Epoch = int(*e)
	}
	for i, f := range m.floats() {
		if v, ok := raw[metricsColumns[i+1]]; ok {
			if v == nil {
				*f = math.NaN()
			} else {
				*f = *v
			}
		}
	}
	return nil
}

// WriteJSON writes the whole history to path as an indented JSON
// array, atomically: the file at path is either the old one or the
// complete new one.
func WriteJSON(path string, history []Epoch) error {
	return atomicfile.Write(path, func(w io.Writer) error {
		if history == nil {
			history = []Epoch{} // "[]", not "null"
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(history)
	})
}

// ReadJSON reads a history written by WriteJSON.
func ReadJSON(path string) ([]Epoch, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read metrics: %w", err)
	}
	var h []Epoch
	if err := json.Unmarshal(data, &h); err != nil {
		return nil, fmt.Errorf("read metrics %s: %w", path, err)
	}
	return h, nil
}

// WriteCSV writes the whole history to path as CSV with a header
// row (epoch,train_loss,train_acc,test_loss,test_acc,lr,epoch_seconds,
// train_seconds,test_seconds,images_per_sec), atomically. Floats are
// written in the shortest form that reads back exactly; NaN and infinities
// as NaN, +Inf and -Inf.
func WriteCSV(path string, history []Epoch) error {
	return atomicfile.Write(path, func(w io.Writer) error {
		cw := csv.NewWriter(w)
		if err := cw.Write(metricsColumns); err != nil {
			return err
		}
		row := make([]string, len(metricsColumns))
		for _, m := range history {
			row[0] = strconv.Itoa(m.Epoch)
			for i, f := range m.floats() {
				row[i+1] = strconv.FormatFloat(*f, 'g', -1, 64)
			}
			if err := cw.Write(row); err != nil {
				return err
			}
		}
		cw.Flush()
		return cw.Error()
	})
}

// ReadCSV reads a history written by WriteCSV. The header
// must match exactly.
func ReadCSV(path string) ([]Epoch, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read metrics: %w", err)
	}
	defer f.Close()
	cr := csv.NewReader(f)
	cr.FieldsPerRecord = len(metricsColumns)
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("read metrics %s: header: %w", path, err)
	}
	for i, name := range metricsColumns {
		if header[i] != name {
			return nil, fmt.Errorf("read metrics %s: column %d is %q, want %q", path, i+1, header[i], name)
		}
	}
	var h []Epoch
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return h, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read metrics %s: %w", path, err)
		}
		line, _ := cr.FieldPos(0)
		var m Epoch
		if m.Epoch, err = strconv.Atoi(rec[0]); err != nil {
			return nil, fmt.Errorf("read metrics %s:%d: epoch: %w", path, line, err)
		}
		for i, f := range m.floats() {
			if *f, err = strconv.ParseFloat(rec[i+1], 64); err != nil {
				return nil, fmt.Errorf("read metrics %s:%d: %s: %w", path, line, metricsColumns[i+1], err)
			}
		}
		h = append(h, m)
	}
}

// IsFinite reports whether v is a number, not NaN or an infinity (the loss
// of a run that diverged): such values are written as null in JSON, left
// out of plots and warned about.
func IsFinite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// ConfusionMatrix counts predictions per true class: the result m has
// m[t][p] = the number of samples of true class t predicted as class p,
// as in scikit-learn's confusion_matrix. Every label must be in
// [0, numClasses).
func ConfusionMatrix(numClasses int, targets, preds []int) ([][]int, error) {
	if numClasses <= 0 {
		return nil, fmt.Errorf("confusion matrix: %d classes", numClasses)
	}
	if len(targets) != len(preds) {
		return nil, fmt.Errorf("confusion matrix: %d targets but %d predictions", len(targets), len(preds))
	}
	m := make([][]int, numClasses)
	for i := range m {
		m[i] = make([]int, numClasses)
	}
	for i, t := range targets {
		p := preds[i]
		if t < 0 || t >= numClasses || p < 0 || p >= numClasses {
			return nil, fmt.Errorf("confusion matrix: sample %d has target %d, prediction %d; want both in [0, %d)", i, t, p, numClasses)
		}
		m[t][p]++
	}
	return m, nil
}
