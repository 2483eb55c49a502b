package ptfile

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// errNotTensor marks a state dict value that is not a tensor.
var errNotTensor = errors.New("not a tensor")

// stateDictKeys are the keys of a checkpoint dict under which Read looks for
// the state dict, in this order.
var stateDictKeys = []string{"state_dict", "model_state_dict", "model"}

// Read reads the state dict of a torch.save file of the given size and
// returns its tensors in file order.
//
// The file's top-level object must be a dict or OrderedDict. If all its
// values are tensors, it is the state dict, as written by
// torch.save(model.state_dict()). Otherwise it is taken for a checkpoint and
// the state dict is the value under the first of the keys "state_dict",
// "model_state_dict" or "model" that holds a dict, which must then map
// strings to tensors; other checkpoint values are ignored (use Load to see
// them) and their tensors are not read.
//
// Each returned Entry owns its Data, which is contiguous whatever the
// tensor's strides and storage sharing in the file.
func Read(r io.ReaderAt, size int64) ([]Entry, error) {
	entries, err := read(r, size)
	if err != nil {
		return nil, fmt.Errorf("ptfile: %w", classify(err))
	}
	return entries, nil
}

// ReadFile reads the state dict of the torch.save file at path, as Read does.
func ReadFile(path string) ([]Entry, error) {
	var entries []Entry
	err := withFile(path, func(r io.ReaderAt, size int64) (err error) {
		entries, err = read(r, size)
		return err
	})
	return entries, err
}

// Load reads a torch.save file of the given size and returns its top-level
// object as the Go values listed in the package documentation. Every tensor
// is materialized as a contiguous *Entry with an empty Name and its own
// Data; one Python tensor object that the file refers to several times is
// one *Entry.
func Load(r io.ReaderAt, size int64) (any, error) {
	v, err := load(r, size)
	if err != nil {
		return nil, fmt.Errorf("ptfile: %w", classify(err))
	}
	return v, nil
}

// LoadFile reads the torch.save file at path, as Load does.
func LoadFile(path string) (any, error) {
	var v any
	err := withFile(path, func(r io.ReaderAt, size int64) (err error) {
		v, err = load(r, size)
		return err
	})
	return v, err
}

// withFile opens path and passes it to f, wrapping errors with the path
// and classifying f's (see classify).
func withFile(path string, f func(io.ReaderAt, int64) error) error {
	file, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("ptfile: %w", err)
	}
	defer file.Close()
	info, err := file.Stat()
	if err != nil {
		return fmt.Errorf("ptfile: %w", err)
	}
	if info.IsDir() {
		return fmt.Errorf("ptfile: %s: is a directory", path)
	}
	if err := f(file, info.Size()); err != nil {
		return fmt.Errorf("ptfile: %s: %w", path, classify(err))
	}
	return nil
}

// decode opens the archive and unpickles data.pkl without reading storages.
func decode(r io.ReaderAt, size int64) (*archive, any, []*pendingTensor, error) {
	a, err := openArchive(r, size)
	if err != nil {
		return nil, nil, nil, err
	}
	root, tensors, err := a.unpickle()
	if err != nil {
		return nil, nil, nil, err
	}
	return a, root, tensors, nil
}

// unpickle decodes the archive's data.pkl without reading storages.
func (a *archive) unpickle() (any, []*pendingTensor, error) {
	pkl, _, err := a.record("data.pkl")
	if err != nil {
		return nil, nil, err
	}
	root, tensors, err := unpickle(pkl)
	if err != nil {
		return nil, nil, fmt.Errorf("%sdata.pkl: %w", a.prefix, err)
	}
	return root, tensors, nil
}

func load(r io.ReaderAt, size int64) (any, error) {
	a, root, tensors, err := decode(r, size)
	if err != nil {
		return nil, err
	}
	if err := a.materialize(tensors, nil); err != nil {
		return nil, err
	}
	return root, nil
}

