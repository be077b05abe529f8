"""Hybrid models: a ReLU network as the source term of a finite-volume scheme, fitted to observations.

``u_t + (a u)_x = S_W(alpha)`` (or Burgers) on a periodic unit grid, ``u(x, 0) = beta``; the data
are triples ``(alpha_i, beta_i, gamma_i)`` with ``gamma_i`` the observed final state, and the cost
``J(W) = (1/N) sum_i sum_j (u_j(T) - gamma_ij)^2 dx``. The network reads ``(alpha_0, alpha_1,
sin 2 pi x, cos 2 pi x)`` per cell (``form="alpha"``) or also the state ``u`` at every step
(``form="state"``). Gradients pass through the network's ReLUs and the scheme's limiters and upwind
switches; the certificate counts both (scopes ``net`` and ``scheme``). See ``docs/hybrid.md``.

Data sets come from NumPy arrays (:class:`Dataset`) or the library's generator (:func:`generate`);
:meth:`Model.train` runs Adam; :meth:`Model.source` exports the learned source. Loss, gradient and
training run without the GIL; Ctrl-C raises ``KeyboardInterrupt`` before the next iteration or time
step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np

from . import Certificate, _native

__all__ = ["Dataset", "Model", "LossGradient", "TrainStep", "TrainRun", "generate"]


class Dataset:
    """Observations and the setting that produced them.

    Args:
        alpha: ``[S, P]`` parameters per sample (any ``P >= 1``; the generator's are amplitude and
            centre).
        beta: ``[S, N]`` initial states (``N >= 3`` cells of the periodic unit grid).
        gamma: ``[S, N]`` observed final states.
        scheme: ``upwind``, ``lw``, ``lw-minmod``, ``lw-superbee``, ``lw-mc``, ``lw-vanleer`` or
            ``burgers-godunov``.
        courant: ``max |a| dt / dx`` in ``(0, 1]``; steps: time steps; velocity: the constant
            ``a``, or an array ``[N]`` of one velocity per face.
        source: the form the model learns (``alpha`` or ``state``).
        n_train: the first ``n_train`` samples train, the rest test (default: all train).
        true_source: optional ``[S, N]`` true source per cell (alpha form); without it
            :meth:`Model.source_error` returns ``None``.

    The checks are those of a data file (``docs/formats.md``, "Hybrid data sets"), made by the
    library's one validator.

    Raises:
        ValueError: shapes, non-finite values, settings out of range (one line naming the field).
    """

    def __init__(
        self,
        alpha: Any,
        beta: Any,
        gamma: Any,
        *,
        scheme: str = "upwind",
        courant: float = 0.5,
        steps: int = 90,
        velocity: Any = 1.0,
        source: str = "alpha",
        n_train: Optional[int] = None,
        true_source: Any = None,
    ) -> None:
        arrays = {
            name: np.ascontiguousarray(a, dtype=np.float64)
            for name, a in (("alpha", alpha), ("beta", beta), ("gamma", gamma))
        }
        settings = {"scheme": str(scheme), "courant": repr(float(courant)), "steps": str(int(steps)),
                    "source": str(source)}
        if np.ndim(velocity) == 0:
            settings["velocity"] = repr(float(velocity))
        else:
            arrays["velocity"] = np.ascontiguousarray(velocity, dtype=np.float64)
        if true_source is not None:
            arrays["true_source"] = np.ascontiguousarray(true_source, dtype=np.float64)
        s = arrays["alpha"].shape[0] if arrays["alpha"].ndim > 0 else 0
        settings["n_train"] = str(s if n_train is None else int(n_train))
        self._d = _native.HybridData(arrays, settings)

    @classmethod
    def _wrap(cls, native: Any) -> "Dataset":
        d = cls.__new__(cls)
        d._d = native
        return d

    def __len__(self) -> int:
        return len(self._d)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(alpha, beta, gamma)`` as NumPy arrays."""
        a, b, g = self._d.arrays()
        return np.asarray(a), np.asarray(b), np.asarray(g)

    def true_source(self) -> Optional[np.ndarray]:
        """The true source per cell ``[S, N]`` when the data carry one as an array, else ``None``."""
        t = self._d.true_source()
        return None if t is None else np.asarray(t)

    @property
    def params(self) -> int:
        """Number of source parameters ``P`` (columns of ``alpha``)."""
        return self._d.params()

    @property
    def settings(self) -> dict[str, Any]:
        """``scheme``, ``courant``, ``steps``, ``velocity`` (a float, or an array of one per
        face), ``source``, ``n_train``, ``cells``."""
        keys = ("scheme", "courant", "steps", "velocity", "source", "n_train", "cells")
        out = dict(zip(keys, self._d.settings()))
        v = out["velocity"]
        out["velocity"] = float(v[0]) if len(v) == 1 else np.asarray(v)
        return out

    def train_indices(self) -> list[int]:
        """The training samples' indices."""
        return list(range(self.settings["n_train"]))

    def test_indices(self) -> list[int]:
        """The test samples' indices."""
        return list(range(self.settings["n_train"], len(self)))


