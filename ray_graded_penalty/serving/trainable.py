"""A Ray Tune trainable that deploys a server per trial, drives a load, reports its metrics.

One trial, in order: render the command with the trial's config and a free port; start the
server (:mod:`~ray_graded_penalty.serving.process`, its log in the trial's directory as
``server.log``); wait until its health endpoint answers 200; drive the load
(:mod:`~ray_graded_penalty.serving.load`); report the metrics
(:mod:`~ray_graded_penalty.serving.metrics`) once; stop the server, whatever happened.
A failure at any stage raises :class:`~ray_graded_penalty.serving.failure.ServerError` with the
server's own words (:mod:`~ray_graded_penalty.serving.failure`).
"""

from __future__ import annotations

import http.client
import logging
import math
import os
import time
from typing import Any, Callable, Dict, Mapping, NamedTuple, Optional, Sequence

from ray_graded_penalty import compat
from ray_graded_penalty.serving.command import HOST, Command
from ray_graded_penalty.serving.failure import failure
from ray_graded_penalty.serving.load import ENDPOINTS, PROMPTS, LoadSpec, drive
from ray_graded_penalty.serving.metrics import summarize
from ray_graded_penalty.serving.process import Server, exit_text, free_port

logger = logging.getLogger("ray_graded_penalty")


class ServeSpec(NamedTuple):
    """Everything fixed for every trial, checked once by :func:`server_trainable`."""

    command: Command
    load: LoadSpec
    health_path: str
    ready_timeout_s: float
    max_error_share: float
    memory_limit_bytes: Optional[int]
    env: Mapping[str, str]
    stop_grace_s: float


def _positive(name: str, value: Any, integer: bool = False) -> Any:
    kind = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind) or not math.isfinite(value) or value <= 0:
        what = "a positive integer" if integer else "a positive number"
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return value


def ready(server: Server, port: int, spec: ServeSpec) -> float:
    """Wait until the health endpoint answers 200; the seconds it took since the start.

    Raises ``ServerError`` ("start") if the server exits first, ("ready") at the ready timeout.
    """
    last, pause = "no answer yet", 0.05
    while True:
        elapsed = time.monotonic() - server.started
        code = server.poll()
        if code is not None:
            raise failure("start", f"the server exited ({exit_text(code)}) {elapsed:.2f} s after it "
                          f"started, before it was ready", server.tail())
        if elapsed > spec.ready_timeout_s:
            raise failure("ready", f"the server was not ready within ready_timeout_s="
                          f"{spec.ready_timeout_s:g} ({spec.health_path}: {last})", server.tail())
        connection = http.client.HTTPConnection(HOST, port, timeout=2.0)
        try:
            connection.request("GET", spec.health_path)
            response = connection.getresponse()
            response.read()
            if response.status == 200:
                return time.monotonic() - server.started
            last = f"HTTP {response.status}"
        except (OSError, http.client.HTTPException) as e:
            last = type(e).__name__
        finally:
            connection.close()
        time.sleep(pause)
        pause = min(pause * 1.5, 0.5)


def serve(spec: ServeSpec, config: Mapping[str, Any], log_dir: str) -> Dict[str, float]:
    """Run one trial's server and load; its metrics. The server is stopped before this returns."""
    port = free_port(HOST)
    argv = spec.command.render(config, port)  # a missing parameter: before any server starts
    server = Server.start(argv, os.path.join(log_dir, "server.log"), spec.env, spec.memory_limit_bytes)
    try:
        ready_s = ready(server, port, spec)
        results, wall_s = drive(HOST, port, spec.load, lambda: server.poll() is not None)
        done = sum(r.ok for r in results)
        code = server.poll()
        if code is not None:
            raise failure("load", f"the server exited ({exit_text(code)}) during the load, "
                          f"{done} of {len(results)} requests done", server.tail())
        errors = [r.error for r in results if not r.ok]
        if len(errors) > spec.max_error_share * len(results):
            raise failure("load", f"{len(errors)} of {len(results)} requests failed (max_error_share="
                          f"{spec.max_error_share:g}); first: {errors[0][:300]}", server.tail(), errors)
        metrics = summarize(results, wall_s)
        metrics["ready_s"] = ready_s
        return metrics
    finally:
        code = server.stop(spec.stop_grace_s)
        logger.debug("Server pid %d stopped (%s)", server.pid, exit_text(code))


