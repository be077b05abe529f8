"""The cost of driving kinkgrad from Python (a benchmark, not a test).

1. Tape: 10 000 small operations (+, *, relu on 4-element float64 arrays) recorded from Python, then
   one gradient: microseconds per operation.
2. One MLP training step (784-256-10, batch 64, float32, Adam, assoc and safe) driven from Python
   (kinkgrad.nn.Trainer.train_epoch on a 64-example set) against the same step in Rust
   (`kinkgrad bench --only mlp-small`, the same data recipe: 80% zero pixels, random labels), run
   in this process one after the other.

Run: python examples/python/overhead_bench.py [path/to/kinkgrad]   (release builds of both)
"""

import json
import statistics
import subprocess
import sys
import time

import numpy as np

import kinkgrad as kg
from kinkgrad import nn


def median_seconds(f, reps):
    f()
    f()
    times = []
    for _ in range(reps):
        s = time.perf_counter()
        f()
        times.append(time.perf_counter() - s)
    return statistics.median(times)


def tape_ops(n=10_000):
    tape = kg.Tape()
    x = tape.var(np.array([0.5, -1.0, 2.0, 0.25]))
    y = x
    for _ in range(n // 3):
        y = (y * 0.999 + x).relu()
    loss = y.sum()
    tape.gradient(loss, [x], mode="assoc")
    return 3 * (n // 3) + 1


def main():
    n = tape_ops()
    t = median_seconds(tape_ops, 5)
    print(f"tape: {n} ops + gradient in {t * 1e3:.1f} ms: {t / n * 1e6:.2f} us per op ({n / t:,.0f} ops/s)")

    exe = sys.argv[1] if len(sys.argv) > 1 else "target/release/kinkgrad"
    out = subprocess.run([exe, "bench", "--only", "mlp-small", "--json", "--reps", "15"],
                         capture_output=True, text=True, check=True)
    row = next(r for r in json.loads(out.stdout)["results"] if "mlp_small" in r["workload"])
    rng = np.random.default_rng(1)
    images = np.where(rng.uniform(size=(64, 784)) < 0.8, 0.0, rng.uniform(size=(64, 784))).astype(np.float32)
    data = nn.Dataset(images, rng.integers(0, 10, 64))
    for mode in ("assoc", "safe"):
        tr = nn.Trainer("mlp", precision="float32", mode=mode, batch=64)
        py = median_seconds(lambda: tr.train_epoch(data), 15)
        rust = row[f"kinkgrad_{mode}_seconds"]
        print(f"mlp step ({mode}): from Python {py * 1e3:.3f} ms, Rust {rust * 1e3:.3f} ms: {py / rust:.2f}x")


if __name__ == "__main__":
    main()
