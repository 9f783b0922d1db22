"""Error classes: what killed a trial, read from its error text by whole words.

An :class:`ErrorModifier` names a class of errors, the keywords that recognise it and the
factor it scales a failure's magnitude by. A keyword matches *whole words*: the error text is
split into words by :func:`words`, and the keyword matches where it begins and ends at word
boundaries of the text, and its own words are the text's, in order, whatever their case. So
``"oom"`` matches "CUDA OOM" and "OOMKilled" but not "zoom" or "room"; ``"out of memory"``
matches "CUDA out of memory", "OutOfMemoryError" and "CUDA_ERROR_OUT_OF_MEMORY"; a user's
``"xid"`` matches "Xid 79" and "NVRM: Xid (PCI:0000:3b:00): 79" but not "oxide"; ``"nvlink"``
and ``"oomkilled"`` match "NVLink" and "OOMKilled" (one word of a keyword may span a
``CamelCase`` name's parts).

Words are split at spaces and punctuation, inside a ``CamelCase`` name and between letters
and digits. A name in lower case joined by ``_`` or ``-`` (``gpu_memory_gb``,
``--gpu-memory-utilization``, ``bad_alloc``) is one word: metric names, flags and fields are
not prose, so a keyword ``"memory"`` does not fire inside them (a keyword may name one:
``"bad_alloc"``). ``UPPER_CASE_NAMES`` (``RESOURCE_EXHAUSTED``) are split. The names of
fields are settings, not events: a word before ``=`` (``Timeout(ms)=600000``, ``timeout=60``)
and a quoted key before ``:`` are not read, only their values; a flag set to true says its
name happened (``"OOMKilled": true`` reads as "OOMKilled"), one set to false, null or 0 says
nothing (``"OOMKilled": false``).

:func:`classify` returns the first modifier, in the policy's order, with a keyword in the
text. Pure logic, no import.

Example:
    >>> words("torch.OutOfMemoryError: CUDA out of memory; gpu_memory_gb: 80")
    ('torch', 'out', 'of', 'memory', 'error', 'cuda', 'out', 'of', 'memory', 'gpu_memory_gb', '80')
    >>> classify("ValueError: zoom level must be positive", DEFAULT_MODIFIERS) is None
    True
    >>> classify("Reason: OOMKilled (exit code 137)", DEFAULT_MODIFIERS).name
    'oom'
    >>> classify('{"OOMKilled": false, "ExitCode": 137}', DEFAULT_MODIFIERS) is None
    True
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import FrozenSet, Iterable, List, NamedTuple, Optional, Tuple

#: The class of a failure no modifier applies to (factor 1): a plain crash.
CRASH = "crash"
#: The class of a success that missed an SLO past its ``fail_ratio`` (:mod:`~ray_graded_penalty.slo`).
SLO_ERROR_CLASS = "slo"

# A field: a quoted key before ":", or a word (and a unit in parentheses) before "="; and its
# value, when that is a flag.
_FIELD = re.compile(r"""(?:"(?P<key>[^"\n]*)"\s*:(?!:)|(?P<word>[^\W\d][\w.-]*)(?:\([^()\s]*\))?\s*=(?!=))"""
                    r"""\s*(?:(?P<flag>true|false|null|none|0)(?![\w.]))?""", re.UNICODE | re.IGNORECASE)


def _field(match: "re.Match[str]") -> str:
    """What a field says: the name of a flag set to true; nothing else of its name."""
    flag = (match["flag"] or "").lower()
    return f" {match['key'] or match['word']} " if flag == "true" else " "


# A chunk of text between spaces and punctuation other than "_" and "-".
_CHUNK = re.compile(r"[^\W_]+(?:[-_]+[^\W_]+)*", re.UNICODE)
# A lower-case identifier joined by "_" or "-": one word.
_IDENTIFIER = re.compile(r"[a-z0-9]+(?:[-_]+[a-z0-9]+)+")
# Words inside a chunk: an acronym (OOM in OOMKilled), a capitalised or lower-case word, digits.
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+|[^\W\d_A-Za-z]+", re.UNICODE)


def _chunks(text: Optional[str]) -> List[List[str]]:
    """``text``'s chunks, each as its lower-case words."""
    chunks = []
    for chunk in _CHUNK.findall(_FIELD.sub(_field, text or "")):
        chunks.append([chunk] if _IDENTIFIER.fullmatch(chunk) else [w.lower() for w in _WORD.findall(chunk)])
    return chunks


def words(text: Optional[str]) -> Tuple[str, ...]:
    """``text`` as lower-case words, split as the module's docstring says."""
    return tuple(w for chunk in _chunks(text) for w in chunk)


class Spelling(NamedTuple):
    """Words run together, and the positions in ``letters`` where words must begin or end."""

    letters: str
    bounds: FrozenSet[int]


def spell(text: Optional[str]) -> Spelling:
    """An error text, with a boundary before and after each of its words."""
    letters: List[str] = []
    bounds, n = {0}, 0
    for word in words(text):
        letters.append(word)
        n += len(word)
        bounds.add(n)
    return Spelling("".join(letters), frozenset(bounds))


