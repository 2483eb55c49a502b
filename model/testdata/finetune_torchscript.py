"""Fine-tunes gotrain's TorchScript export in PyTorch next to the PyTorch twin.

usage: finetune_torchscript.py DIR
DIR holds meta.json (model, dropout, steps, batch, lr, momentum, seed),
init.pt (the Go network's state_dict) and export.pt (its TorchScript export).
Both the export and the twin (scripts/models.py, the same state_dict loaded)
take the same SGD steps in train mode on the same random batches. Dropout is
kept deterministic by reseeding the global generator before each model's run:
both draw their masks from it in the same order and shapes; the batches come
from a generator of their own.

Writes DIR/finetuned.pt (torch.jit.save of the fine-tuned export), DIR/x.f32
(an input batch) and DIR/y.f32 (the fine-tuned twin's eval output on it), and
prints JSON comparing the two models.
"""
import json
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "scripts"))
import models  # noqa: E402

torch.set_num_threads(1)
d = sys.argv[1]
with open(os.path.join(d, "meta.json")) as f:
    meta = json.load(f)

ts = torch.jit.load(os.path.join(d, "export.pt"))
init = torch.load(os.path.join(d, "init.pt"))
twin = models.NETWORKS[meta["model"]](dropout=meta["dropout"])
twin.load_state_dict(init, strict=True)
scripted = torch.jit.script(models.NETWORKS[meta["model"]](dropout=meta["dropout"]))
scripted.load_state_dict(init, strict=True)

report = {}


def modes(m):
    """The training flags found in m's modules ("missing" where one has none)."""
    return sorted({str(getattr(s, "training", "missing")) for s in m.modules()})


# The export's default mode is eval; train() and eval() must reach every module.
report["training_at_load"] = modes(ts)
ts.train()
report["training_after_train"] = modes(ts)
ts.eval()
report["training_after_eval"] = modes(ts)
report["names_match"] = list(ts.state_dict().keys()) == list(twin.state_dict().keys())
report["export_equals_init"] = all(torch.equal(v, init[k]) for k, v in ts.state_dict().items())


def finetune(m):
    m.train()
    opt = torch.optim.SGD(m.parameters(), lr=meta["lr"], momentum=meta["momentum"])
    g = torch.Generator().manual_seed(1)
    torch.manual_seed(meta["seed"])
    for _ in range(meta["steps"]):
        x = torch.randn(meta["batch"], 3, 32, 32, generator=g)
        y = torch.randint(0, 10, (meta["batch"],), generator=g)
        opt.zero_grad()
        F.cross_entropy(m(x), y).backward()
        opt.step()
    m.eval()


for m in (ts, twin, scripted):
    finetune(m)


def max_diff(a, b):
    """Largest difference between two state dicts, relative where values exceed 1."""
    worst = 0.0
    for k, v in b.items():
        v, w = v.double(), a[k].double()
        worst = max(worst, ((w - v).abs() / v.abs().clamp(min=1)).max().item())
    return worst


sd, tw = ts.state_dict(), twin.state_dict()
report["diff_twin"] = max_diff(sd, tw)
report["diff_scripted_twin"] = max_diff(sd, scripted.state_dict())
report["weights_moved"] = max((sd[k] - init[k]).abs().max().item() for k in sd if k.endswith("weight"))
report["running_stats_moved"] = max((sd[k] - init[k]).abs().max().item() for k in sd if k.endswith(("running_mean", "running_var")))
report["num_batches_tracked"] = sorted({sd[k].item() - init[k].item() for k in sd if k.endswith("num_batches_tracked")})
report["twin_num_batches_tracked"] = sorted({tw[k].item() - init[k].item() for k in tw if k.endswith("num_batches_tracked")})

x = torch.randn(8, 3, 32, 32, generator=torch.Generator().manual_seed(2))
with torch.no_grad():
    y = twin(x)
    report["eval_diff"] = (ts(x) - y).abs().max().item()
torch.jit.save(ts, os.path.join(d, "finetuned.pt"))
x.numpy().tofile(os.path.join(d, "x.f32"))
y.numpy().tofile(os.path.join(d, "y.f32"))
json.dump(report, sys.stdout)
