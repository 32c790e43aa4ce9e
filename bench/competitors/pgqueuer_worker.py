"""pgqueuer worker for the bench (runs in bench/.work/venv).

Entrypoint ``noop``; with payload ``r`` it prints ``S <job id> <epoch seconds>`` at handler start.
Schema set-up is done with pgqueuer's own CLI (``pgq install``).
"""

import argparse
import asyncio
import sys
import time

import asyncpg
from pgqueuer import AsyncpgDriver, Job, PgQueuer


async def run(dsn: str, batch_size: int) -> None:
    connection = await asyncpg.connect(dsn)
    pgq = PgQueuer(AsyncpgDriver(connection))

    @pgq.entrypoint("noop")
    async def noop(job: Job) -> None:
        if job.payload == b"r":
            started = time.time()
            sys.stdout.write(f"S {job.id} {started:.6f}\n")
            sys.stdout.flush()

    await pgq.run(batch_size=batch_size)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--batch-size", type=int, default=10)
    args = parser.parse_args()
    asyncio.run(run(args.dsn, args.batch_size))


if __name__ == "__main__":
    main()
