#!/usr/bin/python3
"""PyTorch reference trainer: the seed recipe on the networks of scripts/models.py.

The same run as the Go trainer (bin/trainer), written the way a PyTorch user
would write it, so that the two can be compared on accuracy, speed and memory
(scripts/bench does that):

  * network: scripts/models.py NETWORKS[--model] (PyTorch's default init);
  * SGD (momentum 0.9, weight decay 5e-4) with OneCycleLR (max_lr=--lr,
    pct_start 0.3, cosine, div_factor 25, final_div_factor 1e4, momentum
    cycled 0.95 -> 0.85 -> 0.95), stepped after every batch; cross-entropy;
  * the seed's augmentations, in the seed's order, each with p=0.5:
    HorizontalFlip, ShiftScaleRotate(0.15, 0.15, 15, bilinear, reflect-101),
    CoarseDropout(2 holes of 8x8 filled with the CIFAR-10 mean),
    OneOf(RandomBrightnessContrast(0.2, 0.2), HueSaturationValue(20, 30, 20));
    then ToTensor and Normalize(CIFAR-10 mean, std). The transforms follow
    albumentations 1.4's formulas on uint8 HWC arrays and use OpenCV where
    it is installed (as albumentations does), PIL otherwise; torchvision
    composes them (RandomApply, RandomChoice, ToTensor, Normalize);
  * a test pass over the test set after every epoch, in batches of
    the training batch size, as the Go trainer does.

Data: the class-folder archive or folder the Go trainer reads
(e.g. ../shared/datasets/cifar10-jpeg.tar.gz: [top/]{train,test}/<class>/*.jpg),
decoded once with PIL into uint8 arrays and cached as an .npz in --cache-dir.
Images are ordered by split, class (airplane..truck) and file name, as in Go,
so --train-limit/--test-limit N pick the same images: index i*len//N.

Outputs in --out: metrics.json and metrics.csv with the Go trainer's keys
(one record per epoch), summary.json (steady-state training images/s, epoch
and test-pass times, peak resident memory, versions, configuration).

    /usr/bin/python3 scripts/reference/train.py --model seed --epochs 1 \\
        --train-limit 2560 --data ../shared/datasets/cifar10-jpeg.tar.gz --out runs/ref
"""

import argparse
import csv
import hashlib
import io
import json
import math
import os
import random
import resource
import sys
import tarfile
import time

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
import torchvision.transforms as T
from PIL import Image
from torch.utils.data import DataLoader, Dataset

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from models import NETWORKS  # noqa: E402  (scripts/models.py)

try:
    import cv2
except ImportError:  # PIL does the geometric and HSV work instead
    cv2 = None

CLASSES = ["airplane", "automobile", "bird", "cat", "deer",
           "dog", "frog", "horse", "ship", "truck"]
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
# albumentations fills a uint8 image with mean*255 stored as uint8: truncated.
MEAN_FILL = tuple(int(m * 255) for m in CIFAR10_MEAN)
IMAGE_EXTS = (".jpg", ".jpeg", ".png")
SPLITS = ("train", "test")
METRIC_KEYS = ["epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr",
               "epoch_seconds", "train_seconds", "test_seconds", "images_per_sec"]


# ---------------------------------------------------------------- data

def _classify(name):
    """Returns (split, label, file) for an image path of the class-folder
    layout ([top/]{train,test}/<class>/<file>), or None for any other file."""
    parts = [p for p in name.replace("\\", "/").split("/") if p and p != "."]
    if any(p.startswith(".") or p == "__MACOSX" for p in parts):
        return None
    if len(parts) < 3 or len(parts) > 4 or not parts[-1].lower().endswith(IMAGE_EXTS):
        return None
    split, cls, file = parts[-3], parts[-2], parts[-1]
    if split not in SPLITS:
        return None
    if cls not in CLASSES:
        raise ValueError(f"{name}: folder {cls!r} is not a CIFAR-10 class ({', '.join(CLASSES)})")
    return SPLITS.index(split), CLASSES.index(cls), file


def _iter_files(src):
    """Yields (name, bytes) for every image file of a folder or archive."""
    if os.path.isdir(src):
        for root, dirs, files in os.walk(src):
            dirs.sort()
            for f in sorted(files):
                path = os.path.join(root, f)
                rel = os.path.relpath(path, src)
                if _classify(rel) is not None:
                    with open(path, "rb") as fh:
                        yield rel, fh.read()
        return
    with tarfile.open(src, "r:*") as tar:
        for m in tar:
            if m.isfile() and _classify(m.name) is not None:
                yield m.name, tar.extractfile(m).read()


