"""deploy/cloudrun/deploy.sh and verify.sh, run against a fake `gcloud` first on PATH.

The fake answers `run services describe` from JSON files (made from the shipped web.yaml / worker.yaml,
so the manifests we deploy are the ones verify.sh passes), records every call, and points the web
service's `status.url` at the `job_api` fixture: a local HTTP server with POST /api/jobs and
GET /api/jobs/{id}. That fixture is the one place to swap in the real web service (plus a worker).
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from common import memory_budget
from common.config import Settings

ROOT = Path(__file__).resolve().parents[2]
CLOUDRUN = ROOT / "deploy" / "cloudrun"
IMAGE = "europe-west1-docker.pkg.dev/demo-project/reportgen/app:1.2.3"
WEB, WORKER = "report-generator", "report-generator-worker"

# bash and curl are on every machine this runs on; only a local machine without them skips (CI fails instead).
pytestmark = pytest.mark.skipif(
    (shutil.which("bash") is None or shutil.which("curl") is None)
    and not (os.environ.get("CI") or os.environ.get("REPORTGEN_REQUIRE_TOOLS") == "1"),
    reason="needs bash and curl",
)

FAKE_GCLOUD = r'''#!{python}
"""A fake gcloud: answers from $FAKE_GCLOUD_STATE, records each call in calls.jsonl."""
import json, os, pathlib, sys

state = pathlib.Path(os.environ["FAKE_GCLOUD_STATE"])
config = json.loads((state / "config.json").read_text())
args = sys.argv[1:]
record = {{"argv": args}}
flags, words, i = {{}}, [], 0
while i < len(args):
    arg = args[i]
    if arg.startswith("--") and "=" in arg:
        key, value = arg[2:].split("=", 1)
        flags[key] = value
    elif arg.startswith("--") and arg[2:] in ("project", "region", "format", "image", "args",
                                              "service-account", "set-secrets", "set-env-vars",
                                              "max-retries", "task-timeout"):
        flags[arg[2:]] = args[i + 1]
        i += 1
    elif arg.startswith("--"):
        flags[arg[2:]] = True
    else:
        words.append(arg)
    i += 1
if words[:2] == ["run", "services"] and words[2] == "replace":
    record["manifest"] = pathlib.Path(words[3]).read_text()
with (state / "calls.jsonl").open("a") as log:
    log.write(json.dumps(record) + "\n")

if words == ["config", "get-value", "project"]:
    print(config.get("project", ""))
elif words == ["auth", "print-identity-token"]:
    print(config["token"])
elif words[:3] == ["run", "services", "describe"]:
    path = state / "services" / (words[3] + ".json")
    if not path.exists():
        sys.exit("ERROR: (gcloud.run.services.describe) Cannot find service [%s]" % words[3])
    service = json.loads(path.read_text())
    if flags.get("format") == "json":
        print(json.dumps(service))
    elif flags.get("format") == "value(status.url)":
        print(service.get("status", {{}}).get("url", ""))
    else:
        sys.exit("fake gcloud: unsupported --format %r" % flags.get("format"))
elif words[:3] == ["run", "services", "replace"]:
    name = os.path.basename(words[3])
    if name in config.get("fail_replace", []):
        sys.exit("ERROR: (gcloud.run.services.replace) revision failed for %s" % name)
elif words[:2] == ["run", "jobs"] and words[2] in ("deploy", "execute"):
    pass
else:
    sys.exit("fake gcloud: unexpected call %r" % args)
'''


@dataclass
class JobApi:
    """What the web service's jobs API does, as far as verify.sh can see."""

    url: str = ""
    worker_running: bool = True  # False: jobs stay QUEUED
    outcome: str = "COMPLETED"  # final status once the 'worker' has run a job
    token: str | None = None  # when set, requests need "Authorization: Bearer <token>"
    api_token: str | None = None  # when set, "Authorization: Bearer <api_token>" (and the identity token moves)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    posted: list[dict[str, Any]] = field(default_factory=list)

    def advance(self, job: dict[str, Any]) -> None:
        if self.worker_running and job["status"] == "QUEUED":
            job["status"] = "IN_PROGRESS"
        elif self.worker_running and job["status"] == "IN_PROGRESS":
            job["status"] = self.outcome
            job["error"] = "boom" if self.outcome == "FAILED" else None


