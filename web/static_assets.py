"""Static assets with content-versioned URLs, so that browsers keep them instead of asking again.

Templates write ``{{ static("run.js") }}``, which becomes ``/static/run.js?v=<digest of the file>``. A
request whose ``v`` is the file's current digest is answered ``Cache-Control: public, max-age=31536000,
immutable``: the page after a Run then takes its CSS and script from the browser's cache instead of a
round trip each (a conditional GET answered 304 still waits on the server, and the run page's script
waits on the CSS). Any other request (no ``v``, an old one) gets ``no-cache``, i.e. revalidate every
time, so a deployment with new files is never hidden behind an old copy.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC_DIR = Path(__file__).parent / "static"
IMMUTABLE = "public, max-age=31536000, immutable"


@lru_cache(maxsize=64)
def _digest(path: Path, mtime_ns: int, size: int) -> str:
    """Keyed by mtime and size too, so that an edited file (the dev server) gets a new URL at once."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def digest(name: str) -> str:
    path = STATIC_DIR / name
    stat = path.stat()
    return _digest(path, stat.st_mtime_ns, stat.st_size)


def static_url(name: str) -> str:
    """The URL of ``web/static/<name>`` that changes whenever the file does (a Jinja global)."""
    return f"/static/{name}?v={digest(name)}"


class VersionedStaticFiles(StaticFiles):
    """``StaticFiles`` that lets a browser keep a file for a year when the URL names its current digest."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code in (200, 304):
            wanted = dict(pair.split("=", 1) for pair in scope.get("query_string", b"").decode().split("&")
                          if "=" in pair).get("v")
            try:
                current = digest(path)
            except (OSError, ValueError):
                current = None
            response.headers["Cache-Control"] = IMMUTABLE if wanted is not None and wanted == current else "no-cache"
        return response
