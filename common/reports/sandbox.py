"""Run an untrusted template where limits can be enforced: a short-lived child process.

Jinja's sandbox blocks attribute escapes but bounds neither time nor memory, so every render runs
in a fresh ``python -m common.reports.render_child`` with:

- memory: ``RLIMIT_AS`` (address space of the whole render process, interpreter included);
- CPU: ``RLIMIT_CPU`` (the kernel kills it with SIGXCPU, then SIGKILL);
- wall clock: the parent kills it at the deadline (sleeping or blocked renders count too);
- output: the render stops once the Markdown passes ``output_chars``;
- input: template length and dataset cells are checked here before anything starts;
- no file writes (``RLIMIT_FSIZE`` 0), 32 file descriptors, an environment without secrets.

A fresh interpreter (not fork) is used because the worker is a threaded asyncio process: forking
it would copy locks held by other threads and its database connections.

Two entry points: ``render_report`` blocks (call it via ``asyncio.to_thread`` or from sync code)
and ``render_report_async`` awaits the child without blocking the event loop and kills it if the
awaiting task is cancelled.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import pickle
import signal
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.reports.datasets import Dataset
from common.reports.errors import RenderError
from common.reports.render import RenderResult

log = logging.getLogger(__name__)
_ROOT = Path(__file__).resolve().parents[2]  # the directory holding the `common` package


@dataclass(frozen=True)
class RenderLimits:
    """Per-render limits; defaults suit a report of a few pages from a CSV of ~50k rows."""

    wall_seconds: float = 15.0
    cpu_seconds: float = 10.0
    memory_bytes: int = 1024 * 1024 * 1024
    output_chars: int = 2_000_000
    template_chars: int = 200_000
    dataset_cells: int = 2_000_000


DEFAULT_LIMITS = RenderLimits()


def render_report(body: str, parameters: Mapping[str, Any], limits: RenderLimits = DEFAULT_LIMITS
                  ) -> RenderResult:
    """Render in a limited child process; blocks until it answers. Raises ``RenderError``."""
    payload = _payload(body, parameters, limits)
    try:
        done = subprocess.run(_command(), input=payload, capture_output=True, timeout=limits.wall_seconds,
                              cwd=_ROOT, env=_environment(), start_new_session=True, check=False)
    except subprocess.TimeoutExpired:  # run() has killed and reaped the child
        raise _timeout(limits) from None
    return _outcome(done.returncode, done.stdout, done.stderr)


async def render_report_async(body: str, parameters: Mapping[str, Any],
                              limits: RenderLimits = DEFAULT_LIMITS) -> RenderResult:
    """Like ``render_report`` but awaitable; never blocks the event loop."""
    payload = _payload(body, parameters, limits)
    proc = await asyncio.create_subprocess_exec(
        *_command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        cwd=_ROOT, env=_environment(), start_new_session=True)
    try:
        stdout, stderr = await asyncio.wait_for(proc.communicate(payload), limits.wall_seconds)
    except TimeoutError:
        raise _timeout(limits) from None
    finally:
        if proc.returncode is None:  # deadline passed or the caller was cancelled
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return _outcome(proc.returncode, stdout, stderr)


def _payload(body: str, parameters: Mapping[str, Any], limits: RenderLimits) -> bytes:
    if len(body) > limits.template_chars:
        raise RenderError(f"the template is longer than {limits.template_chars:,} characters", None, "limit")
    cells = sum(v.cells for v in parameters.values() if isinstance(v, Dataset))
    if cells > limits.dataset_cells:
        raise RenderError(f"the datasets hold {cells:,} cells, more than {limits.dataset_cells:,}",
                          None, "limit")
    return pickle.dumps({"body": body, "parameters": dict(parameters), "memory_bytes": limits.memory_bytes,
                         "cpu_seconds": limits.cpu_seconds, "output_chars": limits.output_chars})


def _command() -> list[str]:
    # -E: ignore PYTHON* variables; -s: no user site-packages. cwd=_ROOT makes `common` importable.
    return [sys.executable, "-E", "-s", "-m", "common.reports.render_child"]


def _environment() -> dict[str, str]:
    """Only what an interpreter needs: the worker's secrets (DATABASE_URL, ...) stay behind."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}


def _timeout(limits: RenderLimits) -> RenderError:
    return RenderError(f"the report took longer than {limits.wall_seconds:g} s and was stopped", None,
                       "timeout")


def _outcome(returncode: int, stdout: bytes, stderr: bytes) -> RenderResult:
    """Turn the child's answer (or its death) into a result or a ``RenderError``."""
    if returncode == 0:
        try:
            answer = json.loads(stdout)
        except ValueError:
            answer = None
        if isinstance(answer, dict) and isinstance(answer.get("error"), dict):
            raise RenderError.from_dict(answer["error"])
        if isinstance(answer, dict) and isinstance(answer.get("result"), dict):
            return RenderResult.from_dict(answer["result"])
    if returncode in (-signal.SIGXCPU, -signal.SIGKILL):
        raise RenderError("the report used more CPU time than allowed and was stopped", None, "cpu")
    if b"MemoryError" in stderr:
        raise RenderError("the report needed more memory than allowed", None, "memory")
    log.warning("render process failed: exit %s: %s", returncode, stderr[-2000:].decode(errors="replace"))
    raise RenderError(f"the render process failed (exit status {returncode})", None, "internal")
