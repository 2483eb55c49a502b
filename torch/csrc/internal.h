// internal.h: shared pieces of the C++ side of ctorch; never included by Go.
#pragma once

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <string>
#include <vector>

#include "ctorch.h"

struct ct_tensor_s {
  at::Tensor t;
};

// ct_err copies msg into a malloc'd string that Go frees. An error must
// never read as success (NULL): when there is no memory for the message it
// tries a short one, and failing that aborts.
inline ct_error ct_err(const char *msg) {
  static const char oom[] = "out of memory (while reporting an error)";
  size_t n = std::strlen(msg);
  char *s = static_cast<char *>(std::malloc(n + 1));
  if (s != nullptr) {
    std::memcpy(s, msg, n + 1);
    return s;
  }
  s = static_cast<char *>(std::malloc(sizeof oom));
  if (s == nullptr) std::abort();
  std::memcpy(s, oom, sizeof oom);
  return s;
}

inline ct_tensor ct_wrap(at::Tensor t) { return new ct_tensor_s{std::move(t)}; }

// ct_wrap_all wraps ts into out[0], ..., out[ts.size()-1], all or none: if
// an allocation fails, it frees the handles made so far and rethrows.
inline void ct_wrap_all(std::vector<at::Tensor> &ts, ct_tensor *out) {
  size_t i = 0;
  try {
    for (; i < ts.size(); i++) out[i] = ct_wrap(std::move(ts[i]));
  } catch (...) {
    while (i > 0) {
      i--;
      delete out[i];
      out[i] = nullptr;
    }
    throw;
  }
}

// ct_check_plain throws unless t is a defined, dense, strided tensor: the
// only kind the metadata functions and the Go side describe. Tensors from
// TorchScript code, which may be nested, sparse and so on, pass through it;
// what names the tensor in the message.
inline void ct_check_plain(const at::Tensor &t, const std::string &what) {
  if (!t.defined()) throw std::runtime_error(what + " is an undefined tensor");
  if (t.is_nested()) throw std::runtime_error(what + " is a nested tensor, which is not supported");
  if (t.layout() != at::kStrided) {
    throw std::runtime_error(what + " has layout " + c10::str(t.layout()) +
                             ", which is not supported (only strided tensors are)");
  }
}

// Optional tensor arguments: NULL means "none".
inline at::Tensor ct_opt(ct_tensor t) { return t == nullptr ? at::Tensor() : t->t; }

// libtorch's intra-op thread count lives in OpenMP's per-thread state, while
// Go runs cgo calls on whichever OS thread the goroutine sits on. Every entry
// point re-applies the process-wide setting on the current thread when it differs.
extern std::atomic<int> ct_threads;
void ct_sync_threads_slow(int want);
inline void ct_sync_threads() {
  thread_local int have = 0;
  int want = ct_threads.load(std::memory_order_relaxed);
  if (want > 0 && have != want) {
    ct_sync_threads_slow(want);
    have = want;
  }
}

// ct_device maps a device type and index from Go to libtorch's device. Go
// writes the CPU as {CPU, 0}, but CPU tensors have no index (-1), and
// Device(kCPU, 0) differs from their device: to() would copy a tensor that
// is already on the CPU.
inline at::Device ct_device(int type, int index) {
  if (static_cast<c10::DeviceType>(type) == c10::DeviceType::CPU) return at::Device(c10::DeviceType::CPU);
  return at::Device(static_cast<c10::DeviceType>(type), static_cast<c10::DeviceIndex>(index));
}

inline at::TensorOptions ct_options(int dtype, int dev_type, int dev_index) {
  return at::TensorOptions().dtype(static_cast<at::ScalarType>(dtype)).device(ct_device(dev_type, dev_index));
}

#define CT_TRY   \
  try {          \
    ct_sync_threads();

#define CT_CATCH                                         \
  }                                                      \
  catch (const c10::Error &e) {                          \
    return ct_err(e.what_without_backtrace());           \
  }                                                      \
  catch (const std::exception &e) {                      \
    return ct_err(e.what());                             \
  }                                                      \
  catch (...) {                                          \
    return ct_err("unknown C++ exception in libtorch");  \
  }                                                      \
  return nullptr;

// CT_OUT runs expr (an at::Tensor) and stores it in *out.
#define CT_OUT(expr) \
  CT_TRY *out = ct_wrap(expr); CT_CATCH
