package dataset

// limits are how many images of each split Load keeps (0: all).
type limits struct{ train, test int }

// WithLimits makes Load keep only train training and test test images (0,
// or a number not below the split's size: all), spread evenly over each
// split as Spread does. From a cache, the others are never held in memory.
func WithLimits(train, test int) Option {
	return func(o *options) { o.lim = limits{train, test} }
}

// WithTestOnly makes Load return an empty training set, for evaluation:
// from a cache, no training image is held in memory. (Without a cache both
// splits are decoded, to write one.)
func WithTestOnly() Option {
	return func(o *options) { o.lim.train = none }
}

// none is a limit that keeps no image.
const none = -1

// spreadIndex is the index in a split of total images of the i-th of n
// kept ones.
func spreadIndex(i, total, n int) int { return i * total / n }

// Spread returns n images of s spread evenly over it, so that a
// class-ordered set keeps every class; s itself when n is 0 or not below
// s.Len(); an empty set for the limit none (WithTestOnly).
func (s *Set) Spread(n int) *Set {
	if n == none {
		return &Set{}
	}
	if n <= 0 || n >= s.Len() {
		return s
	}
	out := &Set{Images: make([]byte, 0, n*ImageSize), Labels: spreadLabels(s.Labels, n)}
	for i := range n {
		out.Images = append(out.Images, s.Image(spreadIndex(i, s.Len(), n))...)
	}
	return out
}

// spreadLabels returns the labels of the images Spread(n) keeps, in a new
// slice.
func spreadLabels(labels []uint8, n int) []uint8 {
	if n == none {
		return nil
	}
	if n <= 0 || n >= len(labels) {
		return append([]uint8(nil), labels...)
	}
	out := make([]uint8, n)
	for i := range out {
		out[i] = labels[spreadIndex(i, len(labels), n)]
	}
	return out
}
