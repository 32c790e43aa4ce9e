"""Job handlers by type.

A handler is ``async def handle(ctx: JobContext) -> dict`` (its JSON result). Built-in handlers live one
per module in ``worker/handlers/``; deployments and tests add their own modules through
``REPORTGEN_HANDLER_MODULES`` (comma-separated module names, each exposing ``HANDLERS: dict[str, Handler]``).
A CPU-heavy handler must not block the event loop: run its work with ``ctx.run_in_thread`` or in a child
process, so that the listener, heartbeats and other jobs keep going.

A module may also list ``LIGHT_TYPES``: types whose jobs are cheap and short (no render, no CPU-bound
work). They run in their own ``WORKER_LIGHT_CONCURRENCY`` slots; every other type shares the
``WORKER_CONCURRENCY`` slots.
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
        handlers.update(_module_handlers(name))
    return handlers


def load_light_types(extra_modules: Iterable[str] = ()) -> frozenset[str]:
    """The job types the handler modules declare light (``LIGHT_TYPES``)."""
    light: set[str] = set()
    for name in (*BUILTIN_MODULES, *extra_modules):
        _module_handlers(name)
        light.update(getattr(importlib.import_module(name), "LIGHT_TYPES", ()))
    return frozenset(light)


def _module_handlers(name: str) -> dict[str, Handler]:
    try:
        module = importlib.import_module(name)
    except ImportError as exc:
        raise ConfigError(f"REPORTGEN_HANDLER_MODULES: cannot import {name!r}: {exc}") from None
    found = getattr(module, "HANDLERS", None)
    if not isinstance(found, dict):
        raise ConfigError(f"handler module {name!r} has no HANDLERS dict")
    return found
