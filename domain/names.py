"""Name normalisation, so that spellings of one name in any script compare equal."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from anyascii import anyascii

_DROP = re.compile(r"['’`\"]")  # apostrophes, also the soft sign's transliteration
_SPACE = re.compile(r"[\s\-‐‑‒–—_.,]+")


def normalize_name(name: str) -> str:
    """The key under which a name or alias is unique.

    NFKC, casefold, diacritics stripped, other scripts transliterated to Latin
    ("Дмитриев" and "Dmitriev" collide), punctuation and runs of space folded.
    "Dmitrijew" and "Dmitriew" stay distinct: they are different spellings.
    """
    text = unicodedata.normalize("NFKC", name).casefold()
    # anyascii strips diacritics and transliterates Cyrillic, Greek, Arabic, ...
    text = anyascii(text).casefold()
    return _SPACE.sub(" ", _DROP.sub("", text)).strip()


def distinct_names(names: Iterable[str]) -> list[str]:
    """The names with one spelling per normalised key: the first of those that normalise equal.

    A party holds each name once: "Peskow" and "peskow", or "Dmitriev" and "Дмитриев", are
    one key (``normalize_name``), found by either spelling, so a second one would only be
    stored beside the first.
    """
    kept: dict[str, str] = {}
    for name in names:
        kept.setdefault(normalize_name(name), name)
    return list(kept.values())
