"""PyTorch side of model/parity_test.go: trains the same network from the
same weights on the same batches and reports losses and final weights.

usage: parity.py DIR  (DIR holds init.pt, x.f32, y.i64 and meta.json)
"""
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "scripts"))
import models  # noqa: E402

d = sys.argv[1]
meta = json.load(open(os.path.join(d, "meta.json")))
torch.set_num_threads(1)
net = models.NETWORKS[meta["model"]](dropout=meta["dropout"])
net.load_state_dict(torch.load(os.path.join(d, "init.pt")))
net.train()
n, bs = meta["steps"], meta["batch"]
x = torch.from_numpy(np.fromfile(os.path.join(d, "x.f32"), dtype="<f4").reshape(n, bs, 3, 32, 32))
y = torch.from_numpy(np.fromfile(os.path.join(d, "y.i64"), dtype="<i8").reshape(n, bs))
opt = torch.optim.SGD(net.parameters(), lr=meta["lr"], momentum=meta["momentum"],
                      weight_decay=meta["weight_decay"])
torch.manual_seed(meta["seed"])
losses = []
for i in range(n):
    out = net(x[i])
    loss = torch.nn.functional.cross_entropy(out, y[i])
    opt.zero_grad()
    loss.backward()
    opt.step()
    losses.append(loss.item())
torch.save(net.state_dict(), os.path.join(d, "final_py.pt"))
json.dump({"losses": losses}, sys.stdout)
