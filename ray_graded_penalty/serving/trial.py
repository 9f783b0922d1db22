"""One served trial, in order: deploy, wait until ready, run the loads, report, stop.

Render the command with the trial's config and a free port; start the server
(:mod:`~ray_graded_penalty.serving.process`, its log in the trial's directory as ``server.log``);
wait until its health endpoint answers 200; build each load's requests
(:mod:`~ray_graded_penalty.serving.plan`, :mod:`~ray_graded_penalty.serving.workload`) and drive
the loads in turn (:mod:`~ray_graded_penalty.serving.load`); return their metrics
(:mod:`~ray_graded_penalty.serving.metrics`); stop the server, whatever happened. A failure at
any stage raises :class:`~ray_graded_penalty.serving.failure.ServerError` with the server's own
words (:mod:`~ray_graded_penalty.serving.failure`). :func:`~ray_graded_penalty.serving.server_trainable`
checks the :class:`ServeSpec` once.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import socket
import time
from collections import deque
from typing import Any, Deque, Dict, Iterator, List, Mapping, NamedTuple, Optional, Sequence, Tuple

from ray_graded_penalty._core.ray_internals import publish_stage
from ray_graded_penalty.compat import trial_context
from ray_graded_penalty.serving.command import HOST, Command
from ray_graded_penalty.serving.failure import ServerError, error_statements, failure
from ray_graded_penalty.serving.load import LoadSpec, Request, drive
from ray_graded_penalty.serving.metrics import Goodput, combine, summarize
from ray_graded_penalty.serving.plan import LoadPlan
from ray_graded_penalty.serving.process import Server, exit_text, free_port
from ray_graded_penalty.serving.workload import Tokenizer, make_prompts, plan_lengths, served_model, server_tokenizer

ENDPOINTS = {"completions": "/v1/completions", "chat": "/v1/chat/completions"}
#: How many of its last log lines a failed server's error keeps.
TAIL_LINES = 20
#: The ``"model"`` requests name when neither the search nor the server names one (llama.cpp's
#: server takes any).
DEFAULT_MODEL = "default"

logger = logging.getLogger("ray_graded_penalty")


class ServeSpec(NamedTuple):
    """Everything fixed for every trial, checked once by :func:`server_trainable`."""

    command: Command
    loads: Tuple[LoadPlan, ...]
    load: LoadSpec
    requests: int
    warmup: int
    goodput: Optional[Goodput]
    combine: str
    prompts: Optional[Tuple[str, ...]]
    max_tokens: int
    ignore_eos: bool
    endpoint: str
    model: Optional[str]  # fixed for every trial; None: the trial's, or the one the server names
    extra_body: Mapping[str, Any]
    health_path: str
    ready_timeout_s: float
    max_error_share: float
    memory_limit_bytes: Optional[int]
    env: Mapping[str, str]
    stop_grace_s: float


def failed(server: Server, stage: str, what: str, answers: Sequence[str] = (),
           exit_code: Optional[int] = None) -> ServerError:
    """The error of a trial that failed at ``stage`` with ``server``: its last log lines and the
    errors it stated in its whole log, quoted (:func:`~ray_graded_penalty.serving.failure.failure`).
    The log is read once for both."""
    last: Deque[str] = deque(maxlen=TAIL_LINES)

    def kept() -> Iterator[str]:
        for line in server.lines():
            last.append(line)
            yield line

    errors = error_statements(kept())
    return failure(stage, what, list(last), answers, exit_code, errors=errors)


def ready(server: Server, port: int, spec: ServeSpec) -> float:
    """Wait until the health endpoint answers 200; the seconds it took since the start.

    Raises ``ServerError`` ("start") if the server exits first, ("ready") at the ready timeout.
    """
    last, pause = "no answer yet", 0.05
    while True:
        elapsed = time.monotonic() - server.started
        code = server.poll()
        if code is not None:
            raise failed(server, "start", f"the server exited ({exit_text(code)}) {elapsed:.2f} s after it "
                         f"started, before it was ready", exit_code=code)
        if elapsed > spec.ready_timeout_s:
            raise failed(server, "ready", f"the server was not ready within ready_timeout_s="
                         f"{spec.ready_timeout_s:g} ({spec.health_path}: {last})")
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


def model_of(spec: ServeSpec, config: Mapping[str, Any], port: int) -> str:
    """The ``"model"`` the trial's requests name: the trial's own ``model`` when it searches one,
    else the fixed one (``model=`` of ``server_trainable``), else the one the server names
    (:func:`~ray_graded_penalty.serving.workload.served_model`), else ``"default"``."""
    if "model" in config:
        return str(config["model"])
    return spec.model or served_model(HOST, port) or DEFAULT_MODEL


def body(spec: ServeSpec, prompt: str, max_tokens: int, model: Optional[str] = None) -> bytes:
    """The JSON of one streaming request for ``prompt``, asking for ``max_tokens`` tokens (and,
    with ``ignore_eos``, for exactly that many) and for the token counts (``include_usage``);
    ``model``: the trial's (see :func:`model_of`), else the spec's."""
    payload: Dict[str, Any] = {"model": model or spec.model or DEFAULT_MODEL, "max_tokens": max_tokens, "stream": True,
                               "temperature": 0.0, "stream_options": {"include_usage": True}}
    if spec.ignore_eos:
        payload.update(ignore_eos=True, min_tokens=max_tokens)
    if spec.endpoint == "chat":
        payload["messages"] = [{"role": "user", "content": prompt}]
    else:
        payload["prompt"] = prompt
    payload.update(spec.extra_body)
    return json.dumps(payload).encode()


def workload(spec: ServeSpec, plan: LoadPlan, tokenizer: Optional[Tokenizer],
             model: Optional[str] = None) -> Tuple[List[Request], List[Request]]:
    """The warmup requests and the measured ones of ``plan``'s load, the same in every trial, its
    prompts its own: not another load's (``model``: the one its requests name, see :func:`model_of`)."""
    n = spec.warmup + spec.requests
    if plan.scenario is None:
        assert spec.prompts is not None
        prompts = [spec.prompts[i % len(spec.prompts)] for i in range(n)]
        lengths = [spec.max_tokens] * n
    else:
        planned = plan_lengths(plan.scenario, n, spec.load.seed)
        prompts = make_prompts([length for length, _ in planned], f"{spec.load.seed}:{plan.name}", tokenizer)
        lengths = [out for _, out in planned]
    requests = [Request(ENDPOINTS[spec.endpoint], body(spec, p, out, model)) for p, out in zip(prompts, lengths)]
    return requests[spec.requests:], requests[:spec.requests]


