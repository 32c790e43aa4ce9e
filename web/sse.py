"""Live run status: one LISTEN connection per web process, fanned out to Server-Sent Event streams.

``EventHub`` holds the process's listener (``common.listener``, shared with the worker) on
``job_events`` (the job status trigger, plus the START_RUN handler's progress events) and wakes the
subscribers of the event's ``run_id``. An
event only says "look again": each stream re-reads the run from the database and sends it when it
changed, so a lost or coalesced notification costs nothing but latency. Streams also re-read on every
heartbeat (and every 2 s while the listener is down; a database outage keeps the stream open, retrying),
send a heartbeat comment so proxies keep the connection, and end after the run's final state (the
browser's EventSource then stops; the page falls back to polling ``GET /api/runs/{id}`` when EventSource
is missing or fails). With ``?report=html`` a COMPLETED run's stream also carries the report (event
``report``: the same sanitised HTML as the run page's ``/fragment``) between the final ``run`` event and
``end``, so the page shows it without another request after the event: one round trip fewer on the way
from "Run" to the report. A user holds at most ``QUOTA_STREAMS_PER_USER`` streams at once
(``web/stream_quota.py``): one more is answered 429.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import StreamingResponse

from common import runs
from common.errors import DatabaseUnavailable, ValidationError
from common.listener import Listener, State
from web.permissions import Access, Route, workspace_of
from web.state import AppState
from web.stream_quota import CountedStream, OpenStreams, stream_key

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 15.0
DOWN_RECHECK_SECONDS = 2.0
MAX_STREAM_SECONDS = 30 * 60.0  # then the browser reconnects by itself (EventSource retry)
CHANNEL = "job_events"


class EventHub:
    """The process's one listener; ``subscribe(run_id)`` gives a queue that is poked on each event."""

    def __init__(self, url: str, workspace_id: str | None = None) -> None:
        self.url = url
        self.workspace_id = workspace_id
        self.connected = asyncio.Event()
        self._subscribers: dict[str, set[asyncio.Queue[None]]] = {}
        self._task: asyncio.Task[None] | None = None
        # The process's one LISTEN connection (common/listener.py: reconnects, and proves it hears by a
        # NOTIFY to itself); every (re)connect pokes every stream, since events may have been missed.
        self.listener = Listener(url, {CHANNEL: self._dispatch}, name="report-generator-web-events",
                                 on_state=self._on_state, on_up=lambda: self.publish(None))

    def _on_state(self, state: State) -> None:
        if state is State.UP:
            self.connected.set()
        else:
            self.connected.clear()

    def start(self) -> None:
        self._task = asyncio.create_task(self.listener.run(), name="sse-listener")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def subscribe(self, run_id: str) -> asyncio.Queue[None]:
        queue: asyncio.Queue[None] = asyncio.Queue(maxsize=1)
        self._subscribers.setdefault(run_id, set()).add(queue)
        return queue

    def unsubscribe(self, run_id: str, queue: asyncio.Queue[None]) -> None:
        subs = self._subscribers.get(run_id)
        if subs is not None:
            subs.discard(queue)
            if not subs:
                del self._subscribers[run_id]

    @property
    def subscriber_count(self) -> int:
        return sum(len(s) for s in self._subscribers.values())

    def publish(self, run_id: str | None) -> None:
        """Poke the subscribers of ``run_id`` (None: everyone, after a reconnect may have lost events)."""
        targets = self._subscribers.values() if run_id is None else [self._subscribers.get(run_id, set())]
        for subs in list(targets):
            for queue in list(subs):
                with contextlib.suppress(asyncio.QueueFull):  # already poked: one re-read covers both
                    queue.put_nowait(None)

    def _dispatch(self, payload: str) -> None:
        try:
            event = json.loads(payload)
        except ValueError:
            return
        if isinstance(event, dict) and event.get("run_id") and (
                self.workspace_id is None or event.get("workspace_id") == self.workspace_id):
            self.publish(str(event["run_id"]))


async def wait_for_change(hub: EventHub, queue: asyncio.Queue[None], timeout: float) -> bool:
    """True when poked before ``timeout``; re-check sooner while the listener is down."""
    limit = timeout if hub.connected.is_set() else min(timeout, DOWN_RECHECK_SECONDS)
    try:
        await asyncio.wait_for(queue.get(), limit)
        return True
    except TimeoutError:
        return False


