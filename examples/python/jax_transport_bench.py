"""kinkgrad's certified transport gradient inside JAX, against a pure-JAX implementation.

The loss J(u0) = sum_j (u_j(T) - target_j)^2 dx of the minmod-limited Lax-Wendroff scheme (1000
cells, 1000 steps, float64, velocity 1, Courant number 0.5) is differentiated two ways, side by side:

- pure JAX: the time loop written with jnp (jax.lax.fori_loop), jax.jit(jax.grad(J));
- the bridge: kinkgrad.jax.transport_loss inside a jitted JAX function, jax.grad through its
  custom_vjp (kinkgrad computes value and gradient in one call, on the path kinkgrad.jax.BRIDGE
  names: the XLA FFI custom call where jax.ffi exists, else jax.pure_callback).

It prints both times, their ratio, the largest gradient difference (the initial state is smooth, so
no limiter argument is exactly 0 and both are the ordinary gradient), the certificate, the same
gradient through the pure_callback path (for comparison), and the boundary's cost (a 8-cell, 1-step
problem through the bridge against the direct call from Python).

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


def median_seconds(*fs, reps=15):
    """Medians of `reps` timed calls of each function, the calls interleaved (f1, f2, ..., f1, f2,
    ...) so that every function samples the same machine state (this is a shared VM whose speed
    drifts from second to second); each is called once first (compile / warm up)."""
    for f in fs:
        f()
    times = [[] for _ in fs]
    for _ in range(reps):
        for f, t in zip(fs, times):
            s = time.perf_counter()
            f()
            t.append(time.perf_counter() - s)
    return [statistics.median(t) for t in times]


def main():
    u0, target = jnp.asarray(U0), jnp.asarray(TARGET)
    g_jax = jax.jit(jax.grad(jax_loss))
    a = np.asarray(g_jax(u0, target))
    lj = float(jax_loss(u0, target))
    path = kj.BRIDGE
    runs = [("safe", path), ("assoc", path)] + ([("safe", "pure_callback")] if path != "pure_callback" else [])
    bridged, checks = [], []
    for mode, via in runs:
        # traced (and compiled) with the path set; the compiled function keeps it
        kj.set_bridge(via)
        g_kg = jax.jit(jax.grad(lambda u, t, mode=mode: bridge_loss(u, t, mode)))
        b = np.asarray(g_kg(u0, target))
        cert = kj.last_certificate()
        lk = float(bridge_loss(u0, target, mode))
        bridged.append(lambda g=g_kg: g(u0, target).block_until_ready())
        checks.append(f"  loss: pure JAX {lj!r}, kinkgrad {lk!r} (relative difference {abs(lj - lk) / abs(lk):.1e}); "
                      f"max |grad difference| {np.max(np.abs(a - b)):.1e} (max |grad| {np.max(np.abs(b)):.1e})\n"
                      f"  certificate: {cert}")
    kj.set_bridge(path)
    # the same problem by the direct call (no JAX), and the value alone through the bridge
    value = jax.jit(lambda u, t: bridge_loss(u, t, "safe"))
    t_jax, *t_kg, direct, t_val = median_seconds(
        lambda: g_jax(u0, target).block_until_ready(), *bridged,
        lambda: transport.loss_gradient(U0, TARGET, 1.0, dt=DT, steps=STEPS),
        lambda: value(u0, target).block_until_ready(),
    )
    print(f"jax.grad, pure JAX (jit, fori_loop): {t_jax * 1e3:9.2f} ms")
    for (mode, via), t, check in zip(runs, t_kg, checks):
        print(f"jax.grad through kinkgrad.jax, {mode:5s} (jit, {via}): {t * 1e3:9.2f} ms: "
              f"{t_jax / t:.1f}x faster")
        print(check)
    print(f"direct kinkgrad.transport.loss_gradient, safe: {direct * 1e3:.2f} ms; "
          f"the value alone through the bridge (jit, no gradient): {t_val * 1e3:.2f} ms")

    # the boundary's cost: a tiny problem through the bridge against the direct call
    n = 8
    small_u0 = np.sin(2 * np.pi * (np.arange(n) + 0.5) / n)
    su = jnp.asarray(small_u0)
    vias = [path] + (["pure_callback"] if path != "pure_callback" else [])
    tiny = []
    for via in vias:
        kj.set_bridge(via)
        g = jax.jit(jax.grad(lambda u: kj.transport_loss(u, jnp.asarray(small_u0), 1.0, dt=0.5 / n, steps=1)))
        g(su)
        tiny.append(lambda g=g: g(su).block_until_ready())
    kj.set_bridge(path)
    direct, *via_times = median_seconds(
        lambda: transport.loss_gradient(small_u0, small_u0, 1.0, dt=0.5 / n, steps=1), *tiny, reps=200
    )
    # the direct call from Python runs the work on a worker thread off the GIL (a thread spawn); the
    # FFI path runs it on XLA's thread, so it can be the faster of the two
    print(f"8 cells, 1 step: direct call from Python {direct * 1e6:.0f} us; jax.grad through the bridge: "
          + ", ".join(f"{via} {t * 1e6:.0f} us" for via, t in zip(vias, via_times)))


if __name__ == "__main__":
    main()
