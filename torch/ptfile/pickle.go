package ptfile

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"unicode/utf8"
)

// maxDepth bounds the nesting of the object trees that Save writes, so that
// a tree containing itself fails instead of recursing forever.
const maxDepth = 1000

// batchSize is the number of items per SETITEMS or APPENDS, as in Python.
const batchSize = 1000

// pickler encodes an object tree as a protocol 2 pickle that only uses the
// opcodes and globals torch.load(weights_only=True) accepts.
type pickler struct {
	out      []byte
	memo     map[string]int // memoized globals, strings and tensors
	storages []*Entry       // storage key i holds storages[i]
}

func newPickler() *pickler {
	return &pickler{memo: make(map[string]int)}
}

// dump encodes obj as a complete pickle.
func (p *pickler) dump(obj any) error {
	p.out = append(p.out, opProto, 2)
	if err := p.value(obj, 0); err != nil {
		return err
	}
	p.out = append(p.out, opStop)
	return nil
}

func (p *pickler) value(v any, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("object tree nested deeper than %d levels (does it contain itself?)", maxDepth)
	}
	switch v := v.(type) {
	case nil:
		p.out = append(p.out, opNone)
	case bool:
		if v {
			p.out = append(p.out, opNewTrue)
		} else {
			p.out = append(p.out, opNewFalse)
		}
	case int:
		p.int(int64(v))
	case int32:
		p.int(int64(v))
	case int64:
		p.int(v)
	case *big.Int:
		if v.IsInt64() {
			p.int(v.Int64())
		} else {
			p.bigInt(v)
		}
	case float32:
		p.float(float64(v))
	case float64:
		p.float(v)
	case string:
		return p.string(v)
	case []byte:
		p.bytes(v)
	case Tuple:
		return p.tuple(v, depth)
	case List:
		return p.list(v, depth)
	case *List:
		if v == nil {
			return errors.New("nil *List")
		}
		return p.list(*v, depth)
	case *Dict:
		if v == nil {
			return errors.New("nil *Dict")
		}
		return p.dict(v, depth)
	case *Entry:
		if v == nil {
			return errors.New("nil *Entry")
		}
		// Like Python's pickler, write a tensor met again as a reference to
		// the first, so it loads as the same tensor object.
		return p.memoized(fmt.Sprintf("tensor %p", v), func() error { return p.tensor(v) })
	case Entry:
		return p.tensor(&v)
	default:
		return fmt.Errorf("cannot save a value of type %T", v)
	}
	return nil
}

func (p *pickler) int(n int64) {
	switch {
	case n >= 0 && n < 1<<8:
		p.out = append(p.out, opBinInt1, byte(n))
	case n >= 0 && n < 1<<16:
		p.out = append(p.out, opBinInt2)
		p.out = binary.LittleEndian.AppendUint16(p.out, uint16(n))
	case n >= math.MinInt32 && n <= math.MaxInt32:
		p.out = append(p.out, opBinInt)
		p.out = binary.LittleEndian.AppendUint32(p.out, uint32(int32(n)))
	default:
		b := binary.LittleEndian.AppendUint64(nil, uint64(n))
		p.out = append(p.out, opLong1, byte(len(trimLong(b))))
		p.out = append(p.out, trimLong(b)...)
	}
}

// trimLong drops the redundant sign bytes of a little-endian two's
// complement integer, as Python's encode_long does.
func trimLong(b []byte) []byte {
	for len(b) > 1 {
		last, prev := b[len(b)-1], b[len(b)-2]
		if (last == 0 && prev&0x80 == 0) || (last == 0xff && prev&0x80 != 0) {
			b = b[:len(b)-1]
			continue
		}
		break
	}
	return b
}

// bigInt writes an integer beyond int64 as LONG1 or LONG4.
func (p *pickler) bigInt(v *big.Int) {
	// Two's complement in n bytes, with n large enough for the sign bit.
	n := v.BitLen()/8 + 1
	m := new(big.Int).Set(v)
	if v.Sign() < 0 {
		m.Add(m, new(big.Int).Lsh(big.NewInt(1), uint(8*n)))
	}
	be := m.FillBytes(make([]byte, n))
	le := make([]byte, n)
	for i := range be {
		le[n-1-i] = be[i]
	}
	le = trimLong(le)
	if len(le) < 256 {
		p.out = append(p.out, opLong1, byte(len(le)))
	} else {
		p.out = append(p.out, opLong4)
		p.out = binary.LittleEndian.AppendUint32(p.out, uint32(len(le)))
	}
	p.out = append(p.out, le...)
}

func (p *pickler) float(f float64) {
	p.out = append(p.out, opBinFloat)
	p.out = binary.BigEndian.AppendUint64(p.out, math.Float64bits(f))
}

func (p *pickler) string(s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("string %q is not valid UTF-8", s)
	}
	if uint64(len(s)) > math.MaxUint32 {
		return fmt.Errorf("string of %d bytes is too long", len(s))
	}
	p.out = append(p.out, opBinUnicode)
	p.out = binary.LittleEndian.AppendUint32(p.out, uint32(len(s)))
	p.out = append(p.out, s...)
	return nil
}