async def wait_until_final(request: Request, run_id: str, seconds: float) -> None:
    """Until the run is COMPLETED, FAILED or CANCELLED, or ``seconds`` passed (then the page shows progress).

    The "Run" form calls it before its redirect: a report that takes 50 ms then arrives inside the run page
    itself, with no EventSource, stream open or fragment after the page (one stream per run fewer; the
    end-to-end gain on 2 cores is within the noise of two runs, docs/benchmarks.md 2026-12-04).
    Subscribing before the first read closes the race with a run that finishes in between; no connection
    is held while waiting. Best effort: it never fails the request."""
    if seconds <= 0:
        return
    state: AppState = request.app.state.rg
    hub: EventHub = request.app.state.events
    deadline = time.monotonic() + seconds
    queue = hub.subscribe(run_id)
    try:
        while True:
            async with state.connection() as conn:
                if (await runs.get(conn, workspace_of(request), run_id))["status"] in runs.FINAL:
                    return
            left = deadline - time.monotonic()
            if left <= 0:
                return
            await wait_for_change(hub, queue, left)  # a poke, the deadline, or a re-check while unheard
    except DatabaseUnavailable:
        return  # the run exists; its page says what the database does
    finally:
        hub.unsubscribe(run_id, queue)


_LINE_BREAK = re.compile(r"\r\n|\r|\n")  # what an SSE parser splits on (not str.splitlines's set)


def _frame(event: str, data: str) -> str:
    """One event; a multi-line ``data`` goes as one ``data:`` field per line (the client joins them with LF)."""
    return f"event: {event}\n" + "".join(f"data: {line}\n" for line in _LINE_BREAK.split(data)) + "\n"


def _wants_report(request: Request) -> bool:
    wanted = request.query_params.get("report")
    if wanted not in (None, "html"):
        raise ValidationError("report must be 'html' (or left out)", details={"report": "expected 'html'"})
    return wanted == "html"


async def run_events(request: Request) -> StreamingResponse:
    state: AppState = request.app.state.rg
    hub: EventHub = request.app.state.events
    run_id = runs.run_id(request.path_params["run_id"])
    with_report = _wants_report(request)
    async with state.connection() as conn:
        await runs.get(conn, workspace_of(request), run_id)  # 404 before the stream starts
    streams: OpenStreams = request.app.state.streams
    release = streams.acquire(stream_key(request), state.settings.quota_streams_per_user)  # or 429

    async def stream() -> AsyncIterator[str]:
        queue = hub.subscribe(run_id)
        try:
            yield "retry: 2000\n: connected\n\n"
            last = ""
            started = time.monotonic()
            while time.monotonic() - started < MAX_STREAM_SECONDS:
                try:
                    async with state.connection() as conn:
                        row = await runs.get(conn, workspace_of(request), run_id)
                        report = (await runs.get_report(conn, workspace_of(request), run_id)
                                  if with_report and row["status"] == "COMPLETED" else None)
                except DatabaseUnavailable as exc:
                    # The database restarts: keep the stream (the body has begun, so an error status is no
                    # longer possible, and a reconnecting browser would get a 503 and give up on live updates).
                    log.warning("database unavailable while streaming %s: %s; retrying", request.url.path, exc)
                    yield ": database unavailable, retrying\n\n"
                    await wait_for_change(hub, queue, DOWN_RECHECK_SECONDS)
                    continue
                payload = json.dumps(runs.to_json(row))
                frames = ""
                if payload != last:
                    last = payload
                    frames = _frame("run", payload)
                if row["status"] in runs.FINAL:
                    if report is not None and report["report_html"] is not None:
                        frames += _frame("report", report["report_html"])
                    # One write for the last frames: the page has all it needs in one read.
                    yield frames + _frame("end", json.dumps({"status": row["status"]}))
                    return
                if frames:
                    yield frames
                if not await wait_for_change(hub, queue, HEARTBEAT_SECONDS):
                    yield ": heartbeat\n\n"
        finally:
            hub.unsubscribe(run_id, queue)

    return CountedStream(stream(), release, media_type="text/event-stream",
                         headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


ROUTES = [Route("/api/runs/{run_id}/events", run_events, methods=["GET"], access=Access.VIEWER)]
