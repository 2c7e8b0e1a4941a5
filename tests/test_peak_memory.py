"""The peak-memory measure used by the memory tests and benches sees the child, not its parent.

`ru_maxrss` in a child carries the parent's high-water mark across fork and exec; a bench measuring
fsck at 10k and 100k objects printed the same 332 MiB twice (the parent's). These tests would fail
with that measure.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from devstack.memory import PRINT_PEAK_AT_EXIT, peak_from_stderr, reset_peak_rss, status_kib

REPO = Path(__file__).resolve().parents[1]
MiB = 1024


def child_peak_kib(code: str) -> int:
    proc = subprocess.run([sys.executable, "-c", PRINT_PEAK_AT_EXIT + code], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, check=True, timeout=60)
    return peak_from_stderr(proc.stderr)


def test_a_small_child_of_a_large_parent_reports_its_own_peak():
    ballast = bytearray(400 * 1024 * 1024)
    for offset in range(0, len(ballast), 4096):  # touch every page: resident, not just reserved
        ballast[offset] = 1
    assert status_kib("VmRSS") > 400 * MiB
    small = child_peak_kib("pass")
    large = child_peak_kib("b = bytearray(200 * 1024 * 1024)\nb[::4096] = b'1' * len(b[::4096])")
    del ballast
    assert small < 100 * MiB, small
    assert large > small + 180 * MiB, (small, large)


def test_reset_peak_rss_forgets_an_earlier_peak():
    spike = bytearray(150 * 1024 * 1024)
    spike[::4096] = b"1" * len(spike[::4096])
    del spike
    before = reset_peak_rss()
    assert status_kib("VmHWM") < before + 50 * MiB
