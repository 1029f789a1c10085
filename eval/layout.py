"""The package's layout at a git revision: lines per package (sub-folder of rankpipe/), the modules
of each, and the longest functions; the numbers of eval/results/layout.md.

    python eval/layout.py                 # the working tree
    python eval/layout.py --rev e5a8223   # a commit (read with git show, nothing checked out)
    python eval/layout.py --rev e5a8223 --longest 10
"""

from __future__ import annotations

import argparse
import ast
import subprocess
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def sources(rev: str | None) -> dict[str, str]:
    """Path -> text of every .py file under rankpipe/ at `rev` (the working tree when None)."""
    if rev is None:
        return {
            str(p.relative_to(REPO)): p.read_text()
            for p in sorted((REPO / "rankpipe").rglob("*.py"))
        }
    names = subprocess.run(
        ["git", "ls-tree", "-r", "--name-only", rev, "rankpipe"],
        cwd=REPO, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    return {
        name: subprocess.run(
            ["git", "show", f"{rev}:{name}"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout
        for name in names
        if name.endswith(".py")
    }


def package_of(path: str) -> str:
    parts = Path(path).parts
    return "/".join(parts[:2]) + "/" if len(parts) > 2 else "rankpipe (top-level modules)"


def functions(path: str, text: str) -> list[tuple[int, str]]:
    """(lines, path:line name) of every function and method."""
    found = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            found.append((length, f"{path}:{node.lineno} {node.name}"))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rev", help="a git revision (default: the working tree)")
    parser.add_argument("--longest", type=int, default=8, help="how many long functions to list")
    args = parser.parse_args()
    files = sources(args.rev)
    lines: dict[str, int] = defaultdict(int)
    modules: dict[str, list[str]] = defaultdict(list)
    longest: list[tuple[int, str]] = []
    for path, text in files.items():
        package = package_of(path)
        count = len(text.splitlines())
        lines[package] += count
        modules[package].append(f"{Path(path).name} ({count})")
        longest += functions(path, text)
    print("| package | lines | modules (lines) |\n|---|---|---|")
    for package in sorted(lines):
        print(f"| `{package}` | {lines[package]:,} | {', '.join(sorted(modules[package]))} |")
    print(f"| total | {sum(lines.values()):,} | {len(files)} files |")
    print("\nlongest functions:")
    for length, where in sorted(longest, reverse=True)[: args.longest]:
        print(f"  {length:4d}  {where}")


if __name__ == "__main__":
    main()
