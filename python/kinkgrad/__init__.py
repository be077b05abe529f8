"""kinkgrad: automatic differentiation of non-smooth programs, from Python.

Autodiff differentiates the *piece* of a piecewise-smooth function that an evaluation selects: an
*associated gradient* of a *representation*. At a *kink* (``relu`` at 0, a tie in ``max``) it depends
on the representation. kinkgrad counts every kink and offers three modes:

- ``"assoc"``: what the frameworks do (the representation's pieces at kinks; ``convention="pytorch"``,
  ``"jax"``, ``"tensorflow"`` reproduce them);
- ``"lex"``: lexicographic directional derivatives (the oracle);
- ``"safe"`` (default): branch-locked reverse mode, independent of the representation.

Every derivative comes with a :class:`Certificate` saying what it is.

Two ways in:

- :func:`grad` differentiates an expression of the ``kinkgrad grad`` language at a point, returning
  the same numbers as the command line;
- :class:`Tape` records operations on NumPy arrays (``+ - * / @ **int``, unary minus, and the
  functions of this module) and differentiates them.

:mod:`kinkgrad.transport` differentiates finite-volume transport through its time loop;
:mod:`kinkgrad.nn` trains the built-in networks from NumPy arrays; :mod:`kinkgrad.hybrid` fits a
network source inside a scheme to NumPy observations; :mod:`kinkgrad.jax` (with JAX installed, imported
on request) puts kinkgrad's losses inside ``jax.grad`` and checks JAX functions on a tape.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import numpy as np

from . import _native
from ._native import Var

__all__ = [
    "Certificate",
    "ExprGradient",
    "Gradients",
    "Tape",
    "Var",
    "grad",
    "functions_help",
    "relu",
    "leaky_relu",
    "abs",
    "hardtanh",
    "clamp",
    "maximum",
    "minimum",
    "minmod",
    "max",
    "min",
    "sort",
    "exp",
    "log",
    "sqrt",
    "sin",
    "cos",
    "tanh",
    "sigmoid",
    "softplus",
    "sum",
    "mean",
    "reshape",
    "transpose",
    "log_softmax",
    "max_pool1d",
    "max_pool2d",
]


@dataclass(frozen=True)
class Certificate:
    """What a derivative is, and where the kinks were.

    Attributes:
        kind: ``"exact"`` (no kink reached), ``"generalized"`` (kinks reached, resolved
            independently of the representation: safe/lex) or ``"representation-dependent"``
            (assoc through kinks: another representation may give another number).
        mode: ``"assoc"``, ``"lex"`` or ``"safe"``.
        representation: the representation's name (``"pytorch"``, ``"minnorm"``, ...).
        kinks: kink counts per op (``{"relu": 2, "max": 1}``; ``"scope/op"`` inside scopes).
        kinks_total: the sum of ``kinks``.
        locked: kink elements whose piece was chosen lexicographically (lex, safe).
        unresolved: ties that survived every direction (their pieces agree along all of them).
        skipped: kinks left unlocked because they cannot change the derivative.
        directions: directions used (lex's columns of M, safe's probes).
        gradients: derivative evaluations covered.
        line: the one-line summary the command line prints.
    """

    kind: str
    mode: str
    representation: str
    kinks: dict[str, int]
    kinks_total: int
    locked: int
    unresolved: int
    skipped: int
    directions: int
    gradients: int
    line: str = field(repr=False)

    @classmethod
    def _from_native(cls, pair: tuple[str, str]) -> "Certificate":
        obj = json.loads(pair[0])
        return cls(line=pair[1], **obj)

    def __str__(self) -> str:
        return self.line


@dataclass(frozen=True)
class ExprGradient:
    """The result of :func:`grad`.

    Attributes:
        value: the expression's value at the point.
        gradient: ``{variable: partial derivative}``, variables sorted by name (empty in lex mode
            when the direction matrix is not square).
        ld_derivative: lex mode: the LD-derivative ``f'(x; M)``, one value per column of ``M``.
        certificate: what the numbers are.
    """

    value: float
    gradient: dict[str, float]
    ld_derivative: Optional[list[float]]
    certificate: Certificate


def grad(
    expr: str,
    /,
    *,
    mode: str = "safe",
    seed: Optional[int] = None,
    directions: Optional[str] = None,
    convention: Optional[str] = None,
    relu_at_zero: Optional[float] = None,
    max_ties: Optional[str] = None,
    kink_rule: Optional[str] = None,
    representation: Optional[str] = None,
    **at: float,
) -> ExprGradient:
    """Differentiate an expression of the ``kinkgrad grad`` language at a point.

    Args:
        expr: the expression, e.g. ``"relu(x) - relu(-x)"`` (see :func:`functions_help`).
        mode: ``"assoc"``, ``"lex"`` or ``"safe"``.
        seed: safe mode's probe-direction seed.
        directions: lex mode's direction matrix, rows ``;``-separated (``"1,0;0,1"``), one row per
            variable sorted by name.
        convention: representation preset: ``"minnorm"`` (default), ``"pytorch"``, ``"jax"``,
            ``"tensorflow"``.
        relu_at_zero, max_ties, kink_rule: overrides of the preset, as the command line's
            ``--relu-at-zero``, ``--max-ties``, ``--kink-rule``.
        representation: a full representation name as certificates print it (instead of the above).
        **at: the value of every variable of the expression, e.g. ``x=0.0``.

    Returns:
        value, gradient (a dict), LD-derivative (lex) and certificate: the numbers
        ``kinkgrad grad EXPR --at ...`` prints.

    Raises:
        ValueError: a syntax error, a missing or extra variable, an unknown option.
        FloatingPointError: a NaN or infinite value or derivative.

    >>> grad("max_first(t, 2*t, 3*t, 4*t) - max_mean(t, 2*t, 3*t, 4*t)", t=0.0, mode="assoc",
    ...      convention="pytorch").gradient
    {'t': -1.5}
    """
    value, names, partials, ld, cert = _native.grad(
        expr,
        [(k, float(v)) for k, v in at.items()],
        mode,
        seed,
        directions,
        convention,
        relu_at_zero,
        max_ties,
        kink_rule,
        representation,
    )
    gradient = dict(zip(names, partials))
    return ExprGradient(value, gradient, ld, Certificate._from_native(cert))


def functions_help() -> str:
    """The functions an expression may call, one line each (as ``kinkgrad grad --help`` lists them)."""
    return _native.functions_help()


@dataclass(frozen=True)
class Gradients:
    """The result of :meth:`Tape.gradient`.

    Attributes:
        values: one NumPy array per variable, shaped like it, in the tape's dtype (bfloat16 as
            float32). Empty in lex mode when the direction matrix is not square.
        ld_derivative: lex mode: the LD-derivative, one value per column of the direction matrix.
        certificate: what the numbers are.
    """

    values: list[np.ndarray]
    ld_derivative: Optional[list[float]]
    certificate: Certificate

    def __iter__(self):
        return iter(self.values)

    def __getitem__(self, i: int) -> np.ndarray:
        return self.values[i]

    def __len__(self) -> int:
        return len(self.values)


class Tape:
    """A tape: records operations on variables and differentiates them.

    Args:
        dtype: ``"float64"`` (default), ``"float32"``, ``"float16"`` or ``"bfloat16"`` (inputs and
            outputs as float32, since NumPy has no bfloat16).
        convention, relu_at_zero, max_ties, kink_rule, representation: the representation at kinks
            (what assoc mode does there), as in :func:`grad`.

    A tape and its variables are used from the thread that made them.

    >>> import numpy as np
    >>> tape = Tape()
    >>> x = tape.var(np.array([-1.0, 0.0, 2.0]))
    >>> y = (x.relu() * 3.0).sum()
    >>> g = tape.gradient(y, [x], mode="safe")
    >>> g.values[0].tolist(), g.certificate.kind
    ([0.0, 3.0, 3.0], 'generalized')
    """

    def __init__(
        self,
        dtype: str = "float64",
        *,
        convention: Optional[str] = None,
        relu_at_zero: Optional[float] = None,
        max_ties: Optional[str] = None,
        kink_rule: Optional[str] = None,
        representation: Optional[str] = None,
    ) -> None:
        if isinstance(dtype, type) or isinstance(dtype, np.dtype):
            dtype = np.dtype(dtype).name
        self._tape = _native.Tape(dtype, convention, relu_at_zero, max_ties, kink_rule, representation)

    @property
    def dtype(self) -> str:
        """The element type's name."""
        return self._tape.dtype

    @property
    def representation(self) -> str:
        """The representation's name, as certificates print it."""
        return self._tape.representation

    def __len__(self) -> int:
        return len(self._tape)

    def var(self, value: Any) -> Var:
        """A variable holding ``value`` (an array-like, converted to the tape's dtype)."""
        return self._tape.var(value)

    def constant(self, value: Any) -> Var:
        """A constant (never differentiated) holding ``value``."""
        return self._tape.constant(value)

    def gradient(
        self,
        y: Var,
        wrt: Sequence[Var],
        mode: str = "safe",
        *,
        seed: Optional[int] = None,
        directions: Optional[str] = None,
    ) -> Gradients:
        """The gradients of the scalar ``y`` with respect to ``wrt`` in ``mode``, as NumPy arrays.

        Raises:
            ValueError: ``y`` not one element, variables of another tape, a bad mode or directions.
            FloatingPointError: a NaN or infinite value or derivative (naming the op).
        """
        values, ld, cert = self._tape.gradient(y, list(wrt), mode, seed, directions)
        return Gradients(values, ld, Certificate._from_native(cert))

    def grad_vars(
        self,
        y: Var,
        wrt: Sequence[Var],
        mode: str = "safe",
        *,
        seed: Optional[int] = None,
        directions: Optional[str] = None,
    ) -> tuple[list[Var], Certificate]:
        """The gradients of ``y`` recorded on the tape as variables, to be differentiated again.

        In safe and lex modes the pieces chosen at kinks are pinned: later passes keep them, and
        certificates of derivatives of these gradients count their kinks.
        """
        vars_, cert = self._tape.grad_vars(y, list(wrt), mode, seed, directions)
        return vars_, Certificate._from_native(cert)


