"""Serve an ASGI app with uvicorn inside an event loop we own.

uvicorn's ``Server.serve()`` takes over SIGINT/SIGTERM; our processes handle signals themselves (the
worker must stop claiming and give jobs back first), so signal capture is switched off here.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import uvicorn

if TYPE_CHECKING:
    from common.config import Settings

log = logging.getLogger(__name__)


class EmbeddedServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def make_server(app: Any, host: str, port: int, *, access_log: bool = False,
                uds: str | None = None) -> EmbeddedServer:
    config = uvicorn.Config(app, host=host, port=port, uds=uds, log_config=None, access_log=access_log,
                            lifespan="on", timeout_graceful_shutdown=3, server_header=False)
    return EmbeddedServer(config)


async def serve(server: EmbeddedServer, settings: Settings, what: str) -> None:
    """Serve on ``$PORT``, or, when ``PORT`` is unset, on a free port that the log names: so that two
    workers can start on one host without choosing ports (Cloud Run always sets ``PORT``)."""
    if server.config.uds or settings.port_set:
        await server.serve()
        return
    sock = socket.socket(socket.AF_INET6 if ":" in settings.host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((settings.host, 0))
    host, port = sock.getsockname()[:2]
    log.info("%s health server on http://%s:%d (PORT is not set)", what, host, port)
    await server.serve(sockets=[sock])
