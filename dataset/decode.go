package dataset

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
)

// maxImageFile bounds the size of one image file; a 32x32 image is a few
// kilobytes at most, so anything this large is not a CIFAR-10 image and is
// refused before it is read into memory.
const maxImageFile = 16 << 20

// DecodeImage decodes one 32x32 PNG or JPEG image (the format is recognised by
// its content, not by a file name) into dst as HWC RGB bytes; dst must be
// ImageSize bytes long. Grayscale images are replicated to three channels and
// alpha is dropped. JPEG chroma is upsampled and converted the way libjpeg does
// by default, so results match PIL's Image.open(f).convert("RGB") up to the
// small rounding differences between inverse DCTs.
func DecodeImage(data []byte, dst []byte) error {
	if len(dst) != ImageSize {
		panic(fmt.Sprintf("dataset: DecodeImage: dst has %d bytes, want %d", len(dst), ImageSize))
	}
	var (
		decode func(io.Reader) (image.Image, error)
		w, h   int
		err    error
	)
	// Check the size in the header before decoding: a damaged header may
	// claim an image large enough to exhaust memory.
	switch {
	case bytes.HasPrefix(data, []byte("\xff\xd8")):
		decode = jpeg.Decode
		var ok bool
		if w, h, ok = jpegSize(data); !ok {
			w, h, err = configSize(jpeg.DecodeConfig, data)
		}
	case bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")):
		decode = png.Decode
		w, h, err = configSize(png.DecodeConfig, data)
	default:
		return errors.New("not a PNG or JPEG image")
	}
	if err != nil {
		return fmt.Errorf("cannot decode image: %w", err)
	}
	if w != Width || h != Height {
		return fmt.Errorf("image is %dx%d, want %dx%d", w, h, Width, Height)
	}
	img, err := decode(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("cannot decode image: %w", err)
	}
	if b := img.Bounds(); b.Dx() != Width || b.Dy() != Height {
		return fmt.Errorf("image is %dx%d, want %dx%d", b.Dx(), b.Dy(), Width, Height)
	}
	toRGB(img, dst)
	return nil
}

// configSize returns the dimensions that decodeConfig reads from the header
// of an image file.
func configSize(decodeConfig func(io.Reader) (image.Config, error), data []byte) (w, h int, err error) {
	cfg, err := decodeConfig(bytes.NewReader(data))
	return cfg.Width, cfg.Height, err
}

// jpegSize returns the dimensions in the frame header (SOF0, SOF1 or SOF2
// segment, the ones image/jpeg decodes) of the JPEG file data, which starts
// with the SOI marker. It walks the segments before the frame header without
// decoding them, which costs far less than jpeg.DecodeConfig (that allocates
// a whole decoder). ok is false if the file departs from the plain segment
// structure before the frame header (a truncated segment, an unsupported
// frame type, extraneous bytes); jpeg.DecodeConfig then judges it.
func jpegSize(data []byte) (w, h int, ok bool) {
	i := 2 // after SOI
	for {
		if i >= len(data) || data[i] != 0xff {
			return 0, 0, false
		}
		for i < len(data) && data[i] == 0xff { // fill bytes may precede a marker
			i++
		}
		if i+2 >= len(data) {
			return 0, 0, false
		}
		marker := data[i]
		n := int(data[i+1])<<8 | int(data[i+2]) // segment length, itself included
		switch {
		case marker == 0xc0 || marker == 0xc1 || marker == 0xc2:
			// Length, sample precision, height, width.
			if n < 8 || i+7 >= len(data) {
				return 0, 0, false
			}
			h = int(data[i+4])<<8 | int(data[i+5])
			w = int(data[i+6])<<8 | int(data[i+7])
			return w, h, true
		case marker == 0xdb || marker == 0xc4 || marker == 0xdd || marker == 0xfe || 0xe0 <= marker && marker <= 0xef:
			// DQT, DHT, DRI, COM or APPn: skip the segment.
			if n < 2 {
				return 0, 0, false
			}
			i += 1 + n
		default:
			return 0, 0, false
		}
	}
}

// defaultWorkers is the number of decoding goroutines used when the caller
// does not choose: one per CPU the Go scheduler may use (GOMAXPROCS, which
// follows runtime.NumCPU unless the process is limited by a cgroup or the
// GOMAXPROCS variable).
func defaultWorkers() int { return runtime.GOMAXPROCS(0) }

// decodeImages decodes the images of entries into set (already sized for
// them, labels filled in) using the given number of goroutines. Entry i goes
// to image i. When several images are bad, the error of the lowest index seen
// is returned.
func decodeImages(entries []*entry, set *Set, workers int) error {
	if workers < 1 {
		workers = defaultWorkers()
	}
	workers = min(workers, len(entries))
	var (
		next   atomic.Int64
		failed atomic.Bool
		mu     sync.Mutex
		errIdx = len(entries)
		first  error
		wg     sync.WaitGroup
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !failed.Load() {
				i := int(next.Add(1)) - 1
				if i >= len(entries) {
					return
				}
				e := entries[i]
				if err := e.decode(set.Image(i)); err != nil {
					failed.Store(true)
					mu.Lock()
					if i < errIdx {
						errIdx, first = i, err
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return first
}