def decode_dataset(src):
    """Decodes every image of src with PIL. Returns a dict of uint8 arrays
    x_train (N,32,32,3), y_train (N,), x_test, y_test, ordered by split,
    class and file name."""
    entries = []
    for name, data in _iter_files(src):
        split, label, file = _classify(name)
        with Image.open(io.BytesIO(data)) as im:
            arr = np.asarray(im.convert("RGB"), dtype=np.uint8)
        if arr.shape != (32, 32, 3):
            raise ValueError(f"{src}: {name}: image is {arr.shape[1]}x{arr.shape[0]}, want 32x32")
        entries.append((split, label, file, arr))
    if not entries:
        raise ValueError(f"{src}: no train/<class>/ or test/<class>/ images inside")
    entries.sort(key=lambda e: (e[0], e[1], e[2]))
    out = {}
    for s, split in enumerate(SPLITS):
        part = [e for e in entries if e[0] == s]
        if not part:
            raise ValueError(f"{src}: no {split} images")
        out[f"x_{split}"] = np.stack([e[3] for e in part])
        out[f"y_{split}"] = np.array([e[1] for e in part], dtype=np.uint8)
    return out


def cache_path(src, cache_dir):
    """The cache file for src: named after it and keyed by its absolute
    path, size and modification time."""
    st = os.stat(src)
    key = f"{os.path.abspath(src)}|{st.st_size}|{st.st_mtime_ns}|v1"
    digest = hashlib.sha256(key.encode()).hexdigest()[:8]
    stem = os.path.basename(os.path.normpath(src))
    for ext in (".gz", ".tgz", ".tar"):
        if stem.endswith(ext):
            stem = stem[: -len(ext)]
    return os.path.join(cache_dir, f"reference-{stem}-{digest}.npz")


def load_dataset(src, cache_dir, log=print):
    """Returns the arrays of src, from the cache when it is there, decoding
    and caching them otherwise (written to a temporary name, then renamed)."""
    path = cache_path(src, cache_dir)
    if os.path.exists(path):
        t = time.perf_counter()
        with np.load(path) as z:
            d = {k: z[k] for k in z.files}
        log(f"dataset: read {len(d['y_train'])} training and {len(d['y_test'])} test images "
            f"of {src} from cache {path} in {time.perf_counter() - t:.1f}s")
        return d
    t = time.perf_counter()
    d = decode_dataset(src)
    log(f"dataset: decoded {len(d['y_train'])} training and {len(d['y_test'])} test images "
        f"of {src} in {time.perf_counter() - t:.1f}s")
    os.makedirs(cache_dir, exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            np.savez(f, **d)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    log(f"dataset: cached in {path}")
    return d


def limit(x, y, n):
    """Keeps n images spread evenly over the set (index i*len//n), as the Go
    trainer's -train-limit/-test-limit do; all of them when n is 0."""
    if n <= 0 or n >= len(y):
        return x, y
    idx = np.arange(n, dtype=np.int64) * len(y) // n
    return x[idx], y[idx]


class ArrayDataset(Dataset):
    """uint8 HWC images and labels, with a per-image transform."""

    def __init__(self, images, labels, transform):
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return self.transform(self.images[i]), int(self.labels[i])


# ---------------------------------------------------------------- augmentations
# Each takes and returns a uint8 HWC RGB numpy array and draws from Python's
# random module, as albumentations 1.4 does; torchvision's RandomApply and
# RandomChoice decide whether and which one runs.

class HorizontalFlip:
    def __call__(self, img):
        return np.ascontiguousarray(img[:, ::-1])


class ShiftScaleRotate:
    """albumentations 1.4.22's ShiftScaleRotate (an Affine with
    keep_ratio=False): scale x and y by independent 1+uniform(-scale_limit,
    scale_limit) and rotate by uniform(-rotate_limit, rotate_limit) degrees
    about the center (w/2-0.5, h/2-0.5), then shift by uniform(-shift_limit,
    shift_limit) of the width and height; bilinear, border reflect-101
    (cv2.warpAffine; without OpenCV, PIL's affine transform of a
    reflect-padded copy)."""

    def __init__(self, shift_limit, scale_limit, rotate_limit):
        self.shift, self.scale, self.rotate = shift_limit, scale_limit, rotate_limit

    def matrix(self, w, h):
        angle = random.uniform(-self.rotate, self.rotate)
        sx = random.uniform(1 - self.scale, 1 + self.scale)
        sy = random.uniform(1 - self.scale, 1 + self.scale)
        dx = random.uniform(-self.shift, self.shift)
        dy = random.uniform(-self.shift, self.shift)
        cx, cy = w / 2 - 0.5, h / 2 - 0.5
        a = math.radians(angle)
        # [[cos, sin], [-sin, cos]] . diag(sx, sy) about the center, then the shift
        m00, m01 = math.cos(a) * sx, math.sin(a) * sy
        m10, m11 = -math.sin(a) * sx, math.cos(a) * sy
        return np.array([[m00, m01, cx - m00 * cx - m01 * cy + dx * w],
                         [m10, m11, cy - m10 * cx - m11 * cy + dy * h]])

    def __call__(self, img):
        h, w = img.shape[:2]
        m = self.matrix(w, h)
        if cv2 is not None:
            return cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR,
                                  borderMode=cv2.BORDER_REFLECT_101)
        return warp_affine_pil(img, m)


