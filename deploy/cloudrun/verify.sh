#!/usr/bin/env bash
# Check a Cloud Run deployment of report-generator: the two services exist and agree on the database and
# workspace, differ in SERVICE_MODE, the worker always runs with CPU, and a PING job goes from QUEUED to
# COMPLETED through the web service's API. One PASS/FAIL line per check, with the fix under each FAIL.
#
#   PROJECT=my-project deploy/cloudrun/verify.sh
#
# Variables: PROJECT (default: gcloud's), REGION (europe-west1), WEB_SERVICE (report-generator),
# WORKER_SERVICE (report-generator-worker), VERIFY_TIMEOUT seconds for the PING (60),
# VERIFY_POLL_INTERVAL seconds between status reads (1), REPORTGEN_API_TOKEN an admin's API token (the web
# refuses anonymous requests: make one with `reportgen tokens create EMAIL`, docs/deploy.md).
# Needs gcloud, curl and python3. Exit status: 0 all passed, 1 a check failed, 2 could not run.
set -uo pipefail

REGION="${REGION:-europe-west1}"
WEB_SERVICE="${WEB_SERVICE:-report-generator}"
WORKER_SERVICE="${WORKER_SERVICE:-report-generator-worker}"
VERIFY_TIMEOUT="${VERIFY_TIMEOUT:-60}"
VERIFY_POLL_INTERVAL="${VERIFY_POLL_INTERVAL:-1}"
DOCS="docs/operations.md"

for tool in gcloud curl python3; do
  command -v "$tool" >/dev/null 2>&1 || { echo "verify: $tool not found on PATH" >&2; exit 2; }
done
if [ -z "${PROJECT:-}" ]; then
  PROJECT="$(gcloud config get-value project 2>/dev/null || true)"
fi
[ -n "$PROJECT" ] || { echo "verify: PROJECT is not set and gcloud has no default project" >&2; exit 2; }

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
failures=0
# Filled in by facts() below; empty while a service is missing.
web_mode="" web_workspace="" web_db=""
worker_mode="" worker_workspace="" worker_db="" worker_min_scale="" worker_throttling=""
where="--project $PROJECT --region $REGION"

pass() { printf 'PASS  %s\n' "$1"; }
fail() { printf 'FAIL  %s\n      fix: %s\n' "$1" "$2"; failures=$((failures + 1)); }

# facts PREFIX FILE: read one service's JSON into shell variables PREFIX_mode, PREFIX_workspace,
# PREFIX_db, PREFIX_min_scale, PREFIX_throttling, PREFIX_ready.
facts() {
  local prefix="$1" key value
  while IFS=$'\t' read -r key value; do
    printf -v "${prefix}_${key}" '%s' "$value"
  done < <(python3 - "$2" <<'PY'
import json, sys
svc = json.load(open(sys.argv[1]))
template = svc.get("spec", {}).get("template", {})
annotations = template.get("metadata", {}).get("annotations") or {}
service_annotations = svc.get("metadata", {}).get("annotations") or {}
containers = template.get("spec", {}).get("containers") or [{}]
env = {e.get("name"): e for e in containers[0].get("env") or []}

def source(name):
    entry = env.get(name)
    if entry is None:
        return "unset"
    if "value" in entry:
        return "value:" + str(entry["value"])
    ref = (entry.get("valueFrom") or {}).get("secretKeyRef")
    return "secret:%s:%s" % (ref.get("name"), ref.get("key")) if ref else "other"

ready = [c for c in (svc.get("status", {}).get("conditions") or []) if c.get("type") == "Ready"]
facts = {
    "mode": source("SERVICE_MODE"),
    "workspace": source("DEFAULT_WORKSPACE_ID"),
    "db": source("DATABASE_URL"),
    "min_scale": annotations.get("autoscaling.knative.dev/minScale")
                 or service_annotations.get("run.googleapis.com/minScale") or "0",
    "throttling": annotations.get("run.googleapis.com/cpu-throttling", "true"),
    "ready": ready[0].get("status", "Unknown") + " " + (ready[0].get("message") or "") if ready else "Unknown",
}
for key, value in facts.items():
    print(key + "\t" + " ".join(str(value).split()))
PY
  )
}

describe() { # describe NAME FILE: the service's JSON into FILE; non-zero when it does not exist
  # shellcheck disable=SC2086
  gcloud run services describe "$1" $where --format=json >"$2" 2>"$tmp/describe.err"
}

