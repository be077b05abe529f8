"""Independent PyTorch implementation of `kinkgrad study relu-prime` (Bertoin et al., NeurIPS 2021, Section 3).

An MLP 784-(width x depth)-10 with PyTorch's default initialisation is run for one epoch of shuffled minibatches at
learning rate 0 (no update). An initialisation counts when the gradient of the first layer's weights with relu'(0)=0
differs from the one with relu'(0)=1 on at least one minibatch. Exact-zero pre-activations are counted over the run.

  python relu_prime_torch.py [--precision f64,f32,bf16,f16] [--inits 40] [--depth 3] [--width 256] [--batch 100]
                             [--limit N] [--data DIR] [--two-roundings]

DIR holds images-idx3-ubyte.gz / labels-idx1-ubyte.gz (default: the repository's data/mnist-10k, first 80% = 8 000
examples for training, as kinkgrad splits it). Prints one JSON line per precision:
{"precision", "fraction", "bifurcated", "inits", "exact_zeros", "batches", "batches_with_zeros",
 "batches_differing", "torch", "seconds"}.
The initial weights are PyTorch's (torch.manual_seed(seed + i)), not kinkgrad's: the two programs sample the same
distribution, so their fractions and zero rates agree statistically, not bit for bit.
"""
import argparse
import gzip
import json
import os
import struct
import time

import torch
import torch.nn as nn

DTYPES = {"f64": torch.float64, "f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16}


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = struct.unpack(">" + "I" * dims, data[4:4 + 4 * dims])
    return torch.frombuffer(bytearray(data[4 + 4 * dims:]), dtype=torch.uint8).reshape(shape)


class Relu(torch.autograd.Function):
    """relu with relu'(0) = z."""

    @staticmethod
    def forward(ctx, x, z):
        ctx.save_for_backward(x)
        ctx.z = z
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        d = (x > 0).to(g.dtype)
        if ctx.z != 0:
            d = d + (x == 0).to(g.dtype) * ctx.z
        return g * d, None


TWO_ROUNDINGS = False


def affine(lin, h):
    """nn.Linear (PyTorch's addmm: product and bias accumulated, rounded once), or with --two-roundings the
    product rounded to the working precision and then the bias added (rounded again), as kinkgrad's linear op."""
    return (h @ lin.weight.T) + lin.bias if TWO_ROUNDINGS else lin(h)


def first_layer_grad(layers, x, y, z):
    h = x
    for i, lin in enumerate(layers):
        h = affine(lin, h)
        if i + 1 < len(layers):
            h = Relu.apply(h, z)
    loss = nn.functional.cross_entropy(h, y)
    (g,) = torch.autograd.grad(loss, [layers[0].weight])
    return g


def zeros(layers, x):
    n, h = 0, x
    for i, lin in enumerate(layers[:-1]):
        h = affine(lin, h)
        n += int((h == 0).sum())
        h = h.clamp(min=0)
    return n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--precision", default="f64,f32,bf16,f16")
    ap.add_argument("--inits", type=int, default=40)
    ap.add_argument("--depth", type=int, default=3)
    ap.add_argument("--width", type=int, default=256)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--limit", type=int)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "..", "data", "mnist-10k"))
    ap.add_argument("--two-roundings", action="store_true",
                    help="round the product, then add the bias (kinkgrad's 16-bit linear) instead of addmm")
    a = ap.parse_args()
    global TWO_ROUNDINGS
    TWO_ROUNDINGS = a.two_roundings
    images = read_idx(os.path.join(a.data, "images-idx3-ubyte.gz")).reshape(-1, 784).to(torch.float32) / 255
    labels = read_idx(os.path.join(a.data, "labels-idx1-ubyte.gz")).long()
    n = images.shape[0] * 4 // 5
    if a.limit:
        n = min(n, a.limit)
    images, labels = images[:n], labels[:n]
    sizes = [784] + [a.width] * a.depth + [10]
    for p in a.precision.split(","):
        dt = DTYPES[p]
        start = time.time()
        row = dict(precision=p, bifurcated=0, inits=a.inits, exact_zeros=0, batches=0, batches_with_zeros=0,
                   batches_differing=0)
        for i in range(a.inits):
            torch.manual_seed(a.seed + i)
            layers = [nn.Linear(sizes[k], sizes[k + 1]).to(torch.float64) for k in range(len(sizes) - 1)]
            layers = [lin.to(dt) for lin in layers]  # the same draw rounded to each precision
            order = torch.randperm(n)
            split = False
            for s in range(0, n, a.batch):
                idx = order[s:s + a.batch]
                x, y = images[idx].to(dt), labels[idx]
                with torch.no_grad():
                    nz = zeros(layers, x)
                row["batches"] += 1
                row["exact_zeros"] += nz
                if nz == 0:
                    continue  # relu'(0) is read only at a zero: both gradients are the same computation
                row["batches_with_zeros"] += 1
                g0 = first_layer_grad(layers, x, y, 0.0)
                g1 = first_layer_grad(layers, x, y, 1.0)
                if not torch.equal(g0, g1):
                    row["batches_differing"] += 1
                    split = True
            row["bifurcated"] += int(split)
        row["fraction"] = row["bifurcated"] / a.inits
        row["torch"] = torch.__version__
        row["two_roundings"] = TWO_ROUNDINGS
        row["seconds"] = round(time.time() - start, 1)
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
