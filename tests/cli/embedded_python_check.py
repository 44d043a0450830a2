#!/usr/bin/env python3
"""Compiles the Python that the shell scripts carry inline (heredocs ending in PY) and every .py
file of scripts/ and tests/, so that a syntax error in a GPU script's report, which no run on
this machine reaches, fails here instead of on the GPU host. Compiles only; nothing runs.

  python3 tests/cli/embedded_python_check.py SOURCE_DIR
"""
import pathlib
import re
import sys

HEREDOC = re.compile(r"<<-?'?PY'?\s*$")


def blocks(path):
    """(first line number, source) of each <<'PY' ... PY heredoc in a shell script."""
    lines = path.read_text().splitlines()
    i = 0
    while i < len(lines):
        if HEREDOC.search(lines[i]):
            start, body = i + 2, []
            i += 1
            while i < len(lines) and lines[i].strip() != "PY":
                body.append(lines[i])
                i += 1
            if i == len(lines):
                raise SyntaxError(f"{path}:{start - 1}: heredoc PY never closed")
            yield start, "\n".join(body) + "\n"
        i += 1


def main():
    root = pathlib.Path(sys.argv[1])
    failures, count = [], 0
    for path in sorted(root.glob("scripts/**/*.sh")) + sorted(root.glob("tests/**/*.sh")):
        try:
            for line, src in blocks(path):
                count += 1
                try:
                    compile(src, f"{path.relative_to(root)}:{line}", "exec")
                except SyntaxError as e:
                    failures.append(f"{path.relative_to(root)}, heredoc from line {line}: {e}")
        except SyntaxError as e:
            failures.append(str(e))
    for path in sorted(root.glob("scripts/**/*.py")) + sorted(root.glob("tests/**/*.py")):
        count += 1
        try:
            compile(path.read_text(), str(path.relative_to(root)), "exec")
        except SyntaxError as e:
            failures.append(f"{path.relative_to(root)}: {e}")
    for f in failures:
        print(f)
    print(f"embedded python: {count} blocks and files, {len(failures)} with syntax errors")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
