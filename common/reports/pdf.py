"""The PDF download, laid out in a limited child process (``pdf_child``), never in the worker itself.

xhtml2pdf's layout cost grows faster than linearly with table length (4,800 rows: 31 s and 173 MB;
60,000 rows: not done after 13 minutes, holding the GIL of its process), so it runs where a wall clock,
CPU seconds and an address-space limit hold (``common.reports.child``), and before it starts, a page
estimate refuses what would obviously be over ``max_pages``. Whatever breaks a limit raises
``ExportRefused`` with a reason for the run page ("the PDF would be over 100 pages; download HTML or
CSV"); only a child that broke for no reason of the report's raises ``RuntimeError`` (retried).
"""

from __future__ import annotations

import json
import logging
import pickle
import re
from collections.abc import Mapping
from dataclasses import dataclass

from common.reports import child
from common.reports.errors import ExportRefused

log = logging.getLogger(__name__)
MODULE = "common.reports.pdf_child"
ROWS_PER_PAGE = 40  # a table row or a paragraph at 10 pt on A4 (measured: 200 rows make 6 pages)
_BLOCK = re.compile(r"<(?:tr|p|li|h[1-6]|pre|blockquote)\b")
_CHART = re.compile(r"<svg\b")
_PAGE = re.compile(rb"/Type\s*/Page(?![a-zA-Z])")
OTHER_FORMATS = "download HTML or CSV instead"


@dataclass(frozen=True)
class PdfLimits:
    wall_seconds: float = 60.0
    cpu_seconds: float = 55.0
    memory_bytes: int = 320 * 1024 * 1024  # PDF_MEMORY_MB
    max_pages: int = 100
    max_bytes: int = 20 * 1024 * 1024


def estimated_pages(html: str) -> int:
    """A lower bound on the pages ``html`` will take: blocks (rows, paragraphs) and charts."""
    blocks = len(_BLOCK.findall(html)) + 15 * len(_CHART.findall(html))
    return 1 + blocks // ROWS_PER_PAGE


def check_pages(html: str, limits: PdfLimits) -> None:
    """Refuse at once what would be over the page limit anyway (before any layout work)."""
    if estimated_pages(html) > limits.max_pages:
        raise ExportRefused(f"the PDF would be over {limits.max_pages} pages; {OTHER_FORMATS}", "pages")


async def make_pdf_async(html: str, title: str, parameters: Mapping[str, str], limits: PdfLimits) -> bytes:
    """The PDF of a report's HTML, or ``ExportRefused``; never blocks the event loop."""
    check_pages(html, limits)
    payload = pickle.dumps({"html": html, "title": title, "parameters": dict(parameters),
                            "memory_bytes": limits.memory_bytes, "cpu_seconds": limits.cpu_seconds,
                            "max_bytes": limits.max_bytes})
    done = await child.run_child_async(MODULE, payload, limits.wall_seconds)
    return _outcome(done, limits)


def _outcome(done: child.ChildExit, limits: PdfLimits) -> bytes:
    if done.returncode == 0 and done.stdout.startswith(b"%PDF"):
        if len(done.stdout) > limits.max_bytes:
            raise ExportRefused(f"the PDF would be larger than {limits.max_bytes // (1024 * 1024)} MB; "
                                f"{OTHER_FORMATS}", "size")
        pages = len(_PAGE.findall(done.stdout))
        if pages > limits.max_pages:
            raise ExportRefused(f"the PDF would be over {limits.max_pages} pages ({pages}); {OTHER_FORMATS}",
                                "pages")
        return done.stdout
    if done.returncode == 0:
        try:
            answer = json.loads(done.stdout)
        except ValueError:
            answer = None
        if isinstance(answer, dict) and isinstance(answer.get("refused"), dict):
            raise ExportRefused(str(answer["refused"].get("message")), str(answer["refused"].get("kind")))
    kind = child.death_kind(done)
    if kind == "timeout":
        raise ExportRefused(f"the PDF took longer than {limits.wall_seconds:g} s to lay out and was stopped; "
                            f"{OTHER_FORMATS}", "timeout")
    if kind == "cpu":
        raise ExportRefused(f"the PDF needed more CPU time than allowed; {OTHER_FORMATS}", "cpu")
    if kind == "memory":
        raise ExportRefused(f"the PDF needed more than {limits.memory_bytes // (1024 * 1024)} MB of memory; "
                            f"{OTHER_FORMATS}", "memory")
    log.warning("PDF process failed: exit %s: %s", done.returncode, done.stderr[-2000:].decode(errors="replace"))
    raise RuntimeError(f"the PDF process failed (exit status {done.returncode})")
