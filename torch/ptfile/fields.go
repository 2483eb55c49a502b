package ptfile

import (
	"fmt"
	"math"
)

// NewDict returns a dict of alternating keys and values, in that order:
// NewDict("lr", 0.1, "params", list) is Python's {"lr": 0.1, "params": list}.
func NewDict(kv ...any) *Dict {
	d := &Dict{}
	for i := 0; i+1 < len(kv); i += 2 {
		d.Items = append(d.Items, Item{Key: kv[i], Value: kv[i+1]})
	}
	return d
}

// NewList returns a Python list of ints or floats.
func NewList[T int | int64 | float64](v []T) *List {
	l := make(List, len(v))
	for i, x := range v {
		switch x := any(x).(type) {
		case int:
			l[i] = int64(x)
		default:
			l[i] = x
		}
	}
	return &l
}

// Fields reads typed values out of a dict that torch.load would give
// Python (a state_dict's hyper-parameters, say), or one built in Go with
// Go ints among its values, keeping the first error:
// a reader calls the accessors for every key it needs and then checks Err
// once. A missing key or a value of another type sets the error, naming the
// key, and the accessor returns the zero value.
type Fields struct {
	d   *Dict
	err error
}

// NewFields returns a reader of d's values.
func NewFields(d *Dict) *Fields { return &Fields{d: d} }

// Err returns the first error met, or nil.
func (f *Fields) Err() error { return f.err }

func (f *Fields) get(key string) any {
	v, ok := f.d.Get(key)
	if !ok && f.err == nil {
		f.err = fmt.Errorf("no %q", key)
	}
	return v
}

func (f *Fields) fail(key, want string, v any) {
	if f.err == nil {
		f.err = fmt.Errorf("%q is %s, want %s", key, DescribeValue(v), want)
	}
}

// Float reads a Python float or int (None reads as 0).
func (f *Fields) Float(key string) float64 {
	switch v := f.get(key).(type) {
	case float64:
		return v
	case int64:
		return float64(v)
	case int:
		return float64(v)
	case nil: // missing (the error is set) or None
	default:
		f.fail(key, "a number", v)
	}
	return 0
}

// Int reads a Python int that fits an int32.
func (f *Fields) Int(key string) int {
	v := f.get(key)
	if i, ok := v.(int); ok {
		v = int64(i)
	}
	if i, ok := v.(int64); ok && i >= math.MinInt32 && i <= math.MaxInt32 {
		return int(i)
	}
	f.fail(key, "an int", v)
	return 0
}

// Bool reads a Python bool.
func (f *Fields) Bool(key string) bool {
	v := f.get(key)
	b, ok := v.(bool)
	if !ok {
		f.fail(key, "a bool", v)
	}
	return b
}

// OptBool reads a bool that may be missing or None (both false); it sets
// no error.
func (f *Fields) OptBool(key string) bool {
	v, _ := f.d.Get(key)
	b, _ := v.(bool)
	return b
}

// String reads a Python str.
func (f *Fields) String(key string) string {
	v := f.get(key)
	s, ok := v.(string)
	if !ok {
		f.fail(key, "a str", v)
	}
	return s
}

// Seq reads a Python list or tuple (None reads as empty).
func (f *Fields) Seq(key string) []any {
	switch v := f.get(key).(type) {
	case *List:
		return *v
	case Tuple:
		return v
	case nil: // missing (the error is set) or None
	default:
		f.fail(key, "a list", v)
	}
	return nil
}

// Ints reads a list of ints.
func (f *Fields) Ints(key string) []int {
	var out []int
	for _, v := range f.Seq(key) {
		if i, ok := v.(int); ok {
			v = int64(i)
		}
		i, ok := v.(int64)
		if !ok {
			f.fail(key, "a list of ints", v)
			return nil
		}
		out = append(out, int(i))
	}
	return out
}

// Floats reads a list of floats or ints.
func (f *Fields) Floats(key string) []float64 {
	var out []float64
	for _, v := range f.Seq(key) {
		switch x := v.(type) {
		case float64:
			out = append(out, x)
		case int64:
			out = append(out, float64(x))
		case int:
			out = append(out, float64(x))
		default:
			f.fail(key, "a list of numbers", v)
			return nil
		}
	}
	return out
}

// DescribeValue names the Python type of a value read from a torch.save
// file, for error messages: "a dict", "a tensor", "None", ...
func DescribeValue(v any) string {
	switch v.(type) {
	case nil:
		return "None"
	case *Dict:
		return "a dict"
	case *List:
		return "a list"
	case Tuple:
		return "a tuple"
	case *Entry:
		return "a tensor"
	case string:
		return "a str"
	case float64:
		return "a float"
	case int64, int:
		return "an int"
	case bool:
		return "a bool"
	}
	return fmt.Sprintf("a %T", v)
}
