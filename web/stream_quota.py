"""The open live-status streams quota (``QUOTA_STREAMS_PER_USER``): how many SSE streams one user holds.

Counted in this web instance's memory, like ``web/rate_limit.py``: a stream holds one of this instance's
connections and a listener subscription, which is what the quota protects, so a count shared through the
database would cost a write per stream for nothing; with N instances a user holds at most N times the
limit. The key is the signed-in user, else the client's address (anonymous requests while accounts are
optional). A stream over the limit is answered 429 before it starts; the run page then polls instead.

``CountedStream`` gives the place back whenever the response ends: the run's final state, the client
going away, or an error, including a client that left before the first byte (the generator never ran).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from common.errors import QuotaExceeded
from web.permissions import user_of

RETRY_SECONDS = 10


def stream_key(request: Request) -> str:
    user = user_of(request)
    if user is not None:
        return f"user:{user}"
    return f"addr:{request.client.host if request.client else 'unknown'}"


class OpenStreams:
    def __init__(self) -> None:
        self._open: dict[str, int] = {}

    def count(self, key: str) -> int:
        return self._open.get(key, 0)

    def acquire(self, key: str, limit: int) -> Callable[[], None]:
        """Take a place (``QuotaExceeded`` when ``limit`` are open; 0: no limit); returns its release,
        which is safe to call more than once."""
        current = self._open.get(key, 0)
        if limit and current >= limit:
            raise QuotaExceeded(f"{current} live-status streams are open for you, the limit; close some pages "
                                "(this one follows the run by polling instead)", retry_after=RETRY_SECONDS,
                                details={"limit": "streams_per_user", "setting": "QUOTA_STREAMS_PER_USER",
                                         "max": limit, "current": current})
        self._open[key] = current + 1
        released = False

        def release() -> None:
            nonlocal released
            if released:
                return
            released = True
            left = self._open.get(key, 1) - 1
            if left > 0:
                self._open[key] = left
            else:
                self._open.pop(key, None)

        return release


class CountedStream(StreamingResponse):
    """A ``StreamingResponse`` that calls ``release`` once it has ended, however it ended."""

    def __init__(self, content: Any, release: Callable[[], None], **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self._release = release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._release()
