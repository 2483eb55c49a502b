// Package distributed runs data-parallel training on libtorch's own
// distributed engine, c10d: a TCPStore for the rendezvous, ProcessGroupGloo
// for CPU tensors and, where libtorch was built with it, ProcessGroupNCCL for
// CUDA tensors. It mirrors torch.distributed: a Store, a ProcessGroup with
// AllReduce, Broadcast and Barrier, DDP (DistributedDataParallel over a
// module: the start broadcast, buffer sync and bucketed gradient average),
// collectives on host values (AllReduceFloat64s, Any, CompareSettings), and
// the environment torchrun gives each rank (LookupEnv, InitProcessGroup).
//
// A typical rank:
//
//	env, ok, err := distributed.LookupEnv()   // ok: started by torchrun
//	pg, err := distributed.InitProcessGroup("gloo", env, distributed.Options{})
//	defer pg.Close()
//	ddp, err := distributed.NewDDP(net, pg)
//	... loss.Backward(); ddp.AverageGradients(); opt.Step() ...
//
// # Failures
//
// Every c10d failure comes back as an error, never as an abort, and every
// operation is bounded by a timeout (Options.Timeout for the group, the
// store's own for the store). Besides Gloo's connections, the ranks of a
// group watch each other over one TCP connection per pair: a rank whose
// process ends without closing its group (it crashed or was killed) makes
// the others' pending and later operations fail at once with a
// *RankLostError that names it, rather than wait for a timeout.
//
// # Availability
//
// libctorch has Gloo only when it was built with Gloo's headers (Debian's
// libgloo-dev); otherwise NewProcessGroupGloo returns ErrUnavailable. The
// stores work in every build.
package distributed

/*
#cgo CFLAGS: -I${SRCDIR}/../csrc
#cgo LDFLAGS: -L${SRCDIR}/../../build -lctorch -Wl,-rpath,${SRCDIR}/../../build
#include <stdlib.h>
#include "ctorch_dist.h"
static const char *ct_dist_no_gloo_msg(void) { return CT_DIST_NO_GLOO; }
static const char *ct_dist_no_nccl_msg(void) { return CT_DIST_NO_NCCL; }
*/
import "C"

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unsafe"

	_ "gotrain/torch" // loads libctorch and checks its ABI first
)

// abiVersion is the version of torch/csrc/ctorch_dist.h this package was
// compiled against (CT_DIST_ABI_VERSION, its one copy).
const abiVersion = C.CT_DIST_ABI_VERSION

func init() {
	if v := int(C.ct_dist_abi_version()); v != abiVersion {
		panic(fmt.Errorf("torch/distributed: libctorch has distributed ABI %d, this package wants %d (rebuild it with `make lib`)", v, abiVersion))
	}
}

// DefaultTimeout bounds every collective and the forming of a group when
// Options.Timeout is zero (c10d's own default is 30 minutes). A lost rank
// is noticed long before it; see the package documentation.
const DefaultTimeout = 2 * time.Minute

var (
	// ErrUnavailable reports a libctorch built without Gloo.
	ErrUnavailable = errors.New(C.GoString(C.ct_dist_no_gloo_msg()))
	// ErrNCCLUnavailable reports a libctorch built without NCCL.
	ErrNCCLUnavailable = errors.New(C.GoString(C.ct_dist_no_nccl_msg()))
	// ErrTimeout is matched (errors.Is) by every error of an operation
	// that ran out of time.
	ErrTimeout = errors.New("torch/distributed: timed out")
	// ErrClosed reports the use of a closed Store or ProcessGroup.
	ErrClosed = errors.New("torch/distributed: use of a closed store or process group")
)

// HasGloo reports whether libctorch was built with ProcessGroupGloo.
func HasGloo() bool { return hasGloo }

// HasNCCL reports whether libctorch was built with ProcessGroupNCCL.
func HasNCCL() bool { return C.ct_dist_has_nccl() != 0 }

// hasGloo is a variable so that tests can take the path of a build without Gloo.
var hasGloo = C.ct_dist_has_gloo() != 0

// Error is a failure reported by c10d (or Gloo, NCCL under it).
type Error struct {
	Op  string // what failed, with its context: "allreduce on rank 0 of 2"
	Msg string // c10d's message
}

func (e *Error) Error() string { return "torch/distributed: " + e.Op + ": " + e.Msg }

// Is makes errors.Is(err, ErrTimeout) hold for c10d's timeouts.
func (e *Error) Is(target error) bool { return target == ErrTimeout && isTimeout(e.Msg) }

// isTimeout recognises the timeouts of c10d, Gloo and TCPStore by their
// messages ("Timed out waiting 5000ms for recv operation", "Socket
// Timeout", "The client socket has timed out after ...", "Operation timed out!").
func isTimeout(msg string) bool {
	m := strings.ToLower(msg)
	return strings.Contains(m, "timed out") || strings.Contains(m, "timeout")
}

// cError turns a ct_error into an *Error, freeing the C string.
func cError(op string, e C.ct_error) error {
	if e == nil {
		return nil
	}
	msg := C.GoString(e)
	C.free(unsafe.Pointer(e))
	return &Error{Op: op, Msg: msg}
}

// ms converts a timeout to whole milliseconds, at least one.
func ms(d time.Duration) C.int64_t {
	if d < time.Millisecond {
		return 1
	}
	return C.int64_t(d / time.Millisecond)
}
