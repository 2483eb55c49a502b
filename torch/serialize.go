package torch

/*
#include <stdlib.h>
#include "ctorch.h"
*/
import "C"

import (
	"fmt"
	"runtime"
	"unsafe"

	"gotrain/torch/ptfile"
)

// NamedTensor is a tensor and its name, as in a state_dict.
type NamedTensor struct {
	Name   string
	Tensor *Tensor
}

var toFile = map[DType]ptfile.DType{
	Uint8: ptfile.Uint8, Int32: ptfile.Int32, Int64: ptfile.Int64,
	Float32: ptfile.Float32, Float64: ptfile.Float64, Bool: ptfile.Bool,
}

// Bytes returns the tensor's values (from any device) as contiguous
// little-endian bytes in row-major order. It fails for a dtype that this
// package does not support, such as int8 or float16.
func (t *Tensor) Bytes() ([]byte, error) {
	h, err := t.handle("bytes")
	if err != nil {
		return nil, err
	}
	dt := t.DType()
	size, ok := dt.size()
	if !ok {
		return nil, fmt.Errorf("torch: bytes: unsupported dtype %v", dt)
	}
	out := make([]byte, t.Numel()*int64(size))
	var p unsafe.Pointer
	if len(out) > 0 {
		p = unsafe.Pointer(&out[0])
	}
	err = goError("bytes", C.ct_tensor_copy_to(h, p, C.size_t(len(out))))
	runtime.KeepAlive(t)
	return out, err
}

// FromBytes makes a CPU tensor of the given dtype and shape from
// little-endian row-major bytes.
func FromBytes(data []byte, dtype DType, shape []int64) (*Tensor, error) {
	if _, ok := toFile[dtype]; !ok {
		return nil, fmt.Errorf("torch: from_bytes: unsupported dtype %v", dtype)
	}
	n := int64(1)
	for _, d := range shape {
		n *= d
	}
	if int64(len(data)) != n*int64(dtype.Size()) {
		return nil, fmt.Errorf("torch: from_bytes: %d bytes for shape %v of %v (want %d)", len(data), shape, dtype, n*int64(dtype.Size()))
	}
	var p unsafe.Pointer
	if len(data) > 0 {
		p = unsafe.Pointer(&data[0])
	}
	var out C.ct_tensor
	err := goError("from_bytes", C.ct_tensor_from_data(p, shapePtr(shape), C.int(len(shape)), C.int(dtype), 0, &out))
	runtime.KeepAlive(data)
	if err != nil {
		return nil, err
	}
	return wrap(out), nil
}

// Save writes tensors to path as a state_dict file that Python's
// torch.load reads as an OrderedDict, keys in the given order. The file
// appears whole or not at all.
func Save(path string, tensors []NamedTensor) error {
	entries := make([]ptfile.Entry, len(tensors))
	for i, nt := range tensors {
		e, err := nt.Tensor.Entry(nt.Name)
		if err != nil {
			return fmt.Errorf("torch: save %s: %w", path, err)
		}
		entries[i] = *e
	}
	return ptfile.WriteFile(path, entries)
}

// Load reads a state_dict file written by Python's torch.save (or by Save)
// into CPU tensors, in the file's key order. The tensors join the current
// scope, if any, like any new tensor.
func Load(path string) ([]NamedTensor, error) {
	entries, err := ptfile.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := make([]NamedTensor, 0, len(entries))
	for i := range entries {
		e := &entries[i]
		t, err := FromEntry(e)
		if err != nil {
			freeNamed(out)
			return nil, fmt.Errorf("torch: load %s: %s: %w", path, e.Name, err)
		}
		out = append(out, NamedTensor{e.Name, t})
	}
	return out, nil
}

func fromFile(d ptfile.DType) (DType, bool) {
	for k, v := range toFile {
		if v == d {
			return k, true
		}
	}
	return 0, false
}

func freeNamed(ts []NamedTensor) {
	for _, nt := range ts {
		nt.Tensor.Free()
	}
}

// Entry returns t's values as a ptfile entry (named name) for building
// torch.save files of any structure.
func (t *Tensor) Entry(name string) (*ptfile.Entry, error) {
	fd, ok := toFile[t.DType()]
	if !ok {
		return nil, fmt.Errorf("torch: %s has unsupported dtype %v", name, t.DType())
	}
	b, err := t.Bytes()
	if err != nil {
		return nil, fmt.Errorf("torch: %s: %w", name, err)
	}
	return &ptfile.Entry{Name: name, DType: fd, Shape: t.Shape(), Data: b}, nil
}

// FromEntry makes a CPU tensor from a ptfile entry.
func FromEntry(e *ptfile.Entry) (*Tensor, error) {
	dt, ok := fromFile(e.DType)
	if !ok {
		return nil, fmt.Errorf("torch: %s has unsupported dtype %v", e.Name, e.DType)
	}
	return FromBytes(e.Data, dt, e.Shape)
}

// StateDictValue returns tensors as the OrderedDict that a state_dict is
// inside a torch.save file, keys in the given order, for building files
// that hold state_dicts among other values (a checkpoint).
func StateDictValue(tensors []NamedTensor) (*ptfile.Dict, error) {
	d := &ptfile.Dict{Ordered: true}
	for _, nt := range tensors {
		e, err := nt.Tensor.Entry(nt.Name)
		if err != nil {
			return nil, err
		}
		d.Items = append(d.Items, ptfile.Item{Key: nt.Name, Value: e})
	}
	return d, nil
}

// TensorsOf makes CPU tensors of a dict of named tensors read from a
// torch.save file (a state_dict within it), in the dict's order. They
// belong to the caller, not to the current scope; on error none is left.
func TensorsOf(v any) ([]NamedTensor, error) {
	d, ok := v.(*ptfile.Dict)
	if !ok {
		return nil, fmt.Errorf("not a dict of tensors (%T)", v)
	}
	var out []NamedTensor
	for _, it := range d.Items {
		name, ok := it.Key.(string)
		e, isT := it.Value.(*ptfile.Entry)
		if !ok || !isT {
			freeNamed(out)
			return nil, fmt.Errorf("entry %v is not a named tensor", it.Key)
		}
		t, err := FromEntry(e)
		if err != nil {
			freeNamed(out)
			return nil, err
		}
		out = append(out, NamedTensor{Name: name, Tensor: Keep(t)})
	}
	return out, nil
}
