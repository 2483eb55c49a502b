// dist_internal.h: shared pieces of the C++ side of ctorch_dist.h (c10d);
// never included by Go.
#pragma once

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/Store.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/distributed/c10d/Types.hpp>
#include <torch/csrc/distributed/c10d/Work.hpp>

#include <chrono>
#include <memory>

#include "ctorch_dist.h"
#include "internal.h"

struct ct_store_s {
  c10::intrusive_ptr<c10d::Store> s;
  int port;  // the TCPStore's port, also for prefix stores over it
};

inline std::chrono::milliseconds ct_ms(int64_t ms) { return std::chrono::milliseconds(ms); }

// CtGroup is what a ct_pg holds: one c10d backend. The backends are held
// by their concrete type (ProcessGroupGloo, ProcessGroupNCCL), never as
// ProcessGroup or Backend, whose place in the class tree changed between
// libtorch 1.13 and 2.x.
struct CtGroup {
  virtual ~CtGroup() = default;
  virtual int size() const = 0;
  virtual c10::intrusive_ptr<c10d::Work> allreduce(std::vector<at::Tensor> &ts, const c10d::AllreduceOptions &o) = 0;
  virtual c10::intrusive_ptr<c10d::Work> broadcast(std::vector<at::Tensor> &ts, const c10d::BroadcastOptions &o) = 0;
  virtual c10::intrusive_ptr<c10d::Work> barrier(const c10d::BarrierOptions &o) = 0;
};

template <class PG>
struct CtGroupOf : CtGroup {
  explicit CtGroupOf(c10::intrusive_ptr<PG> pg) : pg(std::move(pg)) {}
  int size() const override { return pg->getSize(); }
  c10::intrusive_ptr<c10d::Work> allreduce(std::vector<at::Tensor> &ts, const c10d::AllreduceOptions &o) override {
    return pg->allreduce(ts, o);
  }
  c10::intrusive_ptr<c10d::Work> broadcast(std::vector<at::Tensor> &ts, const c10d::BroadcastOptions &o) override {
    return pg->broadcast(ts, o);
  }
  c10::intrusive_ptr<c10d::Work> barrier(const c10d::BarrierOptions &o) override { return pg->barrier(o); }
  c10::intrusive_ptr<PG> pg;
};

struct ct_pg_s {
  std::unique_ptr<CtGroup> g;
};
