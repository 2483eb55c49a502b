#!/usr/bin/python3
"""PyTorch side of the torch/ptfile tests (run with /usr/bin/python3).

Subcommands:
  make DIR            write fixture files made by torch.save into DIR and,
                      for each X.pt, X.json holding what "describe" prints
                      for it; also plain pickles of one object with
                      protocols 2-5 (pN.pkl) and its tree (pickles.json)
  describe FILE...    print a JSON object mapping each FILE to
                      {"full": tree, "weights_only": tree or {"error": msg}}
  loadmodel FILE      load FILE into a fresh Net with strict=True, check that
                      every tensor equals the file's, print "ok"

A tree describes a loaded object in JSON: {"odict": [[k, v], ...]},
{"dict": [...]}, {"list": [...]}, {"tuple": [...]}, {"int": "123"},
{"float": "<float.hex>"}, {"str": s}, {"bool": b}, {"none": true},
{"bytes": hex}, {"tensor": {"dtype", "shape", "hex"}} where hex is the
row-major little-endian bytes of the tensor. An OrderedDict with attributes
(a state dict's _metadata) also has "attrs": tree of its __dict__. The root additionally carries
"shared": groups of paths of non-empty tensors sharing one storage.
"""
import collections
import json
import os
import sys

import torch
import torch.nn as nn


