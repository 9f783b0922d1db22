"""The load: a fixed number of streaming OpenAI-style requests at a fixed concurrency.

Each request is one ``POST /v1/completions`` (or ``/v1/chat/completions``) with
``"stream": true``, read as server-sent events; its time to first token is the arrival of the
first event with text, its latency the end of the stream, its output tokens the server's
``usage`` when it sends one, else the number of events with text (one per token on llama.cpp's,
vLLM's and SGLang's servers). Prompts are used in turn, so every trial gets the same load.
"""

from __future__ import annotations

import http.client
import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, List, Mapping, NamedTuple, Optional, Tuple

#: The default prompts: fixed, of growing length (about 40 to 330 characters).
PROMPTS: Tuple[str, ...] = tuple(
    " ".join(["The quick brown fox jumps over the lazy dog while the server counts tokens."] * n)
    for n in (1, 2, 3, 4)
)

ENDPOINTS = {"completions": "/v1/completions", "chat": "/v1/chat/completions"}


class LoadSpec(NamedTuple):
    """What load to drive; checked by :func:`~ray_graded_penalty.serving.server_trainable`."""

    requests: int
    concurrency: int
    max_tokens: int
    prompts: Tuple[str, ...] = PROMPTS
    endpoint: str = "completions"
    model: str = "default"
    timeout_s: float = 60.0
    extra_body: Mapping[str, Any] = {}


class RequestResult(NamedTuple):
    """One request: whether it completed, its timings and tokens, or what went wrong."""

    ok: bool
    ttft_s: Optional[float]
    latency_s: float
    tokens: int
    error: str = ""


def body(spec: LoadSpec, prompt: str) -> bytes:
    """The JSON request for ``prompt``."""
    payload = {"model": spec.model, "max_tokens": spec.max_tokens, "stream": True, "temperature": 0.0}
    if spec.endpoint == "chat":
        payload["messages"] = [{"role": "user", "content": prompt}]
    else:
        payload["prompt"] = prompt
    payload.update(spec.extra_body)
    return json.dumps(payload).encode()


def event_text(event: Mapping[str, Any]) -> str:
    """The text one streamed event carries (completions or chat)."""
    choices = event.get("choices") or [{}]
    choice = choices[0] or {}
    if "text" in choice:
        return choice.get("text") or ""
    return ((choice.get("delta") or {}).get("content")) or ""


def send(host: str, port: int, spec: LoadSpec, prompt: str) -> RequestResult:
    """Send one streaming request and read it to its end."""
    start = time.monotonic()
    ttft, tokens, usage, done = None, 0, None, False
    connection = http.client.HTTPConnection(host, port, timeout=spec.timeout_s)
    try:
        connection.request("POST", ENDPOINTS[spec.endpoint], body(spec, prompt), {"Content-Type": "application/json"})
        response = connection.getresponse()
        if response.status != 200:
            text = response.read(400).decode(errors="replace").strip()
            return RequestResult(False, None, time.monotonic() - start, 0, f"HTTP {response.status}: {text}")
        for raw in response:
            line = raw.decode(errors="replace").strip()
            if not line.startswith("data:"):
                if line.startswith("error:"):
                    return RequestResult(False, ttft, time.monotonic() - start, tokens, line)
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                done = True
                break
            event = json.loads(data)
            if "error" in event:
                return RequestResult(False, ttft, time.monotonic() - start, tokens, f"error event: {event['error']}")
            if event_text(event):
                tokens += 1
                ttft = time.monotonic() - start if ttft is None else ttft
            usage = event.get("usage") or usage
            if time.monotonic() - start > spec.timeout_s:
                return RequestResult(False, ttft, time.monotonic() - start, tokens,
                                     f"request timed out after {spec.timeout_s:g} s")
    except (OSError, http.client.HTTPException, ValueError) as e:
        what = "request timed out" if isinstance(e, TimeoutError) else f"{type(e).__name__}: {e}"
        return RequestResult(False, ttft, time.monotonic() - start, tokens, what)
    finally:
        connection.close()
    if not done:
        return RequestResult(False, ttft, time.monotonic() - start, tokens, "the stream ended before [DONE]")
    if usage and isinstance(usage.get("completion_tokens"), int):
        tokens = usage["completion_tokens"]
    return RequestResult(True, ttft, time.monotonic() - start, tokens)


def drive(host: str, port: int, spec: LoadSpec, server_exited: Callable[[], bool]) -> Tuple[List[RequestResult], float]:
    """Send ``spec.requests`` requests, ``spec.concurrency`` at a time; the results and the wall time.

    Once ``server_exited()`` is true, the requests not yet sent are not sent (each is a failed
    result saying so).
    """

    def one(i: int) -> RequestResult:
        if server_exited():
            return RequestResult(False, None, 0.0, 0, "not sent: the server had exited")
        return send(host, port, spec, spec.prompts[i % len(spec.prompts)])

    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=spec.concurrency, thread_name_prefix="rgp-load") as pool:
        results = list(pool.map(one, range(spec.requests)))
    return results, time.monotonic() - start
