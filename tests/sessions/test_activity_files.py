"""Stand-in session files for OCA auth_session_timeout (odoo_cloud/sessions/activity_files.py).

The addon's side of the contract, reproduced: `getmtime(path) < deadline` expires, `utime(path, None)`
records activity. The Odoo side (the request's session, save) is tested in
session_redis/tests/test_drop_in.py.
"""
from __future__ import annotations

import os
import time
from os.path import getmtime

import pytest

from odoo_cloud.sessions import generate_sid
from odoo_cloud.sessions.activity_files import ACTIVITY_KEY, ActivityFiles, last_seen


@pytest.fixture
def files(tmp_path):
    return ActivityFiles(tmp_path, capacity=3, granularity=60)


def test_the_file_shows_the_last_activity_and_gives_back_what_the_addon_did(files):
    sid = generate_sid()
    path = files.materialize(sid, 1_700_000_000)
    assert getmtime(path) == 1_700_000_000  # what the addon compares with its deadline
    os.utime(path, None)  # the addon: "this request is activity"
    touched = files.collect(sid)
    assert touched == pytest.approx(time.time(), abs=5)
    assert not os.path.exists(path), "collected files are removed"
    assert files.collect(sid) is None


def test_an_untouched_file_gives_back_its_own_time_and_a_removed_one_nothing(files):
    sid, other = generate_sid(), generate_sid()
    files.materialize(sid, 1_700_000_000)
    assert files.collect(sid) == 1_700_000_000
    os.unlink(files.materialize(other, 1_700_000_000))  # an addon release that deletes the file
    assert files.collect(other) is None


def test_files_are_private_to_the_process_and_bounded(files, tmp_path):
    sids = [generate_sid() for _ in range(5)]
    paths = [files.materialize(sid, 1_700_000_000) for sid in sids]
    assert all(p.startswith(str(tmp_path / str(os.getpid()))) for p in paths)
    assert [os.path.exists(p) for p in paths] == [False, False, True, True, True], "oldest evicted first"
    assert oct(os.stat(paths[-1]).st_mode & 0o777) == oct(0o600)


@pytest.mark.parametrize("sid", ["../../etc/passwd", "a" * 83, "a" * 84 + "/", "", None])
def test_hostile_ids_never_become_paths(files, sid):
    with pytest.raises(ValueError):
        files.materialize(sid, 0)


def test_activity_is_recorded_only_when_it_moved_by_the_granularity(files):
    assert files.advanced(None, 1000)
    assert files.advanced("garbage", 1000)
    assert not files.advanced(1000, 1059)
    assert files.advanced(1000, 1060)


def test_last_seen_prefers_the_addons_record_then_the_stores_stamp():
    assert last_seen({ACTIVITY_KEY: 1234}, 99, 5) == 1234
    assert last_seen({ACTIVITY_KEY: True}, 99, 5) == 99  # not a time: ignored
    assert last_seen({}, None, 5) == 5
