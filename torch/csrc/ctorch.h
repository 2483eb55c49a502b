/*
 * ctorch.h: the plain C ABI over libtorch that the Go package gotrain/torch links.
 *
 * Conventions:
 *   - Tensors and TorchScript modules are opaque handles; C++ types never
 *     appear here, so this header is safe to include from cgo and from C++
 *     next to the torch headers.
 *   - Every fallible function returns ct_error: NULL on success, otherwise a
 *     malloc'd message (libtorch's text) that the caller frees with free().
 *     No C++ exception ever crosses this boundary.
 *   - Results come back through out-parameters. A returned handle is owned
 *     by the caller and released with ct_tensor_free / ct_module_free.
 *   - Optional tensor arguments accept NULL.
 *   - dtype codes are c10::ScalarType values (Byte=0, Int=3, Long=4, Float=6,
 *     Double=7, Bool=11); device types are c10::DeviceType values (CPU=0, CUDA=1).
 */
#ifndef CTORCH_H
#define CTORCH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bump on any change to this header; the Go side refuses a mismatch. */
#define CT_ABI_VERSION 15

typedef struct ct_tensor_s *ct_tensor;
typedef struct ct_module_s *ct_module;
typedef char *ct_error;

int ct_abi_version(void);
/* The libtorch version this library was compiled against, e.g. "1.13.1". */
const char *ct_torch_version(void);

/* ---- global state ---- */
/* Makes glibc malloc keep freed memory for reuse (one arena, no mmap'd
 * blocks, heap trimmed only above trim_threshold bytes); returns 0 where
 * that is not possible. */
int ct_tune_malloc(long trim_threshold);
/* A number unique to the calling OS thread (never reused), cheaper than a
 * gettid system call. */
int64_t ct_thread_id(void);
ct_error ct_manual_seed(uint64_t seed);
void ct_set_num_threads(int n);
int ct_get_num_threads(void);
int ct_cuda_is_available(void);
int ct_cuda_device_count(void);
ct_error ct_cuda_synchronize(int device);
/* cuDNN's benchmark mode (torch.backends.cudnn.benchmark): time the
 * convolution algorithms for each new input shape and keep the fastest. */
void ct_set_cudnn_benchmark(int enabled);
int ct_cudnn_benchmark(void);
/* Grad mode is thread-local, as in PyTorch. */
void ct_set_grad_enabled(int enabled);
int ct_is_grad_enabled(void);
/* CPU autocast (torch.autocast("cpu"), bfloat16), per thread: while on,
 * convolutions and matrix products on CPU tensors run in bfloat16 and the
 * ops listed as float32 in libtorch's autocast run in float32. Turning it
 * off drops the cache of casted weights, as leaving an autocast region does. */
void ct_set_autocast_cpu(int enabled);
int ct_is_autocast_cpu(void);
/* The default CPU generator's state as a uint8 tensor, and restoring it. */
ct_error ct_get_rng_state(ct_tensor *out);
ct_error ct_set_rng_state(ct_tensor state);
ct_error ct_cuda_get_rng_state(int device, ct_tensor *out);
ct_error ct_cuda_set_rng_state(int device, ct_tensor state);

/* ---- tensor lifecycle and metadata ----
 * Handles from this library hold dense, strided tensors (TorchScript results
 * that are not are refused with an error), whose metadata libtorch always
 * gives. Should it throw, dim, dtype, numel and the device type return -1,
 * is_contiguous 0, and shape writes nothing. */
void ct_tensor_free(ct_tensor t);
/* Copies numel*elemsize bytes from data into a new contiguous CPU tensor. */
ct_error ct_tensor_from_data(const void *data, const int64_t *shape, int ndim, int dtype, int pinned, ct_tensor *out);
/* Copies the tensor's values (any device, any layout) into dst as contiguous row-major bytes. */
ct_error ct_tensor_copy_to(ct_tensor t, void *dst, size_t nbytes);
int ct_tensor_dim(ct_tensor t);
void ct_tensor_shape(ct_tensor t, int64_t *out);
int ct_tensor_dtype(ct_tensor t);
void ct_tensor_device(ct_tensor t, int *type, int *index);
int64_t ct_tensor_numel(ct_tensor t);
int ct_tensor_is_contiguous(ct_tensor t);

/* ---- creation ---- */
ct_error ct_full(const int64_t *shape, int ndim, double value, int dtype, int dev_type, int dev_index, ct_tensor *out);
ct_error ct_randn(const int64_t *shape, int ndim, int dtype, int dev_type, int dev_index, ct_tensor *out);
ct_error ct_rand(const int64_t *shape, int ndim, int dtype, int dev_type, int dev_index, ct_tensor *out);
ct_error ct_arange(double start, double end, double step, int dtype, int dev_type, int dev_index, ct_tensor *out);

/* ---- conversion ---- */
/* Like Tensor.to: the result shares t's data when it is already on the device
 * with the dtype. dtype < 0 keeps the dtype, dev_type < 0 the device. */
