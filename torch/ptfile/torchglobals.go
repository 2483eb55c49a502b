package ptfile

import (
	"fmt"
)

// callable is a global function or class that the unpickler may call.
type callable int

const (
	callOrderedDict callable = iota + 1
	callRebuildTensorV2
	callRebuildTensor
	callRebuildParameter
	callRebuildParameterWithState
	callTorchSize
	callCodecsEncode
	callBytes
)

// storageClass is a legacy storage class such as torch.FloatStorage.
type storageClass struct{ dtype DType }

// storageRef is a storage loaded through a persistent id: the zip record
// data/<key> viewed as numel elements of dtype.
type storageRef struct {
	key   string
	dtype DType
	numel int64
}

// pendingTensor is a tensor whose data is still in its storage record.
type pendingTensor struct {
	entry   *Entry
	storage *storageRef
	offset  int64
	stride  []int64
}

// resolveGlobal maps the globals a state dict needs to the values standing
// for them and refuses all others, as torch.load(weights_only=True) does.
func resolveGlobal(module, name string) (any, error) {
	switch module + "." + name {
	case "collections.OrderedDict":
		return callOrderedDict, nil
	case "torch._utils._rebuild_tensor_v2":
		return callRebuildTensorV2, nil
	case "torch._utils._rebuild_tensor":
		return callRebuildTensor, nil
	case "torch._utils._rebuild_parameter":
		return callRebuildParameter, nil
	case "torch._utils._rebuild_parameter_with_state":
		return callRebuildParameterWithState, nil
	case "torch.Size":
		return callTorchSize, nil
	case "_codecs.encode":
		return callCodecsEncode, nil
	case "builtins.bytes", "__builtin__.bytes": // protocol 2's b""
		return callBytes, nil
	}
	if module == "torch" {
		if d, ok := dtypeOfStorage(name); ok {
			return storageClass{d}, nil
		}
	}
	return nil, unsupported("unsupported global %s.%s", module, name)
}

// persistentLoad resolves a persistent id of the form
// ('storage', storage class, key, location, numel).
func persistentLoad(pid any) (*storageRef, error) {
	t, ok := pid.(Tuple)
	if !ok || len(t) != 5 {
		return nil, fmt.Errorf("persistent id %s is not a 5-tuple ('storage', type, key, location, numel)", describe(pid))
	}
	switch tag := t[0].(type) {
	case string:
		if tag != "storage" {
			return nil, fmt.Errorf("persistent id of kind %q, want \"storage\"", tag)
		}
	case []byte:
		if string(tag) != "storage" {
			return nil, fmt.Errorf("persistent id of kind %q, want \"storage\"", tag)
		}
	default:
		return nil, fmt.Errorf("persistent id kind is %s, not a string", typeName(t[0]))
	}
	cls, ok := t[1].(storageClass)
	if !ok {
		return nil, fmt.Errorf("storage type is %s, not a torch storage class", typeName(t[1]))
	}
	key, ok := t[2].(string)
	if !ok {
		return nil, fmt.Errorf("storage key is %s, not a string", typeName(t[2]))
	}
	n, ok := t[4].(int64)
	if !ok || n < 0 {
		return nil, fmt.Errorf("storage %q has element count %s", key, describe(t[4]))
	}
	return &storageRef{key: key, dtype: cls.dtype, numel: n}, nil
}