def _handler(api: JobApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _authorised(self) -> bool:
            if api.api_token:  # the app's own token in Authorization; Cloud Run's in X-Serverless-Authorization
                if self.headers.get("Authorization") != f"Bearer {api.api_token}" or (
                        api.token and self.headers.get("X-Serverless-Authorization") != f"Bearer {api.token}"):
                    self._send(401, {"error": {"code": "unauthenticated", "message": "token needed"}})
                    return False
                return True
            if api.token and self.headers.get("Authorization") != f"Bearer {api.token}":
                self._send(401, {"error": {"code": "unauthenticated", "message": "token needed"}})
                return False
            return True

        def do_POST(self) -> None:
            if not self._authorised():
                return
            if self.path != "/api/jobs":
                self._send(404, {"error": {"code": "not_found", "message": self.path}})
                return
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            api.posted.append(body)
            job = {"id": str(uuid.uuid4()), "type": body["type"], "status": "QUEUED", "error": None}
            api.jobs[job["id"]] = job
            self._send(201, dict(job))

        def do_GET(self) -> None:
            if not self._authorised():
                return
            job = api.jobs.get(self.path.removeprefix("/api/jobs/"))
            if job is None:
                self._send(404, {"error": {"code": "not_found", "message": self.path}})
                return
            api.advance(job)
            self._send(200, dict(job))

    return Handler


@pytest.fixture
def job_api() -> Iterator[JobApi]:
    """The web service's jobs API on a local port (swap for the real web + worker processes later)."""
    api = JobApi()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(api))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    api.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _rendered_manifests() -> dict[str, dict[str, Any]]:
    out = subprocess.run(
        ["bash", str(CLOUDRUN / "deploy.sh")],
        env={**os.environ, "DRY_RUN": "1", "PROJECT": "demo-project", "IMAGE": IMAGE},
        capture_output=True, text=True, check=True, timeout=30,
    ).stdout
    docs = [d for d in yaml.safe_load_all(out) if d]
    return {d["metadata"]["name"]: d for d in docs}


@dataclass
class FakeCloud:
    state: Path
    env: dict[str, str]
    services: dict[str, dict[str, Any]]

    def write(self) -> None:
        folder = self.state / "services"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
        for name, service in self.services.items():
            (folder / f"{name}.json").write_text(json.dumps(service))

    def calls(self) -> list[dict[str, Any]]:
        path = self.state / "calls.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def run(self, script: str, **env: str) -> subprocess.CompletedProcess[str]:
        self.write()
        return subprocess.run(
            ["bash", str(CLOUDRUN / script)], env={**self.env, **env},
            capture_output=True, text=True, timeout=60, cwd=ROOT,
        )


@pytest.fixture
def cloud(tmp_path: Path, job_api: JobApi) -> FakeCloud:
    bin_dir, state = tmp_path / "bin", tmp_path / "state"
    bin_dir.mkdir()
    state.mkdir()
    gcloud = bin_dir / "gcloud"
    gcloud.write_text(FAKE_GCLOUD.format(python=sys.executable))
    gcloud.chmod(0o755)
    (state / "config.json").write_text(json.dumps({"project": "demo-project", "token": "id-token-123"}))
    services = _rendered_manifests()
    ready = {"conditions": [{"type": "Ready", "status": "True"}]}
    services[WEB]["status"] = {**copy.deepcopy(ready), "url": job_api.url}
    services[WORKER]["status"] = {**copy.deepcopy(ready), "url": "https://worker.invalid"}
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "FAKE_GCLOUD_STATE": str(state),
        "PROJECT": "demo-project",
        # Generous: a PING that completes ends the wait at once, and a loaded machine (each poll runs curl
        # and a JSON parse) must not turn a passing check into "claimed but not finished".
        "VERIFY_TIMEOUT": "30",
        "VERIFY_POLL_INTERVAL": "0.05",
    }
    for name in ("REGION", "IMAGE", "SKIP_MIGRATE", "DRY_RUN", "DB_SECRET", "SERVICE_ACCOUNT"):
        env.pop(name, None)
    return FakeCloud(state, env, services)


