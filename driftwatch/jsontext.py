"""JSON text for hashing, stored files and messages, written by orjson (C) where it agrees with ``json``.

The standard library writes indented JSON in pure Python, which at tens of thousands of resources
is most of the cost of a store. orjson writes the same bytes, except for a few float spellings
(``1e-05`` against ``0.00001``) and NaN; stored files keep the standard library's exact text, so
a document orjson would spell differently is written by ``json`` instead.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

_SORTED = orjson.OPT_SORT_KEYS
_INDENTED = orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE
_STDLIB_COMPACT = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
_STDLIB_INDENTED = json.JSONEncoder(sort_keys=True, indent=2, ensure_ascii=False)


def compact_bytes(value: Any) -> bytes:
    """Compact JSON with sorted keys, as UTF-8: the same value always gives the same bytes.

    Meant for hashing, not for files: orjson's spelling is kept even where it differs from
    ``json``'s. A value orjson cannot write (an integer beyond 64 bits, a lone surrogate) is
    written by ``json``.
    """
    try:
        return orjson.dumps(value, option=_SORTED)
    except (orjson.JSONEncodeError, TypeError):
        return _STDLIB_COMPACT.encode(value).encode("utf-8", "surrogatepass")


def indented_text(value: Any) -> str:
    """``json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False) + "\\n"``, byte for byte."""
    try:
        fast = orjson.dumps(value, option=_SORTED)
    except (orjson.JSONEncodeError, TypeError):
        return _STDLIB_INDENTED.encode(value) + "\n"
    # The indented texts differ only where the compact ones do (a leaf's spelling).
    if fast.decode() == _STDLIB_COMPACT.encode(value):
        return orjson.dumps(value, option=_INDENTED).decode()
    return _STDLIB_INDENTED.encode(value) + "\n"


def untracked_bytes(value: Any) -> bytes:
    """Indented JSON for driftwatch's own untracked files, where ``json``'s exact spelling does not
    matter; a value orjson cannot write is written by ``json``."""
    try:
        return orjson.dumps(value, option=_INDENTED)
    except (orjson.JSONEncodeError, TypeError):
        return (_STDLIB_INDENTED.encode(value) + "\n").encode("utf-8", "surrogatepass")


def compact(value: Any, limit: int = 200) -> str:
    """A value as short JSON text for a message; long values say that they were truncated."""
    if value is None:
        return "null"
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return text if len(text) <= limit else f"{text[:limit]}… (truncated)"
