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
    assert (stored.kind, stored.active_at, stored.data) == ("n", 1_700_000_123, {"a": 1})


def test_clone_is_a_deep_copy_through_the_codec():
    value = {"when": date(2024, 1, 1), "list": [1, {"x": 2}]}
    copy = codec.clone(value)
    assert copy == value
    copy["list"][1]["x"] = 3
    assert value["list"][1]["x"] == 2


# --- the orjson fast path (when installed) never changes what a load sees -------------------------------
import enum  # noqa: E402
import math  # noqa: E402
import uuid  # noqa: E402


class _Colour(enum.Enum):
    RED = 1


@pytest.mark.parametrize("value", [
    2 ** 70, -(2 ** 63) - 1, 12345678901234567890123, (1, 2), "\u00e9t\u00e9", "C:\\users\\u0041", "\x01ctl",
    [1.5, -0.0, 1e16, True, None], {"nested": {"list": [(1,), {"__oc__": 1}]}},
])
def test_values_round_trip_the_same_on_either_codec_path(value):
    data = {"k": value}
    stdlib_text = codec.dumps(data).encode()
    assert codec.loads(codec.encode_data(data)) == codec.loads(stdlib_text)
    assert codec.clone(data) == codec.loads(stdlib_text)


def test_values_orjson_would_change_are_stored_as_the_stdlib_codec_stores_them(caplog):
    # orjson writes NaN as null, a UUID as a string and an Enum as its value; the stdlib codec decides instead
    nan_back = codec.loads(codec.encode_data({"f": float("nan")}))["f"]
    assert isinstance(nan_back, float) and math.isnan(nan_back)
    with caplog.at_level(logging.ERROR, logger="odoo_cloud.sessions.codec"):
        payload = codec.encode_data({"u": uuid.uuid4(), "e": _Colour.RED, "ok": 1}, sid_hint="abcdef")
    assert codec.loads(payload) == {"ok": 1}
    assert "'u'" in caplog.text and "'e'" in caplog.text


def test_big_ints_written_by_the_stdlib_codec_stay_ints_when_read():
    text = b'{"n":123456789012345678901234567890,"m":-9223372036854775809}'
    assert codec.loads(text) == {"n": 123456789012345678901234567890, "m": -9223372036854775809}


def test_a_tag_key_spelled_with_escapes_is_still_read_as_a_tag():
    text = b'{"d":{"\\u005f_oc__":"date","v":"2024-01-01"}}'
    assert codec.loads(text) == {"d": date(2024, 1, 1)}


def test_nan_and_infinity_literals_written_by_the_stdlib_still_load():
    back = codec.loads(b'{"a":NaN,"b":Infinity}')
    assert math.isnan(back["a"]) and back["b"] == float("inf")
