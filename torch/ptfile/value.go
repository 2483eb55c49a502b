package ptfile

import (
	"bytes"
	"fmt"
	"math/big"
)

// Tuple is a Python tuple.
type Tuple []any

// List is a Python list. It is used through a pointer because pickles may
// append to a list after referring to it.
type List []any

// Item is one key and value of a Dict.
type Item struct {
	Key, Value any
}

// Dict is a Python dict or collections.OrderedDict, its items in insertion
// order.
type Dict struct {
	// Ordered reports whether the dict is a collections.OrderedDict.
	Ordered bool
	// Items holds the entries in insertion order.
	Items []Item
	// State is the object state that pickle's BUILD gave the dict, or nil.
	// For a PyTorch state dict it is a *Dict holding "_metadata". It may be
	// set only on an OrderedDict when writing.
	State any
}

// Get returns the value stored under key and whether it was found. Keys
// compare as Python would compare them for the types listed above, except
// that bool, int and float keys never equal each other.
func (d *Dict) Get(key any) (any, bool) {
	for _, it := range d.Items {
		if keyEqual(it.Key, key, 0) {
			return it.Value, true
		}
	}
	return nil, false
}

// keyEqual reports whether a and b are equal dict keys. Unhashable values
// (lists) and tuples nested deeper than maxKeyDepth are never equal; dicts
// and tensors compare by identity.
func keyEqual(a, b any, depth int) bool {
	var c keyComparer
	return c.equal(a, b, depth)
}

// keyComparer compares dict keys, remembering the pairs of tuples found
// equal: a tuple may refer to one tuple many times, and comparing it
// element by element each time could take time exponential in its size.
type keyComparer struct {
	equalTuples map[tuplePair]bool
}

// tuplePair is two tuples compared at a depth of nesting.
type tuplePair struct {
	a, b  tupleIdentity
	depth int
}

func (c *keyComparer) equal(a, b any, depth int) bool {
	switch a := a.(type) {
	case nil:
		return b == nil
	case bool:
		b, ok := b.(bool)
		return ok && a == b
	case int64:
		b, ok := b.(int64)
		return ok && a == b
	case float64:
		b, ok := b.(float64)
		return ok && a == b
	case string:
		b, ok := b.(string)
		return ok && a == b
	case []byte:
		b, ok := b.([]byte)
		return ok && bytes.Equal(a, b)
	case *big.Int:
		b, ok := b.(*big.Int)
		return ok && a.Cmp(b) == 0
	case Tuple:
		b, ok := b.(Tuple)
		if !ok || len(a) != len(b) || depth >= maxKeyDepth {
			return false
		}
		if len(a) == 0 {
			return true
		}
		pair := tuplePair{tupleIdentity{&a[0], len(a)}, tupleIdentity{&b[0], len(b)}, depth}
		if c.equalTuples[pair] {
			return true
		}
		for i := range a {
			if !c.equal(a[i], b[i], depth+1) {
				return false
			}
		}
		if c.equalTuples == nil {
			c.equalTuples = make(map[tuplePair]bool)
		}
		c.equalTuples[pair] = true
		return true
	case *Dict:
		b, ok := b.(*Dict)
		return ok && a == b
	case *Entry:
		b, ok := b.(*Entry)
		return ok && a == b
	}
	return false
}

// typeName names the Python type that a decoded value stands for.
func typeName(v any) string {
	switch v := v.(type) {
	case nil:
		return "None"
	case bool:
		return "bool"
	case int64, *big.Int:
		return "int"
	case float64:
		return "float"
	case string:
		return "str"
	case []byte:
		return "bytes"
	case Tuple:
		return "tuple"
	case *List:
		return "list"
	case *Dict:
		if v.Ordered {
			return "OrderedDict"
		}
		return "dict"
	case *Entry:
		return "tensor"
	case *storageRef:
		return "storage"
	case storageClass:
		return "torch." + v.dtype.storageClass()
	case callable:
		if v < callOrderedDict || v > callBytes {
			break
		}
		return [...]string{
			callOrderedDict:               "collections.OrderedDict",
			callRebuildTensorV2:           "torch._utils._rebuild_tensor_v2",
			callRebuildTensor:             "torch._utils._rebuild_tensor",
			callRebuildParameter:          "torch._utils._rebuild_parameter",
			callRebuildParameterWithState: "torch._utils._rebuild_parameter_with_state",
			callTorchSize:                 "torch.Size",
			callCodecsEncode:              "_codecs.encode",
			callBytes:                     "builtins.bytes",
		}[v]
	}
	return fmt.Sprintf("%T", v)
}

// describe renders small values for error messages and names the type of
// the others.
func describe(v any) string { return describeDepth(v, 0) }

func describeDepth(v any, depth int) string {
	switch v := v.(type) {
	case nil, bool, int64, float64, *big.Int:
		return fmt.Sprint(v)
	case string:
		if len(v) <= 64 {
			return fmt.Sprintf("%q", v)
		}
	case Tuple:
		if len(v) <= 8 && depth < 3 {
			var b bytes.Buffer
			b.WriteByte('(')
			for i, x := range v {
				if i > 0 {
					b.WriteString(", ")
				}
				b.WriteString(describeDepth(x, depth+1))
			}
			b.WriteByte(')')
			return b.String()
		}
	}
	return "a " + typeName(v)
}
