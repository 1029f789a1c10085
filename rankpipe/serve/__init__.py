"""The rerank service (`rankpipe serve`; the `serve` extra: fastapi, uvicorn, prometheus_client).

    from rankpipe.serve import create_app
    app = create_app(reranker)        # a FastAPI app: uvicorn.run(app), or mount it

`create_app` is imported when first used, so `import rankpipe.serve` needs none of the extra."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rankpipe.serve.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name != "create_app":
        raise AttributeError(f"module 'rankpipe.serve' has no attribute {name!r}")
    from rankpipe.serve.app import create_app

    return create_app
