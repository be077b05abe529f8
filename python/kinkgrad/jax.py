"""A bridge for JAX users (imported only when JAX is installed: ``import kinkgrad.jax``).

Two things:

- :func:`transport_loss` (and :func:`hybrid_loss`): kinkgrad's losses as JAX functions with a
  ``jax.custom_vjp`` whose forward and backward are ``jax.pure_callback`` calls into kinkgrad, so
  ``jax.grad`` (also under ``jax.jit``) of a JAX program that calls them gets kinkgrad's certified
  gradient. The certificate of the latest gradient is :func:`last_certificate`.
- :func:`check`: evaluates a user's JAX function at a point **on a kinkgrad tape** (the function is
  traced with ``jax.make_jaxpr`` and every primitive of the jaxpr is mirrored by a tape op) and
  returns its ``safe``/``lex``/``assoc`` gradient with the certificate, beside ``jax.grad``'s.

What crosses the boundary: one array each way. The transport call receives ``u0``, ``target``,
``velocity`` and ``source`` concatenated into one float64 vector and returns the loss and the wanted
gradients as one vector; kinkgrad computes value and gradient in one call in the forward pass (the
gradient is kept as the VJP's residual, so the backward pass is a multiplication by the cotangent);
where no gradient is taken, the value alone (:func:`kinkgrad.transport.loss`: the forward run, about
half the cost). Vectorisation (``jax.vmap``) runs kinkgrad once per batch element
(``vmap_method="sequential"``). Costs are measured in ``docs/python.md``.

Two paths carry the transport call; :data:`BRIDGE` says which one this process uses:

- ``"ffi"`` (where ``jax.ffi`` exists): an XLA FFI custom call into the Rust extension on JAX's CPU
  backend (XLA calls kinkgrad directly with its buffers: no Python, no GIL, no ``device_put`` per
  evaluation; the problem's options are registered once, and its buffers are reused across
  evaluations). Other backends (GPU) take the ``pure_callback`` path inside the same function
  (``jax.lax.platform_dependent``). On Ctrl-C, JAX's wait raises ``KeyboardInterrupt`` in the caller
  while the evaluation runs to its end in the background, as XLA's own computations do.
- ``"pure_callback"``: ``jax.pure_callback`` calls into kinkgrad from Python (one callback object per
  problem size and wanted set, so JAX's caches hold across calls), off the GIL.
  :func:`hybrid_loss` always takes this path.

:func:`set_bridge` chooses the path (``"pure_callback"`` always works; ``"ffi"`` raises where
``jax.ffi`` is missing).

The gradient covers exactly the inputs JAX differentiates: the forward pass asks JAX which inputs are
perturbed (``symbolic_zeros``) and requests those gradients from kinkgrad; an input kinkgrad cannot
differentiate (the target) raises ``ValueError`` rather than returning a zero.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from . import Certificate, Tape, _native
from . import transport as _transport

__all__ = ["transport_loss", "hybrid_loss", "last_certificate", "check", "CheckResult", "BRIDGE", "set_bridge"]

_last: list[Any] = [None]  # (number from _native.bridge_seq(), certificate) of the callback paths

_FFI_TARGET = "kinkgrad_transport"


def _ffi_available() -> bool:
    ffi = getattr(jax, "ffi", None)
    return all(hasattr(ffi, f) for f in ("ffi_call", "register_ffi_target")) and hasattr(jax.lax, "platform_dependent")


BRIDGE: str = "ffi" if _ffi_available() else "pure_callback"
"""The path :func:`transport_loss` takes: ``"ffi"`` (an XLA FFI custom call on the CPU backend) or
``"pure_callback"``; see the module docs and :func:`set_bridge`."""

_registered: list[bool] = [False]


def set_bridge(path: str) -> None:
    """Choose the path of :func:`transport_loss` for functions traced from now on: ``"ffi"`` or
    ``"pure_callback"`` (:data:`BRIDGE` reports it).

    Raises:
        ValueError: another name, or ``"ffi"`` where this JAX has no ``jax.ffi``.
    """
    global BRIDGE
    if path not in ("ffi", "pure_callback"):
        raise ValueError(f"set_bridge: unknown path '{path}' (expected ffi or pure_callback)")
    if path == "ffi" and not _ffi_available():
        raise ValueError(f"set_bridge: this JAX ({jax.__version__}) has no jax.ffi custom calls")
    BRIDGE = path


def _register_ffi() -> None:
    if not _registered[0]:
        jax.ffi.register_ffi_target(_FFI_TARGET, _native.ffi_transport_handler(), platform="cpu")
        _registered[0] = True


def last_certificate() -> Optional[Certificate]:
    """The certificate of the latest gradient computed by :func:`transport_loss` or
    :func:`hybrid_loss` (``None`` before the first)."""
    ffi = _native.ffi_last_certificate()
    mine = _last[0]
    if ffi is not None and (mine is None or ffi[0] > mine[0]):
        return Certificate._from_native(ffi[1])
    if mine is None:
        return None
    c = mine[1]
    if isinstance(c, tuple):  # stored raw by the callbacks: parsed once, when asked for
        c = Certificate._from_native(c)
        _last[0] = (mine[0], c)
    return c


def _value(x: Any) -> Any:
    """A ``CustomVJPPrimal``'s value (``symbolic_zeros=True`` wraps the forward's arguments)."""
    return getattr(x, "value", x)


def _perturbed(x: Any) -> bool:
    return bool(getattr(x, "perturbed", True))


_GRADS = ("u0", "velocity", "source")


@functools.lru_cache(maxsize=64)
def _transport_fn(options: tuple) -> Callable:
    opts = dict(options)

    @functools.lru_cache(maxsize=64)
    def host(sizes: tuple, wanted: tuple) -> Callable:
        # one callback object per (sizes, wanted): JAX's caches key on it (an eager jax.grad
        # compiles the callback once, not on every call)
        n, na, ns = sizes
        cuts = np.cumsum((n, n, na))

        def run(packed: np.ndarray) -> np.ndarray:
            # one array in, one array out (each callback argument and result costs JAX a device_put
            # and a check); the native call directly, no result objects: this runs on every evaluation
            u0, target, velocity, source = np.split(np.asarray(packed, dtype=np.float64), cuts)
            loss, g_u0, g_a, g_s, _, cert, _, _, _ = _native.loss_gradient(
                u0, target, velocity, source=source if ns else None, wanted=list(wanted), **opts
            )
            _last[0] = (_native.bridge_seq(), cert)
            grads = dict(zip(_GRADS, (g_u0, g_a, g_s)))
            return np.concatenate([np.array([loss])] + [grads[w] for w in wanted])

        return run

    @functools.lru_cache(maxsize=None)
    def ffi_config(sizes: tuple, wanted: tuple, value_only: bool) -> int:
        # the options checked and registered once per problem; the custom call passes the index
        _register_ffi()
        return _native.ffi_transport_config(*sizes, wanted=list(wanted), value_only=value_only, **opts)

    def native(packed, sizes: tuple, wanted: Optional[tuple], shape: Any):
        """One native call on the packed inputs: the custom call on CPU where :data:`BRIDGE` is
        ``"ffi"``, else (and on other backends) ``jax.pure_callback``. ``wanted=None``: the value."""

        def via_callback(p):
            fn = host_value(sizes) if wanted is None else host(sizes, wanted)
            return jax.pure_callback(fn, shape, p, vmap_method="sequential")

        if BRIDGE != "ffi":
            return via_callback(packed)
        config = np.int64(ffi_config(sizes, wanted or (), wanted is None))

        def via_ffi(p):
            return jax.ffi.ffi_call(_FFI_TARGET, shape, vmap_method="sequential")(p, config=config)

        return jax.lax.platform_dependent(packed, cpu=via_ffi, default=via_callback)

    def call(u0, target, velocity, source, wanted):
        """The loss and the wanted gradients (in the order of ``_GRADS``) from one native call."""
        sizes = (u0.shape[0], velocity.shape[0], source.shape[0])
        size = dict(zip(_GRADS, sizes))
        out = native(
            jnp.concatenate([u0, target, velocity, source]), sizes, wanted,
            jax.ShapeDtypeStruct((1 + sum(size[w] for w in wanted),), jnp.float64),
        )
        grads, at = {}, 1
        for w in wanted:
            grads[w], at = out[at:at + size[w]], at + size[w]
        return out[0], grads

    # the value alone does not depend on the mode or the representation, but a bad name is an error
    # even where only values are taken: checked once here by the library's own parsers
    rep = ("convention", "relu_at_zero", "max_ties", "kink_rule", "representation")
    _native.grad("x", [("x", 0.0)], opts.get("mode", "safe"), opts.get("seed"), None, *(opts.get(k) for k in rep))
    vopts = {k: v for k, v in opts.items() if k in ("dt", "steps", "scheme", "length", "force")}

    @functools.lru_cache(maxsize=64)
    def host_value(sizes: tuple) -> Callable:
        cuts = np.cumsum((sizes[0], sizes[0], sizes[1]))

        def run(packed: np.ndarray) -> np.float64:
            u0, target, velocity, source = np.split(np.asarray(packed, dtype=np.float64), cuts)
            return np.float64(_native.loss(u0, target, velocity, source=source if sizes[2] else None, **vopts))

        return run

    @jax.custom_vjp
    def f(u0, target, velocity, source):
        # no gradient wanted (the primal outside jax.grad): the forward run only
        sizes = (u0.shape[0], velocity.shape[0], source.shape[0])
        return native(jnp.concatenate([u0, target, velocity, source]), sizes, None,
                      jax.ShapeDtypeStruct((), jnp.float64))

    def fwd(u0, target, velocity, source):
        if _perturbed(target):
            raise ValueError("transport_loss: the gradient with respect to the target is not computed by kinkgrad")
        wanted = tuple(
            name for name, x in zip(_GRADS, (u0, velocity, source)) if _perturbed(x) and _value(x).size > 0
        ) or ("u0",)
        u0, target, velocity, source = map(_value, (u0, target, velocity, source))
        loss, grads = call(u0, target, velocity, source, wanted)
        res = [grads[name] if name in grads else jnp.zeros_like(x) for name, x in zip(_GRADS, (u0, velocity, source))]
        return loss, (res, jnp.zeros_like(target))

    def bwd(res, ct):
        (g_u0, g_a, g_s), z_target = res
        return ct * g_u0, z_target, ct * g_a, ct * g_s

    f.defvjp(fwd, bwd, symbolic_zeros=True)
    return f


def _options(**kw: Any) -> tuple:
    return tuple(sorted((k, v) for k, v in kw.items() if v is not None))


def transport_loss(
    u0: Any,
    target: Any,
    velocity: Any = 1.0,
    source: Any = None,
    *,
    dt: float,
    steps: int,
    scheme: str = "lw-minmod",
    length: float = 1.0,
    mode: str = "safe",
    schedule: str = "all",
    seed: Optional[int] = None,
    convention: Optional[str] = None,
    relu_at_zero: Optional[float] = None,
    max_ties: Optional[str] = None,
    kink_rule: Optional[str] = None,
    representation: Optional[str] = None,
    force: bool = False,
) -> jax.Array:
    """``J = sum_j (u_j(T) - target_j)^2 dx`` of :func:`kinkgrad.transport.loss_gradient` as a
    differentiable JAX function of ``u0``, ``velocity`` (one value or one per face; ``None`` for
    Burgers) and ``source`` (one per cell); float64 (enable ``jax_enable_x64``).

    ``jax.grad`` returns kinkgrad's gradient in ``mode`` (safe by default: branch-locked,
    independent of the representation); :func:`last_certificate` says what it is. Value and
    gradient come from one native call; evaluated without a gradient, it runs the forward only
    (:func:`kinkgrad.transport.loss`). The other
    arguments are :func:`kinkgrad.transport.loss_gradient`'s (static).

    Raises:
        ValueError: as ``loss_gradient`` (raised inside the callback), or a gradient with respect to
            ``target``.
    """
    opts = _options(dt=float(dt), steps=int(steps), scheme=scheme, length=float(length), mode=mode,
                    schedule=schedule, seed=seed, convention=convention, relu_at_zero=relu_at_zero,
                    max_ties=max_ties, kink_rule=kink_rule, representation=representation, force=force)
    f = _transport_fn(opts)
    as64 = functools.partial(jnp.asarray, dtype=jnp.float64)
    src = jnp.zeros(0, jnp.float64) if source is None else as64(source)
    vel = jnp.zeros(0, jnp.float64) if velocity is None else jnp.atleast_1d(as64(velocity))
    u0, target = as64(u0), as64(target)
    # the callback takes the four inputs as one array, split by these lengths
    if u0.ndim != 1 or target.shape != u0.shape or vel.ndim != 1 or src.ndim != 1:
        raise ValueError(
            f"transport_loss: u0 and target must be vectors of the same length, velocity and source vectors "
            f"(got shapes {u0.shape}, {target.shape}, {vel.shape}, {src.shape})"
        )
    return f(u0, target, vel, src)


def hybrid_loss(weights: Any, model: Any, data: Any, *,
                indices: Optional[Sequence[int]] = None, mode: str = "safe") -> jax.Array:
    """The hybrid model's loss ``J(W)`` on ``data`` (the training samples, or ``indices``) as a
    differentiable JAX function of the flat weight vector ``weights`` (``model.weights_flat()``'s
    layout); ``jax.grad`` gives kinkgrad's gradient in ``mode`` with the model's representation."""
    idx = tuple(data.train_indices() if indices is None else (int(i) for i in indices))

    def host(w):
        r = model.loss_and_gradient(data, idx, mode=mode, weights=np.asarray(w))
        _last[0] = (_native.bridge_seq(), r.certificate)
        return np.float64(r.loss), r.gradient

    @jax.custom_vjp
    def f(w):
        return call(w)[0]

    def call(w):
        shapes = (jax.ShapeDtypeStruct((), jnp.float64), jax.ShapeDtypeStruct(w.shape, jnp.float64))
        return jax.pure_callback(host, shapes, w, vmap_method="sequential")

    def fwd(w):
        loss, g = call(w)
        return loss, g

    def bwd(g, ct):
        return (ct * g,)

    f.defvjp(fwd, bwd)
    return f(jnp.asarray(weights, dtype=jnp.float64))


# ----------------------------------------------------------------------------------------------
# check: a JAX function evaluated on a kinkgrad tape


@dataclass(frozen=True)
class CheckResult:
    """The result of :func:`check`.

    Attributes:
        value: the function's value on the tape.
        gradient: kinkgrad's gradient in ``mode`` (a pytree shaped like the arguments).
        jax_gradient: ``jax.grad``'s (the convention JAX implements).
        certificate: what ``gradient`` is (kinks per op; ``generalized`` in safe/lex at kinks).
        max_abs_difference: the largest ``|gradient - jax_gradient|``.
    """

    value: float
    gradient: Any
    jax_gradient: Any
    certificate: Certificate
    max_abs_difference: float

    @property
    def agree(self) -> bool:
        """``jax.grad`` equals kinkgrad's gradient to 1e-12 relative (1e-5 in float32)."""
        return self.max_abs_difference <= self._tol

    @property
    def _tol(self) -> float:
        leaves = jax.tree_util.tree_leaves(self.gradient)
        scale = max([1.0] + [float(np.max(np.abs(x))) for x in leaves if np.size(x)])
        eps = 1e-12 if all(np.asarray(x).dtype == np.float64 for x in leaves) else 1e-5
        return eps * scale


