package dataset

import "fmt"

// DistributedSampler splits the indices 0..N-1 of a dataset among the
// ranks of a distributed run by the rule of PyTorch's
// torch.utils.data.DistributedSampler, index for index: with Shuffle, the
// order is torch.randperm(N) drawn from a generator seeded Seed+epoch
// (libtorch's CPU generator, reproduced here); without DropLast the list
// is padded with its own head to a multiple of NumReplicas, with it cut
// down to one; rank r takes every NumReplicas-th index starting at r. Every
// rank thus gets NumSamples indices, and together they cover the dataset.
type DistributedSampler struct {
	N           int // dataset size
	NumReplicas int // world size
	Rank        int
	Shuffle     bool
	Seed        int64
	DropLast    bool
}

// NewDistributedSampler returns a sampler after checking its arguments;
// PyTorch's defaults are shuffle true, seed 0, dropLast false.
func NewDistributedSampler(n, numReplicas, rank int, shuffle bool, seed int64, dropLast bool) (*DistributedSampler, error) {
	switch {
	case n < 0:
		return nil, fmt.Errorf("dataset: distributed sampler: dataset size %d is negative", n)
	case numReplicas < 1:
		return nil, fmt.Errorf("dataset: distributed sampler: num_replicas %d is not positive", numReplicas)
	case rank < 0 || rank >= numReplicas:
		return nil, fmt.Errorf("dataset: distributed sampler: invalid rank %d, rank should be in the interval [0, %d]", rank, numReplicas-1)
	}
	return &DistributedSampler{N: n, NumReplicas: numReplicas, Rank: rank, Shuffle: shuffle, Seed: seed, DropLast: dropLast}, nil
}

// NumSamples returns how many indices each rank gets per epoch.
func (s *DistributedSampler) NumSamples() int {
	if s.DropLast && s.N%s.NumReplicas != 0 {
		return (s.N - s.NumReplicas + s.NumReplicas - 1) / s.NumReplicas // ceil((N-W)/W), N-W may be negative
	}
	return (s.N + s.NumReplicas - 1) / s.NumReplicas
}

// Indices returns this rank's indices for epoch, as PyTorch's sampler
// yields them after set_epoch(epoch).
func (s *DistributedSampler) Indices(epoch int) []int {
	indices := make([]int, s.N)
	if s.Shuffle {
		randperm(indices, uint64(s.Seed)+uint64(epoch))
	} else {
		for i := range indices {
			indices[i] = i
		}
	}
	total := s.NumSamples() * s.NumReplicas
	if total < 0 {
		total = 0
	}
	if total > len(indices) && len(indices) > 0 {
		// Pad with the head of the list, repeated as often as needed.
		for n := len(indices); len(indices) < total; {
			indices = append(indices, indices[:min(n, total-len(indices))]...)
		}
	}
	indices = indices[:min(total, len(indices))]
	out := make([]int, 0, s.NumSamples())
	for i := s.Rank; i < len(indices); i += s.NumReplicas {
		out = append(out, indices[i])
	}
	return out
}

// randperm fills p with torch.randperm(len(p), generator=g) for a CPU
// generator g after g.manual_seed(seed): libtorch's CPU kernel swaps each
// position i with i + random() % (n-i), random() being the next 32-bit
// output of the generator's MT19937 engine, seeded with seed's low 32 bits.
func randperm(p []int, seed uint64) {
	for i := range p {
		p[i] = i
	}
	g := newMT19937(uint32(seed))
	n := len(p)
	for i := 0; i < n-1; i++ {
		z := int(uint64(g.next()) % uint64(n-i))
		p[i], p[z+i] = p[z+i], p[i]
	}
}

// mt19937 is the 32-bit Mersenne Twister (MT19937), as at::mt19937 and
// std::mt19937 implement it.
type mt19937 struct {
	state [624]uint32
	next_ int
}

func newMT19937(seed uint32) *mt19937 {
	g := &mt19937{next_: 624}
	g.state[0] = seed
	for i := 1; i < 624; i++ {
		prev := g.state[i-1]
		g.state[i] = 1812433253*(prev^(prev>>30)) + uint32(i)
	}
	return g
}

func (g *mt19937) next() uint32 {
	if g.next_ >= 624 {
		for i := 0; i < 624; i++ {
			y := g.state[i]&0x80000000 | g.state[(i+1)%624]&0x7fffffff
			v := g.state[(i+397)%624] ^ y>>1
			if y&1 != 0 {
				v ^= 0x9908b0df
			}
			g.state[i] = v
		}
		g.next_ = 0
	}
	y := g.state[g.next_]
	g.next_++
	y ^= y >> 11
	y ^= y << 7 & 0x9d2c5680
	y ^= y << 15 & 0xefc60000
	y ^= y >> 18
	return y
}

// Shard is a rank's share of an evaluation set: every NumReplicas-th
// index from Rank on, in order and not padded, so that the shards' sums
// are the whole set's (DistributedSampler's padding would count some
// images twice).
type Shard struct{ N, NumReplicas, Rank int }

// NumSamples returns the number of indices of the shard.
func (s Shard) NumSamples() int { return max(0, (s.N-s.Rank+s.NumReplicas-1)/s.NumReplicas) }

// Indices returns the shard's indices; they are the same every epoch.
func (s Shard) Indices(int) []int {
	out := make([]int, 0, s.NumSamples())
	for i := s.Rank; i < s.N; i += s.NumReplicas {
		out = append(out, i)
	}
	return out
}