def warp_affine_pil(img, m):
    """cv2.warpAffine(img, m, INTER_LINEAR, BORDER_REFLECT_101) with PIL:
    m maps source to destination pixel centers (at integers); PIL wants the
    inverse map in coordinates whose pixel centers are at +0.5, and pads
    nothing, so the image is reflect-padded (numpy's "reflect" is
    reflect-101) far enough that no sample falls outside."""
    h, w = img.shape[:2]
    a = m[:, :2]
    inv = np.linalg.inv(a)
    t = m[:, 2]
    corners = np.array([[x, y] for x in (0, w - 1) for y in (0, h - 1)], dtype=np.float64)
    src = (corners - t) @ inv.T
    reach = np.max(np.concatenate([-src, src - [w - 1, h - 1]]))
    pad = max(int(math.ceil(reach)) + 2, 1)
    padded = np.pad(img, ((pad, pad), (pad, pad), (0, 0)), mode="reflect")
    # src_pil = inv @ (dst_pil - 0.5) - inv @ t + 0.5 + pad
    c = -inv @ (t + 0.5) + 0.5 + pad
    out = Image.fromarray(padded).transform(
        (w, h), Image.AFFINE, data=(inv[0, 0], inv[0, 1], c[0], inv[1, 0], inv[1, 1], c[1]),
        resample=Image.BILINEAR)
    return np.asarray(out)


class CoarseDropout:
    """albumentations' CoarseDropout(max_holes=holes, max_height=size,
    max_width=size) with the minimums left unset: exactly `holes` holes of
    size x size, each placed uniformly where it fits, filled with `fill`."""

    def __init__(self, holes, size, fill):
        self.holes, self.size, self.fill = holes, size, np.array(fill, dtype=np.uint8)

    def __call__(self, img):
        h, w = img.shape[:2]
        hh, hw = min(self.size, h), min(self.size, w)
        img = img.copy()
        for _ in range(self.holes):
            y1 = random.randint(0, h - hh)
            x1 = random.randint(0, w - hw)
            img[y1:y1 + hh, x1:x1 + hw] = self.fill
        return img


class RandomBrightnessContrast:
    """albumentations' RandomBrightnessContrast (brightness_by_max=True):
    v -> clip(v*alpha + beta*255, 0, 255), truncated, with
    alpha = 1+uniform(-contrast, contrast), beta = uniform(-brightness, brightness)."""

    def __init__(self, brightness_limit, contrast_limit):
        self.b, self.c = brightness_limit, contrast_limit

    def __call__(self, img):
        alpha = 1 + random.uniform(-self.c, self.c)
        beta = random.uniform(-self.b, self.b)
        lut = np.arange(256, dtype=np.float32) * np.float32(alpha) + np.float32(beta * 255)
        return np.clip(lut, 0, 255).astype(np.uint8)[img]


