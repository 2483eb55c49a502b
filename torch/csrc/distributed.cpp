// distributed.cpp: c10d stores, ProcessGroupGloo and the collectives of
// ctorch_dist.h. Without CT_HAVE_GLOO (the Makefile defines it, with
// USE_C10D_GLOO, only where the Gloo headers exist) the process group
// constructor returns CT_DIST_NO_GLOO instead.
#include "dist_internal.h"

#ifdef CT_HAVE_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif

namespace {

std::vector<std::string> ct_keys(const char *const *keys, int n) {
  std::vector<std::string> ks;
  for (int i = 0; i < n; i++) ks.emplace_back(keys[i]);
  return ks;
}

c10d::ReduceOp ct_reduce_op(int op) {
  switch (op) {
    case 0: return c10d::ReduceOp::SUM;
    case 1: return c10d::ReduceOp::PRODUCT;
    case 2: return c10d::ReduceOp::MIN;
    case 3: return c10d::ReduceOp::MAX;
  }
  throw std::invalid_argument("unknown reduce op " + std::to_string(op));
}

void ct_wait(const c10::intrusive_ptr<c10d::Work> &w, int64_t timeout_ms) { w->wait(ct_ms(timeout_ms)); }

void ct_allreduce(ct_pg pg, at::Tensor &t, int op, int64_t timeout_ms) {
  std::vector<at::Tensor> v{t};
  c10d::AllreduceOptions o;
  o.reduceOp = ct_reduce_op(op);
  o.timeout = ct_ms(timeout_ms);
  ct_wait(pg->g->allreduce(v, o), timeout_ms);
}

void ct_broadcast(ct_pg pg, at::Tensor &t, int root, int64_t timeout_ms) {
  std::vector<at::Tensor> v{t};
  c10d::BroadcastOptions o;
  o.rootRank = root;
  o.timeout = ct_ms(timeout_ms);
  ct_wait(pg->g->broadcast(v, o), timeout_ms);
}

// ct_buckets splits ts into runs of one dtype and device of at most
// bucket_bytes each (a tensor larger than that is a bucket of its own) and
// calls f on each run's flattened copy; f's result is copied back.
template <class F>
void ct_buckets(const ct_tensor *ts, int n, int64_t bucket_bytes, F f) {
  at::NoGradGuard no_grad;
  int i = 0;
  while (i < n) {
    std::vector<at::Tensor> b{ts[i]->t};
    int64_t bytes = ts[i]->t.nbytes();
    int j = i + 1;
    for (; j < n; j++) {
      const at::Tensor &t = ts[j]->t;
      if (t.scalar_type() != b[0].scalar_type() || t.device() != b[0].device() ||
          bytes + static_cast<int64_t>(t.nbytes()) > bucket_bytes)
        break;
      b.push_back(t);
      bytes += t.nbytes();
    }
    at::Tensor flat = at::flatten_dense_tensors(b);
    f(flat);
    std::vector<at::Tensor> outs = at::unflatten_dense_tensors(flat, b);
    for (size_t k = 0; k < b.size(); k++) b[k].copy_(outs[k]);
    i = j;
  }
}

}  // namespace