@lru_cache(maxsize=4096)
def spell_keyword(keyword: str) -> Spelling:
    """A keyword, with the boundaries between its chunks that the text must have too."""
    letters: List[str] = []
    bounds, n = set(), 0
    for chunk in _chunks(keyword):
        if letters:
            bounds.add(n)
        letters.append("".join(chunk))
        n += len(letters[-1])
    return Spelling("".join(letters), frozenset(bounds))


def contains(text: Spelling, keyword: Spelling) -> bool:
    """Whether ``keyword`` stands in ``text`` as whole words (see the module's docstring)."""
    if not keyword.letters:
        return False
    i = text.letters.find(keyword.letters)
    while i >= 0:
        if (i in text.bounds and i + len(keyword.letters) in text.bounds
                and all(i + b in text.bounds for b in keyword.bounds)):
            return True
        i = text.letters.find(keyword.letters, i + 1)
    return False


@dataclass(frozen=True)
class ErrorModifier:
    """Multiplies the magnitude by ``factor`` when the error text contains one of ``keywords``.

    Keywords match whole words, case-insensitively (see :mod:`~ray_graded_penalty.error_classes`);
    the first modifier that matches wins.
    """

    name: str
    keywords: Tuple[str, ...]
    factor: float

    def matches(self, text: Spelling) -> bool:
        """Whether one of the keywords stands in ``text`` (from :func:`spell`)."""
        return any(contains(text, spell_keyword(k)) for k in self.keywords)


def classify(text: Optional[str], modifiers: Iterable[ErrorModifier]) -> Optional[ErrorModifier]:
    """The first of ``modifiers`` with a keyword in ``text``, or None."""
    spelled = spell(text)
    return next((m for m in modifiers if m.matches(spelled)), None)


#: The default policy's error classes and factors (the seed design's), each with the ways real servers, runtimes and
#: clusters say it. The order is the cause before the stage: an allocation that failed while
#: deploying ("Deployment failed: CUDA out of memory") is out of memory, and a read timed out
#: on a connection ("ReadTimeout: HTTPConnectionPool(...): Read timed out") ran out of time.
#: "connection" and "timeout" share x0.8 in the seed design; they are two classes here so
#: that reports tell them apart. "slo" comes first of all: the searcher names that class
#: itself, and the keyword finds it again in an earlier run's error text, which begins "SLO
#: missed:". x0.8: it served to the end.
DEFAULT_MODIFIERS: Tuple[ErrorModifier, ...] = (
    ErrorModifier(SLO_ERROR_CLASS, ("slo missed",), 0.8),
    ErrorModifier("oom", (
        "oom", "oom-killer", "oom-kill", "out of memory", "out-of-memory", "insufficient memory",
        "not enough memory", "cannot allocate memory", "failed to allocate", "unable to allocate",
        "could not allocate", "cannot allocate", "allocation failed", "allocation failure",
        "alloc failed", "memory allocation", "bad_alloc", "bad alloc", "memory error",
        "low on memory", "low on resource memory", "no available memory", "free memory",
        "shared memory", "kv cache memory", "kv cache space", "kv cache is needed",
        "stored in kv cache", "context size", "exceed_context_size_error", "not enough space",
        "it is full", "store full", "enomem", "memory usage threshold",
    ), 1.5),
    ErrorModifier("deploy", (
        "deploy", "deployment", "deploying", "not found", "no such file", "does not exist",
        "no module named", "cannot import name",
        "failed to load", "error loading model", "model loading error", "unknown model architecture",
        "not a valid model", "does not recognize", "failed to open", "failed to initialize",
        "not supported", "only supported", "incompatible", "not compatible", "must be divisible",
        "not divisible", "no kernel image", "building extension", "exec format error",
        "unrecognized arguments", "unrecognized argument", "unrecognized option", "unknown argument",
        "unknown option", "invalid argument", "invalid choice", "unknown value", "unkown value",
        "arguments are required", "repo id", "gated repo", "401 client error", "403 client error",
        "address already in use", "port is already allocated", "couldn't bind", "could not bind",
        "failed to bind", "image pull", "pull access denied", "pull rate limit", "manifest unknown",
        "no such image", "oci runtime", "runtime env", "could not select device driver",
        "nvidia driver", "cuda driver", "no cuda gpus are available", "no cuda capable device",
        "cuda error no device", "no visible gpu", "failed scheduling", "nodes are available",
        "cannot be scheduled", "insufficient cluster resources",
    ), 1.2),
    ErrorModifier("timeout", (
        "timeout", "timed out", "time out", "timing out", "times out", "deadline exceeded",
        "took too long", "stuck",
    ), 0.8),
    ErrorModifier("connection", (
        "connection", "connect", "refused", "reset by peer", "broken pipe", "disconnected",
        "remote end closed", "closed by remote", "closed by peer", "from peer", "econnrefused",
        "econnreset", "epipe", "no route to host", "unreachable", "no such host",
        "name resolution", "name or service not known", "incomplete read", "unexpected eof",
        "network error", "transport error", "recv failed", "send failed",
    ), 0.8),
)
