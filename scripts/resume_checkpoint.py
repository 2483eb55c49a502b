#!/usr/bin/python3
"""Resume a gotrain checkpoint in PyTorch and keep training.

The Go trainer's checkpoint.pt is a torch.save dict that PyTorch's own
classes take (docs/FORMATS.md): "model" is the network's state_dict,
"optimizer" torch.optim.SGD's state_dict, "scheduler" OneCycleLR's,
"rng_state" torch.get_rng_state(), and "run" the run's own state
(configuration, epoch, batch, history). This script builds the PyTorch twin
of the network (scripts/models.py), loads all of it with load_state_dict /
set_rng_state, trains on, and writes a checkpoint in the same layout, which
`trainer -resume` continues in Go.

    /usr/bin/python3 scripts/resume_checkpoint.py runs/latest/checkpoint.pt \\
        --data ../shared/datasets/cifar10-jpeg.tar.gz --steps 100 --out /tmp/ck/checkpoint.pt

trains 100 more steps (0: to the end of the run's epochs) on the data with
the run's recipe, as scripts/reference/train.py does (its data loading,
augmentations and test pass; its own shuffling, so not the Go trainer's
batch order), testing at each epoch's end. With --batches DIR it trains
instead on fixed batches, DIR/x.f32 (float32, normalized NCHW images) and
DIR/y.i64 (int64 labels), --steps of --batch-size each: the interop tests
compare these steps with the same steps in Go. It prints one JSON line:
{"steps", "last_loss", "run": {"epoch", "batch", "step"}}, with "losses"
(every step's) for --batches.
"""

import argparse
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import models  # noqa: E402


def load_checkpoint(path):
    """torch.load of a gotrain checkpoint. PyTorch 1.13's weights_only
    unpickler cannot read floats (the optimizer's lr), so there it is a plain
    torch.load; 2.x reads the file with weights_only=True."""
    if int(torch.__version__.split(".")[0]) >= 2:
        return torch.load(path, map_location="cpu", weights_only=True)
    return torch.load(path, map_location="cpu")


def build(ck):
    """The twin network, optimizer and scheduler, in the checkpoint's state."""
    cfg = ck["run"]["config"]
    net = models.NETWORKS[cfg["model"]](dropout=cfg["dropout"])
    net.load_state_dict(ck["model"])
    groups = ck["optimizer"]["param_groups"]
    if len(groups) == 1:
        params = net.parameters()
    elif len(groups) == 2:  # weights, then BatchNorm parameters and biases
        params = models.decay_param_groups(net, cfg["weight_decay"])
    else:
        raise SystemExit(f"{len(groups)} parameter groups: only 1 or 2 (decay / no decay) are known")
    opt = torch.optim.SGD(params, lr=cfg["lr"], momentum=cfg["momentum"], weight_decay=cfg["weight_decay"])
    sd = ck["scheduler"]
    # The constructor's values are replaced by the two load_state_dict calls
    # (the groups' lr, momentum, initial_lr, max_lr, ... and the schedule's
    # phases and position); only the annealing function is the constructor's.
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=[g["max_lr"] for g in groups], total_steps=sd["total_steps"],
        anneal_strategy=sd.get("_anneal_func_type", "cos"), cycle_momentum=sd["cycle_momentum"])
    opt.load_state_dict(ck["optimizer"])
    sched.load_state_dict(sd)
    torch.set_rng_state(ck["rng_state"])
    return net, opt, sched


def scheduler_state(sched):
    """OneCycleLR.state_dict() as a weights-only file can hold it: PyTorch
    1.13 keeps the annealing method itself under anneal_func; 2.x names it."""
    sd = sched.state_dict()
    sd.pop("anneal_func", None)
    if "_anneal_func_type" not in sd:
        sd["_anneal_func_type"] = "linear" if sched.anneal_func.__name__ == "_annealing_linear" else "cos"
    return sd


def save_checkpoint(path, net, opt, sched, run):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    torch.save({"model": net.state_dict(), "optimizer": opt.state_dict(), "scheduler": scheduler_state(sched),
                "rng_state": torch.get_rng_state(), "run": run}, tmp)
    os.replace(tmp, path)


def fixed_batches(folder, steps, batch):
    x = np.fromfile(os.path.join(folder, "x.f32"), dtype="<f4").reshape(steps, batch, 3, 32, 32)
    y = np.fromfile(os.path.join(folder, "y.i64"), dtype="<i8").reshape(steps, batch)
    for i in range(steps):
        yield torch.from_numpy(x[i]), torch.from_numpy(y[i])


class Trainer:
    """One training step and its bookkeeping in the run's state, as the Go
    trainer keeps it."""

    def __init__(self, net, opt, sched, run):
        self.net, self.opt, self.sched, self.run = net, opt, sched, run
        self.cfg = run["config"]
        self.losses = []

    def step(self, x, y):
        cfg, run, p = self.cfg, self.run, self.run["partial"]
        t = time.perf_counter()
        self.net.train()
        if cfg["channels_last"]:
            x = x.contiguous(memory_format=torch.channels_last)
        lr = self.opt.param_groups[0]["lr"]
        with torch.autocast("cpu", enabled=cfg.get("autocast", False)):
            logits = self.net(x)
            loss = F.cross_entropy(logits.float(), y, label_smoothing=cfg["label_smoothing"])
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.sched.step()
        n = y.numel()
        p["loss_sum"] = (p["loss_sum"] or 0.0) + loss.item() * n
        p["correct"] += int((logits.argmax(1) == y).sum())
        p["seen"] += n
        p["train_seconds"] += time.perf_counter() - t
        run["lr_history"] = (run["lr_history"] or []) + [lr]
        run["batch"] += 1
        run["step"] += 1
        self.losses.append(loss.item())


