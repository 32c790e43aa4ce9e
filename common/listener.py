"""The one LISTEN connection of a process, kept alive across database restarts, and proven to hear.

Used by the worker (``jobs_queued``, ``jobs_cancel``) and the web (``job_events``). On every (re)connect
it LISTENs, then NOTIFYs itself on ``listener_self_test`` and must hear that within
``SELF_TEST_SECONDS``: LISTEN through a transaction-mode pooler succeeds and then hears nothing, and only
a notification of our own proves that we would hear the others. A deaf listener reports
``State.DEAF`` (its users fall back to a short poll; ``reportgen_listener_up`` is 0), logs it once, and
tries again every ``DEAF_RETRY_SECONDS``. While connected and silent, the self-test doubles as the
keep-alive: a black-holed connection fails it within ``SELF_TEST_SECONDS``.

After every successful self-test the ``on_up`` callback runs, so that users catch up with notifications
sent while they were away (PostgreSQL does not keep them for absent listeners).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import psycopg

from common import backoff, db
from common.sql import query
from common.timeouts import bounded

log = logging.getLogger(__name__)

SELF_TEST_CHANNEL = "listener_self_test"
SELF_TEST_SECONDS = 2.0
IDLE_CHECK_SECONDS = 15.0
DEAF_RETRY_SECONDS = 60.0


class State(enum.Enum):
    DOWN = "down"
    UP = "up"
    DEAF = "deaf"  # connected, but does not hear its own NOTIFY (a transaction pooler)


class ListenerDeaf(Exception):
    """The self-test NOTIFY was not heard back, or the URL is a transaction pooler's."""


class Listener:
    """``channels`` maps a channel (with a ``listen_<channel>`` query in sql/queries/) to its callback,
    which gets the payload; callbacks run on the event loop and must not block."""

    def __init__(self, url: str, channels: Mapping[str, Callable[[str], None]], *, name: str,
                 on_state: Callable[[State], None] = lambda state: None,
                 on_up: Callable[[], None] = lambda: None) -> None:
        self.url = url
        self.channels = dict(channels)
        self.name = name
        self.on_state = on_state
        self.on_up = on_up
        self.state = State.DOWN
        self.connections = 0  # successful (re)connects, for tests and logs
        self._token = ""
        self._heard = asyncio.Event()
        self._deaf_logged = False

    @property
    def connected(self) -> bool:
        return self.state is State.UP

    async def run(self) -> None:
        """Listen forever; reconnect with capped, jittered backoff. Cancel the task to stop."""
        failures = 0
        while True:
            try:
                await self.listen_once()
                failures = 0
            except ListenerDeaf as deaf:
                self._set_state(State.DEAF)
                if not self._deaf_logged:
                    self._deaf_logged = True
                    why = str(deaf) or (f"its own NOTIFY did not come back within {SELF_TEST_SECONDS:g} s: "
                                        "a transaction-mode pooler?")
                    log.warning("%s: LISTEN hears nothing (%s). Polling instead; use a session connection "
                                "(LISTEN_DATABASE_URL or the direct/session-mode URL) for instant wake-ups",
                                self.name, why)
                await asyncio.sleep(DEAF_RETRY_SECONDS)
            except Exception as exc:  # any failure of the connection: reconnect (never die)
                failures += 1
                delay = backoff.reconnect_delay(failures, first=0.1)
                log.warning("%s: connection lost (%s); reconnecting in %.2f s", self.name,
                            str(exc).strip()[:200] or type(exc).__name__, delay)
                await asyncio.sleep(delay)
            finally:
                if self.state is State.UP:
                    self._set_state(State.DOWN)

    async def listen_once(self) -> None:
        """One connection's life: LISTEN, prove hearing, dispatch until it fails.

        A URL known to be a transaction pooler's is deaf without trying: there the self-test can pass
        by chance (our LISTEN and NOTIFY may share a server connection for a moment) while every other
        process's NOTIFY goes to connections nobody listens on."""
        if db.is_transaction_pooler(self.url):
            raise ListenerDeaf("the URL is a transaction pooler's")
        conn = await db.connect_async(self.url, application_name=self.name)
        try:
            for channel in (*self.channels, SELF_TEST_CHANNEL):
                await conn.execute(query(f"listen_{channel}"))
            await self._self_test(conn, dispatching=False)
            self.connections += 1
            self._deaf_logged = False
            self._set_state(State.UP)
            self.on_up()
            while True:
                async for note in conn.notifies(timeout=IDLE_CHECK_SECONDS):
                    self._dispatch(note)
                await self._self_test(conn, dispatching=True)
        finally:
            with contextlib.suppress(BaseException):
                await bounded(conn.close(), 0.2)

    async def _self_test(self, conn: psycopg.AsyncConnection[Any], *, dispatching: bool) -> None:
        self._token = uuid.uuid4().hex
        self._heard.clear()
        await bounded(conn.execute(query("listener_self_test"), {"token": self._token}), SELF_TEST_SECONDS)
        deadline = time.monotonic() + SELF_TEST_SECONDS
        while (left := deadline - time.monotonic()) > 0:
            # notifies' own time-out, not a cancellation (which psycopg answers with a 5 s server cancel)
            async for note in conn.notifies(timeout=left):
                self._dispatch(note)
                if self._heard.is_set():
                    return
        if dispatching:  # it heard before: the connection died rather than went deaf
            raise ConnectionError(f"no answer to the self-test within {SELF_TEST_SECONDS:g} s")
        raise ListenerDeaf

    def _dispatch(self, note: psycopg.Notify) -> None:
        if note.channel == SELF_TEST_CHANNEL:
            if note.payload == self._token:
                self._heard.set()
            return  # another process's self-test
        callback = self.channels.get(note.channel)
        if callback is not None:
            callback(note.payload)

    def _set_state(self, state: State) -> None:
        if state is not self.state:
            self.state = state
            self.on_state(state)
