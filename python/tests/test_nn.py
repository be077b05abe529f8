"""kinkgrad.nn: training the built-in models from NumPy arrays.

Expected numbers come from the command line (``kinkgrad train``, an independent front end over the
same library, run here on the same data and seed: its losses must match bit for bit) and from
hand-made inputs.
"""

import gzip
import json
import os
import pathlib
import shutil
import subprocess

import numpy as np
import pytest

import kinkgrad as kg
from kinkgrad import nn

ROOT = pathlib.Path(__file__).resolve().parents[2]
DATA = ROOT / "data" / "mnist-10k"


def read_idx(path: pathlib.Path) -> np.ndarray:
    """An IDX file read with NumPy alone (magic 0x0000 08 ndim, big-endian u32 dims, u8 values)."""
    raw = gzip.open(path).read()
    assert raw[:3] == b"\x00\x00\x08", "u8 IDX"
    ndim = raw[3]
    dims = np.frombuffer(raw[4 : 4 + 4 * ndim], dtype=">u4").astype(int)
    return np.frombuffer(raw[4 + 4 * ndim :], dtype=np.uint8).reshape(dims)


@pytest.fixture(scope="module")
def digits():
    """The repository's 10 000 digits as NumPy arrays, split 8 000 / 2 000 as the CLI splits them."""
    images = read_idx(DATA / "images-idx3-ubyte.gz")
    labels = read_idx(DATA / "labels-idx1-ubyte.gz")
    return images[:8000], labels[:8000], images[8000:], labels[8000:]


def cli() -> pathlib.Path:
    exe = os.environ.get("KINKGRAD_BIN") or ROOT / "target" / "debug" / "kinkgrad"
    exe = pathlib.Path(exe)
    if not exe.exists():
        found = shutil.which("kinkgrad")
        if found is None:
            pytest.skip("no kinkgrad binary (cargo build -p kinkgrad-cli, or set KINKGRAD_BIN)")
        exe = pathlib.Path(found)
    return exe


@pytest.mark.parametrize("mode", ["safe", "assoc"])
def test_training_from_numpy_matches_the_cli_bit_for_bit(digits, mode):
    train_x, train_y, test_x, test_y = digits
    out = subprocess.run(
        [str(cli()), "train", "--limit", "256", "--epochs", "1", "--mode", mode, "--json"],
        capture_output=True, text=True, check=True,
    )
    want = json.loads(out.stdout)
    train = nn.Dataset(train_x[:256], train_y[:256])
    test = nn.Dataset(test_x, test_y)
    tr = nn.Trainer("mlp", precision="float32", mode=mode)
    (r,) = tr.fit(train, 1, test=test)
    h = want["history"][0]
    # the CLI prints shortest round-trip floats: equality is equality of the bits
    assert r.loss == h["loss"]
    assert r.train_accuracy == h["running_train_accuracy"]
    assert (r.test_accuracy, r.test_loss) == (h["test_accuracy"], h["test_loss"])
    assert tr.evaluate(train) == (want["train_accuracy"], want["train_loss"])
    assert r.certificate.gradients == 4  # 256 examples in batches of 64
    assert r.certificate.kind == h["certificate"]["kind"]
    assert r.certificate.mode == mode
    assert [layer for layer, _, _ in r.kinks_per_layer] == [k["layer"] for k in want["kinks_per_layer"]]
    assert tr.parameters == want["parameters"] == 784 * 256 + 256 + 256 * 10 + 10


def test_flat_and_float_images_are_the_same_data(digits):
    # uint8 [N,28,28] is divided by 255 in float32, as the IDX reader does: the float path with the
    # same division, and the flat layout, must train to the same bits
    x, y = digits[0][:64], digits[1][:64]
    losses = []
    for images in (x, x.reshape(64, 784), x.astype(np.float32) / np.float32(255)):
        tr = nn.Trainer("mlp", mode="assoc", batch=32)
        losses.append(tr.train_epoch(nn.Dataset(images, y)).loss)
    assert losses[0] == losses[1] == losses[2]