def _env(service: dict[str, Any], name: str) -> dict[str, Any]:
    env = service["spec"]["template"]["spec"]["containers"][0]["env"]
    return next(e for e in env if e["name"] == name)


def _lines(out: str, verdict: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith(verdict + "  ")]


# ---- deploy.sh -------------------------------------------------------------------------------------------


def test_deploy_migrates_then_replaces_worker_then_web(cloud: FakeCloud) -> None:
    result = cloud.run("deploy.sh", IMAGE=IMAGE)
    assert result.returncode == 0, result.stderr
    calls = cloud.calls()
    verbs = [" ".join(c["argv"][:3]) for c in calls]
    assert verbs == ["run jobs deploy", "run jobs execute", "run services replace", "run services replace"]
    deploy_job = calls[0]["argv"]
    assert deploy_job[deploy_job.index("--image") + 1] == IMAGE
    assert deploy_job[deploy_job.index("--args") + 1] == "migrate"
    assert "DATABASE_URL=reportgen-database-url:latest" in deploy_job
    assert "--wait" in calls[1]["argv"]
    for call in calls:
        argv = call["argv"]
        assert argv[argv.index("--project") + 1] == "demo-project"
        assert argv[argv.index("--region") + 1] == "europe-west1"
    worker, web = (yaml.safe_load(c["manifest"]) for c in calls[2:])
    assert (worker["metadata"]["name"], web["metadata"]["name"]) == (WORKER, WEB)
    for manifest in (worker, web):
        spec = manifest["spec"]["template"]["spec"]
        assert spec["containers"][0]["image"] == IMAGE
        assert spec["serviceAccountName"] == "reportgen-runtime@demo-project.iam.gserviceaccount.com"
        assert "__" not in calls[2]["manifest"] + calls[3]["manifest"]


def test_deploy_honours_region_secret_and_skip_migrate(cloud: FakeCloud) -> None:
    result = cloud.run("deploy.sh", IMAGE=IMAGE, REGION="us-central1", SKIP_MIGRATE="1", DB_SECRET="db-b")
    assert result.returncode == 0, result.stderr
    calls = cloud.calls()
    assert [c["argv"][:3] for c in calls] == [["run", "services", "replace"]] * 2
    assert all(c["argv"][c["argv"].index("--region") + 1] == "us-central1" for c in calls)
    for call in calls:
        ref = _env(yaml.safe_load(call["manifest"]), "DATABASE_URL")["valueFrom"]["secretKeyRef"]
        assert ref == {"name": "db-b", "key": "latest"}


def test_deploy_takes_gcloud_default_project(cloud: FakeCloud) -> None:
    env = {k: v for k, v in cloud.env.items() if k != "PROJECT"}
    cloud.env = env
    result = cloud.run("deploy.sh", IMAGE=IMAGE, SKIP_MIGRATE="1")
    assert result.returncode == 0, result.stderr
    assert cloud.calls()[0]["argv"] == ["config", "get-value", "project"]
    assert "project=demo-project" in result.stdout


@pytest.mark.parametrize(
    ("image", "message"),
    [("", "IMAGE is required"), ("gcr.io/p/app:latest", "not :latest"), ("gcr.io/p/a pp:1", "whitespace")],
)
def test_deploy_refuses_a_bad_image_before_calling_gcloud(cloud: FakeCloud, image: str, message: str) -> None:
    result = cloud.run("deploy.sh", IMAGE=image)
    assert result.returncode == 2
    assert message in result.stderr
    assert cloud.calls() == []


