"""The Ray Tune trainable that deploys a server per trial: its arguments, checked once.

:func:`server_trainable` checks everything fixed for every trial into a
:class:`~ray_graded_penalty.serving.trial.ServeSpec` when it is called, before any trial runs;
each trial then runs :func:`~ray_graded_penalty.serving.trial.serve` and reports its metrics once.
"""

from __future__ import annotations

import difflib
import inspect
import math
import warnings
from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Union

from ray_graded_penalty import compat
from ray_graded_penalty.serving.command import Command
from ray_graded_penalty.serving.load import LoadSpec, arrival_gaps
from ray_graded_penalty.serving.metrics import COMBINE, Goodput
from ray_graded_penalty.serving.plan import plan_loads
from ray_graded_penalty.serving.trial import ENDPOINTS, ServeSpec, serve

#: 0.4's default prompts (fixed, about 40 to 330 characters), sent when 0.4's ``max_tokens`` comes
#: without prompts, until 0.7.
PROMPTS_0_4 = tuple(" ".join(["The quick brown fox jumps over the lazy dog while the server counts tokens."] * n)
                    for n in (1, 2, 3, 4))


def _positive(name: str, value: Any, integer: bool = False) -> Any:
    kind = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind) or not math.isfinite(value) or value <= 0:
        what = "a positive integer" if integer else "a positive number"
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return value


def _unknown(fixed: Mapping[str, Any], command: Command) -> None:
    """Refuse a keyword that is neither an argument nor a field of the command (a typo)."""
    known = set(inspect.signature(server_trainable).parameters) - {"command", "fixed"}
    shared = sorted(set(command.fields) & known)
    if shared:
        warnings.warn(f"the command's fields {shared} are also server_trainable's arguments: each takes the trial's "
                      f"config value, never the argument's; rename the field (such as {{server_{shared[0]}}}) and "
                      f"pass it as a keyword to fix its value", stacklevel=3)
    unknown = sorted(set(fixed) - set(command.fields) - {"model"})
    if unknown:
        hints = [f"{name!r} (did you mean {close[0]!r}?)" if close else repr(name) for name in unknown
                 for close in [difflib.get_close_matches(name, sorted(known | set(command.fields)), n=1)]]
        raise ValueError(f"server_trainable got {', '.join(hints)}: neither an argument of server_trainable "
                         f"nor a field of the command (fields: {list(command.fields)})")


def _check_first_arrivals(spec: ServeSpec) -> None:
    """Refuse an open loop whose ``duration_s`` ends before its first request arrives: it would
    measure nothing, in every trial (the arrivals are the same in each: seeded)."""
    if spec.load.duration_s is None:
        return
    for plan in spec.loads:
        if plan.request_rate is None:
            continue
        first = arrival_gaps(1, plan.request_rate, spec.load.burstiness, spec.load.seed)[0]
        if first >= spec.load.duration_s:
            raise ValueError(f"duration_s={spec.load.duration_s:g} ends the load {plan.name} before its first "
                             f"request arrives ({first:.2f} s after its start, seed={spec.load.seed}): give a longer "
                             f"duration_s or a higher request_rate")


def _optional_positive(name: str, value: Any, integer: bool = False) -> Any:
    return None if value is None else _positive(name, value, integer)


