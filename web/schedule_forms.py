"""The schedule form shared by a template's page (create) and a schedule's page (edit).

What the form posts becomes the JSON API's body (``common/schedules.parse_spec`` checks both the same
way): one input per template parameter (``p.<name>``; empty means "the parameter's default"), the cron
line and zone, recipients one per line (commas work too) and "attach the PDF". The next five fire times
are rendered here for the cron shown and then follow the typing (``static/schedule_form.js`` calls
``GET /api/schedules/preview``), so both come from the same server-side computation in the schedule's zone.
"""

from __future__ import annotations

import functools
import re
import zoneinfo
from collections.abc import Mapping
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request

from common import schedules
from common.errors import ValidationError
from common.schedule_times import zone
from web.permissions import Access, may, workspace_of

DEFAULT_CRON = "0 8 * * 1"
EMAILS_SPLIT = re.compile(r"[\s,;]+")  # "a@x.org, b@y.org" works as well as one per line
URLS_SPLIT = re.compile(r"\s+")  # a URL may hold commas and semicolons, never white space


@functools.cache
def zones() -> list[str]:
    """The IANA zone names this host knows (for the form's suggestions), read once on first use."""
    return sorted(z for z in zoneinfo.available_timezones() if "/" in z or z == "UTC")


def _recipients(raw: object, split: re.Pattern[str]) -> list[str]:
    return [part for part in split.split(str(raw or "")) if part]


def body_from_form(form: FormData, template: Mapping[str, Any], base_formats: list[str] | None = None,
                   ) -> dict[str, Any]:
    """The API body for a create (``base_formats`` None) or an edit (formats other than the PDF kept).
    A dataset parameter left empty uses the template's sample file, as "Save and preview" does."""
    parameters: dict[str, Any] = {}
    for key, value in form.multi_items():
        if key.startswith("p.") and isinstance(value, str):
            parameters[key[2:]] = value.strip()  # the last value wins: a checkbox after its hidden "false"
    samples = template.get("sample_datasets") or {}
    for declared in template.get("parameters") or []:
        name = declared.get("name")
        if declared.get("type") == "dataset" and not parameters.get(name) and samples.get(name):
            parameters[name] = str(samples[name])
    formats = [f for f in (base_formats or []) if f != "pdf"]
    if form.get("attach_pdf"):
        formats.insert(0, "pdf")
    return {"parameters": {k: v for k, v in parameters.items() if v != ""},
            "cron": str(form.get("cron") or ""), "timezone": str(form.get("timezone") or "UTC").strip(),
            "emails": _recipients(form.get("emails"), EMAILS_SPLIT),
            "webhooks": _recipients(form.get("webhooks"), URLS_SPLIT),
            "formats": formats}


def values_of(row: Mapping[str, Any] | None) -> dict[str, Any]:
    """What the form shows: a schedule's fields, or a new schedule's defaults."""
    if row is None:
        return {"parameters": {}, "cron": DEFAULT_CRON, "timezone": "UTC", "emails": "", "webhooks": "",
                "attach_pdf": True}
    return {"parameters": dict(row.get("parameters") or {}), "cron": row.get("cron", ""),
            "timezone": row.get("timezone", "UTC"), "emails": "\n".join(row.get("emails") or []),
            "webhooks": "\n".join(row.get("webhooks") or []), "attach_pdf": "pdf" in (row.get("formats") or [])}


def preview_of(cron: object, timezone: object) -> dict[str, Any]:
    """The next five fire times, or the reason there are none (shown where the list would be)."""
    try:
        return schedules.preview(cron, timezone)
    except ValidationError as exc:
        return {"next": [], "error": exc.message}


def form_context(values: dict[str, Any], errors: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The template context of one schedule form (``schedule_form.html``'s macro reads these keys)."""
    return {"values": values, "errors": dict(errors or {}), "preview": preview_of(values["cron"], values["timezone"]),
            "zones": zones()}


async def section(conn: Any, request: Request, template_id: str, values: dict[str, Any] | None = None,
                  errors: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A template page's "Schedules" section: the template's schedules and the form to add one."""
    rows = await schedules.list_schedules(conn, workspace_of(request), template_id)
    return {"schedules": rows, "schedule_form": form_context(values or values_of(None), errors),
            "can_manage": may(request, Access.EDITOR), "notice": request.query_params.get("notice", "")[:200],
            "local": lambda when, tz_name: schedules.local_label(when, zone(tz_name)) if when else ""}