# Functions mirroring the library (each calls the variable's method of the same name).


def relu(x: Var) -> Var:
    """``max(x, 0)`` element-wise (kink family ``relu``)."""
    return x.relu()


def leaky_relu(x: Var, slope: float = 0.01) -> Var:
    """``x`` for ``x >= 0``, ``slope * x`` below (kink family ``leaky_relu``)."""
    return x.leaky_relu(slope)


def abs(x: Var) -> Var:  # noqa: A001 - mirrors the library's name
    """``|x|`` element-wise (kink family ``abs``)."""
    return x.abs()


def hardtanh(x: Var) -> Var:
    """``clamp(x, -1, 1)`` element-wise (kink family ``hardtanh``)."""
    return x.hardtanh()


def clamp(x: Var, lo: Any, hi: Any) -> Var:
    """``x`` clamped to ``[lo, hi]`` element-wise (kink family ``clamp``)."""
    return x.clamp(lo, hi)


def maximum(x: Var, y: Any) -> Var:
    """``max(x, y)`` element-wise (kink family ``max``)."""
    return x.maximum(y)


def minimum(x: Var, y: Any) -> Var:
    """``min(x, y)`` element-wise (kink family ``max``)."""
    return x.minimum(y)


def minmod(x: Var, y: Any) -> Var:
    """The minmod limiter element-wise (kink family ``limiter``)."""
    return x.minmod(y)


