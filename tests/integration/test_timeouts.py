"""common.timeouts.within: the claim loop's time limit, in the calling task, on real connections.

The limit must hold on a black-holed network (where psycopg's own server-side cancel would wait 5 s), a
cancellation from elsewhere must stay a cancellation, and a statement that answers in time must leave no
cancellation behind to strike the caller later. A task cancelled from elsewhere in the middle of such a
statement (the worker's shutdown cancelling its claim loop) ends at once with ``cancel_in_statement``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import psycopg
import pytest

from common.db import libpq_url
from common.timeouts import cancel_in_statement, within
from tests.support.proxy import BlackHoleProxy


@pytest.fixture
def proxy(direct_database_url: str) -> Iterator[BlackHoleProxy]:
    parts = urlsplit(direct_database_url)
    proxy = BlackHoleProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    yield proxy
    proxy.close()


def test_the_limit_holds_on_a_black_holed_connection_and_the_task_goes_on(direct_database_url, proxy):
    async def go() -> tuple[float, int]:
        conn = await psycopg.AsyncConnection.connect(libpq_url(proxy.url_for(direct_database_url)),
                                                     autocommit=True)
        try:
            proxy.blackhole()
            started = time.monotonic()
            with pytest.raises(TimeoutError):
                await within(conn.execute("SELECT 1"), 0.3)
            took = time.monotonic() - started
            await asyncio.sleep(0.05)  # no cancellation of ours is left to strike here
            task = asyncio.current_task()
            assert task is not None
            return took, task.cancelling()
        finally:
            proxy.heal()
            await conn.close()

    took, cancelling = asyncio.run(go())
    assert took < 3.0  # psycopg's server-side cancel alone waits 5 s on a dead path
    assert cancelling == 0


def test_an_answer_in_time_leaves_no_cancellation_behind(direct_database_url):
    async def go() -> int:
        async with await psycopg.AsyncConnection.connect(libpq_url(direct_database_url), autocommit=True) as conn:
            for _ in range(20):
                cur = await within(conn.execute("SELECT 41 + 1"), 0.2)
                assert await cur.fetchone() == (42,)
            await asyncio.sleep(0.3)  # past every limit above: none of them fires now
            task = asyncio.current_task()
            assert task is not None
            return task.cancelling()

    assert asyncio.run(go()) == 0


def test_a_cancellation_from_elsewhere_stays_a_cancellation(direct_database_url):
    async def go() -> None:
        async with await psycopg.AsyncConnection.connect(libpq_url(direct_database_url), autocommit=True) as conn:
            statement = asyncio.create_task(within(conn.execute("SELECT pg_sleep(5)"), 10.0))
            await asyncio.sleep(0.2)
            statement.cancel()
            with pytest.raises(asyncio.CancelledError):
                await statement
            assert statement.cancelled()

    asyncio.run(go())


def test_a_shutdown_cancels_a_statement_on_a_black_holed_connection_at_once(direct_database_url, proxy):
    """The shutdown drill's 5-10 s (tests/acceptance/test_queue_promises.py, 2 of 6 runs before): one cancel
    of a task inside a statement on a dead path waits for psycopg's server-side cancel, which never
    answers there; ``cancel_in_statement`` interrupts that too."""
    async def go() -> float:
        conn = await psycopg.AsyncConnection.connect(libpq_url(proxy.url_for(direct_database_url)),
                                                     autocommit=True)
        try:
            proxy.blackhole()
            statement = asyncio.create_task(within(conn.execute("SELECT 1"), 30.0))
            await asyncio.sleep(0.2)
            started = time.monotonic()
            await cancel_in_statement(statement)
            with pytest.raises(asyncio.CancelledError):
                await statement
            return time.monotonic() - started
        finally:
            proxy.heal()
            await conn.close()

    assert asyncio.run(go()) < 2.0  # one cancel: at least the 5 s of psycopg's server-side cancel
