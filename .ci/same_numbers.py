#!/usr/bin/env python3
"""Exit 1 unless two JSON files hold the same structure and numbers (relative 1e-9):
the committed reference values against what their script writes on this machine."""
import json
import math
import sys


def same(a, b, path="$"):
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return f"{path}: keys differ"
        return next((e for k in a if (e := same(a[k], b[k], f"{path}.{k}"))), None)
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return f"{path}: lengths {len(a)} and {len(b)}"
        return next((e for i, (x, y) in enumerate(zip(a, b)) if (e := same(x, y, f"{path}[{i}]"))), None)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return None if math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12) else f"{path}: {a} != {b}"
    return None if a == b else f"{path}: {a!r} != {b!r}"


error = same(json.load(open(sys.argv[1])), json.load(open(sys.argv[2])))
if error:
    sys.exit(f"{sys.argv[1]} is not what its script writes now: {error}")
print(f"{sys.argv[1]}: reproduced")