def generate(
    *,
    scheme: str = "upwind",
    cells: int = 128,
    courant: float = 0.5,
    steps: int = 90,
    velocity: float = 1.0,
    source: str = "alpha",
    n_train: int = 64,
    n_test: int = 16,
    noise: float = 0.0,
    seed: int = 0,
) -> Dataset:
    """Synthetic observations of the library's true source (a Gaussian bump of amplitude
    ``alpha_0`` centred at ``alpha_1``, or ``alpha_0 u (1 - u)`` in the state form) from random
    square pulses, as ``kinkgrad hybrid generate`` makes them."""
    return Dataset._wrap(
        _native.hybrid_generate(
            scheme=scheme, cells=cells, courant=courant, steps=steps, velocity=velocity, source=source,
            n_train=n_train, n_test=n_test, noise=noise, seed=seed,
        )
    )


@dataclass(frozen=True)
class LossGradient:
    """``J``, ``dJ/dW`` and what it is.

    Attributes:
        loss: ``J(W)``.
        gradient: flat, in the order of :meth:`Model.weights` (see :meth:`Model.weights_flat`).
        certificate: kinks under ``net/...`` (the network's ReLUs) and ``scheme/...``.
        peak_bytes: memory held by the gradient's path.
    """

    loss: float
    gradient: np.ndarray
    certificate: Certificate
    peak_bytes: int


@dataclass(frozen=True)
class TrainStep:
    """One Adam iteration: training loss of its batch (before the update), test loss on
    evaluation iterations, and its gradient's certificate."""

    iteration: int
    train_loss: float
    test_loss: Optional[float]
    certificate: Certificate


@dataclass(frozen=True)
class TrainRun:
    """Every iteration of :meth:`Model.train`, and the run's certificate (their sum)."""

    steps: list[TrainStep]
    certificate: Certificate


