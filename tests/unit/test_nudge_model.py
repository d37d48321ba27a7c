"""The shipped nudge model: the plain-Python scorer computes what scikit-learn computes, on
the whole test split, and the training script reproduces the shipped weights."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from bot.nudge import CLASSES, SENSITIVITIES, Model, default_model
from bot.nudge.features import analyse, normalise, tokens
from bot.nudge.scorer import MODEL_FILE

ROOT = Path(__file__).resolve().parents[2]


def training_script() -> ModuleType:
    """scripts/train_nudge.py as a module (it needs scikit-learn)."""
    pytest.importorskip(
        "sklearn", reason="scikit-learn is not installed: pip install -e '.[test]'"
    )
    spec = importlib.util.spec_from_file_location(
        "train_nudge", ROOT / "scripts" / "train_nudge.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("train_nudge", module)
    spec.loader.exec_module(module)
    return module


def sklearn_model(train: ModuleType, shipped: dict[str, Any]) -> Any:
    """scikit-learn's pipeline holding exactly the shipped weights."""
    import numpy as np

    names = list(shipped["features"])
    model = train.pipeline(1.0, None, names)
    tfidf, lr = model.named_steps["tfidf"], model.named_steps["model"]
    tfidf.fit(["x"])  # with a fixed vocabulary this only builds the structure
    table = np.array([shipped["features"][n] for n in names])
    tfidf.idf_ = table[:, 0]
    lr.classes_ = np.arange(len(CLASSES))
    lr.coef_ = table[:, 1:].T.copy()
    lr.intercept_ = np.array(shipped["intercept"])
    return model


def test_the_scorer_and_scikit_learn_agree_on_the_whole_test_split() -> None:
    train = training_script()
    shipped = json.loads(MODEL_FILE.read_text(encoding="utf-8"))
    ours = default_model()
    test = train.split(train.load_corpus(), "test")
    assert len(test) > 300
    texts = [p.text for p in test]
    library = sklearn_model(train, shipped)
    want_logits = library.decision_function(texts)
    want_p = library.predict_proba(texts)
    for text, logits, p in zip(texts, want_logits, want_p, strict=True):
        assert ours.logits(text) == pytest.approx(list(logits), abs=1e-9), text
        got = ours.probabilities(text)
        assert [got[k] for k in CLASSES] == pytest.approx(list(p), abs=1e-9), text
    # The decisions follow: the same rule over the same probabilities.
    for level in SENSITIVITIES[1:]:
        said = train.decide(want_p, shipped["thresholds"][level])
        assert [ours.decide(t, level).nudges for t in texts] == list(said), level


def test_training_reproduces_the_shipped_weights() -> None:
    """Deterministic: the script's fit on the training split gives the file's weights."""
    train = training_script()
    shipped = json.loads(MODEL_FILE.read_text(encoding="utf-8"))
    posts = train.split(train.load_corpus(), "train")
    about = shipped["about"]
    assert about["train_posts"] == len(posts), "the corpus changed: retrain the model"
    model = train.fit(posts, about["C"], about["class_weight"])
    again = train.export(model, shipped["thresholds"], about)
    assert again["intercept"] == shipped["intercept"]
    assert again["features"] == shipped["features"]


def test_the_fast_path_sees_the_same_features_as_training() -> None:
    """Model._counts spells out features.analyse for speed; both must count alike."""
    model = default_model()
    samples = [line.split("\t", 1)[1] for line in corpus_lines()]
    samples += ["", "!!!", "a", "ab", "1-ABC-123 😀😀😀", "Ëén  çà\tva?", "x" * 2000]
    for text in samples:
        counts = model._counts(tokens(normalise(text)))
        want = Counter(f for f in analyse(text) if f in model.features)
        assert counts == dict(want), text


def test_the_model_file_is_weights_for_every_class() -> None:
    data = json.loads(MODEL_FILE.read_text(encoding="utf-8"))
    assert tuple(data["classes"]) == CLASSES
    assert all(len(v) == 1 + len(CLASSES) for v in data["features"].values())
    assert 1000 < len(data["features"]) <= 20_000
    model = Model.from_dict(data)
    assert model.thresholds["high"] < model.thresholds["normal"] < model.thresholds["low"]
    with pytest.raises(ValueError):
        Model.from_dict({**data, "format": 99})


def corpus_lines() -> list[str]:
    lines: list[str] = []
    for path in sorted((ROOT / "data" / "nudge").glob("*.tsv")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip() and not line.startswith("#"):
                lines.append(line)
    return lines


def test_the_corpus_is_big_enough_and_well_formed() -> None:
    lines = corpus_lines()
    assert len(lines) >= 1500
    labels = Counter(line.split("\t", 1)[0] for line in lines)
    assert set(labels) == set(CLASSES)
    langs = {p.stem for p in (ROOT / "data" / "nudge").glob("*.tsv")}
    assert langs == {"nl", "fr", "de", "en"}
    folded = [normalise(line.split("\t", 1)[1]) for line in lines]
    assert len(set(folded)) == len(folded), "a post occurs twice"
