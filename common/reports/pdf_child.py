"""Entry point of the PDF process: ``python -m common.reports.pdf_child`` (see ``common.reports.pdf``).

Reads one pickled job from stdin (written by our own parent, so trusted), imports xhtml2pdf, then lowers
its limits (``child.apply_limits``) before it lays out the report. Answers on stdout with the PDF bytes
(``%PDF…``) or one JSON object ``{"refused": {"message", "kind"}}``; the parent checks pages and bytes.
"""

from __future__ import annotations

import json
import pickle
import sys
from typing import Any

from common.reports.child import apply_limits
from common.reports.export import html_to_pdf, resource_policy


def main() -> int:
    job: dict[str, Any] = pickle.loads(sys.stdin.buffer.read())
    from xhtml2pdf import pisa  # noqa: F401 - imported before the limits, like the render's modules

    resource_policy()
    apply_limits(job["memory_bytes"], job["cpu_seconds"])
    try:
        data = html_to_pdf(job["html"], job["title"], job["parameters"])
    except MemoryError:
        refused = {"message": f"the PDF needed more than {job['memory_bytes'] // (1024 * 1024)} MB of memory",
                   "kind": "memory"}
        sys.stdout.write(json.dumps({"refused": refused}))
        return 0
    sys.stdout.buffer.write(data)
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
