"""Reference values for model/whiten_test.go, computed with PyTorch.

Reads JSON from stdin: images x (N, C, H, W, row-major), patch size k, and
a symmetric matrix m (D, D). Writes JSON: cov, the second moments of the
k x k patches as airbench computes them (unfold, flatten per patch in
channel, row, column order, then patches.T @ patches / n), and the
eigenvalues (descending) and eigenvectors (rows) of m by torch.linalg.eigh.
"""
import json
import sys

import torch

req = json.load(sys.stdin)
n, c, h, w, k = (req[key] for key in ("n", "c", "h", "w", "k"))
x = torch.tensor(req["x"], dtype=torch.float32).double().reshape(n, c, h, w)
patches = x.unfold(2, k, 1).unfold(3, k, 1).transpose(1, 3).reshape(-1, c, k, k)
flat = patches.reshape(patches.shape[0], -1)
cov = flat.T @ flat / flat.shape[0]
d = req["d"]
m = torch.tensor(req["m"], dtype=torch.float64).reshape(d, d)
vals, vecs = torch.linalg.eigh(m)
json.dump({
    "cov": cov.flatten().tolist(),
    "values": vals.flip(0).tolist(),
    "vectors": vecs.T.flip(0).flatten().tolist(),
}, sys.stdout)
