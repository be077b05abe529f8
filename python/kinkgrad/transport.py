"""Finite-volume transport on a periodic grid, and the gradient through its time loop.

``u_t + (a u)_x = s`` (or Burgers, ``u_t + (u^2/2)_x = 0``) on ``cells`` cells of a periodic domain
of length ``length``, advanced ``steps`` steps of size ``dt`` by one of the schemes ``upwind``,
``lw``, ``lw-minmod``, ``lw-superbee``, ``lw-mc``, ``lw-vanleer``, ``burgers-godunov``. The limiters
and the upwind switch are kinks; :func:`loss_gradient` returns the gradient of
``J = sum_j (u_j(T) - target_j)^2 dx`` with a certificate, through a checkpoint schedule.

Both functions run without the GIL, and Ctrl-C stops them within a time step (``KeyboardInterrupt``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence, Union

import numpy as np

from . import Certificate, _native

__all__ = ["TransportGradient", "simulate", "loss", "loss_gradient"]

ArrayLike = Union[Sequence[float], np.ndarray]


def _velocity(velocity: Union[float, ArrayLike, None]) -> np.ndarray:
    if velocity is None:
        return np.zeros(0)
    return _vec(velocity)


def _vec(x: ArrayLike) -> np.ndarray:
    # float64 and one-dimensional without a copy where the layout allows (the native side copies once)
    return np.asarray(x, dtype=np.float64).ravel()


def simulate(
    u0: ArrayLike,
    velocity: Union[float, ArrayLike, None],
    *,
    dt: float,
    steps: int,
    scheme: str = "lw-minmod",
    length: float = 1.0,
    source: Optional[ArrayLike] = None,
    force: bool = False,
) -> np.ndarray:
    """The state after ``steps`` steps from ``u0``.

    Args:
        u0: cell averages of the initial state (``cells`` values).
        velocity: one value, one per face (``cells`` values), or ``None`` for Burgers.
        dt: time step; refused above the scheme's stability bound unless ``force``.
        steps: number of steps.
        scheme: the scheme's name.
        length: the domain's length.
        source: a source per cell, constant in time.
    """
    out = _native.simulate(
        _vec(u0),
        _velocity(velocity),
        dt=dt,
        steps=steps,
        scheme=scheme,
        length=length,
        source=None if source is None else _vec(source),
        force=force,
    )
    return out


def loss(
    u0: ArrayLike,
    target: ArrayLike,
    velocity: Union[float, ArrayLike, None],
    *,
    dt: float,
    steps: int,
    scheme: str = "lw-minmod",
    length: float = 1.0,
    source: Optional[ArrayLike] = None,
    force: bool = False,
) -> float:
    """``J = sum_j (u_j(T) - target_j)^2 dx`` alone, without a gradient: the forward run only (about
    half the cost of :func:`loss_gradient`, whose ``loss`` it equals bit for bit). Arguments as
    :func:`simulate`.

    Raises:
        ValueError: shapes, names, a Courant number above the bound (without ``force``).
        FloatingPointError: a NaN or infinite loss.
        KeyboardInterrupt: Ctrl-C.
    """
    return _native.loss(
        _vec(u0),
        _vec(target),
        _velocity(velocity),
        dt=dt,
        steps=steps,
        scheme=scheme,
        length=length,
        source=None if source is None else _vec(source),
        force=force,
    )


@dataclass(frozen=True)
class TransportGradient:
    """The result of :func:`loss_gradient`.

    Attributes:
        loss: ``J``.
        u0, velocity, source: the gradients wanted (``None`` for those not wanted).
        ld_derivative: lex mode: the LD-derivative ``J'(x; M)``.
        certificate: what the gradient is.
        path: the path that served it (``piece-tape``, ``checkpointed``, ``locked-piece-tape``,
            ``locked-checkpointed``).
        schedule: the schedule the path ran.
        peak_bytes: peak bytes held by the path.
    """

    loss: float
    u0: Optional[np.ndarray]
    velocity: Optional[np.ndarray]
    source: Optional[np.ndarray]
    ld_derivative: Optional[list[float]]
    certificate: Certificate
    path: str
    schedule: str
    peak_bytes: int


def loss_gradient(
    u0: ArrayLike,
    target: ArrayLike,
    velocity: Union[float, ArrayLike, None],
    *,
    dt: float,
    steps: int,
    scheme: str = "lw-minmod",
    length: float = 1.0,
    source: Optional[ArrayLike] = None,
    wanted: Sequence[str] = ("u0",),
    mode: str = "safe",
    schedule: str = "all",
    seed: Optional[int] = None,
    directions: Optional[str] = None,
    convention: Optional[str] = None,
    relu_at_zero: Optional[float] = None,
    max_ties: Optional[str] = None,
    kink_rule: Optional[str] = None,
    representation: Optional[str] = None,
    force: bool = False,
) -> TransportGradient:
    """``J = sum_j (u_j(T) - target_j)^2 dx`` and its gradient.

    Args:
        wanted: any of ``"u0"``, ``"velocity"`` (linear schemes), ``"source"`` (with a source).
        mode: ``"assoc"``, ``"lex"`` or ``"safe"``.
        schedule: ``"all"``, ``"sqrt"`` or ``"revolve:S"`` (safe and lex accept what their path can
            follow; anything else is an error, never a silent fallback).
        Other arguments: as :func:`simulate` and :func:`kinkgrad.grad`.

    Raises:
        ValueError: shapes, names, a schedule or mode a path cannot serve, a Courant number above
            the bound (without ``force``).
        FloatingPointError: a NaN or infinite loss or gradient.
        KeyboardInterrupt: Ctrl-C.
    """
    wanted = list(wanted)
    loss, g_u0, g_a, g_s, ld, cert, path, sched, peak = _native.loss_gradient(
        _vec(u0),
        _vec(target),
        _velocity(velocity),
        dt=dt,
        steps=steps,
        scheme=scheme,
        length=length,
        source=None if source is None else _vec(source),
        wanted=wanted,
        mode=mode,
        schedule=schedule,
        seed=seed,
        directions=directions,
        convention=convention,
        relu_at_zero=relu_at_zero,
        max_ties=max_ties,
        kink_rule=kink_rule,
        representation=representation,
        force=force,
    )

    def pick(name: str, values: np.ndarray) -> Optional[np.ndarray]:
        return values if name in wanted else None

    return TransportGradient(
        loss,
        pick("u0", g_u0),
        pick("velocity", g_a),
        pick("source", g_s),
        ld,
        Certificate._from_native(cert),
        path,
        sched,
        peak,
    )
