"""The load generator of bench/ingest.py: one process, ``clients`` aiohttp clients POSTing claims.

Each client sends one request at a time on its own keep-alive connection: in a closed loop (the
next request as soon as the answer is in), or paced (``rate``: request k of this process is due
at ``begin + k / rate``; a client that is late sends at once, so a server too slow for the rate
shows up as an achieved rate below it). Only answers received inside the measured window
[begin + warmup, begin + warmup + seconds] are counted.

With ``positions``, each 201's X-Event-Position and receive time are kept: bench/ingest.py
compares them with the claims projection's position, which it polls meanwhile.

Times are ``time.monotonic()`` (CLOCK_MONOTONIC, the same in every process on Linux), so the
parent can sample CPU and poll positions on the same clock. Only the standard library, aiohttp and uvloop here:
the process must spend its CPU on the load, not on imports.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any


@dataclass
class Job:
    url: str  # the server's base URL
    bodies: list[bytes]  # request bodies, sent in turn
    clients: int
    seconds: float
    warmup: float = 1.0
    rate: float | None = None  # paced: requests/s of this process; None: closed loop
    positions: bool = False  # keep each 201's X-Event-Position and receive time (for the projection lag)
    first: int = 0  # index of this process's first body (several processes send different ones)


def run(job: Job, ready: Any, go: Any, begin_at: Any, results: Any) -> None:
    """A process's body: say ready, wait for go, run the job, put its figures on ``results``."""
    try:
        from uvloop import run as run_loop  # the faster event loop, as the servers use
    except ImportError:
        run_loop = asyncio.run
    ready.put(True)
    go.wait()
    results.put(run_loop(_run(job, begin_at.value)))


async def _run(job: Job, begin: float) -> dict[str, Any]:
    import aiohttp

    measure_from = begin + job.warmup
    end = measure_from + job.seconds
    latencies: list[float] = []  # seconds, answers received in the window
    statuses: Counter[str] = Counter()  # "201", "503", "ClientConnectorError" …
    written: list[tuple[float, int]] = []  # (received at, X-Event-Position) of each 201 in the window
    sent = itertools.count()
    headers = {"content-type": "application/json"}
    timeout = aiohttp.ClientTimeout(total=60)

    async def client(session: aiohttp.ClientSession) -> None:
        url = job.url + "/v1/claims"
        while True:
            k = next(sent)
            if job.rate is not None:
                due = begin + k / job.rate
                if due >= end:
                    return
                if due > time.monotonic():
                    await asyncio.sleep(due - time.monotonic())
            elif time.monotonic() >= end:
                return
            body = job.bodies[(job.first + k) % len(job.bodies)]
            started = time.monotonic()
            position = None
            try:
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()
                    status = str(response.status)
                    position = response.headers.get("X-Event-Position")
            except (aiohttp.ClientError, asyncio.TimeoutError) as e:
                status = type(e).__name__
            done = time.monotonic()
            if measure_from <= done <= end:
                latencies.append(done - started)
                statuses[status] += 1
                if status == "201" and position is not None and job.positions:
                    written.append((done, int(position)))

    connector = aiohttp.TCPConnector(limit=job.clients, force_close=False)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        if begin > time.monotonic():
            await asyncio.sleep(begin - time.monotonic())
        await asyncio.gather(*(client(session) for _ in range(job.clients)))
    return {"latencies": latencies, "statuses": dict(statuses), "written": written}