ct_error ct_tensor_to(ct_tensor t, int dev_type, int dev_index, int dtype, int non_blocking, ct_tensor *out);
ct_error ct_tensor_clone(ct_tensor t, ct_tensor *out);
ct_error ct_tensor_detach(ct_tensor t, ct_tensor *out);
ct_error ct_tensor_contiguous(ct_tensor t, ct_tensor *out);
/* format: 0 contiguous (NCHW), 1 channels-last (NHWC strides). */
ct_error ct_tensor_to_memory_format(ct_tensor t, int format, ct_tensor *out);

/* ---- autograd ---- */
ct_error ct_tensor_requires_grad(ct_tensor t, int *out);
ct_error ct_tensor_set_requires_grad(ct_tensor t, int requires_grad);
ct_error ct_tensor_backward(ct_tensor t);
/* *out is NULL when the tensor has no gradient. */
ct_error ct_tensor_grad(ct_tensor t, ct_tensor *out);
ct_error ct_tensor_set_grad_none(ct_tensor t);
ct_error ct_tensor_item(ct_tensor t, double *out);
ct_error ct_tensor_item_int64(ct_tensor t, int64_t *out);

/* ---- neural network ops ---- */
ct_error ct_conv2d(ct_tensor x, ct_tensor w, ct_tensor b, const int64_t *stride, const int64_t *padding,
                   const int64_t *dilation, int64_t groups, ct_tensor *out);
ct_error ct_batch_norm(ct_tensor x, ct_tensor w, ct_tensor b, ct_tensor running_mean, ct_tensor running_var,
                       int training, double momentum, double eps, ct_tensor *out);
ct_error ct_relu(ct_tensor x, ct_tensor *out);
/* torch.nn.functional.gelu(x) with approximate='none': x * Phi(x). */
ct_error ct_gelu(ct_tensor x, ct_tensor *out);
ct_error ct_dropout(ct_tensor x, double p, int train, ct_tensor *out);
ct_error ct_adaptive_avg_pool2d(ct_tensor x, int64_t oh, int64_t ow, ct_tensor *out);
ct_error ct_linear(ct_tensor x, ct_tensor w, ct_tensor b, ct_tensor *out);
ct_error ct_log_softmax(ct_tensor x, int64_t dim, ct_tensor *out);
ct_error ct_softmax(ct_tensor x, int64_t dim, ct_tensor *out);
/* How a loss combines its per-sample values (PyTorch's reduction=; the
 * values of at::Reduction). */
typedef enum { CT_REDUCTION_NONE = 0, CT_REDUCTION_MEAN = 1, CT_REDUCTION_SUM = 2 } ct_reduction;
ct_error ct_cross_entropy(ct_tensor x, ct_tensor target, ct_reduction reduction, double label_smoothing, ct_tensor *out);

/* ---- shape ---- */
ct_error ct_reshape(ct_tensor x, const int64_t *shape, int ndim, ct_tensor *out);
ct_error ct_flatten(ct_tensor x, int64_t start, int64_t end, ct_tensor *out);
ct_error ct_transpose(ct_tensor x, int64_t d0, int64_t d1, ct_tensor *out);

/* ---- arithmetic (broadcasting as in PyTorch) ---- */
/* a + alpha*b */
ct_error ct_add(ct_tensor a, ct_tensor b, double alpha, ct_tensor *out);
ct_error ct_sub(ct_tensor a, ct_tensor b, ct_tensor *out);
ct_error ct_mul(ct_tensor a, ct_tensor b, ct_tensor *out);
ct_error ct_div(ct_tensor a, ct_tensor b, ct_tensor *out);
ct_error ct_matmul(ct_tensor a, ct_tensor b, ct_tensor *out);
ct_error ct_add_scalar(ct_tensor a, double s, ct_tensor *out);
ct_error ct_mul_scalar(ct_tensor a, double s, ct_tensor *out);
ct_error ct_pow_scalar(ct_tensor a, double s, ct_tensor *out);
typedef enum { CT_UNARY_NEG, CT_UNARY_EXP, CT_UNARY_LOG, CT_UNARY_SQRT, CT_UNARY_ABS } ct_unary_op;
ct_error ct_unary(ct_tensor a, ct_unary_op op, ct_tensor *out);
typedef enum { CT_COMPARE_EQ, CT_COMPARE_NE, CT_COMPARE_LT, CT_COMPARE_LE, CT_COMPARE_GT, CT_COMPARE_GE } ct_compare_op;
ct_error ct_compare(ct_tensor a, ct_tensor b, ct_compare_op op, ct_tensor *out);

/* ---- reductions ---- */
ct_error ct_sum(ct_tensor x, ct_tensor *out);
ct_error ct_mean(ct_tensor x, ct_tensor *out);
ct_error ct_sum_dim(ct_tensor x, int64_t dim, int keepdim, ct_tensor *out);
ct_error ct_mean_dim(ct_tensor x, int64_t dim, int keepdim, ct_tensor *out);
ct_error ct_argmax(ct_tensor x, int64_t dim, int keepdim, ct_tensor *out);
ct_error ct_topk(ct_tensor x, int64_t k, int64_t dim, ct_tensor *values, ct_tensor *indices);