_UNARY = {
    "neg": lambda x: -x, "abs": lambda x: x.abs(), "exp": lambda x: x.exp(), "log": lambda x: x.log(),
    "sqrt": lambda x: x.sqrt(), "sin": lambda x: x.sin(), "cos": lambda x: x.cos(),
    "tanh": lambda x: x.tanh(), "logistic": lambda x: x.sigmoid(),
}
_BINARY = {
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b, "max": lambda a, b: a.maximum(b), "min": lambda a, b: a.minimum(b),
}
_CALLS = ("jit", "pjit", "closed_call", "core_call", "remat", "checkpoint", "custom_vjp_call",
          "custom_vjp_call_jaxpr")
_IDENTITY = ("copy", "copy_p", "stop_gradient", "optimization_barrier")
SUPPORTED = sorted(set(_UNARY) | set(_BINARY) | set(_CALLS) | set(_IDENTITY) | {
    "custom_jvp_call", "integer_pow", "dot_general", "reduce_sum", "reduce_max", "reduce_min",
    "broadcast_in_dim", "reshape", "squeeze", "expand_dims", "transpose", "convert_element_type",
    "clamp"})
"""The jaxpr primitives :func:`check` mirrors (``custom_jvp_call`` named ``relu`` is the tape's
``relu``; other custom rules are followed into their primal jaxpr)."""


