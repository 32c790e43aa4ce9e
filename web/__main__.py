"""``python -m web``: run the web service (the same as ``reportgen web``)."""

from common.entry import run_service
from web.service import serve_web

raise SystemExit(run_service("web", serve_web))
