"""Apply the shipped nudge model to a post in plain Python: no numpy, no scikit-learn.

The model is scikit-learn's `TfidfVectorizer(analyzer=features.analyse, sublinear_tf=True)`
followed by a multinomial `LogisticRegression`, exported by `scripts/train_nudge.py` as one
weight per class and feature. This module computes the same thing: tf-idf weights
(1 + ln count, times the idf), scaled to unit length, a dot product per class plus the
intercept, and a softmax. A test checks it against scikit-learn on the whole test split.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

from bot.nudge.features import (
    CHAR_N,
    WORD_PREFIX,
    char_ngrams,
    normalise,
    tokens,
    word_features,
)

Kind = Literal["none", "101", "112", "called"]
Sensitivity = Literal["off", "low", "normal", "high"]
CLASSES: tuple[Kind, ...] = ("none", "101", "112", "called")
SENSITIVITIES: tuple[Sensitivity, ...] = ("off", "low", "normal", "high")
MODEL_FILE = Path(__file__).with_name("model.json")
FORMAT = 1


@dataclass(frozen=True)
class Weight:
    """How much one word of a post pushed towards a decision (for explanations, never kept)."""

    word: str
    weight: float


@dataclass(frozen=True)
class Decision:
    """What the bot does with a post: nothing, nudge to 101 or 112, or thank (`called`)."""

    kind: Kind
    nudge: float  # the probability that it reports an incident to call about (101 + 112)
    probabilities: Mapping[Kind, float]

    @property
    def nudges(self) -> bool:
        """Whether the post gets a nudge."""
        return self.kind in ("101", "112")


class Model:
    """The nudge classifier's weights, and how to apply them."""

    def __init__(
        self,
        intercept: Sequence[float],
        features: Mapping[str, Sequence[float]],
        thresholds: Mapping[str, float],
        words: Sequence[str] = (),
    ) -> None:
        if len(intercept) != len(CLASSES):
            raise ValueError("the model must have one intercept per class")
        self.intercept = tuple(intercept)
        self.thresholds = {s: float(thresholds[s]) for s in SENSITIVITIES if s != "off"}
        # feature -> what scoring needs of it, multiplied out once: idf squared (for the
        # length of the post's tf-idf) and idf times each class's weight, in CLASSES' order.
        self.features: dict[str, tuple[float, float, float, float, float]] = {}
        for feature, (idf, w0, w1, w2, w3) in features.items():
            self.features[feature] = (idf * idf, idf * w0, idf * w1, idf * w2, idf * w3)
        # The known features of frequent words (the model's own, and the training corpus's
        # most frequent), worked out once: most words of a post are among them, and looking
        # one up costs far less than cutting it into n-grams. Nothing a user writes is kept.
        own = (f.removeprefix(WORD_PREFIX) for f in self.features if f.startswith(WORD_PREFIX))
        canonical = {f: f for f in self.features}
        self._word_features: dict[str, tuple[str, ...]] = {
            word: tuple(canonical[f] for f in _features_of(word) if f in canonical)
            for word in {*words, *own}
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Model:
        """A model from its exported form (see `scripts/train_nudge.py`)."""
        if data.get("format") != FORMAT or tuple(data.get("classes", ())) != CLASSES:
            raise ValueError("not a nudge model this version of binbot can read")
        return cls(data["intercept"], data["features"], data["thresholds"], data.get("words", ()))

    @classmethod
    def load(cls, path: Path = MODEL_FILE) -> Model:
        """Read a model file."""
        with path.open(encoding="utf-8") as fh:
            return cls.from_dict(json.load(fh))

    # -- scoring ---------------------------------------------------------------------------

    def _counts(self, words: Sequence[str]) -> Counter[str]:
        """The known features of a post's words, counted.

        The comprehension spells out `features.char_ngrams` and `features.word_features`
        (a test checks they agree): this is what every group message costs.
        """
        known = self.features
        cached = self._word_features
        found: list[str] = []
        low, high = CHAR_N
        for word in words:
            hit = cached.get(word)
            if hit is not None:
                found += hit
                continue
            padded = f" {word} "
            length = len(padded)
            grams = [
                padded[start : start + n]
                for n in range(low, min(high, length) + 1)
                for start in range(length - n + 1)
            ]
            if length > 3:
                grams.append(WORD_PREFIX + word)
            found += filter(known.__contains__, grams)
        return Counter(found)

    def logits(self, text: str) -> tuple[float, ...]:
        """The model's score of each class (scikit-learn's `decision_function`).

        tf-idf with sublinear tf, scaled to unit length, dotted with each class's weights:
        one pass over the post's features, the length applied at the end.
        """
        table = self.features
        square = a0 = a1 = a2 = a3 = 0.0
        for feature, count in self._counts(tokens(normalise(text))).items():
            idf2, w0, w1, w2, w3 = table[feature]
            if count == 1:
                square += idf2
                a0 += w0
                a1 += w1
                a2 += w2
                a3 += w3
            else:
                tf = 1.0 + math.log(count)
                square += tf * tf * idf2
                a0 += tf * w0
                a1 += tf * w1
                a2 += tf * w2
                a3 += tf * w3
        s0, s1, s2, s3 = self.intercept
        if square == 0.0:
            return (s0, s1, s2, s3)
        norm = math.sqrt(square)
        return (s0 + a0 / norm, s1 + a1 / norm, s2 + a2 / norm, s3 + a3 / norm)

    def probabilities(self, text: str) -> dict[Kind, float]:
        """The probability of each class (scikit-learn's `predict_proba`)."""
        logits = self.logits(text)
        top = max(logits)
        exps = [math.exp(v - top) for v in logits]
        total = sum(exps)
        return {kind: e / total for kind, e in zip(CLASSES, exps, strict=True)}

    def decide(self, text: str, sensitivity: Sensitivity = "normal") -> Decision:
        """What to do with a post in a group of the given sensitivity."""
        return self.decide_from(self.probabilities(text), sensitivity)

    def decide_from(self, p: Mapping[Kind, float], sensitivity: Sensitivity) -> Decision:
        """What to do, from a post's probabilities (so that one scoring serves any level)."""
        nudge = p["101"] + p["112"]
        if sensitivity == "off":
            return Decision("none", nudge, p)
        if p["called"] > max(p["none"], p["101"], p["112"]):
            return Decision("called", nudge, p)
        if nudge >= self.thresholds[sensitivity]:
            return Decision("112" if p["112"] > p["101"] else "101", nudge, p)
        return Decision("none", nudge, p)

    # -- explaining ------------------------------------------------------------------------

    def explain(self, text: str, kind: Kind | None = None, top: int = 5) -> list[Weight]:
        """The words of a post that pushed most towards `kind` (by default, the decision).

        Each feature's share of the class score, measured against the mean of all classes,
        is split over its occurrences and added up per word.
        """
        target = CLASSES.index(kind if kind is not None else self.decide(text).kind)
        known = self.features
        words = tokens(normalise(text))
        counts = self._counts(words)
        tf = {f: 1.0 + math.log(c) for f, c in counts.items()}
        norm = math.sqrt(sum(tf[f] * tf[f] * known[f][0] for f in counts))
        if norm == 0.0:
            return []
        share: dict[str, float] = {}
        for feature, count in counts.items():
            _, *weighted = known[feature]  # idf times each class's weight
            lean = weighted[target] - sum(weighted) / len(weighted)
            share[feature] = tf[feature] / norm * lean / count
        per_word: dict[str, float] = {}
        for word in words:
            weight = sum(share.get(f, 0.0) for f in _features_of(word))
            per_word[word] = per_word.get(word, 0.0) + weight
        best = sorted(per_word.items(), key=lambda kv: -kv[1])[:top]
        return [Weight(word, round(weight, 3)) for word, weight in best if weight > 0]


def _features_of(word: str) -> list[str]:
    """Every feature one word of a normalised post gives."""
    return [*char_ngrams(word), *word_features(word)]


@cache
def default_model() -> Model:
    """The model shipped with binbot, read once."""
    return Model.load()


def classify(text: str, sensitivity: Sensitivity = "normal") -> Decision:
    """Classify a post with the shipped model."""
    return default_model().decide(text, sensitivity)
