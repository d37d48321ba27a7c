"""The 101 nudge's classifier: does a group post read like an incident to report first?

`features` turns a post into the character and word n-grams the model knows, `scorer`
applies the shipped weights (`model.json`, written by `scripts/train_nudge.py` with
scikit-learn) in plain Python, so that the bot needs neither scikit-learn nor numpy.
The text is classified in memory and dropped; the model is a file of weights, not of posts.
"""

from bot.nudge.scorer import (
    CLASSES,
    SENSITIVITIES,
    Decision,
    Kind,
    Model,
    Sensitivity,
    Weight,
    classify,
    default_model,
)

__all__ = [
    "CLASSES",
    "SENSITIVITIES",
    "Decision",
    "Kind",
    "Model",
    "Sensitivity",
    "Weight",
    "classify",
    "default_model",
]
