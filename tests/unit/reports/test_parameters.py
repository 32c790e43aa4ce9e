"""Parameter declarations and values: every kind of bad input names its field."""

from __future__ import annotations

import datetime as dt

import pytest

from common.errors import ValidationError
from common.reports.datasets import Dataset
from common.reports.parameters import validate_declarations, validate_parameters

DECLS = validate_declarations([
    {"name": "title", "type": "text", "max_length": 10, "min_length": 2, "default": "Report"},
    {"name": "limit", "type": "number", "min": 1, "max": 100, "required": True},
    {"name": "start", "type": "date", "min": "2024-01-01", "max": "2024-12-31"},
    {"name": "region", "type": "choice", "choices": ["North", "South"], "default": "North"},
    {"name": "detailed", "type": "boolean"},
    {"name": "sales", "type": "dataset", "required": True},
])
CSV = b"month,amount\nJan,10\n"


def _errors(values: dict[str, object]) -> dict[str, str]:
    with pytest.raises(ValidationError) as caught:
        validate_parameters(DECLS, values)
    assert isinstance(caught.value.details, dict)
    return caught.value.details


def test_good_values_are_coerced_from_form_strings() -> None:
    out = validate_parameters(DECLS, {"limit": "7", "start": "2024-03-01", "detailed": "on", "sales": CSV})
    assert out["limit"] == 7 and out["start"] == dt.date(2024, 3, 1) and out["detailed"] is True
    assert out["title"] == "Report" and out["region"] == "North"
    assert isinstance(out["sales"], Dataset) and out["sales"].rows == [{"month": "Jan", "amount": 10}]


def test_json_values_are_accepted() -> None:
    out = validate_parameters(DECLS, {"limit": 2.5, "detailed": False, "sales": CSV, "region": "South"})
    assert (out["limit"], out["detailed"], out["region"], out["start"]) == (2.5, False, "South", None)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("title", "x" * 11, "At most 10 characters."),
        ("title", "x", "At least 2 characters."),
        ("title", 5, "Must be text."),
        ("limit", "many", "Must be a number."),
        ("limit", "0", "Must be at least 1."),
        ("limit", 101, "Must be at most 100."),
        ("limit", "nan", "Must be a finite number."),
        ("limit", True, "Must be a number."),
        ("start", "31/01/2024", "Must be a date as YYYY-MM-DD."),
        ("start", "2023-12-31", "Must be at least 2024-01-01."),
        ("start", "2025-01-01", "Must be at most 2024-12-31."),
        ("region", "East", "Choose one of: North, South."),
        ("detailed", "maybe", "Must be true or false."),
        ("sales", "not a file", "Upload a CSV file."),
        ("sales", b"\xff\xfe", "not UTF-8"),
        ("nonsense", 1, "no parameter of that name"),
    ],
)
def test_each_bad_value_is_reported_on_its_field(field: str, value: object, message: str) -> None:
    good: dict[str, object] = {"limit": 5, "sales": CSV}
    errors = _errors({**good, field: value})
    assert list(errors) == [field]
    assert message in errors[field]


def test_missing_required_values_are_all_reported_at_once() -> None:
    errors = _errors({"limit": ""})
    assert errors == {"limit": "This field is required.", "sales": "This field is required."}


@pytest.mark.parametrize(
    ("decl", "key"),
    [
        ({"name": "1st", "type": "text"}, "name"),
        ({"name": "range", "type": "text"}, "name"),
        ({"name": "for", "type": "text"}, "name"),
        ({"name": "x", "type": "colour"}, "type"),
        ({"name": "x", "type": "choice"}, "choices"),
        ({"name": "x", "type": "choice", "choices": ["a", "a"]}, "choices"),
        ({"name": "x", "type": "number", "min": 5, "max": 1}, "min"),
        ({"name": "x", "type": "number", "default": "lots"}, "default"),
        ({"name": "x", "type": "choice", "choices": ["a"], "default": "b"}, "default"),
        ({"name": "x", "type": "dataset", "default": "a.csv"}, "default"),
        ({"name": "x", "type": "text", "min": 1}, "min"),
        ({"name": "x", "type": "text", "colour": "red"}, "colour"),
        ({"name": "x", "type": "boolean", "required": "yes"}, "required"),
    ],
)
def test_bad_declarations_are_rejected_at_save_time(decl: dict[str, object], key: str) -> None:
    with pytest.raises(ValidationError) as caught:
        validate_declarations([{"name": "ok", "type": "text"}, decl])
    assert isinstance(caught.value.details, dict)
    assert list(caught.value.details) == [f"parameters[1].{key}"]


def test_duplicate_names_are_rejected() -> None:
    with pytest.raises(ValidationError) as caught:
        validate_declarations([{"name": "a", "type": "text"}, {"name": "a", "type": "number"}])
    assert caught.value.details == {"parameters[1].name": "The name 'a' is used twice."}


def test_declarations_round_trip_through_json_form() -> None:
    again = validate_declarations([p.to_dict() for p in DECLS])
    assert again == DECLS
