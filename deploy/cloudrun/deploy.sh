#!/usr/bin/env bash
# Deploy report-generator to Cloud Run: migrate the database with the new image, then replace the worker
# and the web service from web.yaml / worker.yaml with IMAGE substituted.
#
#   PROJECT=my-project IMAGE=europe-west1-docker.pkg.dev/my-project/reportgen/app:1.2.3 deploy/cloudrun/deploy.sh
#
# Variables:
#   PROJECT          Google Cloud project (default: `gcloud config get-value project`)
#   REGION           Cloud Run region (default: europe-west1)
#   IMAGE            container image to deploy (required; a tag or @sha256 digest, never :latest)
#   SERVICE_ACCOUNT  runtime service account (default: reportgen-runtime@PROJECT.iam.gserviceaccount.com);
#                    it needs roles/secretmanager.secretAccessor on the DATABASE_URL secret
#   DB_SECRET        Secret Manager secret holding DATABASE_URL (default: reportgen-database-url)
#   SKIP_MIGRATE=1   do not run `reportgen migrate` as a Cloud Run job first
#   DRY_RUN=1        render the manifests and print them; call nothing
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REGION="${REGION:-europe-west1}"
DB_SECRET="${DB_SECRET:-reportgen-database-url}"
MIGRATE_JOB="${MIGRATE_JOB:-report-generator-migrate}"

die() { echo "deploy: $*" >&2; exit 2; }

command -v gcloud >/dev/null 2>&1 || die "gcloud not found on PATH (install the Google Cloud CLI)"
[ -n "${IMAGE:-}" ] || die "IMAGE is required, e.g. IMAGE=europe-west1-docker.pkg.dev/PROJECT/reportgen/app:1.2.3"
case "$IMAGE" in
  *:latest | *:latest@*) die "IMAGE must name an immutable tag or digest, not :latest ($IMAGE)" ;;
  *[[:space:]\|]*) die "IMAGE contains whitespace or '|' ($IMAGE)" ;;
esac
if [ -z "${PROJECT:-}" ]; then
  PROJECT="$(gcloud config get-value project 2>/dev/null || true)"
fi
[ -n "$PROJECT" ] || die "PROJECT is not set and gcloud has no default project (gcloud config set project ...)"
SERVICE_ACCOUNT="${SERVICE_ACCOUNT:-reportgen-runtime@${PROJECT}.iam.gserviceaccount.com}"

workdir="$(mktemp -d)"
trap 'rm -rf "$workdir"' EXIT

render() { # render NAME: web.yaml -> $workdir/web.yaml with the placeholders filled in
  sed -e "s|__IMAGE__|${IMAGE}|g" \
      -e "s|__SERVICE_ACCOUNT__|${SERVICE_ACCOUNT}|g" \
      -e "s|name: reportgen-database-url|name: ${DB_SECRET}|g" \
      "$here/$1" >"$workdir/$1"
  if grep -q '__[A-Z_]*__' "$workdir/$1"; then
    die "$1 still has a placeholder after rendering: $(grep -o '__[A-Z_]*__' "$workdir/$1" | head -n1)"
  fi
}
render worker.yaml
render web.yaml

if [ "${DRY_RUN:-0}" = "1" ]; then
  echo "---"; cat "$workdir/worker.yaml"; echo "---"; cat "$workdir/web.yaml"
  exit 0
fi

echo "deploy: project=$PROJECT region=$REGION image=$IMAGE"
if [ "${SKIP_MIGRATE:-0}" != "1" ]; then
  # The schema first, with the image that needs it, so no new instance starts against an old schema
  # (its /readyz would keep it out of traffic until then anyway).
  echo "deploy: migrating the database (Cloud Run job $MIGRATE_JOB)"
  gcloud run jobs deploy "$MIGRATE_JOB" --project "$PROJECT" --region "$REGION" --quiet \
    --image "$IMAGE" --service-account "$SERVICE_ACCOUNT" \
    --set-secrets "DATABASE_URL=${DB_SECRET}:latest" \
    --set-env-vars "SERVICE_MODE=worker,LOG_FORMAT=json" \
    --args migrate --max-retries 0 --task-timeout 600s
  gcloud run jobs execute "$MIGRATE_JOB" --project "$PROJECT" --region "$REGION" --wait --quiet
fi

# Worker before web: a new job type reaches the web only once a worker can run it.
for manifest in worker.yaml web.yaml; do
  echo "deploy: gcloud run services replace $manifest"
  gcloud run services replace "$workdir/$manifest" --project "$PROJECT" --region "$REGION" --quiet
done

echo "deploy: done. Check it with: PROJECT=$PROJECT REGION=$REGION $here/verify.sh"
