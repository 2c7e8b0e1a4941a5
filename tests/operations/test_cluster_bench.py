"""The cluster benchmark (bench/bench_cluster.py) cannot rot silently: its HAProxy config is one HAProxy
accepts, its locustfile is one Locust loads, and its chaos verdicts fail on what they must fail on.

The benchmark itself (minutes of load) runs only by `make bench-cluster` / `make bench-chaos`.
"""
from __future__ import annotations

import pytest

from bench.cluster import chaos
from bench.cluster.haproxy import check_config, haproxy_binary, haproxy_config
from bench.cluster.load import LoadResult, locust_binary, locustfile_imports


def _require(found, what: str) -> None:
    if not found:
        reason = f"{what} not installed: the cluster benchmark's check is SKIPPED"
        print(reason)
        pytest.skip(reason)


def test_haproxy_accepts_the_generated_config(tmp_path):
    _require(haproxy_binary(), "haproxy (Debian package `haproxy`)")
    text = haproxy_config(18080, [("suite-1", 18081), ("suite-2", 18082)])
    # shared sessions are the point: no stickiness of any kind, readiness as the health check
    assert "balance roundrobin" in text and "uri /web/health/ready ver HTTP/1.1 hdr Host" in text
    assert "cookie" not in text and "stick" not in text
    path = tmp_path / "haproxy.cfg"
    path.write_text(text)
    ok, output = check_config(path)
    assert ok, output
    path.write_text(text.replace("balance roundrobin", "balance no-such-algorithm"))
    ok, output = check_config(path)
    assert not ok, "haproxy -c accepted a broken config: the check above proves nothing"


def test_locust_loads_the_locustfile():
    _require(locust_binary(), "locust (requirements-dev.txt)")
    ok, output = locustfile_imports()
    assert ok, output


def _result(errors, timeline=None) -> LoadResult:
    return LoadResult({}, None, timeline or {}, errors, [])


def test_chaos_verdicts_flag_what_the_issue_forbids():
    events = [chaos.Event("kill", start=100.0, end=105.0)]
    clean = {"t": 101.0, "flow": "json-rpc read", "status": 503, "why": "HTTP 503", "traceback": False}
    assert chaos.judge_errors(_result([clean]), events) == []
    traced = {**clean, "status": 500, "traceback": True}
    assert any("traceback" in p for p in chaos.judge_errors(_result([traced]), events))
    lost = {**clean, "status": 200, "why": "session lost"}
    assert any("session" in p for p in chaos.judge_errors(_result([lost]), events))
    rpc_error = {**clean, "status": 200, "why": "JSON-RPC error x"}
    assert any("not a clean 5xx" in p for p in chaos.judge_errors(_result([rpc_error]), events))
    events.append(chaos.Event("kill -9 suite-1", start=200.0, end=210.0))
    cut = {**clean, "t": 200.5, "status": 0, "why": "HTTP 0"}
    assert chaos.judge_errors(_result([cut]), events) == []
    reset_later = {**cut, "t": 200.0 + chaos.CUT_SECONDS + 2}
    assert any("not a clean 5xx" in p for p in chaos.judge_errors(_result([reset_later]), events))
    late = {**clean, "t": 105.0 + chaos.RECOVERY_SECONDS + 5}
    assert any("outside" in p for p in chaos.judge_errors(_result([late]), events))


def test_an_upload_during_the_store_outage_must_be_a_clean_503():
    """Finding 4 of docs/CLUSTER_BENCH.md, fixed: an upload during the S3 outage answers the storage glue's
    503 (no traceback), which the verdict accepts; the old answer (200 + JSON-RPC error whose `debug`
    holds the traceback) and a 503 carrying a traceback still fail it."""
    events = [chaos.Event("S3 stopped 10 s", start=100.0, end=110.0)]
    fixed = {"t": 104.0, "flow": "upload 100 KB", "status": 503, "traceback": False,
             "why": "HTTP 503: The file could not be stored: the attachment storage is unavailable, please "
                    "retry later. Nothing was saved."}
    assert chaos.judge_errors(_result([fixed]), events) == []
    before_the_fix = {**fixed, "status": 200, "traceback": True,
                      "why": "JSON-RPC error odoo.exceptions.UserError: The file could not be stored: S3 put "
                             "of s3://bucket/key failed: EndpointConnectionError"}
    problems = chaos.judge_errors(_result([before_the_fix]), events)
    assert any("traceback" in p for p in problems) and any("not a clean 5xx" in p for p in problems)
    traced_503 = {**fixed, "traceback": True}
    assert any("traceback" in p for p in chaos.judge_errors(_result([traced_503]), events))
    after_the_window = {**fixed, "t": 110.0 + chaos.RECOVERY_SECONDS + 1}
    assert any("outside" in p for p in chaos.judge_errors(_result([after_the_window]), events))


def test_recovery_is_the_first_error_free_second_after_the_return():
    event = chaos.Event("S3 stopped", start=100.0, end=110.0)
    timeline = {109: {"a": [5, 5]}, 110: {"a": [4, 2]}, 111: {"a": [3, 1]}, 112: {"a": [6, 0]}}
    assert chaos.recovery_seconds(_result([], timeline), event) == 2.0
    assert chaos.recovery_seconds(_result([], {110: {"a": [4, 4]}}), event) is None