# --- 1, 2: both services exist and are Ready --------------------------------------------------------------
have_web=0 have_worker=0
for role in web worker; do
  if [ "$role" = web ]; then name="$WEB_SERVICE"; else name="$WORKER_SERVICE"; fi
  check="$role service $name exists and is Ready"
  if describe "$name" "$tmp/$role.json"; then
    facts "$role" "$tmp/$role.json"
    ready_var="${role}_ready"
    if [ "${!ready_var%% *}" = "True" ]; then
      pass "$check"
    else
      fail "$check (Ready: ${!ready_var})" \
        "read why the revision is not serving: gcloud run services logs read $name $where --limit 50"
    fi
    printf -v "have_$role" 1
  else
    fail "$check (not found in $PROJECT/$REGION: $(head -c 200 "$tmp/describe.err" | tr '\n' ' '))" \
      "deploy it: PROJECT=$PROJECT REGION=$REGION IMAGE=... deploy/cloudrun/deploy.sh"
  fi
done

both() { [ "$have_web" = 1 ] && [ "$have_worker" = 1 ]; }
missing_fix="deploy both services first (deploy/cloudrun/deploy.sh), then run this again"

# --- 3: the same database secret ------------------------------------------------------------------------
check="web and worker read DATABASE_URL from the same Secret Manager secret"
if ! both; then
  fail "$check (a service is missing)" "$missing_fix"
elif [ "${web_db%%:*}" != secret ] || [ "${worker_db%%:*}" != secret ]; then
  fail "$check (web: ${web_db%%:*}, worker: ${worker_db%%:*})" \
    "store the URL in Secret Manager and reference it with secretKeyRef in both manifests (docs/deploy.md)"
elif [ "$web_db" != "$worker_db" ]; then
  fail "$check (web: ${web_db#secret:}, worker: ${worker_db#secret:})" \
    "point both services at one secret and version: set DB_SECRET and redeploy with deploy/cloudrun/deploy.sh"
else
  pass "$check (${web_db#secret:})"
fi

# --- 4: the same workspace ------------------------------------------------------------------------------
check="web and worker use the same DEFAULT_WORKSPACE_ID"
if ! both; then
  fail "$check (a service is missing)" "$missing_fix"
elif [ "$web_workspace" = unset ] || [ "$worker_workspace" = unset ]; then
  fail "$check (web: ${web_workspace#value:}, worker: ${worker_workspace#value:})" \
    "set DEFAULT_WORKSPACE_ID explicitly in web.yaml and worker.yaml to the same UUID and redeploy"
elif [ "$web_workspace" != "$worker_workspace" ]; then
  fail "$check (web: ${web_workspace#value:}, worker: ${worker_workspace#value:})" \
    "give both the same DEFAULT_WORKSPACE_ID (deploy/cloudrun/*.yaml) and redeploy; jobs of one workspace are invisible to the other's pages"
else
  pass "$check (${web_workspace#value:})"
fi

# --- 5: different service modes -------------------------------------------------------------------------
check="service modes differ: $WEB_SERVICE=web, $WORKER_SERVICE=worker"
if ! both; then
  fail "$check (a service is missing)" "$missing_fix"
elif [ "$web_mode" != "value:web" ] || [ "$worker_mode" != "value:worker" ]; then
  fail "$check (web: ${web_mode#value:}, worker: ${worker_mode#value:})" \
    "set SERVICE_MODE=web on $WEB_SERVICE and SERVICE_MODE=worker on $WORKER_SERVICE (unset means 'all') and redeploy"
else
  pass "$check"
fi

# --- 6, 7: the worker always runs, with CPU -------------------------------------------------------------
check="worker keeps at least one instance (min-instances >= 1)"
if [ "$have_worker" != 1 ]; then
  fail "$check (worker missing)" "$missing_fix"
elif ! [[ "$worker_min_scale" =~ ^[0-9]+$ ]] || [ "$worker_min_scale" -lt 1 ]; then
  fail "$check (min-instances: $worker_min_scale)" \
    "set autoscaling.knative.dev/minScale: \"1\" in worker.yaml, or: gcloud run services update $WORKER_SERVICE $where --min-instances 1"
else
  pass "$check (min-instances: $worker_min_scale)"
fi
check="worker CPU is always allocated (cpu-throttling: false)"
if [ "$have_worker" != 1 ]; then
  fail "$check (worker missing)" "$missing_fix"
elif [ "$worker_throttling" != "false" ]; then
  fail "$check (cpu-throttling: $worker_throttling)" \
    "set run.googleapis.com/cpu-throttling: \"false\" in worker.yaml, or: gcloud run services update $WORKER_SERVICE $where --no-cpu-throttling"
else
  pass "$check"
fi