func read(r io.ReaderAt, size int64) ([]Entry, error) {
	a, root, tensors, err := decode(r, size)
	if err != nil {
		return nil, err
	}
	sd, err := findStateDict(root)
	if err != nil {
		return nil, err
	}
	// Materialize only the tensors of the state dict, naming them for errors.
	pending := make(map[*Entry]*pendingTensor, len(tensors))
	for _, p := range tensors {
		pending[p.entry] = p
	}
	var todo []*pendingTensor
	names := make(map[*Entry]string, len(sd.Items))
	for _, it := range sd.Items {
		e := it.Value.(*Entry)
		if _, seen := names[e]; !seen {
			names[e] = it.Key.(string)
			todo = append(todo, pending[e])
		}
	}
	if err := a.materialize(todo, names); err != nil {
		return nil, err
	}
	entries := make([]Entry, len(sd.Items))
	used := make(map[*Entry]bool, len(sd.Items))
	for i, it := range sd.Items {
		e := it.Value.(*Entry)
		entries[i] = Entry{Name: it.Key.(string), DType: e.DType, Shape: e.Shape, Data: e.Data}
		if used[e] { // the same tensor under two names: give each its own copy
			entries[i].Shape = append([]int64(nil), e.Shape...)
			entries[i].Data = append([]byte(nil), e.Data...)
		}
		used[e] = true
	}
	return entries, nil
}

// findStateDict picks the state dict out of a file's top-level object.
func findStateDict(root any) (*Dict, error) {
	d, ok := root.(*Dict)
	if !ok {
		return nil, fmt.Errorf("top-level object is a %s, not a dict of tensors", typeName(root))
	}
	notSD := checkTensorDict(d)
	if notSD == nil {
		return d, nil
	}
	for _, k := range stateDictKeys {
		v, _ := d.Get(k)
		sub, ok := v.(*Dict)
		if !ok {
			continue
		}
		if err := checkTensorDict(sub); err != nil {
			return nil, fmt.Errorf("checkpoint key %q: %w", k, err)
		}
		return sub, nil
	}
	return nil, fmt.Errorf("no state dict: the top-level dict is none (%w) and none of the keys %s holds a dict (keys: %s)",
		notSD, strings.Join(quoteAll(stateDictKeys), ", "), keyList(d))
}

// checkTensorDict reports why d is not a dict from strings to tensors.
func checkTensorDict(d *Dict) error {
	for _, it := range d.Items {
		k, ok := it.Key.(string)
		if !ok {
			return fmt.Errorf("state dict key %s is not a string", describe(it.Key))
		}
		if _, ok := it.Value.(*Entry); !ok {
			return fmt.Errorf("state dict value %q is a %s: %w", k, typeName(it.Value), errNotTensor)
		}
	}
	return nil
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}

// keyList lists the first keys of d for error messages.
func keyList(d *Dict) string {
	var parts []string
	for i, it := range d.Items {
		if i == 8 {
			parts = append(parts, fmt.Sprintf("... %d more", len(d.Items)-i))
			break
		}
		parts = append(parts, describe(it.Key))
	}
	return strings.Join(parts, ", ")
}

// Limits on the bytes that materializing tensors may allocate, storage
// records read included, guarding against files whose small storages expand
// (through compression, zero or overlapping strides, or many views) into
// huge buffers.
const (
	maxAmplification = 8
	minOutputBudget  = 16 << 20
)

// materialize fills the Data of the pending tensors from their storages.
// names, when not nil, names the tensors for error messages.
func (a *archive) materialize(todo []*pendingTensor, names map[*Entry]string) error {
	refs := make(map[string]int)
	var keys []string
	for _, p := range todo {
		if refs[p.storage.key] == 0 {
			keys = append(keys, p.storage.key)
		}
		refs[p.storage.key]++
	}
	if err := a.checkOverlap(keys); err != nil {
		return err
	}
	budget := a.size*maxAmplification + minOutputBudget
	storages := make(map[string][]byte)
	for _, p := range todo {
		what := fmt.Sprintf("tensor on storage %q", p.storage.key)
		if name, ok := names[p.entry]; ok {
			what = fmt.Sprintf("tensor %q (storage %q)", name, p.storage.key)
		}
		data, err := a.tensorData(p, storages, refs, &budget)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		p.entry.Data = data
		if refs[p.storage.key]--; refs[p.storage.key] == 0 {
			delete(storages, p.storage.key) // let it go once its last tensor is made
		}
	}
	return nil
}