class Net(nn.Module):
    """A small net with the layer kinds of the trainer's CNNs."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(self.pool(self.c1(x)).flatten(1))


def tensor_hex(t):
    t = t.detach().contiguous().reshape(-1)
    if t.dtype in (torch.float16, torch.bfloat16):
        t = t.view(torch.int16)
    return t.numpy().tobytes().hex()


def tree(obj, path, shared):
    if isinstance(obj, torch.Tensor):
        if obj.numel() > 0:
            shared.setdefault(obj.storage().data_ptr(), []).append(path)
        return {"tensor": {"dtype": str(obj.dtype).replace("torch.", ""),
                           "shape": list(obj.shape), "hex": tensor_hex(obj)}}
    if isinstance(obj, collections.OrderedDict):
        t = {"odict": [[tree(k, path, shared), tree(v, path + "/" + str(k), shared)] for k, v in obj.items()]}
        attrs = getattr(obj, "__dict__", None)
        if attrs:  # e.g. a state dict's _metadata
            t["attrs"] = tree(attrs, path + "/@", shared)
        return t
    if isinstance(obj, dict):
        return {"dict": [[tree(k, path, shared), tree(v, path + "/" + str(k), shared)] for k, v in obj.items()]}
    if isinstance(obj, list):
        return {"list": [tree(v, "%s/%d" % (path, i), shared) for i, v in enumerate(obj)]}
    if isinstance(obj, tuple):
        return {"tuple": [tree(v, "%s/%d" % (path, i), shared) for i, v in enumerate(obj)]}
    if obj is None:
        return {"none": True}
    if isinstance(obj, bool):
        return {"bool": obj}
    if isinstance(obj, int):
        return {"int": str(obj)}
    if isinstance(obj, float):
        return {"float": obj.hex()}
    if isinstance(obj, str):
        return {"str": obj}
    if isinstance(obj, (bytes, bytearray)):
        return {"bytes": bytes(obj).hex()}
    raise TypeError("cannot describe %r" % type(obj))


def describe(obj):
    shared = {}
    t = tree(obj, "", shared)
    t["shared"] = sorted(sorted(p) for p in shared.values() if len(p) > 1)
    return t


def load(path, weights_only):
    return torch.load(path, map_location="cpu", weights_only=weights_only)


def make(out):
    torch.manual_seed(0)
    net = Net()
    net.train()
    for _ in range(3):  # move the BatchNorm statistics and num_batches_tracked
        net(torch.randn(2, 3, 5, 5))
    fixtures = {}
    fixtures["statedict"] = net.state_dict()

    g = torch.Generator().manual_seed(1)
    base = torch.randn(4, 6, generator=g)
    cube = torch.randn(2, 3, 4, generator=g)
    longs = torch.arange(-6, 10, dtype=torch.int64)
    views = collections.OrderedDict()
    views["transposed"] = base.t()                      # stride (1, 6)
    views["rows"] = base[1:3]                           # storage offset 6
    views["cols_step"] = base[:, 1::2]                  # stride (6, 2), offset 1
    views["permuted"] = cube.permute(2, 0, 1)           # stride (1, 12, 4)
    views["expanded"] = torch.arange(3.0).reshape(3, 1).expand(3, 4)  # stride (1, 0)
    views["slice_a"] = longs[2:5]                       # two slices of one storage
    views["slice_b"] = longs[5:]
    views["column"] = base[:, 2:3]                      # shape (4, 1), stride (6, 1)
    views["scalar_view"] = longs[7]                     # 0-dim view with offset
    views["base"] = base                                # the whole storage, shared
    views["tied"] = base                                # the same tensor again
    fixtures["views"] = views

    dtypes = collections.OrderedDict()
    dtypes["f64"] = torch.randn(2, 3, generator=g, dtype=torch.float64)
    dtypes["f32_special"] = torch.tensor([0.0, -0.0, float("inf"), float("-inf"), 1e-45, 3.4e38])
    dtypes["f16"] = torch.randn(5, generator=g).half()
    dtypes["bf16"] = torch.randn(5, generator=g).bfloat16()
    dtypes["i32"] = torch.tensor([-2**31, 2**31 - 1, 0, 7], dtype=torch.int32)
    dtypes["i16"] = torch.tensor([-32768, 32767, 1], dtype=torch.int16)
    dtypes["i8"] = torch.tensor([-128, 127, 0], dtype=torch.int8)
    dtypes["u8"] = torch.tensor([[0, 255], [128, 1]], dtype=torch.uint8)
    dtypes["bool"] = torch.tensor([True, False, True])
    dtypes["i64_scalar"] = torch.tensor(-(2**40), dtype=torch.int64)
    dtypes["empty"] = torch.zeros(0, 3)
    dtypes["empty_i64"] = torch.zeros(2, 0, dtype=torch.int64)
    dtypes["bool_t"] = torch.tensor([[True, False], [False, False]]).t()
    fixtures["dtypes"] = dtypes

    fixtures["checkpoint"] = {
        "model": net.state_dict(),
        "epoch": 3,
        "lr": 0.1,
        "history": [1.5, -2.25, float("inf")],
        "shape": torch.Size([2, 3]),
        "pair": (1, "one"),
        "big": 2**70,
        "negbig": -(2**70) - 5,
        "neg": -7,
        "flag": True,
        "nothing": None,
        "opt": {"state": {}, "param_groups": [{"lr": 0.1, "params": [0, 1, 2]}]},
        "bytes": b"\x00\x01\xfe\xff",
    }
    fixtures["parameters"] = {"w": nn.Parameter(torch.randn(2, 2, generator=g)), "b": nn.Parameter(torch.zeros(2))}

    for name, obj in fixtures.items():
        torch.save(obj, os.path.join(out, name + ".pt"))
    torch.save(net.state_dict(), os.path.join(out, "protocol4.pt"), pickle_protocol=4)
    for name in list(fixtures) + ["protocol4"]:
        path = os.path.join(out, name + ".pt")
        with open(os.path.join(out, name + ".json"), "w") as f:
            json.dump(describe_file(path), f)

    # Files the Go reader must refuse.
    torch.save(net.state_dict(), os.path.join(out, "legacy.pt"), _use_new_zipfile_serialization=False)
    torch.jit.save(torch.jit.script(nn.Linear(2, 2)), os.path.join(out, "script.pt"))
    torch.save({"w": torch.ones(2), "opt": torch.optim.SGD([nn.Parameter(torch.ones(1))], lr=0.1)},
               os.path.join(out, "unsafe.pt"))
    # A torch.save file of neither a state dict nor a checkpoint.
    torch.save([torch.ones(2), torch.zeros(3)], os.path.join(out, "list.pt"))
    pickles(out)


def describe_file(path):
    d = {"full": describe(load(path, False))}
    try:
        d["weights_only"] = describe(load(path, True))
    except Exception as e:  # reported to the Go test
        d["weights_only"] = {"error": "%s: %s" % (type(e).__name__, e)}
    return d


def describe_files(paths):
    json.dump({p: describe_file(p) for p in paths}, sys.stdout)


def pickles(out):
    import pickle
    obj = collections.OrderedDict()
    obj["ints"] = [0, 1, 255, 256, 65535, 65536, -1, -129, 2**31 - 1, -2**31, 2**31, 2**63 - 1, -2**63, 2**64, -(2**100)]
    obj["floats"] = (0.5, -0.0, 1e300, float("-inf"))
    obj["strs"] = ["", "ascii", "caf\u00e9 \u2603 \U0001f600", "x" * 300]
    obj["bytes"] = [b"", b"\x00\xff" * 3, bytes(range(256))]
    obj["nested"] = {"a": {"b": [None, True, False, ()]}, (1, "k"): (1, 2, 3, 4, 5)}
    obj["shared"] = [obj["strs"], obj["strs"]]
    obj["dup"] = {1: "x", 2: "y"}
    for proto in (2, 3, 4, 5):
        with open(os.path.join(out, "p%d.pkl" % proto), "wb") as f:
            pickle.dump(obj, f, protocol=proto)
    with open(os.path.join(out, "pickles.json"), "w") as f:
        json.dump(describe(obj), f)


def loadmodel(path):
    sd = torch.load(path, weights_only=True)
    net = Net()
    net.load_state_dict(sd, strict=True)
    got = net.state_dict()
    assert list(got) == list(sd), (list(got), list(sd))
    for k, v in sd.items():
        assert got[k].dtype == v.dtype and torch.equal(got[k], v), k
    print("ok")


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "make":
        make(args[0])
    elif cmd == "describe":
        describe_files(args)
    elif cmd == "loadmodel":
        loadmodel(args[0])
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
