package transforms

import "math/rand/v2"

// Transform is one augmentation step. Like an albumentations transform it
// has a probability p; [Apply] runs it with that probability, and a container
// such as [OneOf] may force it to run.
type Transform interface {
	// Prob returns the probability p with which Apply runs the transform.
	Prob() float64
	// ApplyAlways transforms img in place unconditionally (albumentations'
	// force_apply), drawing its random parameters from r.
	ApplyAlways(img *Image, r *rand.Rand)
}

// Apply runs t on img with probability t.Prob(), as albumentations does when
// a transform is called: one uniform draw decides, and the parameters are
// drawn only when the transform runs. A probability of 1 or more (0 or
// less) runs (skips) it without a draw.
func Apply(t Transform, img *Image, r *rand.Rand) {
	if ShouldApply(t.Prob(), r) {
		t.ApplyAlways(img, r)
	}
}

// ShouldApply reports whether a transform of probability p runs, drawing
// from r as Apply does (albumentations' should_apply): one uniform draw
// when 0 < p < 1, none otherwise. Code that applies a pipeline's transforms
// in another way (package transforms/batched) calls it, and each
// transform's Draw, so as to draw exactly what Apply would.
func ShouldApply(p float64, r *rand.Rand) bool { return p >= 1 || (p > 0 && r.Float64() < p) }

// uniform returns a draw from [lo, hi) the way Python's random.uniform does.
func uniform(r *rand.Rand, lo, hi float64) float64 { return lo + (hi-lo)*r.Float64() }

// Compose applies its transforms in order, each with its own probability,
// like albumentations.Compose. The whole composition runs with probability P
// (albumentations' default is 1).
type Compose struct {
	Transforms []Transform
	P          float64
}

// Prob returns c.P.
func (c *Compose) Prob() float64 { return c.P }

// ApplyAlways applies every child with its own probability.
func (c *Compose) ApplyAlways(img *Image, r *rand.Rand) {
	for _, t := range c.Transforms {
		Apply(t, img, r)
	}
}

// OneOf picks exactly one of its transforms, with chances proportional to
// the children's probabilities, and applies it unconditionally, like
// albumentations.OneOf (whose default P is 0.5). The whole OneOf runs with
// probability P.
type OneOf struct {
	Transforms []Transform
	P          float64
}

// Prob returns o.P.
func (o *OneOf) Prob() float64 { return o.P }

// ApplyAlways picks a child (see Pick) and forces it. It does nothing when
// all the weights are zero.
func (o *OneOf) ApplyAlways(img *Image, r *rand.Rand) {
	if t := o.Pick(r); t != nil {
		t.ApplyAlways(img, r)
	}
}

// Pick draws the child that ApplyAlways forces, with chances proportional
// to the children's probabilities (one uniform draw); nil, drawing nothing,
// when all the weights are zero.
func (o *OneOf) Pick(r *rand.Rand) Transform {
	var sum float64
	for _, t := range o.Transforms {
		sum += t.Prob()
	}
	if sum <= 0 {
		return nil
	}
	u := r.Float64() * sum
	last := -1
	for i, t := range o.Transforms {
		p := t.Prob()
		if p <= 0 {
			continue
		}
		last = i
		if u < p {
			return t
		}
		u -= p
	}
	// Rounding left u just past the last weight: it belongs to the last child.
	return o.Transforms[last]
}
