package trainer

import (
	"fmt"

	"gotrain/dataset"
	"gotrain/model"
	"gotrain/transforms"
)

// whitenImages is how many training images the whitening filters are
// estimated from: the first ones of the set, as airbench uses the first
// 5,000.
const whitenImages = 5000

// setupWhiten applies Config.Whiten to net: a fresh run (fresh) sets the
// first convolution to patch-whitening filters estimated from the first
// training images, normalized as the network sees them and not augmented;
// a resumed run, or one that started from given weights, keeps its
// weights. Either way the filters are frozen.
func setupWhiten(net *model.Net, train *dataset.Set, fresh bool) error {
	if !fresh {
		return model.FreezeFirstConv(net)
	}
	n := min(whitenImages, train.Len())
	if n == 0 {
		return fmt.Errorf("whitening: no training images")
	}
	plane := dataset.Channels * dataset.Height * dataset.Width
	x := make([]float32, n*plane)
	pipe := transforms.SeedTest()
	img := transforms.NewImage(dataset.Height, dataset.Width)
	for i := range n {
		img.Load(train.Image(i))
		pipe.Run(img, nil, x[i*plane:(i+1)*plane])
	}
	if err := model.Whiten(net, x, n, dataset.Height, dataset.Width); err != nil {
		return fmt.Errorf("whitening: %w", err)
	}
	return nil
}
