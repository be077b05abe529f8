"""The built-in classifiers (``mlp``: 784-256-10, ``lenet``) trained from NumPy arrays.

This is ``kinkgrad train`` from Python: the same models, initialisation, shuffles, optimisers,
precisions, modes and representations, so the same seed gives the same numbers bit for bit. Every
epoch returns the certificate of its gradients (kinks per layer and op, ties locked). Weights go in
and out as ``{name: array}`` with PyTorch's names and layouts (``fc1.weight`` is ``[out, in]``), so
``model.load_state_dict({k: torch.from_numpy(v) for k, v in w.items()})`` loads them into the
equivalent ``torch.nn`` model.

Training and evaluation run without the GIL; Ctrl-C raises ``KeyboardInterrupt`` before the next
mini-batch (a fraction of a second), leaving the trainer at that batch boundary (call
:meth:`Trainer.train_epoch` again to finish the epoch).

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> data = Dataset(rng.integers(0, 256, (128, 28, 28), dtype=np.uint8), rng.integers(0, 10, 128))
>>> tr = Trainer("mlp", precision="float32", mode="safe")
>>> report = tr.train_epoch(data)
>>> report.certificate.gradients  # 128 examples in batches of 64
2
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional, Union

import numpy as np

from . import Certificate, _native

__all__ = ["Dataset", "EpochReport", "Trainer", "load_split", "train"]

_PRECISIONS = {"float64": "f64", "float32": "f32", "float16": "f16", "bfloat16": "bf16"}


def _precision(p: Any) -> str:
    if isinstance(p, type) or isinstance(p, np.dtype):
        p = np.dtype(p).name
    return _PRECISIONS.get(p, p)


class Dataset:
    """Images and labels for training or evaluation.

    Args:
        images: ``[N, rows, cols]`` or ``[N, rows*cols]`` (a flat ``784`` is taken as 28x28).
            ``uint8`` pixels are scaled to ``[0, 1]`` by dividing by 255 in float32, as the IDX
            reader does; floating-point pixels are taken as they are (finite).
        labels: ``N`` integers in ``0..9``.

    Raises:
        ValueError: shapes that disagree, a label outside ``0..9``, a non-finite pixel.
    """

    def __init__(self, images: Any, labels: Any) -> None:
        images = np.asarray(images)
        labels = np.asarray(labels)
        if images.ndim == 3:
            rows, cols = images.shape[1], images.shape[2]
        elif images.ndim == 2:
            rows, cols = (28, 28) if images.shape[1] == 784 else (1, images.shape[1])
        else:
            raise ValueError(f"invalid images: shape {images.shape} (expected [N, rows, cols] or [N, pixels])")
        if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
            raise ValueError(f"invalid labels: shape {labels.shape} for {images.shape[0]} images (expected [N])")
        if labels.size and not np.issubdtype(labels.dtype, np.integer):
            raise TypeError(f"invalid labels: dtype {labels.dtype} (expected integers 0..9)")
        if labels.size and (labels.min() < 0 or labels.max() > 9):
            bad = int(np.flatnonzero((labels < 0) | (labels > 9))[0])
            raise ValueError(f"invalid labels: label {labels[bad]} at index {bad} (labels are 0..9)")
        if images.dtype == np.uint8:
            pixels = images.astype(np.float32) / np.float32(255)
        elif np.issubdtype(images.dtype, np.floating) or np.issubdtype(images.dtype, np.integer):
            pixels = images.astype(np.float32)
        else:
            raise TypeError(f"invalid images: dtype {images.dtype} (expected uint8 or floating point)")
        self._data = _native.NnData(
            np.ascontiguousarray(pixels).ravel(), labels.astype(np.uint8), int(rows), int(cols)
        )

    @classmethod
    def _wrap(cls, native: Any) -> "Dataset":
        d = cls.__new__(cls)
        d._data = native
        return d

    def __len__(self) -> int:
        return len(self._data)

    @property
    def image_shape(self) -> tuple[int, int]:
        """``(rows, cols)`` of every image."""
        return self._data.image_shape

    def split(self, n: int) -> tuple["Dataset", "Dataset"]:
        """The first ``n`` examples and the rest, in order."""
        a, b = self._data.split(n)
        return Dataset._wrap(a), Dataset._wrap(b)


def load_split(directory: str, limit: Optional[int] = None) -> tuple[Dataset, Dataset]:
    """``(train, test)`` from an MNIST directory, as ``kinkgrad train --data DIR --limit N``: the
    ``train-*``/``t10k-*`` files, or one pair of IDX files split 80/20; ``limit`` keeps the first
    ``limit`` training examples."""
    a, b = _native.load_split(directory, limit)
    return Dataset._wrap(a), Dataset._wrap(b)


@dataclass(frozen=True)
class EpochReport:
    """What one epoch did.

    Attributes:
        epoch: 1-based, counting resumed epochs.
        loss: mean training loss over the mini-batches (``history[i]["loss"]`` of ``kinkgrad
            train --json``).
        train_accuracy: accuracy measured on the fly (weights changing during the epoch).
        certificate: the epoch's gradients summed: kinks per layer and op, ties locked/unresolved.
        kinks_per_layer: ``[(layer, relu zeros, pool ties)]`` in layer order.
        seconds: wall-clock seconds of the epoch.
        test_accuracy, test_loss: on the ``test`` set given to :meth:`Trainer.fit` (else ``None``).
    """

    epoch: int
    loss: float
    train_accuracy: float
    certificate: Certificate
    kinks_per_layer: list[tuple[str, int, int]]
    seconds: float
    test_accuracy: Optional[float] = None
    test_loss: Optional[float] = None


class Trainer:
    """A training run of a built-in model (the options of ``kinkgrad train``).

    Args:
        model: ``"mlp"`` (``inputs``-256-10) or ``"lenet"`` (28x28 images).
        precision: ``"float32"`` (default), ``"float64"``, ``"float16"``, ``"bfloat16"`` (or the
            command line's ``f32``, ...): the weights and the arithmetic.
        mode: ``"safe"`` (default) or ``"assoc"`` (``"lex"`` is refused: one tangent direction per
            weight).
        seed: safe mode's probe seed (``--seed``).
        convention, relu_at_zero, max_ties, kink_rule, representation: as :func:`kinkgrad.grad`.
        optimizer: ``"adam"`` (default) or ``"sgd"`` (momentum 0.9).
        lr: learning rate (1e-3); batch: mini-batch size (64).
        init: ``"pytorch"`` (default) or ``"he"``.
        init_seed: seed of the initial weights and the shuffles (``--init-seed``, default 0).
        inputs: pixels per image of an MLP (784).

    Raises:
        ValueError: an unknown name, a bad number, lex mode.
    """

    def __init__(
        self,
        model: str = "mlp",
        *,
        precision: Any = "float32",
        mode: str = "safe",
        seed: Optional[int] = None,
        convention: Optional[str] = None,
        relu_at_zero: Optional[float] = None,
        max_ties: Optional[str] = None,
        kink_rule: Optional[str] = None,
        representation: Optional[str] = None,
        optimizer: str = "adam",
        lr: float = 1e-3,
        batch: int = 64,
        init: str = "pytorch",
        init_seed: int = 0,
        inputs: int = 784,
    ) -> None:
        self._tr = _native.Trainer(
            model,
            _precision(precision),
            mode,
            seed,
            convention,
            relu_at_zero,
            max_ties,
            kink_rule,
            representation,
            optimizer,
            lr,
            batch,
            init,
            init_seed,
            inputs,
        )

    model = property(lambda self: self._tr.model, doc="The model's name.")
    precision = property(lambda self: self._tr.precision, doc="``f64``, ``f32``, ``f16`` or ``bf16``.")
    epoch = property(lambda self: self._tr.epoch, doc="Epochs completed.")
    step = property(lambda self: self._tr.step, doc="Optimiser steps taken.")
    parameters = property(lambda self: self._tr.parameters, doc="The number of weights.")
    mode = property(lambda self: self._tr.mode, doc="The gradient mode.")
    representation = property(lambda self: self._tr.representation, doc="The representation's name.")

    def train_epoch(self, data: Dataset) -> EpochReport:
        """One epoch over ``data`` in shuffled mini-batches (the rest of it after an interrupt).

        Raises:
            KeyboardInterrupt: Ctrl-C (the trainer stays at the batch boundary it reached).
            FloatingPointError: a NaN or infinite loss or gradient.
        """
        epoch, loss, acc, cert, seconds, per_layer = self._tr.train_epoch(data._data)
        return EpochReport(epoch, loss, acc, Certificate._from_native(cert), per_layer, seconds)

    def fit(
        self,
        data: Dataset,
        epochs: int,
        *,
        test: Optional[Dataset] = None,
        callback: Optional[Callable[[EpochReport], None]] = None,
    ) -> list[EpochReport]:
        """Train until ``epochs`` epochs are complete (counting those done before), evaluating on
        ``test`` after each; ``callback`` sees every report. Returns this call's reports."""
        out = []
        while self.epoch < epochs:
            r = self.train_epoch(data)
            if test is not None:
                acc, loss = self.evaluate(test)
                if not np.isfinite(loss):
                    raise FloatingPointError(f"epoch {r.epoch}: test loss {loss}")
                r = EpochReport(**{**r.__dict__, "test_accuracy": acc, "test_loss": loss})
            out.append(r)
            if callback is not None:
                callback(r)
        return out

    def evaluate(self, data: Dataset) -> tuple[float, float]:
        """``(accuracy, mean cross-entropy)`` of the current weights on ``data`` (no gradient)."""
        return self._tr.evaluate(data._data)

    def weights(self) -> dict[str, np.ndarray]:
        """The weights as ``{PyTorch name: array}`` (copies) in the model's precision (bfloat16 as
        float32): ``fc1.weight`` ``[out, in]``, ``conv1.weight`` ``[out, in, kh, kw]``, ..."""
        return self._tr.weights()

    def load_weights(self, weights: dict[str, Any]) -> None:
        """Sets every weight from ``{PyTorch name: array}`` (e.g. a ``state_dict`` converted to
        NumPy): all names, no others, the model's shapes, finite values (converted to the precision).

        Raises:
            ValueError: naming every missing, misshapen or unexpected tensor, or a non-finite value.
        """
        self._tr.set_weights(dict(weights))

    def save(self, path: str) -> None:
        """A checkpoint: the weights-only file ``path`` (safetensors, PyTorch names) and the state
        file beside it, as ``kinkgrad train --save`` writes them."""
        self._tr.save(path)

    def resume(self, path: str, allow_precision_change: bool = False) -> tuple[int, int, int]:
        """Resume from a checkpoint (also one of ``kinkgrad train --save``), bit for bit:
        ``(epochs done, batches done in the current epoch, step)``."""
        return self._tr.resume(path, allow_precision_change)


def train(
    data: Dataset,
    epochs: int,
    *,
    test: Optional[Dataset] = None,
    model: str = "mlp",
    callback: Optional[Callable[[EpochReport], None]] = None,
    **options: Union[str, int, float, None],
) -> tuple[Trainer, list[EpochReport]]:
    """A :class:`Trainer` (``model`` and ``options`` as its arguments) fitted for ``epochs``
    epochs: the trainer and the reports."""
    tr = Trainer(model, **options)  # type: ignore[arg-type]
    return tr, tr.fit(data, epochs, test=test, callback=callback)