def test_deploy_stops_when_the_worker_fails_to_deploy(cloud: FakeCloud) -> None:
    config = json.loads((cloud.state / "config.json").read_text())
    (cloud.state / "config.json").write_text(json.dumps({**config, "fail_replace": ["worker.yaml"]}))
    result = cloud.run("deploy.sh", IMAGE=IMAGE, SKIP_MIGRATE="1")
    assert result.returncode != 0
    assert "revision failed for worker.yaml" in result.stderr
    assert len(cloud.calls()) == 1  # the web service was not replaced


# ---- verify.sh -------------------------------------------------------------------------------------------

CHECKS = 8


def test_verify_passes_on_the_shipped_manifests(cloud: FakeCloud, job_api: JobApi) -> None:
    result = cloud.run("verify.sh")
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(_lines(result.stdout, "PASS")) == CHECKS, result.stdout
    assert _lines(result.stdout, "FAIL") == []
    assert job_api.posted == [{"type": "PING", "payload": {}}]
    assert "QUEUED -> IN_PROGRESS -> COMPLETED" in result.stdout
    assert "(reportgen-database-url:latest)" in result.stdout
    assert "c8e2bd7a-abe8-4ae2-9d77-720fabab07e4" in result.stdout


def test_verify_fetches_an_identity_token_when_the_web_asks_for_one(
    cloud: FakeCloud, job_api: JobApi
) -> None:
    job_api.token = "id-token-123"
    result = cloud.run("verify.sh")
    assert result.returncode == 0, result.stdout + result.stderr
    assert ["auth", "print-identity-token"] in [c["argv"] for c in cloud.calls()]
    assert len(job_api.posted) == 1


def test_verify_sends_the_api_token_and_moves_the_identity_token_aside(cloud: FakeCloud, job_api: JobApi) -> None:
    job_api.token, job_api.api_token = "id-token-123", "rg_admin-token"
    refused = cloud.run("verify.sh")
    assert refused.returncode == 1 and "REPORTGEN_API_TOKEN" in refused.stdout, refused.stdout
    result = cloud.run("verify.sh", REPORTGEN_API_TOKEN="rg_admin-token")
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(job_api.posted) == 1


def _drop(services: dict[str, Any], name: str) -> None:
    del services[name]


def _set_env(name: str, env: str, entry: dict[str, Any]) -> Any:
    def change(services: dict[str, Any]) -> None:
        target = _env(services[name], env)
        target.clear()
        target.update({"name": env, **entry})
    return change


def _annotate(key: str, value: str) -> Any:
    def change(services: dict[str, Any]) -> None:
        services[WORKER]["spec"]["template"]["metadata"]["annotations"][key] = value
    return change


def _unset_env(name: str, env: str) -> Any:
    def change(services: dict[str, Any]) -> None:
        container = services[name]["spec"]["template"]["spec"]["containers"][0]
        container["env"] = [e for e in container["env"] if e["name"] != env]
    return change


def _not_ready(services: dict[str, Any]) -> None:
    services[WORKER]["status"]["conditions"] = [
        {"type": "Ready", "status": "False", "message": "Revision failed: container exited"}
    ]


