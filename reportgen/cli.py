"""``reportgen``: one command for both services and for operators.

    reportgen serve [--dev]     run what SERVICE_MODE says: web, worker, or all (both in one process)
    reportgen web | worker      run one service
    reportgen migrate           bring the schema up to date
    reportgen ping              enqueue a PING and wait for it: exit 0 when it completed
    reportgen enqueue TYPE      enqueue a job (--payload JSON, --priority, --run-at, --dedup-key)
    reportgen jobs list|show|retry|cancel
    reportgen users|tokens|workspaces ...   accounts (see reportgen/accounts_cli.py)

Without DATABASE_URL, commands in a checkout use the embedded database that ``make run`` started.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Sequence
from typing import Any

from common import db, jobs
from common.config import Settings
from common.embedded_pg import FAST_UNSAFE_SETTINGS, EmbeddedPostgres
from common.entry import run_service
from common.errors import AppError, ConfigError, ReportGenError
from common.jobs import NewJob, job_to_json
from common.logs import configure_logging
from common.metrics import Metrics
from common.migrate import main as migrate_main
from common.runtime import install_stop_signals, resolve_database_url
from reportgen import accounts_cli


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"reportgen: configuration error: {exc}", file=sys.stderr)
        return 2
    command = args.command
    if command in ("serve", "web", "worker"):
        mode = settings.service_mode if command == "serve" else command
        if getattr(args, "dev", False) and not settings.database_url:
            return _serve_with_embedded_database(settings, mode, fast=args.fast)
        return run_service(f"reportgen {command}", _serve(mode), settings)
    if command == "migrate":
        return migrate_main()
    configure_logging(settings)
    try:
        url = resolve_database_url(settings)
        return asyncio.run(_COMMANDS[command](args, settings, url))
    except ConfigError as exc:
        print(f"reportgen {command}: configuration error: {exc}", file=sys.stderr)
        return 2
    except AppError as exc:
        print(f"reportgen {command}: {exc.message}", file=sys.stderr)
        return 1
    except ReportGenError as exc:
        print(f"reportgen {command}: {exc}", file=sys.stderr)
        return 1


def _serve(mode: str) -> Any:
    async def serve(settings: Settings, url: str) -> None:
        if mode == "web":
            from web.service import serve_web

            await serve_web(settings, url)
        elif mode == "worker":
            from worker.service import serve_worker

            await serve_worker(settings, url)
        else:
            await _serve_all(settings, url)
    return serve


async def _serve_all(settings: Settings, url: str) -> None:
    """SERVICE_MODE=all: the web app on $PORT and a worker in the same process, sharing one registry."""
    from common.http_server import make_server
    from common.migrate import migrate_when_reachable
    from web.app import create_app
    from worker.service import build_worker, warn_about_pooler

    metrics = Metrics()
    worker = build_worker(settings, url, metrics)
    # Both halves migrate (the advisory lock serialises them); the web's start-up also seeds the examples.
    server = make_server(create_app(settings, url, metrics=metrics), settings.host, settings.port)

    def stop() -> None:
        worker.request_stop()
        server.should_exit = True

    install_stop_signals(stop)
    warn_about_pooler(settings, url)
    server_task = asyncio.create_task(server.serve())
    try:
        if await migrate_when_reachable(url, settings.default_workspace_id, worker._stopping):
            await worker.run()
    finally:
        server.should_exit = True
        await server_task


def _serve_with_embedded_database(settings: Settings, mode: str, *, fast: bool) -> int:
    """``make run``: start (or reuse) the embedded server under .data/, serve, stop it on the way out."""
    configure_logging(settings)
    server = EmbeddedPostgres(settings.data_dir, settings=dict(FAST_UNSAFE_SETTINGS) if fast else {})
    try:
        url = server.start()  # from the main thread, so its parent-death signal is tied to us
    except ConfigError as exc:
        print(f"reportgen serve: {exc}", file=sys.stderr)
        return 2
    try:
        print(f"embedded PostgreSQL {url} (data in {settings.data_dir}); serving on "
              f"http://{settings.host}:{settings.port}", file=sys.stderr)
        _print_first_admin_link(settings, url)
        return run_service("reportgen serve", _serve(mode), settings, url)
    finally:
        server.stop()


def _print_first_admin_link(settings: Settings, url: str) -> None:
    """While nobody can sign in yet, a one-time link for the local admin, on the console."""
    from common.migrate import migrate
    from reportgen.accounts_cli import local_admin_link

    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    migrate(url, settings.default_workspace_id)
    link = asyncio.run(local_admin_link(url, settings, f"http://{host}:{settings.port}"))
    if link is not None:
        print(f"\n    No one can sign in yet. Open this one-time link to choose the local admin's password:"
              f"\n\n        {link}\n", file=sys.stderr, flush=True)


# -- operator commands ------------------------------------------------------------------------------------

async def _ping(args: argparse.Namespace, settings: Settings, url: str) -> int:
    """Enqueue a PING and watch its row until it is finished (a few ms apart: a PING takes about that)."""
    started = time.monotonic()
    async with await db.connect_async(url, application_name="reportgen-ping") as conn, \
            db.translate_errors_async():
        row, _ = await jobs.enqueue(conn, settings.default_workspace_id, NewJob(type="PING", payload={}))
        job_id = str(row["id"])
        deadline = started + args.timeout
        status = row["status"]
        delay = 0.002
        while status not in jobs.FINISHED and time.monotonic() < deadline:
            await asyncio.sleep(delay)
            delay = min(0.1, delay * 1.5)
            status = (await jobs.get(conn, settings.default_workspace_id, job_id))["status"]
    elapsed = (time.monotonic() - started) * 1000
    if status == jobs.JobStatus.COMPLETED:
        print(f"PING {job_id} completed in {elapsed:.1f} ms")
        return 0
    print(f"PING {job_id} is {status} after {elapsed:.0f} ms: is a worker running against this database? "
          "(see docs/operations.md, 'Jobs stay QUEUED')", file=sys.stderr)
    return 1


async def _enqueue(args: argparse.Namespace, settings: Settings, url: str) -> int:
    try:
        payload = json.loads(args.payload)
    except ValueError as exc:
        raise ConfigError(f"--payload is not JSON: {exc}") from None
    body: dict[str, Any] = {"type": args.type, "payload": payload, "priority": args.priority,
                            "max_attempts": args.max_attempts}
    if args.run_at:
        body["run_at"] = args.run_at
    if args.dedup_key:
        body["dedup_key"] = args.dedup_key
    new = NewJob.from_json(body, known_types=frozenset({args.type}), max_payload_bytes=settings.max_payload_bytes)
    async with await db.connect_async(url) as conn, db.translate_errors_async():
        row, created = await jobs.enqueue(conn, settings.default_workspace_id, new)
    _print_json(job_to_json(row))
    return 0 if created else 3


async def _jobs(args: argparse.Namespace, settings: Settings, url: str) -> int:
    workspace = settings.default_workspace_id
    async with await db.connect_async(url) as conn, db.translate_errors_async():
        if args.action == "list":
            rows = await jobs.list_jobs(conn, workspace, status=args.status, job_type=args.type, limit=args.limit)
            for r in rows:
                print(f"{r['created_at']:%Y-%m-%d %H:%M:%S}  {r['id']}  {r['type']:<12} {r['status']:<12} "
                      f"attempts {r['attempts']}/{r['max_attempts']}  {(r['error'] or '').splitlines()[:1]}")
            return 0
        action = {"show": jobs.get, "retry": jobs.retry, "cancel": jobs.cancel}[args.action]
        row = await action(conn, workspace, _uuid(args.id))
    _print_json(job_to_json(row))
    return 0


def _uuid(raw: str) -> str:
    import uuid

    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise ConfigError(f"{raw!r} is not a job id (a UUID)") from None


def _print_json(value: object) -> None:
    print(json.dumps(value, indent=2, default=str))


_COMMANDS = {"ping": _ping, "enqueue": _enqueue, "jobs": _jobs, **accounts_cli.COMMANDS}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="reportgen", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("serve", "web", "worker"):
        p = sub.add_parser(name, help=f"run {'SERVICE_MODE' if name == 'serve' else 'the ' + name} service")
        p.add_argument("--dev", action="store_true",
                       help="without DATABASE_URL, start the embedded PostgreSQL under .data/ (make run)")
        p.add_argument("--fast", action="store_true", help="with --dev: fsync off (throwaway data)")
    sub.add_parser("migrate", help="apply schema migrations")
    ping = sub.add_parser("ping", help="enqueue a PING job and wait for it to complete")
    ping.add_argument("--timeout", type=float, default=10.0, help="seconds to wait (default 10)")
    enqueue = sub.add_parser("enqueue", help="enqueue a job")
    enqueue.add_argument("type")
    enqueue.add_argument("--payload", default="{}")
    enqueue.add_argument("--priority", type=int, default=0)
    enqueue.add_argument("--max-attempts", type=int, default=3)
    enqueue.add_argument("--run-at", help="ISO 8601 date-time with time zone")
    enqueue.add_argument("--dedup-key")
    jobs_cmd = sub.add_parser("jobs", help="list, show, retry or cancel jobs")
    jobs_sub = jobs_cmd.add_subparsers(dest="action", required=True)
    lst = jobs_sub.add_parser("list")
    lst.add_argument("--status", choices=list(jobs.JobStatus))
    lst.add_argument("--type")
    lst.add_argument("--limit", type=int, default=20)
    for action in ("show", "retry", "cancel"):
        jobs_sub.add_parser(action).add_argument("id")
    accounts_cli.add_parsers(sub)
    return parser


if __name__ == "__main__":
    raise SystemExit(main())
