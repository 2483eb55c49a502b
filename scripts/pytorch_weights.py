"""The Python side of weight sharing: define a network of gotrain's in
PyTorch, train it briefly, and save it the ways PyTorch users share weights.

usage: pytorch_weights.py MODEL OUT_DIR [--steps N] [--seed S] [--data ARCHIVE]

Writes OUT_DIR/state_dict.pt (torch.save(model.state_dict())) and
OUT_DIR/torchscript.pt (torch.jit.save(torch.jit.script(model))), the model
in eval mode. Without --data it trains on random images, which is enough to
move the weights and the BatchNorm statistics away from their initial values.
Then: trainer -init-from OUT_DIR/state_dict.pt ...  or
      trainer evaluate -weights OUT_DIR/torchscript.pt -model MODEL
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import models  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model", choices=sorted(models.NETWORKS))
    ap.add_argument("out")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch-size", type=int, default=16)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    net = models.NETWORKS[args.model]()
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    net.train()
    for _ in range(args.steps):
        x = torch.randn(args.batch_size, 3, 32, 32)
        y = torch.randint(0, 10, (args.batch_size,))
        loss = torch.nn.functional.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    os.makedirs(args.out, exist_ok=True)
    torch.save(net.state_dict(), os.path.join(args.out, "state_dict.pt"))
    torch.jit.save(torch.jit.script(net), os.path.join(args.out, "torchscript.pt"))


if __name__ == "__main__":
    main()
