"""The one listener (common/listener.py): hears, proves it hears, reconnects, and says when it is deaf."""

from __future__ import annotations

import asyncio

import psycopg

from common import listener as listener_module
from common.listener import SELF_TEST_CHANNEL, Listener, State
from tests.support.factories import run


async def _until(predicate, timeout: float, message: str) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.02)
    assert predicate(), message


def test_it_self_tests_hears_notifications_and_reconnects_after_its_connection_is_killed(direct_database_url):
    """On a session connection (the direct URL, or LISTEN_DATABASE_URL beside a pooler: through a transaction
    pooler the listener is deaf by design, see test_poolers.py)."""
    database_url = direct_database_url
    heard: list[str] = []
    states: list[State] = []
    ups: list[int] = []

    async def go() -> Listener:
        listener = Listener(database_url, {"jobs_cancel": heard.append}, name="rg-test-listener",
                            on_state=states.append, on_up=lambda: ups.append(1))
        task = asyncio.create_task(listener.run())
        try:
            await _until(lambda: listener.state is State.UP, 10, "listener up")
            async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
                await conn.execute("SELECT pg_notify('jobs_cancel', 'job-1')")
                await _until(lambda: heard == ["job-1"], 5, "notification heard")
                await conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                   "WHERE application_name = 'rg-test-listener'")
                await _until(lambda: listener.connections == 2 and listener.state is State.UP, 10,
                             "reconnected and self-tested again")
                await conn.execute("SELECT pg_notify('jobs_cancel', 'job-2')")
                await _until(lambda: heard == ["job-1", "job-2"], 5, "heard after the reconnect")
        finally:
            task.cancel()
        return listener

    run(go())
    assert states[:3] == [State.UP, State.DOWN, State.UP]
    assert len(ups) == 2, "every (re)connect tells its user to catch up"


class _HearsNothing(Listener):
    """What a listener behind a transaction pooler experiences: LISTEN succeeds, nothing ever arrives."""

    def _dispatch(self, note: psycopg.Notify) -> None:
        if note.channel != SELF_TEST_CHANNEL:
            super()._dispatch(note)


def test_a_deaf_listener_says_so_once_and_is_not_reported_up(database_url, caplog, monkeypatch):
    monkeypatch.setattr(listener_module, "SELF_TEST_SECONDS", 0.3)
    monkeypatch.setattr(listener_module, "DEAF_RETRY_SECONDS", 0.05)
    states: list[State] = []

    async def go() -> None:
        listener = _HearsNothing(database_url, {"jobs_queued": lambda _: None}, name="rg-test-deaf",
                                 on_state=states.append)
        task = asyncio.create_task(listener.run())
        try:
            await _until(lambda: listener.state is State.DEAF, 10, "deafness detected")
            await asyncio.sleep(1.0)  # several more self-tests fail meanwhile
        finally:
            task.cancel()

    run(go())
    assert State.UP not in states and states[0] is State.DEAF
    warnings = [r for r in caplog.records if "hears nothing" in r.getMessage()]
    assert len(warnings) == 1, "logged once, not at every retry"
