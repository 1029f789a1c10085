"""Judge spec strings, the same on the CLI and in Python: `BACKEND:ARG[,key=value,...]`.

    hf:HuggingFaceTB/SmolLM2-135M-Instruct,batch_size=16
    vllm:Qwen/Qwen2.5-7B-Instruct,tensor_parallel_size=2
    openai:MODEL@http://localhost:8000/v1,concurrency=8
    embed:sentence-transformers/all-MiniLM-L6-v2,temperature=0.05
    sim:qrels=qrels.txt,noise=0.1,seed=1
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import TypeVar

from rankpipe.data.types import Qrels
from rankpipe.errors import InputError
from rankpipe.judges.base import Judge, ListJudge

T = TypeVar("T")

BACKENDS = {
    "hf": "rankpipe.judges.transformers",
    "vllm": "rankpipe.judges.vllm",
    "openai": "rankpipe.judges.openai",
    "embed": "rankpipe.judges.embedding",
    "sim": "rankpipe.judges.simulated",
}


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
    for position, item in enumerate(p.strip() for p in rest.split(",") if p.strip()):
        key, eq, value = item.partition("=")
        if eq and "/" not in key and "@" not in key:
            options[key.strip()] = value.strip()
        elif position == 0:
            target = item
        else:
            raise InputError(f"judge {spec!r}: expected key=value, got {item!r}")
    return JudgeSpec(backend, target, options)


def _factory_module(spec: JudgeSpec):  # noqa: ANN202 - a module
    return importlib.import_module(BACKENDS[spec.backend])


def make_judge(spec: str | JudgeSpec, qrels: Qrels | None = None) -> Judge:
    """Build a pairwise judge from its spec. `qrels` serve `sim` when the spec names no file."""
    parsed = parse_spec(spec) if isinstance(spec, str) else spec
    return _factory_module(parsed).pairwise_judge(parsed, qrels)  # type: ignore[no-any-return]


def make_list_judge(spec: str | JudgeSpec, qrels: Qrels | None = None) -> ListJudge:
    """Build a listwise judge from its spec (backends without a listwise form raise InputError)."""
    parsed = parse_spec(spec) if isinstance(spec, str) else spec
    module = _factory_module(parsed)
    if not hasattr(module, "list_judge"):
        raise InputError(f"judge {parsed}: the {parsed.backend} backend has no listwise form")
    return module.list_judge(parsed, qrels)  # type: ignore[no-any-return]


def _typed(spec: JudgeSpec, key: str, kind: type, default: T) -> T:
    if key not in spec.options:
        return default
    raw = spec.options[key]
    try:
        if kind is bool:
            if raw.lower() not in ("1", "0", "true", "false", "yes", "no"):
                raise ValueError(raw)
            return raw.lower() in ("1", "true", "yes")  # type: ignore[return-value]
        return kind(raw)  # type: ignore[no-any-return]
    except ValueError:
        raise InputError(
            f"judge {spec}: option {key}={raw!r} is not a valid {kind.__name__}"
        ) from None


def float_option(spec: JudgeSpec, key: str, default: float) -> float:
    """A float option of a spec; an InputError names the option when it does not parse."""
    return _typed(spec, key, float, default)


def int_option(spec: JudgeSpec, key: str, default: int) -> int:
    return _typed(spec, key, int, default)


def bool_option(spec: JudgeSpec, key: str, default: bool) -> bool:
    return _typed(spec, key, bool, default)


def check_options(spec: JudgeSpec, allowed: set[str]) -> None:
    unknown = set(spec.options) - allowed
    if unknown:
        raise InputError(
            f"judge {spec}: unknown option(s) {', '.join(sorted(unknown))}; "
            f"{spec.backend} takes {', '.join(sorted(allowed)) or 'none'}"
        )
