"""Fuzzing the jobs API of a real ``python -m web`` process on a real PostgreSQL.

Two runs, both reproducible (``derandomize=True``, no example database) and bounded to finish in well under a
minute:

- **schemathesis** generates requests from the service's own ``/openapi.json`` (schema-valid and schema-breaking
  ones) and checks each response against that description: no 5xx, documented status codes and content types,
  bodies that match the Job and Error schemas. Path ids are sometimes replaced by ids of real jobs in every state,
  so cancel and retry are exercised on existing rows, not only on random UUIDs.
- **hypothesis** sends hostile bodies and query strings that a schema-driven generator rarely makes: NUL
  characters, lone surrogates, invalid UTF-8, NaN and Infinity, 5,000-digit numbers, deep nesting, wrong content
  types.

After each run the invariants are checked in the jobs table: every row has a valid status, and the jobs that exist
are exactly the seeded ones plus one per 201 response.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support.databases import WORKSPACE, connect
from tests.support.processes import Service, wait_for
from tests.support.schedules import make_template

STATUSES = {"QUEUED", "IN_PROGRESS", "COMPLETED", "FAILED", "CANCELLED"}
FUZZ_SETTINGS = settings(max_examples=150, derandomize=True, database=None, deadline=None,
                         suppress_health_check=list(HealthCheck))
SCHEMA_SETTINGS = settings(FUZZ_SETTINGS, max_examples=400)
# Not positive_data_acceptance: JSON Schema cannot say "no NUL characters" or "run_at from 1970 to 9999", which the
# API refuses on purpose (400, 422) because PostgreSQL cannot store or give them back.
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          negative_data_rejection]


@pytest.fixture
def web(database_url, services) -> Service:
    service = services("web", database_url, LOG_LEVEL="WARNING")
    wait_for(service.ready, timeout=15, message="web /readyz")
    return service


def seed_jobs(url: str) -> list[str]:
    """One job in each state, so that cancel, retry and get meet real rows of every kind."""
    with connect(url) as conn:
        rows = conn.execute("""
            INSERT INTO jobs (workspace_id, type, status, payload, attempts, locked_by, lease_expires_at,
                              started_at, completed_at, result, error)
            SELECT %s, 'PING', s, '{}', CASE WHEN s = 'QUEUED' THEN 0 ELSE 1 END,
                   CASE WHEN s = 'IN_PROGRESS' THEN 'fuzz-worker' END,
                   CASE WHEN s = 'IN_PROGRESS' THEN now() + interval '1 hour' END,
                   CASE WHEN s <> 'QUEUED' THEN now() END,
                   CASE WHEN s IN ('COMPLETED', 'FAILED', 'CANCELLED') THEN now() END,
                   CASE WHEN s = 'COMPLETED' THEN '{"pong": true}'::jsonb END,
                   CASE WHEN s = 'FAILED' THEN 'seeded failure' END
            FROM unnest(ARRAY['QUEUED', 'IN_PROGRESS', 'COMPLETED', 'FAILED', 'CANCELLED']) AS s
            RETURNING id""", (WORKSPACE,)).fetchall()
    return [str(r["id"]) for r in rows]


def seed_template(url: str) -> str:
    """A template with two versions, so that history, version and restore meet a real row too."""
    ident = make_template(url)
    with connect(url) as conn:
        conn.execute("INSERT INTO template_versions (template_id, version, body, parameters) "
                     "SELECT template_id, 2, body || 'v2', parameters FROM template_versions "
                     "WHERE template_id = %s AND version = 1", (ident,))
        conn.execute("UPDATE templates SET current_version = 2 WHERE id = %s", (ident,))
    return ident


def job_ids(url: str) -> set[str]:
    with connect(url) as conn:
        rows = conn.execute("SELECT id::text AS id, status FROM jobs").fetchall()
    bad = [r for r in rows if r["status"] not in STATUSES]
    assert not bad, f"jobs with an invalid status: {bad}"
    return {r["id"] for r in rows}


def assert_error_shape(status: int, body: Any, context: str) -> None:
    assert 400 <= status < 500, f"{context}: status {status}"
    assert isinstance(body, dict) and set(body) == {"error"}, f"{context}: {body!r}"
    error = body["error"]
    assert isinstance(error, dict) and set(error) <= {"code", "message", "details"}, f"{context}: {body!r}"
    assert isinstance(error.get("code"), str) and error["code"], f"{context}: {body!r}"
    assert isinstance(error.get("message"), str) and error["message"], f"{context}: {body!r}"


def test_schemathesis_finds_no_5xx_and_the_responses_match_openapi(web, database_url):
    seeded = seed_jobs(database_url)
    template = seed_template(database_url)
    with web.client() as api:  # an admin's API token: every operation is open to it
        credential = {"Authorization": api.headers["authorization"]}
    schema = schemathesis.openapi.from_url(f"{web.base_url}/openapi.json", timeout=10, headers=credential)
    # Every request carries the admin's token above, so a generated Authorization value never reaches the wire: a
    # "negative" one would be replaced by a valid token and then counted as invalid data the API accepted. Sign-in
    # and token refusals have their own tests. Unknown query parameters are ignored on purpose (as by most HTTP
    # APIs: cache busters, tracking tags), so they are not generated as invalid data either.
    schema.config.generation.update(with_security_parameters=False, allow_extra_parameters=False)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.label for op in operations} >= {"POST /api/jobs", "GET /api/jobs", "GET /api/jobs/{job_id}",
                                               "POST /api/jobs/{job_id}/cancel", "POST /api/jobs/{job_id}/retry",
                                               "GET /api/members", "POST /api/members", "PATCH /api/members/{user_id}",
                                               "DELETE /api/members/{user_id}", "GET /api/tokens", "POST /api/tokens",
                                               "DELETE /api/tokens/{token_id}", "GET /api/audit",
                                               "GET /api/templates/{template_id}/versions",
                                               "GET /api/templates/{template_id}/versions/{version}",
                                               "POST /api/templates/{template_id}/versions/{version}/restore",
                                               "GET /api/datasets", "POST /api/datasets",
                                               "DELETE /api/datasets/{dataset_id}"}
    cases = st.one_of([op.as_strategy(generation_mode=mode) for op in operations
                       for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)])
    created: set[str] = set()
    created_other = [0]
    seen: dict[int, int] = {}

    with requests.Session() as session:
        session.headers.update(credential)

        @SCHEMA_SETTINGS
        @given(case=cases, real_id=st.sampled_from([None, *seeded]), real_template=st.booleans())
        def run(case: schemathesis.Case, real_id: str | None, real_template: bool) -> None:
            # A real id replaces only a valid generated path: put in place of a schema-breaking one, it would make
            # that request valid while its metadata still says "invalid", a false "invalid data accepted".
            path_is_valid = case.meta is None or not case.meta.is_negative_at(ParameterLocation.PATH)
            if path_is_valid and real_id is not None and case.path_parameters and "job_id" in case.path_parameters:
                case.path_parameters["job_id"] = real_id
            if path_is_valid and real_template and case.path_parameters and "template_id" in case.path_parameters:
                case.path_parameters["template_id"] = template
            response = case.call(base_url=web.base_url, session=session, timeout=10)
            seen[response.status_code] = seen.get(response.status_code, 0) + 1
            case.validate_response(response, checks=CHECKS)
            context = f"{case.method} {case.formatted_path} -> {response.status_code}"
            if case.path.startswith("/api/") and response.status_code >= 400:
                assert_error_shape(response.status_code, response.json(), context)
            if case.operation.label == "POST /api/jobs" and response.status_code == 201:
                created.add(response.json()["id"])
            elif response.status_code == 201:  # templates and datasets of the report API (they enqueue nothing)
                created_other[0] += 1

        run()

    assert job_ids(database_url) == set(seeded) | created
    assert seen.get(201, 0) == len(created) + created_other[0]
    assert any(400 <= status < 500 for status in seen), seen
    assert any(200 <= status < 300 for status in seen), seen


# ---- hostile values, sent directly ----------------------------------------------------------------------------

HOSTILE_TEXT = st.one_of(
    st.text(max_size=20),
    st.text(alphabet=st.characters(codec=None), max_size=8),  # lone surrogates and NUL included
    st.sampled_from(["\x00", "\ud800", "a\udfffb", "PING\n", "PING\x00", "💥" * 3, "' OR 1=1 --", "%s", "{}",
                     "９", "²", "-0", "1e999", "9" * 5000, "PING" * 20]),
)
JSON_LEAF = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(min_value=10**30, max_value=10**60),
                      st.floats(allow_nan=True, allow_infinity=True), HOSTILE_TEXT)
JSON_VALUE = st.recursive(JSON_LEAF, lambda inner: st.lists(inner, max_size=3)
                          | st.dictionaries(HOSTILE_TEXT, inner, max_size=3), max_leaves=12)
FIELDS = {"type": st.one_of(st.just("PING"), JSON_VALUE), "payload": JSON_VALUE, "priority": JSON_VALUE,
          "max_attempts": JSON_VALUE, "timeout_seconds": JSON_VALUE, "run_at": st.one_of(JSON_VALUE, st.sampled_from(
              ["2030-01-01T00:00:00Z", "2030-01-01T00:00:00", "0001-01-01T00:00:00+14:00", "2030-13-45T99:99Z"])),
          "dedup_key": JSON_VALUE}


@st.composite
def hostile_bodies(draw: st.DrawFn) -> tuple[bytes, str | None]:
    kind = draw(st.sampled_from(["object", "value", "bytes", "nested"]))
    if kind == "object":
        body = draw(st.fixed_dictionaries({}, optional={**FIELDS, "extra": JSON_VALUE}))
        raw = json.dumps(body, ensure_ascii=draw(st.booleans())).encode("utf-8", "surrogatepass")
    elif kind == "value":
        raw = json.dumps(draw(JSON_VALUE)).encode()
    elif kind == "bytes":
        raw = draw(st.binary(max_size=64))
    else:
        depth = draw(st.integers(min_value=60, max_value=30000))
        raw = b'{"type": "PING", "payload": {"x": ' + b"[" * depth + b"]" * depth + b"}}"
    content_type = draw(st.sampled_from(["application/json", "application/json; charset=utf-8",
                                         "APPLICATION/JSON", "text/plain", "application/jsonx", None]))
    return raw, content_type


QUERY_VALUE = st.one_of(HOSTILE_TEXT, st.integers().map(str),
                        st.sampled_from(["QUEUED", "FAILED", "PING", "1", "200", "201", "0"]))
QUERIES = st.dictionaries(st.sampled_from(["status", "type", "limit", "cursor", "other"]), QUERY_VALUE, max_size=4)
PATH_IDS = st.one_of(HOSTILE_TEXT.filter(lambda s: s.strip(".") and not set(s) & set("/?#")),
                     st.uuids().map(str))


def wire(value: str) -> str:
    """Percent-encoded as sent; a lone surrogate becomes the invalid UTF-8 it would be on the wire."""
    return quote(value.encode("utf-8", "surrogatepass"), safe="")


@pytest.fixture
def client(web) -> Iterator[httpx.Client]:
    with web.client(timeout=10) as http:
        yield http


def test_hostile_bodies_queries_and_ids_are_4xx_json_and_the_table_stays_consistent(client, database_url):
    seeded = seed_jobs(database_url)
    created: set[str] = set()

    @FUZZ_SETTINGS
    @given(body=hostile_bodies())
    def post_bodies(body: tuple[bytes, str | None]) -> None:
        raw, content_type = body
        headers = {"Content-Type": content_type} if content_type else {}
        response = client.post("/api/jobs", content=raw, headers=headers)
        context = f"POST /api/jobs {raw[:200]!r} ({content_type}) -> {response.status_code}"
        if response.status_code == 201:
            created.add(response.json()["id"])
        elif response.status_code == 200:  # a dedup_key drawn twice: the first job, not a new one
            assert response.json()["id"] in created, context
        else:
            assert_error_shape(response.status_code, response.json(), context)

    @FUZZ_SETTINGS
    @given(params=QUERIES)
    def list_queries(params: dict[str, str]) -> None:
        response = client.get("/api/jobs?" + "&".join(f"{k}={wire(v)}" for k, v in params.items()))
        context = f"GET /api/jobs {params!r} -> {response.status_code}"
        if response.status_code == 200:
            assert set(response.json()) == {"jobs", "next_cursor"}, context
            assert all(j["status"] in STATUSES for j in response.json()["jobs"]), context
        else:
            assert_error_shape(response.status_code, response.json(), context)

    @FUZZ_SETTINGS
    @given(job_id=PATH_IDS, action=st.sampled_from(["", "/cancel", "/retry"]))
    def ids(job_id: str, action: str) -> None:
        method = "GET" if not action else "POST"
        # Actions are sent as JSON, as API clients do (a form-like POST is refused first: CSRF).
        response = client.request(method, f"/api/jobs/{wire(job_id)}{action}", json={} if action else None)
        context = f"{method} /api/jobs/{job_id!r}{action} -> {response.status_code}"
        assert response.status_code == 404, context
        assert_error_shape(response.status_code, response.json(), context)

    post_bodies()
    list_queries()
    ids()
    assert job_ids(database_url) == set(seeded) | created
    assert created, "some hostile bodies are still valid jobs and must be accepted"
