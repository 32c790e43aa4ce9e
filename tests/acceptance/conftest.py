"""Acceptance fixtures: start real services and always stop them, keeping their logs on failure."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from common.db import is_transaction_pooler
from common.embedded_pg import FAST_UNSAFE_SETTINGS, EmbeddedPostgres
from tests.support.databases import database_url_for
from tests.support.processes import Service, free_port


@pytest.fixture
def services(tmp_path: Path, server_url: str) -> Iterator[Callable[..., Service]]:
    """Start ``python -m web|worker`` on a database. Through a transaction pooler, the services get
    Supabase's recommended set-up: ``LISTEN_DATABASE_URL`` a session (here: direct) connection,
    unless a test sets it itself (``LISTEN_DATABASE_URL=""`` for poll-only)."""
    started: list[Service] = []

    def start(module: str, database_url: str, *, wait_healthy: bool = True, unprivileged: bool = False,
              **env: object) -> Service:
        if is_transaction_pooler(database_url) and "LISTEN_DATABASE_URL" not in env:
            env["LISTEN_DATABASE_URL"] = database_url_for(server_url, urlsplit(database_url).path.lstrip("/"))
        service = Service(module, database_url, env={k: str(v) for k, v in env.items()}, log_dir=tmp_path,
                          unprivileged=unprivileged)
        started.append(service)
        return service.start(wait_healthy=wait_healthy)

    yield start
    for service in started:
        if service.process is not None and service.process.poll() is None:
            service.process.kill()
            service.process.wait()


@pytest.fixture
def own_server() -> Iterator[EmbeddedPostgres]:
    """A server this test may stop and start (on the same port), whatever TEST_DATABASE_URL says."""
    data_dir = Path(tempfile.mkdtemp(prefix="rg-restart-pg-"))
    server = EmbeddedPostgres(data_dir, port=free_port(), settings=dict(FAST_UNSAFE_SETTINGS))
    yield server
    server.stop()
    shutil.rmtree(data_dir, ignore_errors=True)
