"""0.5's serving substring list against the one classifier, on the corpus of real failure texts.

Until 0.5 the serving trainable decided a failed server's class itself: "oom" when its log lines
or answers held one of a few substrings, else its stage's class. Since 0.6 the searcher's one
classifier decides, from the stage and the policy's own keywords as whole words. This reads each
of the texts of ``tests/data/error_texts.json`` as a server's words at a stage and counts,
against the class a person gave it, how often each rule gets "out of memory or not" right, batch
by batch:

    python -m benchmarks.research.serving_classes

The policy's keywords were written on the first batch and revised on each of the next eight, so
their counts flatter the policy; the tenth was never tuned on (docs/design.md, "Measured on real
failure texts").
"""

import json
import os
from collections import Counter

from ray_graded_penalty import PenaltyPolicy
from ray_graded_penalty._core.judge import Evidence, classify

CORPUS = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "data", "error_texts.json")
#: 0.5's serving/failure.py MEMORY_TEXTS, as it was.
MEMORY_TEXTS_0_5 = ("out of memory", "insufficient memory", "failed to allocate", "bad_alloc",
                    "cannot allocate memory", "outofmemoryerror", "memoryerror")


def main() -> None:
    texts = json.load(open(CORPUS))
    policy = PenaltyPolicy()
    for stage, default in (("start", "deploy"), ("load", "crash")):
        right: Counter = Counter()
        differ = []
        for item in texts:
            text, truth = item["text"], "oom" if item["expected"] == "oom" else default
            old = "oom" if any(m in text.lower() for m in MEMORY_TEXTS_0_5) else default
            new = "oom" if classify(Evidence(text, stage=stage), policy) == "oom" else default
            for batch in (item["batch"], "all"):
                right[batch, "0.5"] += old == truth
                right[batch, "0.6"] += new == truth
                right[batch, "n"] += 1
            if old != new:
                differ.append((item["batch"], truth, old, new, text[:100].replace("\n", " ")))
        print(f"stage {stage!r}: oom or not right, 0.5's substrings / the classifier / texts")
        for batch in [*dict.fromkeys(item["batch"] for item in texts), "all"]:  # the corpus's order
            print(f"  {batch:>6}: {right[batch, '0.5']} / {right[batch, '0.6']} / {right[batch, 'n']}")
        wrong = [d for d in differ if d[3] != d[1]]
        print(f"  they differ on {len(differ)}; the classifier is wrong on {len(wrong)} of them:")
        for d in wrong:
            print("   ", d)


if __name__ == "__main__":
    main()
