"""PDF ceilings (issue 11): the largest table that still makes a PDF within the limits, and the PDF time
of the three shipped examples, laid out in this process (before: how the worker did it) and in the
limited PDF child (after: ``common.reports.pdf``, what the worker does now).

Each PDF child is started exactly as ``common.reports.child`` starts it (clean environment, its own
limits), but reaped with ``os.wait4`` so its peak RSS can be read. Limits are the deployed defaults
(``PDF_TIMEOUT_SECONDS`` 60, ``PDF_MEMORY_MB`` 320, ``PDF_MAX_PAGES`` 50) unless given.

    .venv/bin/python -m bench.pdf_ceilings [--rows 200,400,800,1200,1600] [--skip-examples]
"""

from __future__ import annotations

import argparse
import os
import pickle
import re
import subprocess
import time
from typing import Any

from common.config import Settings
from common.reports import child as child_process
from common.reports import load_examples, validate_parameters
from common.reports.export import html_to_pdf
from common.reports.pdf import MODULE, estimated_pages
from common.reports.render import render_in_process

TABLE = ("# Table\n\n| n | square | label |\n|---:|---:|---|\n"
         "{% for i in range(ROWS) %}| {{ i }} | {{ i * i }} | row {{ i }} |\n{% endfor %}\n")
PAGE = re.compile(rb"/Type\s*/Page(?![a-zA-Z])")


def pdf_in_child(html: str, title: str, parameters: dict[str, str], settings: Settings) -> dict[str, Any]:
    """One PDF laid out by the limited child: outcome, seconds, the child's peak RSS, pages."""
    payload = pickle.dumps({"html": html, "title": title, "parameters": parameters,
                            "memory_bytes": settings.pdf_memory_mb << 20,
                            "cpu_seconds": settings.pdf_timeout_seconds, "max_bytes": 20 << 20})
    started = time.perf_counter()
    proc = subprocess.Popen(child_process.command(MODULE), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, cwd=child_process.ROOT, env=child_process.environment(),
                            start_new_session=True)
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(payload)
    proc.stdin.close()
    deadline = started + settings.pdf_timeout_seconds
    out = b""
    os.set_blocking(proc.stdout.fileno(), False)
    while True:
        chunk = proc.stdout.read()
        if chunk:
            out += chunk
        finished, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if finished:
            out += proc.stdout.read() or b""
            break
        if time.perf_counter() > deadline:
            proc.kill()
            _, status, usage = os.wait4(proc.pid, 0)
            break
        time.sleep(0.05)
    seconds = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    ok = code == 0 and out.startswith(b"%PDF")
    outcome = "ok" if ok else ("timeout" if time.perf_counter() > deadline else f"exit {code}")
    return {"outcome": outcome, "seconds": round(seconds, 1), "peak_rss_mb": round(usage.ru_maxrss / 1024),
            "pages": len(PAGE.findall(out)) if ok else None, "kib": len(out) // 1024 if ok else None}


def tables(rows_list: list[int], settings: Settings) -> None:
    print(f"tables (limits: {settings.pdf_timeout_seconds:g} s, {settings.pdf_memory_mb} MiB, "
          f"{settings.pdf_max_pages} pages)")
    for rows in rows_list:
        html = render_in_process(TABLE.replace("ROWS", str(rows)), {}, max_output_chars=10_000_000).html
        estimate = estimated_pages(html)
        if estimate > settings.pdf_max_pages:
            print(f"  {rows:>6} rows: refused before layout (estimated {estimate} pages)")
            continue
        result = pdf_in_child(html, "Table", {}, settings)
        over = result["pages"] is not None and result["pages"] > settings.pdf_max_pages
        print(f"  {rows:>6} rows: {result}{'  (over the page cap: refused)' if over else ''}", flush=True)


def examples(settings: Settings) -> None:
    print("examples: in-process layout (before; xhtml2pdf imported already) vs the limited child (after; a "
          "fresh interpreter that imports it)")
    html_to_pdf("<p>warm-up</p>", "warm-up", {})  # the worker had paid the import once
    for example in load_examples():
        uploads = {name: data for name, (_, data) in example.datasets.items()}
        typed = validate_parameters(example.parameters, uploads)
        html = render_in_process(example.body, typed, max_output_chars=2_000_000).html
        started = time.perf_counter()
        html_to_pdf(html, example.name, {})
        before = time.perf_counter() - started
        after = pdf_in_child(html, example.name, {}, settings)
        print(f"  {example.slug:<16} before {before:5.2f} s   after {after['seconds']:5.2f} s "
              f"(child peak {after['peak_rss_mb']} MB, {after['pages']} pages)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", default="200,400,800,1200,1600")
    parser.add_argument("--skip-examples", action="store_true")
    args = parser.parse_args()
    settings = Settings.from_env()
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    if not args.skip_examples:
        examples(settings)
    tables([int(r) for r in args.rows.split(",")], settings)
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
