"""Entry point of the render process: ``python -m common.reports.render_child MEMORY_BYTES CPU_SECONDS``.

In this order, so that it can wait warm in a pool (``common.reports.pool``) and still never hold untrusted
input without its limits:

1. import everything and render one built-in (trusted) report, so the first real render finds Jinja's
   lexer, Markdown's extensions and the chart code loaded and compiled;
2. lower its own resource limits (``apply_limits``; from the command line, i.e. from our own parent):
   address space (memory), CPU seconds, no file writes, few file descriptors;
3. write ``READY`` on stdout, then block reading its one job (pickled by our own parent, so trusted)
   from stdin until EOF. A parent that dies closes the pipe: an idle child reads EOF and exits;
4. render and answer one JSON object on stdout, after ``READY``: either ``{"result": ...}`` or
   ``{"error": {"message", "line", "kind"}}``. JSON, not pickle, goes back, because this process ran
   untrusted code and the parent must not unpickle what it says. Then it exits at once (``os._exit``):
   one render per process.
"""

from __future__ import annotations

import json
import os
import pickle
import sys
from typing import Any

from common.reports.child import READY, apply_limits
from common.reports.errors import RenderError
from common.reports.render import render_in_process

# Exercises what the examples use (a loop, filters, a table, a chart) once before the limits.
WARM_UP = ("# Warm {{ title }}\n\n{% set rows = [{'k': 'a', 'v': 1}, {'k': 'b', 'v': 2}] %}"
           "{{ bar_chart(rows, 'k', 'v', title='t') }}\n\n| k | v |\n|---|--:|\n"
           "{% for r in rows | sort_by('k') %}| {{ r.k }} | {{ r.v | round(1) }} |\n{% endfor %}\n")


def prepare() -> None:
    """Step 1: everything before the limits (a zygote runs it once for all the children it forks)."""
    render_in_process(WARM_UP, {"title": "up"}, max_output_chars=10_000)


def main(argv: list[str]) -> int:
    prepare()
    return serve(argv)


def serve(argv: list[str]) -> int:
    """Steps 2-4, in this process or in a child forked from a prepared one (``common.reports.zygote``)."""
    memory_bytes, cpu_seconds = int(argv[0]), float(argv[1])
    apply_limits(memory_bytes, cpu_seconds)
    sys.stdout.buffer.write(READY)
    sys.stdout.flush()
    raw = sys.stdin.buffer.read()
    if not raw:  # the parent closed the pipe without a job (it is shutting down or died)
        return 0
    job: dict[str, Any] = pickle.loads(raw)
    try:
        result = render_in_process(job["body"], job["parameters"], max_output_chars=job["output_chars"])
        answer: dict[str, Any] = {"result": result.to_dict()}
    except RenderError as exc:
        answer = {"error": exc.to_dict()}
    except MemoryError:
        error = RenderError("the report needed more memory than allowed", None, "memory")
        answer = {"error": error.to_dict()}
    sys.stdout.write(json.dumps(answer))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    status = main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    # Straight out, without the interpreter's tear-down of every module (20-100 ms, measured): the parent
    # reads the answer until EOF, which comes when this process is gone. Nothing is left to flush or close.
    os._exit(status)
