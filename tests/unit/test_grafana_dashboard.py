"""deploy/grafana/dashboard.json is a loadable dashboard whose queries (and the Prometheus rules') name only
metrics that exist: the DESIGN.md list, the recording rules of deploy/prometheus/recording.yml, and `up`.
With promtool present, every query must also parse as PromQL.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboard.json"
PROMETHEUS = ROOT / "deploy" / "prometheus"

# The metrics of ../shared/DESIGN.md ("Metrics"), as Prometheus exposes them (histogram series suffixes,
# counter _total), plus those common/metrics.py adds: in-flight handlers, rescued jobs and retried
# database errors (worker), recent latency read from the database (web), schedules' fires and deliveries.
HISTOGRAMS = ("reportgen_job_wait_seconds", "reportgen_job_duration_seconds", "reportgen_delivery_lag_seconds")
EXPORTED = {
    "reportgen_jobs", "reportgen_queue_oldest_age_seconds", "reportgen_jobs_processed_total",
    "reportgen_worker_wakeups_total", "reportgen_listener_up", "reportgen_worker_in_flight",
    "reportgen_recent_job_latency_seconds", "reportgen_jobs_rescued_total", "reportgen_database_errors_total",
    "reportgen_schedule_fires_total", "reportgen_deliveries_total", "reportgen_delivery_attempts_total", "up",
    *(f"{h}_{suffix}" for h in HISTOGRAMS for suffix in ("bucket", "sum", "count")),
}
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool",
            "offset", "inf", "nan"}
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$type": ".*"}


def metric_names(expr: str) -> set[str]:
    """The metric (and recording rule) names a PromQL expression selects."""
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals
    expr = re.sub(r"\{[^}]*\}", " ", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", " ", expr)  # ranges and subqueries
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    names = set()
    for match in re.finditer(r"(?<![\w.])([A-Za-z_:][\w:]*)\s*(\()?", expr):
        name, call = match.group(1), match.group(2)
        if not call and name.lower() not in KEYWORDS:
            names.add(name)
    return names


def _recorded() -> set[str]:
    rules = yaml.safe_load((PROMETHEUS / "recording.yml").read_text())
    return {r["record"] for g in rules["groups"] for r in g["rules"]}


def _dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return data


def _exprs() -> list[str]:
    return [t["expr"] for p in _dashboard()["panels"] for t in p.get("targets", [])]


def test_metric_names_parser() -> None:
    expr = ('histogram_quantile(0.95, sum by (le, type) (rate(reportgen_job_wait_seconds_bucket'
            '{type=~"$type", x="a{b}"}[$__rate_interval]))) / on (type) group_left foo:bar:max or vector(0)')
    assert metric_names(expr) == {"reportgen_job_wait_seconds_bucket", "foo:bar:max"}


def test_dashboard_is_a_grafana_dashboard() -> None:
    dashboard = _dashboard()
    assert dashboard["uid"] and dashboard["title"] and isinstance(dashboard["schemaVersion"], int)
    panels = dashboard["panels"]
    assert len({p["id"] for p in panels}) == len(panels), "panel ids must be unique"
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] != "row":
            assert panel["targets"], panel["title"]
            assert len({t["refId"] for t in panel["targets"]}) == len(panel["targets"])


def test_dashboard_shows_what_operators_watch() -> None:
    # Queue depth, oldest age, wait and duration percentiles, throughput, failures, listener up: directly
    # or through a recording rule.
    rules = yaml.safe_load((PROMETHEUS / "recording.yml").read_text())
    expands = {r["record"]: metric_names(r["expr"]) for g in rules["groups"] for r in g["rules"]}
    used: set[str] = set()
    for expr in _exprs():
        for name in metric_names(expr):
            used |= expands.get(name, {name})
    assert {"reportgen_jobs", "reportgen_queue_oldest_age_seconds", "reportgen_job_wait_seconds_bucket",
            "reportgen_job_duration_seconds_bucket", "reportgen_jobs_processed_total",
            "reportgen_listener_up", "reportgen_worker_wakeups_total", "reportgen_deliveries_total",
            "reportgen_delivery_lag_seconds_bucket", "up"} <= used
    quantiles = [e for e in _exprs() if e.startswith("histogram_quantile(")]
    assert {"reportgen_job_wait_seconds_bucket", "reportgen_job_duration_seconds_bucket"} <= set().union(
        *(metric_names(e) for e in quantiles))


@pytest.mark.parametrize("source", ["dashboard", "recording.yml", "alerts.yml"])
def test_queries_name_only_metrics_that_exist(source: str) -> None:
    if source == "dashboard":
        exprs = _exprs()
        known = EXPORTED | _recorded()
    else:
        rules = yaml.safe_load((PROMETHEUS / source).read_text())
        exprs = [r["expr"] for g in rules["groups"] for r in g["rules"]]
        known = EXPORTED  # rules are built from exported metrics only
    assert exprs
    for expr in exprs:
        unknown = metric_names(expr) - known
        assert not unknown, f"{expr!r} names metrics nobody exports: {sorted(unknown)}"


def test_dashboard_queries_parse_as_promql(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        if os.environ.get("CI") or os.environ.get("REPORTGEN_REQUIRE_TOOLS") == "1":
            pytest.fail("promtool is required here: run .ci/setup.d/prometheus.sh")
        pytest.skip("promtool not on PATH (run .ci/setup.d/prometheus.sh)")
    rules = []
    for i, expr in enumerate(_exprs()):
        for variable, value in GRAFANA_VARIABLES.items():
            expr = expr.replace(variable, value)
        rules.append({"record": f"dashboard:query_{i}:check", "expr": expr})
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout


def test_every_metric_the_queries_name_is_exported_by_common_metrics() -> None:
    # The list above must match the code: render the registry with one of everything and parse it.
    from prometheus_client.parser import text_string_to_metric_families

    from common.metrics import Metrics, snapshot_from_rows

    metrics = Metrics()
    metrics.job_wait.labels(type="PING").observe(0.01)
    metrics.job_duration.labels(type="PING", outcome="completed").observe(0.01)
    metrics.jobs_processed.labels(type="PING", outcome="completed").inc()
    metrics.rescued.inc()
    metrics.database_errors.labels(operation="job_claim").inc()
    metrics.schedule_fires.labels(outcome="run").inc()
    metrics.delivery_attempts.labels(channel="email", outcome="failed").inc()
    metrics.delivery_lag.labels(channel="email").observe(3.0)
    snapshot = snapshot_from_rows(
        [{"status": "QUEUED", "type": "PING", "n": 1, "oldest_age_seconds": 0.5}], [],
        [{"type": "PING", "wait_p50": 0.01, "wait_p99": 0.02, "duration_p50": 0.01, "duration_p99": 0.02}],
    )
    text = metrics.render(snapshot).decode()
    exported = {s.name for family in text_string_to_metric_families(text) for s in family.samples}
    assert EXPORTED - {"up"} <= exported, sorted(EXPORTED - {"up"} - exported)


def test_delivery_counters_start_at_zero_so_the_first_failure_alerts() -> None:
    # increase() cannot see a counter's first step if the series is born at 1: every channel is at 0 first.
    from prometheus_client.parser import text_string_to_metric_families

    from common.metrics import Metrics

    text = Metrics().render(None).decode()
    failed = {s.labels["channel"]: s.value for f in text_string_to_metric_families(text) for s in f.samples
              if s.name == "reportgen_deliveries_total" and s.labels["outcome"] == "failed"}
    assert failed == {"email": 0.0, "webhook": 0.0, "owner": 0.0}
