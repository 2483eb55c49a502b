package ptfile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
)

// FromJSON converts a JSON text into the Python values of a torch.save
// file, as json.loads would: objects become dicts (keys in order), arrays
// lists, numbers ints when written without a fraction or exponent and
// floats otherwise, null None. It lets a JSON-encodable Go value be
// stored as plain Python values that torch.load(weights_only=True) reads.
func FromJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := decodeJSON(dec, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err == nil {
		return nil, errors.New("ptfile: JSON text has more than one value")
	}
	return v, nil
}

func decodeJSON(dec *json.Decoder, depth int) (any, error) {
	if depth > maxJSONDepth {
		return nil, errors.New("ptfile: JSON nested too deeply")
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		if t == '{' {
			d := &Dict{}
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return nil, err
				}
				v, err := decodeJSON(dec, depth+1)
				if err != nil {
					return nil, err
				}
				d.Items = append(d.Items, Item{Key: k.(string), Value: v})
			}
			_, err := dec.Token() // '}'
			return d, err
		}
		l := List{}
		for dec.More() {
			v, err := decodeJSON(dec, depth+1)
			if err != nil {
				return nil, err
			}
			l = append(l, v)
		}
		_, err := dec.Token() // ']'
		return &l, err
	case json.Number:
		if i, err := t.Int64(); err == nil {
			return i, nil
		}
		return t.Float64()
	default: // string, bool, nil
		return t, nil
	}
}

// maxJSONDepth bounds the nesting of the values FromJSON and ToJSON take.
const maxJSONDepth = 64

// ToJSON encodes a tree of Python values (dicts with str keys, lists,
// tuples, str, int, float, bool, None) as JSON text, the inverse of
// FromJSON; non-finite floats, which JSON lacks, become null. Other values
// (tensors, say) are refused.
func ToJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	if err := writeJSON(&b, v, 0); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func writeJSON(b *bytes.Buffer, v any, depth int) error {
	if depth > maxJSONDepth {
		return errors.New("nested too deeply")
	}
	switch v := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		b.WriteString(strconv.FormatBool(v))
	case int64:
		b.WriteString(strconv.FormatInt(v, 10))
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			b.WriteString("null")
		} else {
			b.WriteString(strconv.FormatFloat(v, 'g', -1, 64))
		}
	case string:
		s, _ := json.Marshal(v)
		b.Write(s)
	case *List:
		return writeJSONList(b, *v, depth)
	case Tuple:
		return writeJSONList(b, v, depth)
	case *Dict:
		b.WriteByte('{')
		for i, it := range v.Items {
			k, ok := it.Key.(string)
			if !ok {
				return fmt.Errorf("dict key %v is not a str", it.Key)
			}
			if i > 0 {
				b.WriteByte(',')
			}
			ks, _ := json.Marshal(k)
			b.Write(ks)
			b.WriteByte(':')
			if err := writeJSON(b, it.Value, depth+1); err != nil {
				return fmt.Errorf("%s: %w", k, err)
			}
		}
		b.WriteByte('}')
	default:
		return fmt.Errorf("unexpected %s", DescribeValue(v))
	}
	return nil
}

func writeJSONList(b *bytes.Buffer, l []any, depth int) error {
	b.WriteByte('[')
	for i, x := range l {
		if i > 0 {
			b.WriteByte(',')
		}
		if err := writeJSON(b, x, depth+1); err != nil {
			return err
		}
	}
	b.WriteByte(']')
	return nil
}
