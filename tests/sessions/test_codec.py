"""Session values <-> stored bytes: dates, datetimes and sets survive; bad values never break a save."""
import logging
from datetime import date, datetime, timedelta, timezone

import pytest

from odoo_cloud.sessions import codec


def round_trip(data):
    return codec.unpack(codec.pack("a", 1_700_000_000, codec.encode_data(data))).data


def test_dates_datetimes_and_sets_come_back_with_their_types():
    data = {
        "day": date(2024, 2, 29),
        "naive": datetime(2024, 2, 29, 13, 14, 15, 123456),
        "aware": datetime(2024, 2, 29, 13, 14, 15, tzinfo=timezone(timedelta(hours=2))),
        "tags": {"b", "a", 3},
        "frozen": frozenset({1, 2}),
        "nested": {"when": [date(2000, 1, 1), {"in": {datetime(2001, 1, 1, 0, 0)}}]},
        "plain": {"uid": 2, "context": {"lang": "fr_FR"}, "list": [1, 2.5, None, True, "é"]},
    }
    back = round_trip(data)
    assert back["day"] == date(2024, 2, 29) and type(back["day"]) is date
    assert back["naive"] == data["naive"] and back["naive"].tzinfo is None
    assert back["aware"] == data["aware"] and back["aware"].utcoffset() == timedelta(hours=2)
    assert back["tags"] == {"a", "b", 3} and isinstance(back["tags"], set)
    assert back["frozen"] == {1, 2}
    assert back["nested"]["when"][0] == date(2000, 1, 1)
    assert back["nested"]["when"][1]["in"] == {datetime(2001, 1, 1)}
    assert back["plain"] == data["plain"]


def test_a_user_dict_that_looks_like_a_tag_is_kept_as_data():
    data = {"x": {"__oc__": "date", "v": "2024-01-01"}, "y": {"__oc__": None},
            "z": [{"__oc__": {"__oc__": 1}}]}
    assert round_trip(data) == data


def test_strings_containing_the_marker_are_plain_strings():
    data = {"s": '{"__oc__":"date","v":"2024-01-01"}'}
    assert round_trip(data) == data


def test_set_encoding_is_deterministic_so_unchanged_sessions_compare_equal():
    first = codec.encode_data({"s": {"zeta", "alpha", "mid", 3, 1.5, None}})
    second = codec.encode_data({"s": set(reversed(["zeta", "alpha", "mid", 3, 1.5, None]))})
    assert first == second


def test_a_value_that_cannot_be_encoded_is_left_out_and_logged_by_key(caplog):
    loop = []
    loop.append(loop)
    data = {"uid": 2, "obj": object(), "circular": loop, "members": {(1, 2)}, "ok": date(2024, 1, 1)}
    with caplog.at_level(logging.ERROR, logger="odoo_cloud.sessions.codec"):
        payload = codec.encode_data(data, sid_hint="abcdef")
    assert codec.loads(payload) == {"uid": 2, "ok": date(2024, 1, 1)}
    messages = "\n".join(r.getMessage() for r in caplog.records)
    for key in ("'obj'", "'circular'", "'members'"):
        assert key in messages
    assert "'uid'" not in messages and "'ok'" not in messages
    assert all(r.levelno == logging.ERROR for r in caplog.records)


@pytest.mark.parametrize("raw", [
    b"",
    b"not a session at all",
    b'{"uid": 2}',  # plain JSON written by someone else
    b"ocs1 a 0001700000000 {not json",
    b"ocs1 a 0001700000000 [1, 2]",
    b"ocs1 x 0001700000000 {}",
    b"ocs1 a 00017000000zz {}",
    b"ocs2 a 0001700000000 {}",
    b"ocs1 a 0001700000000 {\"d\": {\"__oc__\": \"date\", \"v\": \"not-a-date\"}}",
    b"ocs1 a 0001700000000 {\"d\": {\"__oc__\": \"pickle\", \"v\": \"x\"}}",
    b"ocs1 a 0001700000000 \xff\xfe{}",
    b"\x80\x04\x95pickle",
])
def test_foreign_or_corrupt_bytes_raise_corrupt_session(raw):
    with pytest.raises(codec.CorruptSession):
        codec.unpack(raw)


def test_header_carries_kind_and_write_time():
    stored = codec.unpack(codec.pack("n", 1_700_000_123, b'{"a":1}'))
    assert (stored.kind, stored.written_at, stored.data) == ("n", 1_700_000_123, {"a": 1})


def test_clone_is_a_deep_copy_through_the_codec():
    value = {"when": date(2024, 1, 1), "list": [1, {"x": 2}]}
    copy = codec.clone(value)
    assert copy == value
    copy["list"][1]["x"] = 3
    assert value["list"][1]["x"] == 2
