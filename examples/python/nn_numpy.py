"""Train the built-in MLP from NumPy arrays, with a certificate per epoch, and export the weights.

The data are the repository's 10 000 digits read with NumPy alone (any [N, 28, 28] uint8 array and
[N] labels would do, e.g. torchvision's MNIST as arrays). The same run on the command line,
`kinkgrad train --limit 2000 --epochs 2 --mode safe --json`, prints the same losses bit for bit.
The weights come out with PyTorch's names; with torch installed they load into the equivalent
torch.nn model and give the same test accuracy.

Run: python examples/python/nn_numpy.py
"""

import gzip
import pathlib

import numpy as np

from kinkgrad import nn

DATA = pathlib.Path(__file__).resolve().parents[2] / "data" / "mnist-10k"


def read_idx(path):
    raw = gzip.open(path).read()
    ndim = raw[3]
    dims = np.frombuffer(raw[4 : 4 + 4 * ndim], dtype=">u4").astype(int)
    return np.frombuffer(raw[4 + 4 * ndim :], dtype=np.uint8).reshape(dims)


images, labels = read_idx(DATA / "images-idx3-ubyte.gz"), read_idx(DATA / "labels-idx1-ubyte.gz")
train = nn.Dataset(images[:2000], labels[:2000])
test = nn.Dataset(images[8000:], labels[8000:])

tr = nn.Trainer("mlp", precision="float32", mode="safe", optimizer="adam", lr=1e-3, batch=64)
for r in tr.fit(train, 2, test=test):
    print(f"epoch {r.epoch}: loss {r.loss:.4f}, test accuracy {r.test_accuracy:.4f}, {r.seconds:.2f}s")
    print(f"  certificate: {r.certificate}")
    print(f"  kinks per layer (relu zeros, pool ties): {r.kinks_per_layer}")

weights = tr.weights()
np.savez("mlp_weights.npz", **weights)
print({k: v.shape for k, v in weights.items()}, "-> mlp_weights.npz")

try:
    import torch
except ImportError:
    torch = None
if torch is not None:
    model = torch.nn.Sequential()
    model.add_module("fc1", torch.nn.Linear(784, 256))
    model.add_module("relu1", torch.nn.ReLU())
    model.add_module("fc2", torch.nn.Linear(256, 10))
    model.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()})
    x = torch.from_numpy(images[8000:].reshape(-1, 784).astype(np.float32) / np.float32(255))
    acc = (model(x).argmax(1).numpy() == labels[8000:]).mean()
    print(f"PyTorch with the exported weights: test accuracy {acc:.4f} (kinkgrad: {tr.evaluate(test)[0]:.4f})")
