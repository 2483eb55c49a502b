package dataset

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// unevenLabels returns labels of n images over 10 classes of different
// sizes (class c has about 1+c shares), in a shuffled order.
func unevenLabels(n int) []uint8 {
	r := rand.New(rand.NewPCG(7, 11))
	labels := make([]uint8, 0, n)
	for c := 0; len(labels) < n; c = (c + 1) % 10 {
		for range 1 + c {
			if len(labels) < n {
				labels = append(labels, uint8(c))
			}
		}
	}
	r.Shuffle(n, func(i, j int) { labels[i], labels[j] = labels[j], labels[i] })
	return labels
}

// checkFolds checks that folds partition the n images: the Val parts are
// disjoint and cover all, each Train part is the rest, all ascending.
func checkFolds(t *testing.T, folds []Fold, n int) {
	t.Helper()
	owner := make([]int, n)
	for i := range owner {
		owner[i] = -1
	}
	for f, fold := range folds {
		if !slices.IsSorted(fold.Val) || !slices.IsSorted(fold.Train) {
			t.Errorf("fold %d: indices not ascending", f)
		}
		for _, i := range fold.Val {
			if owner[i] != -1 {
				t.Fatalf("image %d in the Val parts of folds %d and %d", i, owner[i], f)
			}
			owner[i] = f
		}
	}
	for i, f := range owner {
		if f == -1 {
			t.Fatalf("image %d in no fold's Val part", i)
		}
	}
	for f, fold := range folds {
		var rest []int
		for i, o := range owner {
			if o != f {
				rest = append(rest, i)
			}
		}
		if !slices.Equal(fold.Train, rest) {
			t.Errorf("fold %d: Train is not the other folds' images", f)
		}
	}
}

func TestStratifiedKFold(t *testing.T) {
	for _, c := range []struct{ n, k int }{{1000, 5}, {997, 3}, {55, 10}, {12, 7}, {2, 2}} {
		labels := unevenLabels(c.n)
		orig := slices.Clone(labels)
		folds, err := StratifiedKFold(labels, c.k, 42)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(labels, orig) {
			t.Fatal("StratifiedKFold changed its labels")
		}
		if len(folds) != c.k {
			t.Fatalf("%d folds, want %d", len(folds), c.k)
		}
		checkFolds(t, folds, c.n)
		total := map[uint8]int{}
		for _, l := range labels {
			total[l]++
		}
		// Each class's images and the Val parts' sizes are dealt evenly:
		// every count is the floor or the ceiling of its share.
		for f, fold := range folds {
			if lo := c.n / c.k; len(fold.Val) != lo && len(fold.Val) != lo+1 {
				t.Errorf("n=%d k=%d fold %d: %d images, want %d or %d", c.n, c.k, f, len(fold.Val), lo, lo+1)
			}
			count := map[uint8]int{}
			for _, i := range fold.Val {
				count[labels[i]]++
			}
			for l, n := range total {
				if lo := n / c.k; count[l] != lo && count[l] != lo+1 {
					t.Errorf("n=%d k=%d fold %d: %d of class %d's %d images, want %d or %d",
						c.n, c.k, f, count[l], l, n, lo, lo+1)
				}
			}
		}
	}
}

func TestStratifiedKFoldCIFARShape(t *testing.T) {
	// 10 classes of 500 in 5 folds: exactly 100 of each class per fold.
	labels := make([]uint8, 5000)
	for i := range labels {
		labels[i] = uint8(i % 10)
	}
	folds, err := StratifiedKFold(labels, 5, 1)
	if err != nil {
		t.Fatal(err)
	}
	checkFolds(t, folds, len(labels))
	for f, fold := range folds {
		var count [10]int
		for _, i := range fold.Val {
			count[labels[i]]++
		}
		if count != [10]int{100, 100, 100, 100, 100, 100, 100, 100, 100, 100} {
			t.Errorf("fold %d holds %v of each class, want 100", f, count)
		}
	}
}

func TestStratifiedKFoldSeed(t *testing.T) {
	labels := unevenLabels(600)
	a, err := StratifiedKFold(labels, 4, 3)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := StratifiedKFold(slices.Clone(labels), 4, 3)
	other, _ := StratifiedKFold(labels, 4, 4)
	same := 0
	for f := range a {
		if !slices.Equal(a[f].Val, again[f].Val) || !slices.Equal(a[f].Train, again[f].Train) {
			t.Errorf("fold %d differs between two calls with the same seed", f)
		}
		// Of two independent random 1/4 splits, about a quarter of a
		// fold's images would be shared; an unshuffled deal shares all.
		shared := 0
		for _, i := range a[f].Val {
			if _, ok := slices.BinarySearch(other[f].Val, i); ok {
				shared++
			}
		}
		same += shared
	}
	if frac := float64(same) / float64(len(labels)); frac > 0.4 || frac < 0.1 {
		t.Errorf("seeds 3 and 4 put %.0f%% of the images in the same fold, want about 25%%", 100*frac)
	}
	// Within a class, the fold of consecutive images must not follow the
	// dealing order (as it would without the shuffle).
	folds, _ := StratifiedKFold(make([]uint8, 400), 4, 9)
	if slices.Equal(folds[0].Val[:10], []int{0, 4, 8, 12, 16, 20, 24, 28, 32, 36}) {
		t.Error("one class is dealt in index order, not shuffled")
	}
}

func TestStratifiedKFoldErrors(t *testing.T) {
	for _, c := range []struct {
		n, k int
		want string
	}{{10, 1, "at least 2"}, {10, 0, "at least 2"}, {3, 4, "4 folds of 3 images"}} {
		_, err := StratifiedKFold(make([]uint8, c.n), c.k, 0)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("StratifiedKFold(%d labels, k=%d) = %v, want an error mentioning %q", c.n, c.k, err, c.want)
		}
	}
}

func TestSubset(t *testing.T) {
	s := &Set{Images: make([]byte, 4*ImageSize), Labels: []uint8{3, 1, 4, 1}}
	for i := range s.Images {
		s.Images[i] = uint8(i / ImageSize * 50)
	}
	sub := s.Subset([]int{2, 0})
	if err := sub.Validate(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(sub.Labels, []uint8{4, 3}) || sub.Image(0)[0] != 100 || sub.Image(1)[ImageSize-1] != 0 {
		t.Errorf("Subset([2 0]) labels %v, first bytes %d %d", sub.Labels, sub.Image(0)[0], sub.Image(1)[0])
	}
	sub.Images[0] = 7
	if s.Image(2)[0] != 100 {
		t.Error("Subset's images alias the set's")
	}
}