def max(x: Var, axis: Optional[int] = None, keepdims: bool = False, tie: Optional[str] = None) -> Var:  # noqa: A001
    """The maximum of all elements (``tie``: this call's tie rule: first, last, mean, minnorm,
    weighted:W1,...), or along ``axis`` (the representation's rule)."""
    return x.max(axis, keepdims, tie)


def min(x: Var, axis: Optional[int] = None, keepdims: bool = False, tie: Optional[str] = None) -> Var:  # noqa: A001
    """The minimum of all elements, or along ``axis`` (see :func:`max`)."""
    return x.min(axis, keepdims, tie)


def sort(x: Var, tie: Optional[str] = None) -> Var:
    """Sorted ascending along the last axis (kink family ``sort``)."""
    return x.sort(tie)


def exp(x: Var) -> Var:
    """``exp(x)``."""
    return x.exp()


def log(x: Var) -> Var:
    """``log(x)``."""
    return x.log()


def sqrt(x: Var) -> Var:
    """``sqrt(x)``."""
    return x.sqrt()


def sin(x: Var) -> Var:
    """``sin(x)``."""
    return x.sin()


def cos(x: Var) -> Var:
    """``cos(x)``."""
    return x.cos()


def tanh(x: Var) -> Var:
    """``tanh(x)``."""
    return x.tanh()


def sigmoid(x: Var) -> Var:
    """``1 / (1 + exp(-x))``."""
    return x.sigmoid()


def softplus(x: Var) -> Var:
    """``log(1 + exp(x))``."""
    return x.softplus()


def sum(x: Var, axis: Optional[int] = None, keepdims: bool = False) -> Var:  # noqa: A001
    """The sum of all elements, or along ``axis``."""
    return x.sum(axis, keepdims)


def mean(x: Var, axis: Optional[int] = None, keepdims: bool = False) -> Var:
    """The mean of all elements, or along ``axis``."""
    return x.mean(axis, keepdims)


def reshape(x: Var, shape: Sequence[int]) -> Var:
    """The same values in a new shape."""
    return x.reshape(list(shape))


def transpose(x: Var, axes: Optional[Sequence[int]] = None) -> Var:
    """The axes permuted, or a matrix transposed."""
    return x.transpose(None if axes is None else list(axes))


def log_softmax(x: Var) -> Var:
    """``log_softmax`` along the last axis."""
    return x.log_softmax()


def max_pool1d(x: Var, kernel: int, stride: Optional[int] = None, tie: Optional[str] = None) -> Var:
    """1-d max-pooling over the last axis (kink family ``maxpool``)."""
    return x.max_pool1d(kernel, stride, tie)


def max_pool2d(
    x: Var, kernel: tuple[int, int], stride: Optional[tuple[int, int]] = None, tie: Optional[str] = None
) -> Var:
    """2-d max-pooling over the last two axes (kink family ``maxpool``)."""
    return x.max_pool2d(kernel, stride, tie)


from . import transport  # noqa: E402  (the submodule needs the classes above)
from . import nn  # noqa: E402
from . import hybrid  # noqa: E402
