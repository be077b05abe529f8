"""Decided (session 19): lex's one-sided derivative on the square wave differs from exact arithmetic
because f64 rounding separates exact ties, not because of a locking defect.

Setup: lw-minmod, 64 cells, a = 1, Courant 0.5, 128 steps (T = 1), square wave on [0.25, 0.75),
target the initial state shifted by 6 cells, J = sum (u(T) - target)^2 dx; 1 234 kinks in f64.

The script runs one pure-Python replica of lex (the face formula of crates/kinkgrad/src/pde/face.rs,
minmod's pieces a, b, 0 and switching functions a, b, a - b, each sign taken lexicographically from
(value, tangent), the first piece of a surviving tie) with two number types:

- Python floats (IEEE f64, the same operations as kinkgrad's forward pass): the f64 trajectory;
- `fractions.Fraction`: exact arithmetic (the initial data, Courant number and direction are dyadic,
  so every value is an exact rational and lex's choice is the exact function's one-sided piece).

Measured along the seeded direction (numpy seed 3) of session 18:
- kinkgrad lex J'(u0; d) = 1.96234e-3, the f64 replica 1.962340519572454e-3 (1 234 kinks);
- the exact replica 1.692878907152350e-3 (1 374 kinks; mpmath at 60 digits: 1.69288e-3);
- the exact replay of the f64 pieces gives 1.962340519572457e-3, the f64 replay of the exact pieces
  1.692878907152346e-3: the whole difference is the piece sequence;
- the f64 trajectory is exact up to step 18; from step 19 on it is rounded, and 140 faces where the
  exact trajectory ties (x = y, both slopes equal) are separated by one ulp in f64, so f64 sees no
  kink there and takes the piece rounding picked; 60 (step, face) pieces differ.
So lex differentiates the piece sequence of the f64 trajectory correctly; one-sided quotients with
h far above rounding (f64 at h = 1e-9, mpmath) see the exact function's pieces.

Section "direction from the LCG" prints the figures the Rust tests hard-code
(crates/kinkgrad/tests/it/piece_locked.rs).

Needs numpy; kinkgrad's Python package (pip install ./python) and mpmath for the optional
comparisons.   python examples/python/square_wave_directional.py
"""
from fractions import Fraction as Fr

import numpy as np


def sign(v):
    return (v > 0) - (v < 0)


def minmod_pieces(sa, sb, sd):
    """The tied set of minmod's pieces (bit 0: a, bit 1: b, bit 2: zero), as Minmod::select."""
    m = 0
    if sa * sb <= 0:
        m |= 4
    if sa >= 0 and sb >= 0:
        m |= (1 if sd <= 0 else 0) | (2 if sd >= 0 else 0)
    if sa <= 0 and sb <= 0:
        m |= (1 if sd >= 0 else 0) | (2 if sd <= 0 else 0)
    return m


def run(u, t, steps, lam, sk, record=None, locked=None):
    """lw-minmod with a = 1 (F_j = u_j + k B, k = (1 - lam)/2 = sk): the state u and its tangent t
    after `steps` steps; the pieces chosen lexicographically (or fixed by `locked`), appended per
    step to `record`. Returns (u, t, kinks)."""
    n, kinks = len(u), 0
    for st in range(steps):
        F, dF, pieces = [], [], []
        for j in range(n):
            x, y = u[(j + 1) % n] - u[j], u[j] - u[j - 1]
            dx, dy = t[(j + 1) % n] - t[j], t[j] - t[j - 1]
            if locked is None:
                tied = minmod_pieces(sign(x), sign(y), sign(x - y))
                kinks += tied & (tied - 1) != 0
                lx = lambda v, dv: sign(v) or sign(dv)
                m = minmod_pieces(lx(x, dx), lx(y, dy), lx(x - y, dx - dy))
                p = (m & -m).bit_length() - 1
            else:
                p = locked[st][j]
            pieces.append(p)
            b, db = [(x, dx), (y, dy), (0 * x, 0 * dx)][p]
            F.append(u[j] + sk * b)
            dF.append(t[j] + sk * db)
        if record is not None:
            record.append(pieces)
        u = [u[j] - lam * (F[j] - F[j - 1]) for j in range(n)]
        t = [t[j] - lam * (dF[j] - dF[j - 1]) for j in range(n)]
    return u, t, kinks


def loss(u, t, target, dx):
    return sum((a - b) ** 2 for a, b in zip(u, target)) * dx, sum(2 * (a - b) * c for a, b, c in zip(u, target, t)) * dx


