"""``ingest/parse.py``: the limits hold whichever way the input arrives (bytes, text,
parsed JSON), and the fast checks on the text never wave through what the tree walk
would refuse."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cds_backpain._errors import InputLimitError
from cds_backpain.ingest.parse import Limits, _nesting_at_most, _text_depth, check_tree, load_json

json_docs = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='ab[]{}"\\:,', max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=25,
)


def _depth(doc) -> int:
    if isinstance(doc, dict):
        return 1 + max(map(_depth, doc.values()), default=0)
    if isinstance(doc, list):
        return 1 + max(map(_depth, doc), default=0)
    return 0


@settings(max_examples=500, deadline=None)
@given(doc=json_docs, limit=st.integers(0, 8))
def test_fast_nesting_check_is_never_optimistic(doc, limit):
    encoded = json.dumps(doc).encode()
    assert _text_depth(encoded.decode()) == _depth(doc)
    if _nesting_at_most(encoded, limit):
        assert _depth(doc) <= limit


@settings(max_examples=300, deadline=None)
@given(doc=json_docs, depth=st.integers(1, 6), string=st.integers(1, 8))
def test_bytes_text_and_parsed_input_meet_the_same_limits(doc, depth, string):
    limits = Limits(max_depth=depth, max_string=string)
    doc = [doc]  # the top level must be an array or object
    refused = []
    for form in (json.dumps(doc).encode(), json.dumps(doc), doc):
        try:
            assert load_json(form, limits) == doc
            refused.append(False)
        except InputLimitError:
            refused.append(True)
    assert len(set(refused)) == 1, refused
    too_deep = _depth(doc) > depth
    assert refused[0] == (too_deep or _longest(doc) > string)


def _longest(doc) -> int:
    if isinstance(doc, dict):
        return max([*map(len, doc), *map(_longest, doc.values())], default=0)
    if isinstance(doc, list):
        return max(map(_longest, doc), default=0)
    return len(doc) if isinstance(doc, str) else 0


def test_brackets_inside_strings_do_not_count_as_nesting():
    doc = {"resourceType": "Patient", "id": "p", "text": {"div": "[" * 500 + "{" * 500}}
    assert load_json(json.dumps(doc).encode(), Limits(max_depth=3)) == doc


@pytest.mark.parametrize("form", ["bytes", "text", "parsed"])
def test_deep_nesting_and_long_strings_are_refused_in_every_form(form):
    deep: list = []
    for _ in range(70):
        deep = [deep]
    long = {"resourceType": "Patient", "id": "x" * 200}
    for doc, limit in ((deep, "max_depth=64"), (long, "max_string=100")):
        data = {"bytes": json.dumps(doc).encode(), "text": json.dumps(doc), "parsed": doc}[form]
        with pytest.raises(InputLimitError) as info:
            load_json(data, Limits(max_string=100))
        assert limit in info.value.outcome["issue"][0]["diagnostics"]


def test_tree_walk_reports_long_keys():
    with pytest.raises(InputLimitError) as info:
        check_tree({"a": {"k" * 20: 1}}, Limits(max_string=10))
    assert "key" in info.value.outcome["issue"][0]["diagnostics"]


def test_a_parsed_document_skips_the_walk_only_under_the_same_limits():
    from cds_backpain.ingest import ParsedJSON, parse_json

    long = [{"resourceType": "Patient", "id": "x" * 200}]
    strict = Limits(max_string=100)
    assert load_json(ParsedJSON(long, strict), strict) == long  # checked by its producer
    with pytest.raises(InputLimitError):
        load_json(ParsedJSON(long, Limits()), strict)  # checked under other limits
    parsed = parse_json(b'{"resourceType": "Bundle", "entry": [{"resource": {"a": 1}}]}', strict)
    part = parsed.excerpt([parsed.value["entry"][0]["resource"]])
    assert load_json(part, strict) == [{"a": 1}]
    with pytest.raises(InputLimitError):
        parse_json(json.dumps(long), strict)
