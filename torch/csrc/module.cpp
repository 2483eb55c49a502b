// module.cpp: TorchScript modules behind the ctorch C ABI: load files saved by
// Python's torch.jit.save, read their named parameters and buffers, and build
// and save modules whose forward is defined from TorchScript source.
#include <torch/script.h>

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

ct_error ct_module_save(ct_module m, const char *path) {
  CT_TRY
  m->m.save(path);
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
  *out = ct_wrap(r.toTensor());
  CT_CATCH
}

ct_error ct_module_named_tensors(ct_module m, int buffers, char ***names, ct_tensor **tensors, int *n) {
  CT_TRY
  std::vector<std::pair<std::string, at::Tensor>> items;
  if (buffers) {
    for (const auto &p : m->m.named_buffers(true)) items.emplace_back(p.name, p.value);
  } else {
    for (const auto &p : m->m.named_parameters(true)) items.emplace_back(p.name, p.value);
  }
  *n = static_cast<int>(items.size());
  *names = static_cast<char **>(std::calloc(items.size() + 1, sizeof(char *)));
  *tensors = static_cast<ct_tensor *>(std::calloc(items.size() + 1, sizeof(ct_tensor)));
  if (*names == nullptr || *tensors == nullptr) throw std::bad_alloc();
  for (size_t i = 0; i < items.size(); i++) {
    (*names)[i] = dup_string(items[i].first);
    (*tensors)[i] = ct_wrap(items[i].second);
  }
  CT_CATCH
}

}  // extern "C"
