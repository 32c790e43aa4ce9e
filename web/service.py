"""The web service process: serve the app on ``$PORT`` until a signal."""

from __future__ import annotations

import logging

from common.config import Settings
from common.http_server import make_server
from common.logs import redact_url
from common.runtime import install_stop_signals
from web.app import create_app

log = logging.getLogger(__name__)


async def serve_web(settings: Settings, url: str) -> None:
    server = make_server(create_app(settings, url), settings.host, settings.port)
    install_stop_signals(lambda: setattr(server, "should_exit", True))
    log.info("web on http://%s:%d using database %s", settings.host, settings.port, redact_url(url))
    await server.serve()
