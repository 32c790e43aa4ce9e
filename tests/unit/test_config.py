from __future__ import annotations

import pytest

from common.config import DEFAULT_WORKSPACE_ID, Settings
from common.errors import ConfigError


def test_defaults_follow_the_design_card():
    s = Settings.from_env({})
    assert (s.service_mode, s.port, s.poll_interval_seconds, s.worker_concurrency) == ("all", 8000, 5.0, 4)
    assert (s.job_lease_seconds, s.shutdown_grace_seconds, s.log_format) == (30.0, 8.0, "text")
    assert s.default_workspace_id == DEFAULT_WORKSPACE_ID and s.database_url is None


def test_values_are_parsed_and_normalised():
    s = Settings.from_env({"SERVICE_MODE": " Worker ", "PORT": "9090", "POLL_INTERVAL_SECONDS": "0.5",
                           "DEFAULT_WORKSPACE_ID": DEFAULT_WORKSPACE_ID.upper(), "LOG_FORMAT": "JSON",
                           "REPORTGEN_HANDLER_MODULES": "a.b, c ,", "DATABASE_URL": "postgres://u:p@h:5432/d"})
    assert (s.service_mode, s.port, s.poll_interval_seconds, s.log_format) == ("worker", 9090, 0.5, "json")
    assert s.default_workspace_id == DEFAULT_WORKSPACE_ID and s.handler_modules == ("a.b", "c")


@pytest.mark.parametrize(("env", "message"), [
    ({"DATABASE_URL": "http://x"}, "DATABASE_URL must look like"),
    ({"DATABASE_URL": "postgresql://h:port/db"}, "port that is not a number"),
    ({"SERVICE_MODE": "both"}, "SERVICE_MODE must be one of"),
    ({"DEFAULT_WORKSPACE_ID": "nope"}, "must be a UUID"),
    ({"PORT": "0"}, "PORT must be between 1 and 65535"),
    ({"WORKER_CONCURRENCY": "2.5"}, "must be an integer"),
    ({"POLL_INTERVAL_SECONDS": "soon"}, "must be a number"),
    ({"LOG_FORMAT": "xml"}, "LOG_FORMAT must be text or json"),
])
def test_bad_values_raise_one_clear_error(env, message):
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(env)
