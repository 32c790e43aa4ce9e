"""What a delivery says: the webhook's JSON (DESIGN.md) and the e-mail's subject and bodies."""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from typing import Any

from common.mailer import Mail


def links(base_url: str, run_id: str | None) -> dict[str, str | None]:
    if run_id is None:
        return {"run": None, "html": None, "pdf": None}
    return {"run": f"{base_url}/runs/{run_id}", "html": f"{base_url}/api/runs/{run_id}/report?format=html",
            "pdf": f"{base_url}/api/runs/{run_id}/report?format=pdf"}


def status_of(d: Mapping[str, Any]) -> str:
    return "COMPLETED" if d["run_status"] == "COMPLETED" else "FAILED"


def error_of(d: Mapping[str, Any]) -> str | None:
    if d["run_status"] == "COMPLETED":
        return None
    if d["run_error"]:
        err = d["run_error"]
        line = f" (line {err['line']})" if isinstance(err, dict) and err.get("line") else ""
        return str(err.get("message") if isinstance(err, dict) else err) + line
    return d["fire_error"] or f"the run ended {d['run_status'] or 'without a run'}"


def webhook_body(d: Mapping[str, Any], base_url: str) -> bytes:
    run_id = str(d["run_id"]) if d["run_id"] else None
    finished = d["run_finished_at"]
    body = {"event": "run.finished", "run_id": run_id, "schedule_id": str(d["schedule_id"]),
            "template": d["template_name"], "status": status_of(d), "parameters": d["parameters"],
            "finished_at": finished.isoformat() if finished else None, "fire_at": d["fire_at"].isoformat(),
            "error": error_of(d), "links": {k: v for k, v in links(base_url, run_id).items() if k != "run"}}
    return json.dumps(body, separators=(",", ":"), default=str).encode()


def _params_text(params: Mapping[str, Any]) -> str:
    return "\n".join(f"  {k}: {v}" for k, v in params.items()) or "  (none)"


def _params_html(params: Mapping[str, Any]) -> str:
    rows = "".join(f"<tr><th align='left'>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
                   for k, v in params.items())
    return f"<table>{rows}</table>" if rows else "<p>(no parameters)</p>"


def email(d: Mapping[str, Any], base_url: str, attachment: tuple[str, str, bytes] | None,
          too_large: bool) -> Mail:
    run_id = str(d["run_id"]) if d["run_id"] else None
    link = links(base_url, run_id)
    name = d["template_name"]
    when = d["fire_at"].isoformat()
    if status_of(d) == "COMPLETED":
        subject = f"Report: {name}"
        lead = f"Your scheduled report \u201c{name}\u201d for {when} is ready."
    else:
        subject = f"Report failed: {name}"
        lead = f"Your scheduled report \u201c{name}\u201d for {when} failed: {error_of(d)}"
    pdf_note = ""
    if too_large and link["pdf"]:
        pdf_note = f"The PDF is too large to attach; download it: {link['pdf']}"
    run_line = f"Open the run: {link['run']}" if link["run"] else ""
    text = "\n\n".join(p for p in (lead, "Parameters:\n" + _params_text(d["parameters"]), pdf_note, run_line) if p)
    parts = [f"<p>{html.escape(lead)}</p>", "<h3>Parameters</h3>", _params_html(d["parameters"])]
    if pdf_note:
        parts.append(f"<p>The PDF is too large to attach: <a href=\"{html.escape(str(link['pdf']))}\">download "
                     "it</a>.</p>")
    if link["run"]:
        parts.append(f"<p><a href=\"{html.escape(link['run'])}\">Open the run</a></p>")
    return Mail(to=d["recipient"], subject=subject, text=text + "\n", html="".join(parts),
                attachments=[attachment] if attachment else [])


def owner_notice(d: Mapping[str, Any], failed: list[Mapping[str, Any]], base_url: str) -> Mail:
    name = d["template_name"]
    lines = [f"  {f['channel']} {f['recipient']}: {f['last_error']}" for f in failed]
    page = f"{base_url}/schedules/{d['schedule_id']}"
    text = (f"Deliveries of your schedule for \u201c{name}\u201d ({d['fire_at'].isoformat()}) failed after "
            f"every retry:\n" + "\n".join(lines) + f"\n\nThe schedule: {page}\n")
    items = "".join(f"<li>{html.escape(line.strip())}</li>" for line in lines)
    return Mail(to=d["recipient"], subject=f"Delivery failed: {name}", text=text,
                html=f"<p>Deliveries of your schedule for \u201c{html.escape(name)}\u201d failed after every "
                     f"retry:</p><ul>{items}</ul><p><a href=\"{html.escape(page)}\">The schedule</a></p>")