def server_trainable(
    command: str,
    *,
    scenarios: Optional[Union[str, Sequence[str]]] = None,
    prompts: Optional[Sequence[str]] = None,
    max_tokens: Optional[int] = None,
    concurrency: Union[int, Sequence[int]] = 8,
    request_rate: Optional[Union[float, Sequence[float]]] = None,
    burstiness: float = 1.0,
    max_concurrency: Optional[int] = None,
    requests: int = 64,
    warmup: int = 0,
    duration_s: Optional[float] = None,
    goodput: Optional[Mapping[str, float]] = None,
    combine: str = "mean",
    ignore_eos: bool = True,
    seed: int = 0,
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
    """A function trainable that deploys ``command`` per trial, runs its loads and reports.

    Args:
        command: The server's command line; ``{name}`` fields take the trial's config values,
            ``fixed`` values, ``{port}`` (required: a free port per trial) and ``{host}``.
            Tune runs each trial in its own directory: give the paths in it as absolute paths
            (a relative path of the program, found here, is made absolute).
        scenarios: The workload in tokens, one scenario or a list
            (:mod:`~ray_graded_penalty.serving.workload`): ``"D(512,128)"`` (the default),
            ``"N(480,240)/(300,150)"``, ``"U(64,512)/(16,256)"``. Every request gets its own
            prompt of its input length, sized with the server's tokenizer.
        prompts, max_tokens: Your own prompts instead, used in turn, each asking for
            ``max_tokens`` tokens (default 128).
        concurrency: Closed loop: that many requests in flight; a list runs one load per value.
        request_rate: Open loop instead: requests per second (a list: one load per rate),
            gamma gaps of shape ``burstiness`` (1: Poisson), at most ``max_concurrency`` in flight.
        requests, warmup, duration_s: Each load sends ``requests`` requests, after ``warmup``
            unmeasured ones, and stops sending after ``duration_s`` seconds.
        goodput: Per-request SLOs in seconds, any of ``ttft_s``, ``tpot_s``, ``e2el_s``: the
            ``goodput`` metric counts the requests per second that meet them all.
        combine: How several loads make the trial's metrics: ``"mean"`` or ``"worst"``.
        ignore_eos: Ask for exactly each request's output length (``ignore_eos``, ``min_tokens``).
        seed: Seeds the lengths, the prompts and the arrivals: every trial gets the same load.
        endpoint: "completions" (``/v1/completions``) or "chat" (``/v1/chat/completions``).
        health_path: Ready when a GET of it answers 200 (llama.cpp and vLLM: ``/health``;
            otherwise ``/v1/models``).
        ready_timeout_s: A server not ready this long after its start fails ("deploy failed").
        request_timeout_s: A request silent this long fails.
        max_error_share: The share of a load's requests that may fail before the trial fails.
        memory_limit_gb: Caps the server's address space (``RLIMIT_AS``), for servers on CPU.
        env: Extra environment variables for the server.
        extra_body: Extra fields for every request.
        stop_grace_s: After SIGTERM, how long the server may take before SIGKILL.
        check_executable: Check now that the command's program exists here.
        **fixed: Values for the command's fields that are the same in every trial (any other
            name is refused, so a misspelt argument cannot pass). ``model``, fixed here or
            searched in the trial's config, is also the ``"model"`` its requests name; without
            one, they name the first model the server lists at ``/v1/models``.

    Each trial reports the metrics of :mod:`~ray_graded_penalty.serving.metrics` (``throughput``,
    ``ttft_p99_s``, ``tpot_mean_s``, ``itl_p90_s``, ``e2el_p99_s``, ``goodput``, ...) and
    ``ready_s``; with several loads, their combination and each load's under ``loads``. A server
    that exits, never gets ready, dies under load or fails more requests than allowed raises
    ``ServerError`` with its exit status and last log lines, naming the load.

    Example:
        >>> trainable = server_trainable(
        ...     "llama-server -m {model} --port {port} -np {slots}", model="/models/model.gguf",
        ...     scenarios="D(512,128)", concurrency=[1, 2], requests=32, check_executable=False)
        >>> [load.name for load in trainable.spec.loads]
        ['D(512,128) c=1', 'D(512,128) c=2']
    """
    if endpoint not in ENDPOINTS:
        raise ValueError(f"endpoint must be one of {sorted(ENDPOINTS)}, got {endpoint!r}")
    if not isinstance(health_path, str) or not health_path.startswith("/"):
        raise ValueError(f"health_path must be a path starting with '/', got {health_path!r}")
    if prompts is not None:
        prompts = tuple(prompts)
        if not prompts or not all(isinstance(p, str) and p for p in prompts):
            raise ValueError(f"prompts must be a non-empty sequence of non-empty strings, got {prompts!r}")
    elif max_tokens is not None and scenarios is not None:
        raise ValueError("max_tokens goes with prompts: a scenario gives each request's output length")
    elif max_tokens is not None:
        warnings.warn(f"server_trainable(max_tokens={max_tokens!r}) without prompts is deprecated since 0.5 and goes "
                      f"in 0.7: it sends 0.4's four fixed prompts, each asking for {max_tokens!r} tokens. Write "
                      f"scenarios=\"D(<input tokens>,{max_tokens!r})\" for a workload in tokens, or give prompts=[...] "
                      f"with max_tokens", DeprecationWarning, stacklevel=2)
        prompts = PROMPTS_0_4
    if scenarios is None and prompts is None:
        scenarios = ("D(512,128)",)
    if not isinstance(max_error_share, (int, float)) or not 0.0 <= max_error_share <= 1.0:
        raise ValueError(f"max_error_share must be in [0, 1], got {max_error_share!r}")
    if combine not in COMBINE:
        raise ValueError(f"combine must be one of {list(COMBINE)}, got {combine!r}")
    bounds = dict(goodput or {})
    if set(bounds) - set(Goodput._fields):
        raise ValueError(f"goodput takes SLOs on {list(Goodput._fields)}, got {sorted(bounds)}")
    for name, bound in bounds.items():
        _positive(f"goodput[{name!r}]", bound)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"warmup must be a whole number of requests (0 or more), got {warmup!r}")
    requests = _positive("requests", requests, integer=True)
    if warmup > requests:
        raise ValueError(f"warmup={warmup} is larger than the load it warms (requests={requests})")
    if not isinstance(ignore_eos, bool):
        raise ValueError(f"ignore_eos must be True or False, got {ignore_eos!r}")
    if math.isinf(_positive("burstiness", burstiness)):
        raise ValueError(f"burstiness must be a finite positive number, got {burstiness!r}")
    parsed = Command.parse(command, fixed, check_executable)
    _unknown(fixed, parsed)
    limit = None if memory_limit_gb is None else int(_positive("memory_limit_gb", memory_limit_gb) * 2**30)
    spec = ServeSpec(
        command=parsed,
        loads=tuple(plan_loads(scenarios, prompts, concurrency, request_rate)),
        load=LoadSpec(burstiness=float(burstiness),
                      max_concurrency=_optional_positive("max_concurrency", max_concurrency, integer=True),
                      duration_s=_optional_positive("duration_s", duration_s),
                      timeout_s=_positive("request_timeout_s", request_timeout_s), seed=seed),
        requests=requests,
        warmup=warmup,
        goodput=Goodput(**bounds) if goodput is not None else None,
        combine=combine,
        prompts=prompts,
        max_tokens=128 if max_tokens is None else _positive("max_tokens", max_tokens, integer=True),
        ignore_eos=ignore_eos,
        endpoint=endpoint,
        model=str(fixed["model"]) if "model" in fixed else None,
        extra_body=dict(extra_body or {}),
        health_path=health_path,
        ready_timeout_s=_positive("ready_timeout_s", ready_timeout_s),
        max_error_share=float(max_error_share),
        memory_limit_bytes=limit,
        env={str(k): str(v) for k, v in (env or {}).items()},
        stop_grace_s=_positive("stop_grace_s", stop_grace_s),
    )
    _check_first_arrivals(spec)

    def serve_trial(config: Dict[str, Any]) -> None:
        compat.report(serve(spec, config, compat.trial_dir()))

    serve_trial.spec = spec  # type: ignore[attr-defined]
    return serve_trial
