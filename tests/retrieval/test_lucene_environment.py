"""Starting Lucene leaves the process environment as it was: pyserini's placeholder OpenAI key is
set only while pyserini is imported, so it never reaches rankpipe's `openai` judge."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from rankpipe.retrieval import lucene

PROBE = """
import os
from rankpipe.retrieval.lucene import pyserini_lucene
pyserini_lucene()
print(os.environ.get("OPENAI_API_KEY"))
"""


def test_the_placeholder_key_lives_only_inside_the_import(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with lucene._placeholder_openai_key():
        assert os.environ["OPENAI_API_KEY"] == "unused-by-rankpipe"
    assert "OPENAI_API_KEY" not in os.environ
    monkeypatch.setenv("OPENAI_API_KEY", "the user's")
    with lucene._placeholder_openai_key():
        assert os.environ["OPENAI_API_KEY"] == "the user's"
    assert os.environ["OPENAI_API_KEY"] == "the user's"


@pytest.mark.slow
def test_starting_lucene_leaves_no_openai_key() -> None:
    reason = lucene.unavailable_reason()
    if reason is not None:
        pytest.skip(f"pyserini/Java unavailable: {reason}")
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    probe = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, check=True
    )
    assert probe.stdout.strip().splitlines()[-1] == "None"
