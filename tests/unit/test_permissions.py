"""Every route of the web app declares who may use it (issue 9): a route without one fails here."""

from __future__ import annotations

from common.config import Settings
from web.app import create_app
from web.permissions import Access, declared_access, role_allows

# DESIGN.md's open list, plus the one-time link page: like a share link, its token is the credential.
OPEN_PATHS = {"/healthz", "/readyz", "/static", "/login", "/invite/{token}"}


def _routes() -> list[tuple[str, Access | None]]:
    app = create_app(Settings.from_env({}), "postgresql://nobody@127.0.0.1:1/none", migrate=False)
    return list(declared_access(app.routes))


def test_every_route_declares_its_access() -> None:
    missing = [path for path, access in _routes() if access is None]
    assert missing == [], f"routes without a declared access: {missing}"


def test_the_open_routes_are_exactly_designs_list() -> None:
    open_paths = {path for path, access in _routes() if access is Access.OPEN}
    assert open_paths <= OPEN_PATHS, f"open without sign-in but not in DESIGN.md: {open_paths - OPEN_PATHS}"
    assert {"/healthz", "/readyz", "/static"} <= open_paths
    metrics = {path for path, access in _routes() if access is Access.METRICS}
    assert metrics == {"/metrics"}


def test_only_share_links_open_by_their_token() -> None:
    share = {path for path, access in _routes() if access is Access.SHARE}
    assert share == {"/s/{token}", "/s/{token}/download"}


def test_roles_are_ordered_viewer_editor_admin() -> None:
    assert role_allows("admin", Access.EDITOR) and role_allows("editor", Access.VIEWER)
    assert not role_allows("viewer", Access.EDITOR) and not role_allows("editor", Access.ADMIN)
    assert not role_allows("nonsense", Access.VIEWER)
    assert role_allows("viewer", Access.SIGNED_IN)
