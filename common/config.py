"""Configuration, read once from the environment into one typed object.

Nothing here runs at import time; ``Settings.from_env()`` is called by the entry points. Every problem
becomes one ``ConfigError`` line, which the CLI prints before exiting with status 2.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar
from urllib.parse import parse_qsl, urlsplit

from common import memory_budget
from common.errors import ConfigError

DEFAULT_WORKSPACE_ID = "c8e2bd7a-abe8-4ae2-9d77-720fabab07e4"
SERVICE_MODES = ("web", "worker", "all")
T = TypeVar("T", int, float)
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def default_data_dir() -> Path:
    """Where ``make run`` keeps its embedded database: ``.data/`` in the checkout."""
    return Path(os.environ.get("REPORTGEN_DATA_DIR") or PROJECT_ROOT / ".data")


@dataclass(frozen=True)
class Settings:
    database_url: str | None = None
    # A session connection (direct, or a session-mode pooler) for LISTEN, when DATABASE_URL is a
    # transaction pooler; None: the listeners use DATABASE_URL.
    listen_database_url: str | None = None
    # "transaction" or "session" when DATABASE_URL goes through a pooler the URL does not give away
    # (port 6543 is taken for transaction mode without it); None: decided from the URL.
    database_pool_mode: str | None = None
    service_mode: str = "all"
    default_workspace_id: str = DEFAULT_WORKSPACE_ID
    host: str = "127.0.0.1"
    port: int = 8000
    port_set: bool = True  # PORT was given: a worker without it serves health on a free port instead
    poll_interval_seconds: float = 5.0
    worker_concurrency: int = 4
    # Slots of the light job types (handler modules list them in LIGHT_TYPES: PING), apart from the
    # WORKER_CONCURRENCY slots of the rest (renders, exports), so that cheap jobs never wait for a render.
    worker_light_concurrency: int = 64
    worker_processes: int = 1
    # Set by the WORKER_PROCESSES supervisor for its children: serve health/metrics on this unix socket.
    health_socket: str | None = None
    supervisor_pid: int | None = None  # set by WORKER_PROCESSES' parent: a child leaves when it dies
    job_lease_seconds: float = 30.0
    shutdown_grace_seconds: float = 8.0
    log_format: str = "text"
    log_level: str = "INFO"
    max_payload_bytes: int = 64 * 1024
    handler_modules: tuple[str, ...] = ()
    job_retention_days: float = 14.0
    audit_retention_days: float = 90.0  # audit events older than this are pruned (worker/reaper.py)
    retry_backoff_seconds: float = 2.0
    worker_id: str | None = None
    # Ceilings of report work (issue 11): START_RUN and EXPORT jobs in flight per worker process (the
    # rest of WORKER_CONCURRENCY stays free for other jobs; unset: as many as fit the container's memory,
    # common/memory_budget.py), and the children's limits. The web runs at most preview_slots previews.
    report_slots: int = 2
    # Warm render processes per service process (common/reports/pool.py), each used for one render; 0: a
    # fresh interpreter per render (about 250 ms more per report).
    render_pool_size: int = 2
    # Warm PDF processes per worker process (common/reports/pdf.py), each used for one export; 0: a fresh
    # interpreter per export (0.6-0.7 s of CPU more per PDF).
    pdf_pool_size: int = 1
    # The web's "Run" form (and the editor's preview) holds its redirect this long for the run to finish,
    # so that a quick report comes inside the run page itself (no stream, no second fetch); 0: at once.
    run_page_wait_seconds: float = 0.5
    preview_slots: int = 2
    render_memory_mb: int = 512
    pdf_timeout_seconds: float = 60.0
    pdf_memory_mb: int = 320
    pdf_max_pages: int = 50
    data_dir: Path = field(default_factory=default_data_dir)
    # Accounts (issue 9): METRICS_TOKEN guards /metrics when set. A browser session ends after
    # SESSION_IDLE_HOURS unused or SESSION_MAX_DAYS after sign-in, whichever comes first.
    metrics_token: str | None = None
    session_idle_hours: float = 12.0
    session_max_days: float = 14.0
    # Schedules' deliveries (docs/schedules.md): smtp://[user:pass@]host[:port] (STARTTLS when offered)
    # or smtps:// (TLS from the start, port 465); None: e-mail deliveries fail saying so.
    smtp_url: str | None = None
    smtp_from: str = "report-generator@localhost"
    webhook_allow_private: bool = False  # let webhooks reach private/loopback/link-local addresses
    public_base_url: str = "http://127.0.0.1:8000"  # links in e-mails and webhooks
    max_attachment_bytes: int = 10 * 1024 * 1024
    scheduler_enabled: bool = True
    # Quotas (issue 9, common/quotas.py; 0 turns one off): queued + running runs per workspace, runs
    # started per minute per workspace, dataset bytes stored per workspace, open live-status streams per user.
    quota_active_runs: int = 50
    quota_runs_per_minute: int = 60
    quota_dataset_bytes: int = 500 * 1024 * 1024
    quota_streams_per_user: int = 20

    @property
    def session_idle(self) -> dt.timedelta:
        return dt.timedelta(hours=self.session_idle_hours)

    @property
    def session_max_age(self) -> dt.timedelta:
        return dt.timedelta(days=self.session_max_days)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        url = env.get("DATABASE_URL") or None
        if url is not None:
            _check_url(url)
        listen_url = env.get("LISTEN_DATABASE_URL") or None
        if listen_url is not None:
            _check_url(listen_url, "LISTEN_DATABASE_URL")
        pool_mode = env.get("DATABASE_POOL_MODE", "").strip().lower() or None
        if pool_mode not in (None, "transaction", "session"):
            raise ConfigError(f"DATABASE_POOL_MODE must be transaction or session (got {pool_mode!r})")
        mode = env.get("SERVICE_MODE", "all").strip().lower()
        if mode not in SERVICE_MODES:
            raise ConfigError(f"SERVICE_MODE must be one of web, worker, all (got {mode!r})")
        workspace = env.get("DEFAULT_WORKSPACE_ID", DEFAULT_WORKSPACE_ID).strip()
        try:
            workspace = str(uuid.UUID(workspace))
        except ValueError:
            raise ConfigError(f"DEFAULT_WORKSPACE_ID must be a UUID (got {workspace!r})") from None
        log_format = env.get("LOG_FORMAT", "text").strip().lower()
        if log_format not in ("text", "json"):
            raise ConfigError(f"LOG_FORMAT must be text or json (got {log_format!r})")
        modules = tuple(m.strip() for m in env.get("REPORTGEN_HANDLER_MODULES", "").split(",") if m.strip())
        concurrency = _number(env, "WORKER_CONCURRENCY", 4, int, 1, 1000)
        processes = _number(env, "WORKER_PROCESSES", 1, int, 1, 256)
        render_mb = _number(env, "RENDER_MEMORY_MB", 512, int, 128, 65536)
        pdf_mb = _number(env, "PDF_MEMORY_MB", 320, int, 128, 65536)
        container = memory_budget.container_memory_bytes()
        render_pool = _number(env, "RENDER_POOL_SIZE", 2, int, 0, 64)
        pdf_pool = _number(env, "PDF_POOL_SIZE", 1, int, 0, 64)
        return cls(
            database_url=url,
            listen_database_url=listen_url,
            database_pool_mode=pool_mode,
            service_mode=mode,
            default_workspace_id=workspace,
            host=env.get("HOST", "127.0.0.1" if "K_SERVICE" not in env else "0.0.0.0"),
            port=_number(env, "PORT", 8000, int, 1, 65535),
            port_set=bool(env.get("PORT", "").strip()),
            poll_interval_seconds=_number(env, "POLL_INTERVAL_SECONDS", 5.0, float, 0.05, 3600),
            worker_concurrency=concurrency,
            worker_light_concurrency=_number(env, "WORKER_LIGHT_CONCURRENCY", 64, int, 1, 1000),
            worker_processes=processes,
            health_socket=env.get("REPORTGEN_HEALTH_SOCKET") or None,
            supervisor_pid=_number(env, "REPORTGEN_SUPERVISOR_PID", 0, int, 0, 2**31 - 1) or None,
            job_lease_seconds=_number(env, "JOB_LEASE_SECONDS", 30.0, float, 0.5, 86400),
            shutdown_grace_seconds=_number(env, "SHUTDOWN_GRACE_SECONDS", 8.0, float, 0, 3600),
            log_format=log_format,
            metrics_token=env.get("METRICS_TOKEN", "").strip() or None,
            session_idle_hours=_number(env, "SESSION_IDLE_HOURS", 12.0, float, 0.01, 24 * 365),
            session_max_days=_number(env, "SESSION_MAX_DAYS", 14.0, float, 0.01, 3650),
            log_level=env.get("LOG_LEVEL", "INFO").strip().upper(),
            max_payload_bytes=_number(env, "MAX_PAYLOAD_BYTES", 64 * 1024, int, 2, 8 * 1024 * 1024),
            handler_modules=modules,
            job_retention_days=_number(env, "JOB_RETENTION_DAYS", 14.0, float, 0.0, 36500),
            audit_retention_days=_number(env, "AUDIT_RETENTION_DAYS", 90.0, float, 1.0, 36500),
            retry_backoff_seconds=_number(env, "RETRY_BACKOFF_SECONDS", 2.0, float, 0.0, 3600),
            worker_id=env.get("WORKER_ID") or None,
            report_slots=min(concurrency, _number(env, "REPORT_SLOTS", memory_budget.fitting_slots(
                container, max(render_mb, pdf_mb), memory_budget.WORKER_PER_SLOT_MB, ceiling=concurrency,
                processes=processes, pool=render_pool, pdf_pool=pdf_pool), int, 1, 1000)),
            render_pool_size=render_pool,
            pdf_pool_size=pdf_pool,
            run_page_wait_seconds=_number(env, "RUN_PAGE_WAIT_SECONDS", 0.5, float, 0.0, 10.0),
            preview_slots=_number(env, "PREVIEW_SLOTS", memory_budget.fitting_slots(
                container, render_mb, memory_budget.WEB_PER_SLOT_MB, ceiling=8, pool=render_pool), int, 1, 1000),
            render_memory_mb=render_mb,
            pdf_timeout_seconds=_number(env, "PDF_TIMEOUT_SECONDS", 60.0, float, 1.0, 3600),
            pdf_memory_mb=pdf_mb,
            pdf_max_pages=_number(env, "PDF_MAX_PAGES", 50, int, 1, 100_000),
            data_dir=Path(env["REPORTGEN_DATA_DIR"]) if env.get("REPORTGEN_DATA_DIR") else default_data_dir(),
            smtp_url=_smtp_url(env.get("SMTP_URL", "").strip() or None),
            smtp_from=env.get("SMTP_FROM", "").strip() or "report-generator@localhost",
            webhook_allow_private=_flag(env, "WEBHOOK_ALLOW_PRIVATE"),
            public_base_url=_base_url(env.get("PUBLIC_BASE_URL", "").strip() or "http://127.0.0.1:8000"),
            max_attachment_bytes=_number(env, "MAX_ATTACHMENT_BYTES", 10 * 1024 * 1024, int, 0, 1 << 30),
            scheduler_enabled=not _flag(env, "SCHEDULER_DISABLED"),
            quota_active_runs=_number(env, "QUOTA_ACTIVE_RUNS", 50, int, 0, 1_000_000),
            quota_runs_per_minute=_number(env, "QUOTA_RUNS_PER_MINUTE", 60, int, 0, 1_000_000),
            quota_dataset_bytes=_number(env, "QUOTA_DATASET_BYTES", 500 * 1024 * 1024, int, 0, 1 << 50),
            quota_streams_per_user=_number(env, "QUOTA_STREAMS_PER_USER", 20, int, 0, 100_000),
        )


def listen_url(settings: Settings, database_url: str) -> str:
    """Where the listeners LISTEN: ``LISTEN_DATABASE_URL`` when set, else the main database URL."""
    return settings.listen_database_url or database_url


def _number(env: Mapping[str, str], name: str, default: T, kind: type[T],
                             low: float, high: float) -> T:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = kind(raw.strip())
    except ValueError:
        raise ConfigError(f"{name} must be {'an integer' if kind is int else 'a number'} (got {raw!r})") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low:g} and {high:g} (got {raw!r})")
    return value


def _check_url(url: str, name: str = "DATABASE_URL") -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres") or not (parts.hostname or parts.path):
        raise ConfigError(f"{name} must look like postgresql://user:password@host:5432/dbname")
    try:
        parts.port  # noqa: B018 - raises on a non-numeric port
    except ValueError:
        raise ConfigError(f"{name} has a port that is not a number") from None
    mode = next((v for k, v in parse_qsl(parts.query) if k == "pool_mode"), None)
    if mode is not None and mode.lower() not in ("transaction", "session"):
        raise ConfigError(f"{name} has pool_mode={mode!r}; it must be transaction or session")


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no"):
        return False
    if raw in ("1", "true", "yes"):
        return True
    raise ConfigError(f"{name} must be 1 or 0 (got {raw!r})")


def _smtp_url(url: str | None) -> str | None:
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ConfigError("SMTP_URL must look like smtp://user:password@host:587 or smtps://host:465")
    try:
        parts.port  # noqa: B018 - raises on a non-numeric port
    except ValueError:
        raise ConfigError("SMTP_URL has a port that is not a number") from None
    return url


def _base_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"PUBLIC_BASE_URL must be an http(s) URL (got {url!r})")
    return url.rstrip("/")
