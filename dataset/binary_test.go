package dataset

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestReadBinaryConvertsPlanarToHWC(t *testing.T) {
	var data []byte
	labels := []byte{3, 0, 9}
	for k, l := range labels {
		data = append(data, record(k, l)...)
	}
	s, err := ReadBinary(bytes.NewReader(data), "batch.bin")
	if err != nil {
		t.Fatal(err)
	}
	if s.Len() != 3 || !bytes.Equal(s.Labels, labels) {
		t.Fatalf("got %d images, labels %v; want 3, %v", s.Len(), s.Labels, labels)
	}
	for k := range labels {
		if !bytes.Equal(s.Image(k), hwc(k)) {
			t.Fatalf("image %d differs from the hand-built HWC layout", k)
		}
	}
}

// TestReadBinaryMatchesNumpy checks the conversion against the usual Python
// recipe: reshape(3, 32, 32).transpose(1, 2, 0).
func TestReadBinaryMatchesNumpy(t *testing.T) {
	needPIL(t)
	rec := record(5, 7)
	p := writeFile(t, t.TempDir(), "one.bin", rec)
	want := runPython(t, `
import sys, numpy as np
r = np.fromfile(sys.argv[1], dtype=np.uint8)
sys.stdout.buffer.write(r[1:].reshape(3, 32, 32).transpose(1, 2, 0).tobytes())`, p)
	s, err := ReadBinary(bytes.NewReader(rec), p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(s.Image(0), want) || s.Labels[0] != 7 {
		t.Fatal("conversion differs from numpy's reshape(3,32,32).transpose(1,2,0)")
	}
}

func TestReadBinaryErrors(t *testing.T) {
	good := append(record(0, 1), record(1, 2)...)
	badLabel := append(record(0, 1), record(1, 10)...)
	for _, tc := range []struct {
		name string
		data []byte
		want []string
	}{
		{"truncated", good[:len(good)-5], []string{"truncated.bin", "not a multiple of the 3073-byte record"}},
		{"extra", append(good, 0), []string{"extra.bin", "not a multiple"}},
		{"label", badLabel, []string{"label.bin", "record 1", "label 10 out of range"}},
		{"empty", nil, []string{"empty.bin", "no records"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadBinary(bytes.NewReader(tc.data), tc.name+".bin")
			mustErr(t, err, tc.want...)
		})
	}
}

// checkBinarySets checks sets loaded from binaryRelease(..., per).
func checkBinarySets(t *testing.T, train, test *Set, per int) {
	t.Helper()
	if train.Len() != 5*per || test.Len() != per {
		t.Fatalf("got %d+%d images, want %d+%d", train.Len(), test.Len(), 5*per, per)
	}
	for _, c := range []struct {
		s    *Set
		base int
	}{{train, 0}, {test, 5 * per}} {
		for i := range c.s.Len() {
			k := c.base + i
			if c.s.Labels[i] != uint8(k%10) || !bytes.Equal(c.s.Image(i), hwc(k)) {
				t.Fatalf("image %d (record %d) wrong: label %d", i, k, c.s.Labels[i])
			}
		}
	}
}

func TestLoadBinary(t *testing.T) {
	const per = 10 // every batch holds all ten classes
	release := binaryRelease("cifar-10-batches-bin/", per)

	t.Run("folder", func(t *testing.T) {
		dir := t.TempDir()
		writeTree(t, dir, release)
		train, test, err := Load(dir, "")
		if err != nil {
			t.Fatal(err)
		}
		checkBinarySets(t, train, test, per)
		// The batch folder itself works too.
		train, test, err = Load(filepath.Join(dir, "cifar-10-batches-bin"), "")
		if err != nil {
			t.Fatal(err)
		}
		checkBinarySets(t, train, test, per)
	})
	for _, gz := range []bool{true, false} {
		name := map[bool]string{true: "tar.gz", false: "tar"}[gz]
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			// Archive order shuffled: the reader must not depend on it.
			shuffled := append([]file{release[5], release[2]}, release[0], release[1], release[3], release[4], release[6])
			p := writeFile(t, dir, "cifar-10-binary."+name, tarBytes(t, shuffled, gz))
			train, test, err := Load(p, "")
			if err != nil {
				t.Fatal(err)
			}
			checkBinarySets(t, train, test, per)
			// A folder holding the archive is read through it.
			train, test, err = Load(dir, "")
			if err != nil {
				t.Fatal(err)
			}
			checkBinarySets(t, train, test, per)
		})
	}
	raw := tarBytes(t, release, false)
	for _, tc := range []struct {
		name string
		data []byte
	}{
		// Zero padding after the gzip data, as blocking tools leave it:
		// gzip -t and Python's tarfile accept it.
		{"tar.gz padded with zeros", append(gzipBytes(t, raw), make([]byte, 10240)...)},
		// Concatenated gzip members, as gzip -d reads them.
		{"tar.gz in two gzip members", append(gzipBytes(t, raw[:5000]), gzipBytes(t, raw[5000:])...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := writeFile(t, t.TempDir(), "c.tar.gz", tc.data)
			train, test, err := Load(p, "")
			if err != nil {
				t.Fatal(err)
			}
			checkBinarySets(t, train, test, per)
		})
	}
}

