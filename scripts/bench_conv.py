#!/usr/bin/python3
"""PyTorch side of torch/bench_test.go: the same conv layer steps and tiny op,
timed in Python, at 1 and 2 intra-op threads.

    /usr/bin/python3 scripts/bench_conv.py [--seconds 3] [--threads 1,2]

Each conv step is: y = conv2d(x, w, b, padding=1); y.mean().backward(); the
gradients are then dropped (set to None), as BenchmarkConvForwardBackward
does with ZeroGrad. The 32->64 layer also back-propagates into its input,
as an interior layer does; the 3->16 layer (a first layer) does not.
Prints a Markdown table of mean time per iteration, the best of 5 runs, and
the minor page faults per iteration (fresh memory from the C allocator) and
the process's CPU time over wall time (cores kept busy).
"""

import argparse
import resource
import time

import torch
import torch.nn.functional as F


def timeit(fn, seconds):
    """Mean seconds per call over 5 runs of about seconds/5 each; returns
    (mean over all runs, best run's mean, minor page faults per call,
    process CPU time over wall time)."""
    fn()  # warm up (oneDNN picks its kernels on the first call)
    n = 1
    while True:  # calibrate the run length
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        dt = time.perf_counter() - t0
        if dt > seconds / 10:
            break
        n *= 2
    per_run = max(1, int(n * (seconds / 5) / dt))
    means = []
    u0 = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(per_run):
            fn()
        means.append((time.perf_counter() - t0) / per_run)
    wall = time.perf_counter() - start
    u1 = resource.getrusage(resource.RUSAGE_SELF)
    faults = (u1.ru_minflt - u0.ru_minflt) / (5 * per_run)
    cpu = (u1.ru_utime + u1.ru_stime - u0.ru_utime - u0.ru_stime) / wall
    return sum(means) / len(means), min(means), faults, cpu


def conv_step(n, cin, cout, size, input_requires):
    torch.manual_seed(0)
    x = torch.randn(n, cin, size, size)
    w = torch.randn(cout, cin, 3, 3)
    b = torch.zeros(cout)
    leaves = [w, b] + ([x] if input_requires else [])
    for t in leaves:
        t.requires_grad_(True)

    def step():
        y = F.conv2d(x, w, b, padding=1)
        y.mean().backward()
        for t in leaves:
            t.grad = None

    return step


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    args = ap.parse_args()

    x1 = torch.ones(1)
    cases = [
        ("AddScalar (x + 1, 1 element)", lambda: x1 + 1, 1e9, "ns"),
        ("conv b128_32to64_16x16 fwd+bwd", conv_step(128, 32, 64, 16, True), 1e3, "ms"),
        ("conv b128_3to16_32x32 fwd+bwd", conv_step(128, 3, 16, 32, False), 1e3, "ms"),
    ]
    print("torch %s, %s" % (torch.__version__, torch.__config__.parallel_info().splitlines()[-1].strip()))
    print()
    print("| case | threads | mean | best of 5 | page faults/call | cpu/wall |")
    print("|---|---|---|---|---|---|")
    for threads in [int(t) for t in args.threads.split(",")]:
        torch.set_num_threads(threads)
        assert torch.get_num_threads() == threads
        for name, fn, scale, unit in cases:
            mean, best, faults, cpu = timeit(fn, args.seconds)
            print("| %s | %d | %.3g %s | %.3g %s | %.0f | %.2f |" % (name, threads, mean * scale, unit, best * scale,
                                                                    unit, faults, cpu), flush=True)


if __name__ == "__main__":
    main()