def port_taken(host: str, port: int) -> bool:
    """Whether another process holds ``port`` now: it cannot be bound, even past the TIME_WAIT
    of connections that closed (``SO_REUSEADDR``), so a socket is bound to it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def deploy(spec: ServeSpec, config: Mapping[str, Any], log_path: str) -> Tuple[Server, int, float]:
    """Start the server on a free port and wait until it is ready: the server, its port, the
    seconds it took. A port is free when chosen, but another process (a trial on the same node)
    may bind it before the server does: a server that exits before it is ready while another
    process holds its port is started once more, on another port, and never graded for it."""
    for attempt in (1, 2):
        port = free_port(HOST)
        argv = spec.command.render(config, port)  # a missing parameter: before any server starts
        server = Server.start(argv, log_path, spec.env, spec.memory_limit_bytes)
        try:
            return server, port, ready(server, port, spec)
        except BaseException as error:
            server.stop(spec.stop_grace_s)
            if attempt == 2 or not isinstance(error, ServerError) or error.stage != "start" or not port_taken(
                    HOST, port):
                raise
            logger.warning("Another process took port %d before the server bound it: starting the server again "
                           "on another port.", port)
    raise AssertionError("unreachable")  # pragma: no cover - the second attempt returns or raises


def publish(stage: str) -> None:
    """Say, for the driver's watchdog, which stage the running Tune trial is in: one that ends it
    before its server was ready grades a start-up failure, not a hang at the end of its time."""
    context = trial_context()
    if context is not None:
        publish_stage(context.get_trial_id(), stage)


def serve(spec: ServeSpec, config: Mapping[str, Any], log_dir: str) -> Dict[str, Any]:
    """Run one trial's server and its loads in turn; its metrics. The server is stopped before this returns."""
    publish("start")
    server, port, ready_s = deploy(spec, config, os.path.join(log_dir, "server.log"))
    publish("load")
    try:
        model = model_of(spec, config, port)
        tokenizer = server_tokenizer(HOST, port, model) if spec.prompts is None else None
        loads: Dict[str, Dict[str, float]] = {}
        for plan in spec.loads:
            try:  # sized with the server's tokenizer: the server may fail here too
                warmup, requests = workload(spec, plan, tokenizer, model)
            except (RuntimeError, OSError) as e:
                code = server.wait(1.0)
                what = f"the server exited ({exit_text(code)})" if code is not None else "its tokenizer failed"
                raise failed(server, "load", f"{what} while the prompts of {plan.name} were sized ({e})",
                             exit_code=code) from e
            load = spec.load._replace(concurrency=plan.concurrency, request_rate=plan.request_rate)
            results, wall_s = drive(HOST, port, requests, load, lambda: server.poll() is not None, warmup)
            done = sum(r.ok for r in results)
            # A server that dies closes its sockets before it can be waited for: when requests
            # failed, give its exit a moment to show, so that the death is named, not the drops.
            code = server.poll() if done == len(results) else server.wait(1.0)
            if code is not None:
                raise failed(server, "load", f"the server exited ({exit_text(code)}) during the load {plan.name}, "
                             f"{done} of {len(results)} requests done", exit_code=code)
            errors = [r.error for r in results if not r.ok]
            if len(errors) > spec.max_error_share * len(results):
                raise failed(server, "load", f"load {plan.name}: {len(errors)} of {len(results)} requests failed "
                             f"(max_error_share={spec.max_error_share:g}); first: {errors[0][:300]}", errors)
            loads[plan.name] = summarize(results, wall_s, spec.goodput)
        metrics: Dict[str, Any] = combine(loads, spec.combine)
        metrics["ready_s"] = ready_s
        if len(loads) > 1:
            metrics["loads"] = loads
        return metrics
    finally:
        code = server.stop(spec.stop_grace_s)
        logger.debug("Server pid %d stopped (%s)", server.pid, exit_text(code))