def train_on_data(tr, args, steps_per_epoch):
    """Trains on the run's data set to the end of --steps or of the run,
    testing and recording each finished epoch as the Go trainer does."""
    sys.path.insert(0, os.path.join(HERE, "reference"))
    import train as ref  # scripts/reference/train.py

    cfg, run = tr.cfg, tr.run
    data = ref.load_dataset(args.data, args.cache_dir, log=lambda s: print(s, file=sys.stderr))
    x_train, y_train = ref.limit(data["x_train"], data["y_train"], cfg["train_limit"])
    x_test, y_test = ref.limit(data["x_test"], data["y_test"], cfg["test_limit"])
    train_tf = ref.seed_train_transform() if cfg["augment"] else ref.seed_test_transform()
    train_set = ref.ArrayDataset(x_train, y_train, train_tf)
    test_loader = torch.utils.data.DataLoader(ref.ArrayDataset(x_test, y_test, ref.seed_test_transform()),
                                              batch_size=cfg["batch_size"])
    done = 0
    while run["epoch"] < cfg["epochs"] and (args.steps == 0 or done < args.steps):
        g = torch.Generator()
        g.manual_seed(cfg["seed"] * 1000 + run["epoch"])
        loader = torch.utils.data.DataLoader(train_set, batch_size=cfg["batch_size"], shuffle=True, generator=g)
        for i, (x, y) in enumerate(loader):
            if i < run["batch"]:
                continue  # trained before the checkpoint (in another order)
            if args.steps and done == args.steps:
                return
            tr.step(x, y)
            done += 1
        if run["batch"] < steps_per_epoch:
            return
        loss, correct, total, secs = ref.evaluate(tr.net, test_loader, torch.device("cpu"), cfg["channels_last"])
        p = run["partial"]
        rec = {"epoch": run["epoch"] + 1, "train_loss": p["loss_sum"] / max(p["seen"], 1),
               "train_acc": 100 * p["correct"] / max(p["seen"], 1), "test_loss": loss,
               "test_acc": 100 * correct / total, "lr": run["lr_history"][-1],
               "epoch_seconds": p["train_seconds"] + secs, "train_seconds": p["train_seconds"],
               "test_seconds": secs, "images_per_sec": p["seen"] / max(p["train_seconds"], 1e-9)}
        print(f"Test set: Average loss: {loss:.4f}, Accuracy: {correct}/{total} ({rec['test_acc']:.2f}%)",
              file=sys.stderr)
        run["history"] = (run["history"] or []) + [rec]
        run["best_acc"] = max(run["best_acc"], rec["test_acc"])
        run["epoch"] += 1
        run["batch"] = 0
        run["partial"] = {"loss_sum": 0.0, "correct": 0, "seen": 0, "train_seconds": 0.0}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("checkpoint", help="a gotrain checkpoint.pt (or one this script wrote)")
    p.add_argument("--steps", type=int, default=0, help="steps to train (0: to the end of the run)")
    p.add_argument("--data", help="the run's data set (folder or archive); default: the run's own")
    p.add_argument("--cache-dir", default="data", help="scripts/reference/train.py's decoded cache")
    p.add_argument("--batches", help="train on the fixed batches DIR/x.f32, DIR/y.i64 instead of the data")
    p.add_argument("--out", help="write the checkpoint after training here")
    p.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    ck = load_checkpoint(args.checkpoint)
    if not isinstance(ck.get("run"), dict) or not str(ck["run"].get("format", "")).startswith("gotrain-checkpoint/"):
        raise SystemExit(f"{args.checkpoint}: not a gotrain checkpoint")
    if ck["run"]["format"] != "gotrain-checkpoint/2":
        raise SystemExit(f"{args.checkpoint}: layout {ck['run']['format']}; this script reads gotrain-checkpoint/2")
    net, opt, sched = build(ck)
    run = ck["run"]
    tr = Trainer(net, opt, sched, run)
    steps_per_epoch = sched.total_steps // run["config"]["epochs"]
    if args.batches:
        if not args.steps:
            raise SystemExit("--batches needs --steps")
        for x, y in fixed_batches(args.batches, args.steps, run["config"]["batch_size"]):
            tr.step(x, y)
        if run["batch"] > steps_per_epoch:
            raise SystemExit("--batches ran past the end of the epoch")
    else:
        args.data = args.data or run["config"]["data"] or "data"
        train_on_data(tr, args, steps_per_epoch)
    if args.out:
        save_checkpoint(args.out, net, opt, sched, run)
    report = {"steps": len(tr.losses), "last_loss": tr.losses[-1] if tr.losses else None,
              "run": {k: run[k] for k in ("epoch", "batch", "step")}}
    if args.batches:
        report["losses"] = tr.losses
    json.dump(report, sys.stdout)
    print()


if __name__ == "__main__":
    main()
