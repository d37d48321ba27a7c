"""How zone and BIN names are matched: by a key computed here, the same on every database.

SQLite's `lower()` folds ASCII only and PostgreSQL's folds by its collation, so comparing
`lower(name)` found "Écaussinnes" on one and not on the other. The key is computed in Python,
stored next to the name, and looked up with `=`.
"""

from __future__ import annotations

import unicodedata

# Longest key stored; a name of at most 100 characters only exceeds it when made of
# characters that NFKC expands many times (U+FDFA becomes 18 characters), which is refused.
KEY_LENGTH = 300


def name_key(name: str) -> str:
    """The key a name is matched by: NFKC, case folded, accents removed, spaces collapsed.

    `Élouges  Centre`, `elouges centre` and `ÉLOUGES CENTRE` share one key. Accents are folded
    so that a name typed on a keyboard without them is found, and so that two names differing
    only by an accent (which look alike in a list) cannot both exist.
    """
    folded = unicodedata.normalize("NFKC", name).casefold()
    bare = "".join(
        c for c in unicodedata.normalize("NFD", folded) if unicodedata.category(c) != "Mn"
    )
    return " ".join(unicodedata.normalize("NFC", bare).split())
