package tensorboard

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"testing"

	"gotrain/internal/pyref"
	"gotrain/internal/testenv"
)

// python is the interpreter with Debian's python3-protobuf and PIL.
const python = pyref.Python

// needReader skips the test unless the independent reader can run
// (protoc, and python with protobuf and PIL); where CI is set it fails
// instead.
func needReader(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("protoc"); err != nil {
		testenv.Need(t, "the event file reader needs protoc (apt-get install protobuf-compiler)")
	}
	pyref.Require(t, "google.protobuf", "PIL.Image")
}

// The JSON that read_events.py prints: the files of a log directory in
// name order, each with its events.
type (
	jsonFile struct {
		Name          string      `json:"name"`
		Events        []jsonEvent `json:"events"`
		TruncatedTail int         `json:"truncated_tail"`
	}
	jsonEvent struct {
		WallTime    float64     `json:"wall_time"`
		Step        int64       `json:"step"`
		What        string      `json:"what"`
		FileVersion string      `json:"file_version"`
		SessionLog  string      `json:"session_log"`
		Values      []jsonValue `json:"values"`
	}
	jsonValue struct {
		Tag         string  `json:"tag"`
		Kind        string  `json:"kind"`
		SimpleValue float64 `json:"simple_value"`
		Metadata    *struct {
			PluginName string `json:"plugin_name"`
			Content    []byte `json:"content"`
		} `json:"metadata"`
		Image *struct {
			Height     int    `json:"height"`
			Width      int    `json:"width"`
			Colorspace int    `json:"colorspace"`
			Format     string `json:"format"`
			Size       [2]int `json:"size"`
			Mode       string `json:"mode"`
			RGBA       []byte `json:"rgba"`
		} `json:"image"`
		Tensor *struct {
			Dtype     string   `json:"dtype"`
			Shape     []int64  `json:"shape"`
			StringVal []string `json:"string_val"`
		} `json:"tensor"`
	}
)

// runReader runs read_events.py over logdir and returns its output and
// error.
func runReader(t *testing.T, logdir string) ([]byte, error) {
	t.Helper()
	gen := t.TempDir()
	protos, err := filepath.Glob("testdata/proto/*.proto")
	if err != nil || len(protos) == 0 {
		t.Fatalf("no testdata/proto/*.proto: %v", err)
	}
	args := append([]string{"-Itestdata/proto", "--python_out=" + gen}, protos...)
	if out, err := exec.Command("protoc", args...).CombinedOutput(); err != nil {
		t.Fatalf("protoc: %v\n%s", err, out)
	}
	cmd := exec.Command(python, "testdata/read_events.py", gen, logdir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return stderr.Bytes(), err
	}
	return out, nil
}

// readEvents reads logdir's event files with the independent reader.
func readEvents(t *testing.T, logdir string) []jsonFile {
	t.Helper()
	out, err := runReader(t, logdir)
	if err != nil {
		t.Fatalf("read_events.py: %v\n%s", err, out)
	}
	var files []jsonFile
	if err := json.Unmarshal(out, &files); err != nil {
		t.Fatalf("reader output: %v\n%s", err, out)
	}
	return files
}
