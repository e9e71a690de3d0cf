"""Value rules of decoded segments: one test per rule, each failing if the rule is removed."""

from __future__ import annotations

import json
import struct
from typing import Any

import pytest

from jazz_nb import s
from jazz_nb.errors import ProtocolError
from jazz_nb.schema import types as t
from jazz_nb.store.versions import RowVersion
from jazz_nb.sync.frames import Segment, decode_frame, encode_frame, versions_to_arrow
from jazz_nb.sync.validate import TIMESTAMP_MAX_MS, TIMESTAMP_MAX_US, InvalidValues

APP = s.define_app({
    "projects": s.table(name=s.string()),
    "todos": s.table(title=s.string(), done=s.boolean(default=False), n=s.int().optional(),
                     at=s.timestamp(), due=s.timestamp().optional(), owner=s.uuid(),
                     project_id=s.ref("projects").optional(), meta=s.json(),
                     kind=s.enum("low", "high"), tags=s.array(s.string()),
                     levels=s.array(s.enum("a", "b")).optional(),
                     refs=s.array(s.uuid()).optional(), grid=s.array(s.array(s.int())).optional(),
                     blob=s.bytes().optional()),
})
APPS = {APP.schema_hash: APP}
GOOD: dict[str, Any] = {"title": "x", "done": False, "n": 1, "at": 1_700_000_000_000, "due": None,
                        "owner": "01900000-0000-7000-8000-00000000000a", "project_id": None,
                        "meta": '{"a":[1,true],"b":null}', "kind": "low", "tags": ["t"],
                        "levels": ["a"], "refs": [], "grid": [[1, 2], []], "blob": b"\x00"}


def version(row: int = 1, *, delete_kind: str | None = None, **changes: Any) -> RowVersion:
    data = {} if delete_kind == "hard" else {**GOOD, **changes}
    return RowVersion("todos", f"01900000-0000-7000-8000-{row:012x}", "ab" * 16, (), 5, "me", 5,
                      "me", data, "VisibleDirect", None, delete_kind)


def frame(*versions: RowVersion, table: str = "todos") -> bytes:
    rows = versions_to_arrow(APP.table(table), list(versions))
    return encode_frame({"type": "batch", "batch_id": "ab" * 16},
                        [Segment(table, APP.schema_hash, rows)])


def rejected(*versions: RowVersion) -> InvalidValues:
    with pytest.raises(InvalidValues) as err:
        decode_frame(frame(*versions), APPS)
    assert err.value.code == "invalid_batch_submission"
    assert decode_frame(frame(*versions), APPS, check_values=False)  # framing is fine
    return err.value


def test_valid_values_pass() -> None:
    rows = decode_frame(frame(version(1), version(2, n=None, levels=None)), APPS)[1][0].rows
    assert rows.num_rows == 2


@pytest.mark.parametrize(("column", "value", "problem"), [
    ("kind", "urgent", "is not one of ['high', 'low']"),
    ("owner", "01900000-0000-7000-8000-00000000000A", "canonical"),
    ("owner", "not-a-uuid", "canonical"),
    ("project_id", "{01900000-0000-7000-8000-00000000000a}", "canonical"),
    ("meta", "not json", "not JSON text"),
    ("meta", "NaN", "not JSON text"),
    ("meta", "[1,]", "not JSON text"),
    ("meta", "1e999", "not JSON text"),
    ("meta", "[" * 100_000, "not JSON text"),
    ("at", -1, "outside 0.."),
    ("at", TIMESTAMP_MAX_MS + 1, "outside 0.."),
    ("due", 2**62, "outside 0.."),
    ("tags", ["a", None], "null element"),
    ("levels", ["a", "c"], "array element 'c' is not one of"),
    ("refs", ["01900000-0000-7000-8000-00000000000A"], "array element"),
    ("grid", [[1], None], "null element"),
    ("grid", [[1, None]], "array element null element"),
])
def test_each_value_rule(column: str, value: Any, problem: str) -> None:
    err = rejected(version(1), version(2, **{column: value}))
    assert (err.table, err.column) == ("todos", column)
    assert str(err).startswith(f"todos.{column}: ") and problem in str(err), str(err)
    assert "(1 bad value)" in str(err) or "element" in str(err)


TRICKY_BAD = ["NaN", "nan", "-Infinity", "[1,]", '{"a":1,}', "[" * 2000 + "]" * 2000,
              "1" * 5000, "1" + "0" * 400 + ".0", "1e999", "not json", "{a:1}", "[1] [2]",
              '"\\ud800"', "[1]\x00", '"a\x01"']
TRICKY_GOOD = ['"info"', '{"a":"x, ]"}', "[1e5]", '"\\ud83d\\ude00"', '{"b":1,"a":2}',
               ' [1, 2] ', '"nan"', "[" * 200 + "]" * 200]


