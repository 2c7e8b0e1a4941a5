"""Locust user flows of the cluster benchmark (bench/bench_cluster.py): what an Odoo user really does.

Run by `locust -f` in headless mode; parameters come from the environment (set by the orchestrator):
BENCH_DB, BENCH_LOGIN, BENCH_PASSWORD, BENCH_SESSIONS (session ids already logged in, one per user),
BENCH_SMALL_ID / BENCH_LARGE_ID (a 100 KB and a 5 MB attachment
to download), BENCH_OUT (a directory: this file writes there `uploads.jsonl` — id and sha1 of every
upload that got a success answer, checked byte for byte afterwards —, `errors.jsonl` — each failure with
its status and whether its body carried a Python traceback — and `timeline.json` — requests and failures
per second and per flow). A user whose session is no longer known (JSON-RPC error 100, a page redirected
to /web/login) counts a `session lost` and logs in again: behind a balancer without stickiness that is
what a session store that is not shared would cause.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import re
import time
from collections import defaultdict
from pathlib import Path
from urllib.parse import urlsplit

from locust import between, events, task
from locust.contrib.fasthttp import FastHttpUser
from requests.cookies import create_cookie

DB = os.environ.get("BENCH_DB", "")
LOGIN = os.environ.get("BENCH_LOGIN", "admin")
PASSWORD = os.environ.get("BENCH_PASSWORD", "admin")
SMALL_ID = os.environ.get("BENCH_SMALL_ID", "0")
LARGE_ID = os.environ.get("BENCH_LARGE_ID", "0")
OUT = Path(os.environ.get("BENCH_OUT", "."))
_SESSIONS = [sid for sid in os.environ.get("BENCH_SESSIONS", "").split(",") if sid]
UPLOAD_BYTES = 100 * 1024
# asset bundles referenced by the web client's page (scripts and style sheets)
_ASSET_RE = re.compile(rb"""(?:src|href)="(/web/assets/[^"?#]{1,300})\"""")
_TIMELINE: dict[int, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
_SESSION_LOST = "session lost"


def _append(name: str, record: dict) -> None:
    with open(OUT / name, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")


@events.request.add_listener
def _count(request_type, name, response_time, response_length, exception=None, **_kw) -> None:
    cell = _TIMELINE[int(time.time())][name]
    cell[0] += 1
    if exception is not None:
        cell[1] += 1


@events.quitting.add_listener
def _dump_timeline(environment, **_kw) -> None:
    data = {str(sec): {name: list(cell) for name, cell in flows.items()} for sec, flows in _TIMELINE.items()}
    (OUT / "timeline.json").write_text(json.dumps(data))


def _has_traceback(body: bytes) -> bool:
    return b"Traceback (most recent call last)" in body


def _error_message(response) -> str:
    """": <message>" of a JSON-RPC error answered with an HTTP error status (an outage's 503), else ""."""
    try:
        error = (response.json() or {}).get("error") or {}
    except (ValueError, AttributeError):
        return ""
    message = error.get("message") if isinstance(error, dict) else None
    return f": {str(message)[:120]}" if message else ""


class OdooUser(FastHttpUser):
    """One browser: logs in, reads partners, uploads and downloads attachments, opens the web client."""

    wait_time = between(0.05, 0.3)
    connection_timeout = 5.0
    network_timeout = 60.0

    def on_start(self) -> None:
        # a session logged in before the run (BENCH_SESSIONS, one per user): the measurement starts
        # with users at work, not with a burst of password hashing; without one, log in now
        if _SESSIONS:
            host = urlsplit(self.host).hostname or "127.0.0.1"
            self.client.cookiejar.set_cookie(create_cookie("session_id", _SESSIONS.pop(), domain=host,
                                                           path="/"))
        else:
            self.login()

    # -- helpers ---------------------------------------------------------------------------------------
    def _failed(self, response, name: str, why: str) -> None:
        body = response.content or b""
        record = {"t": time.time(), "flow": name, "status": response.status_code or 0, "why": why[:200],
                  "traceback": _has_traceback(body)}
        if not response.status_code:  # no HTTP answer at all: say what the connection did
            record["error"] = repr(getattr(response, "error", None))[:200]
        _append("errors.jsonl", record)
        response.failure(why)

    def _rpc(self, path: str, params: dict, name: str):
        """POST a JSON-RPC call; the result, or None after marking the request failed."""
        body = {"jsonrpc": "2.0", "method": "call", "id": random.randint(1, 10**9), "params": params}
        with self.client.post(path, json=body, name=name, catch_response=True) as response:
            if response.status_code != 200:
                self._failed(response, name, f"HTTP {response.status_code}{_error_message(response)}")
                return None
            try:
                reply = response.json()
            except ValueError:
                self._failed(response, name, "not JSON")
                return None
            if "error" in reply:
                error = reply["error"] or {}
                data = error.get("data") or {}
                debug = str(data.get("debug") or "").encode()
                if error.get("code") == 100 or "SessionExpired" in str(data.get("name")):
                    _append("errors.jsonl", {"t": time.time(), "flow": name, "status": 200,
                                             "why": _SESSION_LOST, "traceback": False})
                    response.failure(_SESSION_LOST)
                    self.login()
                    return None
                _append("errors.jsonl", {"t": time.time(), "flow": name, "status": 200,
                                         "why": f"JSON-RPC error {data.get('name')}: "
                                                f"{str(data.get('message'))[:150]}",
                                         "traceback": _has_traceback(debug)})
                response.failure(f"JSON-RPC error {data.get('name')}")
                return None
            response.success()
            return reply.get("result")

    def _call_kw(self, model: str, method: str, args: list, kwargs: dict, name: str):
        return self._rpc(f"/web/dataset/call_kw/{model}/{method}",
                         {"model": model, "method": method, "args": args, "kwargs": kwargs}, name)

    def _download(self, att_id: str, name: str) -> None:
        with self.client.get(f"/web/content/{att_id}?download=true", name=name, catch_response=True,
                             allow_redirects=False) as response:
            if response.status_code == 200 and response.content:
                response.success()
            elif response.status_code in (303, 404) and not response.content.startswith(b"Traceback"):
                # an attachment that is not public answers 404 (or a login redirect) to a session
                # that lost its user
                self._failed(response, name, f"{_SESSION_LOST} (HTTP {response.status_code})")
                self.login()
            else:
                self._failed(response, name, f"HTTP {response.status_code}")

    # -- flows -----------------------------------------------------------------------------------------
    @task(1)
    def login(self) -> None:
        self._rpc("/web/session/authenticate", {"db": DB, "login": LOGIN, "password": PASSWORD}, "login")

    @task(20)
    def read_partners(self) -> None:
        self._call_kw("res.partner", "web_search_read", [], {
            "domain": [], "specification": {"display_name": {}, "email": {}, "phone": {}, "city": {}},
            "limit": 80, "offset": 0, "order": "name"}, "json-rpc read")

    @task(4)
    def upload(self) -> None:
        data = os.urandom(UPLOAD_BYTES)
        att_id = self._call_kw("ir.attachment", "create", [{
            "name": "bench-upload.bin", "datas": base64.b64encode(data).decode(),
            "mimetype": "application/octet-stream"}], {}, "upload 100 KB")
        if att_id:
            att_id = att_id[0] if isinstance(att_id, list) else att_id
            _append("uploads.jsonl", {"id": att_id, "sha1": hashlib.sha1(data).hexdigest(), "t": time.time()})

    @task(8)
    def download_small(self) -> None:
        self._download(SMALL_ID, "download 100 KB")

    @task(2)
    def download_large(self) -> None:
        self._download(LARGE_ID, "download 5 MB")

    @task(1)
    def page_load(self) -> None:
        name = "page /odoo"
        with self.client.get("/odoo", name=name, catch_response=True, allow_redirects=False) as response:
            if response.status_code in (302, 303) and "/web/login" in response.headers.get("Location", ""):
                self._failed(response, name, _SESSION_LOST)
                self.login()
                return
            if response.status_code != 200:
                self._failed(response, name, f"HTTP {response.status_code}")
                return
            assets = sorted(set(_ASSET_RE.findall(response.content or b"")))
            if not assets:
                self._failed(response, name, "no asset bundle in the page")
                return
            response.success()
        for asset in assets:
            with self.client.get(asset.decode(), name="page assets", catch_response=True) as response:
                if response.status_code != 200 or not response.content:
                    self._failed(response, "page assets", f"HTTP {response.status_code}")
