"""deploy/cloudrun/verify.sh end to end: only gcloud is fake; the PING goes through our real web and worker.

The unit tests (tests/unit/test_deploy_scripts.py) cover every gcloud-side failure with a scripted jobs
API; here the web service's URL points at a real ``python -m web`` on a real database, so the check that
matters most in production (a PING goes QUEUED → COMPLETED) is proven against the code we ship.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.support.accounts import api_token
from tests.support.processes import wait_for
from tests.unit.test_deploy_scripts import CHECKS, _lines, cloud  # noqa: F401 - the fixture is used by name


@dataclass
class RealWeb:
    url: str
    admin_token: str  # the web refuses anonymous requests: verify.sh is given REPORTGEN_API_TOKEN


@pytest.fixture
def job_api(database_url, services) -> RealWeb:
    web = services("web", database_url)
    wait_for(web.ready, timeout=20, message="web ready")
    return RealWeb(url=web.base_url, admin_token=api_token(database_url, "admin"))


def test_verify_passes_against_the_real_web_and_worker(cloud, job_api, database_url, services):  # noqa: F811
    services("worker", database_url)
    anonymous = cloud.run("verify.sh", VERIFY_TIMEOUT="20")
    assert anonymous.returncode == 1 and "REPORTGEN_API_TOKEN" in anonymous.stdout, anonymous.stdout
    result = cloud.run("verify.sh", VERIFY_TIMEOUT="20", REPORTGEN_API_TOKEN=job_api.admin_token)
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(_lines(result.stdout, "PASS")) == CHECKS, result.stdout
    assert "COMPLETED" in result.stdout


def test_verify_fails_with_its_fix_when_no_worker_runs(cloud, job_api):  # noqa: F811
    result = cloud.run("verify.sh", VERIFY_TIMEOUT="2", REPORTGEN_API_TOKEN=job_api.admin_token)
    assert result.returncode == 1
    fails = _lines(result.stdout, "FAIL")
    assert len(fails) == 1 and "end-to-end" in fails[0] and "QUEUED" in fails[0], result.stdout
    assert "Jobs stay QUEUED" in result.stdout, "the failure names its fix"
