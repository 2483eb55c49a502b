"""Replays the network states a Go test saved through PyTorch's
AveragedModel (EMA avg_fn, use_buffers=True) and compares the average with
the Go EMA's. Reads the file named on stdin; prints JSON."""
import json
import sys

import torch
from torch.optim.swa_utils import AveragedModel

path = sys.stdin.read().strip()
sd = torch.load(path)
decay = float(sd["decay"].item())
steps = int(sd["steps"].item())
n_p = sum(1 for k in sd if k.startswith("s0.p"))
n_b = sum(1 for k in sd if k.startswith("s0.b"))


class Holder(torch.nn.Module):
    def __init__(self):
        super().__init__()
        for i in range(n_p):
            self.register_parameter(f"p{i}", torch.nn.Parameter(sd[f"s0.p{i}"].clone()))
        for i in range(n_b):
            self.register_buffer(f"b{i}", sd[f"s0.b{i}"].clone())


def ema(averaged, current, num_averaged):
    return decay * averaged + (1 - decay) * current


net = Holder()
avg = AveragedModel(net, avg_fn=ema, use_buffers=True)
for s in range(steps):
    with torch.no_grad():
        for i in range(n_p):
            getattr(net, f"p{i}").copy_(sd[f"s{s}.p{i}"])
        for i in range(n_b):
            getattr(net, f"b{i}").copy_(sd[f"s{s}.b{i}"])
    avg.update_parameters(net)

max_diff, ints_equal = 0.0, True
for kind, n in (("p", n_p), ("b", n_b)):
    for i in range(n):
        want = getattr(avg.module, f"{kind}{i}").detach()
        got = sd[f"ema.{kind}{i}"]
        if want.dtype.is_floating_point:
            max_diff = max(max_diff, float((want.double() - got.double()).abs().max()))
        else:
            ints_equal = ints_equal and bool(torch.equal(want, got))
json.dump({"max_diff": max_diff, "ints_equal": ints_equal, "n_averaged": int(avg.n_averaged)}, sys.stdout)
