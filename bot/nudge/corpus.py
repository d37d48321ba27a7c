"""The labelled posts the nudge model is trained and measured on (`data/nudge/*.tsv`, in the
repository, not shipped), and their fixed train/test split."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from bot.nudge.features import normalise
from bot.nudge.scorer import CLASSES

CORPUS = Path(__file__).resolve().parents[2] / "data" / "nudge"
TEST_BELOW = 52  # first byte of the SHA-256 of the normalised text: about one post in five


@dataclass(frozen=True)
class Post:
    """One labelled post of the corpus."""

    lang: str
    label: str
    text: str

    @property
    def split(self) -> str:
        """`test` or `train`, fixed by the text alone: adding posts never moves the others."""
        digest = hashlib.sha256(normalise(self.text).encode("utf-8")).digest()
        return "test" if digest[0] < TEST_BELOW else "train"


def load_corpus(folder: Path = CORPUS) -> list[Post]:
    """Every post of the corpus, in file order (languages sorted)."""
    posts: list[Post] = []
    for path in sorted(folder.glob("*.tsv")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip() or line.startswith("#"):
                continue
            label, sep, text = line.partition("\t")
            if not sep or label not in CLASSES or not text.strip():
                raise ValueError(f"{path.name}:{number}: expected LABEL<TAB>TEXT")
            posts.append(Post(path.stem, label, text.strip()))
    return posts


def split(posts: Iterable[Post], which: str) -> list[Post]:
    """The posts of one split."""
    return [p for p in posts if p.split == which]