def server_trainable(
    command: str,
    *,
    requests: int = 64,
    concurrency: int = 8,
    max_tokens: int = 128,
    prompts: Optional[Sequence[str]] = None,
    endpoint: str = "completions",
    health_path: str = "/health",
    ready_timeout_s: float = 120.0,
    request_timeout_s: float = 60.0,
    max_error_share: float = 0.0,
    memory_limit_gb: Optional[float] = None,
    env: Optional[Mapping[str, str]] = None,
    extra_body: Optional[Mapping[str, Any]] = None,
    stop_grace_s: float = 10.0,
    check_executable: bool = True,
    **fixed: Any,
) -> Callable[[Dict[str, Any]], None]:
    """A function trainable that deploys ``command`` per trial, benchmarks it and reports.

    Args:
        command: The server's command line; ``{name}`` fields take the trial's config values,
            ``fixed`` values, ``{port}`` (required: a free port per trial) and ``{host}``.
        requests, concurrency, max_tokens: The load: that many streaming requests, that many
            at a time, each asking for ``max_tokens`` tokens.
        prompts: The prompts, used in turn (default: four fixed prompts, 40-330 characters).
        endpoint: "completions" (``/v1/completions``) or "chat" (``/v1/chat/completions``).
        health_path: Ready when a GET of it answers 200 (llama.cpp and vLLM: ``/health``;
            otherwise ``/v1/models``).
        ready_timeout_s: A server not ready this long after its start fails ("deploy failed").
        request_timeout_s: A request silent this long fails.
        max_error_share: The share of requests that may fail before the trial fails.
        memory_limit_gb: Caps the server's address space (``RLIMIT_AS``), for servers on CPU.
        env: Extra environment variables for the server.
        extra_body: Extra fields for every request (``{"ignore_eos": True}`` for a fixed length).
        stop_grace_s: After SIGTERM, how long the server may take before SIGKILL.
        check_executable: Check now that the command's program exists here.
        **fixed: Values for the command's fields that are the same in every trial. ``model``
            is also sent as the requests' ``"model"``.

    Each trial reports ``throughput`` (output tokens per second), ``ttft_p50_s``, ``ttft_p99_s``,
    ``latency_p50_s``, ``latency_p99_s``, ``request_errors``, ``requests_ok``, ``output_tokens``,
    ``load_s`` and ``ready_s``. A server that exits, never gets ready, dies under load or fails
    more requests than allowed raises ``ServerError`` with its exit status and last log lines.

    Example:
        >>> trainable = server_trainable(
        ...     "llama-server -m {model} --port {port} -np {slots}", model="model.gguf",
        ...     requests=32, concurrency=8, check_executable=False)
        >>> trainable.__name__
        'serve_trial'
    """
    if endpoint not in ENDPOINTS:
        raise ValueError(f"endpoint must be one of {sorted(ENDPOINTS)}, got {endpoint!r}")
    if not isinstance(health_path, str) or not health_path.startswith("/"):
        raise ValueError(f"health_path must be a path starting with '/', got {health_path!r}")
    prompts = tuple(PROMPTS if prompts is None else prompts)
    if not prompts or not all(isinstance(p, str) and p for p in prompts):
        raise ValueError(f"prompts must be a non-empty sequence of non-empty strings, got {prompts!r}")
    if not isinstance(max_error_share, (int, float)) or not 0.0 <= max_error_share <= 1.0:
        raise ValueError(f"max_error_share must be in [0, 1], got {max_error_share!r}")
    limit = None if memory_limit_gb is None else int(_positive("memory_limit_gb", memory_limit_gb) * 2**30)
    spec = ServeSpec(
        command=Command.parse(command, fixed, check_executable),
        load=LoadSpec(
            requests=_positive("requests", requests, integer=True),
            concurrency=_positive("concurrency", concurrency, integer=True),
            max_tokens=_positive("max_tokens", max_tokens, integer=True),
            prompts=prompts,
            endpoint=endpoint,
            model=str(fixed.get("model", "default")),
            timeout_s=_positive("request_timeout_s", request_timeout_s),
            extra_body=dict(extra_body or {}),
        ),
        health_path=health_path,
        ready_timeout_s=_positive("ready_timeout_s", ready_timeout_s),
        max_error_share=float(max_error_share),
        memory_limit_bytes=limit,
        env={str(k): str(v) for k, v in (env or {}).items()},
        stop_grace_s=_positive("stop_grace_s", stop_grace_s),
    )

    def serve_trial(config: Dict[str, Any]) -> None:
        compat.report(serve(spec, config, compat.trial_dir()))

    serve_trial.spec = spec  # type: ignore[attr-defined]
    return serve_trial
