"""The PDF download, laid out in a limited child process (``pdf_child``), never in the worker itself.

That child's interpreter and imports (xhtml2pdf, reportlab, pypdf) cost 0.6-0.7 s of CPU before a layout
of 0.1-0.2 s can start (measured: 0.73-0.83 s of CPU per cold export of a small report), so the worker
keeps ``PDF_POOL_SIZE`` of them warm (``open_pdf_pool``; the same ``common.reports.pool`` as the render's):
each imports everything, lays out a built-in page, lowers its limits and says ``ready`` before it reads
its one job, and is replaced after it. The limits come from its command line (``child_args``), so a warm
child is used only for an export with exactly those limits; any other starts cold, as before.

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
from typing import TYPE_CHECKING

from common.reports import child, pool
from common.reports.errors import ExportRefused

if TYPE_CHECKING:
    from common.config import Settings

log = logging.getLogger(__name__)
MODULE = "common.reports.pdf_child"
ROWS_PER_PAGE = 40  # a table row or a paragraph at 10 pt on A4 (measured: 200 rows make 6 pages)
_BLOCK = re.compile(r"<(?:tr|p|li|h[1-6]|pre|blockquote)\b")
_CHART = re.compile(r"<svg\b")
_PAGE = re.compile(rb"/Type\s*/Page(?![a-zA-Z])")
OTHER_FORMATS = "download HTML or CSV instead"
PDF_POOL = pool.Shared()


@dataclass(frozen=True)
class PdfLimits:
    wall_seconds: float = 60.0
    cpu_seconds: float = 55.0
    memory_bytes: int = 320 * 1024 * 1024  # PDF_MEMORY_MB
    max_pages: int = 100
    max_bytes: int = 20 * 1024 * 1024


def limits_for(settings: Settings) -> PdfLimits:
    """An export's limits from the settings: one place, so that the pool's children are started with
    exactly the limits the exports ask for (else none would be used)."""
    return PdfLimits(wall_seconds=settings.pdf_timeout_seconds, cpu_seconds=settings.pdf_timeout_seconds,
                     memory_bytes=settings.pdf_memory_mb * 1024 * 1024, max_pages=settings.pdf_max_pages)


def child_args(limits: PdfLimits) -> tuple[str, ...]:
    """The PDF child's command line: the limits it applies to itself before it reads a job."""
    return (str(limits.memory_bytes), repr(float(limits.cpu_seconds)))


def open_pdf_pool(size: int, limits: PdfLimits) -> pool.ChildPool | None:
    """Keep ``size`` warm PDF children for exports with ``limits`` (0: none, every export starts cold)."""
    if size <= 0:
        return None
    return PDF_POOL.open(lambda: pool.ChildPool(MODULE, child_args(limits), size))


def close_pdf_pool() -> None:
    PDF_POOL.close()


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
    payload = pickle.dumps({"html": html, "title": title, "parameters": dict(parameters)})
    done = await PDF_POOL.run_async(MODULE, child_args(limits), payload, limits.wall_seconds)
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
