"""What the web app's handlers share: settings, the database pool, metrics, templates."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from common import db
from common.config import Settings
from common.metrics import Metrics
from common.quotas import Quotas

# Job types a client may enqueue directly; START_RUN and EXPORT are created by the runs API.
API_JOB_TYPES = frozenset({"PING"})


@dataclass
class AppState:
    settings: Settings
    database_url: str
    pool: AsyncConnectionPool
    metrics: Metrics
    api_job_types: frozenset[str] = field(default=API_JOB_TYPES)

    @property
    def workspace_id(self) -> str:
        """Every query is scoped to a workspace; this deployment serves its default one."""
        return self.settings.default_workspace_id

    @property
    def quotas(self) -> Quotas:
        """The per-workspace quotas every run and dataset made through the web is checked against."""
        return Quotas.of(self.settings)

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConnection]:
        async with db.translate_errors_async(), self.pool.connection(timeout=5.0) as conn:
            yield conn
