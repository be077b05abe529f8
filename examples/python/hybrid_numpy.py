"""A hybrid model trained from NumPy data: learn an unknown source term inside a limited scheme.

The observations are made here with NumPy and kinkgrad.transport.simulate: square pulses beta_i
(flat plateaus: the minmod limiter meets kinks at every step), a Gaussian source of amplitude
alpha_0 centred at alpha_1 that the model does not know, and the final states gamma_i after 90
steps. kinkgrad.hybrid fits a 4-16-16-1 ReLU network S_W(alpha_0, alpha_1, sin 2 pi x, cos 2 pi x)
so that the scheme with S_W reproduces gamma, in safe mode (the network's and the scheme's kinks
locked together), and the learned source is compared with the true one on the test samples.

Run: python examples/python/hybrid_numpy.py
"""

import numpy as np

from kinkgrad import hybrid, transport

CELLS, STEPS, COURANT, SIGMA = 64, 90, 0.5, 0.05
DT = COURANT / CELLS  # velocity 1 on the unit interval
x = (np.arange(CELLS) + 0.5) / CELLS
rng = np.random.default_rng(0)


def true_source(a):
    d = np.abs(x - a[1]) % 1.0
    d = np.minimum(d, 1.0 - d)
    return a[0] * np.exp(-d * d / (2 * SIGMA**2))


def pulses():
    u = np.zeros(CELLS)
    for _ in range(rng.integers(1, 4)):
        c, w, h = rng.uniform(), rng.uniform(0.05, 0.3), rng.uniform(0.2, 1.0)
        d = np.abs(x - c) % 1.0
        u[np.minimum(d, 1 - d) < w / 2] += h
    return u


S = 48
alpha = np.column_stack([rng.uniform(0.5, 1.5, S), rng.uniform(0.0, 1.0, S)])
beta = np.array([pulses() for _ in range(S)])
gamma = np.array([transport.simulate(b, 1.0, dt=DT, steps=STEPS, scheme="lw-minmod", source=true_source(a))
                  for a, b in zip(alpha, beta)])

data = hybrid.Dataset(alpha, beta, gamma, scheme="lw-minmod", courant=COURANT, steps=STEPS, n_train=40)
model = hybrid.Model("alpha", width=16, seed=0)
test = data.test_indices()


def source_error():
    learned = model.source(data, test)
    truth = np.array([true_source(alpha[i]) for i in test])
    return np.linalg.norm(learned - truth) / np.linalg.norm(truth)


print(f"before: test loss {model.loss(data, test):.3e}, source error {source_error():.3f}")
run = model.train(data, 300, lr=1e-2, eval_every=100, mode="safe")
for s in run.steps:
    if s.test_loss is not None:
        print(f"iteration {s.iteration}: train loss {s.train_loss:.3e}, test loss {s.test_loss:.3e}")
print(f"after:  test loss {model.loss(data, test):.3e}, source error {source_error():.3f}")
print(f"run certificate: {run.certificate}")
np.savez("hybrid_source.npz", x=x, alpha=alpha[test], learned=model.source(data, test), **model.weights())
print("learned source and weights -> hybrid_source.npz")
