"""Serve an ASGI app with uvicorn inside an event loop we own.

uvicorn's ``Server.serve()`` takes over SIGINT/SIGTERM; our processes handle signals themselves (the
worker must stop claiming and give jobs back first), so signal capture is switched off here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Generator
from typing import Any

import uvicorn


class EmbeddedServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def make_server(app: Any, host: str, port: int, *, access_log: bool = False) -> EmbeddedServer:
    config = uvicorn.Config(app, host=host, port=port, log_config=None, access_log=access_log,
                            lifespan="on", timeout_graceful_shutdown=3, server_header=False)
    return EmbeddedServer(config)
