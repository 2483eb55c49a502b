"""PyTorch side of TestDDPMatchesPyTorch: trains the twin network with
torch.nn.parallel.DistributedDataParallel over Gloo on 127.0.0.1, two
processes started here, from the same initial weights on the same images
(DistributedSampler with the same seed), and saves rank 0's final
state_dict.

usage: ddp_reference.py DIR  (DIR holds init.pt, x.f32, y.i64 and meta.json;
it receives final_py.pt)
"""
import json
import os
import socket
import sys

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "scripts"))
import models  # noqa: E402


def worker(rank, world, port, d):
    torch.set_num_threads(1)
    meta = json.load(open(os.path.join(d, "meta.json")))
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    n = meta["n"]
    x = torch.from_numpy(np.fromfile(os.path.join(d, "x.f32"), dtype="<f4").reshape(n, 3, 32, 32))
    y = torch.from_numpy(np.fromfile(os.path.join(d, "y.i64"), dtype="<i8"))
    net = models.NETWORKS[meta["model"]](dropout=0.0)
    net.load_state_dict(torch.load(os.path.join(d, "init.pt")))
    net.train()
    model = DDP(net)  # broadcast_buffers=True
    sampler = DistributedSampler(TensorDataset(x, y), num_replicas=world, rank=rank, shuffle=True, seed=meta["seed"])
    loader = DataLoader(TensorDataset(x, y), batch_size=meta["batch"], sampler=sampler)
    opt = torch.optim.SGD(net.parameters(), lr=meta["lr"], momentum=meta["momentum"], weight_decay=meta["weight_decay"])
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=meta["lr"], epochs=meta["epochs"], steps_per_epoch=len(loader), pct_start=0.3,
        anneal_strategy="cos", cycle_momentum=True, base_momentum=0.85, max_momentum=0.95,
        div_factor=25, final_div_factor=1e4)
    for epoch in range(meta["epochs"]):
        sampler.set_epoch(epoch)
        for xb, yb in loader:
            loss = torch.nn.functional.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    if rank == 0:
        torch.save(net.state_dict(), os.path.join(d, "final_py.pt"))
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    d = sys.argv[1]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(worker, args=(2, port, d), nprocs=2, join=True)
