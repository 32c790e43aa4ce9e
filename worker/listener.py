"""The worker's dedicated LISTEN connection, kept alive across database restarts.

On every (re)connect it signals a wake-up, so that the worker polls at once and catches up with
notifications sent while it was away (PostgreSQL does not keep them for absent listeners).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable

import psycopg

from common import db
from common.errors import DatabaseUnavailable

log = logging.getLogger(__name__)

CHANNEL_QUEUED = "jobs_queued"
CHANNEL_CANCEL = "jobs_cancel"
HEALTH_CHECK_SECONDS = 15.0
MAX_BACKOFF_SECONDS = 1.0  # reconnect attempts are cheap; a quick return matters more


class Listener:
    def __init__(self, url: str, *, on_queued: Callable[[str], None], on_cancel: Callable[[str], None],
                 on_state: Callable[[bool], None]) -> None:
        self.url = url
        self.on_queued = on_queued
        self.on_cancel = on_cancel
        self.on_state = on_state
        self.connected = False
        self.connections = 0  # how many times it has connected (tests and logs)

    async def run(self) -> None:
        """Listen forever; reconnect with capped, jittered backoff. Cancel the task to stop.

        Through a transaction-mode pooler LISTEN succeeds and then hears nothing, so the listener does
        not pretend: it stays down (``reportgen_listener_up 0``) and the worker runs on its poll.
        """
        if db.is_transaction_pooler(self.url):
            log.warning("the listen URL is a transaction-mode pooler, where LISTEN hears nothing: running "
                        "poll-only (set LISTEN_DATABASE_URL to a direct or session-pooler connection)")
            self._set_state(False)
            await asyncio.Event().wait()  # until cancelled at shutdown
        failures = 0
        while True:
            try:
                await self._listen_once()
                failures = 0
            except (DatabaseUnavailable, *db.TRANSIENT_ERRORS) as exc:
                failures += 1
                delay = min(MAX_BACKOFF_SECONDS, 0.1 * 2 ** min(failures, 6)) * random.uniform(0.5, 1.0)
                log.warning("listener connection lost (%s); reconnecting in %.2f s", str(exc).strip()[:200], delay)
                await asyncio.sleep(delay)
            finally:
                self._set_state(False)

    async def _listen_once(self) -> None:
        conn = await db.connect_async(self.url, application_name="report-generator-listener")
        try:
            async with db.translate_errors_async():
                await conn.execute(f"LISTEN {CHANNEL_QUEUED}")
                await conn.execute(f"LISTEN {CHANNEL_CANCEL}")
                self.connections += 1
                self._set_state(True)
                self.on_queued("reconnect")
                while True:
                    async for note in conn.notifies(timeout=HEALTH_CHECK_SECONDS):
                        if note.channel == CHANNEL_CANCEL:
                            self.on_cancel(note.payload)
                        else:
                            self.on_queued("notify")
                    # No notification for a while: prove the connection still works.
                    await conn.execute("SELECT 1")
        finally:
            self._set_state(False)
            with contextlib.suppress(psycopg.Error):
                await conn.close()

    def _set_state(self, up: bool) -> None:
        if up != self.connected:
            self.connected = up
            self.on_state(up)
