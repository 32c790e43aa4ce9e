"""procrastinate worker for the bench (runs in bench/.work/venv).

One no-op task ``noop``; with args ``{"r": 1}`` it prints ``S <job id> <epoch seconds>`` at handler start.
``--setup`` applies procrastinate's schema and exits.
"""

import argparse
import asyncio
import sys
import time

import procrastinate


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--setup", action="store_true")
    args = parser.parse_args()
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=args.dsn))

    @app.task(name="noop", pass_context=True)
    async def noop(context: procrastinate.JobContext, r: int = 0) -> None:
        if r:
            started = time.time()
            sys.stdout.write(f"S {context.job.id} {started:.6f}\n")
            sys.stdout.flush()

    async def run() -> None:
        async with app.open_async():
            if args.setup:
                await app.schema_manager.apply_schema_async()
                return
            await app.run_worker_async(concurrency=args.concurrency, install_signal_handlers=True)

    asyncio.run(run())


if __name__ == "__main__":
    main()
