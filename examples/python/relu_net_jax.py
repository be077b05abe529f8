"""A 3-layer ReLU network: kinkgrad's safe gradient against jax.grad and finite differences.

Off kinks all three agree (the network is differentiable there). At a planted kink (an input row
and a bias that make a hidden unit's pre-activation exactly 0 for one example) JAX returns its
convention's associated gradient (relu'(0) = 0); kinkgrad's safe gradient is the same for every
convention and comes with a certificate that says a kink was hit and locked.

Run: python examples/python/relu_net_jax.py   (needs jax)
"""

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)

import kinkgrad as kg  # noqa: E402
from kinkgrad import jax as kj  # noqa: E402

rng = np.random.default_rng(0)
X = rng.standard_normal((8, 3))
Y = rng.standard_normal((8, 1))
W1, B1 = rng.standard_normal((3, 16)), rng.standard_normal(16)
W2, B2 = rng.standard_normal((16, 16)), rng.standard_normal(16)
W3 = rng.standard_normal((16, 1))


def loss(w1, b1, w2, b2, w3):
    h = jax.nn.relu(X @ w1 + b1)
    h = jax.nn.relu(h @ w2 + b2)
    return jnp.mean((h @ w3 - Y) ** 2)


def central_differences(f, args, h=1e-6):
    """NumPy central differences of f with respect to every element of every argument."""
    out = []
    for i, a in enumerate(args):
        g = np.zeros_like(a)
        for idx in np.ndindex(a.shape):
            up, down = [x.copy() for x in args], [x.copy() for x in args]
            up[i][idx] += h
            down[i][idx] -= h
            g[idx] = (float(f(*up)) - float(f(*down))) / (2 * h)
        out.append(g)
    return out


def report(title, args):
    print(f"== {title}")
    for conv in ("jax", "pytorch", "minnorm"):
        r = kj.check(loss, *args, mode="safe", convention=conv)
        print(f"  safe ({conv:8s}): |kinkgrad - jax.grad| max {r.max_abs_difference:.2e}   {r.certificate}")
    a = kj.check(loss, *args, mode="assoc", convention="jax")
    print(f"  assoc (jax)     : |kinkgrad - jax.grad| max {a.max_abs_difference:.2e}   {a.certificate}")
    fd = central_differences(loss, list(args))
    r = kj.check(loss, *args, mode="safe")
    err = max(float(np.max(np.abs(g - f))) for g, f in zip(r.gradient, fd))
    print(f"  safe vs central differences (h = 1e-6): max difference {err:.2e}")
    return r


off = report("off kinks", (W1, B1, W2, B2, W3))
assert off.agree

# plant a kink: hidden unit 0 of layer 1 gets pre-activation exactly 0 on example 0
b1 = B1.copy()
b1[0] = -float(X[0] @ W1[:, 0])
assert X[0] @ W1[:, 0] + b1[0] == 0.0
at = report("a planted kink (unit 0 of layer 1, example 0)", (W1, b1, W2, B2, W3))
print("  (central differences straddle the kink: they average the two one-sided slopes)")
safe = {c: kj.check(loss, W1, b1, W2, B2, W3, mode="safe", convention=c).gradient for c in ("jax", "pytorch")}
same = all(np.array_equal(a, b) for a, b in zip(safe["jax"], safe["pytorch"]))
print(f"safe gradient identical under the jax and pytorch conventions: {same}")
print(kg.grad("relu(x) - relu(-x)", x=0.0, mode="safe").certificate)
