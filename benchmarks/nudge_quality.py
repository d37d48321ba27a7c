"""How well the 101 nudge reads the posts of the corpus's test split, and what it costs.

The test split (`data/nudge/README.md`) is never used to train or tune the model. Printed:
precision, recall and F1 of "nudge at all" (a post labelled 101 or 112 gets a nudge) at each
sensitivity, and at `normal` per language and per class of the decision (none, 101, 112,
called); then the time to classify one post with the shipped plain-Python scorer, as it runs
for every group message. Each post is classified `--repeat` times and its median kept, so
that another process taking the CPU for a moment does not count as the scorer's time.

    python benchmarks/nudge_quality.py [--repeat 5]

Targets: nudge-at-all recall >= 0.9 at precision >= 0.9 (normal); p99 under 0.5 ms. The last
line printed is one JSON object with the figures. Needs no scikit-learn.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.nudge import CLASSES, SENSITIVITIES, Model, default_model
from bot.nudge.corpus import Post, load_corpus, split

TARGET_PRECISION = 0.9
TARGET_RECALL = 0.9
TARGET_P99_MS = 0.5


def scores(pairs: Sequence[tuple[bool, bool]]) -> dict[str, float]:
    """Precision, recall and F1 of (gold, said) pairs, with the counts."""
    tp = sum(1 for gold, said in pairs if gold and said)
    said = sum(1 for _, s in pairs if s)
    gold = sum(1 for g, _ in pairs if g)
    precision = tp / said if said else 0.0
    recall = tp / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": round(precision, 3),
        "recall": round(recall, 3),
        "f1": round(f1, 3),
        "support": gold,
    }


def quality(model: Model, posts: Sequence[Post]) -> dict[str, Any]:
    """The figures of one model on some posts."""
    kinds = {level: [model.decide(p.text, level).kind for p in posts] for level in SENSITIVITIES}
    incident = [p.label in ("101", "112") for p in posts]

    def nudged(level: str, keep: Sequence[bool] | None = None) -> dict[str, float]:
        keep = keep or [True] * len(posts)
        said = [k in ("101", "112") for k in kinds[level]]
        return scores([(g, s) for g, s, k in zip(incident, said, keep, strict=True) if k])

    langs = sorted({p.lang for p in posts})
    normal = kinds["normal"]
    return {
        "posts": len(posts),
        "nudge": {level: nudged(level) for level in SENSITIVITIES[1:]},
        "nudge_by_language": {
            lang: nudged("normal", [p.lang == lang for p in posts]) for lang in langs
        },
        "by_class": {
            kind: scores(
                [(p.label == kind, k == kind) for p, k in zip(posts, normal, strict=True)]
            )
            for kind in CLASSES
        },
        "emergency_told_112": scores(
            [(p.label == "112", k == "112") for p, k in zip(posts, normal, strict=True)]
        )["recall"],
    }


def timing(model: Model, posts: Sequence[Post], repeat: int) -> dict[str, float]:
    """Milliseconds to classify one post: median over `repeat` runs per post, then spread."""
    texts = [p.text for p in posts] + [posts[0].text * 40]  # and one very long post
    for text in texts:
        model.decide(text)  # warm up
    per_post: list[float] = []
    gc.disable()
    try:
        for text in texts:
            runs = []
            for _ in range(repeat):
                start = time.perf_counter()
                model.decide(text)
                runs.append(time.perf_counter() - start)
            per_post.append(statistics.median(runs) * 1000)
    finally:
        gc.enable()
    per_post.sort()
    return {
        "p50_ms": round(per_post[len(per_post) // 2], 4),
        "p99_ms": round(per_post[min(len(per_post) - 1, int(len(per_post) * 0.99))], 4),
        "max_ms": round(per_post[-1], 4),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    model = default_model()
    load_ms = (time.perf_counter() - start) * 1000
    test = split(load_corpus(), "test")
    found = quality(model, test)
    cost = timing(model, test, args.repeat)

    print(f"test split: {found['posts']} posts (never used to train or tune)")
    print("nudge at all (labelled 101 or 112 -> nudged):")
    for level, s in found["nudge"].items():
        print(f"  {level:<7} P {s['precision']:.3f}  R {s['recall']:.3f}  F1 {s['f1']:.3f}")
    print("  per language, normal:")
    for lang, s in found["nudge_by_language"].items():
        print(
            f"    {lang}  P {s['precision']:.3f}  R {s['recall']:.3f}  F1 {s['f1']:.3f}"
            f"  ({s['support']} incidents)"
        )
    print("per class of the decision, normal:")
    for kind, s in found["by_class"].items():
        print(
            f"  {kind:<7} P {s['precision']:.3f}  R {s['recall']:.3f}  F1 {s['f1']:.3f}"
            f"  ({s['support']} posts)"
        )
    print(f"emergencies told to call 112 first: {found['emergency_told_112']:.3f}")
    print(
        f"classification: p50 {cost['p50_ms']:.3f} ms, p99 {cost['p99_ms']:.3f} ms, "
        f"max {cost['max_ms']:.3f} ms; model loaded in {load_ms:.0f} ms "
        f"({len(model.features)} features)"
    )
    normal = found["nudge"]["normal"]
    met = {
        "quality": normal["precision"] >= TARGET_PRECISION and normal["recall"] >= TARGET_RECALL,
        "p99": cost["p99_ms"] < TARGET_P99_MS,
    }
    print(
        f"targets: P >= {TARGET_PRECISION} and R >= {TARGET_RECALL}: {met['quality']}; "
        f"p99 < {TARGET_P99_MS} ms: {met['p99']}"
    )
    print(json.dumps({**found, "timing": cost, "load_ms": round(load_ms), "met": met}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
