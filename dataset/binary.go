package dataset

import (
	"fmt"
	"io"
)

// RecordSize is the size of one record of the official binary release: a
// label byte followed by the 32x32 red, green and blue planes (row-major).
const RecordSize = 1 + ImageSize

// maxBatchFile bounds the size of one binary batch file (an official batch is
// 30,730,000 bytes), so that a damaged archive header cannot make the reader
// allocate an absurd buffer.
const maxBatchFile = 1 << 30

// ReadBinary reads one file of the official binary release (data_batch_N.bin
// or test_batch.bin) from r and returns its images converted to HWC. name is
// used in error messages only. It fails if the data is not a whole number of
// records, holds no record, or has a label outside [0, len(Classes)).
func ReadBinary(r io.Reader, name string) (*Set, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxBatchFile+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(data) > maxBatchFile {
		return nil, fmt.Errorf("%s: larger than %d bytes, not a CIFAR-10 batch", name, maxBatchFile)
	}
	return parseBinary(data, name)
}

// parseBinary converts the records in data; name is used in error messages.
func parseBinary(data []byte, name string) (*Set, error) {
	if len(data)%RecordSize != 0 {
		return nil, fmt.Errorf("%s: size %d is not a multiple of the %d-byte record (truncated or not a CIFAR-10 batch)", name, len(data), RecordSize)
	}
	n := len(data) / RecordSize
	if n == 0 {
		return nil, fmt.Errorf("%s: holds no records", name)
	}
	s := &Set{Images: make([]byte, n*ImageSize), Labels: make([]uint8, n)}
	const plane = Height * Width
	for i := range n {
		rec := data[i*RecordSize : (i+1)*RecordSize]
		if int(rec[0]) >= len(Classes) {
			return nil, fmt.Errorf("%s: record %d: label %d out of range [0, %d)", name, i, rec[0], len(Classes))
		}
		s.Labels[i] = rec[0]
		r, g, b := rec[1:1+plane], rec[1+plane:1+2*plane], rec[1+2*plane:1+3*plane]
		out := s.Image(i)
		for p := range plane {
			out[3*p], out[3*p+1], out[3*p+2] = r[p], g[p], b[p]
		}
	}
	return s, nil
}

// concat joins sets into one new set, in order.
func concat(sets ...*Set) *Set {
	n := 0
	for _, s := range sets {
		n += s.Len()
	}
	out := &Set{Images: make([]byte, 0, n*ImageSize), Labels: make([]uint8, 0, n)}
	for _, s := range sets {
		out.Images = append(out.Images, s.Images...)
		out.Labels = append(out.Labels, s.Labels...)
	}
	return out
}
