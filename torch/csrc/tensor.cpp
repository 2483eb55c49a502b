// tensor.cpp: tensors, autograd and ops behind the ctorch C ABI.
#include <ATen/core/Generator.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Context.h>
#include <ATen/autocast_mode.h>
#include <ATen/core/grad_mode.h>
#include <c10/core/impl/VirtualGuardImpl.h>
#include <torch/version.h>

#include "internal.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

std::atomic<int> ct_threads{0};

void ct_sync_threads_slow(int want) { at::set_num_threads(want); }

static c10::IntArrayRef dims(const int64_t *shape, int ndim) {
  return c10::IntArrayRef(shape, static_cast<size_t>(ndim));
}

extern "C" {

int ct_abi_version(void) { return CT_ABI_VERSION; }

int64_t ct_thread_id(void) {
  static std::atomic<int64_t> next{1};
  thread_local int64_t id = next.fetch_add(1);
  return id;
}

int ct_tune_malloc(long trim_threshold) {
#if defined(__GLIBC__)
  // One arena, no mmap'd blocks, a high trim threshold: a step's large
  // buffers are reused instead of faulted in anew (docs/ARCHITECTURE.md).
  return mallopt(M_ARENA_MAX, 1) && mallopt(M_MMAP_MAX, 0) &&
         mallopt(M_TRIM_THRESHOLD, static_cast<int>(trim_threshold));
#else
  return 0;
#endif
}

const char *ct_torch_version(void) { return TORCH_VERSION; }

ct_error ct_manual_seed(uint64_t seed) {
  CT_TRY
  at::manual_seed(seed);
  CT_CATCH
}

void ct_set_num_threads(int n) {
  if (n < 1) n = 1;
  ct_threads.store(n);
  ct_sync_threads();
}

int ct_get_num_threads(void) {
  ct_sync_threads();
  return at::get_num_threads();
}

int ct_cuda_is_available(void) { return at::hasCUDA() ? 1 : 0; }

int ct_cuda_device_count(void) {
  if (!at::hasCUDA()) return 0;
  return static_cast<int>(at::getNumGPUs());
}

ct_error ct_cuda_synchronize(int device) {
  CT_TRY
  if (!at::hasCUDA()) throw std::runtime_error("CUDA is not available");
  c10::impl::VirtualGuardImpl impl(c10::DeviceType::CUDA);
  impl.synchronizeStream(impl.getStream(ct_device(1, device)));
  CT_CATCH
}

void ct_set_cudnn_benchmark(int enabled) { at::globalContext().setBenchmarkCuDNN(enabled != 0); }

int ct_cudnn_benchmark(void) { return at::globalContext().benchmarkCuDNN() ? 1 : 0; }

void ct_set_grad_enabled(int enabled) { at::GradMode::set_enabled(enabled != 0); }

int ct_is_grad_enabled(void) { return at::GradMode::is_enabled() ? 1 : 0; }

// Autocast is on where its dispatch key is not excluded on this thread
// (libtorch excludes the autocast keys by default). Both libtorch 1.13's
// at::autocast::set_cpu_enabled and 2.x's set_autocast_enabled(kCPU, ...)
// do exactly this; the key is the one spelling both versions share.
void ct_set_autocast_cpu(int enabled) {
  c10::impl::tls_set_dispatch_key_excluded(c10::DispatchKey::AutocastCPU, enabled == 0);
  if (!enabled) at::autocast::clear_cache();
}

int ct_is_autocast_cpu(void) {
  return c10::impl::tls_is_dispatch_key_excluded(c10::DispatchKey::AutocastCPU) ? 0 : 1;
}

ct_error ct_get_rng_state(ct_tensor *out) {
  CT_TRY
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  *out = ct_wrap(at::Tensor(gen.get_state()));
  CT_CATCH
}

ct_error ct_set_rng_state(ct_tensor state) {
  CT_TRY
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(state->t);
  CT_CATCH
}

ct_error ct_cuda_get_rng_state(int device, ct_tensor *out) {
  CT_TRY
  auto gen = at::globalContext().defaultGenerator(ct_device(1, device));
  std::lock_guard<std::mutex> lock(gen.mutex());
  *out = ct_wrap(at::Tensor(gen.get_state()));
  CT_CATCH
}

ct_error ct_cuda_set_rng_state(int device, ct_tensor state) {
  CT_TRY
  auto gen = at::globalContext().defaultGenerator(ct_device(1, device));
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(state->t);
  CT_CATCH
}

void ct_tensor_free(ct_tensor t) { delete t; }

ct_error ct_tensor_from_data(const void *data, const int64_t *shape, int ndim, int dtype, int pinned,
                             ct_tensor *out) {
  CT_TRY
  auto opts = at::TensorOptions().dtype(static_cast<at::ScalarType>(dtype)).pinned_memory(pinned != 0);
  at::Tensor t = at::empty(dims(shape, ndim), opts);
  std::memcpy(t.data_ptr(), data, t.nbytes());
  *out = ct_wrap(std::move(t));
  CT_CATCH
}

ct_error ct_tensor_copy_to(ct_tensor t, void *dst, size_t nbytes) {
  CT_TRY
  at::Tensor c = t->t.detach().to(at::kCPU).contiguous();
  if (c.nbytes() != nbytes) {
    throw std::runtime_error("copy_to: tensor has " + std::to_string(c.nbytes()) + " bytes, destination " +
                             std::to_string(nbytes));
  }
  std::memcpy(dst, c.data_ptr(), nbytes);
  CT_CATCH
}

// The metadata functions cannot fail for the dense, strided tensors that
// this library hands out (ct_check_plain guards the tensors TorchScript
// returns); should libtorch still throw, they return -1 (0 for
// is_contiguous) rather than let the exception cross the C ABI.

int ct_tensor_dim(ct_tensor t) {
  try {
    return static_cast<int>(t->t.dim());
  } catch (...) {
    return -1;
  }
}

void ct_tensor_shape(ct_tensor t, int64_t *out) {
  try {
    auto s = t->t.sizes();
    for (size_t i = 0; i < s.size(); i++) out[i] = s[i];
  } catch (...) {
  }
}

int ct_tensor_dtype(ct_tensor t) {
  try {
    return static_cast<int>(t->t.scalar_type());
  } catch (...) {
    return -1;
  }
}

void ct_tensor_device(ct_tensor t, int *type, int *index) {
  try {
    auto d = t->t.device();
    *type = static_cast<int>(d.type());
    *index = d.has_index() ? d.index() : 0;
  } catch (...) {
    *type = -1;
    *index = -1;
  }
}

int64_t ct_tensor_numel(ct_tensor t) {
  try {
    return t->t.numel();
  } catch (...) {
    return -1;
  }
}

int ct_tensor_is_contiguous(ct_tensor t) {
  try {
    return t->t.is_contiguous() ? 1 : 0;
  } catch (...) {
    return 0;
  }
}

ct_error ct_full(const int64_t *shape, int ndim, double value, int dtype, int dev_type, int dev_index,
                 ct_tensor *out) {
  CT_OUT(at::full(dims(shape, ndim), value, ct_options(dtype, dev_type, dev_index)))
}

ct_error ct_randn(const int64_t *shape, int ndim, int dtype, int dev_type, int dev_index, ct_tensor *out) {
  CT_OUT(at::randn(dims(shape, ndim), ct_options(dtype, dev_type, dev_index)))
}

ct_error ct_rand(const int64_t *shape, int ndim, int dtype, int dev_type, int dev_index, ct_tensor *out) {
  CT_OUT(at::rand(dims(shape, ndim), ct_options(dtype, dev_type, dev_index)))
}

ct_error ct_arange(double start, double end, double step, int dtype, int dev_type, int dev_index, ct_tensor *out) {
  CT_OUT(at::arange(start, end, step, ct_options(dtype, dev_type, dev_index)))
}

ct_error ct_tensor_to(ct_tensor t, int dev_type, int dev_index, int dtype, int non_blocking, ct_tensor *out) {
  CT_TRY
  at::ScalarType st = dtype < 0 ? t->t.scalar_type() : static_cast<at::ScalarType>(dtype);
  if (dev_type < 0) {
    *out = ct_wrap(t->t.to(st, non_blocking != 0));
  } else {
    *out = ct_wrap(t->t.to(ct_device(dev_type, dev_index), st, non_blocking != 0));
  }
  CT_CATCH
}

ct_error ct_tensor_clone(ct_tensor t, ct_tensor *out) { CT_OUT(t->t.clone()) }

ct_error ct_tensor_detach(ct_tensor t, ct_tensor *out) { CT_OUT(t->t.detach()) }

ct_error ct_tensor_contiguous(ct_tensor t, ct_tensor *out) { CT_OUT(t->t.contiguous()) }

ct_error ct_tensor_to_memory_format(ct_tensor t, int format, ct_tensor *out) {
  CT_OUT(t->t.contiguous(format == 1 ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous))
}

ct_error ct_tensor_requires_grad(ct_tensor t, int *out) {
  CT_TRY
  *out = t->t.requires_grad() ? 1 : 0;
  CT_CATCH
}

ct_error ct_tensor_set_requires_grad(ct_tensor t, int requires_grad) {
  CT_TRY
  t->t.set_requires_grad(requires_grad != 0);
  CT_CATCH
}

ct_error ct_tensor_backward(ct_tensor t) {
  CT_TRY
  t->t.backward();
  CT_CATCH
}

ct_error ct_tensor_grad(ct_tensor t, ct_tensor *out) {
  CT_TRY
  const at::Tensor &g = t->t.grad();
  *out = g.defined() ? ct_wrap(g) : nullptr;
  CT_CATCH
}

ct_error ct_tensor_set_grad_none(ct_tensor t) {
  CT_TRY
  t->t.mutable_grad() = at::Tensor();
  CT_CATCH
}

ct_error ct_tensor_item(ct_tensor t, double *out) {
  CT_TRY
  *out = t->t.item<double>();
  CT_CATCH
}

ct_error ct_tensor_item_int64(ct_tensor t, int64_t *out) {
  CT_TRY
  *out = t->t.item<int64_t>();
  CT_CATCH
}

ct_error ct_conv2d(ct_tensor x, ct_tensor w, ct_tensor b, const int64_t *stride, const int64_t *padding,
                   const int64_t *dilation, int64_t groups, ct_tensor *out) {
  CT_OUT(at::conv2d(x->t, w->t, ct_opt(b), dims(stride, 2), dims(padding, 2), dims(dilation, 2), groups))
}

ct_error ct_batch_norm(ct_tensor x, ct_tensor w, ct_tensor b, ct_tensor running_mean, ct_tensor running_var,
                       int training, double momentum, double eps, ct_tensor *out) {
  CT_OUT(at::batch_norm(x->t, ct_opt(w), ct_opt(b), ct_opt(running_mean), ct_opt(running_var), training != 0,
                        momentum, eps, at::globalContext().userEnabledCuDNN()))
}

ct_error ct_relu(ct_tensor x, ct_tensor *out) { CT_OUT(at::relu(x->t)) }

ct_error ct_gelu(ct_tensor x, ct_tensor *out) { CT_OUT(at::gelu(x->t, "none")) }

ct_error ct_dropout(ct_tensor x, double p, int train, ct_tensor *out) {
  CT_OUT(at::dropout(x->t, p, train != 0))
}

ct_error ct_adaptive_avg_pool2d(ct_tensor x, int64_t oh, int64_t ow, ct_tensor *out) {
  CT_OUT(at::adaptive_avg_pool2d(x->t, {oh, ow}))
}

ct_error ct_linear(ct_tensor x, ct_tensor w, ct_tensor b, ct_tensor *out) {
  CT_OUT(at::linear(x->t, w->t, ct_opt(b)))
}

ct_error ct_log_softmax(ct_tensor x, int64_t dim, ct_tensor *out) { CT_OUT(at::log_softmax(x->t, dim)) }

ct_error ct_softmax(ct_tensor x, int64_t dim, ct_tensor *out) { CT_OUT(at::softmax(x->t, dim)) }

static_assert(int(CT_REDUCTION_NONE) == at::Reduction::None && int(CT_REDUCTION_MEAN) == at::Reduction::Mean &&
                  int(CT_REDUCTION_SUM) == at::Reduction::Sum,
              "ct_reduction must match at::Reduction");

ct_error ct_cross_entropy(ct_tensor x, ct_tensor target, ct_reduction reduction, double label_smoothing, ct_tensor *out) {
  CT_OUT(at::cross_entropy_loss(x->t, target->t, {}, reduction, -100, label_smoothing))
}

ct_error ct_reshape(ct_tensor x, const int64_t *shape, int ndim, ct_tensor *out) {
  CT_OUT(x->t.reshape(dims(shape, ndim)))
}

ct_error ct_flatten(ct_tensor x, int64_t start, int64_t end, ct_tensor *out) {
  CT_OUT(x->t.flatten(start, end))
}

ct_error ct_transpose(ct_tensor x, int64_t d0, int64_t d1, ct_tensor *out) { CT_OUT(x->t.transpose(d0, d1)) }

ct_error ct_add(ct_tensor a, ct_tensor b, double alpha, ct_tensor *out) { CT_OUT(at::add(a->t, b->t, alpha)) }

ct_error ct_sub(ct_tensor a, ct_tensor b, ct_tensor *out) { CT_OUT(at::sub(a->t, b->t)) }

ct_error ct_mul(ct_tensor a, ct_tensor b, ct_tensor *out) { CT_OUT(at::mul(a->t, b->t)) }

ct_error ct_div(ct_tensor a, ct_tensor b, ct_tensor *out) { CT_OUT(at::div(a->t, b->t)) }

ct_error ct_matmul(ct_tensor a, ct_tensor b, ct_tensor *out) { CT_OUT(at::matmul(a->t, b->t)) }

ct_error ct_add_scalar(ct_tensor a, double s, ct_tensor *out) { CT_OUT(at::add(a->t, s)) }

ct_error ct_mul_scalar(ct_tensor a, double s, ct_tensor *out) { CT_OUT(at::mul(a->t, s)) }

ct_error ct_pow_scalar(ct_tensor a, double s, ct_tensor *out) { CT_OUT(at::pow(a->t, s)) }

ct_error ct_unary(ct_tensor a, ct_unary_op op, ct_tensor *out) {
  CT_TRY
  switch (op) {
    case CT_UNARY_NEG: *out = ct_wrap(at::neg(a->t)); break;
    case CT_UNARY_EXP: *out = ct_wrap(at::exp(a->t)); break;
    case CT_UNARY_LOG: *out = ct_wrap(at::log(a->t)); break;
    case CT_UNARY_SQRT: *out = ct_wrap(at::sqrt(a->t)); break;
    case CT_UNARY_ABS: *out = ct_wrap(at::abs(a->t)); break;
    default: throw std::invalid_argument("unknown unary op " + std::to_string(op));
  }
  CT_CATCH
}

ct_error ct_compare(ct_tensor a, ct_tensor b, ct_compare_op op, ct_tensor *out) {
  CT_TRY
  switch (op) {
    case CT_COMPARE_EQ: *out = ct_wrap(at::eq(a->t, b->t)); break;
    case CT_COMPARE_NE: *out = ct_wrap(at::ne(a->t, b->t)); break;
    case CT_COMPARE_LT: *out = ct_wrap(at::lt(a->t, b->t)); break;
    case CT_COMPARE_LE: *out = ct_wrap(at::le(a->t, b->t)); break;
    case CT_COMPARE_GT: *out = ct_wrap(at::gt(a->t, b->t)); break;
    case CT_COMPARE_GE: *out = ct_wrap(at::ge(a->t, b->t)); break;
    default: throw std::invalid_argument("unknown comparison " + std::to_string(op));
  }
  CT_CATCH
}

ct_error ct_sum(ct_tensor x, ct_tensor *out) { CT_OUT(x->t.sum()) }

ct_error ct_mean(ct_tensor x, ct_tensor *out) { CT_OUT(x->t.mean()) }

ct_error ct_sum_dim(ct_tensor x, int64_t dim, int keepdim, ct_tensor *out) {
  CT_OUT(x->t.sum(dim, keepdim != 0))
}

ct_error ct_mean_dim(ct_tensor x, int64_t dim, int keepdim, ct_tensor *out) {
  CT_OUT(x->t.mean(dim, keepdim != 0))
}

ct_error ct_argmax(ct_tensor x, int64_t dim, int keepdim, ct_tensor *out) {
  CT_OUT(x->t.argmax(dim, keepdim != 0))
}

ct_error ct_topk(ct_tensor x, int64_t k, int64_t dim, ct_tensor *values, ct_tensor *indices) {
  CT_TRY
  auto r = x->t.topk(k, dim);
  *values = ct_wrap(std::get<0>(r));
  *indices = ct_wrap(std::get<1>(r));
  CT_CATCH
}

// scalar_for gives an integral tensor an integral scalar, as Python's
// t.add_(1) does; libtorch refuses a floating one.
static at::Scalar scalar_for(const at::Tensor &t, double v) {
  if (at::isIntegralType(t.scalar_type(), true)) return at::Scalar(static_cast<int64_t>(v));
  return at::Scalar(v);
}

ct_error ct_add_(ct_tensor self, ct_tensor other, double alpha) {
  CT_TRY
  self->t.add_(other->t, scalar_for(self->t, alpha));
  CT_CATCH
}

ct_error ct_mul_scalar_(ct_tensor self, double s) {
  CT_TRY
  self->t.mul_(s);
  CT_CATCH
}

ct_error ct_zero_(ct_tensor self) {
  CT_TRY
  self->t.zero_();
  CT_CATCH
}

ct_error ct_copy_(ct_tensor self, ct_tensor src) {
  CT_TRY
  self->t.copy_(src->t);
  CT_CATCH
}

ct_error ct_add_scalar_(ct_tensor self, double s) {
  CT_TRY
  self->t.add_(scalar_for(self->t, s));
  CT_CATCH
}

ct_error ct_fill_(ct_tensor self, double v) {
  CT_TRY
  self->t.fill_(v);
  CT_CATCH
}

ct_error ct_uniform_(ct_tensor self, double lo, double hi) {
  CT_TRY
  self->t.uniform_(lo, hi);
  CT_CATCH
}

ct_error ct_tensor_set_data(ct_tensor self, ct_tensor src) {
  CT_TRY
  self->t.set_data(src->t);
  CT_CATCH
}

}  // extern "C"