def _is_relu(params: Any, inner: Any) -> bool:
    """``jax.nn.relu``: a call named ``relu``, or a custom rule around one."""
    if params.get("name") == "relu":
        return True
    eqns = getattr(getattr(inner, "jaxpr", inner), "eqns", [])
    return len(eqns) == 1 and eqns[0].params.get("name") == "relu"


class _Interp:
    """Evaluates a jaxpr with tape variables (and NumPy arrays for values that do not depend on the
    inputs)."""

    def __init__(self, tape: Tape, dtype: np.dtype) -> None:
        self.tape = tape
        self.dtype = dtype

    def is_var(self, x: Any) -> bool:
        return not isinstance(x, np.ndarray)

    def var(self, x: Any) -> Any:
        return x if self.is_var(x) else self.tape.constant(np.asarray(x, self.dtype))

    def run(self, jaxpr: Any, consts: Sequence[Any], args: Sequence[Any]) -> list[Any]:
        env: dict[Any, Any] = {}

        def read(v: Any) -> Any:
            if hasattr(v, "val"):  # a Literal
                return np.asarray(v.val, self.dtype) if np.issubdtype(np.asarray(v.val).dtype, np.floating) \
                    else np.asarray(v.val)
            return env[v]

        for v, x in zip(jaxpr.constvars, consts):
            env[v] = np.asarray(x)
        for v, x in zip(jaxpr.invars, args):
            env[v] = x
        for eqn in jaxpr.eqns:
            ins = [read(v) for v in eqn.invars]
            outs = self.eqn(eqn, ins)
            for v, x in zip(eqn.outvars, outs):
                env[v] = x
        return [read(v) for v in jaxpr.outvars]

    def sub(self, closed: Any, ins: Sequence[Any]) -> list[Any]:
        jaxpr = getattr(closed, "jaxpr", closed)
        consts = getattr(closed, "consts", getattr(closed, "literals", ()))
        return self.run(jaxpr, consts, ins)

    def eqn(self, eqn: Any, ins: list[Any]) -> list[Any]:
        name, p = eqn.primitive.name, eqn.params
        if not any(self.is_var(x) for x in ins) and name not in _CALLS and name != "custom_jvp_call":
            # a constant subexpression: evaluate it with JAX itself
            out = eqn.primitive.bind(*[jnp.asarray(x) for x in ins], **p)
            outs = out if eqn.primitive.multiple_results else [out]
            return [np.asarray(o) for o in outs]
        if name in _CALLS or name == "custom_jvp_call":
            inner = p.get("jaxpr") or p.get("call_jaxpr") or p.get("fun_jaxpr")
            if len(ins) == 1 and _is_relu(p, inner):
                return [self.var(ins[0]).relu()]
            return self.sub(inner, ins)
        if name in _IDENTITY:
            return list(ins)
        if name in _UNARY:
            return [_UNARY[name](ins[0])]
        if name in _BINARY:
            a, b = ins
            if not self.is_var(a) and name in ("max", "min"):
                a = self.var(a)
            if not self.is_var(a):
                return [self._left_const(name, a, b)]
            return [_BINARY[name](a, b)]
        if name == "integer_pow":
            return [ins[0] ** int(p["y"])]
        if name == "convert_element_type":
            if not np.issubdtype(np.dtype(p["new_dtype"]), np.floating):
                raise ValueError(f"check: convert_element_type to {p['new_dtype']} is not differentiable")
            return [ins[0]]
        if name == "clamp":
            lo, x, hi = ins
            x = self.var(x)
            if self.is_var(lo) or self.is_var(hi):
                return [x.maximum(lo).minimum(hi)]
            return [x.clamp(float(lo), float(hi))]
        if name in ("reduce_sum", "reduce_max", "reduce_min"):
            return [self.reduce(name[7:], ins[0], tuple(p["axes"]))]
        if name in ("reshape", "squeeze", "expand_dims"):
            return [ins[0].reshape(list(eqn.outvars[0].aval.shape))]
        if name == "transpose":
            return [ins[0].transpose(list(p["permutation"]))]
        if name == "broadcast_in_dim":
            return [self.broadcast(ins[0], tuple(p["shape"]), tuple(p["broadcast_dimensions"]))]
        if name == "dot_general":
            return [self.dot(ins[0], ins[1], p["dimension_numbers"])]
        raise ValueError(
            f"check: the JAX primitive '{name}' has no kinkgrad mirror (supported: {', '.join(SUPPORTED)}); "
            "write the function with +, -, *, /, @, integer powers, relu, abs, maximum, minimum, clip, max, "
            "sum, exp, log, tanh, ..."
        )

    def _left_const(self, name: str, a: np.ndarray, b: Any) -> Any:
        # constant (op) variable: the variable's reflected operator (NumPy's would make an object array)
        reflected = {"add": "__radd__", "sub": "__rsub__", "mul": "__rmul__", "div": "__rtruediv__"}[name]
        return getattr(b, reflected)(a)

    def reduce(self, kind: str, x: Any, axes: tuple) -> Any:
        shape = self.shape(x)
        if len(axes) == len(shape):
            return getattr(x, kind)(None, False, None) if kind != "sum" else x.sum(None, False)
        for ax in sorted(axes, reverse=True):
            x = x.sum(ax, False) if kind == "sum" else getattr(x, kind)(ax, False, None)
        return x

    def shape(self, x: Any) -> tuple:
        return tuple(x.shape) if self.is_var(x) else np.shape(x)

    def broadcast(self, x: Any, shape: tuple, dims: tuple) -> Any:
        xs = self.shape(x)
        mid = [1] * len(shape)
        for d, n in zip(dims, xs):
            mid[d] = n
        if list(xs) != mid:
            x = x.reshape(mid)
        if tuple(mid) != shape:
            x = x + self.tape.constant(np.zeros(shape, self.dtype))
        return x

    def dot(self, a: Any, b: Any, dims: Any) -> Any:
        (lc, rc), (lb, rb) = dims
        a, b = self.var(a), self.var(b)
        sa, sb = self.shape(a), self.shape(b)
        if lb or rb or len(lc) != 1 or len(sa) > 2 or len(sb) > 2:
            raise ValueError("check: dot_general is mirrored for vectors and matrices with one contracted axis")
        # bring the contracted axis of a last and of b first, as 2-d matrices
        if len(sa) == 1:
            a2 = a.reshape([1, sa[0]])
        else:
            a2 = a if lc[0] == 1 else a.transpose([1, 0])
        if len(sb) == 1:
            b2 = b.reshape([sb[0], 1])
        else:
            b2 = b if rc[0] == 0 else b.transpose([1, 0])
        out = a2 @ b2
        free = [n for i, n in enumerate(sa) if i != lc[0]] + [n for i, n in enumerate(sb) if i != rc[0]]
        return out.reshape(free) if list(self.shape(out)) != free else out


