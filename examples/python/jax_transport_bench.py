"""kinkgrad's certified transport gradient inside JAX, against a pure-JAX implementation.

The loss J(u0) = sum_j (u_j(T) - target_j)^2 dx of the minmod-limited Lax-Wendroff scheme (1000
cells, 1000 steps, float64, velocity 1, Courant number 0.5) is differentiated two ways, side by side:

- pure JAX: the time loop written with jnp (jax.lax.fori_loop), jax.jit(jax.grad(J));
- the bridge: kinkgrad.jax.transport_loss inside a jitted JAX function, jax.grad through its
  custom_vjp (kinkgrad computes value and gradient in one call off the GIL).

It prints both times, their ratio, the largest gradient difference (the initial state is smooth, so
no limiter argument is exactly 0 and both are the ordinary gradient), the certificate, and the
callback overhead (a 8-cell, 1-step problem through the bridge against the direct call).

Run: python examples/python/jax_transport_bench.py   (needs jax; a release build of kinkgrad)
"""

import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)

from kinkgrad import jax as kj  # noqa: E402
from kinkgrad import transport  # noqa: E402

N, STEPS, COURANT = 1000, 1000, 0.5
DX = 1.0 / N
DT = COURANT * DX
X = (np.arange(N) + 0.5) * DX
U0 = np.sin(2 * np.pi * X) + 0.5 * np.sin(6 * np.pi * X + 0.3)
TARGET = np.cos(2 * np.pi * X)


def minmod(x, y):
    return jnp.where(x * y > 0, jnp.sign(x) * jnp.minimum(jnp.abs(x), jnp.abs(y)), 0.0)


def jax_loss(u0, target):
    """The library's face formula (crates/kinkgrad/src/pde/face.rs), a > 0:
    F_j = a (u_j + k B(u_{j+1} - u_j, u_j - u_{j-1})), k = (1 - a dt/dx) / 2,
    u_j <- u_j - dt/dx (F_j - F_{j-1})."""
    a, lam = 1.0, DT / DX
    k = (1.0 - a * lam) / 2.0

    def step(_, u):
        b = minmod(jnp.roll(u, -1) - u, u - jnp.roll(u, 1))
        f = a * (u + k * b)
        return u - lam * (f - jnp.roll(f, 1))

    u = jax.lax.fori_loop(0, STEPS, step, u0)
    return jnp.sum((u - target) ** 2) * DX


def bridge_loss(u0, target, mode="safe"):
    return kj.transport_loss(u0, target, 1.0, dt=DT, steps=STEPS, scheme="lw-minmod", mode=mode)


def median_seconds(f, reps=7):
    f()  # compile / warm up
    times = []
    for _ in range(reps):
        s = time.perf_counter()
        f()
        times.append(time.perf_counter() - s)
    return statistics.median(times)


def main():
    u0, target = jnp.asarray(U0), jnp.asarray(TARGET)
    g_jax = jax.jit(jax.grad(jax_loss))
    a = np.asarray(g_jax(u0, target))
    t_jax = median_seconds(lambda: g_jax(u0, target).block_until_ready())
    lj = float(jax_loss(u0, target))
    print(f"jax.grad, pure JAX (jit, fori_loop): {t_jax * 1e3:9.2f} ms")
    for mode in ("safe", "assoc"):
        g_kg = jax.jit(jax.grad(lambda u, t: bridge_loss(u, t, mode)))
        b = np.asarray(g_kg(u0, target))
        cert = kj.last_certificate()
        lk = float(bridge_loss(u0, target, mode))
        t_kg = median_seconds(lambda: g_kg(u0, target).block_until_ready())
        print(f"jax.grad through kinkgrad.jax, {mode:5s} (jit): {t_kg * 1e3:9.2f} ms: "
              f"{t_jax / t_kg:.1f}x faster")
        print(f"  loss: pure JAX {lj!r}, kinkgrad {lk!r} (relative difference {abs(lj - lk) / abs(lk):.1e}); "
              f"max |grad difference| {np.max(np.abs(a - b)):.1e} (max |grad| {np.max(np.abs(b)):.1e})")
        print(f"  certificate: {cert}")

    # the same problem by the direct call (no JAX), and the value alone through the bridge
    direct = median_seconds(lambda: transport.loss_gradient(U0, TARGET, 1.0, dt=DT, steps=STEPS))
    value = jax.jit(lambda u, t: bridge_loss(u, t, "safe"))
    t_val = median_seconds(lambda: value(u0, target).block_until_ready())
    print(f"direct kinkgrad.transport.loss_gradient, safe: {direct * 1e3:.2f} ms; "
          f"the value alone through the bridge (jit, no gradient): {t_val * 1e3:.2f} ms")

    # the boundary's cost: a tiny problem through the bridge against the direct call
    n = 8
    small_u0 = np.sin(2 * np.pi * (np.arange(n) + 0.5) / n)
    direct = median_seconds(
        lambda: transport.loss_gradient(small_u0, small_u0, 1.0, dt=0.5 / n, steps=1), reps=200
    )
    tiny = jax.jit(jax.grad(lambda u: kj.transport_loss(u, jnp.asarray(small_u0), 1.0, dt=0.5 / n, steps=1)))
    su = jnp.asarray(small_u0)
    via = median_seconds(lambda: tiny(su).block_until_ready(), reps=200)
    print(f"8 cells, 1 step: direct call {direct * 1e6:.0f} us, through jax.grad {via * 1e6:.0f} us "
          f"(boundary {max(via - direct, 0) * 1e6:.0f} us per gradient)")


if __name__ == "__main__":
    main()
