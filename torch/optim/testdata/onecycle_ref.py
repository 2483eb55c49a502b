"""Reference values for optim's OneCycleLR tests, from PyTorch itself.

Reads a JSON list of OneCycleLR keyword-argument dicts on stdin. For each it
builds an SGD optimizer over a dummy parameter, wraps it in
torch.optim.lr_scheduler.OneCycleLR and records param_groups[0]['lr'] and
['momentum'] after construction and after each of total_steps scheduler
steps (index k = the value used by the k-th optimizer step). It then steps
once more and records the error PyTorch raises. Writes a JSON list of
results to stdout; floats are printed with repr, so they round-trip.
"""
import json
import sys
import warnings

import torch

warnings.filterwarnings("ignore")


def run(kw):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=0.1, momentum=0.9)
    out = {"lr": [], "momentum": [], "error": None, "error_type": None, "error_at": None}
    try:
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, **kw)
    except Exception as e:  # noqa: BLE001 - reported to the test
        out.update(error=str(e), error_type=type(e).__name__, error_at=0)
        return out
    total = sched.total_steps

    def record():
        g = opt.param_groups[0]
        out["lr"].append(g["lr"])
        out["momentum"].append(g["momentum"])

    record()
    for k in range(1, total + 2):
        opt.step()
        try:
            sched.step()
        except Exception as e:  # noqa: BLE001
            out.update(error=str(e), error_type=type(e).__name__, error_at=k)
            return out
        record()
    return out


json.dump([run(kw) for kw in json.load(sys.stdin)], sys.stdout)
