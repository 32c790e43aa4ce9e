"""``WORKER_PROCESSES=N``: N worker processes under one parent that restarts them and serves one port.

One Python process uses one core; a 4-vCPU Cloud Run instance needs four. The parent never touches the
database. Each child is ``python -m worker`` with its health server on a private unix socket (in a
directory only this parent uses); the parent's ``/metrics`` scrapes every child and merges them
(``worker/metrics_merge.py``), ``/healthz`` is 200 while every child runs, ``/readyz`` while every child is
ready. A child that exits is restarted after a capped backoff. SIGTERM/SIGINT are forwarded to every child,
which stops claiming and gives its jobs back within ``SHUTDOWN_GRACE_SECONDS``; a child still alive
``STOP_DEADLINE_SECONDS`` after the signal is killed (its leases cover it), so the parent exits within
Cloud Run's 10 s. A parent that dies without a word (``kill -9``, the OOM killer) takes its children with
it: the kernel sends each a SIGTERM (``PR_SET_PDEATHSIG``, ``common.process_guard.leave_with_parent``), and
they stop as on any stop, instead of living on as orphans that claim jobs with nobody watching them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.core import GaugeMetricFamily
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from common import backoff
from common.config import Settings
from common.health import metrics_refused, metrics_token_ok
from common.http_server import make_server, serve
from common.process_guard import secret_environment
from common.runtime import install_stop_signals
from worker.metrics_merge import MetricsMerger

log = logging.getLogger(__name__)

STOP_DEADLINE_SECONDS = 9.0  # Cloud Run kills 10 s after SIGTERM
SCRAPE_EVERY_SECONDS = 5.0  # keeps each child's last counts fresh, for when it dies
RESTART_BACKOFF_MAX_SECONDS = 10.0
STABLE_AFTER_SECONDS = 30.0  # a child that ran this long restarts at once when it dies
HEALTH_SOCKET_ENV = "REPORTGEN_HEALTH_SOCKET"
SUPERVISOR_PID_ENV = "REPORTGEN_SUPERVISOR_PID"  # the child stops when this process dies (process_guard)


@dataclass
class Child:
    slot: int
    socket_path: Path
    process: asyncio.subprocess.Process | None = None
    started_at: float = 0.0
    restarts: int = 0
    failures: int = 0

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.returncode is None


@dataclass
class Supervisor:
    settings: Settings
    database_url: str
    count: int
    run_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="reportgen-workers-")))
    children: list[Child] = field(default_factory=list)
    merger: MetricsMerger = field(default_factory=MetricsMerger)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.children = [Child(i, self.run_dir / f"worker-{i}.sock") for i in range(self.count)]

    async def run(self) -> None:
        """Start every child, keep them running until asked to stop, then stop them."""
        log.info("supervising %d worker processes", self.count)
        keepers = [asyncio.create_task(self._keep(child), name=f"child-{child.slot}") for child in self.children]
        scraper = asyncio.create_task(self._scrape_loop(), name="child-scraper")
        try:
            await self.stopping.wait()
            await self._stop_children()
        finally:
            scraper.cancel()
            for task in keepers:
                task.cancel()
            await asyncio.gather(scraper, *keepers, return_exceptions=True)
            shutil.rmtree(self.run_dir, ignore_errors=True)

    def request_stop(self) -> None:
        self.stopping.set()

    async def _keep(self, child: Child) -> None:
        """Run the child; when it exits (and we are not stopping), restart it after a capped backoff."""
        while not self.stopping.is_set():
            await self._spawn(child)
            assert child.process is not None
            code = await child.process.wait()
            if self.stopping.is_set():
                return
            self.merger.retire(child.slot)
            ran = time.monotonic() - child.started_at
            child.failures = 0 if ran > STABLE_AFTER_SECONDS else child.failures + 1
            delay = (backoff.delay(child.failures, base=1.0, cap=RESTART_BACKOFF_MAX_SECONDS)
                     if child.failures else 0.0)
            log.warning("worker process %d (pid %d) exited with %s after %.1f s; restarting in %.1f s",
                        child.slot, child.process.pid, code, ran, delay)
            child.restarts += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), delay)

    async def _spawn(self, child: Child) -> None:
        child.socket_path.unlink(missing_ok=True)
        # The secrets left this process's environment at start-up (common/process_guard.py).
        # REPORT_SLOTS: each process's share of the container's memory (common/memory_budget.py), which a
        # process told WORKER_PROCESSES=1 could not work out itself.
        env = {**os.environ, **secret_environment(self.settings, self.database_url), "WORKER_PROCESSES": "1",
               "REPORT_SLOTS": str(self.settings.report_slots), HEALTH_SOCKET_ENV: str(child.socket_path),
               SUPERVISOR_PID_ENV: str(os.getpid())}
        child.process = await asyncio.create_subprocess_exec(sys.executable, "-m", "worker", env=env)
        child.started_at = time.monotonic()
        log.info("started worker process %d (pid %d)", child.slot, child.process.pid)

    async def _stop_children(self) -> None:
        started = time.monotonic()
        for child in self.children:
            if child.alive:
                assert child.process is not None
                with contextlib.suppress(ProcessLookupError):
                    child.process.send_signal(signal.SIGTERM)
        waits = [c.process.wait() for c in self.children if c.alive and c.process is not None]
        if waits:
            _, pending = await asyncio.wait([asyncio.ensure_future(w) for w in waits],
                                            timeout=STOP_DEADLINE_SECONDS)
            if pending:
                log.warning("%d worker process(es) still running %.0f s after the signal; killing them",
                            len(pending), STOP_DEADLINE_SECONDS)
                for child in self.children:
                    if child.alive and child.process is not None:
                        with contextlib.suppress(ProcessLookupError):
                            child.process.kill()
                await asyncio.wait(pending, timeout=1.0)
        log.info("all worker processes stopped in %.1f s", time.monotonic() - started)

    # -- talking to the children ------------------------------------------------------------------------

    async def _get(self, child: Child, path: str) -> httpx.Response | None:
        if not child.alive or not child.socket_path.exists():
            return None
        transport = httpx.AsyncHTTPTransport(uds=str(child.socket_path))
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://worker", timeout=3.0) as client:
                return await client.get(path)
        except httpx.HTTPError:
            return None

    async def _scrape(self, child: Child) -> None:
        response = await self._get(child, "/metrics")
        if response is not None and response.status_code == 200:
            self.merger.update(child.slot, response.text)

    async def _scrape_loop(self) -> None:
        while True:
            await asyncio.gather(*(self._scrape(c) for c in self.children))
            await asyncio.sleep(SCRAPE_EVERY_SECONDS)

    # -- the parent's HTTP endpoints --------------------------------------------------------------------

    def status(self) -> list[dict[str, object]]:
        return [{"slot": c.slot, "pid": c.process.pid if c.process else None, "alive": c.alive,
                 "restarts": c.restarts} for c in self.children]

    def app(self) -> Starlette:
        async def healthz(request: Request) -> JSONResponse:
            ok = all(c.alive for c in self.children)
            return JSONResponse({"status": "ok" if ok else "degraded", "processes": self.status()},
                                status_code=200 if ok else 503)

        async def readyz(request: Request) -> JSONResponse:
            answers = await asyncio.gather(*(self._get(c, "/readyz") for c in self.children))
            ready = [a is not None and a.status_code == 200 for a in answers]
            body = {"status": "ready" if all(ready) else "not ready",
                    "processes": [{**s, "ready": r} for s, r in zip(self.status(), ready, strict=True)]}
            return JSONResponse(body, status_code=200 if all(ready) else 503)

        async def metrics(request: Request) -> Response:
            if not metrics_token_ok(request.headers.get("authorization", ""), self.settings.metrics_token):
                return metrics_refused()
            await asyncio.gather(*(self._scrape(c) for c in self.children))
            up = GaugeMetricFamily("reportgen_worker_processes", "Worker processes running under this parent")
            up.add_metric([], sum(c.alive for c in self.children))
            restarts = GaugeMetricFamily("reportgen_worker_process_restarts",
                                         "Worker processes restarted by this parent since it started")
            restarts.add_metric([], sum(c.restarts for c in self.children))
            return Response(self.merger.render([up, restarts]), media_type=CONTENT_TYPE_LATEST)

        return Starlette(routes=[Route("/healthz", healthz), Route("/readyz", readyz), Route("/metrics", metrics)])


async def serve_supervisor(settings: Settings, url: str) -> None:
    supervisor = Supervisor(settings, url, settings.worker_processes)
    install_stop_signals(supervisor.request_stop)
    server = make_server(supervisor.app(), settings.host, settings.port)
    server_task = asyncio.create_task(serve(server, settings, "worker supervisor"))
    try:
        await supervisor.run()
    finally:
        server.should_exit = True
        await server_task
