package ptfile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
)

// unpickler decodes a pickle made by torch.save into the values listed in
// the package documentation. It never calls arbitrary code: globals are resolved by
// resolveGlobal and tensors are recorded as pending for the caller to fill.
type unpickler struct {
	data    []byte
	pos     int
	stack   []any
	marks   []int // stack lengths at each MARK
	memo    map[uint64]any
	index   map[*Dict]map[any]int // positions of hashable keys in each dict
	keys    *keyHasher
	tensors []*pendingTensor
}

var errStackUnderflow = errors.New("stack underflow")

// unpickle decodes data and returns the pickled object and the tensors it
// contains, in the order they were created.
func unpickle(data []byte) (any, []*pendingTensor, error) {
	u := &unpickler{
		data:  data,
		memo:  make(map[uint64]any),
		index: make(map[*Dict]map[any]int),
		keys:  newKeyHasher(len(data)),
	}
	v, err := u.run()
	if err != nil {
		return nil, nil, err
	}
	return v, u.tensors, nil
}

func (u *unpickler) run() (any, error) {
	for {
		start := u.pos
		if u.pos >= len(u.data) {
			return nil, fmt.Errorf("pickle truncated at offset %d (no STOP opcode)", u.pos)
		}
		op := u.data[u.pos]
		u.pos++
		done, err := u.step(op)
		if err != nil {
			return nil, fmt.Errorf("pickle offset %d, opcode %s: %w", start, opName(op), err)
		}
		if done {
			v, err := u.pop()
			if err != nil {
				return nil, fmt.Errorf("pickle offset %d, opcode STOP: %w", start, err)
			}
			return v, nil
		}
	}
}

