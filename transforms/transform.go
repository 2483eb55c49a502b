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
	if p := t.Prob(); p >= 1 || (p > 0 && r.Float64() < p) {
		t.ApplyAlways(img, r)
	}
}

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

// ApplyAlways picks a child by the weights of the children's probabilities
// and forces it. It does nothing when all the weights are zero.
func (o *OneOf) ApplyAlways(img *Image, r *rand.Rand) {
	var sum float64
	for _, t := range o.Transforms {
		sum += t.Prob()
	}
	if sum <= 0 {
		return
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
			t.ApplyAlways(img, r)
			return
		}
		u -= p
	}
	// Rounding left u just past the last weight: it belongs to the last child.
	o.Transforms[last].ApplyAlways(img, r)
}
