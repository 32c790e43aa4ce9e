"""``POST /api/templates/parameters/check`` (the builder's check as you type) says what a save would say."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.processes import Service

BAD = [{"name": "limit", "type": "number", "min": 10, "max": 1},
       {"name": "limit", "type": "text", "choices": ["a"]},
       {"name": "for", "type": "date", "default": "someday"}]


@pytest.fixture
def web(database_url: str, services: Any) -> Service:
    return services("web", database_url)  # type: ignore[no-any-return]


@pytest.fixture
def api(web: Service) -> Iterator[httpx.Client]:
    with web.client() as client:
        yield client


def test_the_check_gives_the_per_field_messages_of_a_save(api: httpx.Client) -> None:
    answer = api.post("/api/templates/parameters/check", json={"parameters": BAD})
    assert answer.status_code == 200
    checked = answer.json()
    assert checked["valid"] is False and checked["parameters"] is None
    save = api.post("/api/templates", json={"name": "t", "body": "x", "parameters": BAD})
    assert save.status_code == 422
    assert checked["errors"] == save.json()["error"]["details"]  # the very same rules and words
    assert checked["errors"]["parameters[0].min"] == "min is greater than max."


def test_valid_declarations_come_back_as_a_save_would_store_them(api: httpx.Client) -> None:
    answer = api.post("/api/templates/parameters/check", json={"parameters": [
        {"name": "limit", "type": "number", "min": "1", "max": 10, "default": "5"},
        {"name": "sales", "type": "dataset", "required": True}]}).json()
    assert answer == {"valid": True, "errors": {}, "parameters": [
        {"name": "limit", "type": "number", "label": "Limit", "required": False, "default": 5, "min": 1, "max": 10},
        {"name": "sales", "type": "dataset", "label": "Sales", "required": True}]}


def test_a_malformed_request_is_a_422_and_a_viewer_may_not_check(api: httpx.Client, web: Service) -> None:
    assert api.post("/api/templates/parameters/check", json={"params": []}).status_code == 422
    assert api.post("/api/templates/parameters/check", json=[]).status_code == 422
    assert api.post("/api/templates/parameters/check", json={"parameters": "x"}).json()["errors"] == {
        "parameters": "Must be a list."}
    with web.client(role="viewer") as viewer:
        assert viewer.post("/api/templates/parameters/check", json={"parameters": []}).status_code == 403
