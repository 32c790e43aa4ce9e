"""``python -m worker``: run one worker process (the same as ``reportgen worker``)."""

from common.entry import run_service
from worker.service import serve_worker

raise SystemExit(run_service("worker", serve_worker))
