"""/metrics on both services equal what happened; logs are JSON lines for Cloud Logging when asked."""

from __future__ import annotations

import json

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.support.databases import WORKSPACE, connect, insert_job, wait_status
from tests.support.processes import wait_for


def _samples(base_url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(f"{base_url}/metrics", timeout=5).text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def _value(samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_after_a_known_set_of_jobs(database_url, services):
    worker = services("worker", database_url, LOG_LEVEL="WARNING")
    web = services("web", database_url)
    ok = [insert_job(database_url) for _ in range(10)]
    with connect(database_url) as conn:
        bad = [str(conn.execute("INSERT INTO jobs (workspace_id, type, payload, max_attempts) VALUES "
                                "(%s, 'PING', '{\"fail\": true}', 1) RETURNING id", (WORKSPACE,)).fetchone()["id"])
               for _ in range(3)]
        conn.execute("INSERT INTO jobs (workspace_id, type, payload, run_at) SELECT %s, 'PING', '{}', "
                     "now() + interval '1 hour' FROM generate_series(1, 2)", (WORKSPACE,))
    for job_id in ok:
        wait_status(database_url, job_id, "COMPLETED")
    for job_id in bad:
        wait_status(database_url, job_id, "FAILED")
    wait_for(lambda: _value(_samples(worker.base_url), "reportgen_jobs_processed_total", type="PING",
                            outcome="failed") == 3, timeout=5, message="failures counted")

    w = _samples(worker.base_url)
    assert _value(w, "reportgen_jobs_processed_total", type="PING", outcome="completed") == 10
    assert _value(w, "reportgen_jobs_processed_total", type="PING", outcome="failed") == 3
    assert _value(w, "reportgen_job_wait_seconds_count", type="PING") == 13
    assert _value(w, "reportgen_job_duration_seconds_count", type="PING", outcome="completed") == 10
    assert _value(w, "reportgen_job_duration_seconds_count", type="PING", outcome="failed") == 3
    assert _value(w, "reportgen_listener_up") == 1
    assert _value(w, "reportgen_worker_in_flight") == 0
    assert _value(w, "reportgen_worker_wakeups_total", source="notify") >= 1
    for samples in (w, _samples(web.base_url)):
        assert _value(samples, "reportgen_jobs", status="QUEUED", type="PING") == 2
        assert _value(samples, "reportgen_jobs", status="COMPLETED", type="PING") == 10
        assert _value(samples, "reportgen_jobs", status="FAILED", type="PING") == 3
        assert _value(samples, "reportgen_jobs", status="IN_PROGRESS", type="PING") == 0
    web_samples = _samples(web.base_url)
    assert _value(web_samples, "reportgen_recent_job_latency_seconds", type="PING", kind="wait", quantile="0.5") > 0
    # Delayed jobs are not due, so they are not "waiting": no oldest-age for them yet.
    assert _value(w, "reportgen_queue_oldest_age_seconds", type="PING") == 0


def test_oldest_queued_job_age_is_reported_without_a_worker(database_url, services):
    web = services("web", database_url)
    with connect(database_url) as conn:
        conn.execute("INSERT INTO jobs (workspace_id, type, payload, created_at, run_at) VALUES "
                     "(%s, 'PING', '{}', now() - interval '90 seconds', now() - interval '90 seconds')", (WORKSPACE,))
    age = _value(_samples(web.base_url), "reportgen_queue_oldest_age_seconds", type="PING")
    assert 89 <= age < 200


def test_json_logs_have_severity_and_job_context_and_no_idle_noise(database_url, services):
    # The servers here trust local connections, so a password in the URL is accepted and must never be logged.
    with_secret = database_url.replace("postgres@", "postgres:s3cr3t-pw@", 1)
    assert "s3cr3t-pw" in with_secret
    worker = services("worker", with_secret, LOG_FORMAT="json", LOG_LEVEL="DEBUG", POLL_INTERVAL_SECONDS=0.2)
    job_id = insert_job(database_url)
    wait_status(database_url, job_id, "COMPLETED")
    wait_for(lambda: job_id in worker.log(), timeout=5, message="job logged")
    worker.stop()
    entries = [json.loads(line) for line in worker.log_path.read_text().splitlines() if line.startswith("{")]
    assert entries, "JSON lines"
    assert all("severity" in e and "message" in e for e in entries)
    done = [e for e in entries if e.get("job_id") == job_id]
    assert done and done[-1]["type"] == "PING" and done[-1]["attempt"] == 1 and "duration_ms" in done[-1]
    idle = [e for e in entries if e["message"] == "No jobs found"]
    assert idle and all(e["severity"] == "DEBUG" for e in idle), "idle polling logs at debug level only"
    assert "s3cr3t-pw" not in worker.log_path.read_text()


def test_a_backlog_past_the_count_cap_is_shown_as_more_than_the_cap(database_url, services):
    """10,001 queued jobs: the pages say "10,000+" and /metrics an estimate of at least 10,001, while a
    small queue of another type stays exact (docs/operations.md, "Counts")."""
    web = services("web", database_url)
    with connect(database_url) as conn:
        conn.execute("INSERT INTO jobs (workspace_id, type, payload, run_at) SELECT %s, 'PING', '{}', "
                     "now() + interval '1 hour' FROM generate_series(1, 10001)", (WORKSPACE,))
        conn.execute("INSERT INTO jobs (workspace_id, type, payload, run_at) SELECT %s, 'EXPORT', '{}', "
                     "now() - interval '1 minute' FROM generate_series(1, 3)", (WORKSPACE,))
        conn.execute("ANALYZE jobs")
    samples = _samples(web.base_url)
    assert _value(samples, "reportgen_jobs", status="QUEUED", type="EXPORT") == 3
    assert 10_001 <= _value(samples, "reportgen_jobs", status="QUEUED", type="PING") <= 20_000
    assert 59 <= _value(samples, "reportgen_queue_oldest_age_seconds", type="EXPORT") < 200
    with web.client() as client:
        assert '<span class="big">10,000+</span> jobs queued' in client.get("/").text
        assert "10,000+ queued" in client.get("/jobs").text
        with connect(database_url) as conn:
            conn.execute("DELETE FROM jobs WHERE type = 'PING'")
        assert '<span class="big">3</span> jobs queued' in client.get("/").text


def test_metrics_token_guards_every_metrics_port(database_url, services):
    """METRICS_TOKEN holds on the worker's port, the supervisor's (WORKER_PROCESSES=2) and the web's."""
    ports = [services("worker", database_url, METRICS_TOKEN="m-secret"),
             services("worker", database_url, METRICS_TOKEN="m-secret", WORKER_PROCESSES="2"),
             services("web", database_url, METRICS_TOKEN="m-secret")]
    for service in ports:
        wait_for(service.ready, timeout=30, message=f"{service.module} ready")
        url = f"{service.base_url}/metrics"
        assert httpx.get(url, timeout=5).status_code == 401
        assert httpx.get(url, timeout=5, headers={"Authorization": "Bearer m-wrong"}).status_code == 401
        answer = httpx.get(url, timeout=5, headers={"Authorization": "Bearer m-secret"})
        assert answer.status_code == 200 and "reportgen_" in answer.text, (service.module, answer.text[:200])
    # The supervisor's children answer it over their unix sockets without the token: the merge has them.
    merged = httpx.get(f"{ports[1].base_url}/metrics", timeout=5, headers={"Authorization": "Bearer m-secret"})
    assert 'reportgen_worker_processes 2.0' in merged.text