class HueSaturationValue:
    """albumentations' HueSaturationValue on uint8: in OpenCV's 8-bit HSV
    (hue in [0, 180)), hue += uniform(-hue, hue) modulo 180, saturation and
    value += their shifts, clipped. Without OpenCV it uses PIL's HSV (hue in
    [0, 256)), with the hue shift rescaled."""

    def __init__(self, hue_shift_limit, sat_shift_limit, val_shift_limit):
        self.h, self.s, self.v = hue_shift_limit, sat_shift_limit, val_shift_limit

    def __call__(self, img):
        hue = random.uniform(-self.h, self.h)
        sat = random.uniform(-self.s, self.s)
        val = random.uniform(-self.v, self.v)
        r = np.arange(256, dtype=np.float64)
        lut_s = np.clip(r + sat, 0, 255).astype(np.uint8)
        lut_v = np.clip(r + val, 0, 255).astype(np.uint8)
        if cv2 is not None:
            hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV)
            lut_h = np.mod(r + hue, 180).astype(np.uint8)
            hsv = np.stack([lut_h[hsv[..., 0]], lut_s[hsv[..., 1]], lut_v[hsv[..., 2]]], axis=-1)
            return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
        hsv = np.asarray(Image.fromarray(img).convert("HSV"))
        lut_h = np.mod(r + hue * 256 / 180, 256).astype(np.uint8)
        hsv = np.stack([lut_h[hsv[..., 0]], lut_s[hsv[..., 1]], lut_v[hsv[..., 2]]], axis=-1)
        return np.asarray(Image.fromarray(hsv, mode="HSV").convert("RGB"))


def seed_train_transform():
    """The seed's training pipeline (see the module doc)."""
    return T.Compose([
        T.RandomApply([HorizontalFlip()], p=0.5),
        T.RandomApply([ShiftScaleRotate(0.15, 0.15, 15)], p=0.5),
        T.RandomApply([CoarseDropout(2, 8, MEAN_FILL)], p=0.5),
        T.RandomApply([T.RandomChoice([RandomBrightnessContrast(0.2, 0.2),
                                       HueSaturationValue(20, 30, 20)])], p=0.5),
        T.ToTensor(),
        T.Normalize(CIFAR10_MEAN, CIFAR10_STD),
    ])


def seed_test_transform():
    return T.Compose([T.ToTensor(), T.Normalize(CIFAR10_MEAN, CIFAR10_STD)])


def _seed_worker(worker_id):
    # torch seeds each worker's torch and `random`; numpy is left alone.
    s = torch.initial_seed() % 2**32
    np.random.seed(s)
    random.seed(s)


# ---------------------------------------------------------------- training

def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data", default="../shared/datasets/cifar10-jpeg.tar.gz",
                   help="CIFAR-10 class-folder archive or folder")
    p.add_argument("--cache-dir", default="data", help="folder of the decoded .npz cache")
    p.add_argument("--out", default="runs/reference", help="output folder")
    p.add_argument("--model", default="seed", choices=sorted(NETWORKS), help="network of scripts/models.py")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--lr", type=float, default=0.05, help="OneCycleLR max_lr")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--dropout", type=float, default=0.05)
    p.add_argument("--label-smoothing", type=float, default=0.0)
    p.add_argument("--no-augment", action="store_true", help="train without the augmentations")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    p.add_argument("--workers", type=int, default=2, help="DataLoader worker processes (0: in-process)")
    p.add_argument("--channels-last", action="store_true",
                   help="model and inputs in torch.channels_last memory format (the seed's code does not do this)")
    p.add_argument("--autocast", action="store_true",
                   help="forward passes under torch.autocast('cpu') (bfloat16; the seed's code does not do this)")
    p.add_argument("--train-limit", type=int, default=0, help="use N training images spread over the set")
    p.add_argument("--test-limit", type=int, default=0, help="use N test images spread over the set")
    p.add_argument("--max-steps", type=int, default=0,
                   help="stop training after N optimizer steps (the schedule still spans all epochs); "
                        "the epoch in progress is then tested and recorded")
    p.add_argument("--warmup-steps", type=int, default=5,
                   help="steps at the start of each epoch left out of the steady-state images/s")
    p.add_argument("--prepare-only", action="store_true", help="build the data cache and exit")
    a = p.parse_args(argv)
    for name in ("epochs", "batch_size", "threads"):
        if getattr(a, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    for name in ("workers", "train_limit", "test_limit", "max_steps", "warmup_steps"):
        if getattr(a, name) < 0:
            p.error(f"--{name.replace('_', '-')} must not be negative")
    return a


def resolve_device(name):
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit(f"train.py: device {name}: CUDA is not available")
    return dev


def sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def to_device(x, y, dev, channels_last):
    x, y = x.to(dev, non_blocking=True), y.to(dev, non_blocking=True)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return x, y


def evaluate(model, loader, dev, channels_last=False, autocast=False):
    """Mean cross-entropy, correct count, total and seconds of a test pass."""
    t = time.perf_counter()
    model.eval()
    loss_sum, correct, total = 0.0, 0, 0
    with torch.no_grad():
        for x, y in loader:
            x, y = to_device(x, y, dev, channels_last)
            with torch.autocast("cpu", enabled=autocast):
                logits = model(x)
                loss = F.cross_entropy(logits, y, reduction="sum")
            loss_sum += loss.item()
            correct += (logits.argmax(1) == y).sum().item()
            total += y.numel()
    sync(dev)
    return loss_sum / max(total, 1), correct, total, time.perf_counter() - t


def write_json(path, obj):
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2, allow_nan=False)
        f.write("\n")
    os.replace(tmp, path)


