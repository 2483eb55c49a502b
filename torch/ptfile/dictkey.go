package ptfile

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
)

// Distinct types for the map keys standing for non-scalar dict keys: the
// bytes of a bytes key, and the IDs that a keyHasher gives big integers and
// tuples.
type (
	bytesKey string
	bigKey   int64
	tupleKey int64
)

// maxKeyDepth bounds the nesting of tuples used as dict keys.
const maxKeyDepth = 32

// The bytes of dict keys that one unpickling may hash: keyBudgetBase plus
// keyBudgetPerByte per byte of pickle.
const (
	keyBudgetBase    = 1 << 24
	keyBudgetPerByte = 64
)

// objectKey is what a keyHasher knows about a tuple or big integer it has
// hashed.
type objectKey struct {
	id     int64
	height int // tuples nested in a tuple, itself included
}

// tupleIdentity identifies a tuple object by the address of its elements
// and their count. The unpickler never modifies a tuple once made, so
// tuples with the same identity hold the same elements.
type tupleIdentity struct {
	first *any
	n     int
}

// keyHasher maps dict keys to comparable Go values that are equal for two
// keys exactly when Python finds them equal, with the exceptions of
// Dict.Get. Tuples and big integers become IDs: equal ones get the same ID,
// except tuples holding a NaN, which equal only themselves, as in Python.
//
// A pickle can refer to one object many times, so a tuple of a few bytes
// can have 2**n leaves; the hasher therefore hashes each tuple and big
// integer object once, by identity, and charges the bytes it reads against
// a budget proportional to the pickle's size.
type keyHasher struct {
	budget, limit int64
	objects       map[any]objectKey // tupleIdentity or *big.Int
	interned      map[string]int64  // encodings of tuples and big integers
	ids           map[any]int64     // *Dict and *Entry keys inside tuples
	next          int64
}

func newKeyHasher(pickleSize int) *keyHasher {
	limit := keyBudgetBase + keyBudgetPerByte*int64(pickleSize)
	return &keyHasher{
		budget:   limit,
		limit:    limit,
		objects:  make(map[any]objectKey),
		interned: make(map[string]int64),
		ids:      make(map[any]int64),
	}
}

// charge takes n bytes from the budget.
func (h *keyHasher) charge(n int) error {
	h.budget -= int64(n)
	if h.budget < 0 {
		return unsupported("dict keys need more than %d bytes of hashing, the limit for this pickle", h.limit)
	}
	return nil
}

// newID returns an ID not given before.
func (h *keyHasher) newID() int64 {
	h.next++
	return h.next
}

// intern returns the ID of an encoding, giving it a new one if unseen.
func (h *keyHasher) intern(enc []byte) int64 {
	if id, ok := h.interned[string(enc)]; ok {
		return id
	}
	id := h.newID()
	h.interned[string(enc)] = id
	return id
}

// hashKey returns the comparable Go value standing for a dict key, or an
// error for an unhashable key.
func (h *keyHasher) hashKey(k any) (any, error) {
	v, _, err := h.hash(k, 0)
	return v, err
}

// hash returns the value standing for k, found at the given depth of tuple
// nesting, and the height of k's tuple nesting.
func (h *keyHasher) hash(k any, depth int) (any, int, error) {
	switch k := k.(type) {
	case nil, bool, int64, float64, *Dict, *Entry:
		return k, 0, nil
	case string:
		return k, 0, h.charge(len(k))
	case []byte:
		return bytesKey(k), 0, h.charge(len(k))
	case *big.Int:
		if o, ok := h.objects[k]; ok {
			return bigKey(o.id), 0, nil
		}
		b := k.Bytes()
		if err := h.charge(len(b)); err != nil {
			return nil, 0, err
		}
		enc := append([]byte{'L', byte(k.Sign() + 1)}, b...)
		o := objectKey{id: h.intern(enc)}
		h.objects[k] = o
		return bigKey(o.id), 0, nil
	case Tuple:
		return h.hashTuple(k, depth)
	}
	return nil, 0, fmt.Errorf("unhashable type %s as a dict key", typeName(k))
}

func (h *keyHasher) hashTuple(t Tuple, depth int) (any, int, error) {
	if depth >= maxKeyDepth {
		return nil, 0, unsupported("dict key nested too deeply")
	}
	var ident tupleIdentity
	if len(t) > 0 {
		ident = tupleIdentity{&t[0], len(t)}
		if o, ok := h.objects[ident]; ok {
			if depth+o.height > maxKeyDepth {
				return nil, 0, unsupported("dict key nested too deeply")
			}
			return tupleKey(o.id), o.height, nil
		}
	}
	if err := h.charge(len(t)); err != nil {
		return nil, 0, err
	}
	enc := []byte{'T'}
	height, unique := 1, false
	for _, x := range t {
		v, xh, err := h.hash(x, depth+1)
		if err != nil {
			return nil, 0, err
		}
		height = max(height, xh+1)
		switch v := v.(type) {
		case nil:
			enc = append(enc, 'n')
		case bool:
			if v {
				enc = append(enc, 'b', 1)
			} else {
				enc = append(enc, 'b', 0)
			}
		case int64:
			enc = binary.LittleEndian.AppendUint64(append(enc, 'i'), uint64(v))
		case float64:
			if v != v {
				unique = true // NaN equals no other float
			}
			if v == 0 {
				v = 0 // -0 equals 0
			}
			enc = binary.LittleEndian.AppendUint64(append(enc, 'f'), math.Float64bits(v))
		case string:
			enc = binary.AppendUvarint(append(enc, 's'), uint64(len(v)))
			enc = append(enc, v...)
		case bytesKey:
			enc = binary.AppendUvarint(append(enc, 'y'), uint64(len(v)))
			enc = append(enc, v...)
		case bigKey:
			enc = binary.LittleEndian.AppendUint64(append(enc, 'L'), uint64(v))
		case tupleKey:
			enc = binary.LittleEndian.AppendUint64(append(enc, 't'), uint64(v))
		case *Dict, *Entry: // by identity
			id, ok := h.ids[v]
			if !ok {
				id = h.newID()
				h.ids[v] = id
			}
			enc = binary.LittleEndian.AppendUint64(append(enc, 'o'), uint64(id))
		default:
			return nil, 0, fmt.Errorf("internal error: dict key hash of type %T", v)
		}
	}
	if err := h.charge(len(enc)); err != nil {
		return nil, 0, err
	}
	var o objectKey
	if unique {
		o = objectKey{id: h.newID(), height: height}
	} else {
		o = objectKey{id: h.intern(enc), height: height}
	}
	if len(t) > 0 {
		h.objects[ident] = o
	}
	return tupleKey(o.id), height, nil
}
