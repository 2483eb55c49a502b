package trainer

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"

	"github.com/sirupsen/logrus"

	"gotrain/dataset"
)

// defaultData is the data folder of a run given none (Config.Data ""),
// within the working folder; a new run downloads CIFAR-10 there if it
// holds none.
const defaultData = "data"

// dataRecord identifies the images a run trains and tests on, after the
// image limits. A checkpoint holds it (runState.Data), so that a resumed
// run can tell whether the data set it reads, wherever that now is, is
// the one the run trained on.
type dataRecord struct {
	Train int `json:"train"` // training images
	Test  int `json:"test"`  // test images
	// SHA256 is the hex SHA-256 of the training set's labels (one byte
	// each) and pixels (uint8 HWC, image after image), then the test
	// set's.
	SHA256 string `json:"sha256"`
}

func recordData(train, test *dataset.Set) dataRecord {
	h := sha256.New()
	for _, s := range []*dataset.Set{train, test} {
		h.Write(s.Labels)
		h.Write(s.Images)
	}
	return dataRecord{Train: train.Len(), Test: test.Len(), SHA256: hex.EncodeToString(h.Sum(nil))}
}

// absData returns the absolute form of a data location; "" stays "" (the
// default, which a new run may download).
func absData(data string) (string, error) {
	if data == "" {
		return "", nil
	}
	abs, err := filepath.Abs(data)
	if err != nil {
		return "", fmt.Errorf("data: %w", err)
	}
	return abs, nil
}

// resumeData points cfg.Data, for a resumed run, at its data set made
// absolute: the location given (-data) or the checkpoint's. A relative
// location (a checkpoint from before locations were stored absolute) is
// taken in the working folder, as then, and "" is ./data there. A resumed
// run never downloads: a location that is not there is refused, naming it
// and -data.
func resumeData(cfg *Config) error {
	path := cfg.Data
	if path == "" {
		path = defaultData
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("data: %w", err)
	}
	if _, err := os.Stat(abs); err != nil {
		where := ""
		if !filepath.IsAbs(cfg.Data) {
			where = fmt.Sprintf(" (the checkpoint's %q, relative to the folder the run was started in)", path)
		}
		return fmt.Errorf("data: the run's data set %s%s is not there: %w; if it moved, or the run was started in another folder, "+
			"resume with -data naming where the data set is now", abs, where, err)
	}
	cfg.Data = abs
	return nil
}

// checkData compares the record of the data set a resumed run read from
// data with the checkpoint's (nil in checkpoints from before records were
// kept, which are taken on trust).
func checkData(ck *dataRecord, got dataRecord, data string, log *logrus.Logger) error {
	switch {
	case ck == nil:
		log.Infof("the checkpoint does not record its data set (an older checkpoint): not checking that %s is the one the run trained on", data)
	case *ck != got:
		return fmt.Errorf("data: %s is not the data set the run trained on: %d training and %d test images with SHA-256 %.12s..., "+
			"the checkpoint's %d and %d with %.12s...; resume with -data naming that data set", data, got.Train, got.Test, got.SHA256,
			ck.Train, ck.Test, ck.SHA256)
	}
	return nil
}
