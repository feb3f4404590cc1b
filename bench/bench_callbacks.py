"""Callback → acknowledged latency of the callback service, against uvicorn on loopback.

Starts ``smartsync callbacks serve`` as its own process (the way an operator runs it), sends
forecasts and alerts (5:2, the seeds' daily volumes) at a fixed open-loop rate over keep-alive
connections, and prints the p50/p95/p99 of the time from each request's scheduled send to its
202, which the service answers only once Kafka (acks=all) confirmed the write. Latency counts
from the scheduled time, so a stall is not hidden by sending later. The load generator is a
minimal HTTP/1.1 client with pre-built bodies, so that on a small shared machine it takes as
little CPU from the service as it can. The service's own view (smartsync_callback_ack_seconds)
is printed too.

    export SMARTSYNC_STACK_DIR=... ; eval "$(smartsync stack env)"   # else the stack is reused or started
    python bench/bench_callbacks.py --rate 100 --duration 20
    python bench/bench_callbacks.py --rate 100 --duration 20 --visible

``--visible`` also runs the warehouse → citizen dataflow (one process, two workers) and
reports callback → portal row latency: from the acceptance time the message carries
(``source.ts_us``, kept as the row's ``_source_lsn``) to the row's ``_synced_at``, the start
of the sink transaction that wrote it (its commit follows within the sink's transaction time).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import orjson
import psycopg
from psycopg import sql

from dataflows.testing import RunningFlow, wait_until
from smartsync.core.catalog import Direction, load_catalog
from smartsync.core.settings import load_settings
from smartsync.core.tables import Database
from smartsync.devstack import localstack

FORECASTS = "/v1/callbacks/benefit-forecasts"
ALERTS = "/v1/callbacks/ml-alerts"
CONNECTIONS = 32


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _request(i: int) -> tuple[bytes, str, str]:
    """One complete HTTP/1.1 request, built before the clock starts; with its sync and id."""
    citizen = 1 + (i * 7919) % 100_000
    ident = str(uuid.uuid4())
    if i % 7 < 5:
        sync, path, body = (
            "benefit_forecasts",
            FORECASTS,
            {
                "forecast_id": ident,
                "citizen_id": citizen,
                "scheme_code": f"SCHEME_{i % 40:02d}",
                "forecast_amount": f"{1000 + i % 9000}.50",
                "forecast_period": "2027-Q1",
                "confidence": "0.815",
                "generated_at": "2026-11-21T09:30:00+05:30",
            },
        )
    else:
        sync, path, body = (
            "ml_alerts",
            ALERTS,
            {
                "alert_id": ident,
                "citizen_id": citizen,
                "source_model": ("AI-PLATFORM-07", "AI-PLATFORM-09", "AI-PLATFORM-14")[i % 3],
                "alert_type": "proactive_inclusion",
                "severity": ("low", "medium", "high", "critical")[i % 4],
                "message": "Likely eligible for a scheme not yet applied for",
            },
        )
    data = orjson.dumps(body)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Authorization: {_authorization()}\r\nContent-Length: {len(data)}\r\n\r\n"
    )
    return head.encode() + data, sync, ident


def _authorization() -> str:
    """The bearer token of the first caller in SMARTSYNC_CALLBACK_TOKENS (the stack's local caller)."""
    callers = json.loads(os.environ["SMARTSYNC_CALLBACK_TOKENS"])
    first = next(iter(callers.values()))
    return f"Bearer {first if isinstance(first, str) else first['token']}"


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> int:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = re.search(rb"(?i)content-length:\s*(\d+)", head)
    if length:
        await reader.readexactly(int(length.group(1)))
    return status


async def _load(port: int, requests: list[bytes], rate: float) -> tuple[list[float], dict[int, int], float]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()
    conns = [await asyncio.open_connection("127.0.0.1", port) for _ in range(CONNECTIONS)]
    for reader, writer in conns:  # warm-up: every connection, the producer id, topic metadata
        for i in range(3):
            await _exchange(reader, writer, _request(10_000_000 + i)[0])

    async def worker(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (item := await queue.get()) is not None:
            scheduled, request = item
            status = await _exchange(reader, writer, request)
            statuses[status] = statuses.get(status, 0) + 1
            if status == 202:
                latencies.append(time.perf_counter() - scheduled)

    workers = [asyncio.create_task(worker(r, w)) for r, w in conns]
    start = time.perf_counter()
    for i, request in enumerate(requests):
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait((scheduled, request))
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    elapsed = time.perf_counter() - start
    for _, writer in conns:
        writer.close()
    return latencies, statuses, elapsed


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def _server_view(base: str) -> str:
    text = httpx.get(f"{base}/metrics", timeout=5).text
    parts = []
    for sync in ("benefit_forecasts", "ml_alerts"):
        count = re.search(rf'smartsync_callback_ack_seconds_count{{sync="{sync}"}} (\S+)', text)
        total = re.search(rf'smartsync_callback_ack_seconds_sum{{sync="{sync}"}} (\S+)', text)
        under = re.search(rf'smartsync_callback_ack_seconds_bucket{{le="0.3",sync="{sync}"}} (\S+)', text)
        if count and total and under and float(count.group(1)):
            n = float(count.group(1))
            parts.append(
                f"{sync}: {n:.0f} acked, mean {1000 * float(total.group(1)) / n:.1f} ms, "
                f"{100 * float(under.group(1)) / n:.1f}% under 300 ms"
            )
    return "; ".join(parts)


def _visible_us(dsn: str, ids: dict[str, list[str]]) -> dict[str, list[int]]:
    """Per sync: acceptance → sink write (µs) of every row of ``ids`` that is in the portal."""
    found: dict[str, list[int]] = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        for sync_name, keys in ids.items():
            sync = load_catalog().sync(sync_name)
            query = sql.SQL(
                "SELECT (extract(epoch FROM _synced_at) * 1000000)::bigint - _source_lsn FROM {} WHERE {} = "
                "ANY(%s::uuid[])"
            ).format(sql.Identifier(*sync.target.split(".")), sql.Identifier(sync.key[0]))
            found[sync_name] = [int(r[0]) for r in conn.execute(query, (keys,)).fetchall()]
    return found


def _report(name: str, ms: list[float]) -> None:
    print(
        f"{name}, ms: p50 {_pct(ms, 50):.1f}  p95 {_pct(ms, 95):.1f}  p99 {_pct(ms, 99):.1f}  "
        f"max {max(ms):.1f}  mean {statistics.fmean(ms):.1f}"
    )


def _start_flow(base: str, dsn: str, root: Path) -> RunningFlow:
    """The warehouse → citizen dataflow, caught up with the callback topics (a fresh one replays them)."""
    flow = RunningFlow(Direction.WAREHOUSE_TO_CITIZEN, root, workers=2).start()
    request, sync_name, ident = _request(20_000_000)
    head, body = request.split(b"\r\n\r\n", 1)
    path = head.split(b" ")[1].decode()
    headers = {"content-type": "application/json", "authorization": _authorization()}
    assert httpx.post(f"{base}{path}", content=body, headers=headers).status_code == 202
    flow.wait(lambda: _visible_us(dsn, {sync_name: [ident]})[sync_name], timeout_s=600, what="the flow catching up")
    return flow


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=100.0, help="requests per second")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of load")
    parser.add_argument("--visible", action="store_true", help="also run the dataflow: callback -> portal row latency")
    args = parser.parse_args()
    if os.environ.get("SMARTSYNC_KAFKA_BOOTSTRAP"):
        _bench(args)
        return
    # No stack given: reuse the running one of SMARTSYNC_STACK_DIR, or start one for this run.
    with localstack.running_stack(lambda line: print(f"stack: {line}")) as state:
        os.environ.update(state.env())
        _bench(args)


def _bench(args: argparse.Namespace) -> None:  # noqa: C901, PLR0912 — one script, top to bottom

    built = [_request(i) for i in range(int(args.rate * args.duration))]
    requests = [request for request, _, _ in built]
    port = _free_port()
    exe = Path(sys.executable).parent / "smartsync"
    server = subprocess.Popen(  # noqa: S603 — our own CLI
        [str(exe), "callbacks", "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    flow: RunningFlow | None = None
    visible: dict[str, list[int]] = {}
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                sys.exit("the callback service did not start")
            time.sleep(0.2)
        dsn = load_settings().dsn(Database.CITIZEN) if args.visible else ""
        if args.visible:
            root = Path(tempfile.mkdtemp(prefix="bench-callbacks-flow-"))
            flow = _start_flow(base, dsn, root)
        latencies, statuses, elapsed = asyncio.run(_load(port, requests, args.rate))
        server_view = _server_view(base)
        if flow is not None:
            ids: dict[str, list[str]] = {}
            for _, sync_name, ident in built:
                ids.setdefault(sync_name, []).append(ident)
            wait_until(
                lambda: sum(map(len, _visible_us(dsn, ids).values())) == len(built),
                timeout_s=300,
                what="every callback in the portal",
            )
            visible = _visible_us(dsn, ids)
    finally:
        if flow is not None:
            flow.stop()
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()

    print(f"load average before stopping: {os.getloadavg()[0]:.2f} (this machine has {os.cpu_count()} cores)")
    print(
        f"callbacks: {sum(statuses.values())} sent at {args.rate:g}/s for {args.duration:g}s "
        f"(took {elapsed:.1f}s), statuses {statuses}"
    )
    if latencies:
        ms = [v * 1000 for v in latencies]
        _report("callback -> acknowledged (202 after Kafka acks=all)", ms)
        print(f"goal p95 < 300 ms: {'met' if _pct(ms, 95) < 300 else 'NOT met'}")
    print(f"service's view (incl. warm-up): {server_view}")
    for sync_name, micros in visible.items():
        _report(
            f"callback accepted -> portal row written ({sync_name}, {len(micros)} rows)", [u / 1000 for u in micros]
        )
    if visible:
        _report("callback accepted -> portal row written (all)", [u / 1000 for v in visible.values() for u in v])


if __name__ == "__main__":
    main()
