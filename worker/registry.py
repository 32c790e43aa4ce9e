"""Job handlers by type.

A handler is ``async def handle(ctx: JobContext) -> dict`` (its JSON result). Built-in handlers live one
per module in ``worker/handlers/``; deployments and tests add their own modules through
``REPORTGEN_HANDLER_MODULES`` (comma-separated module names, each exposing ``HANDLERS: dict[str, Handler]``).
A CPU-heavy handler must not block the event loop: run its work with ``ctx.run_in_thread`` or in a child
process, so that the listener, heartbeats and other jobs keep going.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

from common.errors import ConfigError

if TYPE_CHECKING:
    from worker.context import JobContext

Handler = Callable[["JobContext"], Awaitable[dict[str, Any]]]

BUILTIN_MODULES = ("worker.handlers.ping", "worker.handlers.start_run", "worker.handlers.export",
                   "worker.handlers.deliver")


def load_handlers(extra_modules: Iterable[str] = ()) -> dict[str, Handler]:
    handlers: dict[str, Handler] = {}
    for name in (*BUILTIN_MODULES, *extra_modules):
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            raise ConfigError(f"REPORTGEN_HANDLER_MODULES: cannot import {name!r}: {exc}") from None
        found = getattr(module, "HANDLERS", None)
        if not isinstance(found, dict):
            raise ConfigError(f"handler module {name!r} has no HANDLERS dict")
        handlers.update(found)
    return handlers
