"""Time limits that hold on a black-holed network.

``asyncio.timeout`` around a psycopg statement is not enough: when the statement is cancelled, psycopg
first tries to cancel it on the server and waits up to 5 s for that (``AsyncConnection.wait`` →
``_try_cancel``), which on a dead path never answers. Measured in the shutdown drill of issue 10: a
give-back limited to 0.3 s took 5.3 s. ``bounded`` runs the operation as its own task and, at the limit,
cancels it twice (the second cancel interrupts psycopg's server-side cancel, which then closes the
connection), so the caller gets its answer on time.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
ABANDON_SECONDS = 0.05


async def bounded(coro: Coroutine[Any, Any, T], timeout: float) -> T:
    """``await coro`` for at most ``timeout`` seconds; TimeoutError after that."""
    task = asyncio.ensure_future(coro)
    try:
        done, _ = await asyncio.wait({task}, timeout=max(0.0, timeout))
    except asyncio.CancelledError:
        await _abandon(task)
        raise
    if not done:
        await _abandon(task)
        raise TimeoutError(f"no answer within {timeout:g} s")
    return task.result()


async def _abandon(task: asyncio.Future[Any]) -> None:
    task.cancel()
    await asyncio.sleep(0)  # let it reach psycopg's server-side cancel…
    task.cancel()  # …and interrupt that too
    with contextlib.suppress(BaseException):
        await asyncio.wait({task}, timeout=ABANDON_SECONDS)
    if task.done() and not task.cancelled():
        task.exception()  # retrieved: no "exception was never retrieved" warning
    else:
        task.add_done_callback(lambda t: t.cancelled() or t.exception())
