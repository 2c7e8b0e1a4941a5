"""Peak memory of this process, for benches and memory tests.

`getrusage().ru_maxrss` cannot be used in a child process: Linux carries the parent's high-water
mark across fork and exec, so a child started by a large parent reports the parent's size (a
bench measured 332 MiB for fsck at 10k and at 100k objects: the figure was the parent's). The
kernel's per-address-space counter `VmHWM` in /proc/self/status starts afresh at exec and can be
reset with /proc/self/clear_refs, so both a fresh child and an in-process measure read it.
"""

from __future__ import annotations

import gc

PRINT_PEAK_AT_EXIT = (
    "import atexit, sys\n"
    "from devstack.memory import status_kib\n"
    "atexit.register(lambda: print('PEAK_RSS_KIB', status_kib('VmHWM'), file=sys.stderr, flush=True))\n"
)
"""Prelude for `python -c`: prints this interpreter's peak RSS on stderr when it exits."""


def status_kib(field: str) -> int:
    """A `kB` field of /proc/self/status (VmRSS, VmHWM...), in KiB."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise LookupError(f"/proc/self/status has no {field!r}")


def reset_peak_rss() -> int:
    """Reset VmHWM to the current RSS (after a garbage collection); returns that RSS in KiB."""
    gc.collect()
    with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
        refs.write("5")
    return status_kib("VmRSS")


def peak_from_stderr(stderr: str) -> int:
    """The KiB printed by PRINT_PEAK_AT_EXIT (the last such line)."""
    lines = [line for line in stderr.splitlines() if line.startswith("PEAK_RSS_KIB ")]
    if not lines:
        raise LookupError("no PEAK_RSS_KIB line in the child's stderr")
    return int(lines[-1].split()[1])