// ---- lists of tensors ----

static std::vector<at::Tensor> ct_list(const ct_tensor *xs, int n) {
  std::vector<at::Tensor> v;
  v.reserve(n);
  for (int i = 0; i < n; i++) v.push_back(xs[i]->t);
  return v;
}

ct_error ct_foreach_add(const ct_tensor *xs, const ct_tensor *ys, int n, double alpha, ct_tensor *out) {
  CT_TRY
  auto r = at::_foreach_add(ct_list(xs, n), ct_list(ys, n), at::Scalar(alpha));
  if (r.size() != static_cast<size_t>(n)) throw std::runtime_error("_foreach_add returned a list of another length");
  ct_wrap_all(r, out);
  CT_CATCH
}

ct_error ct_foreach_add_(const ct_tensor *xs, const ct_tensor *ys, int n, double alpha) {
  CT_TRY
  at::_foreach_add_(ct_list(xs, n), ct_list(ys, n), at::Scalar(alpha));
  CT_CATCH
}

ct_error ct_foreach_mul_scalar_(const ct_tensor *xs, int n, double s) {
  CT_TRY
  at::_foreach_mul_(ct_list(xs, n), at::Scalar(s));
  CT_CATCH
}

// ---- indexing, selection and rounding ----

ct_error ct_index_select(ct_tensor x, int64_t dim, ct_tensor index, ct_tensor *out) {
  CT_OUT(at::index_select(x->t, dim, index->t))
}

