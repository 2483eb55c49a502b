package torch

/*
#include <stdlib.h>
#include "ctorch.h"
*/
import "C"

import (
	"fmt"
	"io"
	"unsafe"
)

// ScriptModule is a TorchScript module: one loaded from a file saved by
// Python's torch.jit.save, or one built here and saved for Python's
// torch.jit.load. The caller frees it with Free.
type ScriptModule struct {
	h C.ct_module
}

// LoadScript loads a TorchScript file onto dev.
func LoadScript(path string, dev Device) (*ScriptModule, error) {
	cp := C.CString(path)
	defer C.free(unsafe.Pointer(cp))
	var h C.ct_module
	if err := goError("jit load "+path, C.ct_module_load(cp, C.int(dev.Type), C.int(dev.Index), &h)); err != nil {
		return nil, err
	}
	return &ScriptModule{h}, nil
}

// NewScriptModule returns an empty module of the given qualified class
// name, e.g. "__torch__.Net". The submodules of a tree must share the
// root's compilation unit: pass the root as share (nil for the root).
func NewScriptModule(className string, share *ScriptModule) (*ScriptModule, error) {
	cn := C.CString(className)
	defer C.free(unsafe.Pointer(cn))
	var sh C.ct_module
	if share != nil {
		sh = share.h
	}
	var h C.ct_module
	if err := goError("jit module", C.ct_module_new(cn, sh, &h)); err != nil {
		return nil, err
	}
	return &ScriptModule{h}, nil
}

// Free releases the module (tensors it shares with Go handles live on).
func (m *ScriptModule) Free() {
	if m != nil && m.h != nil {
		C.ct_module_free(m.h)
		m.h = nil
	}
}

func (m *ScriptModule) handle(op string) (C.ct_module, error) {
	if m == nil || m.h == nil {
		return nil, fmt.Errorf("torch: %s: use of a freed script module", op)
	}
	return m.h, nil
}

// Register adds a tensor as a parameter (buffer false) or buffer.
func (m *ScriptModule) Register(name string, t *Tensor, buffer bool) error {
	h, err := m.handle("register")
	if err != nil {
		return err
	}
	if _, err := t.handle("register " + name); err != nil {
		return err
	}
	cn := C.CString(name)
	defer C.free(unsafe.Pointer(cn))
	return goError("register "+name, C.ct_module_register_tensor(h, cn, t.h, cbool(buffer)))
}

// RegisterModule adds child as a submodule named name.
func (m *ScriptModule) RegisterModule(name string, child *ScriptModule) error {
	h, err := m.handle("register_module")
	if err != nil {
		return err
	}
	ch, err := child.handle("register_module")
	if err != nil {
		return err
	}
	cn := C.CString(name)
	defer C.free(unsafe.Pointer(cn))
	return goError("register_module "+name, C.ct_module_register_module(h, cn, ch))
}

// Define compiles TorchScript source (methods such as forward) into the module.
func (m *ScriptModule) Define(source string) error {
	h, err := m.handle("define")
	if err != nil {
		return err
	}
	cs := C.CString(source)
	defer C.free(unsafe.Pointer(cs))
	return goError("define", C.ct_module_define(h, cs))
}

// Save writes the module to w in TorchScript's format, as torch.jit.save
// does to a file object. The archive is built in memory first, so a failing
// w (a full disk, say) is an ordinary error; write files through
// internal/atomicfile.
func (m *ScriptModule) Save(w io.Writer) error {
	h, err := m.handle("save")
	if err != nil {
		return err
	}
	var data unsafe.Pointer
	var size C.size_t
	if err := goError("jit save", C.ct_module_save_bytes(h, &data, &size)); err != nil {
		return err
	}
	defer C.free(data)
	// w must not retain the slice (io.Writer's contract), so it may view
	// the C buffer directly. Its error is returned as it is.
	_, err = w.Write(unsafe.Slice((*byte)(data), int(size)))
	return err
}

// RegisterBool adds a bool attribute, neither parameter nor buffer, such
// as the "training" flag that train(), eval() and self.training use.
func (m *ScriptModule) RegisterBool(name string, v bool) error {
	h, err := m.handle("register")
	if err != nil {
		return err
	}
	cn := C.CString(name)
	defer C.free(unsafe.Pointer(cn))
	return goError("register "+name, C.ct_module_register_bool(h, cn, cbool(v)))
}

// SetTraining switches the module and its submodules between train and eval mode.
func (m *ScriptModule) SetTraining(training bool) error {
	h, err := m.handle("train")
	if err != nil {
		return err
	}
	return goError("train", C.ct_module_set_training(h, cbool(training)))
}

// Forward runs the module's forward method on x.
func (m *ScriptModule) Forward(x *Tensor) (*Tensor, error) {
	h, err := m.handle("forward")
	if err != nil {
		return nil, err
	}
	return call("forward", func(out *C.ct_tensor) C.ct_error { return C.ct_module_forward(h, x.h, out) }, x)
}

// NamedParameters returns the module's parameters, recursively, with
// PyTorch's dotted names. The handles share the module's storage.
func (m *ScriptModule) NamedParameters() ([]NamedTensor, error) { return m.named(false) }

// NamedBuffers returns the module's buffers, recursively, with PyTorch's names.
func (m *ScriptModule) NamedBuffers() ([]NamedTensor, error) { return m.named(true) }

func (m *ScriptModule) named(buffers bool) ([]NamedTensor, error) {
	h, err := m.handle("named_tensors")
	if err != nil {
		return nil, err
	}
	var names **C.char
	var tensors *C.ct_tensor
	var n C.int
	if err := goError("named_tensors", C.ct_module_named_tensors(h, cbool(buffers), &names, &tensors, &n)); err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(names))
	defer C.free(unsafe.Pointer(tensors))
	ns := unsafe.Slice(names, int(n))
	ts := unsafe.Slice(tensors, int(n))
	out := make([]NamedTensor, n)
	for i := range out {
		out[i] = NamedTensor{C.GoString(ns[i]), wrap(ts[i])}
		C.free(unsafe.Pointer(ns[i]))
	}
	return out, nil
}