@pytest.mark.parametrize("text", TRICKY_BAD)
def test_json_that_python_cannot_read_is_caught_among_many(text: str) -> None:
    """Past 64 distinct texts DuckDB's json_valid screens them; what it accepts but Python
    does not (NaN, trailing commas, depth, huge numbers, surrogates) still gets caught."""
    many = [version(i, meta=f'{{"i":{i}}}') for i in range(1, 100)]
    err = rejected(*many, version(100, meta=text))
    assert err.column == "meta" and "(1 bad value)" in str(err), str(err)
    err = rejected(version(1, meta=text))  # and alone (the exact check only)
    assert err.column == "meta"


def test_json_python_reads_is_accepted_canonical_or_not() -> None:
    many = [version(i, meta=f'{{"i":{i}}}') for i in range(1, 100)]
    tricky = [version(100 + i, meta=text) for i, text in enumerate(TRICKY_GOOD)]
    assert decode_frame(frame(*many, *tricky), APPS)
    assert decode_frame(frame(*tricky), APPS)


@pytest.mark.parametrize("column", ["title", "done", "at", "owner", "meta", "kind", "tags"])
def test_required_columns_are_non_null(column: str) -> None:
    err = rejected(version(1, **{column: None}))
    assert err.column == column and "null in a required column" in str(err)


def test_hard_deletes_carry_no_data_soft_deletes_do() -> None:
    assert decode_frame(frame(version(1), version(2, delete_kind="hard")), APPS)
    err = rejected(version(1, delete_kind="soft", title=None))
    assert err.column == "title"


def test_timestamp_bounds_are_what_rows_can_show() -> None:
    """0 .. 9999-12-31T23:59:59.999Z: ``Timestamp.coerce`` refuses times before 1970 and
    ``to_python`` (a ``datetime``) cannot show a later millisecond."""
    assert decode_frame(frame(version(1, at=0), version(2, at=TIMESTAMP_MAX_MS)), APPS)
    assert t.Timestamp().to_python(TIMESTAMP_MAX_MS).year == 9999
    with pytest.raises((ValueError, OverflowError)):
        t.Timestamp().to_python(TIMESTAMP_MAX_MS + 1)
    with pytest.raises(Exception, match="after 1970"):
        t.Timestamp().coerce(-1, "todos.at")


def test_value_errors_keep_the_header_and_framing_errors_win() -> None:
    bad = frame(version(1, kind="urgent"))
    with pytest.raises(InvalidValues) as err:
        decode_frame(bad, APPS)
    assert err.value.header is not None and err.value.header["batch_id"] == "ab" * 16
    size = struct.unpack(">I", bad[4:8])[0]
    header = json.loads(bad[8:8 + size])
    body = bad[8 + size:]
    header["segments"].append(dict(header["segments"][0], bytes=8))  # a second, broken one
    text = json.dumps(header).encode()
    broken = b"JZB1" + struct.pack(">I", len(text)) + text + body + b"\xff" * 8
    with pytest.raises(ProtocolError) as err2:
        decode_frame(broken, APPS)
    assert err2.value.code == "malformed_frame"


def engine(**changes: Any) -> RowVersion:
    base = version(1)
    fields = {"row_id": base.row_id, "batch_id": base.batch_id, "parents": base.parents,
              "updated_at": base.updated_at, "created_at": base.created_at,
              "state": base.state, "tier": base.tier, **changes}
    return RowVersion("todos", fields["row_id"], fields["batch_id"], fields["parents"],
                      fields["updated_at"], "me", fields["created_at"], "me", base.data,
                      fields["state"], fields["tier"], changes.get("delete_kind"))


@pytest.mark.parametrize(("changes", "problem"), [
    ({"row_id": "01900000-0000-7000-8000-00000000000A"}, "bad id"),
    ({"batch_id": "AB" * 16}, "bad id"),
    ({"parents": ("xyz",)}, "bad id"),
    ({"parents": ("ab" * 16, None)}, "null in _jz_parents"),
    ({"state": "Lost"}, "unknown state"),
    ({"delete_kind": "purge"}, "unknown delete kind"),
    ({"tier": 7}, "_jz_tier 7 is outside"),
    ({"updated_at": TIMESTAMP_MAX_US + 1}, "_jz_updated_at"),
    ({"created_at": -5}, "_jz_created_at -5 is outside"),
])
def test_history_columns_are_framing_errors(changes: dict[str, Any], problem: str) -> None:
    with pytest.raises(ProtocolError) as err:
        decode_frame(frame(engine(**changes)), APPS)
    assert err.value.code == "malformed_frame" and problem in str(err.value), str(err.value)
    assert not isinstance(err.value, InvalidValues)
