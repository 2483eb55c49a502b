package dataset

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image/jpeg"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// JPEG decoders agree on the format but not on the last bit: libjpeg's
// "islow" inverse DCT and Go's differ by a level here and there, which the
// colour conversion can grow to a few levels in R, G or B. Measured on 2,000
// images of the shared archive: max 3, mean 0.034, 97% of bytes identical.
// Nearest-neighbour chroma (image.YCbCr's own conversion) gives max 65, mean
// 1.13 on the same images, so these bounds do tell the two apart.
const (
	jpegMaxDiff  = 4
	jpegMeanDiff = 0.1
	jpegExact    = 0.85 // fraction of bytes that must match exactly
)

// TestDecodeImageMatchesPIL has PIL write images in the formats a CIFAR-10
// tree may hold, then compares DecodeImage with PIL's own decoding,
// Image.open(f).convert("RGB"): exact for PNG, within the bounds above for
// JPEG.
func TestDecodeImageMatchesPIL(t *testing.T) {
	needPIL(t)
	dir := t.TempDir()
	const script = `
import sys, numpy as np
from PIL import Image
d = sys.argv[1]
rng = np.random.default_rng(1)
y, x = np.mgrid[0:32, 0:32]
smooth = np.stack([x * 8, y * 8, (x + y) * 4], axis=-1)
blocks = np.kron(rng.integers(0, 256, (8, 8, 3)), np.ones((4, 4, 1)))  # sharp colour edges
noise = rng.integers(-20, 21, (32, 32, 3))
rgb = Image.fromarray(np.clip(smooth * 0.5 + blocks * 0.5 + noise, 0, 255).astype(np.uint8), "RGB")
sat = Image.fromarray(np.where(blocks > 127, 255, 0).astype(np.uint8), "RGB")  # saturated: clamping
rgb.save(d + "/q75_420.jpg", quality=75, subsampling=2)
rgb.save(d + "/q75_422.jpg", quality=75, subsampling=1)
rgb.save(d + "/q75_444.jpg", quality=75, subsampling=0)
rgb.save(d + "/q95_420.jpg", quality=95, subsampling=2)
rgb.save(d + "/progressive_420.jpg", quality=75, subsampling=2, progressive=True)
sat.save(d + "/saturated_420.jpg", quality=50, subsampling=2)
rgb.convert("L").save(d + "/gray.jpg", quality=75)
rgb.save(d + "/rgb.png")
a = rgb.copy(); a.putalpha(Image.fromarray(rng.integers(0, 256, (32, 32)).astype(np.uint8)))
a.save(d + "/rgba.png")
rgb.quantize(64).save(d + "/palette.png")
rgb.convert("L").save(d + "/gray.png")
rgb.convert("LA").save(d + "/gray_alpha.png")
`
	runPython(t, script, dir)
	names, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil || len(names) != 12 {
		t.Fatalf("PIL wrote %d files (%v), want 12", len(names), err)
	}
	want := pilDecode(t, names...)
	got := make([]byte, ImageSize)
	for i, name := range names {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := DecodeImage(data, got); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		maxDiff, mean, exact := diffStats(got, want[i])
		base := filepath.Base(name)
		t.Logf("%-20s max %d mean %.3f exact %.1f%%", base, maxDiff, mean, 100*exact)
		if strings.HasSuffix(base, ".png") {
			if maxDiff != 0 {
				t.Errorf("%s: differs from PIL by up to %d levels, want identical", base, maxDiff)
			}
			continue
		}
		if maxDiff > jpegMaxDiff || mean > jpegMeanDiff || exact < jpegExact {
			t.Errorf("%s: max diff %d (limit %d), mean %.3f (limit %.2f), %.1f%% exact (want >= %.0f%%)",
				base, maxDiff, jpegMaxDiff, mean, jpegMeanDiff, 100*exact, 100*jpegExact)
		}
	}
}

// hugePNG is a 32x32 PNG whose header claims 20000x20000 pixels.
func hugePNG() []byte {
	data := pngImage(1, Width, Height)
	// The IHDR chunk's data starts at 16 (width, then height); its CRC,
	// over type and data, at 29.
	binary.BigEndian.PutUint32(data[16:], 20000)
	binary.BigEndian.PutUint32(data[20:], 20000)
	binary.BigEndian.PutUint32(data[29:], crc32.ChecksumIEEE(data[12:29]))
	return data
}

// hugeJPEG is a 32x32 JPEG whose frame header claims 20000x20000 pixels.
func hugeJPEG() []byte {
	data := jpegImage(1, Width, Height)
	i := bytes.Index(data, []byte{0xff, 0xc0}) // SOF0: length, precision, height, width
	binary.BigEndian.PutUint16(data[i+5:], 20000)
	binary.BigEndian.PutUint16(data[i+7:], 20000)
	return data
}

// TestDecodeImageChecksSizeFirst checks that an image whose header claims a
// huge size is refused before the decoder allocates memory for it.
func TestDecodeImageChecksSizeFirst(t *testing.T) {
	for _, tc := range []struct {
		name string
		data []byte
	}{{"png", hugePNG()}, {"jpeg", hugeJPEG()}} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		err := DecodeImage(tc.data, make([]byte, ImageSize))
		runtime.ReadMemStats(&after)
		mustErr(t, err, "image is 20000x20000, want 32x32")
		if n := after.TotalAlloc - before.TotalAlloc; n > 16<<20 {
			t.Errorf("%s: refusing a %d-byte image allocated %d MB", tc.name, len(tc.data), n>>20)
		}
	}
}

// TestJPEGSize checks the header scan that precedes JPEG decoding against
// jpeg.DecodeConfig, and that files it leaves to image/jpeg still decode.
func TestJPEGSize(t *testing.T) {
	plain := jpegImage(2, 17, 40)
	soi, rest := plain[:2], plain[2:]
	for _, tc := range []struct {
		name string
		data []byte
		ok   bool // whether the scan finds the size itself
	}{
		{"plain", plain, true},
		{"comment and fill bytes", joinBytes(soi, []byte("\xff\xfe\x00\x05hi!\xff\xff"), rest), true},
		{"extraneous byte", joinBytes(soi, []byte{0x00}, rest), false},
		{"truncated", plain[:20], false},
	} {
		w, h, ok := jpegSize(tc.data)
		if ok != tc.ok {
			t.Errorf("%s: jpegSize ok = %v, want %v", tc.name, ok, tc.ok)
		}
		cfg, err := jpeg.DecodeConfig(bytes.NewReader(tc.data))
		if ok && (err != nil || w != cfg.Width || h != cfg.Height) {
			t.Errorf("%s: jpegSize %dx%d, jpeg.DecodeConfig %dx%d (%v)", tc.name, w, h, cfg.Width, cfg.Height, err)
		}
	}
	// Where the scan gives up, DecodeImage still decodes what image/jpeg
	// accepts.
	want, got := make([]byte, ImageSize), make([]byte, ImageSize)
	img := jpegImage(3, Width, Height)
	if err := DecodeImage(img, want); err != nil {
		t.Fatal(err)
	}
	if err := DecodeImage(joinBytes(img[:2], []byte{0x00}, img[2:]), got); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("JPEG with an extraneous byte: err %v, same pixels %v", err, bytes.Equal(got, want))
	}
}

// joinBytes concatenates parts.
func joinBytes(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