def check(
    f: Callable[..., Any],
    *args: Any,
    mode: str = "safe",
    seed: Optional[int] = None,
    directions: Optional[str] = None,
    convention: Optional[str] = "jax",
    relu_at_zero: Optional[float] = None,
    max_ties: Optional[str] = None,
    kink_rule: Optional[str] = None,
) -> CheckResult:
    """Differentiate the JAX function ``f`` at ``args`` on a kinkgrad tape, beside ``jax.grad``.

    ``f`` returns a scalar; its arguments are arrays (pytrees of arrays). ``f`` is traced with
    ``jax.make_jaxpr`` and each primitive is mirrored by a tape op (see :data:`SUPPORTED`):
    ``jax.nn.relu`` -> ``relu``; ``jnp.maximum``/``minimum``, ``jnp.clip`` -> ``max`` family;
    ``jnp.abs``; ``jnp.max``/``min`` (all elements or along axes); ``+ - * /``, ``@`` on vectors and
    matrices, integer powers, ``exp``, ``log``, ``sqrt``, ``sin``, ``cos``, ``tanh``,
    ``jax.nn.sigmoid``; sums, means, reshapes, transposes and broadcasts. The tape runs in float64
    when the arguments are float64, else float32.

    Limits: control flow that depends on values (``jnp.where``, comparisons, ``lax.cond``,
    ``while``/``scan`` loops), gathers/scatters and convolutions have no mirror and raise
    ``ValueError`` naming the primitive; the trace fixes Python-level control flow at ``args``.

    ``mode="assoc"`` with ``convention="jax"`` (default) reproduces ``jax.grad`` (``relu'(0) = 0``,
    ties of ``max`` split evenly); ``"safe"``/``"lex"`` give the representation-independent
    gradient with a ``generalized`` certificate where kinks are hit.
    """
    flat, tree = jax.tree_util.tree_flatten(args)
    flat = [np.asarray(x) for x in flat]
    dtype = np.float64 if all(x.dtype == np.float64 for x in flat) else np.float32
    closed = jax.make_jaxpr(lambda *xs: f(*jax.tree_util.tree_unflatten(tree, list(xs))))(*flat)
    tape = Tape(np.dtype(dtype).name, convention=convention, relu_at_zero=relu_at_zero, max_ties=max_ties,
                kink_rule=kink_rule)
    xs = [tape.var(np.asarray(x, dtype)) for x in flat]
    interp = _Interp(tape, np.dtype(dtype))
    (y,) = interp.run(closed.jaxpr, closed.consts, xs)
    if not interp.is_var(y):
        raise ValueError("check: the function does not depend on its arguments")
    if tuple(y.shape) != ():
        y = y.reshape([])
    g = tape.gradient(y, xs, mode, seed=seed, directions=directions)
    ours = jax.tree_util.tree_unflatten(tree, list(g.values))
    theirs = jax.grad(lambda *a: f(*a), argnums=tuple(range(len(args))))(*args)
    diff = max([0.0] + [float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))
                        for a, b in zip(jax.tree_util.tree_leaves(ours), jax.tree_util.tree_leaves(theirs)) if np.size(a)])
    return CheckResult(float(y.item()), ours, theirs, g.certificate, diff)
