package dataset

// What a loader's batches are made of, for callers that make the same
// batches elsewhere (the training loop's device path, transforms/batched):
// the order of an epoch and the generator each image is augmented with.

// Order returns the images of epoch in the order the loader visits them:
// batch i of the epoch is Order(epoch)[i*BatchSize:], BatchSize of them or
// the rest. Each call returns a new slice; an error comes from a Sampler
// that breaks its contract.
func (l *Loader) Order(epoch int) ([]int32, error) { return l.order(epoch) }

// ImageSeed returns the two seed words of the generator with which the
// loader augments image idx in epoch: the pipeline's Run on that image
// draws from rand.New(rand.NewPCG(l.ImageSeed(epoch, idx))).
func (l *Loader) ImageSeed(epoch, idx int) (uint64, uint64) {
	return imageSeed(l.cfg.Seed, epoch, idx)
}
