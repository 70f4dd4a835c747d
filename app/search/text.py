"""What a search query means, and whether a text matches it: pure functions, no database.

A query is words and "quoted phrases"; every term must match (AND). Matching is case- and
diacritic-insensitive: both sides are *folded* (compatibility-decomposed, combining marks
dropped, case-folded), so "Café", "CAFE" and "cafe" are one word. A word matches a whole word;
the last bare word of a query also matches as a prefix ("hel" finds "hello": the query is often
typed as it is searched). Text without spaces (Chinese, Japanese, Korean) has no words to match,
so a term containing such characters matches as a substring.

The database narrows the candidates (`app/search/candidates.py`) and this module decides, so
every engine returns the same hits. A message whose folded text differs from its lower-cased
text stores the folded text beside it (`folded_field`): a text index is matched against it,
since some engines' text indexes are diacritic-sensitive.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from typing import Literal

TermKind = Literal["word", "prefix", "phrase", "substring"]

MAX_TERMS = 16
SNIPPET_CHARS = 160

_COMBINING = re.compile(r"[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
# Scripts written without spaces between words: matched as substrings.
_UNSPACED = re.compile(
    r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff66-\uff9f]"
)
_QUERY_PART = re.compile(r'"([^"]*)"?|(\S+)')
_WORD = re.compile(r"\w+")
_WEIGHTS = {"phrase": 2.0, "word": 1.5, "prefix": 1.0, "substring": 1.0}


def fold(text: str) -> str:
    """Case- and diacritic-free text, for comparing (not for showing)."""
    return _COMBINING.sub("", unicodedata.normalize("NFKD", text)).casefold()


def folded_field(content: str) -> str | None:
    """What a message stores beside its content for the text index: the folded text when it
    differs from the lower-cased content (accents, ligatures, ß), else None (nothing stored)."""
    folded = fold(content)
    return folded if folded != content.lower() else None


@dataclass(frozen=True)
class Term:
    text: str  # folded
    kind: TermKind

    @property
    def pattern(self) -> re.Pattern[str]:
        return _term_pattern(self.text, self.kind)

    @property
    def anchor(self) -> bool:
        """A term a text index can look up by itself (a whole word of a spaced script)."""
        return self.kind in ("word", "phrase") and not self.text.isdigit()


@cache
def _term_pattern(text: str, kind: TermKind) -> re.Pattern[str]:
    if kind == "substring":
        return re.compile(re.escape(text))
    if kind == "phrase":
        words = _WORD.findall(text)
        return re.compile(r"\b" + r"\W+".join(map(re.escape, words)) + r"\b")
    tail = "" if kind == "prefix" else r"\b"
    return re.compile(r"\b" + re.escape(text) + tail)


@dataclass(frozen=True)
class Query:
    terms: tuple[Term, ...]

    @property
    def anchors(self) -> list[str]:
        """The words a text index can narrow the candidates by (any of them: a superset)."""
        words: list[str] = []
        for term in self.terms:
            if term.anchor:
                words.extend(w for w in _WORD.findall(term.text) if not w.isdigit())
        return list(dict.fromkeys(words))

    @property
    def needles(self) -> list[str]:
        """One literal piece of each term that any text it matches contains (folded): what a
        regular expression on the server narrows the candidates by."""
        return [max(_WORD.findall(t.text) or [t.text], key=len) for t in self.terms]


def parse(q: str) -> Query | None:
    """The terms of `q`, or None when it has none (only quotes, spaces or punctuation)."""
    terms: list[Term] = []
    parts = list(_QUERY_PART.finditer(q))
    open_end = bool(q) and not q[-1].isspace() and not q.rstrip().endswith('"')
    for index, part in enumerate(parts):
        phrase, bare = part.group(1), part.group(2)
        if phrase is not None:
            folded = " ".join(_WORD.findall(fold(phrase)))
            if not folded:
                continue
            if _UNSPACED.search(folded):
                terms.append(Term(fold(phrase).strip(), "substring"))
            else:
                kind: TermKind = "phrase" if " " in folded else "word"
                terms.append(Term(folded, kind))
            continue
        words = _WORD.findall(fold(bare))
        for w_index, word in enumerate(words):
            if _UNSPACED.search(word):
                terms.append(Term(word, "substring"))
                continue
            last = index == len(parts) - 1 and w_index == len(words) - 1 and open_end
            terms.append(Term(word, "prefix" if last else "word"))
    unique = tuple(dict.fromkeys(terms))[:MAX_TERMS]
    return Query(unique) if unique else None


@dataclass(frozen=True)
class Match:
    score: float
    spans: list[tuple[int, int]]  # in the folded text


def match(query: Query, text: str | None, *, weight: float = 1.0) -> Match | None:
    """Whether `text` holds every term of `query`; its score and the matched spans."""
    if not text:
        return None
    folded = fold(text)
    score = 0.0
    spans: list[tuple[int, int]] = []
    for term in query.terms:
        found = [m.span() for m in term.pattern.finditer(folded)]
        if not found:
            return None
        score += _WEIGHTS[term.kind] * (1.0 + math.log(len(found)))
        spans.extend(found)
    return Match(score=round(score * weight, 4), spans=spans)


def _folded_offsets(text: str) -> list[int]:
    """For each character of `fold(text)`, the index in `text` it came from (plus the end)."""
    offsets: list[int] = []
    for i, ch in enumerate(text):
        offsets.extend([i] * len(fold(ch)))
    offsets.append(len(text))
    return offsets


def highlight(text: str, spans: list[tuple[int, int]]) -> tuple[str, list[list[int]]]:
    """A snippet of `text` around its first match, and the matches' [start, end) offsets in
    that snippet (in characters, merged, sorted)."""
    offsets = _folded_offsets(text)
    if len(offsets) - 1 != len(fold(text)):  # a character folds differently alone
        offsets = list(range(len(fold(text)) + 1))
    original = sorted(
        (offsets[min(s, len(offsets) - 1)], offsets[min(e - 1, len(offsets) - 1)] + 1)
        for s, e in spans
    )
    first = original[0][0] if original else 0
    start = max(0, first - SNIPPET_CHARS // 4)
    end = min(len(text), start + SNIPPET_CHARS)
    start = max(0, min(start, end - SNIPPET_CHARS))
    prefix = "…" if start > 0 else ""
    snippet = prefix + text[start:end] + ("…" if end < len(text) else "")
    shift = len(prefix) - start
    merged: list[list[int]] = []
    for s, e in original:
        if e <= start or s >= end:
            continue
        s, e = max(s, start) + shift, min(e, end) + shift
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    return snippet, merged


def server_pattern(needle: str) -> str:
    """A regular expression (valid for PCRE and RE2 alike) that finds `needle` (folded) in
    unfolded text: each letter stands for itself and its accented forms, in either case."""
    return "".join(_letter_class(ch) for ch in needle)


@cache
def _letter_class(ch: str) -> str:
    variants = _variants().get(ch)
    if variants:
        return "[" + ch + ch.upper() + variants + "]"
    if ch in "\\.^$|?*+()[]{}-/":
        return "\\" + ch
    return ch


@cache
def _variants() -> dict[str, str]:
    """Folded letter → the accented letters (both cases) of Latin-1 and Latin Extended that
    fold to it."""
    found: dict[str, list[str]] = {}
    for code in range(0x00C0, 0x0250):
        ch = chr(code)
        base = fold(ch)
        if len(base) == 1 and base.isascii() and base.isalpha() and ch.lower() != base:
            found.setdefault(base, []).append(ch)
    return {base: "".join(chars) for base, chars in found.items()}
