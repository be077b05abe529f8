"""The serve mode of the peer scripts (`--serve`), used by `kinkgrad bench` to time a peer and kinkgrad
in alternating blocks under the same machine state.

Protocol (one line each way, stdout flushed after every answer):
  peer -> kinkgrad   {"ready": true, ...}            once, after building and warming up the workload
  kinkgrad -> peer   run NAME N                      time N calls of the function NAME
  peer -> kinkgrad   {"times": [t1, ..., tN]}        seconds per call, in order
  kinkgrad -> peer   quit  (or end of input)         exit
A request it cannot honour gets {"error": "..."} and the peer keeps serving.
"""
import json
import sys
import time


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
    print(json.dumps({"ready": True, "functions": sorted(fns), **meta}), flush=True)
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
