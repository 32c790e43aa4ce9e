"""Rendering pages: the Jinja2 loader, and the CSRF token every page's forms carry (and its cookie)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from web import csrf
from web.static_assets import static_url

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
TEMPLATES.env.globals["static"] = static_url


async def page(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> Response:
    """Render ``name`` with ``csrf_token`` in its context, and send the matching cookie."""
    token = await csrf.token_for(request)
    response = TEMPLATES.TemplateResponse(request, name, {**context, "csrf_token": token},
                                          status_code=status_code)
    csrf.set_cookie(response, token)
    response.headers["Cache-Control"] = "no-store"
    return response
