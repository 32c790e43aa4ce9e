"""Input checks of the report product that need no database: templates, uploads, stored run values."""

from __future__ import annotations

import datetime as dt

import pytest

from common import report_datasets
from common.errors import ValidationError
from common.report_templates import TemplateInput, parse_id, syntax_problem
from common.reports import validate_declarations
from common.runs import stored_values


def test_a_valid_template_is_normalised() -> None:
    new = TemplateInput.from_json({"name": "  Sales ", "body": "# {{ x }}", "parameters": [
        {"name": "x", "type": "number", "default": "3"}]})
    assert new.name == "Sales" and new.parameters[0]["default"] == 3 and new.base_version is None


def test_every_bad_field_is_named() -> None:
    with pytest.raises(ValidationError) as caught:
        TemplateInput.from_json({"name": "x" * 201, "description": 5, "body": "{% for %}",
                                 "parameters": [{"name": "a", "type": "colour"}], "base_version": 0, "id": 1})
    assert set(caught.value.details) == {"name", "description", "body", "parameters[0].type", "base_version", "id"}


def test_syntax_errors_carry_their_line_and_nothing_runs() -> None:
    assert syntax_problem("ok\n\n{% if x %}never closed") is not None
    assert syntax_problem("line\n{{ 1 + }}").startswith("Line 2")
    assert syntax_problem("{{ ''.__class__ }}") is None  # parsing is safe; the sandbox refuses it at render


def test_ids_are_canonical_uuids_or_none() -> None:
    assert parse_id("C8E2BD7A-ABE8-4AE2-9D77-720FABAB07E4") == "c8e2bd7a-abe8-4ae2-9d77-720fabab07e4"
    assert parse_id("../etc") is None and parse_id(None) is None


@pytest.mark.parametrize("name, media, ok", [
    ("a.csv", "text/csv", True), ("a.TSV", "text/tab-separated-values", True),
    ("a.csv", "application/vnd.ms-excel", True), ("a.exe", "text/csv", False), ("a.csv", "image/png", False),
])
def test_uploads_are_limited_by_type(name: str, media: str, ok: bool) -> None:
    if ok:
        assert report_datasets.check_upload(name, media, b"a,b\n1,2\n")[1].columns == ["a", "b"]
    else:
        with pytest.raises(report_datasets.UnsupportedUpload):
            report_datasets.check_upload(name, media, b"a,b\n1,2\n")


def test_upload_names_lose_paths_and_control_characters() -> None:
    assert report_datasets.clean_filename("C:\\Users\\me\\sales\x00.csv") == "sales.csv"
    assert report_datasets.clean_filename("") == "upload.csv"


def test_stored_values_are_json_safe() -> None:
    params = validate_declarations([{"name": "d", "type": "date"}, {"name": "n", "type": "number"},
                                    {"name": "data", "type": "dataset"}])
    stored = stored_values(params, {"d": dt.date(2026, 1, 2), "n": 3.5, "data": object()}, {"data": "id-1"})
    assert stored == {"d": "2026-01-02", "n": 3.5, "data": "id-1"}
