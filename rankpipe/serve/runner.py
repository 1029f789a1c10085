"""`run_app`: an ASGI app on uvicorn until SIGTERM or Ctrl-C, then a graceful drain, as `rankpipe
serve` runs its app; for an app of one's own built with `create_app`:

    with Reranker(...) as reranker:
        run_app(create_app(reranker), "127.0.0.1", 8000)   # the Reranker closes after the drain
"""

from __future__ import annotations

import signal
from typing import Any

from rankpipe.extras import require


def run_app(app: Any, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve an ASGI app on uvicorn, saying where once it listens, until SIGTERM or Ctrl-C; then
    drain the requests in flight and return (the caller closes what the app was built over)."""
    uvicorn = require("uvicorn", "serve", "rankpipe serve")
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on")
    _run(_announcing(uvicorn)(config))


def _announcing(uvicorn: Any) -> Any:
    """uvicorn's Server, saying where it listens once it does (the port too, with --port 0)."""

    class Server(uvicorn.Server):  # type: ignore[misc, name-defined]
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets)
            for server in self.servers:
                for sock in server.sockets:
                    host, port = sock.getsockname()[:2]
                    print(f"rankpipe serve: listening on http://{host}:{port}", flush=True)

    return Server


def _run(server: Any) -> None:
    """Run until SIGTERM or Ctrl-C, then drain. uvicorn raises the signal again once it has shut
    down; it reaches a handler here that ignores it (the shutdown was graceful: exit 0), not the
    CLI's, which would turn it into exit 143."""
    stopped: list[int] = []
    previous = {sig: signal.signal(sig, lambda s, f: stopped.append(s)) for sig in _SIGNALS}
    try:
        server.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


_SIGNALS = (signal.SIGTERM, signal.SIGINT)
