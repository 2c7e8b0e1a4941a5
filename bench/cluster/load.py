"""Run Locust headless against one URL and read back what it measured.

Locust is the load generator (no hand-written client): `locust -f locustfile.py --headless` with a
user count, a spawn rate and a run time, so every phase stops by itself. Its `--csv` stats give per
flow the throughput and the latency percentiles; the locustfile adds the per-second timeline, the
failures (with "traceback in the body or not") and the successful uploads (id + sha1).
"""
from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"


def locust_binary() -> str | None:
    """`locust` next to this interpreter (the dev venv), else on PATH."""
    beside = Path(sys.executable).parent / "locust"
    return str(beside) if beside.exists() else shutil.which("locust")


@dataclass
class FlowStats:
    requests: int
    failures: int
    per_second: float
    p50_ms: float
    p99_ms: float


@dataclass
class LoadResult:
    flows: dict[str, FlowStats]
    out_dir: Path
    timeline: dict[int, dict[str, list[int]]] = field(default_factory=dict)
    errors: list[dict] = field(default_factory=list)
    uploads: list[dict] = field(default_factory=list)


def run_locust(url: str, out_dir: Path, *, users: int, seconds: int, environ: dict[str, str],
               background: bool = False):
    """Start Locust; wait for it and return a LoadResult, or (background) return the Popen."""
    out_dir.mkdir(parents=True, exist_ok=True)
    binary = locust_binary()
    if binary is None:
        raise RuntimeError("locust not installed (pip install locust)")
    argv = [binary, "-f", str(LOCUSTFILE), "--headless", "-u", str(users), "-r", str(max(1, users)),
            "-t", f"{seconds}s", "-H", url, "--csv", str(out_dir / "locust"), "--only-summary",
            "--stop-timeout", "10", "--exit-code-on-error", "0", "--loglevel", "WARNING"]
    env = {**os.environ, **environ, "BENCH_OUT": str(out_dir)}
    log = open(out_dir / "locust.log", "ab")
    proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
    if background:
        return proc
    proc.wait(seconds + 120)
    return read_result(out_dir)


def read_result(out_dir: Path) -> LoadResult:
    flows = {}
    with open(out_dir / "locust_stats.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            if row["Name"] == "Aggregated":
                continue
            flows[row["Name"]] = FlowStats(int(row["Request Count"]), int(row["Failure Count"]),
                                           float(row["Requests/s"]), _ms(row["50%"]), _ms(row["99%"]))
    timeline_path = out_dir / "timeline.json"
    timeline = ({int(k): v for k, v in json.loads(timeline_path.read_text()).items()}
                if timeline_path.exists() else {})
    return LoadResult(flows, out_dir, timeline, _jsonl(out_dir / "errors.jsonl"),
                      _jsonl(out_dir / "uploads.jsonl"))


def _ms(value: str) -> float:
    try:
        return float(value)
    except ValueError:  # "N/A" when a flow had no request
        return float("nan")


def _jsonl(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def locustfile_imports() -> tuple[bool, str]:
    """Locust can load the locustfile (`locust -f FILE --list` lists its user class)."""
    binary = locust_binary()
    if binary is None:
        return False, "locust not installed"
    result = subprocess.run([binary, "-f", str(LOCUSTFILE), "--list"], capture_output=True, text=True,
                            timeout=120, check=False)
    return result.returncode == 0 and "OdooUser" in result.stdout, (result.stdout + result.stderr).strip()
