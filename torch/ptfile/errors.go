package ptfile

import (
	"errors"
	"fmt"
)

// A FormatError reports a file that is not what the reading function
// expects: not a zip archive, not laid out as torch.save writes, truncated
// or corrupt, or, for Read, without a state dict. Every error of Read, Load
// and Detect about the file's contents is a *FormatError or an
// *UnsupportedError; errors opening the file are the os package's.
type FormatError struct {
	Err error // what is wrong
}

func (e *FormatError) Error() string { return e.Err.Error() }
func (e *FormatError) Unwrap() error { return e.Err }

// An UnsupportedError reports a file that may be valid but uses something
// this package does not read: the legacy non-zip format, a TorchScript
// archive (for Read and Load), a big-endian file, a pickle protocol, opcode
// or global outside the set listed in the package documentation, or
// tensors or dict keys beyond its limits on the work a file may ask for.
type UnsupportedError struct {
	Err error // what is unsupported
}

func (e *UnsupportedError) Error() string { return e.Err.Error() }
func (e *UnsupportedError) Unwrap() error { return e.Err }

// unsupported returns an *UnsupportedError with a formatted message.
func unsupported(format string, args ...any) error {
	return &UnsupportedError{fmt.Errorf(format, args...)}
}

// classify makes an error about a file's contents a *FormatError unless an
// *UnsupportedError is already in its chain.
func classify(err error) error {
	var u *UnsupportedError
	if err == nil || errors.As(err, &u) {
		return err
	}
	return &FormatError{err}
}