def finite(v):
    return v if isinstance(v, (int, float)) and math.isfinite(v) else None


def write_metrics(out, history):
    write_json(os.path.join(out, "metrics.json"),
               [{k: finite(r[k]) if k != "epoch" else r[k] for k in METRIC_KEYS} for r in history])
    tmp = os.path.join(out, f"metrics.csv.tmp-{os.getpid()}")
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(METRIC_KEYS)
        for r in history:
            w.writerow([r[k] for k in METRIC_KEYS])
    os.replace(tmp, os.path.join(out, "metrics.csv"))


def steady_rate(marks, warmup):
    """Images per second over the steps after the first `warmup` of each
    epoch. marks[e] lists (seconds at the end of a step, images so far in
    the epoch) for epoch e, starting with (epoch start, 0). Returns (rate,
    images, seconds); rate is None when no epoch has more than warmup steps."""
    images, seconds = 0, 0.0
    for m in marks:
        if len(m) > warmup + 1:
            (t0, n0), (t1, n1) = m[warmup], m[-1]
            images += n1 - n0
            seconds += t1 - t0
    return (images / seconds if seconds > 0 else None), images, seconds


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    data = load_dataset(args.data, args.cache_dir)
    if args.prepare_only:
        return 0
    dev = resolve_device(args.device)
    if args.autocast and dev.type != "cpu":
        raise SystemExit(f"train.py: --autocast is for the CPU (bfloat16), not {dev}")
    os.makedirs(args.out, exist_ok=True)
    x_train, y_train = limit(data["x_train"], data["y_train"], args.train_limit)
    x_test, y_test = limit(data["x_test"], data["y_test"], args.test_limit)
    del data  # the full arrays, when limited copies are used

    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    model = NETWORKS[args.model](dropout=args.dropout).to(dev)
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
    g = torch.Generator()
    g.manual_seed(args.seed)
    pin = dev.type == "cuda"
    train_tf = seed_test_transform() if args.no_augment else seed_train_transform()
    loader_kw = dict(num_workers=args.workers, pin_memory=pin, worker_init_fn=_seed_worker,
                     persistent_workers=args.workers > 0)
    train_loader = DataLoader(ArrayDataset(x_train, y_train, train_tf), batch_size=args.batch_size,
                              shuffle=True, drop_last=False, generator=g, **loader_kw)
    test_loader = DataLoader(ArrayDataset(x_test, y_test, seed_test_transform()),
                             batch_size=args.batch_size, shuffle=False, **loader_kw)

    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum,
                          weight_decay=args.weight_decay)
    steps_per_epoch = len(train_loader)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=args.lr, epochs=args.epochs, steps_per_epoch=steps_per_epoch, pct_start=0.3,
        anneal_strategy="cos", cycle_momentum=True, base_momentum=0.85, max_momentum=0.95,
        div_factor=25.0, final_div_factor=1e4)

    n_params = sum(p.numel() for p in model.parameters())
    print(f"Model Information:\nModel: {args.model}\nTotal Parameters: {n_params:,}\n"
          f"Trainable Parameters: {n_params:,}\nNon-trainable Parameters: 0\n")
    print(f"Training Configuration:\nBatch Size: {args.batch_size}\nNumber of Epochs: {args.epochs}\n"
          f"Learning Rate: {args.lr}\nDevice: {dev}\ntorch: {torch.__version__}, "
          f"{torch.get_num_threads()} threads, {args.workers} loader workers, "
          f"augmentations via {'OpenCV ' + cv2.__version__ if cv2 is not None else 'PIL'}\n" + "=" * 50,
          flush=True)

    history, marks, step = [], [], 0
    run_start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        print(f"Epoch: {epoch}", flush=True)
        model.train()
        loss_sum, correct, seen = 0.0, 0, 0
        t0 = time.perf_counter()
        em = [(t0, 0)]
        lr = opt.param_groups[0]["lr"]
        batch_id = -1
        for batch_id, (x, y) in enumerate(train_loader):
            x, y = to_device(x, y, dev, args.channels_last)
            lr = opt.param_groups[0]["lr"]
            with torch.autocast("cpu", enabled=args.autocast):
                logits = model(x)
                loss = F.cross_entropy(logits, y, label_smoothing=args.label_smoothing)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            n = y.numel()
            loss_sum += loss.item() * n  # .item() waits for the device
            correct += (logits.argmax(1) == y).sum().item()
            seen += n
            step += 1
            em.append((time.perf_counter(), seen))
            if args.max_steps and step >= args.max_steps:
                break
        train_seconds = time.perf_counter() - t0
        marks.append(em)
        nb = batch_id + 1
        print(f"Loss={loss_sum / max(seen, 1):.4f} Batch_id={batch_id} Accuracy={100 * correct / max(seen, 1):.2f}: "
              f"{nb}/{steps_per_epoch} [{train_seconds:.1f}s, {nb / train_seconds if train_seconds else 0:.2f}it/s]")
        test_loss, test_correct, test_total, test_seconds = evaluate(model, test_loader, dev, args.channels_last, args.autocast)
        print(f"\nTest set: Average loss: {test_loss:.4f}, Accuracy: {test_correct}/{test_total} "
              f"({100 * test_correct / max(test_total, 1):.2f}%)\n", flush=True)
        history.append(dict(
            epoch=epoch, train_loss=loss_sum / max(seen, 1), train_acc=100 * correct / max(seen, 1),
            test_loss=test_loss, test_acc=100 * test_correct / max(test_total, 1), lr=lr,
            epoch_seconds=train_seconds + test_seconds, train_seconds=train_seconds,
            test_seconds=test_seconds, images_per_sec=seen / train_seconds if train_seconds else 0.0))
        write_metrics(args.out, history)
        if args.max_steps and step >= args.max_steps:
            break
    run_seconds = time.perf_counter() - run_start

    # Shut the workers down so that their peak memory is counted below.
    del train_loader, test_loader
    rate, rate_images, rate_seconds = steady_rate(marks, args.warmup_steps)
    ru_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    ru_children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    last = history[-1]
    summary = dict(
        trainer="pytorch-reference",
        torch=torch.__version__, torchvision=torchvision.__version__,
        augment_backend=("opencv " + cv2.__version__) if cv2 is not None else "pil",
        device=str(dev), threads=torch.get_num_threads(), workers=args.workers,
        channels_last=args.channels_last, autocast=args.autocast,
        model=args.model, parameters=n_params, epochs_run=len(history), steps=step,
        steps_per_epoch=steps_per_epoch, train_images=len(y_train), test_images=len(y_test),
        warmup_steps=args.warmup_steps,
        steady_images_per_sec=rate, steady_images=rate_images, steady_seconds=rate_seconds,
        mean_epoch_seconds=sum(r["epoch_seconds"] for r in history) / len(history),
        mean_train_seconds=sum(r["train_seconds"] for r in history) / len(history),
        mean_test_seconds=sum(r["test_seconds"] for r in history) / len(history),
        run_seconds=run_seconds,
        peak_rss_mib=ru_self / 1024, peak_rss_largest_child_mib=ru_children / 1024,
        final_test_acc=last["test_acc"], final_test_loss=last["test_loss"],
        final_train_loss=last["train_loss"], config=vars(args))
    write_json(os.path.join(args.out, "summary.json"), summary)
    print(f"Summary: steady-state training {rate or float('nan'):.1f} images/s "
          f"(steps after the first {args.warmup_steps} of each epoch), "
          f"mean epoch {summary['mean_epoch_seconds']:.2f}s (test pass {summary['mean_test_seconds']:.2f}s), "
          f"peak RSS {summary['peak_rss_mib']:.0f} MiB (largest worker {summary['peak_rss_largest_child_mib']:.0f} MiB); "
          f"outputs in {args.out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
