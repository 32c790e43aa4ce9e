"""Web: POST /api/jobs and GET /api/jobs/{id} under concurrent clients from a separate load process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from bench.phases.common import PhaseError, Target, free_port, reset
from bench.systems.base import WorkerGroup, WorkerSpec
from bench.systems.reportgen import REPO


def _wait_healthy(port: int, group: WorkerGroup, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        group.check_alive()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.1)
    raise PhaseError(f"web did not answer /healthz within {timeout:.0f} s")


def _admin_token(url: str) -> str:
    """An admin's API token in the web's default workspace: the web refuses anonymous requests."""
    import asyncio

    from common import accounts, db
    from common.config import DEFAULT_WORKSPACE_ID

    async def make() -> str:
        async with await db.connect_async(url) as conn:
            user = await accounts.create_user(conn, "bench@localhost", "admin", DEFAULT_WORKSPACE_ID)
            token, _ = await accounts.create_token(conn, str(user["id"]), DEFAULT_WORKSPACE_ID, name="bench")
        return token
    return asyncio.run(make())


def _load(port: int, mode: str, clients: int, duration: float, log_dir: Path,
          ids_file: Path | None, token: str) -> dict[str, Any]:
    out = log_dir / f"webload-{mode}.json"
    argv = [sys.executable, "-m", "bench.webload", "--port", str(port), "--mode", mode,
            "--clients", str(clients), "--duration", str(duration), "--out", str(out)]
    if ids_file is not None:
        argv += ["--ids", str(ids_file)]
    subprocess.run(argv, cwd=REPO, check=True, timeout=duration + 60,
                   env={**os.environ, "REPORTGEN_API_TOKEN": token})
    result: dict[str, Any] = json.loads(out.read_text())
    if result["errors"]:
        raise PhaseError(f"web {mode}: {result['errors']} errors, last: {result.get('last_error')}")
    if not result["requests"]:
        raise PhaseError(f"web {mode}: no request completed")
    return result


def run(target: Target, clients: int, duration: float, log_dir: Path) -> dict[str, Any]:
    """Start ``python -m web`` (no worker), load POST then GET; return both summaries."""
    reset(target)
    port = free_port()
    env = {"DATABASE_URL": target.url, "PORT": str(port), "SERVICE_MODE": "web", "LOG_LEVEL": "WARNING",
           "PYTHONPATH": str(REPO)}
    group = WorkerGroup([WorkerSpec([sys.executable, "-m", "web"], env=env, cwd=REPO, port=port)], log_dir)
    with group:
        _wait_healthy(port, group)
        token = _admin_token(target.url)  # after the web's start-up migration
        post = _load(port, "post", clients, duration, log_dir, None, token)
        ids_file = log_dir / "web-ids.json"
        ids_file.write_text(json.dumps({"ids": post.pop("ids")}))
        get = _load(port, "get", clients, duration, log_dir, ids_file, token)
        get.pop("ids", None)
    return {"post": post, "get": get}