n, steps = 64, 128
x = (np.arange(n) + 0.5) / n
u0 = [float(v) for v in np.where((x >= 0.25) & (x < 0.75), 1.0, 0.0)]
target = u0[-6:] + u0[:-6]  # np.roll(u0, 6)
F64 = dict(lam=0.5, sk=0.25, num=float, dx=1.0 / n)
EXACT = dict(lam=Fr(1, 2), sk=Fr(1, 4), num=Fr, dx=Fr(1, n))


def lex(kind, d, steps, record=None, locked=None):
    c = kind["num"]
    u, t, kinks = run([c(v) for v in u0], [c(v) for v in d], steps, kind["lam"], kind["sk"], record, locked)
    return loss(u, t, [c(v) for v in target], kind["dx"])[1], kinks


def compare(d, steps, label):
    rf, re = [], []
    (lf, kf), (le, ke) = lex(F64, d, steps, rf), lex(EXACT, d, steps, re)
    diff = sum(a != b for A, B in zip(rf, re) for a, b in zip(A, B))
    print(f"[{label}, {steps} steps] f64 lex {lf!r} ({kf} kinks); exact lex {float(le)!r} ({ke} kinks)" + (f" = {le}" if le.denominator < 2**128 else ""))
    print(f"    pieces differing between the two: {diff}")
    return rf, re, lf


d = np.random.default_rng(3).uniform(-1, 1, n)
d = [float(v) for v in d / np.linalg.norm(d)]
rf, re, lf = compare(d, steps, "numpy seed 3")
print(f"    exact replay of the f64 pieces {float(lex(EXACT, d, steps, locked=rf)[0])!r}")
print(f"    f64 replay of the exact pieces {lex(F64, d, steps, locked=re)[0]!r}")

# the exact trajectory (exact pieces) against the f64 one: where does rounding start, which ties does
# it separate?
uf, ue = list(u0), [Fr(v) for v in u0]
first, separated = None, 0
for s in range(steps):
    for j in range(n):
        xe, ye = ue[(j + 1) % n] - ue[j], ue[j] - ue[j - 1]
        xf, yf = uf[(j + 1) % n] - uf[j], uf[j] - uf[j - 1]
        te, tf = minmod_pieces(sign(xe), sign(ye), sign(xe - ye)), minmod_pieces(sign(xf), sign(yf), sign(xf - yf))
        separated += (te & (te - 1) != 0) and not (tf & (tf - 1) != 0)
    uf = run(uf, [0.0] * n, 1, 0.5, 0.25, locked=[rf[s]])[0]
    ue = run(ue, [Fr(0)] * n, 1, Fr(1, 2), Fr(1, 4), locked=[re[s]])[0]
    if first is None and any(Fr(a) != b for a, b in zip(uf, ue)):
        first = s + 1
print(f"    f64 state first rounded after step {first}; exact ties that f64 separated: {separated}")


def lcg_direction(n):
    s, out = 1, []
    for _ in range(n):
        s = (s * 6364136223846793005 + 1442695040888963407) % 2**64
        out.append(((s >> 40) % 2001 - 1000) / 1024)
    return out


dl = lcg_direction(n)
compare(dl, 16, "direction from the LCG")
compare(dl, steps, "direction from the LCG")

try:
    import kinkgrad.transport as kt

    dt = 0.5 / n
    r = kt.loss_gradient(np.array(u0), np.array(target), 1.0, dt=dt, steps=steps, mode="lex",
                         directions=";".join(repr(v) for v in d))
    print(f"kinkgrad lex J'(u0; d) {r.ld_derivative[0]!r}   certificate: {r.certificate}")
except ImportError:
    print("(kinkgrad's Python package not installed: kinkgrad lex skipped)")

try:
    import mpmath as mp

    mp.mp.dps = 60

    def loss_mp(u):
        for _ in range(steps):
            mm = lambda p, q: mp.mpf(0) if p * q <= 0 else (p if abs(p) < abs(q) else q)
            f = [u[j] + mp.mpf("0.25") * mm(u[(j + 1) % n] - u[j], u[j] - u[j - 1]) for j in range(n)]
            u = [u[j] - mp.mpf("0.5") * (f[j] - f[j - 1]) for j in range(n)]
        return sum((u[j] - mp.mpf(target[j])) ** 2 for j in range(n)) / n

    um, dm = [mp.mpf(v) for v in u0], [mp.mpf(v) for v in d]
    h = mp.mpf(10) ** -30
    q = (loss_mp([a + h * b for a, b in zip(um, dm)]) - loss_mp(um)) / h
    print(f"60-digit one-sided quotient, h = 1e-30: {mp.nstr(q, 15)}")
except ImportError:
    print("(mpmath not installed: the 60-digit quotient skipped)")
