"""Open discrepancy (session 18): lex's one-sided derivative of the transport loss on a square wave.

Setup: lw-minmod, 64 cells, Courant 0.5, 128 steps (T = 1), square wave on [0.25, 0.75), target
the initial state shifted by 6 cells, J = sum (u(T) - target)^2 dx. The run hits 1 234 kinks. Along
a seeded random unit direction d, this script compares three figures:

- kinkgrad `lex` with the one-column direction matrix d, i.e. the LD-derivative J'(u0; d);
- an independent replica of the scheme in 60-digit arithmetic (mpmath, written from the face
  formula in crates/kinkgrad/src/pde/face.rs), with one-sided quotients at h = 1e-20 ... 1e-40,
  which agree to 15 digits, so they give J'(u0; d) of the exact-arithmetic function;
- f64 one-sided quotients through kinkgrad's own forward pass.

Measured (session 18): lex 1.96234e-3; 60 digits 1.69288e-3; f64 quotients drift from 1.29e-3 at
h = 1e-3 to 1.69e-3 at h = 1e-9 ... 1e-11. The replica's J(u0) equals kinkgrad's to 17 digits. So
the LD-derivative along a general direction disagrees, by 16%, with both independent figures (on
smooth data the three agree). Two explanations are open: a defect in lex's locking through many
steps of ties, or ties that exist only in the f64 trajectory (with Courant 0.5 the exact values are
dyadic with growing denominators; f64 rounds them, so it can tie exactly where exact arithmetic
differs below 1e-16, and lex resolves the f64 program's kinks, which no quotient above rounding
sees). The next step decides it: a replay of the f64 scheme with the pieces lex selected (its
quotient is exact along the ray), and the same comparison on data whose f64 trajectory is exact
(dyadic values, few steps). Until then `--grad-check` refuses lex.

Needs the package (`pip install ./python`) and mpmath.  python examples/python/square_wave_directional.py
"""
import mpmath as mp
import numpy as np

import kinkgrad.transport as kt

n, steps = 64, 128
dx = 1.0 / n
dt = 0.5 * dx
x = (np.arange(n) + 0.5) * dx
u0 = np.where((x >= 0.25) & (x < 0.75), 1.0, 0.0)
target = np.roll(u0, n // 10)
d = np.random.default_rng(3).uniform(-1, 1, n)
d /= np.linalg.norm(d)

lex = kt.loss_gradient(u0, target, 1.0, dt=dt, steps=steps, mode="lex", directions=";".join(repr(float(v)) for v in d))
print(f"kinkgrad lex J'(u0; d)      {lex.ld_derivative[0]:.6e}   certificate: {lex.certificate}")

mp.mp.dps = 60
lam, k = mp.mpf("0.5"), mp.mpf("0.25")  # lambda = dt/dx, k = (1 - nu)/2 with a = 1


def minmod(p, q):
    return mp.mpf(0) if p * q <= 0 else (p if abs(p) < abs(q) else q)


def loss_mp(u):
    u = list(u)
    for _ in range(steps):
        f = [u[j] + k * minmod(u[(j + 1) % n] - u[j], u[j] - u[j - 1]) for j in range(n)]
        u = [u[j] - lam * (f[j] - f[j - 1]) for j in range(n)]
    return sum((u[j] - mp.mpf(float(target[j]))) ** 2 for j in range(n)) / n


u0m = [mp.mpf(float(v)) for v in u0]
dm = [mp.mpf(float(v)) for v in d]
j0 = loss_mp(u0m)
for e in (20, 30, 40):
    h = mp.mpf(10) ** (-e)
    j1 = loss_mp([a + h * b for a, b in zip(u0m, dm)])
    print(f"60 digits, h = 1e-{e}:        {mp.nstr((j1 - j0) / h, 15)}")


def loss_f64(u):
    uT = kt.simulate(u, 1.0, dt=dt, steps=steps)
    return float(((uT - target) ** 2).sum() * dx)


j0 = loss_f64(u0)
for h in (1e-3, 1e-6, 1e-9, 1e-11):
    print(f"f64 quotient, h = {h:.0e}:     {(loss_f64(u0 + h * d) - j0) / h:.6e}")
