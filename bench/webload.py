"""HTTP load from a separate process: N keep-alive clients on raw asyncio streams, for a fixed time.

``python -m bench.webload --port P --mode post|get --clients 50 --duration 5 [--rate R] [--ids FILE] --out FILE``
writes JSON: requests, errors, requests_per_s, latency p50/p95/p99/max (ms) and, for POST, the new job ids.
A tiny client of our own: no dependency, and cheap enough per request that one process can load the server.

Without ``--rate`` each client is closed-loop: the next request as soon as the answer is in, i.e. as fast
as the server and this process allow (a throughput test; on 2 cores one GET client alone keeps a core
busy, client and server together). ``--rate R`` paces the clients to R requests per second in all, on a
fixed schedule (``R / clients`` each; a client that falls behind sends at once, without bursting to catch
up), so that the load is a steady background of known size, e.g. beside the soak's jobs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import time
from pathlib import Path
from typing import Any

from bench.stats import latency_summary

POST_BODY = json.dumps({"type": "PING", "payload": {}}).encode()
# An admin's API token from the environment (raw POST /api/jobs is an admin's action).
AUTH = f"Authorization: Bearer {os.environ['REPORTGEN_API_TOKEN']}\r\n" if os.environ.get("REPORTGEN_API_TOKEN") else ""


async def _request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, method: str, path: str,
                   body: bytes = b"") -> tuple[int, bytes]:
    head = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n{AUTH}"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    writer.write(head + body)
    status_line = await reader.readline()
    status = int(status_line.split()[1])
    length = None
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    if length is None:
        raise RuntimeError(f"{method} {path}: response without Content-Length")
    return status, await reader.readexactly(length)


async def _client(args: argparse.Namespace, ids: list[str], stop_at: float, out: dict[str, Any]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", args.port)
    interval = args.clients / args.rate if args.rate else 0.0
    due = time.monotonic()
    try:
        while time.monotonic() < stop_at:
            if interval:
                due = max(due + interval, time.monotonic() - interval)  # behind: no burst to catch up
                await asyncio.sleep(max(0.0, due - time.monotonic()))
            started = time.perf_counter()
            if args.mode == "post":
                status, body = await _request(reader, writer, "POST", "/api/jobs", POST_BODY)
            else:
                status, body = await _request(reader, writer, "GET", f"/api/jobs/{random.choice(ids)}")
            out["latencies"].append(time.perf_counter() - started)
            if status >= 400 if args.mode == "get" else status not in (200, 201, 202):
                out["errors"] += 1
                out["last_error"] = f"{status} {body[:200]!r}"
            elif args.mode == "post":
                data = json.loads(body)
                job = data.get("job", data) if isinstance(data, dict) else {}
                out["ids"].append(str(job.get("id")))
    finally:
        writer.close()


async def _main(args: argparse.Namespace) -> dict[str, Any]:
    ids = json.loads(Path(args.ids).read_text())["ids"] if args.ids else []
    out: dict[str, Any] = {"latencies": [], "errors": 0, "ids": []}
    started = time.monotonic()
    stop_at = started + args.duration
    await asyncio.gather(*(_client(args, ids, stop_at, out) for _ in range(args.clients)))
    elapsed = time.monotonic() - started
    latencies = out.pop("latencies")
    return {"mode": args.mode, "clients": args.clients, "rate": args.rate, "requests": len(latencies),
            "requests_per_s": len(latencies) / elapsed, **latency_summary(latencies), **out}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mode", choices=["post", "get"], required=True)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--rate", type=float, default=None,
                        help="requests per second in all (default: closed-loop, as fast as possible)")
    parser.add_argument("--ids")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    Path(args.out).write_text(json.dumps(asyncio.run(_main(args))))


if __name__ == "__main__":
    main()