func TestLoadBinaryErrors(t *testing.T) {
	const per = 10
	t.Run("missing batch", func(t *testing.T) {
		dir := t.TempDir()
		writeTree(t, dir, binaryRelease("cifar-10-batches-bin/", per)[:5]) // no test_batch
		_, _, err := Load(dir, "")
		mustErr(t, err, dir, "cifar-10-batches-bin/test_batch.bin is missing")
	})
	t.Run("bad size in folder", func(t *testing.T) {
		dir := t.TempDir()
		files := binaryRelease("cifar-10-batches-bin/", per)
		files[2].data = files[2].data[:len(files[2].data)-1]
		writeTree(t, dir, files)
		_, _, err := Load(dir, "")
		mustErr(t, err, filepath.Join(dir, "cifar-10-batches-bin", "data_batch_3.bin"), "not a multiple of the 3073-byte record")
	})
	t.Run("bad label in archive", func(t *testing.T) {
		files := binaryRelease("cifar-10-batches-bin/", per)
		files[5].data[RecordSize] = 200 // second record of test_batch.bin
		p := writeFile(t, t.TempDir(), "c.tar.gz", tarBytes(t, files, true))
		_, _, err := Load(p, "")
		mustErr(t, err, p+": cifar-10-batches-bin/test_batch.bin", "record 1", "label 200")
	})
	t.Run("truncated archive", func(t *testing.T) {
		data := tarBytes(t, binaryRelease("cifar-10-batches-bin/", per), true)
		for _, n := range []int{20, len(data) / 2, len(data) - 4} {
			p := writeFile(t, t.TempDir(), "c.tar.gz", data[:n])
			_, _, err := Load(p, "")
			mustErr(t, err, p, "truncated or damaged", "unexpected EOF")
		}
	})
	t.Run("tar cut at a block boundary", func(t *testing.T) {
		// The tar reader alone takes a stream that ends where a header
		// would start for a complete archive.
		data := tarBytes(t, binaryRelease("cifar-10-batches-bin/", per), false)
		dir, cacheDir := t.TempDir(), t.TempDir()
		for n := 512; n <= len(data)-1024; n += 512 {
			p := writeFile(t, dir, "c.tar", data[:n])
			_, _, err := Load(p, cacheDir)
			mustErr(t, err, p, "truncated")
			p = writeFile(t, dir, "c.tar.gz", gzipBytes(t, data[:n]))
			_, _, err = Load(p, cacheDir)
			mustErr(t, err, p, "truncated")
		}
		if files := cacheFiles(t, cacheDir); len(files) > 0 {
			t.Fatalf("truncated archives left cache files %v", files)
		}
	})
	t.Run("one zero block ends the archive", func(t *testing.T) {
		// As GNU tar and Python's tarfile do, accept an end-of-archive
		// marker of one block instead of two.
		data := tarBytes(t, binaryRelease("cifar-10-batches-bin/", per), false)
		p := writeFile(t, t.TempDir(), "c.tar", data[:len(data)-512])
		train, test, err := Load(p, "")
		if err != nil {
			t.Fatal(err)
		}
		checkBinarySets(t, train, test, per)
	})
	t.Run("trailing garbage after gzip data", func(t *testing.T) {
		data := tarBytes(t, binaryRelease("cifar-10-batches-bin/", per), true)
		data = append(append(data, make([]byte, 100)...), "junk"...)
		p := writeFile(t, t.TempDir(), "c.tar.gz", data)
		_, _, err := Load(p, "")
		mustErr(t, err, p, "unexpected data after the compressed stream")
	})
	t.Run("damaged gzip trailer", func(t *testing.T) {
		data := tarBytes(t, binaryRelease("cifar-10-batches-bin/", per), true)
		data[len(data)-8] ^= 0xff // the CRC-32 of the uncompressed data
		p := writeFile(t, t.TempDir(), "c.tar.gz", data)
		_, _, err := Load(p, "")
		mustErr(t, err, p, "checksum")
	})
	t.Run("not an archive", func(t *testing.T) {
		p := writeFile(t, t.TempDir(), "c.tar.gz", bytes.Repeat([]byte("not a tar file "), 100))
		_, _, err := Load(p, "")
		mustErr(t, err, p, "not a .tar or .tar.gz archive")
	})
	t.Run("short file, not an archive", func(t *testing.T) {
		p := writeFile(t, t.TempDir(), "c.tar.gz", []byte("garbage\n"))
		_, _, err := Load(p, "")
		mustErr(t, err, p, "not a .tar or .tar.gz archive")
	})
	t.Run("archive without data", func(t *testing.T) {
		p := writeFile(t, t.TempDir(), "c.tar", tarBytes(t, []file{{"README", []byte("hi")}}, false))
		_, _, err := Load(p, "")
		mustErr(t, err, p)
		if !errors.Is(err, ErrNoData) {
			t.Fatalf("error %v does not wrap ErrNoData", err)
		}
	})
	t.Run("no such path", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "nowhere")
		_, _, err := Load(p, "")
		mustErr(t, err, p)
		if !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("error %v does not wrap os.ErrNotExist", err)
		}
	})
}
