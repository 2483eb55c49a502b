#!/usr/bin/python3
"""Reference values for the Go tests of gotrain/torch, computed by PyTorch.

Reads one JSON object from stdin:

    {"cases": [{"name": ..., "op": ..., "dtype": "float64",
                "inputs": [{"name", "dtype", "shape", "data", "grad"}...],
                "args": {...}, "seed": null | int, "after": [input names]}]}

and writes {"torch": version, "results": {name: result}} to stdout, where a
result is {"outputs": [tensor...], "grads": {input: tensor},
"after": {input: tensor}} or {"error": text}; a tensor is
{"dtype", "shape", "data"} with the values flattened in row-major order.

Floating-point inputs are converted to the case's "dtype" (float64 unless the
case says otherwise) before the op runs. When any input has "grad": true, the
op's floating-point outputs out_k are reduced to the loss
sum_k sum(out_k * R_k) and the loss is back-propagated. R_k is the fixed,
exactly representable pattern

    R_k[i] = (((i * 7919 + 131 * k + 17) mod 29) - 14) / 8

over the flat index i, which the Go side builds identically. When "seed" is
set, torch.manual_seed(seed) runs just before the op. The inputs named in
"after" are returned after the op, for ops that update buffers in place
(batch_norm's running statistics).

Run by the tests as: /usr/bin/python3 scripts/torchref.py < cases.json
"""

import json
import sys

import torch
import torch.nn.functional as F

DTYPES = {
    "float32": torch.float32,
    "float64": torch.float64,
    "int64": torch.int64,
    "int32": torch.int32,
    "uint8": torch.uint8,
    "bool": torch.bool,
}
NAMES = {v: k for k, v in DTYPES.items()}


def pattern(numel, k):
    """R_k over numel elements, as float64."""
    i = torch.arange(numel, dtype=torch.int64)
    return (((i * 7919 + 131 * k + 17) % 29) - 14).to(torch.float64) / 8


def opt(inp, name):
    return inp.get(name)


def conv2d(inp, a):
    return F.conv2d(inp["x"], inp["w"], opt(inp, "b"), stride=a["stride"], padding=a["padding"],
                    dilation=a["dilation"], groups=a["groups"])


def batch_norm(inp, a):
    return F.batch_norm(inp["x"], opt(inp, "running_mean"), opt(inp, "running_var"), weight=opt(inp, "w"),
                        bias=opt(inp, "b"), training=a["training"], momentum=a["momentum"], eps=a["eps"])


def topk(inp, a):
    v, i = torch.topk(inp["x"], a["k"], dim=a["dim"])
    return [v, i]


