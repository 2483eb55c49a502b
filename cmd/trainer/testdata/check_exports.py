"""Loads a run's exported files in PyTorch and checks them against each other.

usage: check_exports.py MODEL STATE_DICT TORCHSCRIPT
Prints JSON: the keys, and the largest difference between the TorchScript
module's output and the Python network's with the state_dict loaded.
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "..", "scripts"))
import models  # noqa: E402

name, sd_path, ts_path = sys.argv[1:4]
sd = torch.load(sd_path)
net = models.NETWORKS[name]()
net.load_state_dict(sd, strict=True)
net.eval()
ts = torch.jit.load(ts_path)
ts.eval()
torch.manual_seed(0)
x = torch.randn(4, 3, 32, 32)
with torch.no_grad():
    diff = (net(x) - ts(x)).abs().max().item()
json.dump({"type": type(sd).__name__, "keys": list(sd.keys()), "max_diff": diff}, sys.stdout)
