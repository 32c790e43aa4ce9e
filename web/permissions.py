"""Who may use each route: every route of the app declares exactly one ``Access``.

A route without a declaration is a bug that ``tests/unit/test_permissions.py`` catches by walking the
whole route table, so nothing becomes reachable without sign-in by accident (issue 9). Build routes with
this module's ``Route`` and ``Mount`` instead of Starlette's: they are Starlette's, plus ``access``.

``workspace_of`` and ``user_of`` are the one way a handler learns whom it serves: every query is scoped
to ``workspace_of(request)``, never to a workspace id taken from the request's own input.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from starlette import routing
from starlette.requests import Request


class Access(enum.StrEnum):
    """Ordered from open to most privileged; the roles are DESIGN.md's (viewer < editor < admin)."""

    OPEN = "open"  # no credential: /login, /healthz, /readyz, /static, /openapi.json
    METRICS = "metrics"  # open unless METRICS_TOKEN is set, then that bearer token
    SHARE = "share"  # a share link's own token (/s/<token>)
    SIGNED_IN = "signed_in"  # any signed-in user, whatever their role (sign-out, my tokens, switcher)
    VIEWER = "viewer"
    EDITOR = "editor"
    ADMIN = "admin"


ROLE_ORDER = (Access.VIEWER, Access.EDITOR, Access.ADMIN)


def role_allows(role: str, needed: Access) -> bool:
    """Whether a member with ``role`` may use a route that needs ``needed``."""
    if needed not in ROLE_ORDER:
        return True
    return role in ROLE_ORDER and ROLE_ORDER.index(Access(role)) >= ROLE_ORDER.index(needed)


class Route(routing.Route):
    def __init__(self, path: str, endpoint: Callable[..., Any], *, access: Access,
                 methods: Sequence[str] | None = None, name: str | None = None) -> None:
        from web.auth import guard  # enforcement (issue 9) sits inside the matched route

        super().__init__(path, guard(endpoint, access), methods=list(methods) if methods else None,
                         name=name or getattr(endpoint, "__name__", None))
        self.access = access


class Mount(routing.Mount):
    def __init__(self, path: str, app: Any, *, access: Access, name: str | None = None) -> None:
        super().__init__(path, app=app, name=name)
        self.access = access


def declared_access(routes: Sequence[routing.BaseRoute]) -> Iterator[tuple[str, Access | None]]:
    """(path, access or None) for every route of a table, for the test that fails on a missing one."""
    for route in routes:
        path = getattr(route, "path", repr(route))
        yield path, getattr(route, "access", None)


def access_of(request: Request) -> Access:
    """The access the matched route declared (routes without one never match: the test forbids them)."""
    route = request.scope.get("route")
    access = getattr(route, "access", None)
    if not isinstance(access, Access):
        raise RuntimeError(f"route {request.url.path!r} declares no access")
    return access


def workspace_of(request: Request) -> str:
    """The workspace this request acts in.

    Until accounts land (issue 9) every request acts in the deployment's default workspace; afterwards
    it is the credential's (a token's workspace, a session's current one)."""
    principal = getattr(request.state, "principal", None)
    if principal is not None:
        return str(principal.workspace_id)
    return str(request.app.state.rg.settings.default_workspace_id)


def user_of(request: Request) -> str | None:
    """The signed-in user's id, or None (open routes, share links, no accounts yet)."""
    principal = getattr(request.state, "principal", None)
    return None if principal is None else str(principal.user_id)


def may(request: Request, needed: Access) -> bool:
    """Whether this request's credential reaches ``needed`` (for showing a page's buttons and forms; the
    route's own ``access`` is what enforces). Without a credential, only what is open."""
    principal = getattr(request.state, "principal", None)
    if principal is None:
        return needed in (Access.OPEN, Access.SHARE)
    return role_allows(str(principal.role), needed)