// bytes writes b as protocol 2 does: _codecs.encode(latin-1 text, "latin1").
func (p *pickler) bytes(b []byte) {
	p.global("_codecs", "encode")
	text := make([]rune, len(b))
	for i, c := range b {
		text[i] = rune(c)
	}
	_ = p.string(string(text))
	p.constString("latin1")
	p.out = append(p.out, opTuple2, opReduce)
}

// memoized writes the value named key once and refers to the memo after.
func (p *pickler) memoized(key string, write func() error) error {
	if i, ok := p.memo[key]; ok {
		if i < 256 {
			p.out = append(p.out, opGet, byte(i))
		} else {
			p.out = append(p.out, opLongGet)
			p.out = binary.LittleEndian.AppendUint32(p.out, uint32(i))
		}
		return nil
	}
	if err := write(); err != nil {
		return err
	}
	i := len(p.memo)
	p.memo[key] = i
	if i < 256 {
		p.out = append(p.out, opPut, byte(i))
	} else {
		p.out = append(p.out, opLongPut)
		p.out = binary.LittleEndian.AppendUint32(p.out, uint32(i))
	}
	return nil
}

func (p *pickler) global(module, name string) {
	_ = p.memoized("global "+module+"."+name, func() error {
		p.out = append(p.out, opGlobal)
		p.out = append(p.out, module+"\n"+name+"\n"...)
		return nil
	})
}

func (p *pickler) constString(s string) {
	_ = p.memoized("str "+s, func() error { return p.string(s) })
}

func (p *pickler) tuple(t Tuple, depth int) error {
	if len(t) == 0 {
		p.out = append(p.out, opEmptyTuple)
		return nil
	}
	if len(t) > 3 {
		p.out = append(p.out, opMark)
	}
	for _, x := range t {
		if err := p.value(x, depth+1); err != nil {
			return err
		}
	}
	if len(t) > 3 {
		p.out = append(p.out, opTuple)
	} else {
		p.out = append(p.out, opTuple1+byte(len(t)-1))
	}
	return nil
}

func (p *pickler) list(l List, depth int) error {
	p.out = append(p.out, opEmptyList)
	for start := 0; start < len(l); start += batchSize {
		p.out = append(p.out, opMark)
		for _, x := range l[start:min(start+batchSize, len(l))] {
			if err := p.value(x, depth+1); err != nil {
				return err
			}
		}
		p.out = append(p.out, opAppends)
	}
	return nil
}

func (p *pickler) dict(d *Dict, depth int) error {
	if d.Ordered {
		p.orderedDict()
	} else {
		p.out = append(p.out, opEmptyDict)
	}
	for start := 0; start < len(d.Items); start += batchSize {
		p.out = append(p.out, opMark)
		for _, it := range d.Items[start:min(start+batchSize, len(d.Items))] {
			if err := p.value(it.Key, depth+1); err != nil {
				return err
			}
			if err := p.value(it.Value, depth+1); err != nil {
				return err
			}
		}
		p.out = append(p.out, opSetItems)
	}
	if d.State != nil {
		// torch.load(weights_only=True) only lets BUILD set the attributes
		// of an OrderedDict, from a dict.
		if !d.Ordered {
			return errors.New("Dict.State is only supported on an OrderedDict")
		}
		if _, ok := d.State.(*Dict); !ok {
			return fmt.Errorf("Dict.State is a %T, not a *Dict", d.State)
		}
		if err := p.value(d.State, depth+1); err != nil {
			return err
		}
		p.out = append(p.out, opBuild)
	}
	return nil
}

// orderedDict writes collections.OrderedDict().
func (p *pickler) orderedDict() {
	p.global("collections", "OrderedDict")
	p.out = append(p.out, opEmptyTuple, opReduce)
}

// tensor writes torch._utils._rebuild_tensor_v2(storage, 0, size, stride,
// False, OrderedDict()) with a contiguous stride and a storage of its own.
func (p *pickler) tensor(e *Entry) error {
	if err := e.check(); err != nil {
		if e.Name != "" {
			return fmt.Errorf("tensor %q: %w", e.Name, err)
		}
		return fmt.Errorf("tensor: %w", err)
	}
	key := len(p.storages)
	p.storages = append(p.storages, e)
	n, _ := numel(e.Shape)

	p.global("torch._utils", "_rebuild_tensor_v2")
	p.out = append(p.out, opMark)
	// The persistent id ('storage', torch.XStorage, key, 'cpu', numel).
	p.out = append(p.out, opMark)
	p.constString("storage")
	p.global("torch", e.DType.storageClass())
	if err := p.string(strconv.Itoa(key)); err != nil {
		return err
	}
	p.constString("cpu")
	p.int(n)
	p.out = append(p.out, opTuple, opBinPersID)
	p.int(0) // storage offset
	shape := make(Tuple, len(e.Shape))
	stride := make(Tuple, len(e.Shape))
	s := int64(1)
	for i := len(e.Shape) - 1; i >= 0; i-- {
		shape[i] = e.Shape[i]
		stride[i] = s
		s *= max(e.Shape[i], 1)
	}
	if err := p.tuple(shape, 0); err != nil {
		return err
	}
	if err := p.tuple(stride, 0); err != nil {
		return err
	}
	p.out = append(p.out, opNewFalse) // requires_grad
	p.orderedDict()                   // backward hooks
	p.out = append(p.out, opTuple, opReduce)
	return nil
}
