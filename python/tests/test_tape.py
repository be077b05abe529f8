"""kinkgrad.Tape: NumPy programs, against finite differences and hand-derived values."""

import numpy as np
import pytest

import kinkgrad as kg


def mlp(tape, x, w1, w2, w3):
    """A 3-layer ReLU network, mean squared output."""
    h = (x @ w1).relu()
    h = (h @ w2).relu()
    return ((h @ w3) ** 2).mean()


def mlp_numpy(x, w1, w2, w3):
    h = np.maximum(x @ w1, 0.0)
    h = np.maximum(h @ w2, 0.0)
    return np.mean((h @ w3) ** 2)


def test_relu_network_assoc_equals_central_differences_off_kinks():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 3))
    ws = [rng.normal(size=(3, 5)), rng.normal(size=(5, 4)), rng.normal(size=(4, 2))]
    tape = kg.Tape()
    vs = [tape.var(w) for w in ws]
    y = mlp(tape, tape.constant(x), *vs)
    assert y.item() == pytest.approx(mlp_numpy(x, *ws), rel=1e-14)
    g = tape.gradient(y, vs, mode="assoc")
    # random weights: no pre-activation is exactly 0, so the network is smooth here
    assert g.certificate.kind == "exact"
    h = 1e-6
    for w, gw in zip(ws, g.values):
        assert gw.shape == w.shape and gw.dtype == np.float64
        fd = np.zeros_like(w)
        for i in np.ndindex(w.shape):
            wp, wm = w.copy(), w.copy()
            wp[i] += h
            wm[i] -= h
            args = [wp if a is w else a for a in ws]
            argm = [wm if a is w else a for a in ws]
            fd[i] = (mlp_numpy(x, *args) - mlp_numpy(x, *argm)) / (2 * h)
        np.testing.assert_allclose(gw, fd, rtol=1e-6, atol=1e-8)


def test_planted_kink_safe_is_independent_of_the_convention():
    # x @ w1 has an exact zero pre-activation (row 0 of x is zero, no bias): relu sits on its kink.
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 2))
    x[0] = 0.0
    w1, w2, w3 = rng.normal(size=(2, 4)), rng.normal(size=(4, 3)), rng.normal(size=(3, 1))
    results = {}
    for z in [0.0, 0.5, 1.0]:
        tape = kg.Tape(relu_at_zero=z)
        vs = [tape.var(w) for w in (w1, w2, w3)]
        y = mlp(tape, tape.constant(x), *vs)
        g = tape.gradient(y, vs, mode="safe")
        assert g.certificate.kind == "generalized" and g.certificate.kinks_total > 0
        results[z] = g.values
    for z in [0.5, 1.0]:
        for a, b in zip(results[0.0], results[z]):
            np.testing.assert_array_equal(a, b)


def test_operators_and_functions_by_hand():
    tape = kg.Tape()
    x = tape.var(np.array([1.0, -2.0, 3.0]))
    # y = sum(x^2 / 2 - 3 x + |x|) ; dy/dx = x - 3 + sign(x) = (-1, -6, 1)
    y = (x**2 / 2.0 - 3.0 * x + kg.abs(x)).sum()
    assert y.item() == pytest.approx(0.5 + 2 + 4.5 - 6 + 1 + 2 + 3)
    (g,) = tape.gradient(y, [x], mode="assoc").values
    np.testing.assert_array_equal(g, [-1.0, -6.0, 1.0])
    # max over all elements with a tie: safe splits by the lexicographic rule, assoc by `tie`
    t = tape.var(np.array([2.0, 2.0, 1.0]))
    (gm,) = tape.gradient(t.max(tie="mean"), [t], mode="assoc").values
    np.testing.assert_array_equal(gm, [0.5, 0.5, 0.0])
    (gf,) = tape.gradient(t.max(tie="first"), [t], mode="assoc").values
    np.testing.assert_array_equal(gf, [1.0, 0.0, 0.0])


def test_gradient_of_gradient():
    # d/dx (relu(x) - relu(-x)) * w = w at x = 0 (safe: f = x w); then d/dw of that gradient = 1
    # (the library's own doc example, derived by hand)
    tape = kg.Tape()
    x = tape.var(np.float64(0.0))
    w = tape.var(np.float64(3.0))
    y = (kg.relu(x) - kg.relu(-x)) * w
    (gx,), cert = tape.grad_vars(y, [x], mode="safe")
    assert gx.item() == 3.0 and cert.kind == "generalized"
    h = tape.gradient(gx, [w], mode="safe")
    assert h.values[0] == 1.0
    assert h.certificate.kinks_total == 2


@pytest.mark.parametrize(
    "dtype,out",
    [("float64", np.float64), ("float32", np.float32), ("float16", np.float16), ("bfloat16", np.float32)],
)
def test_dtypes_round_trip(dtype, out):
    tape = kg.Tape(dtype)
    x = tape.var(np.array([0.5, -1.5, 2.0], dtype=np.float64))
    assert x.value.dtype == out
    np.testing.assert_array_equal(x.value, np.array([0.5, -1.5, 2.0], dtype=out))
    (g,) = tape.gradient((x * x).sum(), [x], mode="assoc").values
    # 2x is exact in every format for these values
    assert g.dtype == out
    np.testing.assert_array_equal(g, np.array([1.0, -3.0, 4.0], dtype=out))


def test_errors_are_python_exceptions_with_the_librarys_line():
    tape = kg.Tape()
    a = tape.var(np.ones((2, 3)))
    b = tape.var(np.ones((2, 3)))
    with pytest.raises(ValueError, match="^shape error in matmul"):
        a @ b
    other = kg.Tape().var(np.ones((2, 3)))
    with pytest.raises(ValueError, match="different tapes"):
        a + other
    with pytest.raises(ValueError, match="dtype"):
        kg.Tape("int8")
    with pytest.raises(ValueError, match="one element"):
        tape.gradient(a, [a])
    with pytest.raises(FloatingPointError):
        z = tape.var(np.zeros(2))
        tape.gradient(z.log().sum(), [z])


def test_shapes_are_kept_zero_d_included():
    tape = kg.Tape()
    assert tape.var(np.float64(2.0)).shape == []
    assert tape.var(3.0).shape == []
    assert tape.var(np.ones((2, 1, 3))).shape == [2, 1, 3]
    # a transposed (non-contiguous) input is read in its logical order
    a = np.arange(6.0).reshape(2, 3).T
    np.testing.assert_array_equal(tape.var(a).value, a)
