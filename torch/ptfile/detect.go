package ptfile

import (
	"fmt"
	"io"
)

// Kind is what a PyTorch file holds, as Detect tells it.
type Kind int

const (
	// Invalid is the Kind that Detect returns with an error.
	Invalid Kind = iota
	// StateDict is a torch.save file of a dict from names to tensors, as
	// torch.save(model.state_dict()) writes. Read returns its tensors.
	StateDict
	// Checkpoint is a torch.save file of a dict that is not a state dict
	// but holds one under one of the keys Read looks for ("state_dict",
	// "model_state_dict", "model"), such as a training checkpoint. Read
	// returns that state dict's tensors; Load returns the whole dict.
	Checkpoint
	// TorchScript is a torch.jit.save archive of code, constants and
	// data. Read and Load refuse it; libtorch's loader reads it.
	TorchScript
	// Other is a torch.save file of any other object that Load reads,
	// such as a list of tensors. Read refuses it.
	Other
)

var kindNames = [...]string{
	Invalid:     "invalid",
	StateDict:   "state_dict",
	Checkpoint:  "checkpoint",
	TorchScript: "TorchScript archive",
	Other:       "torch.save file of another object",
}

func (k Kind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Detect tells what the PyTorch file of the given size in r holds. It reads
// the zip archive's directory and, for a torch.save file, unpickles its
// object tree without reading any tensor data: for a state dict or
// checkpoint of large tensors, it reads a small part of the file.
//
// A file that is not a zip archive as torch.save or torch.jit.save writes
// it, or whose data.pkl is corrupt, is refused with a *FormatError; one that
// Load cannot read (the legacy non-zip format, say) with an
// *UnsupportedError. Detect does not check tensor data: Read or Load may
// still find a record missing or corrupt.
func Detect(r io.ReaderAt, size int64) (Kind, error) {
	k, err := detect(r, size)
	if err != nil {
		return Invalid, fmt.Errorf("ptfile: %w", classify(err))
	}
	return k, nil
}

// DetectFile tells what the file at path holds, as Detect does.
func DetectFile(path string) (Kind, error) {
	var k Kind
	err := withFile(path, func(r io.ReaderAt, size int64) (err error) {
		k, err = detect(r, size)
		return err
	})
	return k, err
}

func detect(r io.ReaderAt, size int64) (Kind, error) {
	a, err := openZip(r, size)
	if err != nil {
		return Invalid, err
	}
	if a.isTorchScript() {
		return TorchScript, nil
	}
	if err := a.checkPickled(); err != nil {
		return Invalid, err
	}
	root, _, err := a.unpickle()
	if err != nil {
		return Invalid, err
	}
	d, ok := root.(*Dict)
	if !ok {
		return Other, nil
	}
	if checkTensorDict(d) == nil {
		return StateDict, nil
	}
	if _, err := findStateDict(d); err == nil {
		return Checkpoint, nil
	}
	return Other, nil
}
