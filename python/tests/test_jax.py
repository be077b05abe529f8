"""kinkgrad.jax: runs when JAX is importable (python/test.sh does not install JAX; see
docs/python.md for how these were run). Expected values: kinkgrad's own gradients (the bridge must
pass them through bit for bit), hand-derived derivatives of relu at kinks, and jax.grad off kinks."""

import numpy as np
import pytest

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402

from kinkgrad import hybrid, transport  # noqa: E402
from kinkgrad import jax as kj  # noqa: E402

N = 64
X = (np.arange(N) + 0.5) / N
U0 = np.where(np.abs(X - 0.5) < 0.2, 1.0, 0.0)  # flat plateaus: minmod kinks everywhere
TARGET = np.sin(2 * np.pi * X)
DT = 0.5 / N

# the transport bridge's two paths (kinkgrad.jax.BRIDGE): the XLA FFI custom call and pure_callback
PATHS = ["ffi", "pure_callback"] if kj.BRIDGE == "ffi" else ["pure_callback"]


@pytest.fixture(params=PATHS)
def bridge(request):
    before = kj.BRIDGE
    kj.set_bridge(request.param)
    yield request.param
    kj.set_bridge(before)


def test_jax_grad_of_transport_loss_is_kinkgrads_gradient(bridge):
    f = lambda u: 2.0 * kj.transport_loss(u, TARGET, 1.0, dt=DT, steps=40)  # noqa: E731
    g = jax.grad(f)(jnp.asarray(U0))
    r = transport.loss_gradient(U0, TARGET, 1.0, dt=DT, steps=40)
    assert np.array_equal(np.asarray(g), 2.0 * r.u0)
    assert kj.last_certificate().kind == "generalized" and kj.last_certificate().kinks_total > 0
    gj = jax.jit(jax.grad(f))(jnp.asarray(U0))
    assert np.array_equal(np.asarray(gj), 2.0 * r.u0)
    assert float(f(jnp.asarray(U0))) == 2.0 * r.loss


def test_velocity_and_source_gradients_and_target_refused():
    src = 0.1 * np.cos(2 * np.pi * X)
    ga, gs = jax.grad(lambda a, s: kj.transport_loss(U0, TARGET, a, s, dt=DT, steps=20, scheme="lw",
                                                    mode="assoc"), argnums=(0, 1))(jnp.ones(1) * 0.9, jnp.asarray(src))
    r = transport.loss_gradient(U0, TARGET, 0.9, dt=DT, steps=20, scheme="lw", mode="assoc", source=src,
                                wanted=["velocity", "source"])
    assert np.array_equal(np.asarray(ga), r.velocity) and np.array_equal(np.asarray(gs), r.source)
    with pytest.raises(ValueError, match="target"):
        jax.grad(lambda t: kj.transport_loss(U0, t, 1.0, dt=DT, steps=5))(jnp.asarray(TARGET))


def test_value_and_grad_is_one_native_call(monkeypatch, bridge):
    # the forward rule computes value and gradient in one call and keeps the gradient as the
    # residual: jax.value_and_grad (eager and jitted) costs one transport run per evaluation
    # (counted by the FFI handler, or by wrapping the callback's native function)
    from kinkgrad import _native

    calls = []
    real = _native.loss_gradient
    monkeypatch.setattr(_native, "loss_gradient", lambda *a, **k: calls.append(1) or real(*a, **k))
    f = lambda u: kj.transport_loss(u, TARGET, 1.0, dt=DT, steps=30)  # noqa: E731
    r = transport.loss_gradient(U0, TARGET, 1.0, dt=DT, steps=30)
    for vg in (jax.value_and_grad(f), jax.jit(jax.value_and_grad(f))):
        calls.clear()
        served = _native.ffi_transport_calls()
        for _ in range(2):
            v, g = vg(jnp.asarray(U0))
            assert float(v) == r.loss and np.array_equal(np.asarray(g), r.u0)
        ffi = _native.ffi_transport_calls() - served
        assert (len(calls), ffi) == ((0, 2) if bridge == "ffi" else (2, 0))


def test_bridge_paths_and_errors(bridge):
    # the path is reported and chosen explicitly; an error inside the evaluation (a non-finite loss:
    # (1e200)^2 overflows) reaches JAX's caller with the library's message on either path
    assert kj.BRIDGE == bridge
    with pytest.raises(ValueError, match="unknown path"):
        kj.set_bridge("xla")
    huge = jnp.asarray(1e200 * TARGET)
    with pytest.raises(jax.errors.JaxRuntimeError, match="non-finite value"):
        jax.grad(lambda u: kj.transport_loss(u, TARGET, 1.0, dt=DT, steps=3))(huge)


