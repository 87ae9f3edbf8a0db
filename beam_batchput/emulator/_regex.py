"""Model patterns as Python regular expressions.

Implementation note: service models write patterns in Java syntax; Python's ``re``
lacks the Unicode category classes ``\\p{L}``, ``\\p{N}``, ``\\p{Z}``..., so they are
expanded into explicit code point ranges built once from ``unicodedata``.
"""

from __future__ import annotations

import functools
import re
import threading
import unicodedata
from typing import Dict, List, Optional, Pattern

_CATEGORY = re.compile(r"\\([pP])\{([A-Za-z]{1,2})\}")


# Planes 4-13 hold no assigned characters and planes 14-16 only tags, variation
# selectors and private use: they are left out of the scan.
_ASSIGNABLE = range(0x40000)

_RANGES_LOCK = threading.Lock()
_RANGES: Optional[Dict[str, str]] = None


def prepare() -> None:
    """Builds the category tables now (a fraction of a second, once per process).

    Implementation note: built lazily by the first requests instead, concurrent
    request threads each built them at once and answered seconds late, past
    client read timeouts: processed requests looked lost and were sent again.
    """
    _category_ranges()


def _category_ranges() -> Dict[str, str]:
    """Maps each one-letter and two-letter category to a character-class body."""
    global _RANGES
    with _RANGES_LOCK:
        if _RANGES is None:
            _RANGES = _build_category_ranges()
        return _RANGES


def _build_category_ranges() -> Dict[str, str]:
    runs: Dict[str, List[List[int]]] = {}
    category_of = unicodedata.category
    for code in _ASSIGNABLE:
        category = category_of(chr(code))
        for key in (category, category[0]):
            spans = runs.setdefault(key, [])
            if spans and spans[-1][1] == code - 1:
                spans[-1][1] = code
            else:
                spans.append([code, code])
    return {key: "".join(_span(a, b) for a, b in spans) for key, spans in runs.items()}


def _span(first: int, last: int) -> str:
    return re.escape(chr(first)) if first == last else "%s-%s" % (re.escape(chr(first)),
                                                                 re.escape(chr(last)))


def _translate(pattern: str) -> str:
    out: List[str] = []
    in_class = False
    i = 0
    while i < len(pattern):
        match = _CATEGORY.match(pattern, i)
        if match:
            negated, name = match.group(1) == "P", match.group(2)
            body = _category_ranges().get(name, "")
            if in_class and not negated:
                out.append(body)
            else:
                out.append("[%s%s]" % ("^" if negated else "", body))
            i = match.end()
            continue
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            out.append(pattern[i:i + 2])
            i += 2
            continue
        if char == "[" and not in_class:
            in_class = True
        elif char == "]" and in_class:
            in_class = False
        out.append(char)
        i += 1
    return "".join(out)


@functools.lru_cache(maxsize=None)
def compile_pattern(pattern: str) -> Pattern[str]:
    """Compiles a model pattern (Java syntax) for ``fullmatch``."""
    return re.compile(_translate(pattern), re.DOTALL)
