from __future__ import annotations

import psycopg
import pytest

from common import db
from common.config import DEFAULT_WORKSPACE_ID, Settings, listen_url
from common.errors import ConfigError
from common.runtime import resolve_database_url


def test_defaults_follow_the_design_card():
    s = Settings.from_env({})
    assert (s.service_mode, s.port, s.poll_interval_seconds, s.worker_concurrency) == ("all", 8000, 5.0, 4)
    assert (s.job_lease_seconds, s.shutdown_grace_seconds, s.log_format) == (30.0, 8.0, "text")
    assert s.default_workspace_id == DEFAULT_WORKSPACE_ID and s.database_url is None
    assert s.render_pool_size == 2 and Settings.from_env({"RENDER_POOL_SIZE": "0"}).render_pool_size == 0


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
    ({"DATABASE_POOL_MODE": "statement"}, "DATABASE_POOL_MODE must be transaction or session"),
    ({"DATABASE_URL": "postgresql://h/d?pool_mode=stmt"}, "pool_mode='stmt'; it must be transaction or session"),
    ({"LISTEN_DATABASE_URL": "mysql://h/d"}, "LISTEN_DATABASE_URL must look like"),
    ({"WORKER_PROCESSES": "0"}, "WORKER_PROCESSES must be between 1 and 256"),
    ({"RENDER_POOL_SIZE": "-1"}, "RENDER_POOL_SIZE must be between 0 and 64"),
    ({"RUN_PAGE_WAIT_SECONDS": "30"}, "RUN_PAGE_WAIT_SECONDS must be between 0 and 10"),
    ({"REPORTGEN_SUPERVISOR_PID": "x"}, "REPORTGEN_SUPERVISOR_PID must be an integer"),
])
def test_bad_values_raise_one_clear_error(env, message):
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(env)


@pytest.mark.parametrize(("url", "mode"), [
    ("postgresql://u@db.ref.supabase.co:5432/postgres", None),
    ("postgresql://u@aws-0-eu.pooler.supabase.com:6543/postgres", "transaction"),
    ("postgresql://u@aws-0-eu.pooler.supabase.com:6543/postgres?pool_mode=session", "session"),
    ("postgresql://u@bouncer:6432/app?sslmode=require&pool_mode=Transaction", "transaction"),
    ("postgresql://u@h/d", None),
])
def test_pool_mode_comes_from_the_url_or_the_6543_port(url, mode):
    assert db.pool_mode(url) == mode
    assert db.is_transaction_pooler(url) == (mode == "transaction")
    # None turns psycopg's server-side prepared statements off; absent keeps its default (5).
    assert (db.connection_kwargs(url, "t").get("prepare_threshold", 5) is None) == (mode == "transaction")


def test_pool_mode_is_stripped_before_libpq_sees_it():
    url = "postgresql://u:p@bouncer:6432/app?sslmode=require&pool_mode=transaction"
    assert db.libpq_url(url) == "postgresql://u:p@bouncer:6432/app?sslmode=require"
    assert db.libpq_url("postgresql://u@h/d") == "postgresql://u@h/d"
    psycopg.conninfo.conninfo_to_dict(db.libpq_url(url))  # libpq's parser accepts what is left


def test_database_pool_mode_is_carried_in_the_resolved_url():
    s = Settings.from_env({"DATABASE_URL": "postgresql://u@bouncer:6432/app", "DATABASE_POOL_MODE": "transaction"})
    url = resolve_database_url(s)
    assert db.is_transaction_pooler(url) and db.libpq_url(url) == "postgresql://u@bouncer:6432/app"
    session = Settings.from_env({"DATABASE_URL": "postgresql://u@h:6543/app", "DATABASE_POOL_MODE": "session"})
    assert not db.is_transaction_pooler(resolve_database_url(session))


def test_listeners_use_listen_database_url_when_set():
    pooled = "postgresql://u@aws-0-eu.pooler.supabase.com:6543/postgres"
    plain = Settings.from_env({"DATABASE_URL": pooled})
    assert listen_url(plain, pooled) == pooled
    both = Settings.from_env({"DATABASE_URL": pooled, "LISTEN_DATABASE_URL": "postgresql://u@session:5432/postgres"})
    assert listen_url(both, pooled) == "postgresql://u@session:5432/postgres"