class Model:
    """The network source: ``form`` ``"alpha"`` (inputs ``alpha_0, alpha_1, sin, cos``) or
    ``"state"`` (``u`` too, evaluated every step), two hidden ReLU layers of ``width``, He
    initialisation from ``seed``."""

    def __init__(self, form: str = "alpha", width: int = 16, seed: int = 0, params: int = 2) -> None:
        self._m = _native.HybridModel(form, width, seed, params)

    @property
    def params(self) -> int:
        """Number of source parameters ``P`` the network reads (a data set's ``alpha`` columns)."""
        return self._m.params

    @property
    def form(self) -> str:
        """``alpha`` or ``state``."""
        return self._m.form

    def weights(self) -> dict[str, np.ndarray]:
        """The parameters as ``{PyTorch name: array}`` (``fc1.weight`` ``[out, in]``, ...)."""
        return {n: np.asarray(v).reshape(s) for n, s, v in self._m.tensors()}

    def weights_flat(self) -> np.ndarray:
        """All parameters as one vector (the order of :meth:`weights`)."""
        return np.concatenate([np.asarray(v) for _, _, v in self._m.tensors()])

    def load_weights(self, weights: Any) -> None:
        """Set the parameters from a dict like :meth:`weights` (every name, its shape) or a flat
        vector like :meth:`weights_flat`."""
        if isinstance(weights, dict):
            params = self._m.tensors()
            names = [n for n, _, _ in params]
            if sorted(weights) != sorted(names):
                missing = sorted(set(names) - set(weights))
                extra = sorted(set(weights) - set(names))
                raise ValueError(f"invalid weights: missing {missing}, unexpected {extra}")
            parts = []
            for n, s, _ in params:
                a = np.asarray(weights[n], dtype=np.float64)
                if a.shape != tuple(s):
                    raise ValueError(f"invalid weights: tensor '{n}' has shape {a.shape}, expected {tuple(s)}")
                parts.append(a.ravel())
            flat = np.concatenate(parts)
        else:
            flat = np.asarray(weights, dtype=np.float64).ravel()
        self._m.set_flat(flat.tolist())

    def loss(self, data: Dataset, indices: Optional[Sequence[int]] = None) -> float:
        """``J`` on ``indices`` (default: the training samples), no gradient."""
        return self._m.loss(data._d, None if indices is None else list(indices))

    def loss_and_gradient(
        self,
        data: Dataset,
        indices: Optional[Sequence[int]] = None,
        *,
        mode: str = "safe",
        seed: Optional[int] = None,
        convention: Optional[str] = None,
        relu_at_zero: Optional[float] = None,
        max_ties: Optional[str] = None,
        kink_rule: Optional[str] = None,
        representation: Optional[str] = None,
        schedule: str = "all",
        weights: Optional[np.ndarray] = None,
    ) -> LossGradient:
        """``J`` and ``dJ/dW`` on ``indices`` (default: training samples) in ``mode`` (safe/lex
        lock the scheme's kinks with the network's and take store-all only; assoc takes any
        ``schedule``). ``weights``: evaluate at these flat weights (the model keeps them)."""
        if weights is not None:
            self.load_weights(weights)
        loss, g, cert, peak = self._m.loss_and_gradient(
            data._d, None if indices is None else list(indices), mode, seed, convention, relu_at_zero,
            max_ties, kink_rule, representation, schedule,
        )
        return LossGradient(loss, np.asarray(g), Certificate._from_native(cert), peak)

    def source(self, data: Dataset, indices: Optional[Sequence[int]] = None) -> np.ndarray:
        """The learned source per cell, ``[len(indices), N]`` (default: every sample; state
        form: at the initial states ``beta``)."""
        return np.asarray(self._m.source(data._d, None if indices is None else list(indices)))

    def simulate(self, data: Dataset, indices: Optional[Sequence[int]] = None) -> np.ndarray:
        """The final states the model predicts, ``[len(indices), N]`` (default: every sample)."""
        return np.asarray(self._m.simulate(data._d, None if indices is None else list(indices)))

    def source_error(self, data: Dataset, indices: Optional[Sequence[int]] = None) -> Optional[float]:
        """Relative L2 error of the learned source against the data's true source (from
        :func:`generate`, or ``true_source`` given to :class:`Dataset`) on ``indices`` (default: the
        test samples); ``None`` when the data carry no true source."""
        return self._m.source_rel_l2(data._d, None if indices is None else list(indices))

    def train(
        self,
        data: Dataset,
        iterations: int,
        *,
        lr: Optional[float] = None,
        batch: int = 0,
        eval_every: int = 50,
        mode: str = "safe",
        seed: Optional[int] = None,
        convention: Optional[str] = None,
        relu_at_zero: Optional[float] = None,
        max_ties: Optional[str] = None,
        kink_rule: Optional[str] = None,
        representation: Optional[str] = None,
        schedule: str = "all",
        shuffle_seed: int = 0,
        save: Optional[str] = None,
        save_every: Optional[int] = None,
        resume: Optional[str] = None,
    ) -> TrainRun:
        """Adam until ``iterations`` iterations are done on the training samples (``batch`` per
        iteration, 0: all), the test loss every ``eval_every`` iterations; returns this call's
        iterations.

        Without ``resume`` the optimiser is fresh (``lr`` default ``1e-2``) and the batches are
        shuffled from ``shuffle_seed``. ``save``: a checkpoint at the end, every ``save_every``
        iterations and on Ctrl-C, as ``kinkgrad hybrid train --save`` writes it (the weights-only
        file ``save``, PyTorch names, and its state file ``STEM.state.safetensors`` beside it: Adam's
        moments, the shuffle order and generator, the iteration, the batch size). ``resume``: continue
        such a checkpoint (also one of the CLI) bit for bit: its weights replace this model's (same
        form and layer sizes, else refused), its optimiser and batch order continue (``batch`` must be
        the saving run's), up to ``iterations`` counted from the start of the run; ``lr`` replaces
        the file's rate when given.

        Raises:
            ValueError: lex mode, a schedule the mode's path cannot follow, bad numbers, a checkpoint
                of another network or batch size, or one that has already run ``iterations``.
            OSError: a checkpoint that cannot be read or written, or a damaged one.
            KeyboardInterrupt: Ctrl-C (the model keeps the iterations done; ``save`` holds them).
        """
        steps, cert = self._m.train(
            data._d, iterations, lr, batch, eval_every, mode, seed, convention, relu_at_zero, max_ties,
            kink_rule, representation, schedule, shuffle_seed, save, save_every, resume,
        )
        return TrainRun(
            [TrainStep(i, tl, vl, Certificate._from_native(c)) for i, tl, vl, c in steps],
            Certificate._from_native(cert),
        )
