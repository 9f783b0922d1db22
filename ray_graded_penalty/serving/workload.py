"""Workloads in tokens: the scenarios of the seed design, and prompts of those lengths.

A scenario is written as genai-bench writes it (the seed design's ``traffic_scenarios``):

- ``D(in,out)``: every request has ``in`` input and ``out`` output tokens;
- ``N(mu_in,sd_in)/(mu_out,sd_out)``: normal lengths, rounded, truncated at 1;
- ``U(lo_in,hi_in)/(lo_out,hi_out)``: uniform whole lengths, both bounds included.

Lengths are drawn by a seeded generator, so every trial gets the same workload. Each request
gets its own prompt, and each load of a trial its own prompts, so that a prefix cache cannot
answer one from another: a run of tokens starting at a place of a seeded text where no other
prompt of the load starts, sized with the server's own tokenizer where it has one
(``POST /tokenize`` and ``/detokenize``, as llama.cpp's and vLLM's servers answer them) and
otherwise by an estimate of :data:`CHARS_PER_TOKEN` characters per token (logged once a trial). A
prompt decoded from ``n`` tokens may be read back as a token more or less; the trainable reports
the prompt tokens the server counted.

Example:
    >>> parse_scenario("N(480,240)/(300,150)").kind
    'N'
    >>> plan_lengths(parse_scenario("D(512,128)"), 2, seed=0)
    [(512, 128), (512, 128)]
    >>> parse_scenario("D(512)")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ValueError: scenario 'D(512)' is not one of D(in,out), N(mu_in,sd_in)/(mu_out,sd_out), U(...
"""

from __future__ import annotations

import http.client
import json
import logging
import random
import re
from typing import Any, Callable, List, NamedTuple, Optional, Sequence, Tuple, Union

logger = logging.getLogger("ray_graded_penalty")

#: Characters per token of the word list below, assumed for a server without a tokenizer
#: endpoint: Llama 3's vocabulary reads 5.99; chosen on it, 6 sizes prompts at 1.00 to 1.08 of
#: their length in 17 other generative vocabularies (benchmarks/research/prompt_tokens.py).
CHARS_PER_TOKEN = 6

_NUMBER = r"\s*(\d+(?:\.\d+)?)\s*"
_PAIR = rf"\({_NUMBER},{_NUMBER}\)"
_FORM = re.compile(rf"^\s*([DNU])\s*{_PAIR}(?:\s*/\s*{_PAIR})?\s*$")
FORMS = "D(in,out), N(mu_in,sd_in)/(mu_out,sd_out), U(lo_in,hi_in)/(lo_out,hi_out)"

#: Words of the text prompts are cut from (seeded order; a tokenizer splits them as it would prose).
_WORDS = ("the server reads each request and writes its answer one token at a time while the "
          "scheduler fills every slot with work from the queue and the cache keeps what it saw "
          "before model weights memory batch prompt output latency throughput river mountain "
          "window garden yellow quiet number seven eleven history science music paper").split()


class Scenario(NamedTuple):
    """A parsed scenario: its text, its kind (``"D"``, ``"N"`` or ``"U"``) and the two pairs of
    numbers it gives for the input and the output lengths."""

    name: str
    kind: str
    input: Tuple[float, float]
    output: Tuple[float, float]


def parse_scenario(text: str) -> Scenario:
    """Read one scenario; raises ``ValueError`` naming it and the forms allowed."""
    found = _FORM.match(text) if isinstance(text, str) else None
    if found is None:
        raise ValueError(f"scenario {text!r} is not one of {FORMS}")
    kind, a, b, c, d = found.groups()
    if kind == "D":
        if c is not None:
            raise ValueError(f"scenario {text!r}: D takes one pair, D(in,out)")
        numbers = (float(a), float(b))
        if not all(n.is_integer() and n >= 1 for n in numbers):
            raise ValueError(f"scenario {text!r}: D(in,out) takes whole numbers of tokens, at least 1")
        return Scenario(text.strip(), kind, (numbers[0], 0.0), (numbers[1], 0.0))
    if c is None:
        raise ValueError(f"scenario {text!r}: {kind} takes two pairs, {kind}(.,.)/(.,.)")
    first, second = (float(a), float(b)), (float(c), float(d))
    for pair in (first, second):
        if kind == "N" and (pair[0] < 1 or pair[1] < 0):
            raise ValueError(f"scenario {text!r}: N takes a mean of at least 1 and a standard deviation >= 0")
        if kind == "U" and not (pair[0].is_integer() and pair[1].is_integer() and 1 <= pair[0] <= pair[1]):
            raise ValueError(f"scenario {text!r}: U takes whole bounds with 1 <= lo <= hi")
    return Scenario(text.strip(), kind, first, second)


def _draw(kind: str, pair: Tuple[float, float], rng: random.Random) -> int:
    if kind == "D":
        return int(pair[0])
    if kind == "U":
        return rng.randint(int(pair[0]), int(pair[1]))
    return max(1, round(rng.gauss(pair[0], pair[1])))


def plan_lengths(scenario: Scenario, n: int, seed: int) -> List[Tuple[int, int]]:
    """``n`` (input, output) token lengths for ``scenario``, the same for the same ``seed``."""
    rng = random.Random(f"{seed}:{scenario.name}")
    return [(_draw(scenario.kind, scenario.input, rng), _draw(scenario.kind, scenario.output, rng))
            for _ in range(n)]


class Tokenizer(NamedTuple):
    """A server's tokenizer: text to token ids and back."""

    encode: Callable[[str], List[int]]
    decode: Callable[[Sequence[int]], str]


