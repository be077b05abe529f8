"""kinkgrad.hybrid from NumPy arrays.

Independent values: upwind at Courant number 1 shifts the state by exactly one cell per step, so a
model whose output layer is zero predicts ``np.roll(beta, steps)`` and the loss follows by hand;
gradients are checked against NumPy central differences of the loss (upwind with a constant velocity
has no kink in the state, and float64 ReLU inputs are not exactly 0 off planted points).
"""

import numpy as np
import pytest

from kinkgrad import hybrid


def shifted_data(steps=5, cells=16, samples=3):
    rng = np.random.default_rng(0)
    alpha = np.column_stack([rng.uniform(0.5, 1.5, samples), rng.uniform(0, 1, samples)])
    beta = rng.uniform(0, 1, (samples, cells))
    gamma = rng.uniform(0, 1, (samples, cells))
    d = hybrid.Dataset(alpha, beta, gamma, scheme="upwind", courant=1.0, steps=steps, n_train=2)
    return d, beta, gamma


def test_zero_source_is_a_shift_by_one_cell_per_step():
    d, beta, gamma = shifted_data()
    m = hybrid.Model("alpha", width=8, seed=1)
    w = m.weights()
    assert {k: v.shape for k, v in w.items()} == {
        "fc1.weight": (8, 4), "fc1.bias": (8,), "fc2.weight": (8, 8), "fc2.bias": (8,),
        "fc3.weight": (1, 8), "fc3.bias": (1,),
    }
    w["fc3.weight"][:] = 0.0
    w["fc3.bias"][:] = 0.0
    m.load_weights(w)
    assert np.array_equal(m.source(d), np.zeros((3, 16)))
    want = np.roll(beta, 5, axis=1)
    assert np.array_equal(m.simulate(d), want)
    dx = 1 / 16
    # J = (1/N) sum_i sum_j (u_j(T) - gamma_ij)^2 dx over the training samples 0, 1
    assert m.loss(d) == pytest.approx(np.mean(np.sum((want[:2] - gamma[:2]) ** 2, axis=1) * dx), rel=1e-14)
    assert m.loss(d, [2]) == pytest.approx(np.sum((want[2] - gamma[2]) ** 2) * dx, rel=1e-14)


def test_gradient_equals_central_differences():
    d, _, _ = shifted_data()
    m = hybrid.Model("alpha", width=8, seed=2)
    w0 = m.weights_flat()
    r = m.loss_and_gradient(d, mode="assoc")
    assert r.loss == pytest.approx(m.loss(d), rel=1e-14)  # two summation orders
    assert r.gradient.shape == w0.shape
    h = 1e-6
    for k in [0, 5, 40, len(w0) - 9, len(w0) - 1]:
        e = np.zeros_like(w0)
        e[k] = h
        m.load_weights(w0 + e)
        up = m.loss(d)
        m.load_weights(w0 - e)
        down = m.loss(d)
        assert r.gradient[k] == pytest.approx((up - down) / (2 * h), rel=1e-6, abs=1e-10), k
    m.load_weights(w0)
    # He init has zero biases: some ReLU inputs are exactly 0 (a neuron fed only zeros), kinks that
    # safe locks and counts
    s = m.loss_and_gradient(d, mode="safe")
    assert s.certificate.kind == "generalized" and s.certificate.locked == s.certificate.kinks_total > 0
    assert r.certificate.kind == "representation-dependent"


def test_train_from_arrays_lowers_the_loss_and_matches_the_generated_set():
    g = hybrid.generate(cells=32, steps=12, n_train=8, n_test=4, seed=3)
    alpha, beta, gamma = g.arrays()
    s = g.settings
    d = hybrid.Dataset(alpha, beta, gamma, scheme=s["scheme"], courant=s["courant"], steps=s["steps"],
                       velocity=s["velocity"], n_train=s["n_train"])
    a, b = hybrid.Model(width=8, seed=0), hybrid.Model(width=8, seed=0)
    assert a.loss(g) == b.loss(d)  # the same data, from arrays
    run = a.train(d, 30, lr=1e-2, eval_every=10, mode="safe")
    assert len(run.steps) == 30 and run.certificate.gradients == 30
    assert run.steps[-1].test_loss is not None and run.steps[0].test_loss is None
    assert a.loss(d) < b.loss(d)
    assert a.source(d).shape == (12, 32)
    assert a.source_error(g) < b.source_error(g)


