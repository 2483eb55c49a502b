package ptfile_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log"
	"math"
	"os"
	"path/filepath"

	"gotrain/torch/ptfile"
)

// float32s encodes values as a float32 tensor's little-endian data.
func float32s(vs ...float32) []byte {
	b := make([]byte, 0, 4*len(vs))
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	return b
}

// Write a state dict that Python reads with torch.load, and read it back.
func ExampleWriteFile() {
	dir, err := os.MkdirTemp("", "ptfile-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "linear.pt")

	err = ptfile.WriteFile(path, []ptfile.Entry{
		{Name: "weight", DType: ptfile.Float32, Shape: []int64{1, 2}, Data: float32s(0.5, -2)},
		{Name: "bias", DType: ptfile.Float32, Shape: []int64{1}, Data: float32s(0.25)},
	})
	if err != nil {
		log.Fatal(err)
	}

	entries, err := ptfile.ReadFile(path)
	if err != nil {
		log.Fatal(err)
	}
	for _, e := range entries {
		vals := make([]float32, len(e.Data)/4)
		for i := range vals {
			vals[i] = math.Float32frombits(binary.LittleEndian.Uint32(e.Data[4*i:]))
		}
		fmt.Println(e.Name, e.DType, e.Shape, vals)
	}
	// Output:
	// weight float32 [1 2] [0.5 -2]
	// bias float32 [1] [0.25]
}

// Save a checkpoint holding a state dict next to other values, tell it from
// a bare state dict, and read either one's tensors.
func ExampleDetectFile() {
	dir, err := os.MkdirTemp("", "ptfile-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	w := &ptfile.Entry{DType: ptfile.Float32, Shape: []int64{2}, Data: float32s(1, 2)}
	stateDict := &ptfile.Dict{Ordered: true, Items: []ptfile.Item{{Key: "w", Value: w}}}
	files := map[string]any{
		"state_dict.pt": stateDict,
		"checkpoint.pt": &ptfile.Dict{Items: []ptfile.Item{{Key: "model", Value: stateDict}, {Key: "epoch", Value: 7}}},
		"losses.pt":     &ptfile.List{0.5, 0.25},
	}
	for _, name := range []string{"state_dict.pt", "checkpoint.pt", "losses.pt"} {
		path := filepath.Join(dir, name)
		if err := ptfile.SaveFile(path, files[name]); err != nil {
			log.Fatal(err)
		}
		kind, err := ptfile.DetectFile(path)
		if err != nil {
			log.Fatal(err)
		}
		switch kind {
		case ptfile.StateDict, ptfile.Checkpoint:
			entries, err := ptfile.ReadFile(path)
			if err != nil {
				log.Fatal(err)
			}
			fmt.Printf("%s: %v of %d tensors, first %q\n", name, kind, len(entries), entries[0].Name)
		default:
			fmt.Printf("%s: %v\n", name, kind)
		}
	}
	// Output:
	// state_dict.pt: state_dict of 1 tensors, first "w"
	// checkpoint.pt: checkpoint of 1 tensors, first "w"
	// losses.pt: torch.save file of another object
}

// Tell a file that is not a torch.save archive from one using a feature
// this package does not read.
func ExampleFormatError() {
	for _, file := range [][]byte{
		[]byte("hello, world"),
		{0x80, 0x02, 0x8a, 0x0a}, // a legacy (PyTorch < 1.6) file's start
	} {
		_, err := ptfile.Detect(bytes.NewReader(file), int64(len(file)))
		var fe *ptfile.FormatError
		var ue *ptfile.UnsupportedError
		switch {
		case errors.As(err, &fe):
			fmt.Println("not a torch.save file:", fe)
		case errors.As(err, &ue):
			fmt.Println("unsupported:", ue)
		}
	}
	// Output:
	// not a torch.save file: not a torch.save zip archive: zip: not a valid zip file
	// unsupported: legacy non-zip torch.save format (PyTorch before 1.6, or _use_new_zipfile_serialization=False) is not supported
}