// step executes one opcode; it reports true after STOP.
func (u *unpickler) step(op byte) (bool, error) {
	switch op {
	case opProto:
		b, err := u.read(1)
		if err != nil {
			return false, err
		}
		if b[0] > 5 {
			return false, unsupported("unsupported pickle protocol %d", b[0])
		}
	case opFrame:
		if _, err := u.read(8); err != nil {
			return false, err
		}
	case opStop:
		return true, nil
	case opMark:
		u.marks = append(u.marks, len(u.stack))
	case opPop:
		if len(u.stack) > u.floor() {
			u.stack = u.stack[:len(u.stack)-1]
		} else if _, err := u.popMark(); err != nil {
			return false, err
		}
	case opPopMark:
		if _, err := u.popMark(); err != nil {
			return false, err
		}
	case opDup:
		v, err := u.top()
		if err != nil {
			return false, err
		}
		u.push(v)
	case opNone:
		u.push(nil)
	case opNewTrue:
		u.push(true)
	case opNewFalse:
		u.push(false)
	case opEmptyTuple:
		u.push(Tuple{})
	case opEmptyList:
		u.push(&List{})
	case opEmptyDict:
		u.push(&Dict{})
	case opBinInt:
		b, err := u.read(4)
		if err != nil {
			return false, err
		}
		u.push(int64(int32(binary.LittleEndian.Uint32(b))))
	case opBinInt1:
		b, err := u.read(1)
		if err != nil {
			return false, err
		}
		u.push(int64(b[0]))
	case opBinInt2:
		b, err := u.read(2)
		if err != nil {
			return false, err
		}
		u.push(int64(binary.LittleEndian.Uint16(b)))
	case opLong1:
		b, err := u.read(1)
		if err != nil {
			return false, err
		}
		return false, u.pushLong(uint64(b[0]))
	case opLong4:
		b, err := u.read(4)
		if err != nil {
			return false, err
		}
		n := int32(binary.LittleEndian.Uint32(b))
		if n < 0 {
			return false, fmt.Errorf("negative byte count %d", n)
		}
		return false, u.pushLong(uint64(n))
	case opBinFloat:
		b, err := u.read(8)
		if err != nil {
			return false, err
		}
		u.push(math.Float64frombits(binary.BigEndian.Uint64(b)))
	case opBinUnicode, opBinString:
		b, err := u.readCounted(4)
		if err != nil {
			return false, err
		}
		u.push(string(b))
	case opShortUnicode, opShortBinString:
		b, err := u.readCounted(1)
		if err != nil {
			return false, err
		}
		u.push(string(b))
	case opBinUnicode8:
		b, err := u.readCounted(8)
		if err != nil {
			return false, err
		}
		u.push(string(b))
	case opShortBinBytes, opBinBytes, opBinBytes8:
		width := 1
		switch op {
		case opBinBytes:
			width = 4
		case opBinBytes8:
			width = 8
		}
		b, err := u.readCounted(width)
		if err != nil {
			return false, err
		}
		u.push(bytes.Clone(b))
	case opGlobal:
		module, err := u.readLine()
		if err != nil {
			return false, err
		}
		name, err := u.readLine()
		if err != nil {
			return false, err
		}
		g, err := resolveGlobal(module, name)
		if err != nil {
			return false, err
		}
		u.push(g)
	case opStackGlobal:
		module, name, err := u.pop2()
		if err != nil {
			return false, err
		}
		ms, ok1 := module.(string)
		ns, ok2 := name.(string)
		if !ok1 || !ok2 {
			return false, fmt.Errorf("module and name are %s and %s, not strings", typeName(module), typeName(name))
		}
		g, err := resolveGlobal(ms, ns)
		if err != nil {
			return false, err
		}
		u.push(g)
	case opPut, opLongPut, opMemoize:
		var idx uint64
		switch op {
		case opPut:
			b, err := u.read(1)
			if err != nil {
				return false, err
			}
			idx = uint64(b[0])
		case opLongPut:
			b, err := u.read(4)
			if err != nil {
				return false, err
			}
			idx = uint64(binary.LittleEndian.Uint32(b))
		default:
			idx = uint64(len(u.memo))
		}
		v, err := u.top()
		if err != nil {
			return false, err
		}
		u.memo[idx] = v
	case opGet, opLongGet:
		var idx uint64
		if op == opGet {
			b, err := u.read(1)
			if err != nil {
				return false, err
			}
			idx = uint64(b[0])
		} else {
			b, err := u.read(4)
			if err != nil {
				return false, err
			}
			idx = uint64(binary.LittleEndian.Uint32(b))
		}
		v, ok := u.memo[idx]
		if !ok {
			return false, fmt.Errorf("memo key %d not defined", idx)
		}
		u.push(v)
	case opTuple, opList, opDict:
		items, err := u.popMark()
		if err != nil {
			return false, err
		}
		switch op {
		case opTuple:
			u.push(Tuple(items))
		case opList:
			l := List(items)
			u.push(&l)
		default:
			d := &Dict{}
			if err := u.setItems(d, items); err != nil {
				return false, err
			}
			u.push(d)
		}
	case opTuple1, opTuple2, opTuple3:
		n := int(op-opTuple1) + 1
		if len(u.stack)-u.floor() < n {
			return false, errStackUnderflow
		}
		t := make(Tuple, n)
		copy(t, u.stack[len(u.stack)-n:])
		u.stack = u.stack[:len(u.stack)-n]
		u.push(t)
	case opAppend, opAppends:
		var items []any
		if op == opAppend {
			v, err := u.pop()
			if err != nil {
				return false, err
			}
			items = []any{v}
		} else {
			var err error
			if items, err = u.popMark(); err != nil {
				return false, err
			}
		}
		target, err := u.top()
		if err != nil {
			return false, err
		}
		l, ok := target.(*List)
		if !ok {
			return false, fmt.Errorf("can only append to a list, not to %s", typeName(target))
		}
		*l = append(*l, items...)
	case opSetItem, opSetItems:
		var items []any
		if op == opSetItem {
			k, v, err := u.pop2()
			if err != nil {
				return false, err
			}
			items = []any{k, v}
		} else {
			var err error
			if items, err = u.popMark(); err != nil {
				return false, err
			}
		}
		target, err := u.top()
		if err != nil {
			return false, err
		}
		d, ok := target.(*Dict)
		if !ok {
			return false, fmt.Errorf("can only set items of a dict, not of %s", typeName(target))
		}
		return false, u.setItems(d, items)
	case opBinPersID:
		pid, err := u.pop()
		if err != nil {
			return false, err
		}
		s, err := persistentLoad(pid)
		if err != nil {
			return false, err
		}
		u.push(s)
	case opReduce:
		fn, t, err := u.popCall()
		if err != nil {
			return false, err
		}
		v, err := u.call(fn, t)
		if err != nil {
			return false, err
		}
		u.push(v)
	case opNewObj:
		cls, t, err := u.popCall()
		if err != nil {
			return false, err
		}
		if cls != callOrderedDict || len(t) != 0 {
			return false, fmt.Errorf("cannot create a new %s object", typeName(cls))
		}
		u.push(&Dict{Ordered: true})
	case opBuild:
		state, err := u.pop()
		if err != nil {
			return false, err
		}
		inst, err := u.top()
		if err != nil {
			return false, err
		}
		switch inst := inst.(type) {
		case *Dict:
			inst.State = state
		case *Entry:
			// Python attributes of a tensor; a state dict has no use for them.
		default:
			return false, fmt.Errorf("cannot set the state of %s", typeName(inst))
		}
	default:
		return false, unsupported("unsupported opcode")
	}
	return false, nil
}

func (u *unpickler) push(v any) { u.stack = append(u.stack, v) }

// floor returns the stack length at the innermost MARK.
func (u *unpickler) floor() int {
	if len(u.marks) == 0 {
		return 0
	}
	return u.marks[len(u.marks)-1]
}

func (u *unpickler) pop() (any, error) {
	if len(u.stack) <= u.floor() {
		return nil, errStackUnderflow
	}
	v := u.stack[len(u.stack)-1]
	u.stack = u.stack[:len(u.stack)-1]
	return v, nil
}

