"""What every entry point does first: read settings, set up logging, find the database.

A configuration problem ends the process with one clear line on stderr and exit status 2.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from common.config import Settings
from common.errors import ConfigError, ReportGenError
from common.logs import configure_logging
from common.process_guard import seal_secrets
from common.runtime import resolve_database_url


def run_service(name: str, make: Callable[[Settings, str], Coroutine[Any, Any, None]],
                settings: Settings | None = None, url: str | None = None) -> int:
    try:
        settings = settings or Settings.from_env()
        configure_logging(settings)
        url = url or resolve_database_url(settings)
    except ConfigError as exc:
        print(f"{name}: configuration error: {exc}", file=sys.stderr)
        return 2
    # Read once: from here on no one reads the secrets from the environment, and the render and PDF
    # children (same uid) can read neither this process's environ nor its memory (common/process_guard.py).
    seal_secrets()
    try:
        asyncio.run(make(settings, url))
    except ReportGenError as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return 1
    return 0
