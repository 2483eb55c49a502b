/*
 * ctorch_dist.h: the plain C ABI over libtorch's distributed engine, c10d,
 * that the Go package gotrain/torch/distributed links: TCPStore and
 * PrefixStore for the rendezvous, ProcessGroupGloo for CPU tensors and, in
 * builds of libtorch that have it, ProcessGroupNCCL for CUDA tensors.
 *
 * Conventions are those of ctorch.h: opaque handles, every fallible
 * function returns ct_error (NULL on success, else a malloc'd message the
 * caller frees), no C++ exception crosses this boundary, results through
 * out-parameters, handles owned by the caller. Timeouts are milliseconds.
 *
 * The stores need only libtorch. A libctorch built without the Gloo headers
 * (Debian's libgloo-dev) still has every function here: ct_dist_has_gloo
 * returns 0 and ct_pg_gloo_new returns CT_DIST_NO_GLOO. Likewise for NCCL
 * with ct_dist_has_nccl and ct_pg_nccl_new.
 */
#ifndef CTORCH_DIST_H
#define CTORCH_DIST_H

#include "ctorch.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bump on any change to this header; the Go side refuses a mismatch. */
#define CT_DIST_ABI_VERSION 1

#define CT_DIST_NO_GLOO "torch/distributed: this libtorch build has no Gloo (install libgloo-dev and rebuild)"
#define CT_DIST_NO_NCCL "torch/distributed: this libtorch build has no NCCL"

typedef struct ct_store_s *ct_store;
typedef struct ct_pg_s *ct_pg;

int ct_dist_abi_version(void);
int ct_dist_has_gloo(void);
int ct_dist_has_nccl(void);

/* ---- stores ---- */
/* A c10d::TCPStore at host:port; the server (is_server) listens there
 * (port 0: a free port, see ct_store_port), a client connects, retrying
 * until timeout_ms. The timeout is also the store's default for get/wait. */
ct_error ct_tcpstore_new(const char *host, int port, int is_server, int64_t timeout_ms, ct_store *out);
/* A c10d::PrefixStore over base: keys become prefix/key. It shares base. */
ct_error ct_prefixstore_new(const char *prefix, ct_store base, ct_store *out);
void ct_store_free(ct_store s);
/* The TCP port of a TCPStore (or of the TCPStore under prefix stores). */
ct_error ct_store_port(ct_store s, int *out);
ct_error ct_store_set(ct_store s, const char *key, const void *data, size_t n);
/* Waits up to the store's timeout for key; *data is malloc'd (free()), *n its length. */
ct_error ct_store_get(ct_store s, const char *key, void **data, size_t *n);
ct_error ct_store_add(ct_store s, const char *key, int64_t delta, int64_t *out);
/* *out = 1 when every key is present. */
ct_error ct_store_check(ct_store s, const char *const *keys, int n, int *out);
ct_error ct_store_wait(ct_store s, const char *const *keys, int n, int64_t timeout_ms);

/* ---- process groups ---- */
/* A c10d::ProcessGroupGloo over store. Its devices: one per name in ifaces
 * (createDeviceForInterface), else hostname (createDeviceForHostname);
 * threads <= 0 means 2. timeout_ms is Gloo's timeout for every operation. */
ct_error ct_pg_gloo_new(ct_store s, int rank, int size, int64_t timeout_ms, const char *hostname,
                        const char *const *ifaces, int n_ifaces, int threads, ct_pg *out);
/* A c10d::ProcessGroupNCCL over store (CUDA tensors), where libtorch has NCCL. */
ct_error ct_pg_nccl_new(ct_store s, int rank, int size, int64_t timeout_ms, ct_pg *out);
void ct_pg_free(ct_pg pg);

/* The collectives block until done, failed, or timeout_ms passed. */
/* op: 0 sum, 1 product, 2 min, 3 max; in place. */
ct_error ct_pg_allreduce(ct_pg pg, ct_tensor t, int op, int64_t timeout_ms);
ct_error ct_pg_broadcast(ct_pg pg, ct_tensor t, int root, int64_t timeout_ms);
ct_error ct_pg_barrier(ct_pg pg, int64_t timeout_ms);
/* Averages ts[0..n) across the group in place: flattens runs of tensors of
 * one dtype and device into buckets of about bucket_bytes, allreduces each
 * with SUM, divides by the group size and copies the result back. */
ct_error ct_pg_allreduce_mean_coalesced(ct_pg pg, const ct_tensor *ts, int n, int64_t bucket_bytes, int64_t timeout_ms);
/* Copies root's ts[0..n) to every rank in place, in buckets the same way. */
ct_error ct_pg_broadcast_coalesced(ct_pg pg, const ct_tensor *ts, int n, int root, int64_t bucket_bytes,
                                   int64_t timeout_ms);

#ifdef __cplusplus
}
#endif

#endif /* CTORCH_DIST_H */
