"""Stored files keep the standard library's exact JSON text, whoever writes it."""

from __future__ import annotations

import json

import pytest

from driftwatch.jsontext import compact_bytes, indented_text

SPELLINGS = [
    {"Retention": 1e-05, "Ratio": 0.00001234, "Big": 1e22, "Half": 0.5},  # floats orjson spells otherwise
    {"Counter": 2**70, "Negative": -(2**64)},  # beyond orjson's 64-bit integers
    {"Text": 'a\x00\x1f\x7f\u2028 é 😀 \\ " /', "Empty": {}, "List": [], "Nested": [{}, []]},
    {"Lone": "\ud800"},  # a lone surrogate, which orjson refuses
    {"b": [3, 1, {"z": None, "a": True}], "a": -0.0, "é": "ü"},
]


@pytest.mark.parametrize("value", SPELLINGS)
def test_indented_text_is_the_standard_librarys_text(value: object) -> None:
    assert indented_text(value) == json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def test_compact_bytes_sort_keys_and_tell_values_apart() -> None:
    assert compact_bytes({"b": 1, "a": [True, None, "x"]}) == b'{"a":[true,null,"x"],"b":1}'
    assert compact_bytes({"n": 2**70}) == b'{"n":1180591620717411303424}'
    assert compact_bytes({"n": 1}) != compact_bytes({"n": "1"})
    assert compact_bytes({"s": "\ud800"}) != compact_bytes({"s": "\ud801"})
