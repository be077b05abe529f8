"""The serve mode of the peer scripts (`--serve`), used by `kinkgrad bench` to time a peer and kinkgrad
in alternating blocks under the same machine state.

Protocol (one line each way, stdout flushed after every answer):
  peer -> kinkgrad   {"ready": true, ...}            once, after building and warming up the workload
  kinkgrad -> peer   run NAME N                      time N calls of the function NAME
  peer -> kinkgrad   {"times": [t1, ..., tN]}        seconds per call, in order
  kinkgrad -> peer   quit  (or end of input)         exit
A request it cannot honour gets {"error": "..."} and the peer keeps serving.

`kinkgrad bench --peer-isa avx2` sets the libraries' instruction limits in the peer's environment and
KINKGRAD_PEER_ISA=avx2; the peer checks what its libraries report and confirms with "peer_isa" in its
ready line, or exits with one line on stderr saying which library did not take the limit.
"""
import json
import os
import sys
import time


def peer_isa():
    """The instruction limit asked for in KINKGRAD_PEER_ISA (None if none), checked where a library says
    what it uses: PyTorch's ATen level, and no YNNPACK/XNNPACK fusion (the libraries that ignore every
    limit) in what XLA compiles for a product. Exits with one line when the limit did not take."""
    want = os.environ.get("KINKGRAD_PEER_ISA")
    if want is None or want == "native":
        return want
    if want != "avx2":
        sys.exit(f"KINKGRAD_PEER_ISA={want}: this peer knows native and avx2")
    if "torch" in sys.modules:
        cap = sys.modules["torch"].backends.cpu.get_cpu_capability()
        if cap.upper().startswith("AVX512"):
            sys.exit(f"PyTorch uses {cap} despite ATEN_CPU_CAPABILITY={os.environ.get('ATEN_CPU_CAPABILITY')}")
    if "jax" in sys.modules:
        import jax
        import jax.numpy as jnp
        a, b = jnp.zeros((128, 784), jnp.float32), jnp.zeros((784, 512), jnp.float32)
        hlo = jax.jit(lambda a, b: a @ b).lower(a, b).compile().as_text().lower()
        if "ynn_fusion" in hlo or "xnn_fusion" in hlo:
            sys.exit(f"XLA still fuses a product into YNNPACK/XNNPACK (which use AVX-512) with XLA_FLAGS={os.environ.get('XLA_FLAGS')}")
    return want


def time_calls(fn, n):
    """Seconds of each of n calls of fn (fn waits for its own result)."""
    ts = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return ts


def serve(fns, meta):
    """Answer `run NAME N` requests on stdin with the times of N calls of fns[NAME] (already warm)."""
    isa = peer_isa()
    print(json.dumps({"ready": True, "functions": sorted(fns), **meta, "peer_isa": isa}), flush=True)
    for line in sys.stdin:
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "quit":
            break
        if len(parts) == 3 and parts[0] == "run" and parts[1] in fns and parts[2].isdigit():
            answer = {"times": time_calls(fns[parts[1]], int(parts[2]))}
        else:
            answer = {"error": f"unknown request {line.strip()!r}: expected 'run NAME N' with NAME in {sorted(fns)}"}
        print(json.dumps(answer), flush=True)
