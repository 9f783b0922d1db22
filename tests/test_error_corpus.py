"""The default classes against real failure texts nobody here wrote (tests/data/error_texts.json).

Each entry is a text copied from a public source (PyTorch, vLLM, SGLang, llama.cpp, TGI,
TensorRT-LLM, Ray, Kubernetes, Docker, NCCL, JAX, DeepSpeed, HuggingFace, Python, HTTP
clients, and in the later batches Ollama, Triton, LMDeploy, MLC-LLM, ExLlamaV2,
bitsandbytes, Accelerate, ONNX Runtime, KubeRay, LiteLLM, Slurm, SkyPilot, ROCm and more), the
source it came from, and the class a person gave it before the classifier read it. The texts
are read as the searcher reads a trial's error (Ray's guesses about a dead worker stripped).
Ten batches, each collected by someone who had not seen the classifier: "first", the
acceptance corpus the default keywords were written against (at least 95 % right); "second",
collected after them and measured blind at 57 %, then used to revise the keywords; "third",
70.5 % blind, then revised; then seven batches each collected after the classes were frozen and
measured blind before it joined: "fourth" 77.4 % (frozen at d4a55ec, then revised in 3f0bb51),
"fifth" 80.2 % (revised in f38662b), "sixth" 82.5 % (revised in 7246ee5), "seventh" 68.9 %
(revised in 45b89c5), "eighth" 73.5 % (revised in 60cb749), "ninth" 71.1 % (revised in
8660ef1) and "tenth" 73.3 % (not revised on).
Each blind number is the honest estimate on new material (docs/design.md lists every miss). The
bars keep the revised measurements from falling. Every miss is printed (``pytest -s``, or the
captured output).
"""

import json
import os
from collections import Counter

import pytest

from ray_graded_penalty import PenaltyPolicy
from ray_graded_penalty.callback import without_ray_guesses

CORPUS = json.load(open(os.path.join(os.path.dirname(__file__), "data", "error_texts.json")))
#: The share each batch must get right: the acceptance bar, then what was measured.
BARS = {"first": 0.95, "second": 0.85, "third": 0.86, "fourth": 0.90, "fifth": 0.88, "sixth": 0.91, "seventh": 0.76,
        "eighth": 0.80, "ninth": 0.78, "tenth": 0.73}


def graded(text):
    return PenaltyPolicy().grade(0.0, 1.0, without_ray_guesses(text)).error_class


def test_the_corpus_is_what_it_says():
    assert len(CORPUS) >= 60 and set(BARS) == {e["batch"] for e in CORPUS}
    assert all(e["source"] and e["expected"] in ("oom", "deploy", "connection", "timeout", "crash") for e in CORPUS)
    families = Counter(e["family"] for e in CORPUS if e["batch"] == "first")
    for family in ("pytorch", "vllm", "sglang", "llamacpp", "ray", "kubernetes", "docker", "nccl", "jax", "python"):
        assert families[family] >= 4, family
    # the keyword traps are in it: words that hold a keyword stay plain crashes
    traps = [e for e in CORPUS if e["expected"] == "crash" and any(w in e["text"] for w in ("boom", "zoom", "loom"))]
    assert len(traps) >= 4


@pytest.mark.parametrize("batch", sorted(BARS))
def test_the_default_classes_get_real_texts_right(batch):
    entries = [e for e in CORPUS if e["batch"] == batch]
    read = [(e, graded(e["text"])) for e in entries]
    misses = [(e["expected"], got, e["family"], e["text"][:160]) for e, got in read if got != e["expected"]]
    share = 1 - len(misses) / len(entries)
    print(f"\n{batch}: {len(entries) - len(misses)} of {len(entries)} right ({share:.1%}); misses (expected, got):")
    for miss in misses:
        print("  ", miss)
    assert share >= BARS[batch], misses