extern "C" {

int ct_dist_abi_version(void) { return CT_DIST_ABI_VERSION; }

int ct_dist_has_gloo(void) {
#ifdef CT_HAVE_GLOO
  return 1;
#else
  return 0;
#endif
}

int ct_dist_has_nccl(void) {
#ifdef CT_HAVE_NCCL
  return 1;
#else
  return 0;
#endif
}

// ---- stores ----

ct_error ct_tcpstore_new(const char *host, int port, int is_server, int64_t timeout_ms, ct_store *out) {
  CT_TRY
  if (port < 0 || port > 65535) throw std::invalid_argument("port " + std::to_string(port) + " is out of range");
  c10d::TCPStoreOptions o;
  o.port = static_cast<uint16_t>(port);
  o.isServer = is_server != 0;
  // The server does not wait for the clients here (1.13 would go on
  // silently at the timeout, 2.x throws); the Go side checks who joined.
  o.waitWorkers = false;
  o.timeout = ct_ms(timeout_ms);
  auto s = c10::make_intrusive<c10d::TCPStore>(std::string(host), o);
  int p = s->getPort();
  *out = new ct_store_s{std::move(s), p};
  CT_CATCH
}

ct_error ct_prefixstore_new(const char *prefix, ct_store base, ct_store *out) {
  CT_TRY
  auto s = c10::make_intrusive<c10d::PrefixStore>(std::string(prefix), base->s);
  *out = new ct_store_s{std::move(s), base->port};
  CT_CATCH
}

void ct_store_free(ct_store s) {
  try {
    delete s;
  } catch (...) {
  }
}

ct_error ct_store_port(ct_store s, int *out) {
  *out = s->port;
  return nullptr;
}

ct_error ct_store_set(ct_store s, const char *key, const void *data, size_t n) {
  CT_TRY
  const uint8_t *p = static_cast<const uint8_t *>(data);
  s->s->set(std::string(key), std::vector<uint8_t>(p, p + n));
  CT_CATCH
}

ct_error ct_store_get(ct_store s, const char *key, void **data, size_t *n) {
  CT_TRY
  std::vector<uint8_t> v = s->s->get(std::string(key));
  void *p = std::malloc(v.empty() ? 1 : v.size());
  if (p == nullptr) throw std::bad_alloc();
  if (!v.empty()) std::memcpy(p, v.data(), v.size());
  *data = p;
  *n = v.size();
  CT_CATCH
}

ct_error ct_store_add(ct_store s, const char *key, int64_t delta, int64_t *out) {
  CT_TRY
  *out = s->s->add(std::string(key), delta);
  CT_CATCH
}

ct_error ct_store_check(ct_store s, const char *const *keys, int n, int *out) {
  CT_TRY
  *out = s->s->check(ct_keys(keys, n)) ? 1 : 0;
  CT_CATCH
}

ct_error ct_store_wait(ct_store s, const char *const *keys, int n, int64_t timeout_ms) {
  CT_TRY
  s->s->wait(ct_keys(keys, n), ct_ms(timeout_ms));
  CT_CATCH
}

// ---- process groups ----

ct_error ct_pg_gloo_new(ct_store s, int rank, int size, int64_t timeout_ms, const char *hostname,
                        const char *const *ifaces, int n_ifaces, int threads, ct_pg *out) {
#ifdef CT_HAVE_GLOO
  CT_TRY
  using c10d::ProcessGroupGloo;
  auto o = ProcessGroupGloo::Options::create(ct_ms(timeout_ms));
  for (int i = 0; i < n_ifaces; i++) o->devices.push_back(ProcessGroupGloo::createDeviceForInterface(ifaces[i]));
  if (n_ifaces == 0) o->devices.push_back(ProcessGroupGloo::createDeviceForHostname(hostname));
  o->threads = threads > 0 ? threads : 2;
  auto pg = c10::make_intrusive<ProcessGroupGloo>(s->s, rank, size, o);
  *out = new ct_pg_s{std::make_unique<CtGroupOf<ProcessGroupGloo>>(std::move(pg))};
  CT_CATCH
#else
  return ct_err(CT_DIST_NO_GLOO);
#endif
}

#ifndef CT_HAVE_NCCL
ct_error ct_pg_nccl_new(ct_store s, int rank, int size, int64_t timeout_ms, ct_pg *out) {
  return ct_err(CT_DIST_NO_NCCL);
}
#endif

void ct_pg_free(ct_pg pg) {
  try {
    delete pg;
  } catch (...) {
  }
}

ct_error ct_pg_allreduce(ct_pg pg, ct_tensor t, int op, int64_t timeout_ms) {
  CT_TRY
  ct_allreduce(pg, t->t, op, timeout_ms);
  CT_CATCH
}

ct_error ct_pg_broadcast(ct_pg pg, ct_tensor t, int root, int64_t timeout_ms) {
  CT_TRY
  ct_broadcast(pg, t->t, root, timeout_ms);
  CT_CATCH
}

ct_error ct_pg_barrier(ct_pg pg, int64_t timeout_ms) {
  CT_TRY
  c10d::BarrierOptions o;
  o.timeout = ct_ms(timeout_ms);
  ct_wait(pg->g->barrier(o), timeout_ms);
  CT_CATCH
}

ct_error ct_pg_allreduce_mean_coalesced(ct_pg pg, const ct_tensor *ts, int n, int64_t bucket_bytes,
                                        int64_t timeout_ms) {
  CT_TRY
  int size = pg->g->size();
  ct_buckets(ts, n, bucket_bytes, [&](at::Tensor &flat) {
    ct_allreduce(pg, flat, 0, timeout_ms);
    flat.div_(size);
  });
  CT_CATCH
}

ct_error ct_pg_broadcast_coalesced(ct_pg pg, const ct_tensor *ts, int n, int root, int64_t bucket_bytes,
                                   int64_t timeout_ms) {
  CT_TRY
  ct_buckets(ts, n, bucket_bytes, [&](at::Tensor &flat) { ct_broadcast(pg, flat, root, timeout_ms); });
  CT_CATCH
}

}  // extern "C"
