package dataset

import (
	"fmt"
	"math/rand/v2"
)

// Fold is one of the K splits of a cross-validation: indices of a set's
// images, each list ascending.
type Fold struct {
	Train []int // the images of the other folds
	Val   []int // this fold's held-out images
}

// StratifiedKFold splits the images with the given labels into k folds
// for cross-validation, as scikit-learn's StratifiedKFold(n_splits=k,
// shuffle=True, random_state=seed) does in spirit (not its exact
// assignment): every image is in the Val part of exactly one fold and in
// the Train part of all others, and each class is dealt out evenly, so
// that the number of images of a class in any two folds' Val parts, and
// the sizes of the Val parts, differ by at most one. The folds are a pure
// function of labels, k and seed; which images of a class go to which fold
// is drawn from seed.
func StratifiedKFold(labels []uint8, k int, seed uint64) ([]Fold, error) {
	if k < 2 {
		return nil, fmt.Errorf("dataset: %d folds; cross-validation needs at least 2", k)
	}
	if k > len(labels) {
		return nil, fmt.Errorf("dataset: %d folds of %d images; each fold needs at least one", k, len(labels))
	}
	var byClass [256][]int
	for i, l := range labels {
		byClass[l] = append(byClass[l], i)
	}
	fold := make([]int, len(labels)) // the fold whose Val part holds image i
	next := 0                        // the fold the next image dealt goes to
	for c, idx := range byClass {
		// Each class has its own generator, so that its shuffle does not
		// depend on the sizes of the other classes.
		r := rand.New(rand.NewPCG(mix64(seed^0x6b666f6c64736565), mix64(uint64(c)+0x9e3779b97f4a7c15)))
		r.Shuffle(len(idx), func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
		// Round-robin over the folds, continued from the previous class:
		// per class and in total, no fold gets two more than another.
		for _, i := range idx {
			fold[i] = next
			next = (next + 1) % k
		}
	}
	folds := make([]Fold, k)
	for f := range folds {
		folds[f].Val = make([]int, 0, len(labels)/k+1)
		folds[f].Train = make([]int, 0, len(labels)-len(labels)/k)
	}
	for i, f := range fold {
		for g := range folds {
			if g == f {
				folds[g].Val = append(folds[g].Val, i)
			} else {
				folds[g].Train = append(folds[g].Train, i)
			}
		}
	}
	return folds, nil
}

// Subset returns a new set holding copies of the images of s at idx, in
// that order.
func (s *Set) Subset(idx []int) *Set {
	out := &Set{Images: make([]byte, 0, len(idx)*ImageSize), Labels: make([]uint8, len(idx))}
	for j, i := range idx {
		out.Images = append(out.Images, s.Image(i)...)
		out.Labels[j] = s.Labels[i]
	}
	return out
}
