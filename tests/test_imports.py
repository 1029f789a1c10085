"""The package's import graph has no cycle (function-level imports included), every module imports
on its own in a fresh interpreter, and `import rankpipe` loads none of the heavy libraries."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "rankpipe"
OPTIONAL = {"rankpipe.pyterrier": "pyterrier", "rankpipe.judges.vllm": "vllm"}
"""Modules of optional extras, and the library whose absence lets them fail to import."""


def module_names() -> dict[str, Path]:
    names = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node of the tree except those under `if TYPE_CHECKING:` and `if __name__ ==
    "__main__":` (never run when the module is imported, so never part of an import cycle)."""
    nodes: list[ast.AST] = []
    pending = [tree]
    while pending:
        node = pending.pop()
        nodes.append(node)
        if isinstance(node, ast.If) and _never_run_on_import(node.test):
            pending.extend(node.orelse)
            continue
        pending.extend(ast.iter_child_nodes(node))
    return nodes


def _never_run_on_import(test: ast.expr) -> bool:
    text = ast.unparse(test)
    return "TYPE_CHECKING" in text or text in ("__name__ == '__main__'", '__name__ == "__main__"')


def imports(module: str, path: Path, known: set[str]) -> set[str]:
    """The package's modules that `module` imports anywhere in its file, functions included (a
    module's own packages, which Python imports first anyway, and imports for type checkers
    only left out)."""
    found: set[str] = set()
    for node in runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            submodules = {f"{node.module}.{alias.name}" for alias in node.names}
            found.update(submodules & known or {node.module})
    return {m for m in found & known if m != module and not module.startswith(f"{m}.")}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = [stack.pop()]
            while component[-1] != node:
                component.append(stack.pop())
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_import_graph_has_no_cycle() -> None:
    names = module_names()
    graph = {m: imports(m, path, set(names)) for m, path in names.items()}
    assert graph["rankpipe.strategies.cascade"] >= {"rankpipe.strategies.registry"}
    assert graph["rankpipe.retrieval.retrievers"] >= {"rankpipe.retrieval.bm25"}
    assert cycles(graph) == []


def test_cycles_are_found() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_function_level_imports_count_and_type_checking_ones_do_not(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    import rankpipe.b\n"
        "def f():\n    from rankpipe import c\n"
        'if __name__ == "__main__":\n    import rankpipe.d\n'
    )
    known = {"rankpipe.b", "rankpipe.c", "rankpipe.d"}
    assert imports("rankpipe.a", source, known) == {"rankpipe.c"}


ALONE = [
    "rankpipe.retrieval.index", "rankpipe.retrieval.bm25", "rankpipe.retrieval.dense",
    "rankpipe.retrieval.retrievers", "rankpipe.strategies.cascade", "rankpipe.strategies.registry",
    "rankpipe.encoders", "rankpipe.judges.embedding", "rankpipe.reranker", "rankpipe.scheduler",
    "rankpipe.data.frames", "rankpipe.pyterrier",
]
"""The modules whose imports once went in a circle, and the front door's: each must import first,
in a fresh interpreter (an import that works only after another module's fails here)."""


@pytest.mark.slow
@pytest.mark.parametrize("module", ALONE)
def test_a_module_imports_alone(module: str) -> None:
    if module in OPTIONAL:
        pytest.importorskip(OPTIONAL[module])
    done = subprocess.run(
        [sys.executable, "-c", f"import {module}"], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr


def test_import_rankpipe_is_cheap() -> None:
    code = (
        "import sys, rankpipe\n"
        "heavy = {'torch', 'transformers', 'pandas', 'numpy', 'ir_measures', 'faiss'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_dir_shows_the_public_names_only() -> None:
    import rankpipe

    shown = dir(rankpipe)
    assert "Reranker" in shown and "evaluate" in shown and "load_dataset" in shown
    leaks = {"Any", "EXPORTS", "TYPE_CHECKING", "annotations", "importlib", "_importlib"}
    assert not leaks & set(shown)
    assert set(shown) == set(rankpipe.__all__) | {"__version__"}
