"""JAX peer of kinkgrad's default hybrid problem (`kinkgrad hybrid train` defaults), for side-by-side timing.

Model: u_t + u_x = S_W(alpha)(x) on a periodic grid of 128 cells, Courant number 0.5 (dt = 1/256),
90 steps; the source is a ReLU network 4-32-32-1 of (alpha_0, alpha_1, sin 2 pi x, cos 2 pi x) evaluated per
cell and added explicitly each step (u^{n+1} = step(u^n) + dt s). Scheme: first-order upwind or minmod
Lax-Wendroff. Cost: J(W) = (1/N) sum_i sum_j (u_T - gamma)^2 dx over 64 samples.

  python jax_hybrid.py [--scheme upwind|lw-minmod] [--cells 128] [--steps 90] [--samples 64] [--minmod talk|where]
                       [--serve]

Prints one JSON line: seconds per forward J(W) and per value-and-gradient (median after compilation).
With --serve: compiles and warms up, then answers `run NAME N` lines on stdin (peer_serve.py; NAME: forward
or value_and_grad); `kinkgrad bench` uses this mode.
"""
import argparse, json, statistics, time
import jax, jax.numpy as jnp
from peer_serve import serve

jax.config.update("jax_enable_x64", True)


def median_time(fn, reps=9, warm=2):
    for _ in range(warm):
        jax.block_until_ready(fn())
    ts = []
    for _ in range(reps):
        t = time.perf_counter(); jax.block_until_ready(fn()); ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def minmod_talk(a, b):  # the talk's formula, as in jax_peers.py
    return jax.nn.relu(-jnp.maximum(-a, -b)) - jax.nn.relu(-jnp.maximum(a, b))


def minmod_where(a, b):
    return jnp.where(a * b > 0, jnp.sign(a) * jnp.minimum(jnp.abs(a), jnp.abs(b)), 0.0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scheme", default="upwind", choices=["upwind", "lw-minmod"])
    ap.add_argument("--cells", type=int, default=128)
    ap.add_argument("--steps", type=int, default=90)
    ap.add_argument("--samples", type=int, default=64)
    ap.add_argument("--minmod", default="talk", choices=["talk", "where"])
    ap.add_argument("--serve", action="store_true", help="answer `run NAME N` lines on stdin (peer_serve.py)")
    a = ap.parse_args()
    n, nu = a.cells, 0.5
    minmod = minmod_talk if a.minmod == "talk" else minmod_where
    dx = 1.0 / n
    dt = nu * dx
    x = (jnp.arange(n) + 0.5) * dx
    key = jax.random.PRNGKey(0)
    k = jax.random.split(key, 8)
    alpha = jnp.stack([jax.random.uniform(k[0], (a.samples,), minval=0.5, maxval=1.5),
                       jax.random.uniform(k[1], (a.samples,))], axis=1)
    centers = jax.random.uniform(k[2], (a.samples,))
    beta = (jnp.abs(((x[None, :] - centers[:, None] + 0.5) % 1.0) - 0.5) < 0.15).astype(jnp.float64)
    gamma = jnp.roll(beta, 5, axis=1)
    sizes = [4, 32, 32, 1]
    params = [(jax.random.normal(k[3 + i], (sizes[i], sizes[i + 1])) * (2.0 / sizes[i]) ** 0.5,
               jnp.zeros(sizes[i + 1])) for i in range(3)]
    feats_x = jnp.stack([jnp.sin(2 * jnp.pi * x), jnp.cos(2 * jnp.pi * x)], axis=1)

    def source(p, al):
        h = jnp.concatenate([jnp.broadcast_to(al, (n, 2)), feats_x], axis=1)
        for i, (w, b) in enumerate(p):
            h = h @ w + b
            if i < 2:
                h = jax.nn.relu(h)
        return h[:, 0]

    def step(u, s):
        if a.scheme == "upwind":
            new = u - nu * (u - jnp.roll(u, 1))
        else:
            flux = u + 0.5 * (1 - nu) * minmod(jnp.roll(u, -1) - u, u - jnp.roll(u, 1))
            new = u - nu * (flux - jnp.roll(flux, 1))
        return new + dt * s

    def final(p, al, b):
        s = source(p, al)
        u, _ = jax.lax.scan(lambda u, _: (step(u, s), None), b, None, length=a.steps)
        return u

    def J(p):
        uT = jax.vmap(final, in_axes=(None, 0, 0))(p, alpha, beta)
        return jnp.mean(jnp.sum((uT - gamma) ** 2, axis=1) * dx)

    fwd, vg = jax.jit(J), jax.jit(jax.value_and_grad(J))
    meta = {"bench": "hybrid_" + a.scheme, "cells": n, "steps": a.steps, "samples": a.samples, "minmod": a.minmod,
            "jax": jax.__version__}
    if a.serve:
        fns = {"forward": lambda: jax.block_until_ready(fwd(params)),
               "value_and_grad": lambda: jax.block_until_ready(vg(params))}
        for f in fns.values():
            f(); f()  # compile and warm up, as median_time does
        serve(fns, meta)
        return
    print(json.dumps({**meta, "forward_seconds": median_time(lambda: fwd(params)),
                      "value_and_grad_seconds": median_time(lambda: vg(params))}))


if __name__ == "__main__":
    main()