def test_weights_round_trip_with_pytorch_names(tmp_path):
    tr = nn.Trainer("mlp", precision="float64", init_seed=3)
    w = tr.weights()
    # PyTorch's nn.Linear layout: weight [out, in], bias [out]
    assert {k: v.shape for k, v in w.items()} == {
        "fc1.weight": (256, 784), "fc1.bias": (256,), "fc2.weight": (10, 256), "fc2.bias": (10,)
    }
    assert all(v.dtype == np.float64 for v in w.values())
    # PyTorch's default init: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    assert np.abs(w["fc1.weight"]).max() <= 1 / np.sqrt(784)
    other = nn.Trainer("mlp", precision="float64", init_seed=4)
    assert not np.array_equal(other.weights()["fc1.weight"], w["fc1.weight"])
    other.load_weights(w)
    assert all(np.array_equal(other.weights()[k], w[k]) for k in w)
    # the checkpoint file holds the same arrays
    tr.save(str(tmp_path / "w.safetensors"))
    third = nn.Trainer("mlp", precision="float64", init_seed=5)
    assert third.resume(str(tmp_path / "w.safetensors")) == (0, 0, 0)
    assert all(np.array_equal(third.weights()[k], w[k]) for k in w)


def test_lenet_weights_and_float16():
    tr = nn.Trainer("lenet", precision="float16")
    w = tr.weights()
    assert w["conv1.weight"].shape == (6, 1, 5, 5) and w["conv1.weight"].dtype == np.float16
    assert tr.precision == "f16"
    bf = nn.Trainer("mlp", precision="bfloat16").weights()
    assert bf["fc1.weight"].dtype == np.float32  # NumPy has no bfloat16


def test_bad_weights_name_every_problem():
    tr = nn.Trainer("mlp")
    w = tr.weights()
    w["fc1.weight"] = w["fc1.weight"][:, :10]
    del w["fc2.bias"]
    w["extra"] = np.zeros(3)
    with pytest.raises(ValueError) as e:
        tr.load_weights(w)
    msg = str(e.value)
    assert "fc1.weight" in msg and "fc2.bias" in msg and "extra" in msg
    w = tr.weights()
    w["fc2.bias"] = np.full(10, np.nan)
    with pytest.raises(ValueError, match="fc2.bias"):
        tr.load_weights(w)


def test_bad_input_is_a_one_line_error():
    with pytest.raises(ValueError, match="label 10 at index 1"):
        nn.Dataset(np.zeros((2, 28, 28), np.uint8), [0, 10])
    with pytest.raises(ValueError, match="labels"):
        nn.Dataset(np.zeros((2, 28, 28), np.uint8), [0])
    with pytest.raises(ValueError, match="pixel value NaN"):
        nn.Dataset(np.full((1, 784), np.nan), [0])
    with pytest.raises(ValueError, match="lex"):
        nn.Trainer("mlp", mode="lex")
    with pytest.raises(ValueError, match="model"):
        nn.Trainer("resnet")
    with pytest.raises(ValueError, match="seed"):
        nn.Trainer("mlp", mode="assoc", seed=1)


def test_ctrl_c_stops_training_at_a_batch_boundary():
    import signal
    import threading
    import time

    # an epoch of seconds (4 096 examples in batches of 8); SIGINT after 0.3 s stops it between
    # batches, and the trainer finishes the same epoch afterwards
    rng = np.random.default_rng(1)
    data = nn.Dataset(rng.integers(0, 256, (4096, 784), dtype=np.uint8), rng.integers(0, 10, 4096))
    tr = nn.Trainer("mlp", batch=8)
    sent = []

    def interrupt():
        sent.append(time.monotonic())
        os.kill(os.getpid(), signal.SIGINT)

    timer = threading.Timer(0.3, interrupt)
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        tr.train_epoch(data)
    elapsed = time.monotonic() - sent[0]  # from the signal to the exception
    timer.cancel()
    assert elapsed < 2.0, elapsed
    done = tr.step
    assert 0 < done < 512 and tr.epoch == 0