ct_error ct_select(ct_tensor x, int64_t dim, int64_t index, ct_tensor *out) { CT_OUT(x->t.select(dim, index)) }

ct_error ct_where(ct_tensor cond, ct_tensor a, ct_tensor b, ct_tensor *out) {
  CT_OUT(at::where(cond->t, a->t, b->t))
}

ct_error ct_stack(const ct_tensor *xs, int n, int64_t dim, ct_tensor *out) {
  CT_OUT(at::stack(ct_list(xs, n), dim))
}

ct_error ct_extremum_elementwise(ct_tensor a, ct_tensor b, ct_extremum op, ct_tensor *out) {
  CT_TRY
  switch (op) {
    case CT_EXTREMUM_MAX: *out = ct_wrap(at::maximum(a->t, b->t)); break;
    case CT_EXTREMUM_MIN: *out = ct_wrap(at::minimum(a->t, b->t)); break;
    default: throw std::invalid_argument("unknown extremum " + std::to_string(op));
  }
  CT_CATCH
}

ct_error ct_clamp(ct_tensor x, double lo, double hi, ct_tensor *out) {
  CT_OUT(at::clamp(x->t, at::Scalar(lo), at::Scalar(hi)))
}

ct_error ct_round(ct_tensor x, ct_rounding mode, ct_tensor *out) {
  CT_TRY
  switch (mode) {
    case CT_ROUNDING_FLOOR: *out = ct_wrap(at::floor(x->t)); break;
    case CT_ROUNDING_HALF_EVEN: *out = ct_wrap(at::round(x->t)); break;
    case CT_ROUNDING_TRUNC: *out = ct_wrap(at::trunc(x->t)); break;
    default: throw std::invalid_argument("unknown rounding mode " + std::to_string(mode));
  }
  CT_CATCH
}
