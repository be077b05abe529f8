"""The Boustany table from Python: f(t) = max_first(t x) - max_mean(t x), x = (1, 2, 3, 4).

f is identically 0, so f'(t) = 0 everywhere; the frameworks' associated gradient at t = 0 is
1 - (1 + 2 + 3 + 4)/4 = -1.5. Run: python examples/python/boustany.py (after installing ./python).
"""

import numpy as np

import kinkgrad as kg

EXPR = "max_first(t, 2*t, 3*t, 4*t) - max_mean(t, 2*t, 3*t, 4*t)"


def main() -> None:
    print(f"f(t) = {EXPR}")
    print(f"{'t':>6}  {'mode':<6} {'convention':<11} {'f(t)':>5} {'f_prime':>8}  certificate")
    for t in [-0.5, 0.0, 0.5]:
        for mode in ["assoc", "lex", "safe"]:
            for convention in ["pytorch", "jax"] if mode == "assoc" else ["minnorm"]:
                r = kg.grad(EXPR, t=t, mode=mode, convention=convention)
                print(f"{t:>6}  {mode:<6} {convention:<11} {r.value:>5} {r.gradient['t']:>8}  {r.certificate}")
    # the same function on a tape, from a NumPy array
    tape = kg.Tape(convention="pytorch")
    t = tape.var(np.float64(0.0))
    tx = t * np.array([1.0, 2.0, 3.0, 4.0])
    f = tx.max(tie="first") - tx.max(tie="mean")
    for mode in ["assoc", "safe"]:
        g = tape.gradient(f, [t], mode=mode)
        print(f"tape, {mode}: f'(0) = {float(g.values[0])}  ({g.certificate})")


if __name__ == "__main__":
    main()
