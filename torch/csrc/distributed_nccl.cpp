// distributed_nccl.cpp: ProcessGroupNCCL for ctorch_dist.h, compiled (with
// CT_HAVE_NCCL and USE_C10D_NCCL) only against a libtorch that has NCCL.
#include "dist_internal.h"

#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>

extern "C" {

ct_error ct_pg_nccl_new(ct_store s, int rank, int size, int64_t timeout_ms, ct_pg *out) {
  CT_TRY
  // A failed or timed-out NCCL operation must come back as an error, not
  // end the process from libtorch's watchdog: ask for no async error
  // handling unless the user chose otherwise (the variable's name changed
  // in 2.2; both are read once, by the constructor).
  setenv("NCCL_ASYNC_ERROR_HANDLING", "0", 0);
  setenv("TORCH_NCCL_ASYNC_ERROR_HANDLING", "0", 0);
  auto o = c10d::ProcessGroupNCCL::Options::create();
  o->timeout = ct_ms(timeout_ms);
  auto pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(s->s, rank, size, o);
  *out = new ct_pg_s{std::make_unique<CtGroupOf<c10d::ProcessGroupNCCL>>(std::move(pg))};
  CT_CATCH
}

}  // extern "C"
