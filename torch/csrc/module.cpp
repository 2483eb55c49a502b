// module.cpp: TorchScript modules behind the ctorch C ABI: load files saved by
// Python's torch.jit.save, read their named parameters and buffers, and build
// modules whose forward is defined from TorchScript source and serialize them
// to memory (the Go side writes the file).
#include <torch/script.h>

#include <algorithm>
#include <iterator>
#include <sstream>
#include <utility>
#include <vector>

#include "internal.h"

struct ct_module_s {
  torch::jit::Module m;
};

static char *dup_string(const std::string &s) {
  char *p = static_cast<char *>(std::malloc(s.size() + 1));
  if (p == nullptr) throw std::bad_alloc();
  std::memcpy(p, s.c_str(), s.size() + 1);
  return p;
}

extern "C" {

void ct_module_free(ct_module m) { delete m; }

ct_error ct_module_load(const char *path, int dev_type, int dev_index, ct_module *out) {
  CT_TRY
  *out = new ct_module_s{torch::jit::load(path, ct_device(dev_type, dev_index))};
  CT_CATCH
}

ct_error ct_module_new(const char *class_name, ct_module share, ct_module *out) {
  CT_TRY
  if (share == nullptr) {
    *out = new ct_module_s{torch::jit::Module(class_name)};
  } else {
    *out = new ct_module_s{torch::jit::Module(class_name, share->m._ivalue()->compilation_unit(), true)};
  }
  CT_CATCH
}

ct_error ct_module_register_tensor(ct_module m, const char *name, ct_tensor t, int is_buffer) {
  CT_TRY
  if (is_buffer) {
    m->m.register_buffer(name, t->t);
  } else {
    m->m.register_parameter(name, t->t, false);
  }
  CT_CATCH
}

ct_error ct_module_register_module(ct_module m, const char *name, ct_module child) {
  CT_TRY
  m->m.register_module(name, child->m);
  CT_CATCH
}

ct_error ct_module_define(ct_module m, const char *source) {
  CT_TRY
  m->m.define(source);
  CT_CATCH
}

ct_error ct_module_set_training(ct_module m, int training) {
  CT_TRY
  m->m.train(training != 0);
  CT_CATCH
}

ct_error ct_module_forward(ct_module m, ct_tensor x, ct_tensor *out) {
  CT_TRY
  std::vector<torch::jit::IValue> in{x->t};
  torch::jit::IValue r = m->m.forward(in);
  if (!r.isTensor()) throw std::runtime_error("forward returned " + r.tagKind() + ", want a Tensor");
  at::Tensor t = r.toTensor();
  ct_check_plain(t, "the result");
  *out = ct_wrap(std::move(t));
  CT_CATCH
}

ct_error ct_module_named_tensors(ct_module m, int buffers, char ***names, ct_tensor **tensors, int *n) {
  CT_TRY
  std::vector<std::pair<std::string, at::Tensor>> items;
  auto collect = [&items](const auto &list) {
    std::transform(list.begin(), list.end(), std::back_inserter(items),
                   [](const auto &p) { return std::make_pair(p.name, p.value); });
  };
  if (buffers) {
    collect(m->m.named_buffers(true));
  } else {
    collect(m->m.named_parameters(true));
  }
  for (const auto &it : items) ct_check_plain(it.second, (buffers ? "buffer \"" : "parameter \"") + it.first + "\"");
  // Allocate everything, then hand it over; on failure free what was made.
  size_t k = items.size();
  char **ns = static_cast<char **>(std::calloc(k + 1, sizeof(char *)));
  ct_tensor *ts = static_cast<ct_tensor *>(std::calloc(k + 1, sizeof(ct_tensor)));
  try {
    if (ns == nullptr || ts == nullptr) throw std::bad_alloc();
    for (size_t i = 0; i < k; i++) {
      ns[i] = dup_string(items[i].first);
      ts[i] = ct_wrap(items[i].second);
    }
  } catch (...) {
    for (size_t i = 0; i < k; i++) {
      if (ns != nullptr) std::free(ns[i]);
      if (ts != nullptr) delete ts[i];
    }
    std::free(ns);
    std::free(ts);
    throw;
  }
  *names = ns;
  *tensors = ts;
  *n = static_cast<int>(k);
  CT_CATCH
}

ct_error ct_module_register_bool(ct_module m, const char *name, int value) {
  CT_TRY
  m->m.register_attribute(name, c10::BoolType::get(), value != 0);
  CT_CATCH
}

ct_error ct_module_save_bytes(ct_module m, void **data, size_t *size) {
  CT_TRY
  // The archive is built in memory so that no libtorch write path meets the
  // disk: a full disk there throws from a destructor and aborts the process.
  // The caller writes the bytes.
  std::ostringstream os;
  m->m.save(os);
  if (!os) throw std::runtime_error("serializing the module failed");
  std::string s = os.str();
  void *p = std::malloc(s.empty() ? 1 : s.size());
  if (p == nullptr) throw std::bad_alloc();
  std::memcpy(p, s.data(), s.size());
  *data = p;
  *size = s.size();
  CT_CATCH
}

}  // extern "C"
