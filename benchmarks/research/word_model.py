"""A learned word model behind the keywords, leave one batch out: measured, not adopted.

Where no type and no keyword decides (the classifier's "plain crash" by default), a naive Bayes
model of the words and word pairs, learned from the other batches of the corpus
(``tests/data/error_texts.json``), names the class when its posterior reaches a threshold. Each
batch is scored by a model that never saw it. Printed per batch: the texts that fell through to
"crash", the share right without and with the model, and the texts it fixed and broke.

    python -m benchmarks.research.word_model --thresholds 0.5,0.7,0.9
    python -m benchmarks.research.word_model --learn-from fourth,fifth,sixth,seventh,eighth,ninth

The reading is in ``docs/design.md`` ("Measured on real failure texts").
"""

import argparse
import json
import math
import os
from collections import Counter
from typing import Dict, List, Optional, Set, Tuple

from ray_graded_penalty import PenaltyPolicy
from ray_graded_penalty._core.judge import first_match, named_types, type_class, words
from ray_graded_penalty.callback import without_ray_guesses

CORPUS = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "data", "error_texts.json")
CLASSES = ("oom", "deploy", "connection", "timeout", "crash")
Model = Tuple[Dict[str, Counter], Counter, Set[str]]


def features(text: str) -> Set[str]:
    """The text's words (no bare numbers or single letters) and neighbouring pairs."""
    found = [w for w in words(without_ray_guesses(text)) if not w.isdigit() and len(w) > 1]
    return set(found) | {f"{a} {b}" for a, b in zip(found, found[1:])}


def learn(entries: List[dict]) -> Model:
    counts: Dict[str, Counter] = {c: Counter() for c in CLASSES}
    sizes: Counter = Counter()
    for entry in entries:
        sizes[entry["expected"]] += 1
        counts[entry["expected"]].update(features(entry["text"]))
    return counts, sizes, set().union(*counts.values())


def posterior(model: Model, text: str) -> Dict[str, float]:
    counts, sizes, vocabulary = model
    present = [w for w in features(text) if w in vocabulary]
    total = sum(sizes.values())
    scores = {c: math.log(sizes[c] / total) + sum(math.log((counts[c][w] + 1) / (sizes[c] + 2)) for w in present)
              for c in CLASSES}
    top = max(scores.values())
    norm = sum(math.exp(s - top) for s in scores.values())
    return {c: math.exp(s - top) / norm for c, s in scores.items()}


def falls_through(policy: PenaltyPolicy, text: str) -> bool:
    """Whether no type and no keyword decides ``text`` (the classifier's default "crash")."""
    text = without_ray_guesses(text)
    types = named_types(text)
    return (first_match(text, policy.modifiers) is None and type_class(types, policy, True) is None
            and type_class(types, policy, False) is None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--thresholds", default="0.5,0.7,0.9")
    parser.add_argument("--learn-from", default=None,
                        help="learn only from these batches, comma-separated (default: every other batch)")
    args = parser.parse_args()
    corpus = json.load(open(CORPUS))
    batches = list(dict.fromkeys(e["batch"] for e in corpus))
    policy = PenaltyPolicy()
    learn_from = set(args.learn_from.split(",")) if args.learn_from else None
    thresholds = [float(t) for t in args.thresholds.split(",")]
    # Per batch, learned once: (expected, the classes' reading, the model's best and its
    # posterior where the text fell through, else None) of each held-out text.
    readings: Dict[str, List[Tuple[str, str, Optional[Tuple[str, float]]]]] = {}
    for batch in batches:
        model = learn([e for e in corpus if e["batch"] != batch
                       and (learn_from is None or e["batch"] in learn_from)])
        readings[batch] = []
        for entry in (e for e in corpus if e["batch"] == batch):
            now = policy.grade(0.0, 1.0, without_ray_guesses(entry["text"])).error_class
            guess = None
            if now == "crash" and falls_through(policy, entry["text"]):
                post = posterior(model, entry["text"])
                best = max(post, key=lambda c: post[c])
                guess = (best, post[best])
            readings[batch].append((entry["expected"], now, guess))
    for threshold in thresholds:
        print(f"threshold {threshold}")
        fixed_all = broke_all = 0
        for batch in batches:
            held_out = readings[batch]
            right = right_with = fixed = broke = fell = 0
            for expected, now, guess in held_out:
                with_model = now
                if guess is not None:
                    fell += 1
                    if guess[1] >= threshold:
                        with_model = guess[0]
                right += now == expected
                right_with += with_model == expected
                fixed += now != expected and with_model == expected
                broke += now == expected and with_model != expected
            fixed_all, broke_all = fixed_all + fixed, broke_all + broke
            print(f"  {batch:8s} {len(held_out):3d} texts, {fell:3d} fell through; right {right / len(held_out):.3f}"
                  f" -> {right_with / len(held_out):.3f} (fixed {fixed}, broke {broke})")
        print(f"  all: fixed {fixed_all}, broke {broke_all}")

if __name__ == "__main__":
    main()
