from __future__ import annotations

import json
import logging

import pytest

from common.logs import JsonFormatter, TextFormatter, redact_url
from common.sql import parse_queries, queries


def test_named_queries_are_parsed_without_their_comments():
    parsed = parse_queries("-- a_one --\n-- says what it does\nSELECT 1;\n\n-- b_two --\nSELECT 2\nFROM x;\n")
    assert parsed == {"a_one": "SELECT 1", "b_two": "SELECT 2\nFROM x"}


def test_a_query_defined_twice_is_an_error():
    with pytest.raises(ValueError, match="defined twice"):
        parse_queries("-- q --\nSELECT 1;\n-- q --\nSELECT 2;")


def test_the_project_queries_load_and_are_parameterised():
    loaded = queries()
    assert {"job_claim", "job_complete", "job_extend_leases", "job_rescue_expired"} <= set(loaded)
    assert "%(worker_id)s" in loaded["job_claim"] and "SKIP LOCKED" in loaded["job_claim"]


def _record(**extra: object) -> logging.LogRecord:
    record = logging.LogRecord("worker", logging.WARNING, __file__, 1, "job %s", ("failed",), None)
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def test_json_logs_carry_severity_message_and_job_context():
    entry = json.loads(JsonFormatter().format(_record(job_id="j1", type="PING", attempt=2, duration_ms=1.5)))
    assert entry["severity"] == "WARNING" and entry["message"] == "job failed"
    assert (entry["job_id"], entry["type"], entry["attempt"], entry["duration_ms"]) == ("j1", "PING", 2, 1.5)


def test_text_logs_are_readable_with_context():
    line = TextFormatter().format(_record(job_id="j1"))
    assert "WARNING" in line and "job failed" in line and "[job_id=j1]" in line


def test_passwords_are_redacted_from_urls():
    assert redact_url("postgresql://app:s3cret@db.example.com:5432/app") == "postgresql://app:***@db.example.com:5432/app"
    assert redact_url("postgresql://app@db/app") == "postgresql://app@db/app"
