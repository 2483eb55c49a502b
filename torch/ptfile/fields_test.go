package ptfile

import (
	"math"
	"reflect"
	"strings"
	"testing"
)

// TestFields reads every kind of value Fields has an accessor for, and
// checks that the first problem is the one reported.
func TestFields(t *testing.T) {
	d := NewDict("lr", 0.5, "n", int64(3), "whole", int64(2), "on", true, "name", "cos",
		"ints", NewList([]int{0, 1, 2}), "floats", NewList([]float64{0.25, 1}), "mixed", &List{int64(1), 0.5},
		"tuple", Tuple{int64(4)}, "none", nil, "big", int64(math.MaxInt32)+1)
	r := NewFields(d)
	if got := r.Float("lr"); got != 0.5 {
		t.Errorf("Float(lr) = %v", got)
	}
	if got := r.Float("whole"); got != 2 {
		t.Errorf("Float of an int = %v, want 2", got)
	}
	if got := r.Int("n"); got != 3 {
		t.Errorf("Int(n) = %v", got)
	}
	if !r.Bool("on") || r.String("name") != "cos" {
		t.Error("Bool or String misread")
	}
	if got := r.Ints("ints"); !reflect.DeepEqual(got, []int{0, 1, 2}) {
		t.Errorf("Ints = %v", got)
	}
	if got := r.Floats("mixed"); !reflect.DeepEqual(got, []float64{1, 0.5}) {
		t.Errorf("Floats of ints and floats = %v", got)
	}
	if got := r.Ints("tuple"); !reflect.DeepEqual(got, []int{4}) {
		t.Errorf("Ints of a tuple = %v", got)
	}
	if r.OptBool("missing") || r.OptBool("none") {
		t.Error("OptBool of a missing key or None is not false")
	}
	if err := r.Err(); err != nil {
		t.Fatalf("no error expected, got %v", err)
	}

	for _, c := range []struct {
		read func(*Fields)
		want string
	}{
		{func(r *Fields) { r.Float("missing") }, `no "missing"`},
		{func(r *Fields) { r.Int("lr") }, `"lr" is a float, want an int`},
		{func(r *Fields) { r.Int("big") }, `"big" is an int, want an int`},
		{func(r *Fields) { r.Bool("name") }, `"name" is a str, want a bool`},
		{func(r *Fields) { r.String("ints") }, `"ints" is a list, want a str`},
		{func(r *Fields) { r.Ints("floats") }, `"floats" is a float, want a list of ints`},
		{func(r *Fields) { r.Float("on"); r.Int("lr") }, `"on" is a bool, want a number`},
	} {
		r := NewFields(d)
		c.read(r)
		if err := r.Err(); err == nil || err.Error() != c.want {
			t.Errorf("error %v, want %q", err, c.want)
		}
	}
}

// TestNewList checks that Go ints become Python ints.
func TestNewList(t *testing.T) {
	if got := *NewList([]int{7, -1}); !reflect.DeepEqual(got, List{int64(7), int64(-1)}) {
		t.Errorf("NewList of ints = %#v", got)
	}
	if d := NewDict("a", 1, "b"); len(d.Items) != 1 {
		t.Errorf("NewDict with a key left over: %d items", len(d.Items))
	}
}

// TestJSON converts JSON into Python values and back: key order, ints
// against floats, null, nesting; non-finite floats write as null, and
// values JSON cannot hold are refused naming them.
func TestJSON(t *testing.T) {
	text := `{"format":"x","epoch":2,"lr":0.05,"big":1e+300,"hist":[{"a":null,"b":true},[]],"s":"é\"q"}`
	v, err := FromJSON([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	d := v.(*Dict)
	var keys []string
	for _, it := range d.Items {
		keys = append(keys, it.Key.(string))
	}
	if strings.Join(keys, ",") != "format,epoch,lr,big,hist,s" {
		t.Errorf("keys %v, want the text's order", keys)
	}
	if e, _ := d.Get("epoch"); e != int64(2) {
		t.Errorf("epoch is %#v, want int64 2", e)
	}
	if lr, _ := d.Get("lr"); lr != 0.05 {
		t.Errorf("lr is %#v, want float 0.05", lr)
	}
	if b, _ := d.Get("big"); b != 1e300 {
		t.Errorf("1e300 is %#v, want a float", b)
	}
	back, err := ToJSON(v)
	if err != nil {
		t.Fatal(err)
	}
	if string(back) != text {
		t.Errorf("ToJSON(FromJSON(x))\n%s\nwant\n%s", back, text)
	}
	nan, err := ToJSON(&List{math.NaN(), math.Inf(1), 1.5})
	if err != nil || string(nan) != "[null,null,1.5]" {
		t.Errorf("non-finite floats: %s, %v", nan, err)
	}
	if _, err := ToJSON(NewDict(int64(1), "x")); err == nil || !strings.Contains(err.Error(), "not a str") {
		t.Errorf("int key: %v", err)
	}
	if _, err := ToJSON(NewDict("w", &Entry{})); err == nil || !strings.Contains(err.Error(), "w: unexpected a tensor") {
		t.Errorf("tensor value: %v", err)
	}
	if _, err := FromJSON([]byte(strings.Repeat("[", 100) + strings.Repeat("]", 100))); err == nil {
		t.Error("JSON nested 100 deep accepted")
	}
	if _, err := FromJSON([]byte(`{} {}`)); err == nil {
		t.Error("two JSON values accepted")
	}
}

func TestDescribeValue(t *testing.T) {
	for v, want := range map[any]string{nil: "None", "s": "a str", int64(1): "an int", 1.5: "a float", true: "a bool"} {
		if got := DescribeValue(v); got != want {
			t.Errorf("DescribeValue(%#v) = %q, want %q", v, got, want)
		}
	}
	for _, c := range []struct {
		v    any
		want string
	}{{&Dict{}, "a dict"}, {&List{}, "a list"}, {Tuple{}, "a tuple"}, {&Entry{}, "a tensor"}} {
		if got := DescribeValue(c.v); got != c.want {
			t.Errorf("DescribeValue(%T) = %q, want %q", c.v, got, c.want)
		}
	}
}
