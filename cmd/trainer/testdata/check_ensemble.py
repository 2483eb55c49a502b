"""Checks an exported TorchScript ensemble in PyTorch.

usage: check_ensemble.py ENSEMBLE.pt IO.pt MODEL=STATE_DICT...
IO.pt holds "x", a batch, and "out", the Go ensemble's output for it.
Prints JSON: the largest differences between the TorchScript module's
output and Go's, and between it and the mean softmax of the PyTorch twins
with the members' state_dicts loaded.
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "..", "scripts"))
import models  # noqa: E402

ens_path, io_path = sys.argv[1:3]
io = torch.load(io_path)
x, go_out = io["x"], io["out"]
twins = []
for arg in sys.argv[3:]:
    name, path = arg.split("=", 1)
    net = models.NETWORKS[name]()
    net.load_state_dict(torch.load(path), strict=True)
    twins.append(net.eval())
ens = torch.jit.load(ens_path).eval()
with torch.no_grad():
    ts_out = ens(x)
    ref = torch.stack([torch.softmax(n(x), 1) for n in twins]).mean(0)
json.dump({
    "members": len(list(ens.children())),
    "ts_vs_go": (ts_out - go_out).abs().max().item(),
    "twins_vs_ts": (ref - ts_out).abs().max().item(),
    "row_sums": (ts_out.sum(1) - 1).abs().max().item(),
}, sys.stdout)