# --- 8: a PING job end to end ---------------------------------------------------------------------------
token=""  # a Cloud Run identity token, fetched when the service is not public
api_token="${REPORTGEN_API_TOKEN:-}"
request() { # request METHOD URL [JSON]: sets $status, body in $tmp/body
  local args=(-sS -o "$tmp/body" -w '%{http_code}' -X "$1" --max-time 10 -H 'Accept: application/json')
  # With an API token in Authorization, Cloud Run takes its identity token from X-Serverless-Authorization.
  if [ -n "$api_token" ]; then
    args+=(-H "Authorization: Bearer $api_token")
    [ -n "$token" ] && args+=(-H "X-Serverless-Authorization: Bearer $token")
  elif [ -n "$token" ]; then
    args+=(-H "Authorization: Bearer $token")
  fi
  [ $# -ge 3 ] && args+=(-H 'Content-Type: application/json' --data "$3")
  status="$(curl "${args[@]}" "$2" 2>"$tmp/curl.err")" || status="000"
}
field() { # field NAME: a top-level field of the JSON in $tmp/body, empty when absent or not JSON
  python3 -c 'import json, sys
try:
    print(json.load(open(sys.argv[1])).get(sys.argv[2]) or "")
except Exception:
    print("")' "$tmp/body" "$1"
}

e2e() {
  local check="end-to-end: a PING job goes QUEUED -> COMPLETED through the web API" url id job_status last
  if [ "$have_web" != 1 ]; then
    fail "$check (web service missing)" "$missing_fix"; return
  fi
  # shellcheck disable=SC2086
  url="$(gcloud run services describe "$WEB_SERVICE" $where --format='value(status.url)' 2>/dev/null)"
  if [ -z "$url" ]; then
    fail "$check (the web service has no URL yet)" "wait for its first revision to be Ready, then run this again"; return
  fi
  url="${url%/}"
  local ping='{"type":"PING","payload":{}}'
  request POST "$url/api/jobs" "$ping"
  if [ "$status" = 401 ] || [ "$status" = 403 ]; then
    token="$(gcloud auth print-identity-token 2>/dev/null || true)"
    [ -n "$token" ] && request POST "$url/api/jobs" "$ping"
  fi
  if [ "$status" != 201 ]; then
    local why="HTTP $status from POST $url/api/jobs"
    [ "$status" = 000 ] && why="$why: $(head -c 200 "$tmp/curl.err" | tr '\n' ' ')"
    case "$status" in
      401 | 403)
        if [ -z "$api_token" ] && grep -q '"unauthenticated"' "$tmp/body" 2>/dev/null; then
          fail "$check ($why: the web wants an API token)" \
            "export REPORTGEN_API_TOKEN=\$(reportgen tokens create ADMIN_EMAIL | tail -1) (docs/deploy.md, first admin) and run this again; if the service is not public, grant yourself roles/run.invoker on $WEB_SERVICE too"
        else
          fail "$check ($why)" \
            "grant yourself roles/run.invoker on $WEB_SERVICE (or allow unauthenticated access), log in (gcloud auth login), and give an admin's REPORTGEN_API_TOKEN"
        fi ;;
      5*) fail "$check ($why)" \
        "the web service cannot insert the job; curl $url/readyz and read: gcloud run services logs read $WEB_SERVICE $where --limit 50" ;;
      *) fail "$check ($why)" "check that $url is the report-generator web service and that it is Ready" ;;
    esac
    return
  fi
  id="$(field id)"; job_status="$(field status)"
  if [ -z "$id" ] || [ "$job_status" != QUEUED ]; then
    fail "$check (POST /api/jobs answered 201 without an id and status QUEUED: $(head -c 200 "$tmp/body"))" \
      "deploy an image whose web service implements the jobs API (docs/deploy.md)"; return
  fi
  local start="$SECONDS" seen="QUEUED"
  last="$job_status"
  while :; do
    case "$job_status" in COMPLETED | FAILED | CANCELLED) break ;; esac
    [ $((SECONDS - start)) -ge "$VERIFY_TIMEOUT" ] && break
    sleep "$VERIFY_POLL_INTERVAL"
    request GET "$url/api/jobs/$id"
    if [ "$status" = 200 ]; then
      job_status="$(field status)"
      [ "$job_status" != "$last" ] && seen="$seen -> $job_status"
      last="$job_status"
    fi
  done
  case "$job_status" in
    COMPLETED) pass "$check (job $id: $seen in $((SECONDS - start))s)" ;;
    QUEUED) fail "$check (job $id still QUEUED after ${VERIFY_TIMEOUT}s)" \
      "no worker claims jobs: read 'Jobs stay QUEUED' in $DOCS; start with gcloud run services logs read $WORKER_SERVICE $where --limit 50" ;;
    IN_PROGRESS) fail "$check (job $id claimed but not finished after ${VERIFY_TIMEOUT}s: $seen)" \
      "the worker claimed it and stalled: check that its CPU is not throttled and read its logs (gcloud run services logs read $WORKER_SERVICE $where)" ;;
    *) fail "$check (job $id ended $job_status: $seen; error: $(field error | head -c 200))" \
      "a PING cannot fail on a healthy worker: read the worker's logs for job $id (gcloud run services logs read $WORKER_SERVICE $where)" ;;
  esac
}
e2e

echo
if [ "$failures" -gt 0 ]; then
  echo "verify: $failures check(s) failed"
  exit 1
fi
echo "verify: all checks passed"
