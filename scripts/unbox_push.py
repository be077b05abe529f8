#!/usr/bin/env python3
"""Rewrite `push(Box::new(OP), ...)` to `push(OP, ...)` in the given Rust files (Tape::push takes the
op by value and stores it in a pooled block; see crates/kinkgrad/src/reverse/op_box.rs)."""
import sys

NEEDLE = "push(Box::new("
for path in sys.argv[1:]:
    s = open(path).read()
    out, i, n = [], 0, 0
    while True:
        j = s.find(NEEDLE, i)
        if j < 0:
            out.append(s[i:])
            break
        k = j + len(NEEDLE)
        depth, m = 1, k
        while depth:
            depth += {"(": 1, ")": -1}.get(s[m], 0)
            m += 1
        out.append(s[i:j] + "push(" + s[k : m - 1])
        i, n = m, n + 1
    open(path, "w").write("".join(out))
    if n:
        print(f"{path}: {n}")