def test_shapes_are_checked_before_the_callback():
    # the callback receives the inputs packed into one array: lengths must be known to agree
    with pytest.raises(ValueError, match="same length"):
        kj.transport_loss(U0, TARGET[:-1], 1.0, dt=DT, steps=5)
    with pytest.raises(ValueError, match="vectors"):
        kj.transport_loss(U0.reshape(8, 8), TARGET.reshape(8, 8), 1.0, dt=DT, steps=5)
    # a bad mode name is refused even where only the value is taken
    with pytest.raises(ValueError, match="mode"):
        kj.transport_loss(U0, TARGET, 1.0, dt=DT, steps=5, mode="sfae")


def test_hybrid_loss_gradient_is_kinkgrads():
    d = hybrid.generate(cells=16, steps=6, n_train=4, n_test=2, seed=1)
    m = hybrid.Model(width=4, seed=0)
    w = jnp.asarray(m.weights_flat())
    g = jax.grad(lambda w: kj.hybrid_loss(w, m, d, mode="safe"))(w)
    r = m.loss_and_gradient(d, mode="safe", weights=np.asarray(w))
    assert np.array_equal(np.asarray(g), r.gradient)


def test_vmap_runs_the_bridge_once_per_batch_element(bridge):
    # jax.vmap over the bridge (vmap_method="sequential"): each row's value and gradient are
    # kinkgrad's for that row alone, bit for bit
    rows = np.stack([U0, np.roll(U0, 7), 0.5 * U0 + 0.1 * X])
    f = lambda u: kj.transport_loss(u, TARGET, 1.0, dt=DT, steps=20)  # noqa: E731
    values = jax.vmap(f)(jnp.asarray(rows))
    grads = jax.jit(jax.vmap(jax.grad(f)))(jnp.asarray(rows))
    for i, u in enumerate(rows):
        r = transport.loss_gradient(u, TARGET, 1.0, dt=DT, steps=20)
        assert float(values[i]) == r.loss and np.array_equal(np.asarray(grads[i]), r.u0), i
    d = hybrid.generate(cells=16, steps=6, n_train=4, n_test=2, seed=1)
    m = hybrid.Model(width=4, seed=0)
    w = np.stack([m.weights_flat(), 0.9 * m.weights_flat()])
    gw = jax.vmap(jax.grad(lambda w: kj.hybrid_loss(w, m, d, mode="assoc")))(jnp.asarray(w))
    for i in range(2):
        r = m.loss_and_gradient(d, mode="assoc", weights=w[i])
        assert np.array_equal(np.asarray(gw[i]), r.gradient), i


def net(w1, w2, x):
    return jnp.sum(jax.nn.relu(x @ w1) @ w2) + jnp.max(jnp.abs(w2)) + jnp.clip(w1, -0.1, 0.1).sum()


def test_check_agrees_with_jax_off_kinks():
    rng = np.random.default_rng(0)
    w1, w2, x = rng.standard_normal((3, 4)), rng.standard_normal((4, 2)), rng.standard_normal((5, 3))
    for mode in ("assoc", "safe"):
        r = kj.check(net, w1, w2, x, mode=mode)
        assert r.agree, (mode, r.max_abs_difference)
        assert r.certificate.kind == "exact"
        assert r.value == pytest.approx(float(net(w1, w2, x)), rel=1e-14)


def test_check_at_a_kink():
    # f(x) = sum(relu(x) - relu(-x)) = sum(x): its derivative is 1 everywhere. At x = 0 JAX's
    # relu'(0) = 0 gives 0; safe gives 1 whatever the convention.
    f = lambda x: jnp.sum(jax.nn.relu(x) - jax.nn.relu(-x))  # noqa: E731
    r = kj.check(f, np.zeros(3), mode="safe")
    assert np.array_equal(r.gradient[0], np.ones(3)) and np.array_equal(np.asarray(r.jax_gradient[0]), np.zeros(3))
    assert not r.agree and r.certificate.kind == "generalized" and r.certificate.kinks == {"relu": 6}
    a = kj.check(f, np.zeros(3), mode="assoc")  # convention jax: reproduces jax.grad
    assert a.agree and a.certificate.kind == "representation-dependent"


def test_check_refuses_unmirrored_primitives():
    with pytest.raises(ValueError, match="select_n|gt|lt"):
        kj.check(lambda x: jnp.sum(jnp.where(x > 0, x, 0.0)), np.ones(2))


def test_burgers_without_velocity():
    u0 = 0.5 + 0.4 * np.sin(2 * np.pi * X)
    g = jax.grad(lambda u: kj.transport_loss(u, TARGET, None, dt=DT, steps=10, scheme="burgers-godunov"))(
        jnp.asarray(u0))
    r = transport.loss_gradient(u0, TARGET, None, dt=DT, steps=10, scheme="burgers-godunov")
    assert np.array_equal(np.asarray(g), r.u0)