// checkOverlap reports an error if the data of two of the storage records
// with the given keys overlap in the file, as they never do in a file that
// torch.save wrote. Missing records are left for tensorData to report.
func (a *archive) checkOverlap(keys []string) error {
	type span struct {
		name       string
		start, end uint64
	}
	spans := make([]span, 0, len(keys))
	for _, k := range keys {
		f, ok := a.files[a.prefix+"data/"+k]
		if !ok {
			continue
		}
		off, err := f.DataOffset()
		if err != nil {
			return fmt.Errorf("record %s: %w", f.Name, err)
		}
		if off < 0 || uint64(off) > uint64(a.size) || f.CompressedSize64 > uint64(a.size-off) {
			return fmt.Errorf("record %s (%d bytes at offset %d) extends past the end of the %d-byte file; truncated?",
				f.Name, f.CompressedSize64, off, a.size)
		}
		spans = append(spans, span{f.Name, uint64(off), uint64(off) + f.CompressedSize64})
	}
	slices.SortFunc(spans, func(x, y span) int { return cmp.Compare(x.start, y.start) })
	for i := 1; i < len(spans); i++ {
		if prev, s := spans[i-1], spans[i]; s.start < prev.end {
			return fmt.Errorf("records %s and %s overlap in the file", prev.name, s.name)
		}
	}
	return nil
}

// tensorData returns the contiguous bytes of one pending tensor, reading its
// storage record into storages if it is not there yet. The bytes of records
// read and of tensors gathered are taken from budget.
func (a *archive) tensorData(p *pendingTensor, storages map[string][]byte, refs map[string]int, budget *int64) ([]byte, error) {
	st := p.storage
	buf, ok := storages[st.key]
	if !ok {
		f, found := a.files[a.prefix+"data/"+st.key]
		if !found {
			return nil, fmt.Errorf("storage record %sdata/%s is missing from the archive", a.prefix, st.key)
		}
		if err := charge(budget, f.UncompressedSize64, a.size); err != nil {
			return nil, fmt.Errorf("record %s: %w", f.Name, err)
		}
		var err error
		if buf, err = a.read(f); err != nil {
			return nil, err
		}
		storages[st.key] = buf
	}
	elem := st.dtype.Size()
	if avail := int64(len(buf)) / int64(elem); st.numel > avail {
		return nil, fmt.Errorf("storage of %d %v elements needs %d bytes, record %sdata/%s has %d",
			st.numel, st.dtype, st.numel*int64(elem), a.prefix, st.key, len(buf))
	}
	nbytes, err := byteSize(p.entry.Shape, elem)
	if err != nil {
		return nil, err
	}
	if nbytes == 0 {
		return []byte{}, nil
	}
	last, err := maxIndex(p.offset, p.entry.Shape, p.stride)
	if err != nil {
		return nil, err
	}
	if last >= st.numel {
		return nil, fmt.Errorf("size %v, stride %v and offset %d reach element %d, but the storage has %d elements",
			p.entry.Shape, p.stride, p.offset, last, st.numel)
	}
	if refs[st.key] == 1 && p.offset == 0 && nbytes == len(buf) && isContiguous(p.entry.Shape, p.stride) {
		return buf, nil // the tensor is its whole storage: hand it over
	}
	if err := charge(budget, uint64(nbytes), a.size); err != nil {
		return nil, err
	}
	out := make([]byte, nbytes)
	gather(out, buf, elem, p.offset, p.entry.Shape, p.stride)
	return out, nil
}

// charge takes n bytes from the budget of a file of the given size.
func charge(budget *int64, n uint64, size int64) error {
	if n > uint64(*budget) {
		return unsupported("%d more bytes of storage and tensor data exceed the limit for a %d-byte file", n, size)
	}
	*budget -= int64(n)
	return nil
}
