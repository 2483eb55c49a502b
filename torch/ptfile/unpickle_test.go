package ptfile

import (
	"bytes"
	"encoding/binary"
	"math/big"
	"strings"
	"testing"
	"time"
)

// selfPairPickle pickles {t: 2} where t = (t', t') is built from the int 1
// by DUP and TUPLE2 repeated depth times, twice: the second, separately
// built t must replace the first one's value. A pickle of a few bytes
// describes a tuple of 2**depth leaves.
func selfPairPickle(depth int) []byte {
	tower := "K\x01" + strings.Repeat("2\x86", depth)
	return []byte("\x80\x02}" + tower + "K\x01s" + tower + "K\x02s.")
}

// bigKeyPickle pickles {n: None} where n is an integer of size bytes,
// memoized and set as the key again reuses times.
func bigKeyPickle(size, reuses int) []byte {
	b := []byte("\x80\x02}\x8b")
	b = binary.LittleEndian.AppendUint32(b, uint32(size))
	n := bytes.Repeat([]byte{0x5a}, size)
	b = append(b, n...)
	b = append(b, "q\x00Ns"...)
	b = append(b, bytes.Repeat([]byte("h\x00Ns"), reuses)...)
	return append(b, '.')
}

// stringKeyPickle pickles {s: None} where s is a string of size bytes,
// memoized and set as the key again reuses times.
func stringKeyPickle(size, reuses int) []byte {
	b := []byte("\x80\x02}X")
	b = binary.LittleEndian.AppendUint32(b, uint32(size))
	b = append(b, bytes.Repeat([]byte{'s'}, size)...)
	b = append(b, "q\x00Ns"...)
	b = append(b, bytes.Repeat([]byte("h\x00Ns"), reuses)...)
	return append(b, '.')
}

// unpickleWithin unpickles pkl, failing the test if that takes longer than
// limit (the test then leaves the work running).
func unpickleWithin(t *testing.T, pkl []byte, limit time.Duration) (any, error) {
	t.Helper()
	type result struct {
		v   any
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, _, err := unpickle(pkl)
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-time.After(limit):
		t.Fatalf("unpickling %d bytes took more than %v", len(pkl), limit)
		return nil, nil
	}
}

func TestUnpickleSharedTupleKey(t *testing.T) {
	// 2**30 leaves: hashing them one by one takes hours.
	v, err := unpickleWithin(t, selfPairPickle(30), 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	d := v.(*Dict)
	if len(d.Items) != 1 || d.Items[0].Value != int64(2) {
		t.Fatalf("got %d items, first value %v; want 1 item of value 2", len(d.Items), d.Items[0].Value)
	}
	// Get compares a separately built tower as fast.
	tower := any(int64(1))
	for range 30 {
		tower = Tuple{tower, tower}
	}
	found := make(chan bool, 1)
	go func() {
		v, ok := d.Get(tower)
		found <- ok && v == int64(2)
	}()
	select {
	case ok := <-found:
		if !ok {
			t.Error("Get did not find the key")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Get took more than 20s")
	}
	// Deeper than maxKeyDepth.
	if _, err := unpickleWithin(t, selfPairPickle(maxKeyDepth+1), 20*time.Second); err == nil || !strings.Contains(err.Error(), "nested too deeply") {
		t.Errorf("tuple key of depth %d: error %v", maxKeyDepth+1, err)
	}
}

func TestUnpickleReusedBigKey(t *testing.T) {
	v, err := unpickleWithin(t, bigKeyPickle(1<<16, 1<<14), 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	d := v.(*Dict)
	if len(d.Items) != 1 {
		t.Fatalf("got %d items, want 1", len(d.Items))
	}
	if k, ok := d.Items[0].Key.(*big.Int); !ok || k.BitLen() != 8<<16-1 {
		t.Errorf("key %v", typeName(d.Items[0].Key))
	}
}

func TestUnpickleKeyBudget(t *testing.T) {
	// 256 MiB of key bytes to hash, from a pickle of 80 KiB.
	_, err := unpickleWithin(t, stringKeyPickle(1<<16, 1<<12), 20*time.Second)
	if err == nil || !strings.Contains(err.Error(), "dict keys") {
		t.Errorf("error %v, want one about the size of the dict keys", err)
	}
	// Within the budget.
	v, err := unpickleWithin(t, stringKeyPickle(1<<16, 16), 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if d := v.(*Dict); len(d.Items) != 1 || len(d.Items[0].Key.(string)) != 1<<16 {
		t.Errorf("got %d items", len(d.Items))
	}
}

func TestUnpickleTupleKeys(t *testing.T) {
	// {(1, 'a'): 1, (1, 'a', ()): 2, (1, 'a'): 3, ((),): 4, (()): 5, (-0.0,): 6, (0.0,): 7,
	//  (nan,): 8, (nan,): 9, (b'a',): 10, ('a',): 11}
	pkl := []byte("\x80\x02}(" +
		"K\x01X\x01\x00\x00\x00a\x86K\x01" +
		"K\x01X\x01\x00\x00\x00a)\x87K\x02" +
		"K\x01X\x01\x00\x00\x00a\x86K\x03" +
		")\x85K\x04" +
		")K\x05" +
		"G\x80\x00\x00\x00\x00\x00\x00\x00\x85K\x06" +
		"G\x00\x00\x00\x00\x00\x00\x00\x00\x85K\x07" +
		"G\x7f\xf8\x00\x00\x00\x00\x00\x00\x85K\x08" +
		"G\x7f\xf8\x00\x00\x00\x00\x00\x00\x85K\x09" +
		"C\x01a\x85K\x0a" +
		"X\x01\x00\x00\x00a\x85K\x0b" +
		"u.")
	v, _, err := unpickle(pkl)
	if err != nil {
		t.Fatal(err)
	}
	var got []int64
	for _, it := range v.(*Dict).Items {
		got = append(got, it.Value.(int64))
	}
	want := []int64{3, 2, 4, 5, 7, 8, 9, 10, 11}
	if len(got) != len(want) {
		t.Fatalf("values %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("values %v, want %v", got, want)
		}
	}
}
