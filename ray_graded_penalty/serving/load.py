"""The load: closed loop (a fixed number of requests in flight) or open loop (arrivals at a
rate), as vLLM's ``bench serve`` drives a server.

Closed loop, ``concurrency=c``: ``c`` requests in flight, the next sent as one ends. Open loop,
``request_rate=r``: requests arrive at ``r`` per second whatever the server does, the gaps drawn
from a gamma distribution of shape ``burstiness`` and mean ``1 / r`` (1: a Poisson process;
below 1 burstier, above 1 steadier; ``math.inf``: all at once), optionally at most
``max_concurrency`` in flight (an arrival then waits for a free place, and its latency counts
from its send). Either way a load ends after its requests, or once ``duration_s`` has passed
(requests not yet sent then are not sent); warmup requests go first and are not measured. The
gaps are seeded, so every trial gets the same arrivals.

Example:
    >>> [round(g, 3) for g in arrival_gaps(3, request_rate=2.0, burstiness=1.0, seed=0)]
    [0.93, 0.709, 0.273]
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from typing import Callable, List, NamedTuple, Optional, Sequence, Tuple

from ray_graded_penalty.serving.client import RequestResult, failed, send


class Request(NamedTuple):
    """One request of a load: the path it is posted to and its JSON body."""

    path: str
    body: bytes


class LoadSpec(NamedTuple):
    """How to drive one load; checked by :func:`~ray_graded_penalty.serving.server_trainable`.
    Exactly one of ``concurrency`` (closed loop) and ``request_rate`` (open loop) is set."""

    concurrency: Optional[int] = None
    request_rate: Optional[float] = None
    burstiness: float = 1.0
    max_concurrency: Optional[int] = None
    duration_s: Optional[float] = None
    timeout_s: float = 60.0
    seed: int = 0


def arrival_gaps(n: int, request_rate: float, burstiness: float, seed: int) -> List[float]:
    """The seconds between ``n`` arrivals at ``request_rate`` per second (the first: after the start)."""
    if math.isinf(request_rate):
        return [0.0] * n
    rng = random.Random(seed)
    return [rng.gammavariate(burstiness, 1.0 / (request_rate * burstiness)) for _ in range(n)]


def drive(host: str, port: int, requests: Sequence[Request], spec: LoadSpec, server_exited: Callable[[], bool],
          warmup: Sequence[Request] = ()) -> Tuple[List[RequestResult], float]:
    """Run ``warmup`` (not measured), then the load; the results of the requests sent, in order,
    and the wall time from the load's start until its last request ended.

    Once ``server_exited()`` is true, the requests not yet sent are not sent (each is a failed
    result saying so).
    """
    return asyncio.run(_drive(host, port, requests, spec, server_exited, warmup))


async def _drive(host: str, port: int, requests: Sequence[Request], spec: LoadSpec,
                 server_exited: Callable[[], bool], warmup: Sequence[Request]) -> Tuple[List[RequestResult], float]:
    if warmup:
        in_flight = spec.concurrency or spec.max_concurrency or len(warmup)
        await _closed(host, port, warmup, spec._replace(duration_s=None), in_flight, server_exited,
                      time.monotonic())
    start = time.monotonic()
    if spec.concurrency is not None:
        results = await _closed(host, port, requests, spec, spec.concurrency, server_exited, start)
    else:
        results = await _open(host, port, requests, spec, server_exited, start)
    return results, time.monotonic() - start


def _over(spec: LoadSpec, start: float) -> bool:
    return spec.duration_s is not None and time.monotonic() - start >= spec.duration_s


async def _closed(host: str, port: int, requests: Sequence[Request], spec: LoadSpec, in_flight: int,
                  server_exited: Callable[[], bool], start: float) -> List[RequestResult]:
    results: List[Optional[RequestResult]] = [None] * len(requests)
    order = iter(range(len(requests)))

    async def worker() -> None:
        for i in order:  # shared by the workers: each takes the next request not yet taken
            if _over(spec, start):
                return
            if server_exited():
                results[i] = failed("not sent: the server had exited", time.monotonic() - start)
                continue
            results[i] = await send(host, port, requests[i].path, requests[i].body, spec.timeout_s, start)

    await asyncio.gather(*(worker() for _ in range(min(in_flight, len(requests)))))
    return [r for r in results if r is not None]


async def _open(host: str, port: int, requests: Sequence[Request], spec: LoadSpec,
                server_exited: Callable[[], bool], start: float) -> List[RequestResult]:
    assert spec.request_rate is not None
    places = asyncio.Semaphore(spec.max_concurrency) if spec.max_concurrency else None

    async def one(request: Request) -> RequestResult:
        if places is None:
            return await send(host, port, request.path, request.body, spec.timeout_s, start)
        async with places:
            return await send(host, port, request.path, request.body, spec.timeout_s, start)

    sent: List["asyncio.Future[RequestResult]"] = []
    arrival = start
    for request, gap in zip(requests, arrival_gaps(len(requests), spec.request_rate, spec.burstiness, spec.seed)):
        arrival += gap
        if spec.duration_s is not None and arrival - start >= spec.duration_s:
            break  # it would arrive after the load's end: not waited for
        delay = arrival - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        if _over(spec, start):
            break
        if server_exited():
            done: "asyncio.Future[RequestResult]" = asyncio.get_running_loop().create_future()
            done.set_result(failed("not sent: the server had exited", time.monotonic() - start))
            sent.append(done)
            continue
        sent.append(asyncio.ensure_future(one(request)))
    return list(await asyncio.gather(*sent))
