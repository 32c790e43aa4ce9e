"""The jobs API of a real ``python -m web`` process (and a real worker where jobs must run), on a real PostgreSQL.

Bad input must come back as a 4xx JSON error of DESIGN.md's shape, ``{"error": {"code", "message"}}``, and
insert nothing; good input must do what the contract says, checked in the jobs table itself.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.support.databases import connect, insert_job, job, wait_status
from tests.support.processes import wait_for

JSON = {"Content-Type": "application/json"}
MAX_PAYLOAD = 64 * 1024  # the default MAX_PAYLOAD_BYTES


@pytest.fixture
def web(database_url, services):
    service = services("web", database_url)
    wait_for(service.ready, timeout=15, message="web /readyz")
    return service


@pytest.fixture
def api(web) -> Iterator[httpx.Client]:
    with web.client(timeout=10) as client:
        yield client


def count_jobs(url: str) -> int:
    with connect(url) as conn:
        return int(conn.execute("SELECT count(*) AS n FROM jobs").fetchone()["n"])


def assert_error(response: httpx.Response, status: int, code: str | None = None, case: str = "") -> dict[str, Any]:
    assert response.status_code == status, f"{case}: {response.status_code} {response.text[:500]}"
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error["code"], str) and error["code"], body
    assert isinstance(error["message"], str) and error["message"], body
    assert set(error) <= {"code", "message", "details"}, body
    if code is not None:
        assert error["code"] == code, body
    return error


def post(client: httpx.Client, body: Any) -> httpx.Response:
    return client.post("/api/jobs", content=json.dumps(body), headers=JSON)


# ---- bad input: a 4xx JSON error and nothing inserted ----------------------------------------------------------

RAW_BODIES = {  # name: (body bytes, content type, expected status, expected code)
    "malformed JSON": (b'{"type": "PING",', "application/json", 400, "invalid_json"),
    "empty body": (b"", "application/json", 400, "invalid_json"),
    "trailing garbage": (b'{"type": "PING"} x', "application/json", 400, "invalid_json"),
    "a JSON array": (b'[{"type": "PING"}]', "application/json", 422, "validation_error"),
    "a JSON string": (b'"PING"', "application/json", 422, "validation_error"),
    "JSON null": (b"null", "application/json", 422, "validation_error"),
    "text/plain": (b'{"type": "PING"}', "text/plain", 415, "unsupported_media_type"),
    "form encoded": (b"type=PING", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
    "no content type": (b'{"type": "PING"}', None, 415, "unsupported_media_type"),
    "NaN": (b'{"type": "PING", "payload": {"x": NaN}}', "application/json", 400, "invalid_json"),
    "Infinity": (b'{"type": "PING", "priority": Infinity}', "application/json", 400, "invalid_json"),
    "-Infinity": (b'{"type": "PING", "payload": {"x": -Infinity}}', "application/json", 400, "invalid_json"),
    "NUL in a value": (b'{"type": "PING", "payload": {"x": "a\\u0000b"}}', "application/json", 400,
                       "invalid_json"),
    "NUL in a key": (b'{"type": "PING", "payload": {"a\\u0000": 1}}', "application/json", 400, "invalid_json"),
    "NUL in dedup_key": (b'{"type": "PING", "dedup_key": "k\\u0000"}', "application/json", 400, "invalid_json"),
    "lone high surrogate": (b'{"type": "PING", "payload": {"x": "\\ud800"}}', "application/json", 400,
                            "invalid_json"),
    "lone low surrogate in a key": (b'{"type": "PING", "payload": {"\\udfff": 1}}', "application/json", 400,
                                    "invalid_json"),
    "invalid UTF-8": (b'{"type": "PING", "payload": {"x": "\xff\xfe"}}', "application/json", 400, "invalid_json"),
    "nested 100 deep": (b'{"type": "PING", "payload": {"x": ' + b"[" * 100 + b"]" * 100 + b"}}",
                        "application/json", 400, "invalid_json"),
    "nested 30000 deep": (b'{"type": "PING", "payload": {"x": ' + b"[" * 30000 + b"]" * 30000 + b"}}",
                          "application/json", 400, "invalid_json"),
    "a 5000-digit integer": (b'{"type": "PING", "priority": ' + b"9" * 5000 + b"}", "application/json", 400,
                             "invalid_json"),
}


def test_bad_request_bodies_are_json_errors_and_insert_nothing(api, database_url):
    for name, (body, content_type, status, code) in RAW_BODIES.items():
        headers = {"Content-Type": content_type} if content_type else {}
        assert_error(api.post("/api/jobs", content=body, headers=headers), status, code, case=name)
    assert count_jobs(database_url) == 0


INVALID_JOBS = {  # name: (body, the field named in details)
    "unknown type": ({"type": "NO_SUCH_TYPE"}, "type"),
    "lower-case type": ({"type": "ping"}, "type"),
    "type with a newline": ({"type": "PING\n"}, "type"),
    "type not offered by the API": ({"type": "START_RUN", "payload": {"run_id": str(uuid.uuid4())}}, "type"),
    "missing type": ({"payload": {}}, "type"),
    "type null": ({"type": None}, "type"),
    "type a number": ({"type": 7}, "type"),
    "payload an array": ({"type": "PING", "payload": []}, "payload"),
    "payload a string": ({"type": "PING", "payload": "{}"}, "payload"),
    "priority a word": ({"type": "PING", "priority": "high"}, "priority"),
    "priority a float": ({"type": "PING", "priority": 1.5}, "priority"),
    "priority too high": ({"type": "PING", "priority": 101}, "priority"),
    "max_attempts 0": ({"type": "PING", "max_attempts": 0}, "max_attempts"),
    "max_attempts 101": ({"type": "PING", "max_attempts": 101}, "max_attempts"),
    "max_attempts true": ({"type": "PING", "max_attempts": True}, "max_attempts"),
    "max_attempts a string": ({"type": "PING", "max_attempts": "3"}, "max_attempts"),
    "timeout_seconds -1": ({"type": "PING", "timeout_seconds": -1}, "timeout_seconds"),
    "timeout_seconds 0": ({"type": "PING", "timeout_seconds": 0}, "timeout_seconds"),
    "timeout_seconds a denormal float": ({"type": "PING", "timeout_seconds": 5e-324}, "timeout_seconds"),
    "timeout_seconds too long": ({"type": "PING", "timeout_seconds": 86401}, "timeout_seconds"),
    "timeout_seconds true": ({"type": "PING", "timeout_seconds": True}, "timeout_seconds"),
    "timeout_seconds a string": ({"type": "PING", "timeout_seconds": "10"}, "timeout_seconds"),
    "run_at without a time zone": ({"type": "PING", "run_at": "2030-01-01T00:00:00"}, "run_at"),
    "run_at a date only": ({"type": "PING", "run_at": "2030-01-01"}, "run_at"),
    "run_at a word": ({"type": "PING", "run_at": "tomorrow"}, "run_at"),
    "run_at a number": ({"type": "PING", "run_at": 1893456000}, "run_at"),
    "run_at before the year 1": ({"type": "PING", "run_at": "0001-01-01T00:00:00+14:00"}, "run_at"),
    "run_at after the year 9999": ({"type": "PING", "run_at": "9999-12-31T23:59:59-14:00"}, "run_at"),
    "dedup_key empty": ({"type": "PING", "dedup_key": ""}, "dedup_key"),
    "dedup_key too long": ({"type": "PING", "dedup_key": "k" * 201}, "dedup_key"),
    "dedup_key a number": ({"type": "PING", "dedup_key": 5}, "dedup_key"),
    "unknown field": ({"type": "PING", "colour": "red"}, "colour"),
    "id given by the client": ({"type": "PING", "id": str(uuid.uuid4())}, "id"),
    "status given by the client": ({"type": "PING", "status": "COMPLETED"}, "status"),
}


def test_invalid_jobs_are_422_naming_the_field_and_insert_nothing(api, database_url):
    for name, (body, field) in INVALID_JOBS.items():
        error = assert_error(post(api, body), 422, "validation_error", case=name)
        assert field in error.get("details", {}), f"case {name!r}: {error}"
    assert count_jobs(database_url) == 0


def test_several_problems_are_reported_together(api, database_url):
    error = assert_error(post(api, {"type": "nope", "priority": "high", "max_attempts": 0, "x": 1}), 422)
    assert set(error["details"]) == {"type", "priority", "max_attempts", "x"}
    assert count_jobs(database_url) == 0


def test_oversized_bodies_are_413_with_content_length_and_chunked(api, database_url):
    big = json.dumps({"type": "PING", "payload": {"x": "a" * (MAX_PAYLOAD + 8192)}}).encode()
    assert_error(api.post("/api/jobs", content=big, headers=JSON), 413, "payload_too_large")

    def chunks() -> Iterator[bytes]:  # no Content-Length: the cap must hold while streaming
        for start in range(0, len(big), 4096):
            yield big[start:start + 4096]

    request = api.build_request("POST", "/api/jobs", content=chunks(), headers=JSON)
    assert "content-length" not in request.headers and request.headers["transfer-encoding"] == "chunked"
    assert_error(api.send(request), 413, "payload_too_large")
    # A body under the transport cap whose payload is over MAX_PAYLOAD_BYTES is refused too.
    just_over = {"type": "PING", "payload": {"x": "a" * MAX_PAYLOAD}}
    assert_error(post(api, just_over), 413, "payload_too_large")
    assert count_jobs(database_url) == 0


def test_unknown_and_malformed_job_ids_are_404(api, database_url):
    insert_job(database_url)
    for job_id in ("not-a-uuid", str(uuid.uuid4()), "1", "%00", "00000000-0000-0000-0000-00000000000g"):
        assert_error(api.get(f"/api/jobs/{job_id}"), 404, "not_found")
        assert_error(api.post(f"/api/jobs/{job_id}/cancel", json={}), 404, "not_found")
        assert_error(api.post(f"/api/jobs/{job_id}/retry", json={}), 404, "not_found")
    assert count_jobs(database_url) == 1


def test_unknown_routes_and_methods_are_json_errors(api, database_url):
    assert_error(api.get("/api/nothing-here"), 404)
    assert_error(api.delete("/api/jobs"), 405)
    assert_error(api.put(f"/api/jobs/{uuid.uuid4()}"), 405)
    assert count_jobs(database_url) == 0


BAD_QUERIES = {  # name: (query parameters, the parameter named in details)
    "status BOGUS": ({"status": "BOGUS"}, "status"),
    "status lower case": ({"status": "queued"}, "status"),
    "type lower case": ({"type": "ping"}, "type"),
    "type with a trailing newline": ({"type": "PING\n"}, "type"),
    "limit 0": ({"limit": "0"}, "limit"),
    "limit abc": ({"limit": "abc"}, "limit"),
    "limit 1000": ({"limit": "1000"}, "limit"),
    "limit -1": ({"limit": "-1"}, "limit"),
    "limit 1.5": ({"limit": "1.5"}, "limit"),
    "limit a superscript digit": ({"limit": "²"}, "limit"),
    "limit Arabic-Indic digits": ({"limit": "٥"}, "limit"),
    "limit 5000 digits": ({"limit": "9" * 5000}, "limit"),
    "cursor garbage": ({"cursor": "garbage"}, "cursor"),
    "cursor with a bad id": ({"cursor": "2030-01-01T00:00:00+00:00_not-a-uuid"}, "cursor"),
    "cursor with a bad date": ({"cursor": f"yesterday_{uuid.uuid4()}"}, "cursor"),
    "cursor with a NUL": ({"cursor": "\x00"}, "cursor"),
}


def test_bad_list_queries_are_422(api, database_url):
    insert_job(database_url)
    for name, (params, field) in BAD_QUERIES.items():
        error = assert_error(api.get("/api/jobs", params=params), 422, "validation_error", case=name)
        assert field in error.get("details", {}), f"case {name!r}: {error}"


# ---- good paths ------------------------------------------------------------------------------------------------

def test_create_get_and_location(api, database_url):
    response = post(api, {"type": "PING", "payload": {"note": "héllo ✓"}, "priority": 5, "max_attempts": 2})
    assert response.status_code == 201, response.text
    created = response.json()
    assert response.headers["location"] == f"/api/jobs/{created['id']}"
    assert created["status"] == "QUEUED" and created["type"] == "PING"
    assert created["payload"] == {"note": "héllo ✓"}
    assert created["priority"] == 5 and created["max_attempts"] == 2 and created["attempts"] == 0
    fetched = api.get(response.headers["location"])
    assert fetched.status_code == 200 and fetched.json() == {**created, "attempt_history": []}
    # Upper-case UUIDs name the same job.
    assert api.get(f"/api/jobs/{created['id'].upper()}").json()["id"] == created["id"]
    row = job(database_url, created["id"])
    assert row["payload"] == {"note": "héllo ✓"} and row["status"] == "QUEUED"
    assert count_jobs(database_url) == 1


def test_list_filters_and_paginates_without_gaps_or_duplicates(api, database_url):
    ids = [post(api, {"type": "PING", "payload": {"n": n}}).json()["id"] for n in range(7)]
    cancelled = {ids[1], ids[4]}
    for job_id in cancelled:
        assert api.post(f"/api/jobs/{job_id}/cancel", json={}).status_code == 200
    other = insert_job(database_url, "COUNT")  # another type, enqueued with the seed's SQL

    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": "3", **({"cursor": cursor} if cursor else {})}
        page = api.get("/api/jobs", params=params)
        assert page.status_code == 200, page.text
        body = page.json()
        assert len(body["jobs"]) <= 3
        seen += [j["id"] for j in body["jobs"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
        assert pages < 10, "pagination does not end"
    assert len(seen) == len(set(seen)) == 8, seen
    assert set(seen) == {*ids, other}
    created = [job(database_url, j)["created_at"] for j in seen]
    assert created == sorted(created, reverse=True), "newest first"

    by_status = api.get("/api/jobs", params={"status": "CANCELLED"}).json()["jobs"]
    assert {j["id"] for j in by_status} == cancelled
    assert all(j["status"] == "CANCELLED" for j in by_status)
    by_type = api.get("/api/jobs", params={"type": "COUNT"}).json()["jobs"]
    assert [j["id"] for j in by_type] == [other]
    both = api.get("/api/jobs", params={"type": "PING", "status": "QUEUED"}).json()["jobs"]
    assert {j["id"] for j in both} == set(ids) - cancelled
    assert api.get("/api/jobs", params={"type": "EXPORT"}).json() == {"jobs": [], "next_cursor": None}


def test_dedup_key_returns_the_first_job_with_200(api, database_url):
    first = post(api, {"type": "PING", "dedup_key": "nightly-2030-01-01", "payload": {"v": 1}})
    assert first.status_code == 201, first.text
    second = post(api, {"type": "PING", "dedup_key": "nightly-2030-01-01", "payload": {"v": 2}})
    assert second.status_code == 200, second.text
    assert second.json()["id"] == first.json()["id"]
    assert second.json()["payload"] == {"v": 1}, "the first job is returned, not a new one"
    assert second.headers["location"] == f"/api/jobs/{first.json()['id']}"
    assert count_jobs(database_url) == 1
    assert post(api, {"type": "PING", "dedup_key": "another"}).status_code == 201
    assert count_jobs(database_url) == 2


def test_cancel_a_queued_job_then_again_is_409(api, database_url):
    job_id = post(api, {"type": "PING"}).json()["id"]
    response = api.post(f"/api/jobs/{job_id}/cancel", json={})
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "CANCELLED"
    row = job(database_url, job_id)
    assert row["status"] == "CANCELLED" and row["completed_at"] is not None
    assert "CANCELLED" in assert_error(api.post(f"/api/jobs/{job_id}/cancel", json={}), 409, "conflict")["message"]
    assert job(database_url, job_id)["status"] == "CANCELLED"


def test_cancel_a_running_job_is_202_and_ends_cancelled(api, database_url, services):
    services("worker", database_url)
    job_id = post(api, {"type": "PING", "payload": {"sleep_seconds": 60}}).json()["id"]
    wait_status(database_url, job_id, "IN_PROGRESS", timeout=10)
    response = api.post(f"/api/jobs/{job_id}/cancel", json={})
    assert response.status_code == 202, response.text
    done = wait_status(database_url, job_id, "CANCELLED", "COMPLETED", "FAILED", timeout=15)
    assert done["status"] == "CANCELLED"


def test_retry_a_failed_job_queues_it_with_one_more_attempt(api, database_url, services):
    job_id = post(api, {"type": "PING", "payload": {"fail": True}, "max_attempts": 1}).json()["id"]
    assert_error(api.post(f"/api/jobs/{job_id}/retry", json={}), 409, "conflict")  # QUEUED cannot be retried
    worker = services("worker", database_url)
    failed = wait_status(database_url, job_id, "FAILED", "COMPLETED")
    assert failed["status"] == "FAILED" and failed["attempts"] == 1 and "drill failure" in failed["error"]
    worker.stop()
    assert worker.process is not None and worker.process.returncode == 0

    retried = api.post(f"/api/jobs/{job_id}/retry", json={})
    assert retried.status_code == 200, retried.text
    assert retried.json()["status"] == "QUEUED" and retried.json()["max_attempts"] == 2
    assert job(database_url, job_id)["status"] == "QUEUED"

    services("worker", database_url)
    wait_for(lambda: (row := job(database_url, job_id))["status"] == "FAILED" and row["attempts"] == 2 and row,
             timeout=20, message="the retried job to fail its second attempt")
    assert count_jobs(database_url) == 1


def test_retry_of_a_completed_job_is_409(api, database_url, services):
    services("worker", database_url)
    job_id = post(api, {"type": "PING"}).json()["id"]
    wait_status(database_url, job_id, "COMPLETED", "FAILED")
    error = assert_error(api.post(f"/api/jobs/{job_id}/retry", json={}), 409, "conflict")
    assert "COMPLETED" in error["message"]
    assert job(database_url, job_id)["status"] == "COMPLETED"


def test_a_delayed_job_starts_at_run_at_not_before(api, database_url, services):
    services("worker", database_url, POLL_INTERVAL_SECONDS=60)
    run_at = datetime.now(UTC) + timedelta(seconds=2)
    response = post(api, {"type": "PING", "run_at": run_at.isoformat()})
    assert response.status_code == 201, response.text
    job_id = response.json()["id"]
    assert datetime.fromisoformat(response.json()["run_at"]) == run_at
    assert job(database_url, job_id)["started_at"] is None
    done = wait_status(database_url, job_id, "COMPLETED", "FAILED", timeout=15)
    assert done["status"] == "COMPLETED"
    assert done["started_at"] >= run_at, (done["started_at"], run_at)
    assert done["started_at"] - run_at < timedelta(seconds=5), "woken near run_at, not at the 60 s poll"


def test_higher_priority_jobs_start_first(api, database_url, services):
    plan = [("low", -10), ("low", -10), ("mid", 0), ("high", 10), ("high", 10), ("top", 100)]
    ids = {post(api, {"type": "PING", "priority": p, "payload": {"name": n}}).json()["id"]: p for n, p in plan}
    assert len(ids) == len(plan)
    services("worker", database_url, WORKER_CONCURRENCY=1, WORKER_LIGHT_CONCURRENCY=1)
    wait_for(lambda: all(job(database_url, j)["status"] == "COMPLETED" for j in ids), timeout=20,
             message="every job completed")
    with connect(database_url) as conn:
        rows = conn.execute("SELECT id, priority, started_at FROM jobs ORDER BY started_at").fetchall()
    assert [r["priority"] for r in rows] == sorted((p for _, p in plan), reverse=True), rows


def test_cancel_and_retry_refuse_requests_a_cross_site_form_could_send(web, database_url):
    job_id = insert_job(database_url)
    api = web.session_client()  # a signed-in admin's browser: its cookie rides along with any site's form
    for action in ("cancel", "retry"):
        for headers in ({"content-type": "application/x-www-form-urlencoded"}, {"content-type": "text/plain"},
                        {"content-type": "multipart/form-data; boundary=x"}):
            response = api.post(f"/api/jobs/{job_id}/{action}", headers=headers, content=b"")
            assert_error(response, 403, "csrf_rejected")
    assert job(database_url, job_id)["status"] == "QUEUED", "nothing changed"
