// Package dataset reads CIFAR-10 (the official binary release, or class-folder
// image trees in a folder or a .tar/.tar.gz), downloads it when missing, caches
// decoded images, and feeds augmented batches to a training loop.
package dataset

import (
	"errors"
	"fmt"
)

// Classes lists CIFAR-10's class names in the official label order.
var Classes = []string{
	"airplane", "automobile", "bird", "cat", "deer",
	"dog", "frog", "horse", "ship", "truck",
}

// Sizes of the official splits.
const (
	TrainSize = 50000
	TestSize  = 10000
)

// ErrMissingClasses is wrapped by Load's error for data in which a split has
// no image of some class: a folder or archive with a class folder missing,
// say. Training on it would never learn that class.
var ErrMissingClasses = errors.New("classes missing")

// Image geometry of CIFAR-10.
const (
	Height   = 32
	Width    = 32
	Channels = 3
	// ImageSize is the number of bytes of one decoded image (HWC, RGB).
	ImageSize = Height * Width * Channels
)

// Set is a decoded split of CIFAR-10 held in memory: N images stored
// back to back as uint8 HWC (row-major, RGB interleaved), and their labels.
type Set struct {
	Images []byte  // len = N * ImageSize
	Labels []uint8 // len = N, values in [0, len(Classes))
}

// Len returns the number of images in the set.
func (s *Set) Len() int { return len(s.Labels) }

// Image returns the i-th image as a HWC RGB slice that aliases s.Images.
func (s *Set) Image(i int) []byte { return s.Images[i*ImageSize : (i+1)*ImageSize] }

// Validate checks that the set's buffers agree in size and its labels are in range.
func (s *Set) Validate() error {
	if len(s.Images) != len(s.Labels)*ImageSize {
		return fmt.Errorf("dataset: %d image bytes for %d labels (want %d)", len(s.Images), len(s.Labels), len(s.Labels)*ImageSize)
	}
	for i, l := range s.Labels {
		if int(l) >= len(Classes) {
			return fmt.Errorf("dataset: label %d of image %d out of range", l, i)
		}
	}
	return nil
}

// MissingClasses returns the names of the classes of which s holds no image,
// in label order.
func (s *Set) MissingClasses() []string {
	seen := make([]bool, len(Classes))
	for _, l := range s.Labels {
		if int(l) < len(seen) {
			seen[l] = true
		}
	}
	var missing []string
	for c, ok := range seen {
		if !ok {
			missing = append(missing, Classes[c])
		}
	}
	return missing
}
