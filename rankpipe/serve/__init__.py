"""The rerank service (`rankpipe serve`; the `serve` extra: fastapi, uvicorn, prometheus_client).

    from rankpipe.serve import create_app, run_app
    app = create_app(reranker)        # a FastAPI app: mount it, or run it
    run_app(app, "127.0.0.1", 8000)   # uvicorn until SIGTERM or Ctrl-C, then a graceful drain

Both are imported when first used, so `import rankpipe.serve` needs none of the extra."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rankpipe.serve.app import create_app
    from rankpipe.serve.runner import run_app

EXPORTS = {"create_app": "rankpipe.serve.app", "run_app": "rankpipe.serve.runner"}
__all__ = ["create_app", "run_app"]


def __getattr__(name: str) -> Any:
    if name not in EXPORTS:
        raise AttributeError(f"module 'rankpipe.serve' has no attribute {name!r}")
    return getattr(importlib.import_module(EXPORTS[name]), name)
