"""Sentence splitting for English, Chinese and mixed text, with exact character offsets.

Pure functions, no model and no data downloads. Each returned span covers one sentence plus the
whitespace that follows it, so consecutive spans tile the text from the first non-space
character to the end: ``text[span.start:span.end] == span.text`` always holds, and
``"".join(s.text for s in spans)`` equals ``text.lstrip()`` (leading whitespace of the document
is the only text outside every span). The scoring engine tokenizes exactly these span texts.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from .aggregate import check_count

__all__ = ["DEFAULT_MAX_SENTENCE_CHARS", "Span", "split_sentences"]

DEFAULT_MAX_SENTENCE_CHARS = 400
"""Sentences longer than this (in characters, trailing whitespace excluded) are cut further."""


@dataclass(frozen=True)
class Span:
    """One sentence: ``text == source[start:end]`` (trailing whitespace included)."""

    start: int
    end: int
    text: str


# Terminal punctuation: Chinese/full-width marks always end a sentence; ASCII marks need context.
_TERMINATOR_RE = re.compile(r"(?P<punct>\.{3,}|…+|[。！？；]+[!?！？]*|[.!?]+)(?P<close>[\"'”’」』）)\]》】〕〗〉>]*)")
_CJK_RE = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff01-\uff5e\u3000-\u303f]")
_LIST_MARKER_RE = re.compile(r"^\s*(?:\(?\d{1,3}|[A-Za-z]|[ivxlcdmIVXLCDM]{1,5})[.)]$")
_WORD_BEFORE_RE = re.compile(r"([A-Za-z][A-Za-z.]*)$")
_MULTI_DOT_ABBREV_RE = re.compile(r"^(?:[A-Za-z]\.)+[A-Za-z]$")
_LINE_END_PUNCT = ".!?:;。！？；：…\"'”’」』)）]"
_CLAUSE_MARKS = "，,;；：:、"
_JOINERS = "\u200d\u200c"  # zero-width (non-)joiner: the characters either side belong together


def _joins_previous(ch: str) -> bool:
    """``ch`` belongs to the character before it: a combining mark, variation selector, skin-tone
    modifier or joiner (a length cut must not separate them)."""
    return (
        unicodedata.combining(ch) > 0
        or unicodedata.category(ch) == "Me"
        or "\ufe00" <= ch <= "\ufe0f"
        or "\U0001f3fb" <= ch <= "\U0001f3ff"
        or ch in _JOINERS
    )


def _is_flag_half(ch: str) -> bool:
    return "\U0001f1e6" <= ch <= "\U0001f1ff"  # regional indicator: two make one flag


def _splits_a_character(text: str, i: int, lo: int = 0) -> bool:
    """Cutting before ``text[i]`` would split what a reader sees as one character.

    Flag pairs are counted from ``lo`` (the start of the piece being cut), so a long run of flags
    costs one bounded scan per piece, not a scan back to the start of the text.
    """
    if _joins_previous(text[i]) or text[i - 1] in _JOINERS:
        return True
    if _is_flag_half(text[i]) and _is_flag_half(text[i - 1]):
        run = 0
        while i - 1 - run >= lo and _is_flag_half(text[i - 1 - run]):
            run += 1
        return run % 2 == 1  # an odd number before: text[i] completes a flag
    return False


# Lower-cased words that, followed by ".", do not end a sentence.
_ABBREVIATIONS = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "sr",
        "jr",
        "st",
        "mt",
        "vs",
        "fig",
        "figs",
        "no",
        "nos",
        "vol",
        "vols",
        "ed",
        "eds",
        "inc",
        "ltd",
        "co",
        "corp",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
        "gen",
        "col",
        "lt",
        "sgt",
        "capt",
        "cmdr",
        "gov",
        "sen",
        "rep",
        "rev",
        "hon",
        "pres",
        "approx",
        "dept",
        "est",
        "ca",
        "cf",
        "al",
        "op",
        "pp",
        "ch",
        "sec",
        "art",
        "ave",
        "blvd",
        "rd",
        "mssrs",
        "messrs",
        "mme",
        "mlle",
        "univ",
        "assn",
        "bros",
    ]
)


def _is_cjk(ch: str) -> bool:
    return bool(ch) and _CJK_RE.match(ch) is not None


# Capitalised words that usually open a sentence; after a lone capital letter + "." they mean a boundary.
_SENTENCE_OPENERS = frozenset(
    [
        "a",
        "an",
        "the",
        "it",
        "its",
        "he",
        "she",
        "they",
        "we",
        "i",
        "you",
        "this",
        "that",
        "these",
        "those",
        "there",
        "here",
        "his",
        "her",
        "their",
        "our",
        "my",
        "in",
        "on",
        "at",
        "for",
        "but",
        "and",
        "or",
        "so",
        "if",
        "when",
        "while",
        "after",
        "before",
        "however",
        "then",
        "also",
        "as",
        "to",
        "from",
        "with",
        "by",
        "of",
        "not",
        "no",
        "yes",
    ]
)


def _starts_sentence(text: str, pos: int) -> bool:
    """Whether the word at ``pos`` is a common sentence opener (``It``, ``The``, ``She`` ...)."""
    end = pos
    while end < len(text) and text[end].isalpha():
        end += 1
    return text[pos:end].lower() in _SENTENCE_OPENERS


def _ascii_boundary(text: str, start: int, end: int, punct: str) -> bool:
    """Decide whether an ASCII terminator run ``text[start:end]`` (closers included) ends a sentence."""
    n = len(text)
    if end >= n:
        return True
    nxt = text[end]
    prev = text[start - 1] if start > 0 else ""
    if not nxt.isspace():
        # "他走了.然后" ends; "3.14", "example.com", "U.S.A" do not.
        return _is_cjk(nxt) and _is_cjk(prev)
    j = end
    while j < n and text[j].isspace() and text[j] != "\n":
        j += 1
    if j >= n or text[j] == "\n":
        return True
    follower = text[j]
    if follower.islower():
        return False
    if punct.endswith(".") and not punct.endswith(".."):
        match = _WORD_BEFORE_RE.search(text[max(0, start - 32) : start])
        word = match.group(1) if match else ""
        if word:
            low = word.lower()
            if low in _ABBREVIATIONS or low.rstrip(".") in _ABBREVIATIONS:
                return False
            if len(word) == 1 and word.isupper() and not _starts_sentence(text, j):
                return False  # an initial: "J. K. Rowling" (but "by A and B. It stars C." ends at "B.")
            if _MULTI_DOT_ABBREV_RE.match(word):  # "U.S", "e.g", "i.e", "a.m"
                return False
    return True


def _line_boundary(text: str, nl: int) -> bool:
    """A newline ends a sentence unless it only wraps prose (no end mark, next line lower-case)."""
    j = nl + 1
    n = len(text)
    while j < n and text[j] in " \t\r":
        j += 1
    if j >= n or text[j] == "\n":
        return True  # blank line: paragraph break
    i = nl - 1
    while i >= 0 and text[i] in " \t\r":
        i -= 1
    if i < 0:
        return True
    if text[i] in _LINE_END_PUNCT:
        return True
    return not text[j].islower()


def _cut_points(text: str) -> list[int]:
    """Positions where a sentence ends (before its trailing whitespace), in increasing order."""
    cuts: set[int] = set()
    for m in _TERMINATOR_RE.finditer(text):
        punct = m.group("punct")
        start, end = m.start(), m.end()
        if any(c in "。！？；…" for c in punct) and not (punct.startswith("…") and not _cjk_context(text, start, end)):
            cuts.add(end)
        elif _ascii_boundary(text, start, end, punct):
            # Never end a "sentence" that is only a list marker such as "1." or "(a)".
            window = max(0, start - 8)
            line_start = text.rfind("\n", window, start) + 1 or window
            if (line_start > window or window == 0) and _LIST_MARKER_RE.match(text[line_start:end]):
                continue
            cuts.add(end)
    for m in re.finditer("\n", text):
        if _line_boundary(text, m.start()):
            cuts.add(m.start())
    return sorted(cuts)


def _cjk_context(text: str, start: int, end: int) -> bool:
    """An ellipsis is a hard stop in Chinese text; in English it needs the ASCII rules."""
    prev = text[start - 1] if start > 0 else ""
    return _is_cjk(prev) or (end < len(text) and _is_cjk(text[end]))


def _cut_long_sentence(text: str, start: int, end: int, max_chars: int) -> list[tuple[int, int]]:
    """Cut the sentence ``text[start:end]`` into pieces of at most ``max_chars`` content characters.

    Cuts go after the last clause mark in the allowed range, else after the last space, else
    at the length limit, moved back so an accent, emoji modifier, flag or joined sequence stays whole;
    whitespace after a cut stays with the piece before it. Linear in ``end - start``: the sentence's
    trailing whitespace is measured once, and each piece scans at most ``max_chars`` characters.
    """
    content_end = end
    while content_end > start and text[content_end - 1].isspace():
        content_end -= 1
    pieces: list[tuple[int, int]] = []
    while content_end - start > max_chars:
        cut = _length_cut(text, start, max_chars)
        nxt = cut
        while nxt < end and text[nxt].isspace():
            nxt += 1
        pieces.append((start, nxt))
        start = nxt
    pieces.append((start, end))
    return pieces


def _length_cut(text: str, start: int, max_chars: int) -> int:
    """Where to end the piece that starts at ``start`` (``text`` goes on past ``start + max_chars``)."""
    limit = start + max_chars
    lower = start + max_chars // 3
    for k in range(limit, lower, -1):
        if text[k - 1] in _CLAUSE_MARKS:
            return k
    for k in range(limit, lower, -1):
        if text[k - 1].isspace():
            return k - 1
    # By length, but never inside a character sequence (accent, emoji, joiner).
    cut = limit
    while cut > max(lower, start + 1) and _splits_a_character(text, cut, start):
        cut -= 1
    if _splits_a_character(text, cut, start):
        cut = limit  # a run of marks longer than the range: cut it by length after all
    return cut


def split_sentences(text: str, max_chars: int | None = DEFAULT_MAX_SENTENCE_CHARS) -> list[Span]:
    """Split ``text`` into sentences with exact offsets.

    English: ``.?!`` and ellipses followed by closing quotes/brackets, except after abbreviations
    ("Dr.", "U.S.", "e.g."), initials, list markers and decimals. Chinese: ``。！？；…`` with
    closing quotes/brackets kept on the sentence. Line breaks end a sentence unless they only wrap
    prose. Sentences longer than ``max_chars`` (``None``: no cap) are cut at a clause mark, else
    at a space, else by length. Returns ``[]`` for empty or whitespace-only text.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    max_chars = check_count(max_chars, "max_chars", 1)
    n = len(text)
    starts: list[int] = []
    pos = 0
    for cut in [*_cut_points(text), n]:
        if cut < pos:
            continue
        seg_start = pos
        while seg_start < cut and text[seg_start].isspace():
            seg_start += 1
        if seg_start < cut:
            starts.append(seg_start)
        pos = cut
    spans: list[Span] = []
    for i, s in enumerate(starts):
        e = starts[i + 1] if i + 1 < len(starts) else n
        pieces = [(s, e)] if max_chars is None else _cut_long_sentence(text, s, e, max_chars)
        spans.extend(Span(a, b, text[a:b]) for a, b in pieces)
    return spans