OTHER_SECRET = {"valueFrom": {"secretKeyRef": {"name": "other-db", "key": "latest"}}}
CASES: dict[str, tuple[Any, list[str]]] = {
    # case: (change to the fixtures, the checks that must FAIL: substrings of their lines)
    # (job_api keeps running jobs here; a PING that never completes is its own test below)
    "worker missing": (lambda s: _drop(s, WORKER), [
        "worker service report-generator-worker exists", "same Secret Manager secret",
        "same DEFAULT_WORKSPACE_ID", "service modes differ", "min-instances", "always allocated"]),
    "web missing": (lambda s: _drop(s, WEB), [
        "web service report-generator exists", "same Secret Manager secret", "same DEFAULT_WORKSPACE_ID",
        "service modes differ", "end-to-end"]),
    "worker not ready": (_not_ready, ["worker service report-generator-worker exists"]),
    "different secret": (_set_env(WORKER, "DATABASE_URL", OTHER_SECRET), ["same Secret Manager secret"]),
    "different secret version": (
        _set_env(WEB, "DATABASE_URL", {"valueFrom": {"secretKeyRef": {"name": "reportgen-database-url",
                                                                    "key": "3"}}}),
        ["same Secret Manager secret"]),
    "plain-text database url": (
        _set_env(WEB, "DATABASE_URL", {"value": "postgresql://u:p@db:5432/postgres"}),
        ["same Secret Manager secret"]),
    "different workspace": (
        _set_env(WORKER, "DEFAULT_WORKSPACE_ID", {"value": "00000000-0000-4000-8000-000000000000"}),
        ["same DEFAULT_WORKSPACE_ID"]),
    "workspace unset on web": (_unset_env(WEB, "DEFAULT_WORKSPACE_ID"), ["same DEFAULT_WORKSPACE_ID"]),
    "same mode": (_set_env(WORKER, "SERVICE_MODE", {"value": "web"}), ["service modes differ"]),
    "worker mode unset": (_unset_env(WORKER, "SERVICE_MODE"), ["service modes differ"]),
    "worker scales to zero": (_annotate("autoscaling.knative.dev/minScale", "0"), ["min-instances"]),
    "throttled cpu": (_annotate("run.googleapis.com/cpu-throttling", "true"), ["always allocated"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_verify_fails_each_broken_setting_with_a_fix(cloud: FakeCloud, case: str) -> None:
    change, failing = CASES[case]
    change(cloud.services)
    result = cloud.run("verify.sh")
    assert result.returncode == 1, result.stdout + result.stderr
    fails = _lines(result.stdout, "FAIL")
    assert len(fails) == len(failing), result.stdout
    for fragment in failing:
        assert any(fragment in line for line in fails), (fragment, result.stdout)
    assert len(_lines(result.stdout, "PASS")) == CHECKS - len(failing)
    lines = result.stdout.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("FAIL  "):
            assert lines[i + 1].startswith("      fix: "), result.stdout


@pytest.mark.parametrize(
    ("worker_running", "outcome", "expected"),
    [(False, "COMPLETED", "still QUEUED after 2s"), (True, "FAILED", "ended FAILED")],
)
def test_verify_fails_when_the_ping_does_not_complete(
    cloud: FakeCloud, job_api: JobApi, worker_running: bool, outcome: str, expected: str
) -> None:
    job_api.worker_running, job_api.outcome = worker_running, outcome
    result = cloud.run("verify.sh", VERIFY_TIMEOUT="2")
    assert result.returncode == 1
    fails = _lines(result.stdout, "FAIL")
    assert len(fails) == 1 and "end-to-end" in fails[0] and expected in fails[0], result.stdout
    assert len(_lines(result.stdout, "PASS")) == CHECKS - 1


def test_verify_explains_a_refused_token(cloud: FakeCloud, job_api: JobApi) -> None:
    job_api.token = "a-token-gcloud-does-not-have"
    result = cloud.run("verify.sh")
    assert result.returncode == 1
    assert "HTTP 401" in result.stdout and "roles/run.invoker" in result.stdout


def test_verify_reports_an_unreachable_web_service(cloud: FakeCloud) -> None:
    cloud.services[WEB]["status"]["url"] = "http://127.0.0.1:9"  # discard port: connection refused
    result = cloud.run("verify.sh")
    assert result.returncode == 1
    assert "HTTP 000 from POST http://127.0.0.1:9/api/jobs" in result.stdout


# ---- the manifests themselves ----------------------------------------------------------------------------


def test_manifests_agree_with_the_contract() -> None:
    services = {n: yaml.safe_load((CLOUDRUN / f).read_text()) for n, f in ((WEB, "web.yaml"),
                                                                            (WORKER, "worker.yaml"))}
    for name, service in services.items():
        assert service["metadata"]["name"] == name
        spec = service["spec"]["template"]["spec"]
        container = spec["containers"][0]
        assert container["startupProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["ports"][0]["containerPort"] == 8080
        assert isinstance(spec["containerConcurrency"], int) and isinstance(spec["timeoutSeconds"], int)
    worker_annotations = services[WORKER]["spec"]["template"]["metadata"]["annotations"]
    assert int(worker_annotations["autoscaling.knative.dev/maxScale"]) >= int(
        worker_annotations["autoscaling.knative.dev/minScale"]) >= 1
    grace = _env(services[WORKER], "SHUTDOWN_GRACE_SECONDS")["value"]
    assert float(grace) < 10, "Cloud Run kills 10 s after SIGTERM"


SCRIPTS = [CLOUDRUN / "deploy.sh", CLOUDRUN / "verify.sh", *sorted((ROOT / ".ci" / "setup.d").glob("*.sh"))]


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_scripts_parse_and_pass_shellcheck(script: Path) -> None:
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True, timeout=30).returncode == 0
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        if os.environ.get("CI") or os.environ.get("REPORTGEN_REQUIRE_TOOLS") == "1":
            pytest.fail("shellcheck is required here: run .ci/setup.d/shellcheck.sh")
        pytest.skip("shellcheck not on PATH (apt-get install shellcheck)")
    result = subprocess.run([shellcheck, "--severity=style", str(script)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stdout


def test_worker_runs_one_process_per_vcpu():
    spec = yaml.safe_load((ROOT / "deploy" / "cloudrun" / "worker.yaml").read_text())
    container = spec["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert int(env["WORKER_PROCESSES"]) == int(container["resources"]["limits"]["cpu"])


def _limit_mb(container: dict[str, Any]) -> int:
    raw = str(container["resources"]["limits"]["memory"])  # Cloud Run takes Mi or Gi
    return int(raw[:-2]) * {"Mi": 1, "Gi": 1024}[raw[-2:]]


@pytest.mark.parametrize(("manifest", "slots_var", "per_slot_mb", "at_least"), [
    ("worker.yaml", "REPORT_SLOTS", memory_budget.WORKER_PER_SLOT_MB, 2),
    ("web.yaml", "PREVIEW_SLOTS", memory_budget.WEB_PER_SLOT_MB, 1),
])
def test_report_children_fit_the_container_memory(manifest: str, slots_var: str, per_slot_mb: int,
                                                  at_least: int) -> None:
    """Slots x the children's address-space caps, plus the service, fit the instance (issue 11): the
    container's OOM killer never has to choose, and it might choose the worker."""
    container = yaml.safe_load((CLOUDRUN / manifest).read_text())["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    defaults = Settings()
    child_mb = max(int(env.get("RENDER_MEMORY_MB") or defaults.render_memory_mb),
                   int(env.get("PDF_MEMORY_MB") or defaults.pdf_memory_mb) if manifest == "worker.yaml" else 0)
    processes = int(env.get("WORKER_PROCESSES") or 1)
    pool = int(env.get("RENDER_POOL_SIZE") or defaults.render_pool_size)
    pdf_pool = int(env.get("PDF_POOL_SIZE") or defaults.pdf_pool_size) if manifest == "worker.yaml" else 0
    memory = _limit_mb(container) * 1024 * 1024
    slots = int(env.get(slots_var) or memory_budget.fitting_slots(memory, child_mb, per_slot_mb, ceiling=64,
                                                                  processes=processes, pool=pool, pdf_pool=pdf_pool))
    assert slots >= at_least, f"{manifest}: only {slots} slot(s) fit"
    assert processes * memory_budget.needed_mb(slots, child_mb, per_slot_mb, pool, pdf_pool) <= _limit_mb(container)