/* ---- in place (for optimizers and buffers; never on autograd graphs) ---- */
ct_error ct_add_(ct_tensor self, ct_tensor other, double alpha);
ct_error ct_mul_scalar_(ct_tensor self, double s);
ct_error ct_zero_(ct_tensor self);
ct_error ct_copy_(ct_tensor self, ct_tensor src);
ct_error ct_add_scalar_(ct_tensor self, double s);
ct_error ct_fill_(ct_tensor self, double v);
/* Samples from U(lo, hi) with libtorch's generator, like Tensor.uniform_. */
ct_error ct_uniform_(ct_tensor self, double lo, double hi);
/* Replaces self's data with src's (dtype and device too), keeping self's
 * identity and autograd leaf status, like `param.data = src` in Python. */
ct_error ct_tensor_set_data(ct_tensor self, ct_tensor src);

/* ---- lists of tensors (torch._foreach_*) ----
 * One call over n tensors; on CUDA libtorch runs each as a few fused
 * kernels instead of one per tensor. xs[i] and ys[i] must agree in shape,
 * and all tensors in one call in dtype and device. */
/* out[i] = xs[i] + alpha*ys[i]; out is an array of n handles. */
ct_error ct_foreach_add(const ct_tensor *xs, const ct_tensor *ys, int n, double alpha, ct_tensor *out);
/* xs[i] += alpha*ys[i] */
ct_error ct_foreach_add_(const ct_tensor *xs, const ct_tensor *ys, int n, double alpha);
/* xs[i] *= s */
ct_error ct_foreach_mul_scalar_(const ct_tensor *xs, int n, double s);

/* ---- indexing, selection and rounding ----
 * Enough to run image augmentations on whole batches on the device (package
 * gotrain/transforms/batched) without leaving it. index must be int64. */
/* x.index_select(dim, index) */
ct_error ct_index_select(ct_tensor x, int64_t dim, ct_tensor index, ct_tensor *out);
/* x.select(dim, index): the slice at index along dim, without that dimension (a view). */
ct_error ct_select(ct_tensor x, int64_t dim, int64_t index, ct_tensor *out);
/* torch.where(cond, a, b): a where cond (bool) is true, b elsewhere (broadcasting; a and b of one dtype). */
ct_error ct_where(ct_tensor cond, ct_tensor a, ct_tensor b, ct_tensor *out);
/* torch.stack(xs, dim) of n tensors of one shape. */
ct_error ct_stack(const ct_tensor *xs, int n, int64_t dim, ct_tensor *out);
/* torch.maximum(a, b) or torch.minimum(a, b), elementwise, broadcasting. */
typedef enum { CT_EXTREMUM_MAX, CT_EXTREMUM_MIN } ct_extremum;
ct_error ct_extremum_elementwise(ct_tensor a, ct_tensor b, ct_extremum op, ct_tensor *out);
/* torch.clamp(x, lo, hi) */
ct_error ct_clamp(ct_tensor x, double lo, double hi, ct_tensor *out);
/* torch.floor, torch.round (half to even), torch.trunc. */
typedef enum { CT_ROUNDING_FLOOR, CT_ROUNDING_HALF_EVEN, CT_ROUNDING_TRUNC } ct_rounding;
ct_error ct_round(ct_tensor x, ct_rounding mode, ct_tensor *out);

/* ---- TorchScript modules ---- */
void ct_module_free(ct_module m);
ct_error ct_module_load(const char *path, int dev_type, int dev_index, ct_module *out);
/* A new empty module; with share non-NULL, its class lives in share's
 * compilation unit (names mangled when taken), as a module tree needs. */
ct_error ct_module_new(const char *class_name, ct_module share, ct_module *out);
ct_error ct_module_register_tensor(ct_module m, const char *name, ct_tensor t, int is_buffer);
ct_error ct_module_register_module(ct_module m, const char *name, ct_module child);
ct_error ct_module_define(ct_module m, const char *source);
ct_error ct_module_set_training(ct_module m, int training);
/* Fails unless forward returns a dense, strided tensor (not nested, sparse...). */
ct_error ct_module_forward(ct_module m, ct_tensor x, ct_tensor *out);
/* Recursive named parameters (buffers=0) or buffers (buffers=1), PyTorch names.
 * *names and *tensors are malloc'd arrays of *n entries; each name is malloc'd.
 * Fails, allocating nothing, if any of them is not a dense, strided tensor. */
ct_error ct_module_named_tensors(ct_module m, int buffers, char ***names, ct_tensor **tensors, int *n);

/* ---- TorchScript export: modes and in-memory save ---- */
/* Adds a bool attribute (neither parameter nor buffer) to the module's class,
 * such as "training", which train()/eval() and self.training use. */
ct_error ct_module_register_bool(ct_module m, const char *name, int value);
/* Serializes the module as torch.jit.save does, into memory only: *data is a
 * malloc'd buffer of *size bytes that the caller frees. No file is touched. */
ct_error ct_module_save_bytes(ct_module m, void **data, size_t *size);

#ifdef __cplusplus
}
#endif

#endif /* CTORCH_H */
