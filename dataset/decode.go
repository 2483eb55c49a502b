package dataset

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
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
	var img image.Image
	var err error
	switch {
	case bytes.HasPrefix(data, []byte("\xff\xd8")):
		img, err = jpeg.Decode(bytes.NewReader(data))
	case bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")):
		img, err = png.Decode(bytes.NewReader(data))
	default:
		return errors.New("not a PNG or JPEG image")
	}
	if err != nil {
		return fmt.Errorf("cannot decode image: %w", err)
	}
	if b := img.Bounds(); b.Dx() != Width || b.Dy() != Height {
		return fmt.Errorf("image is %dx%d, want %dx%d", b.Dx(), b.Dy(), Width, Height)
	}
	toRGB(img, dst)
	return nil
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
