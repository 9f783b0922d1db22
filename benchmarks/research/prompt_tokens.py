"""How many tokens real tokenizers read in the prompts the package sizes by its estimate.

A server without ``/tokenize`` gets prompts of ``CHARS_PER_TOKEN`` characters a token, cut from
the package's own word list (``serving/workload.py``). This tokenizes them with real
vocabularies: the vocabulary-only GGUF files llama.cpp ships for its tokenizer tests (its
``models/ggml-vocab-*.gguf``: Llama 3's BPE, Qwen 2's, GPT-2's, Llama 2's SentencePiece, ...),
read by llama.cpp's own ``llama-tokenize`` (built beside ``llama-server`` by
``examples/llama_server/setup.sh``: ``cmake --build build --target llama-tokenize``). Printed per
vocabulary: the characters a token of the word list, and the tokens read per token asked for::

    PYTHONPATH=. python -m benchmarks.research.prompt_tokens --llama-src .llama/src --out prompt_tokens.json

The tokenizer is run without a BOS token; a prompt's count is what the model would be given of it.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List

from ray_graded_penalty.serving import workload

LENGTHS = (128, 512, 2048)  # tokens asked for: the seed design's short, middle and long prompts
SEEDS = range(5)


def count_tokens(tokenize: str, vocab: str, text: str) -> int:
    """The tokens ``vocab`` reads in ``text`` (no BOS), by llama.cpp's ``llama-tokenize``."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write(text)
    try:
        out = subprocess.run([tokenize, "-m", vocab, "-f", f.name, "--ids", "--no-bos", "--log-disable"],
                             capture_output=True, text=True, check=True).stdout
    finally:
        os.unlink(f.name)
    ids = out.strip().splitlines()[-1]
    return len(json.loads(ids))


def measure(tokenize: str, vocab: str, chars_per_token: int) -> Dict[str, Any]:
    """The word list's characters a token, and each estimated prompt's tokens per token asked,
    with prompts sized at ``chars_per_token``."""
    ratios: List[float] = []
    chars = tokens = 0
    for seed in SEEDS:
        for n, prompt in zip(LENGTHS, workload.make_prompts(LENGTHS, seed, None, chars_per_token=chars_per_token)):
            read = count_tokens(tokenize, vocab, prompt)
            ratios.append(read / n)
            chars, tokens = chars + len(prompt), tokens + read
    return {"chars_per_token": round(chars / tokens, 3), "read_per_asked_median": round(statistics.median(ratios), 3),
            "read_per_asked_range": [round(min(ratios), 3), round(max(ratios), 3)]}


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--llama-src", required=True, help="setup.sh's src directory (holds build/ and the sdist)")
    parser.add_argument("--vocabs", default="", help="comma-separated names (llama-bpe,qwen2,...); default all")
    parser.add_argument("--chars-per-token", type=int, default=workload.CHARS_PER_TOKEN,
                        help="the estimate to size the prompts by (default: the package's)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    tokenize = os.path.join(args.llama_src, "build", "bin", "llama-tokenize")
    found = sorted(glob.glob(os.path.join(args.llama_src, "*", "vendor", "llama.cpp", "models", "ggml-vocab-*.gguf")))
    names = {os.path.basename(p)[len("ggml-vocab-"):-len(".gguf")]: p for p in found}
    wanted = args.vocabs.split(",") if args.vocabs else list(names)
    started, rows = time.time(), {}
    for name in wanted:
        try:
            rows[name] = measure(tokenize, names[name], args.chars_per_token)
        except subprocess.CalledProcessError as e:  # a vocabulary this build cannot read
            rows[name] = {"error": (e.stderr or "").strip().splitlines()[-1:]}
        print(name, json.dumps(rows[name]), flush=True)
    with open(args.out, "w") as f:
        json.dump({"command": "python -m benchmarks.research.prompt_tokens " + " ".join(argv),
                   "date": time.strftime("%Y-%m-%d"), "s": round(time.time() - started, 1),
                   "chars_per_token_assumed": args.chars_per_token, "lengths": LENGTHS, "seeds": len(SEEDS),
                   "vocabs": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
