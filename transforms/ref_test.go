package transforms

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"gotrain/internal/pyref"
)

// python is the interpreter with numpy and OpenCV (Debian's python3-opencv).
const python = pyref.Python

// needCV2 skips the test unless python3 with cv2 and numpy is available
// (under CI it fails instead), and marks it parallel: these tests spend
// most of their time waiting for the interpreter.
func needCV2(t *testing.T) {
	t.Helper()
	pyref.Require(t, "cv2", "numpy")
	t.Parallel()
}

// reference runs testdata/cv2_ref.py in mode over the given input files and
// returns its out.bin.
func reference(t *testing.T, mode string, h, w int, files map[string][]byte) []byte {
	t.Helper()
	dir := t.TempDir()
	files["hw.txt"] = fmt.Appendf(nil, "%d %d", h, w)
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	script, err := filepath.Abs("testdata/cv2_ref.py")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(python, script, mode, dir).CombinedOutput(); err != nil {
		t.Fatalf("cv2_ref.py %s: %v\n%s", mode, err, out)
	}
	out, err := os.ReadFile(filepath.Join(dir, "out.bin"))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func float64Bytes(v []float64) []byte {
	b := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(x))
	}
	return b
}

// randomImage returns an h×w image of uniform noise.
func randomImage(r *rand.Rand, h, w int) *Image {
	img := NewImage(h, w)
	for i := range img.Pix {
		img.Pix[i] = uint8(r.UintN(256))
	}
	return img
}

// smoothImage returns an h×w image of smooth color ramps plus mild noise,
// closer to a photograph than uniform noise.
func smoothImage(r *rand.Rand, h, w int) *Image {
	img := NewImage(h, w)
	a, b, c := r.Float64()*6, r.Float64()*6, r.Float64()*6
	for y := range h {
		for x := range w {
			img.Set(x, y, 0, clipTrunc(128+100*math.Sin(a+float64(x)/5)+float64(r.IntN(9))))
			img.Set(x, y, 1, clipTrunc(128+100*math.Cos(b+float64(y)/7)+float64(r.IntN(9))))
			img.Set(x, y, 2, clipTrunc(128+90*math.Sin(c+float64(x+y)/9)))
		}
	}
	return img
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) }

// diffCount compares got to want and reports the number of differing bytes
// and the first difference.
func diffCount(got, want []uint8) (n, first int) {
	first = -1
	for i := range got {
		if got[i] != want[i] {
			if first < 0 {
				first = i
			}
			n++
		}
	}
	return n, first
}
