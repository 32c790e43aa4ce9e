"""``POST /api/templates/preview``: render an unsaved template on its sample data (the editor's live view).

Rate-limited per user and workspace (``PREVIEW_BURST`` at once, then ``PREVIEW_PER_SECOND``): each call
starts a sandboxed render process, the same one a run uses (``RENDER_MEMORY_MB``), and at most
``PREVIEW_SLOTS`` of them run at once in this process (the rest wait), so that previews fit its memory.
The editor sends one ~400 ms after typing stops, far below the limit; a script hammering the endpoint
gets 429 with ``Retry-After``.
A template error is not an HTTP error here: the answer is 200 with ``error`` (message, line, kind), the
words the run page would show, so the editor can mark the line.
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import JSONResponse

from common.reports import sandbox
from common.template_preview import PreviewRequest, preview
from web.permissions import Access, Route, user_of, workspace_of
from web.rate_limit import TokenBucket
from web.request_body import read_json
from web.state import AppState

MAX_BODY = 512 * 1024
PREVIEW_BURST = 10
PREVIEW_PER_SECOND = 2.0


def _bucket(request: Request) -> TokenBucket:
    bucket: TokenBucket | None = getattr(request.app.state, "preview_bucket", None)
    if bucket is None:
        bucket = TokenBucket(PREVIEW_BURST, PREVIEW_PER_SECOND, what="previews")
        request.app.state.preview_bucket = bucket
    return bucket


def _slots(request: Request) -> asyncio.Semaphore:
    """At most ``PREVIEW_SLOTS`` render children at once: what fits this container (memory_budget)."""
    slots: asyncio.Semaphore | None = getattr(request.app.state, "preview_slots", None)
    if slots is None:
        slots = asyncio.Semaphore(request.app.state.rg.settings.preview_slots)
        request.app.state.preview_slots = slots
    return slots


async def preview_template(request: Request) -> JSONResponse:
    state: AppState = request.app.state.rg
    workspace = workspace_of(request)
    _bucket(request).take(f"{workspace}:{user_of(request) or '-'}")
    wanted = PreviewRequest.from_json(await read_json(request, MAX_BODY))
    limits = sandbox.limits_for(state.settings.render_memory_mb)
    async with _slots(request), state.connection() as conn:
        answer = await preview(conn, workspace, wanted, limits)
    return JSONResponse(answer)


ROUTES = [Route("/api/templates/preview", preview_template, methods=["POST"], access=Access.EDITOR)]
