"""What the nudge model sees of a post: character n-grams within words, and the words.

The same function feeds scikit-learn when the model is trained and the scorer when the bot
runs, so that both see exactly the same features. Posts are folded first (lower case, no
accents, digits as 0, runs of a letter cut to two) because neighbours write "verdächtig",
"verdachtig" and "VERDACHTIG!!!" for the same thing, and times and plates ("om 3u", "2u30",
"1-ABC-123") matter by their shape, not their value.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator

# Longer posts are cut: the first lines say what happened, and the cost stays bounded.
MAX_CHARS = 400
CHAR_N = (2, 5)  # character n-grams from 2 to 5, inside words padded with a space
WORD_PREFIX = "w:"  # word features are told apart from character n-grams by this prefix

_DIGITS = re.compile(r"\d")
_REPEATS = re.compile(r"(.)\1{2,}")
# Combining marks left by NFKD decomposition: the accents of é, ä, ç.
_COMBINING = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
_NOT_WORD = re.compile(r"[^\w\s]|_")


def _symbol(match: re.Match[str]) -> str:
    ch = match.group()
    # "!", "?", emoji and other symbols (🔥, 🚓) are words of their own; other punctuation
    # only separates words.
    return f" {ch} " if ch in "!?" or unicodedata.category(ch) == "So" else " "


def normalise(text: str) -> str:
    """Case-folded, accents and punctuation dropped, digits as 0, single spaces."""
    folded = unicodedata.normalize("NFKD", text[: MAX_CHARS * 2].casefold())
    folded = _REPEATS.sub(r"\1\1", _DIGITS.sub("0", _COMBINING.sub("", folded)))
    folded = _NOT_WORD.sub(_symbol, folded)
    return " ".join(folded.split())[:MAX_CHARS]


def char_ngrams(word: str) -> Iterator[str]:
    """The character n-grams of one word, as scikit-learn's `char_wb` analyzer makes them."""
    padded = f" {word} "
    length = len(padded)
    low, high = CHAR_N
    for n in range(low, high + 1):
        yield padded[:n]
        start = 0
        while start + n < length:
            start += 1
            yield padded[start : start + n]
        if start == 0:  # the word is no longer than n: counted once, as a whole
            break


def tokens(folded: str) -> list[str]:
    """The words of a normalised post (what the character n-grams are taken within)."""
    return folded.split()


def word_features(word: str) -> Iterator[str]:
    """The word feature of one token: tokens of two characters or more are letters and
    digits only (`normalise` leaves symbols alone, one character each)."""
    if len(word) > 1:
        yield WORD_PREFIX + word


def analyse(text: str) -> list[str]:
    """Every feature occurrence of a post, in order (the scikit-learn `analyzer`)."""
    found: list[str] = []
    for word in tokens(normalise(text)):
        found.extend(char_ngrams(word))
        found.extend(word_features(word))
    return found
