#!/usr/bin/env python3
"""Inside every `fn vjp` body of the given Rust files, rewrite a fixed-length result list `vec![a, b]`
to `crate::reverse::cotangents([a, b])` (a list from the buffer pool, which the backward sweep gives
back; see crates/kinkgrad/src/reverse/op.rs). `vec![x; n]` forms are left alone."""
import sys


def match(s, i, open_, close):
    depth = 1
    while depth:
        c = s[i]
        depth += (c == open_) - (c == close)
        i += 1
    return i


for path in sys.argv[1:]:
    s = open(path).read()
    out, pos, n = [], 0, 0
    while True:
        f = s.find("fn vjp<", pos)
        if f < 0:
            break
        body = s.index("{", s.index(")", s.index("(", f)))
        end = match(s, body + 1, "{", "}")
        seg, i, res = s[body:end], 0, []
        while True:
            j = seg.find("vec![", i)
            if j < 0:
                res.append(seg[i:])
                break
            k = match(seg, j + 5, "[", "]")
            inner = seg[j + 5 : k - 1]
            depth, top_semi = 0, False
            for c in inner:
                depth += (c in "([{") - (c in ")]}")
                top_semi |= c == ";" and depth == 0
            if top_semi or not inner.strip():
                res.append(seg[i:k])
            else:
                res.append(seg[i:j] + "crate::reverse::cotangents([" + inner + "])")
                n += 1
            i = k
        out.append(s[pos:body] + "".join(res))
        pos = end
    out.append(s[pos:])
    open(path, "w").write("".join(out))
    if n:
        print(f"{path}: {n}")
