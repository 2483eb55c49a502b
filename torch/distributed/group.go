package distributed

/*
#include <stdlib.h>
#include "ctorch_dist.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"time"
	"unsafe"

	"gotrain/torch"
)

// Options configure a process group.
type Options struct {
	// Timeout bounds the forming of the group and every collective
	// (c10d's and Gloo's timeout); zero means DefaultTimeout.
	Timeout time.Duration
	// Interfaces names the network interfaces Gloo uses, one device each
	// (ProcessGroupGloo.createDeviceForInterface). When empty, the
	// comma-separated list in GLOO_SOCKET_IFNAME is used, as in PyTorch.
	Interfaces []string
	// Hostname is the address Gloo binds to when no interface is named;
	// empty means 127.0.0.1 (one machine).
	Hostname string
	// Threads is Gloo's number of worker threads; zero means 2.
	Threads int
	// Device is where the collectives on host values (AllReduceFloat64s,
	// Any, CompareSettings) put their tensor: the CPU (the zero value)
	// for Gloo; this rank's CUDA device for NCCL.
	Device torch.Device
}

// ProcessGroup is a group of ranks that run collectives together: a c10d
// ProcessGroupGloo (CPU tensors) or ProcessGroupNCCL (CUDA tensors). Every
// rank must issue the same collectives in the same order, one at a time.
type ProcessGroup struct {
	h       C.ct_pg
	backend string
	rank    int
	size    int
	timeout time.Duration
	watch   *watch
	dev     torch.Device // of the collectives on host values
	// store is the group's own handle on the store it was formed over,
	// and compares the number of CompareSettings calls (the keys of each).
	store    *Store
	compares int
}

// RankLostError reports a collective that failed because another rank of
// the group went away: its process ended without closing the group
// (crashed, killed) or, with Closed, it closed its group.
type RankLostError struct {
	Rank   int    // the first rank seen gone
	Closed bool   // it closed its group rather than died
	Others []int  // ranks seen gone after it
	Op     string // "allreduce on rank 0 of 2"
	Err    error  // c10d's error, if the collective ran
}

func (e *RankLostError) Error() string {
	how := "was lost (its process ended without closing the group)"
	if e.Closed {
		how = "closed its process group"
	}
	s := fmt.Sprintf("torch/distributed: %s: rank %d %s", e.Op, e.Rank, how)
	if len(e.Others) > 0 {
		s += fmt.Sprintf("; then ranks %v left", e.Others)
	}
	var ce *Error
	switch {
	case errors.As(e.Err, &ce):
		s += ": " + ce.Msg // ce.Op repeats e.Op
	case e.Err != nil:
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *RankLostError) Unwrap() error { return e.Err }

// lossGrace is how long a failed collective waits for the watch to name a
// lost rank: a dead peer's sockets close together, but Gloo may notice first.
const lossGrace = 3 * time.Second

// NewProcessGroupGloo forms c10d's ProcessGroupGloo of size ranks over
// store, as this process's rank. Every rank must call it with the same
// store (a fresh PrefixStore for each further group) and size; it waits up
// to opts.Timeout for the others and names the ranks that never came.
func NewProcessGroupGloo(store *Store, rank, size int, opts Options) (*ProcessGroup, error) {
	if !hasGloo {
		return nil, ErrUnavailable
	}
	return newGroup("gloo", store, rank, size, opts)
}

// NewProcessGroupNCCL forms c10d's ProcessGroupNCCL (CUDA tensors) where
// libtorch has NCCL, else returns ErrNCCLUnavailable; see NewProcessGroupGloo.
// Only Timeout, Device (which must be a CUDA device) and, for the group's
// watch, Hostname of opts apply.
func NewProcessGroupNCCL(store *Store, rank, size int, opts Options) (*ProcessGroup, error) {
	if !HasNCCL() {
		return nil, ErrNCCLUnavailable
	}
	if opts.Device.Type != torch.CUDAType {
		return nil, fmt.Errorf("torch/distributed: an NCCL group needs this rank's CUDA device in Options.Device, not %v", opts.Device)
	}
	return newGroup("nccl", store, rank, size, opts)
}

func newGroup(backend string, store *Store, rank, size int, opts Options) (*ProcessGroup, error) {
	if size < 1 || rank < 0 || rank >= size {
		return nil, fmt.Errorf("torch/distributed: invalid rank %d for a group of size %d", rank, size)
	}
	if store == nil || store.h == nil {
		return nil, ErrClosed
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	ifaces := opts.Interfaces
	if len(ifaces) == 0 && backend == "gloo" {
		for _, f := range strings.Split(os.Getenv("GLOO_SOCKET_IFNAME"), ",") {
			if f = strings.TrimSpace(f); f != "" {
				ifaces = append(ifaces, f)
			}
		}
	}
	host := opts.Hostname
	if host == "" {
		host = "127.0.0.1"
	}
	watchHost := host
	if len(ifaces) > 0 {
		a, err := interfaceAddr(ifaces[0])
		if err != nil {
			return nil, fmt.Errorf("torch/distributed: rank %d: Gloo interface %q: %w", rank, ifaces[0], err)
		}
		watchHost = a
	}
	own, err := NewPrefixStore("gotrain/group", store)
	if err != nil {
		return nil, err
	}
	w, err := newWatch(store, rank, size, watchHost, opts.Timeout)
	if err != nil {
		own.Close()
		return nil, err
	}
	op := fmt.Sprintf("%s process group, rank %d of %d over %s (timeout %v)", backend, rank, size, store, opts.Timeout)
	var h C.ct_pg
	switch backend {
	case "gloo":
		ch := C.CString(host)
		defer C.free(unsafe.Pointer(ch))
		arr, free := cKeys(ifaces)
		defer free()
		var p **C.char
		if len(arr) > 0 {
			p = &arr[0]
		}
		err = cError(op, C.ct_pg_gloo_new(store.h, C.int(rank), C.int(size), ms(opts.Timeout), ch, p, C.int(len(arr)), C.int(opts.Threads), &h))
	case "nccl":
		err = cError(op, C.ct_pg_nccl_new(store.h, C.int(rank), C.int(size), ms(opts.Timeout), &h))
	}
	if err != nil {
		w.close()
		own.Close()
		if e := (*Error)(nil); errors.As(err, &e) && e.Msg == ErrUnavailable.Error() {
			return nil, ErrUnavailable
		}
		return nil, err
	}
	return &ProcessGroup{h: h, backend: backend, rank: rank, size: size, timeout: opts.Timeout, watch: w, dev: opts.Device, store: own}, nil
}

// interfaceAddr returns the first IPv4 (else any) address of the interface.
func interfaceAddr(name string) (string, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return "", err
	}
	addrs, err := ifi.Addrs()
	if err != nil {
		return "", err
	}
	var any string
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok {
			if ipn.IP.To4() != nil {
				return ipn.IP.String(), nil
			}
			if any == "" {
				any = ipn.IP.String()
			}
		}
	}
	if any == "" {
		return "", errors.New("it has no IP address")
	}
	return any, nil
}

// Rank returns this process's rank in the group.
func (pg *ProcessGroup) Rank() int { return pg.rank }

// Size returns the number of ranks in the group (the world size).
func (pg *ProcessGroup) Size() int { return pg.size }

// Backend returns "gloo" or "nccl".
func (pg *ProcessGroup) Backend() string { return pg.backend }

// Timeout returns the bound on every collective of the group.
func (pg *ProcessGroup) Timeout() time.Duration { return pg.timeout }

// Close leaves the group, telling the other ranks so, and releases it. It
// is safe to call more than once.
func (pg *ProcessGroup) Close() error {
	if pg.h == nil {
		return nil
	}
	pg.watch.close()
	C.ct_pg_free(pg.h)
	pg.h = nil
	pg.store.Close()
	return nil
}

// ReduceOp is the reduction of AllReduce (torch.distributed.ReduceOp).
type ReduceOp int

// The reductions Gloo supports (there is no AVG: use AllReduceMean).
const (
	Sum ReduceOp = iota
	Product
	Min
	Max
)

func (op ReduceOp) String() string {
	switch op {
	case Sum:
		return "SUM"
	case Product:
		return "PRODUCT"
	case Min:
		return "MIN"
	case Max:
		return "MAX"
	}
	return fmt.Sprintf("ReduceOp(%d)", int(op))
}

// DefaultBucketBytes is the bucket size of AllReduceMean and
// BroadcastCoalesced: small enough to stay in cache on a CPU, large enough
// that a CIFAR-sized network's gradients take a few collectives.
const DefaultBucketBytes = 4 << 20

// run performs one collective: it refuses at once if a rank is already
// known gone, and names the rank gone when the collective fails.
func (pg *ProcessGroup) run(what string, f func() C.ct_error) error {
	op := fmt.Sprintf("%s on rank %d of %d", what, pg.rank, pg.size)
	if pg.h == nil {
		return fmt.Errorf("%w (%s)", ErrClosed, op)
	}
	if gone := pg.watch.wait(0); len(gone) > 0 {
		return lostError(op, gone, nil)
	}
	err := cError(fmt.Sprintf("%s (timeout %v)", op, pg.timeout), f())
	if err == nil {
		return nil
	}
	grace := lossGrace
	if errors.Is(err, ErrTimeout) {
		grace = 0 // a rank that is alive but late: nothing more to learn
	}
	if gone := pg.watch.wait(grace); len(gone) > 0 {
		return lostError(op, gone, err)
	}
	return err
}

func lostError(op string, gone []peerGone, err error) error {
	e := &RankLostError{Rank: gone[0].rank, Closed: gone[0].closed, Op: op, Err: err}
	for _, g := range gone[1:] {
		e.Others = append(e.Others, g.rank)
	}
	return e
}

func handle(t *torch.Tensor, op string) (C.ct_tensor, error) {
	p, err := t.UnsafeHandle(op)
	return C.ct_tensor(p), err
}

// AllReduce reduces t across the group in place with op: afterwards every
// rank holds the same result.
func (pg *ProcessGroup) AllReduce(t *torch.Tensor, op ReduceOp) error {
	h, err := handle(t, "allreduce")
	if err != nil {
		return err
	}
	defer runtime.KeepAlive(t)
	return pg.run("allreduce "+op.String(), func() C.ct_error {
		return C.ct_pg_allreduce(pg.h, h, C.int(op), ms(pg.timeout))
	})
}

// Broadcast copies root's t into t on every other rank.
func (pg *ProcessGroup) Broadcast(t *torch.Tensor, root int) error {
	if root < 0 || root >= pg.size {
		return fmt.Errorf("torch/distributed: broadcast: root %d is not a rank of a group of size %d", root, pg.size)
	}
	h, err := handle(t, "broadcast")
	if err != nil {
		return err
	}
	defer runtime.KeepAlive(t)
	return pg.run(fmt.Sprintf("broadcast from rank %d", root), func() C.ct_error {
		return C.ct_pg_broadcast(pg.h, h, C.int(root), ms(pg.timeout))
	})
}

// Barrier returns when every rank of the group has reached it.
func (pg *ProcessGroup) Barrier() error {
	return pg.run("barrier", func() C.ct_error { return C.ct_pg_barrier(pg.h, ms(pg.timeout)) })
}

func handles(ts []*torch.Tensor, op string) ([]C.ct_tensor, error) {
	hs := make([]C.ct_tensor, len(ts))
	for i, t := range ts {
		h, err := handle(t, op)
		if err != nil {
			return nil, fmt.Errorf("tensor %d: %w", i, err)
		}
		hs[i] = h
	}
	return hs, nil
}

// AllReduceMean replaces every tensor of ts with its mean across the group,
// as DistributedDataParallel averages gradients: consecutive tensors of one
// dtype and device are flattened into buckets of about bucketBytes (zero
// means DefaultBucketBytes), each bucket is allreduced with SUM and divided
// by the group size, and the results are copied back. Every rank must pass
// tensors of the same shapes in the same order.
func (pg *ProcessGroup) AllReduceMean(ts []*torch.Tensor, bucketBytes int64) error {
	if len(ts) == 0 {
		return nil
	}
	if bucketBytes <= 0 {
		bucketBytes = DefaultBucketBytes
	}
	hs, err := handles(ts, "allreduce mean")
	if err != nil {
		return err
	}
	defer runtime.KeepAlive(ts)
	return pg.run(fmt.Sprintf("allreduce mean of %d tensors", len(ts)), func() C.ct_error {
		return C.ct_pg_allreduce_mean_coalesced(pg.h, &hs[0], C.int(len(hs)), C.int64_t(bucketBytes), ms(pg.timeout))
	})
}

// BroadcastCoalesced copies root's tensors ts into ts on every other rank,
// in buckets as AllReduceMean, as DistributedDataParallel's constructor
// syncs parameters and buffers from rank 0.
func (pg *ProcessGroup) BroadcastCoalesced(ts []*torch.Tensor, root int, bucketBytes int64) error {
	if root < 0 || root >= pg.size {
		return fmt.Errorf("torch/distributed: broadcast: root %d is not a rank of a group of size %d", root, pg.size)
	}
	if len(ts) == 0 {
		return nil
	}
	if bucketBytes <= 0 {
		bucketBytes = DefaultBucketBytes
	}
	hs, err := handles(ts, "broadcast")
	if err != nil {
		return err
	}
	defer runtime.KeepAlive(ts)
	return pg.run(fmt.Sprintf("broadcast of %d tensors from rank %d", len(ts), root), func() C.ct_error {
		return C.ct_pg_broadcast_coalesced(pg.h, &hs[0], C.int(len(hs)), C.int(root), C.int64_t(bucketBytes), ms(pg.timeout))
	})
}
