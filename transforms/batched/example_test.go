package batched_test

import (
	"fmt"
	"math/rand/v2"

	"gotrain/torch"
	"gotrain/transforms"
	"gotrain/transforms/batched"
)

// A training loop uploads the decoded set once, then makes each batch on
// the device from the indices of the epoch's permutation. To give every
// image the augmentation the CPU loader would, seed a generator per image
// as the loader does and call Draw with it before Batch.
func Example() {
	s := torch.NewScope()
	defer s.Close()
	const m = 6 // images of 32×32 RGB, as dataset.Set holds them
	pix := make([]uint8, m*32*32*3)
	labels := []int64{0, 1, 2, 3, 4, 5}
	dev := torch.CPU // torch.CUDA(0) on a GPU
	images := torch.Must(torch.Must(torch.FromSlice(pix, m, 32, 32, 3)).To(dev, false))
	y := torch.Must(torch.Must(torch.FromSlice(labels)).To(dev, false))

	aug, err := batched.New(images, y, transforms.SeedTrain(), batched.Options{})
	if err != nil {
		panic(err)
	}
	defer aug.Close()
	r := rand.New(rand.NewPCG(1, 2))
	x, yb, err := aug.Next([]int{4, 0, 5}, r)
	if err != nil {
		panic(err)
	}
	fmt.Println(x.Shape(), x.DType(), torch.Must(torch.ToSlice[int64](yb)))
	// Output: [3 3 32 32] float32 [4 0 5]
}
