"""Time limits that hold on a black-holed network.

``asyncio.timeout`` around a psycopg statement is not enough: when the statement is cancelled, psycopg
first tries to cancel it on the server and waits up to 5 s for that (``AsyncConnection.wait`` →
``_try_cancel``), which on a dead path never answers. Measured in the shutdown drill of issue 10: a
give-back limited to 0.3 s took 5.3 s. ``bounded`` runs the operation as its own task and, at the limit,
cancels it twice (the second cancel interrupts psycopg's server-side cancel, which then closes the
connection), so the caller gets its answer on time.

``within`` is the same limit without a task of its own, for the claim loop's hot path: a task and
``asyncio.wait`` cost two more turns of the event loop and about 70 µs per statement on the bench
machine (bench/pickup_trace.py). At the limit it cancels the calling task, then cancels it once more on
the next turn if the statement is still unwinding (psycopg's server-side cancel), and turns those two
cancellations into ``TimeoutError``; a cancellation from elsewhere still propagates as such.
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


async def within(coro: Coroutine[Any, Any, T], timeout: float) -> T:
    """``await coro`` in the calling task for at most ``timeout`` seconds; TimeoutError after that."""
    task = asyncio.current_task()
    if task is None:  # not in a task (never on the worker's paths): fall back to a task of its own
        return await bounded(coro, timeout)
    loop = asyncio.get_running_loop()
    inside = True
    cancels = 0

    def cancel_again() -> None:
        nonlocal cancels
        if inside:  # still unwinding (psycopg waits for its server-side cancel): interrupt that too
            cancels += 1
            task.cancel()

    def expire() -> None:
        nonlocal cancels
        if inside:
            cancels += 1
            task.cancel()
            loop.call_soon(cancel_again)

    handle = loop.call_later(max(0.0, timeout), expire)
    try:
        result = await coro
    except asyncio.CancelledError:
        if not cancels:
            raise
        for _ in range(cancels):
            task.uncancel()
        if task.cancelling():  # cancelled from elsewhere as well: that one wins
            raise
        raise TimeoutError(f"no answer within {timeout:g} s") from None
    finally:
        inside = False
        handle.cancel()
    for _ in range(cancels):  # the operation swallowed our cancellation and answered: take it back
        task.uncancel()
    return result


async def cancel_in_statement(task: asyncio.Future[Any]) -> None:
    """Cancel a task that may be inside a psycopg statement (a ``within`` limit, e.g. the claim loop) so
    that it ends at once even on a black-holed network: cancel, let it reach psycopg's server-side
    cancel, and interrupt that too. One cancel is not enough: the server-side cancel waits up to 5 s for
    an answer, twice when the cancelled statement was itself cancelling (the shutdown drill: 10 s)."""
    task.cancel()
    await asyncio.sleep(0)  # let it reach psycopg's server-side cancel…
    if not task.done():
        task.cancel()  # …and interrupt that too


async def _abandon(task: asyncio.Future[Any]) -> None:
    await cancel_in_statement(task)
    with contextlib.suppress(BaseException):
        await asyncio.wait({task}, timeout=ABANDON_SECONDS)
    if task.done() and not task.cancelled():
        task.exception()  # retrieved: no "exception was never retrieved" warning
    else:
        task.add_done_callback(lambda t: t.cancelled() or t.exception())