OPS = {
    "conv2d": conv2d,
    "batch_norm": batch_norm,
    "relu": lambda inp, a: F.relu(inp["x"]),
    "gelu": lambda inp, a: F.gelu(inp["x"]),
    "dropout": lambda inp, a: F.dropout(inp["x"], p=a["p"], training=a["train"]),
    "adaptive_avg_pool2d": lambda inp, a: F.adaptive_avg_pool2d(inp["x"], (a["oh"], a["ow"])),
    "linear": lambda inp, a: F.linear(inp["x"], inp["w"], opt(inp, "b")),
    "log_softmax": lambda inp, a: F.log_softmax(inp["x"], dim=a["dim"]),
    "softmax": lambda inp, a: F.softmax(inp["x"], dim=a["dim"]),
    "cross_entropy": lambda inp, a: F.cross_entropy(inp["x"], inp["target"], reduction=a["reduction"],
                                                    label_smoothing=a["label_smoothing"]),
    "reshape": lambda inp, a: inp["x"].reshape(a["shape"]),
    "flatten": lambda inp, a: torch.flatten(inp["x"], a["start"], a["end"]),
    "transpose": lambda inp, a: inp["x"].transpose(a["d0"], a["d1"]),
    "add": lambda inp, a: inp["a"] + inp["b"],
    "add_scaled": lambda inp, a: torch.add(inp["a"], inp["b"], alpha=a["alpha"]),
    "sub": lambda inp, a: inp["a"] - inp["b"],
    "mul": lambda inp, a: inp["a"] * inp["b"],
    "div": lambda inp, a: inp["a"] / inp["b"],
    "matmul": lambda inp, a: torch.matmul(inp["a"], inp["b"]),
    "add_scalar": lambda inp, a: inp["x"] + a["s"],
    "mul_scalar": lambda inp, a: inp["x"] * a["s"],
    "pow": lambda inp, a: torch.pow(inp["x"], a["s"]),
    "neg": lambda inp, a: torch.neg(inp["x"]),
    "exp": lambda inp, a: torch.exp(inp["x"]),
    "log": lambda inp, a: torch.log(inp["x"]),
    "sqrt": lambda inp, a: torch.sqrt(inp["x"]),
    "abs": lambda inp, a: torch.abs(inp["x"]),
    "eq": lambda inp, a: torch.eq(inp["a"], inp["b"]),
    "ne": lambda inp, a: torch.ne(inp["a"], inp["b"]),
    "lt": lambda inp, a: torch.lt(inp["a"], inp["b"]),
    "le": lambda inp, a: torch.le(inp["a"], inp["b"]),
    "gt": lambda inp, a: torch.gt(inp["a"], inp["b"]),
    "ge": lambda inp, a: torch.ge(inp["a"], inp["b"]),
    "sum": lambda inp, a: inp["x"].sum(),
    "mean": lambda inp, a: inp["x"].mean(),
    "sum_dim": lambda inp, a: inp["x"].sum(a["dim"], keepdim=a["keepdim"]),
    "mean_dim": lambda inp, a: inp["x"].mean(a["dim"], keepdim=a["keepdim"]),
    "argmax": lambda inp, a: inp["x"].argmax(a["dim"], keepdim=a["keepdim"]),
    "topk": topk,
    "index_select": lambda inp, a: inp["x"].index_select(a["dim"], inp["index"]),
    "select": lambda inp, a: inp["x"].select(a["dim"], a["index"]),
    "where": lambda inp, a: torch.where(inp["cond"], inp["a"], inp["b"]),
    "stack": lambda inp, a: torch.stack([inp["a"], inp["b"], inp["c"]], a["dim"]),
    "maximum": lambda inp, a: torch.maximum(inp["a"], inp["b"]),
    "minimum": lambda inp, a: torch.minimum(inp["a"], inp["b"]),
    "clamp": lambda inp, a: torch.clamp(inp["x"], a["lo"], a["hi"]),
    "floor": lambda inp, a: torch.floor(inp["x"]),
    "round": lambda inp, a: torch.round(inp["x"]),
    "trunc": lambda inp, a: torch.trunc(inp["x"]),
    # Creation ops read the case's dtype and the generator seeded by "seed".
    "randn": lambda inp, a: torch.randn(a["shape"], dtype=DTYPES[a["_dtype"]]),
    "rand": lambda inp, a: torch.rand(a["shape"], dtype=DTYPES[a["_dtype"]]),
    "uniform_": lambda inp, a: torch.zeros(a["shape"], dtype=DTYPES[a["_dtype"]]).uniform_(a["lo"], a["hi"]),
}


def encode(t):
    t = t.detach().contiguous()
    data = t.reshape(-1).tolist()
    if t.dtype == torch.bool:
        data = [int(v) for v in data]
    return {"dtype": NAMES[t.dtype], "shape": list(t.shape), "data": data}


def run(case):
    dtype = case.get("dtype") or "float64"
    inputs = {}
    for spec in case.get("inputs") or []:
        t = torch.tensor(spec["data"], dtype=torch.float64).reshape(spec["shape"])
        kind = DTYPES[spec["dtype"]]
        t = t.to(DTYPES[dtype] if kind.is_floating_point else kind)
        if spec.get("grad"):
            t.requires_grad_(True)
        inputs[spec["name"]] = t
    args = dict(case.get("args") or {})
    args["_dtype"] = dtype
    if case.get("seed") is not None:
        torch.manual_seed(case["seed"])
    out = OPS[case["op"]](inputs, args)
    outs = out if isinstance(out, list) else [out]
    res = {"outputs": [encode(o) for o in outs], "grads": {}, "after": {}}
    leaves = [s["name"] for s in case.get("inputs") or [] if s.get("grad")]
    if leaves:
        loss = torch.zeros((), dtype=torch.float64)
        for k, o in enumerate(outs):
            if o.dtype.is_floating_point:
                r = pattern(o.numel(), k).to(o.dtype).reshape(o.shape)
                loss = loss + (o * r).sum().to(torch.float64)
        loss.backward()
        for name in leaves:
            g = inputs[name].grad
            if g is not None:
                res["grads"][name] = encode(g)
    for name in case.get("after") or []:
        res["after"][name] = encode(inputs[name])
    return res


def main():
    torch.set_num_threads(1)
    req = json.load(sys.stdin)
    results = {}
    for case in req["cases"]:
        try:
            results[case["name"]] = run(case)
        except Exception as e:  # reported per case, so one bad case does not hide the others
            results[case["name"]] = {"error": "%s: %s" % (type(e).__name__, e)}
    json.dump({"torch": torch.__version__, "results": results}, sys.stdout, allow_nan=False)


if __name__ == "__main__":
    main()
