#!/usr/bin/env python3
"""Each folder of pathways/ holds at most MAX_SHARE of the runtime's non-test C++ lines.

Counts the lines of .h and .cc files directly in each folder (a backend subfolder counts as its
own folder), leaving out tests, test utilities, conformance suites and fakes. Prints the table,
largest first; exits 1 naming the folders over the limit.
"""
import os
import re
import sys

MAX_SHARE = 0.15
TEST_FILE = re.compile(r"(_test\.cc|_test_util\.(h|cc)|conformance.*\.(h|cc)|^fake_.*\.(h|cc))$")


def main(root):
    pathways = os.path.join(root, "pathways")
    lines = {}
    for folder, _, files in os.walk(pathways):
        rel = os.path.relpath(folder, pathways)
        for name in files:
            if not name.endswith((".h", ".cc")) or TEST_FILE.search(name):
                continue
            with open(os.path.join(folder, name), encoding="utf-8") as f:
                lines[rel] = lines.get(rel, 0) + sum(1 for _ in f)
    total = sum(lines.values())
    over = []
    for rel, n in sorted(lines.items(), key=lambda kv: -kv[1]):
        share = n / total
        print(f"{rel:28s} {n:6d} lines {100 * share:5.1f} %")
        if share > MAX_SHARE:
            over.append(f"pathways/{rel} ({100 * share:.1f} %)")
    print(f"{'total':28s} {total:6d} lines")
    if over:
        print(f"over {100 * MAX_SHARE:.0f} % of the runtime's lines (split by concept): "
              + ", ".join(over))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "."))
