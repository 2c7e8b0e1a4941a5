"""Run every benchmark in turn (`make bench` / `python -m bench`), each in its own process.

Each script starts the real servers it needs and prints its own ratios; a script's exit status is
non-zero when it misses its target, and this runner reports which did.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    wanted = set(argv)
    scripts = sorted(p for p in HERE.glob("bench_*.py") if not wanted or p.stem in wanted)
    failed = []
    for script in scripts:
        print(f"\n===== {script.stem} =====", flush=True)
        if subprocess.call([sys.executable, str(script)], cwd=HERE.parent) != 0:
            failed.append(script.stem)
    met = len(scripts) - len(failed)
    print(f"\n{met} benchmark(s) met their targets; missed: {', '.join(failed) or 'none'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
