"""One streaming request, timed token by token: a small asyncio HTTP/1.1 client.

A request is one ``POST`` of an OpenAI-style completion (or chat completion) with
``"stream": true``, read as server-sent events, one connection each (so that thousands of
streams cost one thread). The time of each event that carries text is kept: the first gives
the time to first token, the gaps between the others the inter-token latencies. The token
counts are the server's own ``usage`` (asked for with ``stream_options.include_usage``); where a
server sends none, the output tokens are the events with text and the input tokens unknown.
What the server says of the request's own timings (llama.cpp's ``timings``) is kept as given.

Example:
    >>> r = RequestResult(True, "", 0.0, (0.1, 0.2, 0.4), 0.5, 12, 3)
    >>> r.ttft_s, round(r.tpot_s, 3), [round(x, 3) for x in r.itl_s]
    (0.1, 0.2, [0.1, 0.2])
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any, AsyncIterator, Dict, List, NamedTuple, Optional, Tuple


class RequestResult(NamedTuple):
    """One request: whether it completed, what went wrong, when it was sent (seconds since the
    load began), when each text event arrived (seconds after the send), its end-to-end latency,
    the tokens in and out, and the server's own timings of it where it sends them."""

    ok: bool
    error: str
    sent_s: float
    token_times: Tuple[float, ...]
    e2el_s: float
    input_tokens: Optional[int]
    output_tokens: int
    server_timings: Optional[dict] = None

    @property
    def ttft_s(self) -> Optional[float]:
        """Time to first token."""
        return self.token_times[0] if self.token_times else None

    @property
    def tpot_s(self) -> Optional[float]:
        """Time per output token after the first, as vLLM defines it: (E2EL - TTFT) / (out - 1)."""
        if self.ttft_s is None or self.output_tokens < 2:
            return None
        return (self.e2el_s - self.ttft_s) / (self.output_tokens - 1)

    @property
    def itl_s(self) -> List[float]:
        """Inter-token latencies: the gaps between successive text events."""
        return [b - a for a, b in zip(self.token_times, self.token_times[1:])]


def failed(error: str, sent_s: float = 0.0, e2el_s: float = 0.0) -> RequestResult:
    """A request that did not complete."""
    return RequestResult(False, error, sent_s, (), e2el_s, None, 0)


def event_text(event: Any) -> str:
    """The text one streamed event carries (completions or chat): a chat's reasoning too
    (``reasoning_content``: vLLM's reasoning parsers, SGLang, llama.cpp; ``reasoning``: newer
    vLLM), as vLLM's ``bench serve`` counts it. Its tokens are generated and in the usage's
    count; left out, the first token was the first of the answer after it."""
    choice = _first_choice(event)
    if "text" in choice:
        return choice.get("text") or ""
    delta = choice.get("delta") or {}
    return delta.get("content") or delta.get("reasoning_content") or delta.get("reasoning") or ""


def finish_reason(event: Any) -> str:
    """Why the answer ended, as a streamed event says it (``"length"``, ``"stop"``), or ""."""
    reason = _first_choice(event).get("finish_reason")
    return reason if isinstance(reason, str) else ""


def _first_choice(event: Any) -> Dict[str, Any]:
    """The first choice of a streamed event, or an empty one."""
    choices = event.get("choices") if isinstance(event, dict) else None
    choice = (choices or [{}])[0]
    return choice if isinstance(choice, dict) else {}


class _Stream:
    """The body of a response, chunked or not, as lines; ``read_at`` is when the bytes of the
    last line given arrived (``time.monotonic()``), not when it was parsed."""

    def __init__(self, reader: asyncio.StreamReader, chunked: bool, timeout_s: float) -> None:
        self.reader, self.chunked, self.timeout_s = reader, chunked, timeout_s
        self.buffer, self.ended, self.read_at = b"", False, time.monotonic()

    async def _read(self, coroutine: Any) -> bytes:
        return await asyncio.wait_for(coroutine, self.timeout_s)

    async def _more(self) -> bool:
        if self.ended:
            return False
        if not self.chunked:
            data = await self._read(self.reader.read(65536))
        else:
            size_line = await self._read(self.reader.readline())
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            data = (await self._read(self.reader.readexactly(size + 2)))[:size] if size else b""
            if size == 0:
                await self._read(self.reader.readline())
        if not data:
            self.ended = True
            return False
        self.buffer += data
        self.read_at = time.monotonic()
        return True

    async def lines(self) -> AsyncIterator[str]:
        while True:
            while b"\n" not in self.buffer:
                if not await self._more():
                    if self.buffer:
                        yield self.buffer.decode(errors="replace").strip()
                    return
            line, self.buffer = self.buffer.split(b"\n", 1)
            yield line.decode(errors="replace").strip()


async def send(host: str, port: int, path: str, body: bytes, timeout_s: float, load_start: float) -> RequestResult:
    """Send one streaming request and read it to its end; never raises."""
    start = time.monotonic()
    sent_s = start - load_start
    times: List[float] = []
    usage: Optional[dict] = None
    timings: Optional[dict] = None
    finished = False  # the last event said why the answer ended (its choice's finish_reason)
    writer = None

    def end(error: str = "") -> RequestResult:
        e2el = time.monotonic() - start
        if error:
            return RequestResult(False, error, sent_s, tuple(times), e2el, None, len(times))
        out = usage.get("completion_tokens") if usage else None
        tokens_in = usage.get("prompt_tokens") if usage else None
        return RequestResult(True, "", sent_s, tuple(times), e2el,
                             tokens_in if isinstance(tokens_in, int) else None,
                             out if isinstance(out, int) else len(times), timings)

    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout_s)
        writer.write(f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
                     f"Accept: text/event-stream\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
                     .encode() + body)
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout_s)
        status_line, *header_lines = head.decode(errors="replace").split("\r\n")
        status = int(status_line.split()[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines if h)}
        stream = _Stream(reader, "chunked" in headers.get("transfer-encoding", "").lower(), timeout_s)
        if status != 200:
            text = []
            async for line in stream.lines():
                text.append(line)
                if sum(map(len, text)) > 400:
                    break
            return end(f"HTTP {status}: {' '.join(text)[:400]}")
        async for line in stream.lines():
            if line.startswith("error:"):
                return end(line)
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                return end()
            event = json.loads(data)
            if isinstance(event, dict) and "error" in event:
                return end(f"error event: {event['error']}")
            if event_text(event):
                times.append(stream.read_at - start)
            if isinstance(event, dict):
                usage, timings = event.get("usage") or usage, event.get("timings") or timings
                finished = bool(finish_reason(event)) or (finished and not event_text(event))
        # TGI before 2.2 ends its streams without [DONE]: an answer its server said was finished is whole
        return end() if finished else end("the stream ended before [DONE]")
    except asyncio.TimeoutError:
        return end(f"request timed out: silent for {timeout_s:g} s")
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, IndexError) as e:
        return end(f"{type(e).__name__}: {e}")
    finally:
        if writer is not None:
            writer.close()