// call applies an allowed global function to its arguments.
func (u *unpickler) call(fn any, args Tuple) (any, error) {
	c, ok := fn.(callable)
	if !ok {
		return nil, fmt.Errorf("%s is not callable", typeName(fn))
	}
	switch c {
	case callOrderedDict:
		d := &Dict{Ordered: true}
		if len(args) == 0 {
			return d, nil
		}
		if len(args) != 1 {
			return nil, fmt.Errorf("OrderedDict takes at most 1 argument, got %d", len(args))
		}
		var pairs []any
		switch a := args[0].(type) {
		case *List:
			pairs = *a
		case Tuple:
			pairs = a
		default:
			return nil, fmt.Errorf("OrderedDict argument is %s, not a sequence of pairs", typeName(args[0]))
		}
		for _, p := range pairs {
			kv, ok := p.(Tuple)
			if !ok || len(kv) != 2 {
				return nil, fmt.Errorf("OrderedDict item is %s, not a pair", describe(p))
			}
			if err := u.setItems(d, []any(kv)); err != nil {
				return nil, err
			}
		}
		return d, nil
	case callRebuildTensorV2:
		// (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
		if len(args) != 6 && len(args) != 7 {
			return nil, fmt.Errorf("_rebuild_tensor_v2 takes 6 or 7 arguments, got %d", len(args))
		}
		return u.rebuildTensor(args[:4])
	case callRebuildTensor:
		if len(args) != 4 {
			return nil, fmt.Errorf("_rebuild_tensor takes 4 arguments, got %d", len(args))
		}
		return u.rebuildTensor(args)
	case callRebuildParameter, callRebuildParameterWithState:
		want := 3
		if c == callRebuildParameterWithState {
			want = 4
		}
		if len(args) != want {
			return nil, fmt.Errorf("rebuilding a Parameter takes %d arguments, got %d", want, len(args))
		}
		e, ok := args[0].(*Entry)
		if !ok {
			return nil, fmt.Errorf("Parameter data is %s, not a tensor", typeName(args[0]))
		}
		return e, nil
	case callTorchSize:
		if len(args) != 1 {
			return nil, fmt.Errorf("torch.Size takes 1 argument, got %d", len(args))
		}
		t, ok := args[0].(Tuple)
		if !ok {
			if l, isList := args[0].(*List); isList {
				t, ok = Tuple(*l), true
			}
		}
		if !ok {
			return nil, fmt.Errorf("torch.Size argument is %s, not a tuple", typeName(args[0]))
		}
		return t, nil
	case callCodecsEncode:
		if len(args) != 2 {
			return nil, fmt.Errorf("_codecs.encode takes 2 arguments, got %d", len(args))
		}
		s, ok1 := args[0].(string)
		enc, ok2 := args[1].(string)
		if !ok1 || !ok2 || (enc != "latin1" && enc != "latin-1") {
			return nil, unsupported("unsupported _codecs.encode%s", describe(args))
		}
		out := make([]byte, 0, len(s))
		for _, r := range s {
			if r > 0xff {
				return nil, fmt.Errorf("_codecs.encode: rune %U is not latin-1", r)
			}
			out = append(out, byte(r))
		}
		return out, nil
	case callBytes:
		if len(args) != 0 {
			return nil, unsupported("bytes%s is not supported", describe(args))
		}
		return []byte{}, nil
	}
	return nil, fmt.Errorf("%s is not callable", typeName(fn))
}

// rebuildTensor creates a pending tensor from (storage, offset, size, stride).
func (u *unpickler) rebuildTensor(args Tuple) (*Entry, error) {
	st, ok := args[0].(*storageRef)
	if !ok {
		return nil, fmt.Errorf("tensor storage is %s, not a storage", typeName(args[0]))
	}
	offset, ok := args[1].(int64)
	if !ok || offset < 0 {
		return nil, fmt.Errorf("tensor on storage %q has storage offset %s", st.key, describe(args[1]))
	}
	shape, err := int64s(args[2])
	if err != nil {
		return nil, fmt.Errorf("tensor on storage %q: size: %w", st.key, err)
	}
	stride, err := int64s(args[3])
	if err != nil {
		return nil, fmt.Errorf("tensor on storage %q: stride: %w", st.key, err)
	}
	if len(shape) != len(stride) {
		return nil, fmt.Errorf("tensor on storage %q has size %v but stride %v", st.key, shape, stride)
	}
	for _, s := range stride {
		if s < 0 {
			return nil, fmt.Errorf("tensor on storage %q has negative stride %v", st.key, stride)
		}
	}
	if _, err := numel(shape); err != nil {
		return nil, fmt.Errorf("tensor on storage %q: %w", st.key, err)
	}
	e := &Entry{DType: st.dtype, Shape: shape}
	u.tensors = append(u.tensors, &pendingTensor{entry: e, storage: st, offset: offset, stride: stride})
	return e, nil
}

// int64s converts a tuple (or torch.Size) of ints.
func int64s(v any) ([]int64, error) {
	t, ok := v.(Tuple)
	if !ok {
		return nil, fmt.Errorf("%s is not a tuple", describe(v))
	}
	out := make([]int64, len(t))
	for i, x := range t {
		n, ok := x.(int64)
		if !ok {
			return nil, fmt.Errorf("element %d of %s is not an int", i, describe(v))
		}
		out[i] = n
	}
	return out, nil
}
