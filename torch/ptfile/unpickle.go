package ptfile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
)

// Pickle opcodes (see Python's pickletools for their definitions).
const (
	opMark           = '('
	opStop           = '.'
	opPop            = '0'
	opPopMark        = '1'
	opDup            = '2'
	opNone           = 'N'
	opBinInt         = 'J'
	opBinInt1        = 'K'
	opBinInt2        = 'M'
	opBinString      = 'T'
	opShortBinString = 'U'
	opBinUnicode     = 'X'
	opBinFloat       = 'G'
	opAppend         = 'a'
	opAppends        = 'e'
	opBuild          = 'b'
	opGlobal         = 'c'
	opDict           = 'd'
	opEmptyDict      = '}'
	opGet            = 'h'
	opLongGet        = 'j'
	opList           = 'l'
	opEmptyList      = ']'
	opPut            = 'q'
	opLongPut        = 'r'
	opBinPersID      = 'Q'
	opReduce         = 'R'
	opSetItem        = 's'
	opSetItems       = 'u'
	opTuple          = 't'
	opEmptyTuple     = ')'
	opBinBytes       = 'B'
	opShortBinBytes  = 'C'
	opProto          = 0x80
	opNewObj         = 0x81
	opTuple1         = 0x85
	opTuple2         = 0x86
	opTuple3         = 0x87
	opNewTrue        = 0x88
	opNewFalse       = 0x89
	opLong1          = 0x8a
	opLong4          = 0x8b
	opShortUnicode   = 0x8c
	opBinUnicode8    = 0x8d
	opBinBytes8      = 0x8e
	opStackGlobal    = 0x93
	opMemoize        = 0x94
	opFrame          = 0x95
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
	return nil, fmt.Errorf("unsupported global %s.%s", module, name)
}

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

func opName(op byte) string {
	if op >= 0x20 && op < 0x7f {
		return fmt.Sprintf("%q", rune(op))
	}
	return fmt.Sprintf("0x%02x", op)
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
			return false, fmt.Errorf("unsupported pickle protocol %d", b[0])
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
		return false, errors.New("unsupported opcode")
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
		return fmt.Errorf("dict keys need more than %d bytes of hashing, the limit for this pickle", h.limit)
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
		return nil, 0, errors.New("dict key nested too deeply")
	}
	var ident tupleIdentity
	if len(t) > 0 {
		ident = tupleIdentity{&t[0], len(t)}
		if o, ok := h.objects[ident]; ok {
			if depth+o.height > maxKeyDepth {
				return nil, 0, errors.New("dict key nested too deeply")
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
			return nil, fmt.Errorf("unsupported _codecs.encode%s", describe(args))
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
			return nil, fmt.Errorf("bytes%s is not supported", describe(args))
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
