"""What authentication costs per API request: ``GET /api/templates`` with a credential vs with none checked.

In process (httpx's ASGITransport against ``web.app.create_app``, no sockets, one client at a time), on an
embedded PostgreSQL over TCP on localhost, with the web's own connection pool. The same app, handler and
query every time, so the differences are what ``web/auth.py`` adds: one indexed lookup of the
credential's sha256 (``token_authenticate`` or ``session_authenticate``, joined to the membership) on a
pooled connection, and the role check. Measured:

- ``auth bypassed``: the floor. Anonymous requests are refused everywhere now, so this bench swaps
  ``web.auth.check`` for one that sets the same principal without a lookup (on requests marked with a
  bench header; the others go through the real check). Only this bench does that;
- ``bearer token``: ``Authorization: Bearer rg_...``;
- ``session cookie``: ``rg_session`` (a signed-in browser's request);
- ``no credential (401)`` and ``bad token (401)``: refusals, for scale;
- ``open route (/healthz)``: no auth, no query;
- ``token lookup alone``: ``accounts.authenticate_token`` on one connection, without HTTP;
- ``a pooled connection alone``: what ``check`` pays before its query (the pool checks a connection
  with a round trip when it hands it out).

Requests alternate in blocks so that drift (CPU frequency, other load) hits every variant alike.

    .venv/bin/python -m bench.auth_cost [--requests 2000] [--block 100]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
from starlette.requests import Request
from starlette.responses import Response

import web.auth
from bench.stats import percentile
from common import accounts, db, sessions
from common.config import DEFAULT_WORKSPACE_ID, Settings
from common.embedded_pg import EmbeddedPostgres
from common.examples_seed import seed_examples
from common.migrate import migrate
from web.app import create_app
from web.permissions import Access

BYPASS = "x-bench-bypass-auth"


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _credentials(url: str) -> tuple[str, str, accounts.Principal]:
    """(an admin's API token, a session cookie of the same user, their principal)."""
    async with await db.connect_async(url) as conn:
        user = await accounts.create_user(conn, "bench@auth-cost.test", "admin", DEFAULT_WORKSPACE_ID)
        token, _ = await accounts.create_token(conn, str(user["id"]), DEFAULT_WORKSPACE_ID, name="bench")
        cookie = await sessions.create(conn, str(user["id"]), DEFAULT_WORKSPACE_ID, max_age=dt.timedelta(days=1))
        principal = await accounts.authenticate_token(conn, token)
    assert principal is not None
    return token, cookie, principal


def _bypassable(principal: accounts.Principal) -> None:
    """``web.auth.check`` as it is, except on requests with the bench's header: those get ``principal``
    without a lookup (the floor). ``guard`` looks ``check`` up at each request, so this takes effect."""
    real = web.auth.check

    async def check(request: Request, access: Access) -> Response | None:
        if request.headers.get(BYPASS):
            request.state.principal = principal
            return None
        return await real(request, access)

    web.auth.check = check


async def _measure(url: str, requests: int, block: int) -> dict[str, list[float]]:
    token, cookie, principal = await _credentials(url)
    await seed_examples(url, DEFAULT_WORKSPACE_ID)  # a realistic list: the shipped example templates
    _bypassable(principal)
    app = create_app(Settings.from_env({}), url, migrate=False)
    samples: dict[str, list[float]] = {}
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:
        bearer = {"Authorization": f"Bearer {token}"}
        session = {"Cookie": f"{sessions.COOKIE}={cookie}"}
        bad = {"Authorization": "Bearer rg_" + "x" * 43}

        def get(path: str, headers: dict[str, str], status: int) -> Callable[[], Awaitable[None]]:
            async def one() -> None:
                response = await client.get(path, headers=headers)
                assert response.status_code == status, (path, response.status_code, response.text[:200])
            return one

        async with app.state.rg.connection() as conn:
            async def lookup() -> None:
                assert await accounts.authenticate_token(conn, token) is not None

            async def pooled() -> None:
                async with app.state.rg.connection():
                    pass

            async def pooled_lookup() -> None:
                async with app.state.rg.connection() as own:
                    assert await accounts.authenticate_token(own, token) is not None

            variants = {"auth bypassed (floor)": get("/api/templates", {BYPASS: "1"}, 200),
                        "bearer token": get("/api/templates", bearer, 200),
                        "session cookie": get("/api/templates", session, 200),
                        "no credential (401)": get("/api/templates", {}, 401),
                        "bad token (401)": get("/api/templates", bad, 401),
                        "open route (/healthz)": get("/healthz", {}, 200),
                        "token lookup alone (no HTTP)": lookup,
                        "a pooled connection alone (getconn + its check)": pooled,
                        "token lookup on a pooled connection (no HTTP)": pooled_lookup}
            for call in variants.values():  # warm up: pool connections, prepared statements, caches
                for _ in range(50):
                    await call()
            done = 0
            while done < requests:
                for name, call in variants.items():
                    times = samples.setdefault(name, [])
                    for _ in range(block):
                        started = time.perf_counter()
                        await call()
                        times.append(time.perf_counter() - started)
                done += block
    return samples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000, help="per variant")
    parser.add_argument("--block", type=int, default=100, help="requests of one variant in a row")
    args = parser.parse_args(argv)
    data_dir = Path(tempfile.mkdtemp(prefix="rg-bench-auth-"))
    server = EmbeddedPostgres(data_dir, port=_port())
    try:
        url = server.start()
        migrate(url, DEFAULT_WORKSPACE_ID)
        samples = asyncio.run(_measure(url, args.requests, args.block))
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    us = {name: sorted(t * 1e6 for t in times) for name, times in samples.items()}
    print("load average (1, 5, 15 min) at the end: " + ", ".join(f"{v:.1f}" for v in os.getloadavg())
          + f" on {os.cpu_count()} CPUs\n")
    print(f"| {args.requests} requests each, in blocks of {args.block} | p50 µs | p99 µs |\n|---|---|---|")
    for name, values in us.items():
        print(f"| {name} | {percentile(values, 50):,.0f} | {percentile(values, 99):,.0f} |")
    base = us["auth bypassed (floor)"]
    for name in ("bearer token", "session cookie"):
        print(f"\n{name} adds: p50 {percentile(us[name], 50) - percentile(base, 50):+,.0f} µs, "
              f"p99 {percentile(us[name], 99) - percentile(base, 99):+,.0f} µs per request", end="")
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
