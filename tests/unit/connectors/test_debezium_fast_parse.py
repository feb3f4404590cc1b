"""The fast envelope parse decodes exactly as the careful one: same changes, same dead letters and reasons."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.debezium.envelope import (
    TOAST_PLACEHOLDER,
    Origin,
    fast_envelope_decoder,
    fast_parse,
    parse_envelope,
)
from dataflows.decode import SyncDecoder
from smartsync.core.catalog import Sync, Trigger, load_catalog
from smartsync.core.tables import SCHEMA

CATALOG = load_catalog()
DEBEZIUM_SYNCS = [
    s for s in CATALOG.syncs if s.topic is not None and s.has_event_path and s.trigger is not Trigger.CALLBACK
]

_VALID: dict[str, Any] = {
    "bigint": 9,
    "integer": 3,
    "smallint": 2,
    "text": "Asha",
    "date": 3685,
    "timestamptz": "2026-11-21T21:10:15.777262Z",
    "uuid": "0f8fad5b-d9cb-469f-a165-70867728950e",
}
# Values of every JSON shape and the awkward ones Debezium may send or a broken producer might.
_ODD = st.sampled_from(
    [
        None,
        0,
        -1,
        2**40,
        1.5,
        True,
        "",
        "x",
        "12",
        "0.5000",
        "NaN",
        "2026-11-21T21:10:15",
        "2026-11-21",
        "2026-11-21T21:10:15.777262+05:30",
        TOAST_PLACEHOLDER,
        [],
        {},
        [1],
        {"a": 1},
    ]
)


def _valid(sql_type: str) -> Any:
    base = sql_type.split("(", 1)[0].strip().lower()
    return "0.5000" if base == "numeric" else _VALID[base]


def _image(sync: Sync) -> dict[str, Any]:
    table = SCHEMA.table(sync.source_database, sync.source)
    return {c.name: _valid(c.sql_type) for c in table.columns}


def _after(draw: st.DrawFn, sync: Sync) -> dict[str, Any]:
    after = _image(sync)
    for column in list(after):
        choice = draw(st.integers(0, 24))
        if choice == 0:
            del after[column]
        elif choice <= 2:
            after[column] = draw(_ODD)
    return after


def _before(draw: st.DrawFn, sync: Sync, after: dict[str, Any]) -> Any:
    kind = draw(st.sampled_from(["none", "same", "changed", "partial", "odd"]))
    return {
        "none": lambda: None,
        "same": lambda: dict(after),
        "changed": lambda: {**_image(sync), "status": "submitted"},
        "partial": lambda: {k: v for i, (k, v) in enumerate(after.items()) if i % 2 == 0},
        "odd": lambda: draw(_ODD),
    }[kind]()


def _source(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 19)) == 0:
        return draw(_ODD)
    source: dict[str, Any] = {
        "ts_us": 1795295810286812,
        "ts_ms": 1795295810286,
        "lsn": 32969856,
        "version": "3.6.1.Final",
    }
    if draw(st.booleans()):
        source[draw(st.sampled_from(["ts_us", "ts_ms", "lsn"]))] = draw(_ODD)
    return source


@st.composite
def _envelopes(draw: st.DrawFn, sync: Sync) -> bytes:
    after = _after(draw, sync)
    doc: dict[str, Any] = {
        "before": _before(draw, sync, after),
        "after": after if draw(st.integers(0, 9)) else draw(_ODD),
        "source": _source(draw),
    }
    op = draw(st.sampled_from(["c", "u", "d", "r", "t", None, 1]))
    if op is not None:
        doc["op"] = op
    shape = draw(st.integers(0, 19))
    if shape == 0:
        return orjson.dumps({"schema": {}, "payload": doc})  # a converter with schemas enabled
    if shape == 1:
        return orjson.dumps(doc)[:-3]  # truncated
    if shape == 2:
        return orjson.dumps([doc])
    return orjson.dumps(doc)


@pytest.mark.parametrize("sync", DEBEZIUM_SYNCS, ids=lambda s: s.name)
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_fast_and_careful_decoding_agree(sync: Sync, data: st.DataObject) -> None:
    value = data.draw(_envelopes(sync))
    assert sync.topic is not None
    origin = Origin(sync.topic.name, 0, 7, b"k", value)
    fast, careful = SyncDecoder(sync), SyncDecoder(sync, fast=False)
    assert fast.decode(origin) == careful.decode(origin)


def test_the_fast_parse_reads_only_what_it_was_asked_for() -> None:
    decoder = fast_envelope_decoder(["citizen_id", "full_name"], optional=["status"])
    value = orjson.dumps(
        {
            "op": "u",
            "before": {"citizen_id": 1, "full_name": "A", "email": "x"},
            "after": {"citizen_id": 1, "full_name": "B", "email": "y", "status": "s"},
            "source": {"lsn": 5, "ts_us": 6, "db": "smart_citizen"},
        }
    )
    env = fast_parse(decoder, value)
    assert env is not None
    assert env.op == "u"
    assert env.before == {"citizen_id": 1, "full_name": "A", "status": None}
    assert env.after == {"citizen_id": 1, "full_name": "B", "status": "s"}
    assert env.source == {"lsn": 5, "ts_us": 6, "ts_ms": None}
    careful = parse_envelope(value)
    assert careful.after is not None
    assert {k: careful.after.get(k) for k in env.after} == env.after
    # A message the fast parse cannot take is left to the careful path.
    assert fast_parse(decoder, orjson.dumps({"op": "c", "after": {"citizen_id": 1}, "source": {}})) is None
    assert fast_parse(decoder, b"{not json") is None
    assert (
        fast_parse(decoder, orjson.dumps({"op": "x", "after": {"citizen_id": 1, "full_name": "B"}, "source": {}}))
        is None
    )
