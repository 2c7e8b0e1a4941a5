#!/usr/bin/env python3
"""Log records per second: our JSON formatter vs python-json-logger's plain JsonFormatter vs Odoo's text
formatter, on the same records, same run, rounds interleaved (medians of CPU time), ratios printed.

    .venvs/odoo/bin/python bench/bench_logs.py        # Odoo's real DBFormatter (odoo importable)
    .venv/bin/python bench/bench_logs.py              # an equivalent text formatter when odoo is absent

Targets (issue 6): ours >= python-json-logger plain; ours <= 2x the text formatter's cost per record.
The record mix is what an Odoo server writes most: application lines with %-args, werkzeug access lines
with perf_info, a line with `extra` attributes, and (1 in 20) an error with a traceback.
"""
from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pythonjsonlogger.json import JsonFormatter as PlainJsonFormatter

from odoo_cloud.logs import AccessLineFilter, JsonFormatter, begin_request, end_request

ODOO_FORMAT = "%(asctime)s %(pid)s %(levelname)s %(dbname)s %(name)s: %(message)s %(perf_info)s"


def text_formatter() -> tuple[logging.Formatter, str]:
    try:
        from odoo.netsvc import DBFormatter
    except ImportError:
        class DBFormatter(logging.Formatter):  # same attributes as Odoo's (pid, dbname), for a fair cost
            def format(self, record):
                record.pid = os.getpid()
                record.dbname = getattr(threading.current_thread(), "dbname", "?")
                return super().format(record)

        return DBFormatter(ODOO_FORMAT), "equivalent of odoo.netsvc.DBFormatter (odoo not importable)"
    return DBFormatter(ODOO_FORMAT), "odoo.netsvc.DBFormatter"


def make_records(count: int) -> list[logging.LogRecord]:
    records = []
    access_filter = AccessLineFilter()
    try:
        raise ValueError("bad value for field 'amount'")
    except ValueError:
        exc_info = sys.exc_info()
    for i in range(count):
        kind = i % 20
        if kind == 0:
            record = logging.LogRecord("odoo.http", logging.ERROR, __file__, 10,
                                       "Exception during request handling.", (), exc_info)
        elif kind % 3 == 0:
            record = logging.LogRecord(
                "werkzeug", logging.INFO, __file__, 20, '127.0.0.1 - - [26/Nov/2026 08:30:00] "%s" %s %s',
                (f"POST /web/dataset/call_kw/res.partner/web_search_read?i={i} HTTP/1.1", "200", "-"), None)
            record.perf_info = "12 0.034 0.120"
            access_filter.filter(record)
        elif kind % 3 == 1:
            record = logging.LogRecord("odoo.addons.base.models.ir_cron", logging.INFO, __file__, 30,
                                       "Job '%s' (%s) done in %.3fs",
                                       ("Mail: Email Queue Manager", i, 0.0123), None)
        else:
            record = logging.LogRecord("odoo.modules.registry", logging.INFO, __file__, 40,
                                       "Registry loaded in %.3fs", (1.234,), None)
            record.__dict__.update({"job_uuid": f"job-{i}", "attempt": 2})
        if not hasattr(record, "perf_info"):
            record.perf_info = ""
        records.append(record)
    return records


def rate(formatter: logging.Formatter, records: list[logging.LogRecord]) -> float:
    for record in records:  # tracebacks are cached on the record: every formatter pays for its own
        record.exc_text = None
    start = time.thread_time()  # CPU time of this thread: other processes on the machine do not count
    for record in records:
        formatter.format(record)
    return len(records) / (time.thread_time() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()

    threading.current_thread().dbname = "bench"
    threading.current_thread().uid = 2
    begin_request("bench-request-0001")
    text, text_name = text_formatter()
    formatters = {
        "ours (odoo_cloud.logs.JsonFormatter)": JsonFormatter(),
        "python-json-logger JsonFormatter()": PlainJsonFormatter(),
        f"text ({text_name})": text,
        # context only: python-json-logger asked for comparable fields (no request context, no access fields)
        "python-json-logger, same core fields": PlainJsonFormatter(
            "%(levelname)s %(name)s %(message)s %(process)d %(threadName)s", timestamp=True),
    }
    records = make_records(args.records)
    # sanity: our output is one valid JSON object per record
    import json
    for record in records[:40]:
        json.loads(formatters["ours (odoo_cloud.logs.JsonFormatter)"].format(record))
    rates: dict[str, list[float]] = {name: [] for name in formatters}
    for _ in range(args.rounds):
        for name, formatter in formatters.items():
            rates[name].append(rate(formatter, records))
    sample = formatters["ours (odoo_cloud.logs.JsonFormatter)"].format(records[3])
    end_request()

    medians = {name: statistics.median(values) for name, values in rates.items()}
    print(f"python {sys.version.split()[0]}, {args.records} records x {args.rounds} interleaved rounds "
          "(median of CPU time)")
    for name, value in medians.items():
        print(f"  {name:<72} {value:>9,.0f} records/s {1e6 / value:6.2f} us/record")
    ours, plain, text_rate, _same = medians.values()
    speed, cost = ours / plain, text_rate / ours
    print(f"ours / python-json-logger speed: {speed:.2f}x (target >= 1.00){'' if speed >= 1 else '  MISSED'}")
    print(f"ours cost / text formatter cost: {cost:.2f}x (target <= 2.00){'' if cost <= 2 else '  MISSED'}")
    print("sample access line:", sample)
    return 0 if speed >= 1 and cost <= 2 else 1


if __name__ == "__main__":
    raise SystemExit(main())
