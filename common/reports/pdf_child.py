"""Entry point of the PDF process: ``python -m common.reports.pdf_child MEMORY_BYTES CPU_SECONDS``
(see ``common.reports.pdf``).

In this order, like ``render_child``, so that it can wait warm in a pool (``common.reports.pool``) and
still never hold a report without its limits:

0. lower its own CPU priority (``NICE``), before its imports: a PDF is background work (it is stored
   for a later download), and its 0.6-0.7 s of imports and its layout must not take the CPU from the
   queue's own work (claims, pickups, PostgreSQL) on a small machine. Measured in the 30-minute soak
   (docs/benchmarks.md): the one-use render and PDF children took 0.8-1.0 of the 2 cores at one report
   a second, and the PINGs beside them fell behind. A priority only ever lowered: no privilege needed;
1. import xhtml2pdf and lay out one built-in (trusted) page, so that the first real export finds
   reportlab, the CSS parser and the bundled fonts loaded;
2. set the resource policy (no network; local reads only of the bundled fonts) and lower its own limits
   (``apply_limits``; from the command line, i.e. from our own parent);
3. write ``READY`` on stdout, then block reading its one job (pickled by our own parent, so trusted) from
   stdin until EOF; a parent that dies or closes the pipe without a job makes it exit;
4. answer with the PDF bytes (``%PDF…``) or one JSON object ``{"refused": {"message", "kind"}}``, after
   ``READY``; the parent checks pages and bytes. Then exit at once (``os._exit``): one export per process.
"""

from __future__ import annotations

import json
import os
import pickle
import sys
from typing import Any

NICE = 10  # added to the worker's niceness: the kernel gives a nice-10 process ~1/10 of a nice-0 one's share
WARM_UP = "<h1>Warm</h1><p>Ünïcode €</p><table><tr><th>k</th><th>v</th></tr><tr><td>a</td><td>1</td></tr></table>"


def prepare() -> None:
    """Steps 0-1 and the policy of step 2: everything before the limits (a zygote runs it once for all the
    children it forks; they inherit the niceness, the loaded modules and the policy)."""
    os.nice(NICE)
    from common.reports.export import html_to_pdf, resource_policy  # after os.nice: at the lower priority

    html_to_pdf(WARM_UP, "warm", {"p": "v"})
    resource_policy()


def main(argv: list[str]) -> int:
    prepare()
    return serve(argv)


def serve(argv: list[str]) -> int:
    """Steps 2-4, in this process or in a child forked from a prepared one (``common.reports.zygote``)."""
    from common.reports.child import READY, apply_limits
    from common.reports.export import html_to_pdf

    memory_bytes, cpu_seconds = int(argv[0]), float(argv[1])
    apply_limits(memory_bytes, cpu_seconds)
    sys.stdout.buffer.write(READY)
    sys.stdout.flush()
    raw = sys.stdin.buffer.read()
    if not raw:  # the parent closed the pipe without a job (it is shutting down or died)
        return 0
    job: dict[str, Any] = pickle.loads(raw)
    try:
        data = html_to_pdf(job["html"], job["title"], job["parameters"])
    except MemoryError:
        refused = {"message": f"the PDF needed more than {memory_bytes // (1024 * 1024)} MB of memory",
                   "kind": "memory"}
        sys.stdout.write(json.dumps({"refused": refused}))
        return 0
    sys.stdout.buffer.write(data)
    return 0


if __name__ == "__main__":
    status = main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)  # no interpreter tear-down: the parent reads until EOF, which comes when this exits
