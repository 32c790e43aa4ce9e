"""deploy/prometheus: the scrape config, recording and alert rules pass promtool's checks, and the alerts
pass their unit tests (deploy/prometheus/tests.yml).

promtool comes from Debian's prometheus package (.ci/setup.d/prometheus.sh). Under CI, or with
REPORTGEN_REQUIRE_TOOLS=1, a missing promtool is a failure, not a skip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
ALERTS = {"ReportgenWorkerDown", "ReportgenNoWorkerListening", "ReportgenQueueBackingUp",
          "ReportgenOldestJobTooOld", "ReportgenFailureRatioHigh", "ReportgenWebDown", "ReportgenDeliveriesFailing"}


def _tool(name: str, install: str) -> str:
    path = shutil.which(name)
    if path:
        return path
    if os.environ.get("CI") or os.environ.get("REPORTGEN_REQUIRE_TOOLS") == "1":
        pytest.fail(f"{name} is required here but not on PATH; {install}")
    pytest.skip(f"{name} not on PATH ({install}); CI and REPORTGEN_REQUIRE_TOOLS=1 make this a failure")


@pytest.fixture(scope="module")
def promtool() -> str:
    return _tool("promtool", "run .ci/setup.d/prometheus.sh or apt-get install prometheus")


def _run(*args: str, cwd: Path = PROMETHEUS) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("rules", ["recording.yml", "alerts.yml"])
def test_rules_pass_promtool_check(promtool: str, rules: str) -> None:
    result = _run(promtool, "check", "rules", "--lint=all", rules)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_config_passes_promtool_check_with_its_rule_files(promtool: str, tmp_path: Path) -> None:
    # The full check also loads rule_files and the bearer-token files, so give it a copy whose token
    # paths exist.
    for name in ("prometheus.yml", "recording.yml", "alerts.yml"):
        shutil.copy(PROMETHEUS / name, tmp_path / name)
    config = tmp_path / "prometheus.yml"
    config.write_text(config.read_text().replace("/etc/prometheus/", f"{tmp_path}/"))
    (tmp_path / "reportgen-metrics-token").write_text("token\n")
    result = _run(promtool, "check", "config", "prometheus.yml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 2 rule files found" in result.stdout


def test_alert_unit_tests_pass(promtool: str) -> None:
    result = _run(promtool, "test", "rules", "tests.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_a_broken_threshold_is_caught_by_the_unit_tests(promtool: str, tmp_path: Path) -> None:
    # The unit tests must be able to fail: slow one alert down and they do.
    for name in ("recording.yml", "tests.yml"):
        shutil.copy(PROMETHEUS / name, tmp_path / name)
    alerts = (PROMETHEUS / "alerts.yml").read_text()
    assert alerts.count("for: 3m") == 1
    (tmp_path / "alerts.yml").write_text(alerts.replace("for: 3m", "for: 10m"))
    result = _run(promtool, "test", "rules", "tests.yml", cwd=tmp_path)
    assert result.returncode != 0
    assert "ReportgenWorkerDown" in result.stdout + result.stderr


def test_every_alert_is_unit_tested_firing_and_has_a_runbook() -> None:
    alerts = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
    rules = [r for group in alerts["groups"] for r in group["rules"]]
    assert {r["alert"] for r in rules} == ALERTS
    for rule in rules:
        assert rule["labels"]["severity"] in ("critical", "warning")
        assert rule["annotations"]["runbook"].startswith("docs/operations.md#")
    tests = yaml.safe_load((PROMETHEUS / "tests.yml").read_text())
    fired = {case["alertname"] for test in tests["tests"] for case in test.get("alert_rule_test", [])
             if case["exp_alerts"]}
    assert fired == ALERTS


def test_runbook_anchors_exist_in_operations_doc() -> None:
    alerts = (PROMETHEUS / "alerts.yml").read_text()
    doc = (ROOT / "docs" / "operations.md").read_text()
    anchors = {_anchor(line) for line in doc.splitlines() if line.startswith("#")}
    for line in alerts.splitlines():
        if "runbook: docs/operations.md#" in line:
            assert line.split("#", 1)[1].strip() in anchors, line


def _anchor(heading: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.lstrip("#").strip().lower()
    return "".join(c for c in text if c.isalnum() or c in " -_").replace(" ", "-")
