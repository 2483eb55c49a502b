// Package ptfile reads and writes PyTorch's torch.save file format in pure Go.
//
// A file written by torch.save (PyTorch 1.6 and later) is a zip archive whose
// records all sit under one top folder (often "archive/"):
//
//	archive/data.pkl      the object tree, a Python pickle (protocol 2)
//	archive/data/<key>    one raw little-endian storage per key
//	archive/byteorder     "little" (newer PyTorch only)
//	archive/version       the archive format version, "3\n"
//
// Tensors inside data.pkl are pickled as calls of
// torch._utils._rebuild_tensor_v2 whose first argument is a persistent id
// ('storage', torch.FloatStorage, key, location, numel) naming a storage
// record, followed by the storage offset, size, stride, requires_grad and
// backward hooks.
//
// Read and ReadFile return the tensors of a state dict as plain Go values
// (Entry); Write and WriteFile write entries as a collections.OrderedDict of
// tensors, which torch.load reads in PyTorch 1.13 and 2.x, including 2.x's
// default weights_only=True unpickler: the files only use globals on its
// allowlist. Load and Save do the same for general object trees (dicts,
// lists, tuples, numbers, strings and tensors), such as checkpoints holding a
// state dict next to an epoch number.
//
// Detect and DetectFile tell what a file holds (a state dict, a checkpoint
// holding one, a TorchScript archive or another object) from its zip
// directory and object tree, without reading tensor data.
//
// # Errors
//
// Errors about a file's contents are a *FormatError (not a torch.save
// archive, truncated, corrupt, or for Read without a state dict) or an
// *UnsupportedError (valid perhaps, but using something this package does
// not read); callers tell them apart with errors.As. Errors opening a file
// are the os package's, for errors.Is(err, fs.ErrNotExist) and the like.
//
// # Object trees
//
// Load returns, and Save writes, Python objects as these Go values:
//
//	nil       None
//	bool      bool
//	int64     int (*big.Int where it does not fit in int64)
//	float64   float
//	string    str
//	[]byte    bytes
//	Tuple     tuple (torch.Size reads as a Tuple)
//	*List     list
//	*Dict     dict or collections.OrderedDict
//	*Entry    torch.Tensor or torch.nn.Parameter (Name is empty)
//
// Save also accepts int, int32, float32, List and Entry values. PyTorch
// 1.13's weights_only unpickler (unlike 2.x's) cannot read floats or bytes;
// files of tensors, ints, strings, bools, None and containers load there too.
//
// # Alignment and layout
//
// Storage records are written 64-byte aligned, as PyTorch does, so that
// torch.load(..., mmap=True) accepts the files. The reader materializes every
// tensor as contiguous row-major data, whatever its strides, storage offset or
// storage sharing in the file.
//
// The reader understands the pickle opcodes that Python's pickler emits for
// these values with protocols 2 to 5, and only the globals a state dict
// needs (collections.OrderedDict, torch._utils._rebuild_tensor_v2 and
// _rebuild_parameter, the torch.*Storage classes, torch.Size and the bytes
// helpers); anything else is refused with an error naming the file and the
// problem, as is a truncated or corrupt file (record checksums are checked).
// Files whose tensors would expand to more than 8 times the file size plus
// 16 MiB (through zero strides or many overlapping views) are refused too. The legacy non-zip format (PyTorch before 1.6 or
// _use_new_zipfile_serialization=False) is not supported; TorchScript
// archives are detected but not read.
package ptfile
