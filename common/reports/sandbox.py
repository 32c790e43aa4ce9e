"""Run an untrusted template where limits can be enforced: a short-lived child process.

Jinja's sandbox blocks attribute escapes but bounds neither time nor memory, so every render runs
in its own ``python -m common.reports.render_child`` (started by ``common.reports.child``), used for that
one render only: a warm one from the process's pool (``open_render_pool``, ``common.reports.pool``) when
it has one ready for these limits, else one started for it. Either way it has, before it reads the job:

- memory: ``RLIMIT_AS`` (address space of the whole render process, interpreter included);
- CPU: ``RLIMIT_CPU`` (the kernel kills it with SIGXCPU, then SIGKILL);
- wall clock: the parent kills it at the deadline (sleeping or blocked renders count too);
- output: the render stops once the Markdown passes ``output_chars``;
- input: template length and dataset cells are checked here before anything starts;
- no file writes (``RLIMIT_FSIZE`` 0), 32 file descriptors, an environment without secrets.

Two entry points: ``render_report`` blocks (call it via ``asyncio.to_thread`` or from sync code)
and ``render_report_async`` awaits the child without blocking the event loop and kills it if the
awaiting task is cancelled. Services that render (the worker, the web's preview) call
``open_render_pool(RENDER_POOL_SIZE)`` at start and ``close_render_pool()`` on the way out.
"""

from __future__ import annotations

import json
import logging
import pickle
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from common.reports import child, pool
from common.reports.datasets import Dataset
from common.reports.errors import RenderError
from common.reports.render import RenderResult

log = logging.getLogger(__name__)
MODULE = "common.reports.render_child"


@dataclass(frozen=True)
class RenderLimits:
    """Per-render limits; defaults suit a report of a few pages from a CSV of ~50k rows."""

    wall_seconds: float = 15.0
    cpu_seconds: float = 10.0
    # RENDER_MEMORY_MB; sizing: common/memory_budget.py. The largest report the output cap allows needs
    # most: a 60,000-row table peaks at 382 MB (RSS) and needs 416 MiB of address space (bench.render_memory).
    memory_bytes: int = 512 * 1024 * 1024
    output_chars: int = 2_000_000
    template_chars: int = 200_000
    dataset_cells: int = 2_000_000


DEFAULT_LIMITS = RenderLimits()
RENDER_POOL = pool.Shared()


def child_args(limits: RenderLimits) -> tuple[str, ...]:
    """The render child's command line: the limits it applies to itself before it reads a job."""
    return (str(limits.memory_bytes), repr(float(limits.cpu_seconds)))


def limits_for(memory_mb: int) -> RenderLimits:
    """The limits of a run's or a preview's render (RENDER_MEMORY_MB): one place, so that the pool's
    children are started with exactly the limits the renders ask for (else none would be used)."""
    return RenderLimits(memory_bytes=memory_mb * 1024 * 1024)


def open_render_pool(size: int, limits: RenderLimits = DEFAULT_LIMITS) -> pool.ChildPool | None:
    """Keep ``size`` warm render children for renders with ``limits`` (0: none, every render starts cold)."""
    if size <= 0:
        return None
    return RENDER_POOL.open(lambda: pool.ChildPool(MODULE, child_args(limits), size))


def close_render_pool() -> None:
    RENDER_POOL.close()


def render_report(body: str, parameters: Mapping[str, Any], limits: RenderLimits = DEFAULT_LIMITS
                  ) -> RenderResult:
    """Render in a limited child process; blocks until it answers. Raises ``RenderError``."""
    payload = _payload(body, parameters, limits)
    return _outcome(RENDER_POOL.run(MODULE, child_args(limits), payload, limits.wall_seconds), limits)


async def render_report_async(body: str, parameters: Mapping[str, Any],
                              limits: RenderLimits = DEFAULT_LIMITS) -> RenderResult:
    """Like ``render_report`` but awaitable; never blocks the event loop."""
    payload = _payload(body, parameters, limits)
    done = await RENDER_POOL.run_async(MODULE, child_args(limits), payload, limits.wall_seconds)
    return _outcome(done, limits)


def _payload(body: str, parameters: Mapping[str, Any], limits: RenderLimits) -> bytes:
    if len(body) > limits.template_chars:
        raise RenderError(f"the template is longer than {limits.template_chars:,} characters", None, "limit")
    # Distinct datasets: parameters naming the same dataset share one object (pickled once, too).
    cells = sum(v.cells for v in {id(v): v for v in parameters.values() if isinstance(v, Dataset)}.values())
    if cells > limits.dataset_cells:
        raise RenderError(f"the datasets hold {cells:,} cells, more than {limits.dataset_cells:,}",
                          None, "limit")
    return pickle.dumps({"body": body, "parameters": dict(parameters), "memory_bytes": limits.memory_bytes,
                         "cpu_seconds": limits.cpu_seconds, "output_chars": limits.output_chars})


def _outcome(done: child.ChildExit, limits: RenderLimits) -> RenderResult:
    """Turn the child's answer (or its death) into a result or a ``RenderError``."""
    if done.returncode == 0:
        try:
            answer = json.loads(done.stdout)
        except ValueError:
            answer = None
        if isinstance(answer, dict) and isinstance(answer.get("error"), dict):
            raise RenderError.from_dict(answer["error"])
        if isinstance(answer, dict) and isinstance(answer.get("result"), dict):
            return RenderResult.from_dict(answer["result"])
    kind = child.death_kind(done)
    if kind == "timeout":
        raise RenderError(f"the report took longer than {limits.wall_seconds:g} s and was stopped", None,
                          "timeout")
    if kind == "cpu":
        raise RenderError("the report used more CPU time than allowed and was stopped", None, "cpu")
    if kind == "memory":
        raise RenderError("the report needed more memory than allowed", None, "memory")
    log.warning("render process failed: exit %s: %s", done.returncode,
                done.stderr[-2000:].decode(errors="replace"))
    raise RenderError(f"the render process failed (exit status {done.returncode})", None, "internal")