def _post(host: str, port: int, path: str, payload: dict, timeout_s: float) -> Optional[dict]:
    connection = http.client.HTTPConnection(host, port, timeout=timeout_s)
    try:
        connection.request("POST", path, json.dumps(payload).encode(), {"Content-Type": "application/json"})
        response = connection.getresponse()
        data = response.read()
        return json.loads(data) if response.status == 200 else None
    except (OSError, http.client.HTTPException, ValueError):
        return None
    finally:
        connection.close()


def served_model(host: str, port: int, timeout_s: float = 10.0) -> Optional[str]:
    """The first model the server at ``host:port`` names at ``GET /v1/models`` (OpenAI's shape:
    ``{"data": [{"id": ...}]}``; vLLM, SGLang, llama.cpp, TGI), or None. vLLM refuses a request
    naming a model it does not serve, so a model written into the command (``vllm serve
    Qwen/Qwen2.5-7B-Instruct``) is read back from the server."""
    connection = http.client.HTTPConnection(host, port, timeout=timeout_s)
    try:
        connection.request("GET", "/v1/models")
        response = connection.getresponse()
        answer = json.loads(response.read()) if response.status == 200 else None
    except (OSError, http.client.HTTPException, ValueError):
        return None
    finally:
        connection.close()
    models = answer.get("data") if isinstance(answer, dict) else None
    first = models[0] if isinstance(models, list) and models and isinstance(models[0], dict) else {}
    name = first.get("id")
    return name if isinstance(name, str) and name else None


def _token_ids(answer: Any) -> Optional[List[int]]:
    """The token ids of a ``/tokenize`` answer: ``{"tokens": [ids or {"id": ...}]}`` (llama.cpp,
    vLLM) or a list of ``{"id": ...}`` (TGI); None for any other shape."""
    items = answer.get("tokens") if isinstance(answer, dict) else answer
    if not isinstance(items, list):
        return None
    ids = [t.get("id") if isinstance(t, dict) else t for t in items]
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        return None
    return [int(i) for i in ids if i is not None]


def server_tokenizer(host: str, port: int, model: str, timeout_s: float = 30.0) -> Optional[Tokenizer]:
    """The tokenizer of the server at ``host:port``, or None (with one warning) when it answers
    no ``/tokenize`` and ``/detokenize`` that turn a text into tokens and back.

    Asks with the field names in use (llama.cpp's ``content``, vLLM's ``prompt``, TGI's
    ``inputs``) and reads back either shape of tokens and either text field (``content`` or
    ``prompt``). A server with only one of them (TGI has no ``/detokenize``), or answers of
    another shape, gets prompts sized by the estimate, as one without them: never a failed trial.
    """

    def encode(text: str) -> List[int]:
        answer = _post(host, port, "/tokenize", {"model": model, "content": text, "prompt": text, "inputs": text,
                                                 "add_special": False, "add_special_tokens": False}, timeout_s)
        ids = _token_ids(answer)
        if ids is None:
            raise RuntimeError(f"POST /tokenize on {host}:{port} gave no tokens")
        return ids

    def decode(tokens: Sequence[int]) -> str:
        answer = _post(host, port, "/detokenize", {"model": model, "tokens": list(tokens)}, timeout_s)
        text = None if answer is None else answer.get("content", answer.get("prompt"))
        if not isinstance(text, str):
            raise RuntimeError(f"POST /detokenize on {host}:{port} gave no text")
        return text

    try:
        tokens = encode("ping pong")
    except RuntimeError:
        missing = "no /tokenize"
    else:
        try:
            decode(tokens)
            return Tokenizer(encode, decode)
        except RuntimeError:
            missing = "/tokenize but no /detokenize"
    logger.warning("The server at %s:%d has %s: prompts are sized at %d characters per token, an estimate; "
                   "the prompt tokens it reports are what it counted", host, port, missing, CHARS_PER_TOKEN)
    return None


def _text(rng: random.Random, chars: int) -> str:
    words: List[str] = []
    size = 0
    while size < chars:
        words.append(rng.choice(_WORDS))
        size += len(words[-1]) + 1
    return " ".join(words)


def make_prompts(input_lengths: Sequence[int], seed: Union[int, str], tokenizer: Optional[Tokenizer], *,
                 chars_per_token: int = CHARS_PER_TOKEN) -> List[str]:
    """One prompt per input length: a run of that many tokens of a seeded text, each starting
    where no other does, so that no prompt is a prefix cache's hit for another (0.5 drew the
    starts with replacement: a share of a load's prompts repeated one exactly). Without a
    ``tokenizer``, a token is ``chars_per_token`` characters."""
    rng = random.Random(seed)
    if not input_lengths:
        return []
    longest, count = max(input_lengths), len(input_lengths)
    span = longest + count  # room for a start per prompt, each followed by the longest prompt
    source = _text(rng, chars_per_token * (span + 64))
    if tokenizer is None:  # sized by the estimate (server_tokenizer warned, once per deployment)
        starts = rng.sample(range(len(source) - chars_per_token * longest), count)
        return [source[start:start + chars_per_token * n] for start, n in zip(starts, input_lengths)]
    tokens = tokenizer.encode(source)
    while len(tokens) < span + 16:  # a tokenizer that packs more characters a token than the estimate
        tokens += tokenizer.encode(" " + _text(rng, chars_per_token * span))
    starts = rng.sample(range(len(tokens) - longest), count)
    # Without the space a run may start with: read back, a leading space is a token or three of
    # its own (SentencePiece's prefix), the same at the head of every such prompt. A run that is
    # only spaces (one token, of a tokenizer with a token per character) stays: never empty.
    runs = [tokenizer.decode(tokens[start:start + n]) for start, n in zip(starts, input_lengths)]
    return [run.lstrip() or run for run in runs]
