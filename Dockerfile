# report-generator: one image for both Cloud Run services (SERVICE_MODE=web or worker).
#
# Build:  docker build -t IMAGE .        Run locally:  docker run -e DATABASE_URL=... -p 8080:8080 IMAGE
# Base: the official python:3.11.15-slim image (Debian trixie), pinned by tag and by its multi-arch index
# digest so a rebuild gets the same bytes; bump both together (docs/deploy.md, "Updating the base image").

# ---- build stage: a virtual environment with the project and its pinned dependencies -------------------
FROM python:3.11.15-slim-trixie@sha256:90744cff8f32887f075c47d747a173ff333e9e98801667af93c357fa9f5e28ff AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
# Dependencies resolve from constraints.txt (exact versions of every distribution) + pyproject.toml.
COPY pyproject.toml constraints.txt README.md ./
COPY common/ common/
COPY web/ web/
COPY worker/ worker/
COPY reportgen/ reportgen/
COPY sql/ sql/
RUN pip install -c constraints.txt . \
    && pip check

# ---- runtime stage: the venv only, no compilers, no pip cache, no source tree -----------------------------
FROM python:3.11.15-slim-trixie@sha256:90744cff8f32887f075c47d747a173ff333e9e98801667af93c357fa9f5e28ff AS runtime

RUN groupadd --system --gid 10001 reportgen \
    && useradd --system --uid 10001 --gid reportgen --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin reportgen

COPY --from=build /opt/venv /opt/venv
WORKDIR /app
# The schema, migrations and named queries, read through REPORTGEN_SQL_DIR by the installed package.
COPY sql/ sql/

# LOG_FORMAT=json: one JSON object per line with "severity", which Cloud Logging parses.
# HOST=0.0.0.0 and PORT=8080: Cloud Run routes to $PORT (it sets PORT itself; 8080 is its default).
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    REPORTGEN_SQL_DIR=/app/sql \
    LOG_FORMAT=json \
    HOST=0.0.0.0 \
    PORT=8080

USER 10001:10001
EXPOSE 8080

# For `docker run` only; Cloud Run ignores HEALTHCHECK and uses the probes in deploy/cloudrun/*.yaml.
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8080'), timeout=2)"]

# Exec form: `reportgen` is PID 1 and receives Cloud Run's SIGTERM itself (no shell in between).
# `reportgen serve` dispatches on SERVICE_MODE (web | worker | all).
ENTRYPOINT ["reportgen"]
CMD ["serve"]
