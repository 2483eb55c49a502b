package trainer

import (
	"context"
	"fmt"
	"image"
	"os"

	"github.com/sirupsen/logrus"
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

// LoadNet builds a network and loads weights into it from a checkpoint,
// state_dict or TorchScript file. A checkpoint names its network; name may
// be empty then, and must agree with it otherwise. For other files name
// picks the network (empty means model.Default).
func LoadNet(path, name string, log *logrus.Logger) (*model.Net, error) {
	if ck, err := readCheckpoint(path); err == nil {
		ck.free()
		if name != "" && name != ck.Config.Model {
			return nil, fmt.Errorf("%s is a checkpoint of model %q, not %q", path, ck.Config.Model, name)
		}
		name = ck.Config.Model
	} else if _, statErr := os.Stat(path); statErr != nil {
		return nil, fmt.Errorf("weights: %w", statErr)
	}
	if name == "" {
		name = model.Default
	}
	net, err := model.New(name, model.Options{})
	if err != nil {
		return nil, err
	}
	if err := InitFrom(net, path, log); err != nil {
		nn.Free(net)
		return nil, err
	}
	nn.SetTraining(net, false)
	return net, nil
}

// Evaluation is the outcome of Evaluate.
type Evaluation struct {
	Loss      float64
	Correct   int
	Total     int
	Confusion [][]int // [true][predicted]
}

// Accuracy returns the accuracy in percent.
func (e *Evaluation) Accuracy() float64 { return 100 * float64(e.Correct) / float64(max(e.Total, 1)) }

// ClassAccuracy returns the accuracy of each class in percent.
func (e *Evaluation) ClassAccuracy() []float64 {
	out := make([]float64, len(e.Confusion))
	for c, row := range e.Confusion {
		n := 0
		for _, v := range row {
			n += v
		}
		out[c] = 100 * float64(row[c]) / float64(max(n, 1))
	}
	return out
}

// Evaluate runs net over a test set on dev, feeding channels-last images on
// the CPU (see torch.DeviceDefaults).
func Evaluate(ctx context.Context, net *model.Net, set *dataset.Set, dev torch.Device, batch, workers int) (*Evaluation, error) {
	if err := nn.To(net, dev); err != nil {
		return nil, err
	}
	l, err := dataset.NewLoader(set, transforms.SeedTest(), dataset.LoaderConfig{BatchSize: batch, Workers: workers})
	if err != nil {
		return nil, err
	}
	defer l.Close()
	r, err := evaluate(net, l, dev, torch.DeviceDefaultsFor(dev.String()).ChannelsLast, false)
	if err != nil {
		return nil, err
	}
	return &Evaluation{Loss: r.Loss, Correct: r.Correct, Total: r.Total, Confusion: r.Confusion}, nil
}

// LoadTestSet reads the test split from a data location as a run does
// (empty means ./data, downloaded if missing), keeping limit images (0: all).
func LoadTestSet(ctx context.Context, data string, limitN, workers int, log *logrus.Logger) (*dataset.Set, error) {
	cfg := Config{Data: data, Workers: workers, TestLimit: limitN}
	_, test, err := loadData(ctx, cfg, log, dataset.WithTestOnly())
	return test, err
}

// Prediction is a class and its probability.
type Prediction struct {
	Class       int
	Name        string
	Probability float64
}

// Predict classifies image files (PNG or JPEG, resized to 32x32 when they
// are not) and returns the top k classes of each.
func Predict(net *model.Net, paths []string, k int) ([][]Prediction, error) {
	if k < 1 || k > len(dataset.Classes) {
		return nil, fmt.Errorf("top-k must be in [1, %d], got %d", len(dataset.Classes), k)
	}
	norm := transforms.SeedTest()
	x := make([]float32, len(paths)*3*dataset.Height*dataset.Width)
	img := transforms.NewImage(dataset.Height, dataset.Width)
	for i, p := range paths {
		pix, err := readImage32(p)
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
// with bilinear interpolation when needed.
func readImage32(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
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
