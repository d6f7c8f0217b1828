#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
# No function longer than LIMIT lines in the given folders (docs/architecture.md: the core and the train stage are
# read by newcomers first). A function is a brace block opened right after a parameter list (or a constructor's
# initialiser list); lambdas and blocks inside it count toward it. Comments and string literals are blanked first,
# so braces inside them do not count.
# Usage: check_function_length.py LIMIT FOLDER... ; exit 1 with one line per function over the limit.
import os
import re
import sys


def blank(src):
    keep_lines = lambda m: "\n" * m.group(0).count("\n")
    src = re.sub(r"/\*.*?\*/", keep_lines, src, flags=re.S)
    src = re.sub(r'R"\((.*?)\)"', lambda m: '""' + keep_lines(m), src, flags=re.S)
    src = re.sub(r"//[^\n]*", "", src)
    src = re.sub(r'"(\\.|[^"\\\n])*"', '""', src)
    return re.sub(r"'(\\.|[^'\\\n])'", "''", src)


OPENS_FUNCTION = re.compile(r"\)\s*(const)?\s*(override)?\s*(noexcept)?\s*(->\s*[\w:<>]+)?\s*$|\)\s*:\s*[^;{}]*$")
CONTROL = re.compile(r"\b(if|for|while|switch|catch)\s*\([^()]*(\([^()]*\))*[^()]*\)\s*$")


def functions(path):
    """(length in lines, first line) of every function in the file."""
    lines = blank(open(path, encoding="utf-8").read()).split("\n")
    stack = []  # (line, is a function's body)
    out = []
    for i, line in enumerate(lines):
        for j, c in enumerate(line):
            if c == "{":
                before = ("".join(lines[max(0, i - 3):i]) + line[:j]).rstrip()
                is_function = bool(OPENS_FUNCTION.search(before)) and not CONTROL.search(before)
                inside = any(f for _, f in stack)
                stack.append((i, is_function and not inside))
            elif c == "}" and stack:
                start, is_function = stack.pop()
                if is_function:
                    out.append((i - start + 1, start + 1))
    return out


def main():
    limit = int(sys.argv[1])
    over = []
    for root in sys.argv[2:]:
        for folder, _, files in os.walk(root):
            for name in sorted(files):
                if name.endswith((".cpp", ".h")):
                    path = os.path.join(folder, name)
                    over += [(n, path, line) for n, line in functions(path) if n > limit]
    for n, path, line in sorted(over, reverse=True):
        print("%s:%d: a function of %d lines (the limit is %d): split it into named steps" % (path, line, n, limit))
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