// pop2 removes the top two items and returns them in the order they were
// pushed.
func (u *unpickler) pop2() (a, b any, err error) {
	if b, err = u.pop(); err != nil {
		return nil, nil, err
	}
	if a, err = u.pop(); err != nil {
		return nil, nil, err
	}
	return a, b, nil
}

// popCall removes a callable and the tuple of its arguments, pushed in that
// order (REDUCE, NEWOBJ).
func (u *unpickler) popCall() (fn any, args Tuple, err error) {
	fn, a, err := u.pop2()
	if err != nil {
		return nil, nil, err
	}
	args, ok := a.(Tuple)
	if !ok {
		return nil, nil, fmt.Errorf("arguments are %s, not a tuple", typeName(a))
	}
	return fn, args, nil
}

func (u *unpickler) top() (any, error) {
	if len(u.stack) <= u.floor() {
		return nil, errStackUnderflow
	}
	return u.stack[len(u.stack)-1], nil
}

// popMark removes and returns the items pushed since the innermost MARK.
func (u *unpickler) popMark() ([]any, error) {
	if len(u.marks) == 0 {
		return nil, errors.New("no MARK on the stack")
	}
	m := u.marks[len(u.marks)-1]
	u.marks = u.marks[:len(u.marks)-1]
	items := make([]any, len(u.stack)-m)
	copy(items, u.stack[m:])
	u.stack = u.stack[:m]
	return items, nil
}

func (u *unpickler) read(n int) ([]byte, error) {
	if n > len(u.data)-u.pos {
		return nil, fmt.Errorf("pickle truncated: need %d bytes at offset %d, have %d", n, u.pos, len(u.data)-u.pos)
	}
	b := u.data[u.pos : u.pos+n]
	u.pos += n
	return b, nil
}

// readCounted reads a little-endian length of width bytes, then that many
// bytes.
func (u *unpickler) readCounted(width int) ([]byte, error) {
	b, err := u.read(width)
	if err != nil {
		return nil, err
	}
	var n uint64
	for i := width - 1; i >= 0; i-- {
		n = n<<8 | uint64(b[i])
	}
	if n > uint64(len(u.data)-u.pos) {
		return nil, fmt.Errorf("pickle truncated: string of %d bytes at offset %d, have %d", n, u.pos, len(u.data)-u.pos)
	}
	return u.read(int(n))
}

func (u *unpickler) readLine() (string, error) {
	i := bytes.IndexByte(u.data[u.pos:], '\n')
	if i < 0 {
		return "", fmt.Errorf("pickle truncated: no newline after offset %d", u.pos)
	}
	s := string(u.data[u.pos : u.pos+i])
	u.pos += i + 1
	return s, nil
}

// pushLong reads an n-byte little-endian two's complement integer.
func (u *unpickler) pushLong(n uint64) error {
	if n > uint64(len(u.data)-u.pos) {
		return fmt.Errorf("pickle truncated: integer of %d bytes at offset %d, have %d", n, u.pos, len(u.data)-u.pos)
	}
	b, _ := u.read(int(n))
	u.push(decodeLong(b))
	return nil
}

// decodeLong decodes a little-endian two's complement integer as an int64
// where it fits, else as a *big.Int.
func decodeLong(b []byte) any {
	if len(b) == 0 {
		return int64(0)
	}
	if len(b) <= 8 {
		var v uint64
		for i := len(b) - 1; i >= 0; i-- {
			v = v<<8 | uint64(b[i])
		}
		shift := 64 - 8*uint(len(b))
		return int64(v<<shift) >> shift // sign-extend
	}
	be := make([]byte, len(b))
	for i := range b {
		be[len(b)-1-i] = b[i]
	}
	v := new(big.Int).SetBytes(be)
	if b[len(b)-1]&0x80 != 0 {
		v.Sub(v, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	if v.IsInt64() {
		return v.Int64()
	}
	return v
}

// setItems stores key/value pairs into d with Python's semantics: a key
// already present keeps its position and gets the new value.
func (u *unpickler) setItems(d *Dict, kv []any) error {
	if len(kv)%2 != 0 {
		return fmt.Errorf("odd number of items (%d) for a dict", len(kv))
	}
	idx := u.index[d]
	if idx == nil {
		idx = make(map[any]int, len(kv)/2)
		for i, it := range d.Items {
			h, err := u.keys.hashKey(it.Key)
			if err != nil {
				return err
			}
			idx[h] = i
		}
		u.index[d] = idx
	}
	for i := 0; i < len(kv); i += 2 {
		k, v := kv[i], kv[i+1]
		h, err := u.keys.hashKey(k)
		if err != nil {
			return err
		}
		if pos, ok := idx[h]; ok {
			d.Items[pos].Value = v
			continue
		}
		idx[h] = len(d.Items)
		d.Items = append(d.Items, Item{Key: k, Value: v})
	}
	return nil
}
