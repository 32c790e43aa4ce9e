"""oban-py worker for the bench (imported by ``oban start`` from bench/.work/venv-oban).

``oban_jobs.worker`` names a worker class by module and class, so the bench inserts ``oban_noop.Noop``
and runs ``oban start`` with this folder on PYTHONPATH; oban imports this module at the first job (the
warm-up jobs pay that). With args ``{"r": 1}`` it prints ``S <job id> <epoch seconds>`` at handler start.
"""

import sys
import time

from oban import worker


@worker(queue="default")
class Noop:
    async def process(self, job):
        if job.args.get("r"):
            started = time.time()
            sys.stdout.write(f"S {job.id} {started:.6f}\n")
            sys.stdout.flush()
