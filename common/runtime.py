"""Start-up concerns both services share: finding the database, and signals (migrating: common/migrate.py)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import Callable

from common.config import Settings
from common.db import with_pool_mode
from common.embedded_pg import running_url
from common.errors import ConfigError

log = logging.getLogger(__name__)
DUPLICATE_SIGNAL_SECONDS = 0.25


def resolve_database_url(settings: Settings) -> str:
    """``DATABASE_URL`` when set; else the embedded server that ``make run`` started in this checkout."""
    if settings.database_url:
        return with_pool_mode(settings.database_url, settings.database_pool_mode)
    url = running_url(settings.data_dir)
    if url is None:
        raise ConfigError(
            "DATABASE_URL is not set and no embedded database is running in this checkout "
            "(start one with 'make run', or set DATABASE_URL=postgresql://…)"
        )
    return url




def install_stop_signals(on_first: Callable[[], None]) -> None:
    """SIGTERM/SIGINT: the first asks for a graceful stop, a second exits at once (leases cover it).

    A signal within ``DUPLICATE_SIGNAL_SECONDS`` of the first counts as the same one: Ctrl-C under
    ``make run`` reaches us twice in a row (from the terminal, and forwarded by make).
    """
    loop = asyncio.get_running_loop()
    first_at: float | None = None

    def handle(signum: int) -> None:
        nonlocal first_at
        now = time.monotonic()
        if first_at is None:
            first_at = now
            log.info("received %s: shutting down gracefully", signal.Signals(signum).name)
            on_first()
        elif now - first_at < DUPLICATE_SIGNAL_SECONDS:
            log.debug("received %s again at once: the same request", signal.Signals(signum).name)
        else:
            log.warning("second signal: exiting now")
            os._exit(1)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, handle, sig)