def test_train_resumed_from_a_checkpoint_equals_the_straight_run_bit_for_bit(tmp_path):
    # The contract of `kinkgrad hybrid train --save/--resume` (hybrid/checkpoint.rs): 6 iterations
    # straight equal 3 iterations saved, then a new model object resumed for the other 3, bit for bit
    # (same batches of 3 of the 8 training samples, same Adam moments, same weights).
    g = hybrid.generate(cells=16, steps=6, n_train=8, n_test=2, seed=4)
    opts = dict(lr=2e-2, batch=3, eval_every=2, mode="safe", shuffle_seed=5)
    straight = hybrid.Model(width=6, seed=1)
    full = straight.train(g, 6, **opts)
    ck = str(tmp_path / "ck.safetensors")
    first = hybrid.Model(width=6, seed=1)
    first.train(g, 3, save=ck, **opts)
    assert (tmp_path / "ck.state.safetensors").exists()
    second = hybrid.Model(width=6, seed=99)  # its own weights are replaced by the checkpoint's
    rest = second.train(g, 6, resume=ck, **{**opts, "lr": None})  # the file's rate
    assert [s.iteration for s in rest.steps] == [4, 5, 6]
    assert [s.train_loss for s in rest.steps] == [s.train_loss for s in full.steps[3:]]
    assert [s.test_loss for s in rest.steps] == [s.test_loss for s in full.steps[3:]]
    assert second.weights_flat().tobytes() == straight.weights_flat().tobytes()
    with pytest.raises(ValueError, match="batch"):
        hybrid.Model(width=6).train(g, 6, resume=ck, **{**opts, "batch": 4})
    with pytest.raises(ValueError, match="layers"):
        hybrid.Model(width=5).train(g, 6, resume=ck, **opts)
    with pytest.raises(ValueError, match="nothing to resume"):
        hybrid.Model(width=6).train(g, 3, resume=ck, **opts)
    with pytest.raises(ValueError, match="save_every"):
        hybrid.Model(width=6).train(g, 3, save_every=1, **opts)


def test_bad_arrays_are_value_errors():
    rng = np.random.default_rng(0)
    a, b = rng.uniform(size=(2, 2)), rng.uniform(size=(2, 8))
    with pytest.raises(ValueError, match="gamma"):
        hybrid.Dataset(a, b, b[:, :5])
    with pytest.raises(ValueError, match="alpha"):
        hybrid.Dataset(rng.uniform(size=2), b, b)  # alpha must be [S, P]
    bad = b.copy()
    bad[1, 2] = np.inf
    with pytest.raises(ValueError, match="beta"):
        hybrid.Dataset(a, bad, b)
    with pytest.raises(ValueError, match="courant"):
        hybrid.Dataset(a, b, b, courant=2.0)
    with pytest.raises(ValueError, match="scheme"):
        hybrid.Dataset(a, b, b, scheme="nope")
    d = hybrid.Dataset(a, b, b)
    with pytest.raises(ValueError, match="lex"):
        hybrid.Model(width=4).train(d, 1, mode="lex")
    with pytest.raises(ValueError, match="index 7"):
        hybrid.Model(width=4).loss(d, [7])


def test_ctrl_c_stops_training():
    import os
    import signal
    import threading
    import time

    d, _, _ = shifted_data()
    m = hybrid.Model(width=4)
    sent = []

    def interrupt():
        sent.append(time.monotonic())
        os.kill(os.getpid(), signal.SIGINT)

    timer = threading.Timer(0.3, interrupt)
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        m.train(d, 10**7, mode="assoc")
    elapsed = time.monotonic() - sent[0]  # from the signal to the exception
    timer.cancel()
    assert elapsed < 2.0, elapsed


def test_three_parameters_per_face_velocity_and_an_optional_true_source():
    # By hand: with every face's velocity -1 at Courant number 1, upwind takes each cell's value from
    # its right neighbour, so a zero source shifts the state one cell left per step
    # (np.roll(beta, -steps)); with a zero source, the relative L2 error against any non-zero true
    # source is ||0 - t|| / ||t|| = 1 exactly, and without a true source there is no error to report.
    rng = np.random.default_rng(1)
    cells, steps = 12, 4
    alpha = rng.uniform(0, 1, (3, 3))
    beta = rng.uniform(0, 1, (3, cells))
    gamma = rng.uniform(0, 1, (3, cells))
    truth = rng.uniform(0.1, 1, (3, cells))
    kw = dict(scheme="upwind", courant=1.0, steps=steps, velocity=-np.ones(cells), n_train=2)
    d = hybrid.Dataset(alpha, beta, gamma, **kw)
    dt = hybrid.Dataset(alpha, beta, gamma, true_source=truth, **kw)
    assert d.params == 3 and d.true_source() is None
    assert np.array_equal(dt.true_source(), truth)
    assert np.array_equal(d.settings["velocity"], -np.ones(cells))
    m = hybrid.Model("alpha", width=6, seed=2, params=3)
    assert m.params == 3 and m.weights()["fc1.weight"].shape == (6, 5)
    w = m.weights()
    w["fc3.weight"][:] = 0.0
    w["fc3.bias"][:] = 0.0
    m.load_weights(w)
    assert np.array_equal(m.simulate(d), np.roll(beta, -steps, axis=1))
    assert m.source_error(d) is None
    assert m.source_error(dt) == 1.0
    with pytest.raises(ValueError, match="2 parameters, the data set has .* of 3"):
        hybrid.Model("alpha", width=6, seed=2).loss(d)
    with pytest.raises(ValueError, match="velocity"):
        hybrid.Dataset(alpha, beta, gamma, scheme="upwind", courant=1.0, steps=steps, velocity=np.ones(cells + 1))
