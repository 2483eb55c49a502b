package infer

import (
	"errors"
	"fmt"
	"image"
	"io"
	"os"

	"golang.org/x/image/draw"

	// Decoders for Predict's image files.
	_ "image/jpeg"
	_ "image/png"

	"gotrain/dataset"
	"gotrain/model"
	"gotrain/torch"
	"gotrain/torch/nn"
	"gotrain/transforms"
)

// Prediction is a class and its probability.
type Prediction struct {
	Class       int
	Name        string
	Probability float64
}

// DefaultMaxPixels is the largest image, in pixels, that Predict decodes
// unless told otherwise: PIL's Image.MAX_IMAGE_PIXELS, above which PIL
// warns of a decompression bomb (and refuses above twice that). Decoded,
// an image takes 4 to 8 bytes a pixel.
const DefaultMaxPixels = 89_478_485

// MaxDecodePixels is the most pixels Predict ever decodes, whatever limit
// it is given (0, no limit of the caller's, included): 2^30, 4 to 8 GiB
// decoded. A few bytes of PNG can declare a far larger image, whose
// decoding would exhaust memory and end the process.
const MaxDecodePixels = 1 << 30

// ErrTooManyPixels reports an image whose header declares more pixels than
// the limit; it is refused before it is decoded.
var ErrTooManyPixels = errors.New("image has too many pixels")

// Predict classifies image files (PNG or JPEG, resized to 32x32 when they
// are not) and returns the top k classes of each. Images of more than
// maxPixels pixels (0: no limit but MaxDecodePixels, which also bounds a
// larger maxPixels) are refused with ErrTooManyPixels.
func Predict(net *model.Net, paths []string, k, maxPixels int) ([][]Prediction, error) {
	if k < 1 || k > len(dataset.Classes) {
		return nil, fmt.Errorf("top-k must be in [1, %d], got %d", len(dataset.Classes), k)
	}
	norm := transforms.SeedTest()
	x := make([]float32, len(paths)*3*dataset.Height*dataset.Width)
	img := transforms.NewImage(dataset.Height, dataset.Width)
	for i, p := range paths {
		pix, err := readImage32(p, maxPixels)
		if err != nil {
			return nil, err
		}
		img.Load(pix)
		norm.Run(img, nil, x[i*3*dataset.Height*dataset.Width:(i+1)*3*dataset.Height*dataset.Width])
	}
	var out [][]Prediction
	err := torch.NoGrad(func() error {
		s := torch.NewScope()
		defer s.Close()
		xt, err := torch.FromSlice(x, int64(len(paths)), 3, dataset.Height, dataset.Width)
		if err != nil {
			return err
		}
		if dev := firstDevice(net); dev.Type != torch.CPUType {
			if xt, err = xt.To(dev, false); err != nil {
				return err
			}
		}
		logits, err := net.Forward(xt)
		if err != nil {
			return err
		}
		probs, err := torch.Softmax(logits, 1)
		if err != nil {
			return err
		}
		vals, idx, err := probs.TopK(int64(k), 1)
		if err != nil {
			return err
		}
		v, err := torch.ToSlice[float32](vals)
		if err != nil {
			return err
		}
		ix, err := torch.ToSlice[int64](idx)
		if err != nil {
			return err
		}
		for i := range paths {
			var ps []Prediction
			for j := range k {
				c := int(ix[i*k+j])
				ps = append(ps, Prediction{Class: c, Name: dataset.Classes[c], Probability: float64(v[i*k+j])})
			}
			out = append(out, ps)
		}
		return nil
	})
	return out, err
}

func firstDevice(m nn.Module) torch.Device {
	ps := nn.NamedParameters(m)
	if len(ps) == 0 {
		return torch.CPU
	}
	return ps[0].Tensor.Device()
}

// readImage32 decodes an image file into 32x32 RGB HWC bytes, resizing
// with bilinear interpolation when needed. The size in the file's header
// is checked against maxPixels (0: no limit but MaxDecodePixels) before
// the image is decoded: a few bytes can declare an image that would
// exhaust memory.
func readImage32(path string, maxPixels int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		return nil, fmt.Errorf("%s is a directory, not an image file (PNG or JPEG)", path)
	}
	cfg, _, err := image.DecodeConfig(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	n := int64(cfg.Width) * int64(cfg.Height)
	if maxPixels > 0 && maxPixels < MaxDecodePixels && n > int64(maxPixels) {
		return nil, fmt.Errorf("%s: %w (%dx%d = %d, more than %d)", path, ErrTooManyPixels, cfg.Width, cfg.Height, n, maxPixels)
	}
	if n > MaxDecodePixels {
		return nil, fmt.Errorf("%s: %w (%dx%d = %d, more than %d, the most that is ever decoded)", path, ErrTooManyPixels, cfg.Width, cfg.Height, n, MaxDecodePixels)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	src, _, err := image.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	// NRGBA: colours as stored, not premultiplied by alpha, so a translucent
	// pixel keeps its colour (as PIL's convert("RGB") does).
	dst := image.NewNRGBA(image.Rect(0, 0, dataset.Width, dataset.Height))
	if b := src.Bounds(); b.Dx() == dataset.Width && b.Dy() == dataset.Height {
		draw.Draw(dst, dst.Bounds(), src, b.Min, draw.Src)
	} else {
		draw.BiLinear.Scale(dst, dst.Bounds(), src, b, draw.Src, nil)
	}
	pix := make([]byte, 0, dataset.ImageSize)
	for i := 0; i < len(dst.Pix); i += 4 {
		pix = append(pix, dst.Pix[i], dst.Pix[i+1], dst.Pix[i+2])
	}
	return pix, nil
}
