"""Fixtures shared by every tier: a real PostgreSQL, a fresh database per test, real processes.

The server is the embedded one (started once per session, fsync off) unless ``TEST_DATABASE_URL`` points
at another; each test gets its own database cloned from a migrated template, in tens of milliseconds.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from common.embedded_pg import FAST_UNSAFE_SETTINGS, EmbeddedPostgres
from common.migrate import migrate
from tests.support.databases import CALLS_DDL, database_url_for
from tests.support.pgbouncer import INSTALL_HINT, PgBouncer, find_pgbouncer

DB_TIERS = ("integration", "acceptance")


def through_pgbouncer() -> bool:
    """``TEST_THROUGH_PGBOUNCER=1`` (``make test-pgbouncer``): ``database_url`` goes through a real
    PgBouncer in transaction mode; creating and dropping databases still goes direct."""
    return os.environ.get("TEST_THROUGH_PGBOUNCER") == "1"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if any(f"tests/{tier}/" in str(item.path).replace(os.sep, "/") for tier in DB_TIERS):
            item.add_marker(pytest.mark.db)


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    """A PostgreSQL server for the session: TEST_DATABASE_URL, or a fresh embedded one."""
    external = os.environ.get("TEST_DATABASE_URL")
    if external:
        yield external
        return
    data_dir = Path(tempfile.mkdtemp(prefix="rg-test-pg-"))  # under /tmp: reachable by the server's account
    server = EmbeddedPostgres(data_dir, settings=dict(FAST_UNSAFE_SETTINGS))
    server.start()
    yield server.url
    server.stop()
    shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def template_db(server_url: str) -> Iterator[str]:
    name = f"rg_template_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    migrate(database_url_for(server_url, name), "c8e2bd7a-abe8-4ae2-9d77-720fabab07e4")
    yield name
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pgbouncer(server_url: str) -> Iterator[PgBouncer]:
    """A real PgBouncer (transaction mode) in front of the session's server."""
    if find_pgbouncer() is None:
        if os.environ.get("CI") or os.environ.get("REPORTGEN_REQUIRE_TOOLS") == "1" or through_pgbouncer():
            pytest.fail(f"pgbouncer is required here but not installed; {INSTALL_HINT}")
        pytest.skip(f"pgbouncer not installed ({INSTALL_HINT}); CI and REPORTGEN_REQUIRE_TOOLS=1 make this a failure")
    bouncer = PgBouncer(server_url).start()
    yield bouncer
    bouncer.stop()


@pytest.fixture
def direct_database_url(server_url: str, template_db: str) -> Iterator[str]:
    """A fresh, migrated database for one test, dropped afterwards; always a direct connection."""
    name = f"rg_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
    url = database_url_for(server_url, name)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(CALLS_DDL)
    yield url
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def as_reached(request: pytest.FixtureRequest) -> Callable[[str], str]:
    """A database URL as the code under test reaches it: direct, or through PgBouncer in transaction
    mode (``?pool_mode=transaction``) when ``TEST_THROUGH_PGBOUNCER=1``."""
    def reach(direct_url: str) -> str:
        if not through_pgbouncer():
            return direct_url
        bouncer: PgBouncer = request.getfixturevalue("pgbouncer")
        return bouncer.url_for(direct_url)
    return reach


@pytest.fixture
def database_url(as_reached: Callable[[str], str], direct_database_url: str) -> str:
    """The test's database as the code under test reaches it (see ``as_reached``)."""
    return as_reached(direct_database_url)


@pytest.fixture
def empty_database_url(server_url: str) -> Iterator[str]:
    """A fresh database with no schema at all (for migration tests)."""
    name = f"rg_empty_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield database_url_for(server_url, name)
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
